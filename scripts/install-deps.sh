#!/usr/bin/env bash
# The one list of system packages deepkb needs (Debian 12). Idempotent: packages already
# installed are skipped, so `make run` / `make test` can call this every time cheaply.
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake pkg-config ccache
  # storage, crypto, HTTP, JSON, CLI, logging
  libsqlite3-dev sqlite3 libssl-dev libcpp-httplib-dev nlohmann-json3-dev libcli11-dev
  libspdlog-dev libfmt-dev
  # text: unicode, charset detection, parsers
  libicu-dev libuchardet-dev libpoppler-cpp-dev libgumbo-dev libcmark-dev
  libarchive-dev libpugixml-dev libzstd-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev libhnswlib-dev libfaiss-dev
  # fuzzing (libFuzzer comes with clang's runtime libraries)
  clang libclang-rt-14-dev
  # test fixtures and the retrieval-quality corpus (Chinese manual pages)
  poppler-utils manpages-zh groff-base bsdextrautils
  # server tests make TLS certificates and probe TLS versions with the openssl CLI;
  # bench/server/run.sh uses curl and python3
  openssl curl python3
  # tokenizer tests and benchmark: the JavaScript reference tokenizers (npm ci, tests/tokenizer/)
  nodejs npm
  # deploy/ checks (tests/deploy): promtool for the Prometheus rules, YAML for the manifests
  # (promtool ships only in `prometheus`, which also enables a local Prometheus service under
  # systemd: `systemctl disable --now prometheus` if you do not want it)
  prometheus python3-yaml
  # web UI tests (tests/ui): headless Chromium driven by playwright-core. Large: about 100 MB
  # download and 300+ MB installed with its libraries. The small CJK font makes the Chinese
  # screenshots readable.
  chromium fonts-wqy-microhei
)

missing=()
for p in "${PACKAGES[@]}"; do
  # Node.js from another source (e.g. NodeSource's nodejs, which bundles npm) is fine too.
  if { [ "$p" = nodejs ] && command -v node >/dev/null 2>&1; } ||
     { [ "$p" = npm ] && command -v npm >/dev/null 2>&1; }; then
    continue
  fi
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y --no-install-recommends "${missing[@]}"
