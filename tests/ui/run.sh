#!/usr/bin/env bash
# run.sh - the browser test of the web UI (tests/ui/ui_test.js) against a real `visage serve`.
#
#   tests/ui/run.sh
#
# Starts build/visage serve on a free port with a new database in a temporary folder, reads the
# admin key the server prints once on its first start, runs the browser journey with Debian's
# chromium, and stops the server.  Exit status 0 when every check passed, 1 on a failure, 77 (with
# a SKIP line) when build/visage has no serve command or chromium is missing.  Installs
# playwright-core into tests/ui/node_modules (npm ci) when it is missing.  Screenshots go to
# build/ui-screens/.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 1
CHROMIUM=/usr/bin/chromium

skip() {
    echo "SKIP: $*"
    exit 77
}
fail() {
    echo "FAIL: $*"
    exit 1
}

[ -x build/visage ] || skip "build/visage is not built (make build/visage)"
build/visage --help 2>&1 | grep -qE '^ +serve ' || skip "build/visage has no serve command yet"
[ -x "$CHROMIUM" ] || skip "$CHROMIUM is missing (apt-get install chromium)"
if [ ! -d tests/ui/node_modules/playwright-core ]; then
    (cd tests/ui && npm ci --silent --ignore-scripts --no-audit --no-fund) ||
        fail "npm ci in tests/ui failed"
fi

TMP=$(mktemp -d)
SERVER=
# Stops the server (SIGTERM, SIGKILL after 10 s) and removes the temporary folder.
# shellcheck disable=SC2317  # called by the EXIT trap
stop() {
    if [ -n "$SERVER" ]; then
        kill "$SERVER" 2>/dev/null
        for _ in $(seq 1 20); do
            kill -0 "$SERVER" 2>/dev/null || break
            sleep 0.5
        done
        kill -9 "$SERVER" 2>/dev/null
        wait "$SERVER" 2>/dev/null
    fi
    rm -rf "$TMP"
}
trap stop EXIT

PORT=$(node -e 'const s = require("net").createServer();
s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });')
URL=http://127.0.0.1:$PORT
# The journey clicks at machine speed with one admin key: a rate limit above the default (20/s,
# burst 40) keeps it out of 429s (test_http covers the limit itself).
build/visage serve --port "$PORT" --db "$TMP/visage.db" --rate 100 --burst 400 >"$TMP/out" \
    2>"$TMP/err" &
SERVER=$!

# Ready when the admin key ("vs_" + 43 base64url characters) is printed and /healthz answers.
healthy() {
    node -e 'fetch(process.argv[1]).then((r) => process.exit(r.ok ? 0 : 1),
        () => process.exit(1))' "$URL/healthz"
}
KEY=
for _ in $(seq 1 240); do
    if ! kill -0 "$SERVER" 2>/dev/null; then
        cat "$TMP/err"
        fail "visage serve exited before it was ready"
    fi
    KEY=$(grep -oE 'vs_[A-Za-z0-9_-]{43}' "$TMP/out" | head -n 1)
    [ -n "$KEY" ] && healthy && break
    sleep 0.5
done
[ -n "$KEY" ] || fail "visage serve printed no admin key within 120 s"
healthy || fail "visage serve did not answer $URL/healthz within 120 s"

VISAGE_URL=$URL VISAGE_KEY=$KEY timeout 900 node tests/ui/ui_test.js
rc=$?
if [ $rc -ne 0 ]; then
    echo "--- visage serve stderr (last 30 lines)"
    tail -n 30 "$TMP/err"
fi
exit $rc
