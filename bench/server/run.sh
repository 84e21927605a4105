#!/usr/bin/env bash
# Server load test (bench/server/README.md): capacity, then 2x capacity, then recovery.
# Usage: bench/server/run.sh BUILD_DIR [PHASE_SECONDS] [DOCS]
set -euo pipefail
BUILD=${1:-build}
SECS=${2:-20}
DOCS=${3:-3000}
DEEPKB="$BUILD/deepkb"
LOAD="$BUILD/tests/deepkb_load"
WORK=$(mktemp -d)
trap 'kill $SRV 2>/dev/null || true; rm -rf "$WORK"' EXIT

# A synthetic English corpus: DOCS markdown files of ~20 sentences each.
python3 - "$WORK/corpus" "$DOCS" <<'PY'
import os, random, sys
out, n = sys.argv[1], int(sys.argv[2])
os.makedirs(out)
random.seed(7)
words = ("backup restore replica index keys rotate compaction snapshot cluster latency search "
         "document chunk vector token upstream gateway metrics audit policy node sync shard "
         "query filter storage encryption certificate rate limit queue worker thread disk").split()
for i in range(n):
    with open(f"{out}/doc{i:05d}.md", "w") as f:
        f.write(f"# Runbook {i}\n\n")
        for s in range(20):
            f.write(" ".join(random.choice(words) for _ in range(14)) + ".\n")
PY
"$DEEPKB" --data-dir "$WORK/data" collections create bench >/dev/null
"$DEEPKB" --data-dir "$WORK/data" ingest "$WORK/corpus" --collection bench --recursive --json \
  | python3 -c 'import json,sys; j=json.load(sys.stdin); print("ingested", j["added"], "docs,", j["chunks"], "chunks")'

"$DEEPKB" --data-dir "$WORK/data" --log-level warn serve --listen 127.0.0.1:0 --rate-limit 0 --http-threads 128 \
  >"$WORK/serve.out" 2>&1 &
SRV=$!
for _ in $(seq 100); do grep -q "serving on" "$WORK/serve.out" && break; sleep 0.1; done
PORT=$(sed -n 's/.*serving on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$WORK/serve.out")
KEY=$(cat "$WORK/data/admin.key")
run() { "$LOAD" --port "$PORT" --key "$KEY" --collection bench --pid "$SRV" "$@"; }

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
run --rate 0 --connections 4 --duration 2 >/dev/null   # warm-up
CAP=$(run --rate 0 --connections 4 --duration "$SECS")
echo "capacity (closed loop, 4 connections): $CAP"
RPS=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['ok_rps'])" "$CAP")
OVER=$(python3 -c "print(round(2*$RPS))")
echo "overload (open loop, 2x = $OVER rps, 128 connections): $(run --rate "$OVER" --connections 128 --duration "$SECS")"
REC=$(python3 -c "print(round(0.5*$RPS))")
echo "recovery (open loop, 0.5x = $REC rps, 32 connections): $(run --rate "$REC" --connections 32 --duration "$SECS")"
echo "server still healthy: $(curl -s "http://127.0.0.1:$PORT/healthz")"
kill -TERM $SRV; wait $SRV || true
