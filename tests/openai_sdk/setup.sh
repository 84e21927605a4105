#!/usr/bin/env bash
# Installs the official `openai` npm SDK (the exact version pinned by package-lock.json, with
# `npm ci`) into BUILD_DIR/openai_sdk for tests/openai_sdk/run_test.sh. Idempotent: when the
# installed lock file equals this one, nothing is downloaded.
#
#   tests/openai_sdk/setup.sh BUILD_DIR
#
# Needs `node` (18 or later) and `npm` (Debian packages nodejs and npm), and the npm registry
# once.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="${1:?usage: setup.sh BUILD_DIR}"
mkdir -p "$build"
prefix="$(cd "$build" && pwd)/openai_sdk"

missing="$(for tool in node npm; do command -v "$tool" >/dev/null 2>&1 || echo -n "$tool "; done)"
if [ -n "$missing" ]; then
  echo "openai SDK test setup: ${missing}not installed. This test drives the gateway with the official" >&2
  echo "openai npm package; install Debian's nodejs and npm (scripts/install-deps.sh does), then rerun." >&2
  exit 1
fi
if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 18 ]; then
  echo "openai SDK test setup: node $(node --version) is too old; the openai SDK needs Node 18 or later." >&2
  exit 1
fi

stamp="$prefix/installed-package-lock.json"
installed() { node -p 'require(process.argv[1]).version' "$prefix/node_modules/openai/package.json"; }
if cmp -s "$here/package-lock.json" "$stamp" && [ -f "$prefix/node_modules/openai/package.json" ]; then
  echo "openai SDK test setup: ok (openai $(installed) already installed in $prefix)" >&2
  exit 0
fi

mkdir -p "$prefix"
rm -f "$stamp"
cp "$here/package.json" "$here/package-lock.json" "$prefix/"
echo "openai SDK test setup: npm ci in $prefix (openai pinned by tests/openai_sdk/package-lock.json)" >&2
if ! (cd "$prefix" && npm ci --no-audit --no-fund --loglevel=error --fetch-retries=2 \
        --fetch-timeout=60000 >&2); then
  echo "openai SDK test setup: npm ci failed. Is the npm registry reachable" >&2
  echo "($(npm config get registry 2>/dev/null || echo 'see npm config get registry'))?" >&2
  exit 1
fi
cp "$here/package-lock.json" "$stamp"
echo "openai SDK test setup: ok (openai $(installed) in $prefix)" >&2
