#!/usr/bin/env bash
# Integration test: the official `openai` npm SDK (pinned in package-lock.json) against a real
# `deepkb serve` whose upstream LLM is tests/fake_upstream. See README.md here.
#
#   tests/openai_sdk/run_test.sh BUILD_DIR DEEPKB_BIN FAKE_UPSTREAM_BIN
#
# Makes a temporary data directory with collections `docs` (an English and a Chinese document
# plus an English distractor) and `other`, an admin key and a reader key scoped to `other`
# (created by the CLI before the server starts), starts fake_upstream and `deepkb serve` on free
# loopback ports, runs sdk.test.mjs with node, and always stops both processes.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
usage="usage: run_test.sh BUILD_DIR DEEPKB_BIN FAKE_UPSTREAM_BIN"
abs() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
build="${1:?$usage}"
deepkb="$(abs "${2:?$usage}")"
fake="$(abs "${3:?$usage}")"
for bin in "$deepkb" "$fake"; do
  if [ ! -x "$bin" ]; then
    echo "openai SDK test: $bin is missing; build the deepkb and fake_upstream targets first" >&2
    exit 1
  fi
done
"$here/setup.sh" "$build"
sdk_dir="$(cd "$build/openai_sdk" && pwd)"

work="$(mktemp -d "${TMPDIR:-/tmp}/deepkb_openai_sdk.XXXXXX")"
fake_pid=""
server_pid=""
stop() {  # PID: SIGTERM, then SIGKILL after 5 s
  local pid="$1" i
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || return 0
  for i in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local status=$?
  stop "$server_pid"
  stop "$fake_pid"
  if [ "$status" -ne 0 ]; then
    for log in server.log fake.log; do
      if [ -s "$work/$log" ]; then
        echo "---- $log (last 40 lines) ----" >&2
        tail -n 40 "$work/$log" >&2
      fi
    done
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_for FILE REGEX PID NAME: waits up to 15 s for a line of FILE matching REGEX.
wait_for() {
  local i
  for i in $(seq 150); do
    if grep -qE "$2" "$1" 2>/dev/null; then return 0; fi
    if ! kill -0 "$3" 2>/dev/null; then
      echo "openai SDK test: $4 exited before it was ready" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "openai SDK test: $4 did not become ready in 15 s" >&2
  return 1
}

# The knowledge base, built with the CLI before the server holds the directory.
data="$work/data"
files="$work/files"
mkdir -p "$files"
cat > "$files/kestrel-ferry.txt" <<'EOF'
Kestrel Orbital Ferry Manual

The Kestrel orbital ferry docks at bay seven every Tuesday. Its maximum cargo load is 412 kilograms, and the pilot must file a flight plan two hours before departure.
EOF
cat > "$files/river-timetable.txt" <<'EOF'
River Timetable

The river ferry timetable changes in winter. Tickets are sold at the pier office from eight in the morning.
EOF
cat > "$files/longjing-tea.txt" <<'EOF'
茶园管理手册

龙井茶园每年三月开始采摘新茶。采摘工人每天工作六个小时，鲜叶必须在四小时内送到炒茶车间。
EOF
kb() { "$deepkb" --data-dir "$data" --log-level error "$@"; }
kb collections create docs >/dev/null
kb collections create other >/dev/null
# Relative paths, so the document ids are the file names.
(cd "$files" && kb ingest kestrel-ferry.txt river-timetable.txt longjing-tea.txt \
                   --collection docs --json >/dev/null)
key_of() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).key))'; }
admin_key="$(kb keys create --role admin --json | key_of)"
reader_key="$(kb keys create --role reader --collection other --json | key_of)"

# The scripted upstream: one answer for every request; {system_chars} shows whether the gateway
# sent a system message (the passages) to the model.
answer='The Kestrel ferry docks at bay seven [1]. Context: {system_chars} chars.'
reasoning='Checking the passages first.'
"$fake" --answer "$answer" --reasoning "$reasoning" > "$work/fake.log" 2>&1 &
fake_pid=$!
wait_for "$work/fake.log" '^port [0-9]+' "$fake_pid" fake_upstream
fake_port="$(sed -n 's/^port \([0-9]*\).*/\1/p' "$work/fake.log" | head -n 1)"

alias_name="docs-assistant"
"$deepkb" --data-dir "$data" --log-level warn serve --listen 127.0.0.1:0 \
  --upstream "fake=http://127.0.0.1:$fake_port/v1,model=fake-model" \
  --knowledge-alias "$alias_name=fake-model,collection=docs" \
  --chat-timeout 30 > "$work/server.log" 2>&1 &
server_pid=$!
wait_for "$work/server.log" 'serving on http://[0-9.]+:[0-9]+' "$server_pid" "deepkb serve"
url="$(grep -oE 'http://[0-9.]+:[0-9]+' "$work/server.log" | head -n 1)"

DEEPKB_URL="$url" DEEPKB_API_KEY="$admin_key" DEEPKB_READER_KEY="$reader_key" \
DEEPKB_ALIAS="$alias_name" FAKE_MODEL="fake-model" FAKE_ANSWER="$answer" FAKE_REASONING="$reasoning" \
OPENAI_SDK_DIR="$sdk_dir" \
  timeout 120 node --test "$here/sdk.test.mjs"
