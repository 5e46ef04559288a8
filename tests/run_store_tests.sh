#!/usr/bin/env bash
# run_store_tests.sh - the store tests against SQLite and a throwaway PostgreSQL.
#
#   tests/run_store_tests.sh [BUILD]      (default build; run from anywhere)
#
# Starts PostgreSQL with scripts/pg_test_server.sh, runs BUILD/tests/test_store with
# VISAGE_TEST_PG=<its URL>, and stops the server whatever happens (trap).  When the server
# cannot start, test_store runs with VISAGE_TEST_PG=skip:<reason>, so its PostgreSQL half says
# SKIP with the reason and the SQLite half still runs.  Exit status: test_store's.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
BUILD=${1:-build}
BIN="$BUILD/tests/test_store"
[ -x "$BIN" ] || {
    echo "run_store_tests: $BIN is not built (make $BIN)" >&2
    exit 1
}

url=""
errlog=$(mktemp)
cleanup() {
    [ -n "$url" ] && scripts/pg_test_server.sh stop "$url"
    rm -f "$errlog"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if url=$(scripts/pg_test_server.sh start 2>"$errlog"); then
    echo "run_store_tests: PostgreSQL at $url"
    VISAGE_TEST_PG="$url" "$BIN"
else
    url=""
    reason=$(tail -n 1 "$errlog")
    VISAGE_TEST_PG="skip:${reason:-the server did not start}" "$BIN"
fi
