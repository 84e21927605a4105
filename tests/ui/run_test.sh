#!/usr/bin/env bash
# The web UI's tests (docs/ui.md): unit tests of the UI's pure modules in node, then the
# end-to-end suite in headless Debian Chromium against a real `deepkb serve` with
# tests/fake_upstream as its LLM (harness.mjs starts and always stops both). Screenshots land in
# BUILD_DIR/ui-artifacts/.
#
#   tests/ui/run_test.sh BUILD_DIR DEEPKB_BIN FAKE_UPSTREAM_BIN
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
usage="usage: run_test.sh BUILD_DIR DEEPKB_BIN FAKE_UPSTREAM_BIN"
build="$(cd "${1:?$usage}" && pwd)"
abs() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
"$here/setup.sh" "$build"
export DEEPKB_BIN="$(abs "${2:?$usage}")"
export FAKE_UPSTREAM_BIN="$(abs "${3:?$usage}")"
export UI_TEST_MODULES="$build/ui_test/node_modules"
export UI_ARTIFACTS="$build/ui-artifacts"
rm -rf "$UI_ARTIFACTS"
timeout 150 node --test --test-concurrency=1 "$here/unit.test.mjs" "$here/e2e.test.mjs"
echo "screenshots: $UI_ARTIFACTS" >&2
