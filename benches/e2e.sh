#!/usr/bin/env bash
# End-to-end benchmark on this machine, everything on 127.0.0.1, one table
# per run (docs/performance.md explains every row and ratio):
#
#   ceiling, N partner(s)     adgate-ceiling: hyper + the plain-Rust scrub, no
#                             durability, no delivery (its output is checked
#                             equal to `adgate explain` on a sample of the
#                             same events after the row; a mismatch stops
#                             the run)
#   policy ceiling, N         adgate-ceiling --config: hyper + adgate's own
#                             parse and policy with its leak guard, no
#                             durability, no delivery (POLICY_CEILING=0
#                             skips it)
#   adgate ingest only (pull) one pull partner nobody reads: ingest alone
#   adgate push, N partner(s) adgate-sink answering 200 per partner URL,
#                             fsync'd outbox; after the load, waits until
#                             every routed event was delivered (sustained)
#   push 1, 80% of sustained  the same at a fixed rate: ingest latency
#   jetstream 1 node / 3 R3   push 1 with the JetStream backend (nats-server)
#   nginx 204 (floor)         only when nginx is installed (FLOOR=1 installs it)
#
# It prints the table and the goal ratios and writes both to target/e2e.json.
#
#   benches/e2e.sh                      # 15 s per row, 1 and 3 partners
#   DURATION=60s benches/e2e.sh         # (or MODE=full) the 60 s run the goals name
#   DURATION=10s PARTNERS="1" JETSTREAM=0 benches/e2e.sh   # quick look
#   RATE=80000 benches/e2e.sh           # every row at a fixed offered load
#   OUTAGE=120 benches/e2e.sh           # partner answers 503 for 120 s: RSS samples
#   BACKEND=jetstream benches/e2e.sh    # embedded vs JetStream (1 node, 3 nodes R3),
#                                       # 1 and 2 adgate replicas, 1 push partner
#   RATE=30000 BACKEND=jetstream benches/e2e.sh   # the same at a fixed offered load
#
# Options (environment): DURATION (15s; MODE=full sets 60s), PARTNERS ("1 3"),
# CONNS (16 connections, as issue 17 measured; the default was 32 before),
# BATCH (500 events/request), RATE, JETSTREAM (auto: when nats-server is on
# PATH; 0 skips; 1 requires it), LAT80 (1: the 80%-of-sustained latency row),
# POLICY_CEILING (1: the policy ceiling rows), DRAIN_MAX (120 s to wait for delivery after the load), FLOOR (1: install
# nginx for the floor row), OUT (target/e2e.json), INGEST_OUTBOX_BYTES (the
# pull partner's outbox bound for the ingest-only row, 16 GiB: it holds the
# whole run on disk while the row runs), BIN (a directory holding adgate,
# adgate-load, adgate-sink and adgate-ceiling of another build: nothing is
# built; e.g. old and new binaries run alternately).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${MODE:-}" = full ] && : "${DURATION:=60s}"
DURATION=${DURATION:-15s}
PARTNERS=${PARTNERS:-"1 3"}
CONNS=${CONNS:-16}
BATCH=${BATCH:-500}
RATE=${RATE:-}
OUTAGE=${OUTAGE:-}
JETSTREAM=${JETSTREAM:-auto}
LAT80=${LAT80:-1}
POLICY_CEILING=${POLICY_CEILING:-1}
DRAIN_MAX=${DRAIN_MAX:-120}
FLOOR=${FLOOR:-}
OUT=${OUT:-target/e2e.json}
INGEST_OUTBOX_BYTES=${INGEST_OUTBOX_BYTES:-17179869184}
# BIN: where adgate and the load tools are (another build's, to compare old
# and new binaries alternately); only the default one is built here.
if [ -z "${BIN:-}" ]; then
  cargo build --release --workspace --bins >&2  # adgate and the load tools (benches/loadgen)
  BIN=target/release
fi
work=$(mktemp -d)
pids=()
NATS_PIDS=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
export ADGATE_LOG=warn
export TP=bench-producer-token-0123456789abcdef0123
# Partner keys and signing secrets (write_config runs in a subshell).
for i in 0 1 2 3 4 5 6 7; do
  export "K$i=$(head -c 32 /dev/urandom | base64)" "S$i=bench-signing-secret-$i" \
    "F$i=bench-feed-token-$i-0123456789abcdef0123456789"
done
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
hwm_kb() { awk '/VmHWM/{print $2}' "/proc/$1/status"; }
rss_kb() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }
wait_line() { for _ in $(seq "${WAIT_TRIES:-100}"); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done; echo "timeout waiting for $2 in $1" >&2; cat "$1" >&2; return 1; }

start_sink() { # status -> prints port
  rm -f "$work/sink.out" # not the last row's "listening on" (the child truncates it later)
  "$BIN/adgate-sink" --listen 127.0.0.1:0 --status "$1" --quiet > "$work/sink.out" &
  pids+=($!); SINK_PID=$!
  wait_line "$work/sink.out" "listening on"
  SINK_URL=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$work/sink.out")
}

write_config() { # partners [push|pull] [outbox_max_bytes] -> config path
  local n=$1 mode=${2:-push} max=${3:-268435456} cfg="$work/adgate-$1-${2:-push}.toml"
  rm -rf "$work/data-$n"
  cat > "$cfg" <<TOML
[server]
listen = "127.0.0.1:0"
data_dir = "$work/data-$n"
[[producers]]
name = "bench"
token_env = "TP"
TOML
  for i in $(seq 0 $((n - 1))); do
    cat >> "$cfg" <<TOML
[[partners]]
name = "p$i"
event_types = ["ad_impression", "app_install"]
identifiers = ["account_id", "email", "device_id", "phone"]
fields = ["ad.campaign_id", "ad.placement", "ad.value_estimate_micros", "ad.currency", "app.app_id"]
outbox_max_bytes = $max
[partners.delivery]
mode = "$mode"
TOML
    if [ "$mode" = push ]; then
      cat >> "$cfg" <<TOML
endpoint = "${SINK_URL:-http://127.0.0.1:9}/v1/events"
signing_secret_env = "S$i"
TOML
    else
      echo "token_env = \"F$i\"" >> "$cfg"
    fi
    cat >> "$cfg" <<TOML
batch_max_events = 500
batch_max_wait_ms = 50
[[partners.keys]]
id = "k$i"
secret_env = "K$i"
TOML
  done
  echo "$cfg"
}

start_adgate() { # config
  rm -f "$work/adgate.out"
  "$BIN/adgate" serve --config "$1" > "$work/adgate.out" 2> "$work/adgate.err" &
  pids+=($!); ADGATE_PID=$!
  wait_line "$work/adgate.out" "listening on" || { cat "$work/adgate.err" >&2; return 1; }
  ADGATE_URL=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$work/adgate.out")
}

load() { # url [rate] -> json line
  local rate=${2:-$RATE}
  "$BIN/adgate-load" --url "$1/v1/events" --token "$TP" --connections "$CONNS" --batch "$BATCH" \
    --duration "$DURATION" --warmup 2s ${rate:+--rate "$rate"} --json 2>/dev/null | tail -1
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start_nats() { # nodes -> NATS_URLS
  local n=$1 ports=() cports=() i
  for i in $(seq 0 $((n - 1))); do ports+=("$(free_port)"); cports+=("$(free_port)"); done
  NATS_URLS=""
  for i in $(seq 0 $((n - 1))); do
    local d="$work/nats-$n-$i"; mkdir -p "$d"
    { echo "server_name: n$i"; echo "listen: 127.0.0.1:${ports[$i]}"
      echo "jetstream { store_dir: \"$d/js\" }"
      if [ "$n" -gt 1 ]; then
        local routes=""; for j in $(seq 0 $((n - 1))); do [ "$j" = "$i" ] || routes="$routes nats-route://127.0.0.1:${cports[$j]},"; done
        echo "cluster { name: bench, listen: 127.0.0.1:${cports[$i]}, routes: [${routes%,}] }"
      fi; } > "$d/nats.conf"
    nats-server -c "$d/nats.conf" > "$d/log" 2>&1 &
    pids+=($!); NATS_PIDS+=($!)
    NATS_URLS="$NATS_URLS\"nats://127.0.0.1:${ports[$i]}\","
  done
  for i in $(seq 0 $((n - 1))); do wait_line "$work/nats-$n-$i/log" "Server is ready"; done
  if [ "$n" -gt 1 ]; then # a JetStream meta leader, or adgate's setup times out
    for _ in $(seq 300); do cat "$work"/nats-$n-*/log | grep -q "metadata leader" && break; sleep 0.1; done
  fi
  NATS_URLS="[${NATS_URLS%,}]"
}
jq_() { python3 -c "import json,sys; d=json.loads(sys.argv[1]); print($2)" "$1"; }

if [ -n "$OUTAGE" ]; then
  start_sink 503
  cfg=$(write_config 1)
  start_adgate "$cfg"
  echo "partner outage for ${OUTAGE}s: adgate RSS (MB) every 10 s while ingesting at ${RATE:-20000} events/s"
  "$BIN/adgate-load" --url "$ADGATE_URL/v1/events" --token "$TP" --connections 8 --batch "$BATCH" \
    --duration "${OUTAGE}s" --rate "${RATE:-20000}" --json > "$work/outage.json" 2>/dev/null &
  lp=$!
  for t in $(seq 0 10 "$OUTAGE"); do
    printf 't=%4ss rss=%6.1f MB outbox=%s\n' "$t" "$(echo "$(rss_kb "$ADGATE_PID")/1024" | bc -l)" \
      "$(curl -s "$ADGATE_URL/metrics" | awk '/^adgate_outbox_bytes/{print $2}')"
    sleep 10
  done
  wait "$lp" || true
  exit 0
fi

if [ "${BACKEND:-}" = jetstream ]; then
  # Scale-out: the same load against the embedded backend and against
  # JetStream (one node R1; three nodes R3), with one and two replicas of
  # adgate sharing the partner's consumer. Ratios against the embedded row
  # of the same run are what to compare: the machine is shared.
  command -v nats-server >/dev/null || { echo "nats-server not installed (apt-get install nats-server)" >&2; exit 1; }
  WAIT_TRIES=600 # a replica waits for JetStream's leader elections (up to 45 s)
  export TIK="$(head -c 32 /dev/urandom | base64)"
  metric_sum() { # url name -> sum of the series
    curl -s "$1/metrics" | awk -v n="$2" '$1 ~ "^"n"({|$)" {s+=$2} END{print s+0}'
  }
  publish_p99() { # url -> p99 ms of adgate_jetstream_publish_seconds
    curl -s "$1/metrics" | python3 -c '
import sys,re
b={}
for l in sys.stdin:
    m=re.match(r"adgate_jetstream_publish_seconds_bucket\{.*le=\"([^\"]+)\".*\} (\S+)",l)
    if m: b[float("inf") if m.group(1)=="+Inf" else float(m.group(1))]=b.get(float("inf") if m.group(1)=="+Inf" else float(m.group(1)),0)+float(m.group(2))
ks=sorted(b); tot=b[ks[-1]] if ks else 0
if not tot: print("-"); sys.exit()
for k in ks:
    if b[k]>=0.99*tot: print("%.1f"%(k*1000) if k!=float("inf") else ">5000"); break'
  }
  run_row() { # label backend(embedded|R1|R3) replicas
    local label=$1 be=$2 reps=$3 r urls=() adg=() cfg j eps=0 acc=0 c0=0 c1=0 d0 d1 t0 t1 p99s="" lat=""
    NATS_PIDS=()
    rm -rf "$work"/data-rep*
    rm -f "$work/sink.out"
    start_sink 200
    cfg=$(write_config 1)
    case $be in
      R1) start_nats 1; printf '[outbox]\nbackend = "jetstream"\nservers = %s\nreplicas = 1\ninternal_key_env = "TIK"\n' "$NATS_URLS" >> "$cfg" ;;
      R3) start_nats 3; printf '[outbox]\nbackend = "jetstream"\nservers = %s\nreplicas = 3\ninternal_key_env = "TIK"\n' "$NATS_URLS" >> "$cfg" ;;
    esac
    for r in $(seq 1 "$reps"); do
      sed -i "s#^data_dir = .*#data_dir = \"$work/data-rep$r\"#" "$cfg"
      rm -f "$work/adgate.out"
      start_adgate "$cfg"; urls+=("$ADGATE_URL"); adg+=("$ADGATE_PID")
      cp "$work/adgate.out" "$work/adgate-$r.out"
    done
    for r in "${adg[@]}"; do c0=$((c0 + $(cpu_ticks "$r"))); done
    d0=0; for u in "${urls[@]}"; do d0=$((d0 + $(metric_sum "$u" adgate_events_delivered_total))); done
    t0=$(date +%s.%N)
    local per=$((CONNS / reps)) k=0
    for u in "${urls[@]}"; do
      "$BIN/adgate-load" --url "$u/v1/events" --token "$TP" --connections "$per" --batch "$BATCH" \
        --duration "$DURATION" --warmup 2s ${RATE:+--rate $((RATE / reps))} --json 2>/dev/null | tail -1 > "$work/load-$k.json" &
      k=$((k + 1))
    done
    wait_loads() { local p; for p in $(jobs -p); do case " ${pids[*]} " in *" $p "*) ;; *) wait "$p" || true ;; esac; done; }
    wait_loads
    t1=$(date +%s.%N)
    for r in "${adg[@]}"; do c1=$((c1 + $(cpu_ticks "$r"))); done
    d1=0; for u in "${urls[@]}"; do d1=$((d1 + $(metric_sum "$u" adgate_events_delivered_total))); done
    for k in $(seq 0 $((reps - 1))); do
      j=$(cat "$work/load-$k.json")
      eps=$((eps + $(jq_ "$j" 'round(d["events_per_sec"])'))); acc=$((acc + $(jq_ "$j" 'd["accepted"]')))
      lat="$lat$(jq_ "$j" 'd["p99_ms"]')/"
    done
    if [ "$be" != embedded ]; then for u in "${urls[@]}"; do p99s="$p99s$(publish_p99 "$u")/"; done; else p99s="-/"; fi
    local hz; hz=$(getconf CLK_TCK)
    local nats_cpu=0 p; for p in "${NATS_PIDS[@]}"; do nats_cpu=$((nats_cpu + $(cpu_ticks "$p"))); done
    printf '%-30s %11s %11.0f %8s %11s %13s %11.2f %10.1f\n' "$label" "$eps" \
      "$(echo "($d1-$d0)/($t1-$t0)" | bc -l)" "$(echo "scale=2; $eps/${BASE_EPS:-$eps}" | bc -l)" \
      "${lat%/}" "${p99s%/}" "$(echo "($c1-$c0)/$hz/(($acc+1)/1000000)" | bc -l)" \
      "$(echo "$nats_cpu/$hz" | bc -l)"
    [ -n "${BASE_EPS:-}" ] || BASE_EPS=$eps
    for p in "${adg[@]}" "$SINK_PID" "${NATS_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${adg[@]}" "$SINK_PID" "${NATS_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  }
  printf '\nadgate scale-out, %s per row, %s connections x %s events/request, 1 push partner, %s cores, %s\n' \
    "$DURATION" "$CONNS" "$BATCH" "$(nproc)" "$(date -u +%F)"
  printf '%-30s %11s %11s %8s %11s %13s %11s %10s\n' setup ingested/s delivered/s ratio p99_ms publish_p99ms cpu_s/1M_ev nats_cpu_s
  BASE_EPS=""
  run_row "embedded, 1 replica" embedded 1
  run_row "jetstream 1 node, 1 replica" R1 1
  run_row "jetstream 1 node, 2 replicas" R1 2
  run_row "jetstream 3 nodes R3, 1 rep" R3 1
  run_row "jetstream 3 nodes R3, 2 reps" R3 2
  # Disk per waiting event: a pull partner nobody reads, 5 s at 20 k/s.
  per_event() { # backend -> bytes per waiting event
    NATS_PIDS=(); rm -rf "$work"/data-rep*
    local cfg="$work/bytes.toml"
    write_config 1 > /dev/null
    sed -e 's#^mode = "push"#mode = "pull"#' -e '/^endpoint = /d' -e 's#^signing_secret_env = .*#token_env = "TF"#' \
      -e "s#^data_dir = .*#data_dir = \"$work/data-rep1\"#" "$work/adgate-1-push.toml" > "$cfg"
    [ "$1" = R1 ] && { start_nats 1; printf '[outbox]\nbackend = "jetstream"\nservers = %s\nreplicas = 1\ninternal_key_env = "TIK"\n' "$NATS_URLS" >> "$cfg"; }
    export TF=bench-feed-token-0123456789abcdef0123456
    rm -f "$work/adgate.out"
    start_adgate "$cfg"
    "$BIN/adgate-load" --url "$ADGATE_URL/v1/events" --token "$TP" --connections 4 --batch "$BATCH" \
      --duration 5s --rate 20000 --json > /dev/null 2>&1 || true
    local m; m=$(curl -s "$ADGATE_URL/metrics")
    echo "$m" | awk '/^adgate_outbox_bytes\{/{b=$2} /^adgate_outbox_events\{/{e=$2} END{if (e>0) printf "%.0f", b/e; else print "-"}'
    kill "$ADGATE_PID" "${NATS_PIDS[@]}" 2>/dev/null || true; wait "$ADGATE_PID" "${NATS_PIDS[@]}" 2>/dev/null || true
  }
  printf 'bytes per waiting event (one copy): embedded %s, jetstream %s\n' "$(per_event embedded)" "$(per_event R1)"
  exit 0
fi

# ------------------------------------------------------------ the table --
ROWS="$work/rows.jsonl"
: > "$ROWS"
key_args() { local i; for i in $(seq 0 $(($1 - 1))); do printf -- '--key k%s=K%s ' "$i" "$i"; done; }
stop_all() { local p; for p in "$@"; do kill "$p" 2>/dev/null || true; done; for p in "$@"; do wait "$p" 2>/dev/null || true; done; }

measure() { # label kind partners pid url drain(0|1) [rate] [extra-json] -> a row in $ROWS
  local label=$1 kind=$2 n=$3 pid=$4 url=$5 drain=$6 rate=${7:-} extra=${8:-} wp
  rm -f "$work/stop" "$work/load.json"
  python3 benches/e2e.py watch --label "$label" --kind "$kind" --partners "$n" --pid "$pid" \
    ${url:+--url "$url"} --load "$work/load.json" --stop "$work/stop" --rows "$ROWS" \
    --drain-max "$DRAIN_MAX" ${extra:+--extra "$extra"} $([ "$drain" = 1 ] && echo --drain) &
  wp=$!; pids+=("$wp")
  load "${LOAD_URL:-$url}" "$rate" > "$work/load.json" || { echo "adgate-load failed in row \"$label\"" >&2; return 1; }
  touch "$work/stop"
  wait "$wp"
  tail -1 "$ROWS" | python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print("  %s: %s ingested/s%s" % (r["label"], round(r["ingested_per_s"] or 0), "" if r.get("sustained_per_s") is None else ", sustained %d/s" % r["sustained_per_s"]))' >&2
}

row_ceiling() { # partners
  local n=$1 url pid
  rm -f "$work/sample.ndjson" "$work/ceiling.out"
  # shellcheck disable=SC2046
  "$BIN/adgate-ceiling" --listen 127.0.0.1:0 --token-env TP $(key_args "$n") \
    --sample "$work/sample.ndjson" --sample-events 2000 > "$work/ceiling.out" 2>&1 &
  pid=$!; pids+=("$pid")
  wait_line "$work/ceiling.out" "listening on"
  url=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$work/ceiling.out")
  LOAD_URL=$url measure "ceiling, $n partner(s)" ceiling "$n" "$pid" "" 0
  stop_all "$pid"
  # The figure counts only if the ceiling did adgate's work: its copies of
  # a sample of the same events, JSON-equal to adgate's policy output.
  local cfg; cfg=$(write_config "$n")
  "$BIN/adgate" explain --config "$cfg" --format json "$work/sample.ndjson" > "$work/explain.json"
  # shellcheck disable=SC2046
  "$BIN/adgate-ceiling" --check "$work/sample.ndjson" --explain "$work/explain.json" $(key_args "$n") >&2
}

row_policy_ceiling() { # partners
  local n=$1 url pid cfg
  cfg=$(write_config "$n")
  rm -f "$work/ceiling.out"
  "$BIN/adgate-ceiling" --listen 127.0.0.1:0 --token-env TP --config "$cfg" > "$work/ceiling.out" 2>&1 &
  pid=$!; pids+=("$pid")
  wait_line "$work/ceiling.out" "listening on"
  url=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$work/ceiling.out")
  LOAD_URL=$url measure "policy ceiling, $n partner(s)" policy_ceiling "$n" "$pid" "" 0
  stop_all "$pid"
}

row_adgate() { # label kind partners mode(push|pull) [rate] [outbox toml] [extra-json]
  local label=$1 kind=$2 n=$3 mode=$4 rate=${5:-} outbox=${6:-} extra=${7:-} cfg sink=""
  if [ "$mode" = push ]; then start_sink 200; sink=$SINK_PID; fi
  if [ "$mode" = pull ]; then cfg=$(write_config "$n" pull "$INGEST_OUTBOX_BYTES"); else cfg=$(write_config "$n"); fi
  [ -z "$outbox" ] || printf '%s\n' "$outbox" >> "$cfg"
  start_adgate "$cfg"
  measure "$label" "$kind" "$n" "$ADGATE_PID" "$ADGATE_URL" "$([ "$mode" = push ] && echo 1 || echo 0)" "$rate" "$extra"
  stop_all "$ADGATE_PID" $sink
  rm -rf "$work/data-$n"
}

HEADER=$(printf 'adgate end to end, %s per row (+2 s warm-up), %s connections x %s events/request, fsync on, %s cores, %s, %s' \
  "$DURATION" "$CONNS" "$BATCH" "$(nproc)" "$(uname -r)" "$(date -u +%FT%TZ)")
echo "$HEADER" >&2
for n in $PARTNERS; do row_ceiling "$n"; done
# (A BIN of a build from before the policy ceiling has no --config.)
if [ "$POLICY_CEILING" = 1 ] && "$BIN/adgate-ceiling" --help | grep -q -- --config; then
  for n in $PARTNERS; do row_policy_ceiling "$n"; done
fi
row_adgate "adgate ingest only (1 pull partner)" ingest 1 pull
for n in $PARTNERS; do row_adgate "adgate push, $n partner(s)" push "$n" push; done
if [ "$LAT80" = 1 ] && [ -z "$RATE" ]; then
  r80=$(python3 -c 'import json,sys
rows=[json.loads(l) for l in open(sys.argv[1])]
r=next((r for r in rows if r["kind"]=="push" and r["partners"]==1 and r.get("sustained_per_s")),None)
print(round(0.8*r["sustained_per_s"]) if r else "")' "$ROWS")
  [ -z "$r80" ] || row_adgate "push 1, at 80% of sustained" latency 1 push "$r80" "" "{\"target_rate\": $r80}"
fi
if [ "$JETSTREAM" != 0 ]; then
  if command -v nats-server >/dev/null; then
    export TIK="$(head -c 32 /dev/urandom | base64)"
    for be in R1 R3; do
      NATS_PIDS=()
      if [ "$be" = R1 ]; then start_nats 1; else start_nats 3; fi
      WAIT_TRIES=600 row_adgate "jetstream $([ "$be" = R1 ] && echo '1 node' || echo '3 nodes R3'), push 1" jetstream 1 push "" \
        "$(printf '[outbox]\nbackend = "jetstream"\nservers = %s\nreplicas = %s\ninternal_key_env = "TIK"' "$NATS_URLS" "${be#R}")" \
        "{\"nats\": \"$be\"}"
      stop_all "${NATS_PIDS[@]}"
      rm -rf "$work"/nats-*
    done
  elif [ "$JETSTREAM" = 1 ]; then
    echo "nats-server not installed (apt-get install nats-server)" >&2; exit 1
  else
    echo "nats-server not installed: JetStream rows skipped" >&2
  fi
fi

# The HTTP floor: nginx answering 204 to the same POSTs.
if ! command -v nginx >/dev/null 2>&1 && [ "$FLOOR" = 1 ] && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null) >&2 || true
fi
if command -v nginx >/dev/null 2>&1; then
  port=$(free_port)
  mkdir -p "$work/nginx"
  cat > "$work/nginx/nginx.conf" <<NGX
worker_processes 2; pid $work/nginx/nginx.pid; error_log $work/nginx/error.log;
events { worker_connections 1024; }
http { access_log off; client_body_buffer_size 16m; client_max_body_size 64m;
  server { listen 127.0.0.1:$port; location / { return 204; } } }
NGX
  nginx -c "$work/nginx/nginx.conf" -p "$work/nginx"
  sleep 0.5
  LOAD_URL="http://127.0.0.1:$port" measure "nginx 204 (floor)" floor 0 "$(cat "$work/nginx/nginx.pid")" "" 0
  kill "$(cat "$work/nginx/nginx.pid")" 2>/dev/null || true
fi

mkdir -p "$(dirname "$OUT")"
echo
python3 benches/e2e.py table "$ROWS" "$OUT" "$HEADER"
