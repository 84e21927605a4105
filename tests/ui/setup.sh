#!/usr/bin/env bash
# Installs playwright-core (the exact version pinned by package-lock.json, with `npm ci`) into
# BUILD_DIR/ui_test for tests/ui/run_test.sh, and checks that Debian's Chromium is there.
# Idempotent: nothing is downloaded when the installed lock file equals this one. playwright-core
# never downloads a browser; the tests drive /usr/bin/chromium (or $DEEPKB_CHROMIUM).
#
#   tests/ui/setup.sh BUILD_DIR
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="${1:?usage: setup.sh BUILD_DIR}"
mkdir -p "$build/ui_test"
prefix="$(cd "$build/ui_test" && pwd)"
chromium="${DEEPKB_CHROMIUM:-/usr/bin/chromium}"

fail() { echo "UI test setup: $*" >&2; exit 1; }
command -v node >/dev/null && command -v npm >/dev/null ||
  fail "node and npm are needed (Debian packages nodejs and npm; scripts/install-deps.sh installs them)"
[ "$(node -p 'process.versions.node.split(".")[0]')" -ge 20 ] ||
  fail "node $(node --version) is too old; playwright-core needs Node 20 or later"
[ -x "$chromium" ] ||
  fail "no Chromium at $chromium; install Debian's package: apt-get install --no-install-recommends chromium"

stamp="$prefix/installed-package-lock.json"
if ! cmp -s "$here/package-lock.json" "$stamp" || [ ! -d "$prefix/node_modules/playwright-core" ]; then
  rm -f "$stamp"
  cp "$here/package.json" "$here/package-lock.json" "$prefix/"
  echo "UI test setup: npm ci in $prefix (playwright-core pinned by tests/ui/package-lock.json)" >&2
  (cd "$prefix" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund \
      --loglevel=error --fetch-retries=2 --fetch-timeout=60000 >&2) ||
    fail "npm ci failed; is the npm registry reachable ($(npm config get registry 2>/dev/null))?"
  cp "$here/package-lock.json" "$stamp"
fi
echo "UI test setup: ok (playwright-core $(node -p 'require(process.argv[1]).version' \
  "$prefix/node_modules/playwright-core/package.json"), $("$chromium" --version 2>/dev/null || echo chromium))" >&2
