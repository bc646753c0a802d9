#!/usr/bin/env bash
# The one test command, for a fresh machine with a Rust toolchain on Debian:
# installs what the tests need when it is missing, then runs every test.
#
#   scripts/test.sh                      # everything; a suite that cannot run fails
#   scripts/test.sh --quick              # suites whose tool is missing say SKIPPED
#   scripts/test.sh -- --test it top::   # cargo test with these arguments instead
#                                        # of --all-targets (here: the tests of
#                                        # tests/it/top.rs, one test binary)
#
# Needed beyond Rust (Debian packages): nats-server (JetStream backend tests),
# prometheus (promtool and the real server: dashboard and alerts), chromium
# (the HTML report rendered), tmux (`adgate top` in a real terminal). As root
# the script installs the missing ones with apt-get; otherwise it stops at
# once and prints the command to run. ADGATE_TEST_QUICK=1 is --quick; under
# CI (CI=1) nothing is ever skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
[ "${ADGATE_TEST_QUICK:-}" = 1 ] && quick=1
cargo_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --) shift; cargo_args=("$@"); break ;;
    *) echo "scripts/test.sh: unknown argument $1 (use --quick, or -- ARGS for cargo test)" >&2; exit 2 ;;
  esac
  shift
done
case "${CI:-}" in ''|0|false) ;; *) quick=0 ;; esac

# Debian package -> the file that shows it is installed.
missing=()
[ -x /usr/bin/prometheus ] && command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v nats-server >/dev/null 2>&1 || missing+=(nats-server)
command -v tmux >/dev/null 2>&1 || missing+=(tmux)
# The frozen-volume test formats a small ext4 image and freezes it.
command -v mkfs.ext4 >/dev/null 2>&1 || missing+=(e2fsprogs)
command -v fsfreeze >/dev/null 2>&1 || missing+=(util-linux)

nats_missing=0
for p in "${missing[@]}"; do [ "$p" = nats-server ] && nats_missing=1; done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${missing[*]} (Debian packages the tests need)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  elif [ "$quick" = 1 ] && [ "$nats_missing" = 0 ]; then
    echo "quick run: ${missing[*]} missing, the suites that need them say SKIPPED" >&2
  else
    echo "error: the tests need Debian packages that are not installed: ${missing[*]}" >&2
    echo "run:   sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    if [ "$quick" = 0 ]; then
      echo "(or scripts/test.sh --quick to skip the suites that need them; nats-server has no quick skip)" >&2
    fi
    exit 1
  fi
fi

if [ "$quick" = 1 ]; then
  export ADGATE_TEST_QUICK=1
else
  unset ADGATE_TEST_QUICK
fi
# The integration tests mostly wait on servers and sockets: twice as many
# test threads as cores (RUST_TEST_THREADS=N chooses).
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-$(( $(nproc) * 2 ))}"
if [ ${#cargo_args[@]} -gt 0 ]; then
  exec cargo test "${cargo_args[@]}"
fi
exec cargo test --all-targets
