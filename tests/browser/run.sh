#!/usr/bin/env bash
# Real-browser end-to-end test: headless Debian Chromium, driven by playwright-core (which never
# downloads a browser of its own), against a freshly built mioserve. Installs what is missing,
# builds, runs the *.test.mjs files with node's test runner, and exits non-zero on any failure.
# Screenshots land in target/screenshots/. Takes about 30 s once Chromium is installed.
#
#   tests/browser/run.sh                      debug build (what `cargo test` already built)
#   MIOSERVE_BIN=target/release/mioserve tests/browser/run.sh    any other binary
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

if [ ! -x /usr/bin/chromium ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi

cd "$here"
# Exactly what package-lock.json pins (one package, playwright-core: no browser download).
npm ci --no-audit --no-fund --loglevel=error

if [ -z "${MIOSERVE_BIN:-}" ]; then
    (cd "$repo" && cargo build --quiet)
    export MIOSERVE_BIN="$repo/target/debug/mioserve"
fi
export SCREENSHOT_DIR="${SCREENSHOT_DIR:-$repo/target/screenshots}"

# The first start of Chromium on a fresh machine reads it from a cold disk; do that once here,
# bounded, so no test's launch pays for it. A warm-up that fails is not a test result: the tests
# launch it again and report what goes wrong.
timeout 120 "${CHROMIUM:-/usr/bin/chromium}" --headless --no-sandbox --disable-gpu --no-first-run \
    --dump-dom about:blank >/dev/null 2>&1 || echo "# chromium warm-up did not finish; the tests launch it again"

# One test file at a time, so no two Chromium launches compete for the cores, and
# a bound on the whole run: a wedged browser must fail CI, not hang it.
timeout 420 node --test --test-concurrency=1 --test-reporter=tap \
    listing.test.mjs caching.test.mjs archive.test.mjs live.test.mjs https.test.mjs
echo "screenshots: $SCREENSHOT_DIR"
