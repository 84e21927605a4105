#!/usr/bin/env bash
# LLM gateway benchmark (bench/gateway/README.md):
#  1. added latency: the same chat request sent (a) straight to the fake upstream, (b) through the
#     gateway to a plain upstream model, (c) through a knowledge alias (retrieval + packing), closed
#     loop at several concurrencies, non-streaming and streaming (time to last byte);
#  2. 3x overload: an upstream with realistic latency, max-concurrency=8, --llm-queue 16, driven
#     open loop at 3x its measured capacity; queue depth, in-flight and RSS sampled from /metrics.
#
# Usage: bash bench/gateway/run.sh [BUILD_DIR] [--quick]
#   BUILD_DIR (default build) must hold deepkb, tests/fake_upstream and tests/deepkb_load:
#     cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
#     cmake --build build --target deepkb fake_upstream deepkb_load -j2
#   --quick: one round of fewer requests and a 12 s overload (about a minute in all instead of
#   about four).
# Environment: RESULTS_DIR (default /tmp/deepkb-bench/gateway), CONCURRENCY ("1 4 16 64"),
#   REQUESTS (measured requests per cell and round), ROUNDS, OVERLOAD_SECONDS, OVERLOAD_FACTOR (3).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=build
QUICK=0
for a in "$@"; do
  case "$a" in
    --quick) QUICK=1 ;;
    -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
    *) BUILD=$a ;;
  esac
done
DEEPKB="$BUILD/deepkb"
FAKE="$BUILD/tests/fake_upstream"
LOAD="$BUILD/tests/deepkb_load"
for b in "$DEEPKB" "$FAKE" "$LOAD"; do
  if [[ ! -x $b ]]; then
    echo "missing $b; build it: cmake --build $BUILD --target deepkb fake_upstream deepkb_load -j2" >&2
    exit 1
  fi
done
CONCURRENCY=${CONCURRENCY:-"1 4 16 64"}
OVERLOAD_FACTOR=${OVERLOAD_FACTOR:-3}
if ((QUICK)); then
  REQUESTS=${REQUESTS:-200}; ROUNDS=${ROUNDS:-1}; OVERLOAD_SECONDS=${OVERLOAD_SECONDS:-12}
  CALIBRATE_SECONDS=4
else
  REQUESTS=${REQUESTS:-1500}; ROUNDS=${ROUNDS:-2}; OVERLOAD_SECONDS=${OVERLOAD_SECONDS:-60}
  CALIBRATE_SECONDS=10
fi
RESULTS=${RESULTS_DIR:-/tmp/deepkb-bench/gateway}
mkdir -p "$RESULTS/samples"
rm -f "$RESULTS"/*.json "$RESULTS"/*.jsonl "$RESULTS"/*.txt "$RESULTS"/samples/*
WORK=$(mktemp -d)
STARTED=()
cleanup() {
  for p in "${STARTED[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# Starts a fake upstream (flags passed through); sets FAKE_PID and FAKE_PORT.
start_fake() {
  local out="$WORK/fake.$RANDOM.out"
  "$FAKE" "$@" >"$out" 2>&1 &
  FAKE_PID=$!
  STARTED+=("$FAKE_PID")
  for _ in $(seq 100); do grep -q '^port ' "$out" && break; sleep 0.05; done
  FAKE_PORT=$(sed -n 's/^port //p' "$out")
}
# Starts `deepkb serve` on DATA_DIR (first argument; more serve flags after it); sets GW_PID,
# GW_PORT and GW_KEY.
start_gateway() {
  local data=$1 out="$1.serve.out"
  shift
  "$DEEPKB" --data-dir "$data" --log-level warn serve --listen 127.0.0.1:0 --rate-limit 0 "$@" \
    >"$out" 2>&1 &
  GW_PID=$!
  STARTED+=("$GW_PID")
  for _ in $(seq 200); do grep -q "serving on" "$out" && break; sleep 0.05; done
  GW_PORT=$(sed -n 's/.*serving on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$out")
  GW_KEY=$(cat "$data/admin.key")
}
# TCP counters of this network namespace: "ActiveOpens ListenOverflows".
tcp_counters() {
  python3 - <<'PY'
def table(path, prefix):
    rows = [l.split() for l in open(path) if l.startswith(prefix)]
    return dict(zip(rows[0][1:], rows[1][1:]))
print(table("/proc/net/snmp", "Tcp:")["ActiveOpens"],
      table("/proc/net/netstat", "TcpExt:")["ListenOverflows"])
PY
}
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
python3 - "$RESULTS/machine.json" "$(nproc)" "$cpu_model" "$(cut -d' ' -f1-3 /proc/loadavg)" \
  "$QUICK" "$REQUESTS" "$ROUNDS" "$CONCURRENCY" <<'PY'
import json, sys, datetime
out, nproc, cpu, load, quick, n, rounds, conc = sys.argv[1:]
json.dump({"nproc": int(nproc), "cpu_model": cpu, "loadavg_start": load, "quick": quick == "1",
           "requests_per_cell_round": int(n), "rounds": int(rounds),
           "concurrency": [int(c) for c in conc.split()],
           "date_utc": datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M")}, open(out, "w"))
PY
echo "machine: $(nproc) CPUs ($cpu_model), load average $(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------------------------------------
# 1. Added latency.
# A near-instant engine: no wait before the first token or between tokens; the default answer
# (11 words, cites [1]).
start_fake
LAT_FAKE_PID=$FAKE_PID
LAT_FAKE_PORT=$FAKE_PORT

# A small collection for the knowledge alias: 200 Markdown runbooks of 12 sentences (one chunk
# each).
python3 - "$WORK/corpus" <<'PY'
import os, random, sys
out = sys.argv[1]
os.makedirs(out)
random.seed(11)
words = ("backup restore replica index keys rotate compaction snapshot cluster latency search "
         "document chunk vector token upstream gateway metrics audit policy node sync shard "
         "query filter storage encryption certificate retention queue worker disk").split()
for i in range(200):
    with open(f"{out}/runbook{i:03d}.md", "w") as f:
        f.write(f"# Runbook {i}\n\n")
        for _ in range(12):
            f.write(" ".join(random.choice(words) for _ in range(14)).capitalize() + ".\n")
PY
"$DEEPKB" --data-dir "$WORK/lat" collections create docs >/dev/null
"$DEEPKB" --data-dir "$WORK/lat" ingest "$WORK/corpus" --collection docs --recursive >/dev/null
# max-concurrency above the highest client concurrency, so that the router never queues: this
# part measures the gateway's cost, not admission (part 2). 160 HTTP threads > 64 connections.
start_gateway "$WORK/lat" --http-threads 160 \
  --upstream "fake=http://127.0.0.1:$LAT_FAKE_PORT,model=fake-model,max-concurrency=128" \
  --knowledge-alias "kb=fake-model,collection=docs"
LAT_GW_PID=$GW_PID

question="What is the backup retention policy for replica snapshots?"
for stream in false true; do
  for model in fake-model kb; do
    printf '{"model":"%s","messages":[{"role":"user","content":"%s"}],"stream":%s}\n' \
      "$model" "$question" "$stream" >"$WORK/body-$model-$stream.json"
  done
done

# One cell: PATH_NAME (direct|gateway|alias) STREAM (false|true) CONCURRENCY ROUND.
cell() {
  local path=$1 stream=$2 conc=$3 round=$4 port key model expect
  case "$path" in
    direct) port=$LAT_FAKE_PORT; key=unused; model=fake-model ;;
    gateway) port=$GW_PORT; key=$GW_KEY; model=fake-model ;;
    alias) port=$GW_PORT; key=$GW_KEY; model=kb ;;
  esac
  if [[ $stream == true ]]; then expect='[DONE]'; else expect='"finish_reason":"stop"'; fi
  local warmup=$((4 * conc > 100 ? 4 * conc : 100))
  local samples="$RESULTS/samples/$path-$stream-c$conc-r$round.txt" before after result
  before=$(tcp_counters)
  result=$("$LOAD" --port "$port" --key "$key" --rate 0 --connections "$conc" \
    --requests "$REQUESTS" --warmup "$warmup" --path /v1/chat/completions \
    --body-file "$WORK/body-$model-$stream.json" --expect "$expect" \
    --pid "$LAT_GW_PID,$LAT_FAKE_PID" --samples-out "$samples")
  after=$(tcp_counters)
  python3 - "$RESULTS/latency.jsonl" "$path" "$stream" "$conc" "$round" "$before" "$after" \
    "$(cut -d' ' -f1 /proc/loadavg)" "$result" <<'PY'
import json, sys
out, path, stream, conc, rnd, before, after, load, result = sys.argv[1:]
b, a = [int(x) for x in before.split()], [int(x) for x in after.split()]
rec = {"path": path, "stream": stream == "true", "concurrency": int(conc), "round": int(rnd),
       "tcp_active_opens": a[0] - b[0], "listen_overflows": a[1] - b[1], "loadavg": float(load),
       "client": json.loads(result)}
open(out, "a").write(json.dumps(rec) + "\n")
c = rec["client"]
print(f"  {path:7s} stream={stream:5s} c={conc:>2s} round {rnd}: {c['ok']} ok "
      f"P50 {c['ok_service_p50_ms']:.3f} ms P99 {c['ok_service_p99_ms']:.3f} ms "
      f"statuses {c['statuses']} connects {rec['tcp_active_opens']} "
      f"listen overflows {rec['listen_overflows']}")
PY
}

echo "== added latency: $REQUESTS requests per cell and round, $ROUNDS rounds"
for conc in $CONCURRENCY; do
  for stream in false true; do
    for round in $(seq "$ROUNDS"); do
      # Alternate the order (a b c, then c b a) so that drift in the machine's load hits all
      # paths alike.
      if ((round % 2)); then order="direct gateway alias"; else order="alias gateway direct"; fi
      for path in $order; do cell "$path" "$stream" "$conc" "$round"; done
    done
  done
done
stop "$LAT_GW_PID"
stop "$LAT_FAKE_PID"

# ---------------------------------------------------------------------------------------------
# 2. Overload. An engine with realistic latency: 200 ms to the first token, then 20 ms per event
# (20 words, finish, usage, [DONE]): ≈ 0.2 + 22 × 0.02 = 0.64 s per request.
answer="The backup policy keeps nightly snapshots for thirty days and replicas are verified weekly by the restore job [1]."
start_fake --ttft-ms 200 --token-ms 20 --answer "$answer"
OV_FAKE_PID=$FAKE_PID
start_gateway "$WORK/ov" --http-threads 160 --llm-queue 16 \
  --upstream "fake=http://127.0.0.1:$FAKE_PORT,model=fake-model,max-concurrency=8"
OV_GW_PID=$GW_PID
body="$WORK/body-fake-model-true.json"
common=(--port "$GW_PORT" --key "$GW_KEY" --path /v1/chat/completions --body-file "$body"
        --expect '[DONE]' --pid "$OV_GW_PID,$OV_FAKE_PID")

echo "== overload: capacity (closed loop, 8 connections = max-concurrency, ${CALIBRATE_SECONDS} s)"
"$LOAD" "${common[@]}" --rate 0 --connections 8 --warmup 16 --duration "$CALIBRATE_SECONDS" \
  >"$RESULTS/overload_capacity.json"
CAP=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['ok_rps'])" \
  "$RESULTS/overload_capacity.json")
RATE=$(python3 -c "print(round($OVERLOAD_FACTOR * $CAP, 1))")
echo "   capacity $CAP req/s; offering $RATE req/s for $OVERLOAD_SECONDS s (open loop, 128 connections)"

python3 "$HERE/monitor.py" --url "http://127.0.0.1:$GW_PORT" --key-file "$WORK/ov/admin.key" \
  --pid "$OV_GW_PID" --out "$RESULTS/overload_monitor.jsonl" --interval 0.2 &
MON_PID=$!
STARTED+=("$MON_PID")
sleep 2  # an idle baseline for RSS and the gauges
python3 -c "import time; print(time.time())" >"$RESULTS/overload_start_wall.txt"
"$LOAD" "${common[@]}" --rate "$RATE" --connections 128 --duration "$OVERLOAD_SECONDS" \
  --timeline 1 >"$RESULTS/overload.json"
sleep 3  # the queue drains, RSS after the load
stop "$MON_PID"
curl -s -H "Authorization: Bearer $GW_KEY" "http://127.0.0.1:$GW_PORT/metrics" |
  grep -E '^deepkb_(llm_requests_total|llm_queue_depth|llm_in_flight|llm_concurrency_limit|process_resident)' \
    >"$RESULTS/overload_metrics_end.txt" || true
stop "$OV_GW_PID"
stop "$OV_FAKE_PID"

python3 - "$RESULTS/machine.json" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import json, sys
m = json.load(open(sys.argv[1])); m["loadavg_end"] = sys.argv[2]
json.dump(m, open(sys.argv[1], "w"))
PY
python3 "$HERE/report.py" "$RESULTS" --queue-bound 16 --max-concurrency 8 \
  --factor "$OVERLOAD_FACTOR" | tee "$RESULTS/report.md"
