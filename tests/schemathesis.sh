#!/usr/bin/env bash
# Fuzzes the real adgate against openapi.yaml with Schemathesis.
#
# Starts the gateway binary (target/debug/adgate, or $ADGATE_BIN; built if
# missing) on 127.0.0.1:0 with a demo-like temp config (one producer, one
# pull partner "demo", the admin API), points Schemathesis at it with the
# right token per security scheme of the spec (producerToken, feedToken,
# adminToken) and the real partner name in feed paths, and runs the
# examples, coverage and fuzzing phases, bounded per operation
# (--max-examples) and in total (timeout). Checks: no 5xx
# (not_a_server_error), every documented response matches its schema
# (response_schema_conformance), and the conformance checks listed at
# CHECKS below; override with SCHEMATHESIS_CHECKS, add flags with
# SCHEMATHESIS_EXTRA (e.g. --continue-on-failure).
# The gateway is stopped at the end; on failure its log is printed.
#
#   bash tests/schemathesis.sh            # what .ci/run does
#   SCHEMATHESIS_CHECKS=all bash tests/schemathesis.sh
#
# Needs `schemathesis` (python3 -m pip install schemathesis==4.32.5, the
# version .ci/run pins). Only 127.0.0.1 is used. One worker: with several,
# Hypothesis parses lambdas' source in threads, which trips CPython 3.11.7's
# "AST constructor recursion depth mismatch" bug (a RuntimeError, not a finding).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${ADGATE_BIN:-$ROOT/target/debug/adgate}"
# Beyond "no 5xx" and "responses match their schemas": every status code,
# content type and header is documented, auth is enforced, 405s carry Allow.
# Not here: positive_data_acceptance (a schema cannot say "a cursor this feed
# served") and negative_data_rejection (NDJSON is a string on the wire).
CHECKS="${SCHEMATHESIS_CHECKS:-not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance,response_headers_conformance,missing_required_header,unsupported_method,allow_header_conformance,ignored_auth}"
MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-50}"
SEED="${SCHEMATHESIS_SEED:-20261129}"
BUDGET_SECONDS="${SCHEMATHESIS_BUDGET_SECONDS:-300}"

if ! command -v schemathesis >/dev/null 2>&1; then
  echo "schemathesis is not installed: python3 -m pip install schemathesis==4.32.5" >&2
  exit 1
fi
if [ ! -x "$BIN" ]; then
  (cd "$ROOT" && cargo build --bin adgate)
fi

TMP="$(mktemp -d)"
PID=""
cleanup() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
    kill -TERM "$PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT

# Tokens and keys for this run only (never printed).
export ST_PRODUCER="st-producer-$(head -c 24 /dev/urandom | base64 | tr -dc A-Za-z0-9)"
export ST_FEED="st-feed-$(head -c 24 /dev/urandom | base64 | tr -dc A-Za-z0-9)"
export ST_ADMIN="st-admin-$(head -c 24 /dev/urandom | base64 | tr -dc A-Za-z0-9)"
export ST_KEY="$("$BIN" keygen)"

cat >"$TMP/adgate.toml" <<EOF
[server]
listen = "127.0.0.1:0"
data_dir = "$TMP/data"
shutdown_grace_seconds = 5

[[producers]]
name = "web"
token_env = "ST_PRODUCER"

[admin]
token_env = "ST_ADMIN"

[[partners]]
name = "demo"
event_types = ["ad_impression", "app_install"]
identifiers = ["account_id", "email", "device_id", "phone"]
fields = ["ad.campaign_id", "ad.placement", "ad.value_estimate_micros", "ad.currency", "app.app_id"]
[partners.delivery]
mode = "pull"
token_env = "ST_FEED"
lease_ms = 1000
[[partners.keys]]
id = "st1"
secret_env = "ST_KEY"
EOF

"$BIN" serve --config "$TMP/adgate.toml" --log-format json >"$TMP/stdout" 2>"$TMP/stderr" &
PID=$!
ADDR=""
for _ in $(seq 1 200); do
  ADDR="$(sed -n 's|^adgate listening on http://\([^ ]*\).*|\1|p' "$TMP/stdout" | head -1)"
  [ -n "$ADDR" ] && break
  kill -0 "$PID" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$ADDR" ]; then
  echo "adgate did not start:" >&2
  cat "$TMP/stdout" "$TMP/stderr" >&2
  exit 1
fi
case "$ADDR" in
  127.0.0.1:*) ;;
  *) echo "adgate listens on $ADDR, not 127.0.0.1" >&2; exit 1 ;;
esac

# Credentials by security scheme name, the real partner in feed paths.
cat >"$TMP/schemathesis.toml" <<'EOF'
[auth.openapi.producerToken]
bearer = "${ST_PRODUCER}"

[auth.openapi.feedToken]
bearer = "${ST_FEED}"

[auth.openapi.adminToken]
bearer = "${ST_ADMIN}"

[parameters]
"path.partner" = "demo"

[generation]
database = "none"
EOF

# NDJSON ingest needs a serializer Schemathesis does not ship.
export SCHEMATHESIS_HOOKS="$ROOT/tests/schemathesis_hooks.py"

echo "schemathesis $(schemathesis --version | awk '{print $NF}') against adgate at http://$ADDR (checks: $CHECKS; max examples $MAX_EXAMPLES; seed $SEED)"
set +e
(
  cd "$TMP" &&
    timeout --kill-after=10 "$BUDGET_SECONDS" \
      schemathesis --config-file "$TMP/schemathesis.toml" run "$ROOT/openapi.yaml" \
      --url "http://$ADDR" \
      --checks "$CHECKS" \
      --phases examples,coverage,fuzzing \
      --max-examples "$MAX_EXAMPLES" \
      --seed "$SEED" \
      --workers 1 \
      --request-timeout 35 \
      --no-color ${SCHEMATHESIS_EXTRA:-}
)
rc=$?
set -e
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
  echo "schemathesis did not finish within ${BUDGET_SECONDS}s" >&2
fi
if ! kill -0 "$PID" 2>/dev/null; then
  echo "adgate exited during the run" >&2
  rc=1
fi
if [ "$rc" -ne 0 ]; then
  echo "---- adgate stderr (last 80 lines) ----" >&2
  tail -n 80 "$TMP/stderr" >&2
fi
exit "$rc"
