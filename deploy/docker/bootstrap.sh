#!/usr/bin/env bash
# One-time setup for docker-compose.yml (run from anywhere; needs docker compose v2 and root or
# sudo for chown). Creates ./secrets/ — the master key, the Grafana admin password — then starts
# the KB node and the gateway and creates the API keys that link the services:
#   gateway-kb.key          reader key on the KB node, used by the gateway's --remote-kb
#   prometheus-kb.key       admin key on the KB node, used by Prometheus to scrape /metrics
#   prometheus-gateway.key  admin key on the gateway, likewise
# Idempotent: existing non-empty files are kept. Afterwards: docker compose up -d
set -euo pipefail
cd "$(dirname "$0")"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

mkdir -p secrets
chmod 0755 secrets  # the files inside carry their own owner and mode
[ -s secrets/master.key ] || head -c 32 /dev/urandom > secrets/master.key
[ -s secrets/grafana-admin-password ] || head -c 18 /dev/urandom | base64 > secrets/grafana-admin-password
# Compose refuses to start while a secret file is missing: create empty ones, filled below.
for f in gateway-kb.key prometheus-kb.key prometheus-gateway.key; do
  [ -e "secrets/$f" ] || touch "secrets/$f"
done

# Owners: deepkb runs as uid 10001, Prometheus as 65534 (nobody), Grafana as 472.
own() { $SUDO chown "$1" "$2" && $SUDO chmod 0400 "$2"; }
own 10001 secrets/master.key
own 472 secrets/grafana-admin-password

# new_key SERVICE ROLE: creates a key on the running SERVICE with its first admin key.
new_key() {
  docker compose exec -T "$1" sh -c \
    'deepkb keys create --server http://127.0.0.1:8080 --api-key "$(cat /var/lib/deepkb/admin.key)" --role '"$2"' --json' |
    sed -n 's/.*"key": *"\([^"]*\)".*/\1/p'
}
# store FILE OWNER SERVICE ROLE: writes a new key to FILE unless it already holds one.
store() {
  if ! $SUDO test -s "secrets/$1"; then
    $SUDO rm -f "secrets/$1"
    new_key "$3" "$4" > "secrets/$1"
    [ -s "secrets/$1" ] || { echo "bootstrap: could not create a $4 key on $3" >&2; exit 1; }
  fi
  own "$2" "secrets/$1"
}

docker compose up -d --build --wait kb
store gateway-kb.key 10001 kb reader
store prometheus-kb.key 65534 kb admin
docker compose up -d --wait gateway
store prometheus-gateway.key 65534 gateway admin
echo "bootstrap: secrets ready in $(pwd)/secrets; now run: docker compose up -d"
