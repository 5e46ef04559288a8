#!/usr/bin/env bash
# serve_config.sh - `visage serve` settings from a config file and flags, as a user starts it.
#
#   tests/cli/serve_config.sh [BUILD]      (default build; run from the repository root)
#
# Checks: a config file's settings are used (db, bind, threads) and a flag overrides the file
# (port); the first start prints the admin key once and a restart does not; a bad line in the
# file, an unknown setting and a bad --index are refused with exit status 2 and a message that
# names the problem.  Exit 77 (skip) when the models are missing.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 1
BIN=${1:-build}/visage
[ -x "$BIN" ] || { echo "serve_config: $BIN is not built"; exit 1; }
[ -d "${VISAGE_MODELS:-models}/faceapi" ] || { echo "SKIP serve_config: no models"; exit 77; }

tmp=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
failures=0
fail() { echo "  FAIL: $*"; failures=$((failures + 1)); }

# A free loopback port (bash's /dev/tcp connects only when something listens).
free_port() {
    local p
    for _ in $(seq 50); do
        p=$((20000 + RANDOM % 30000))
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
    echo 0
}

healthz() { # PORT -> the body of GET /healthz, or nothing
    (exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'GET /healthz HTTP/1.0\r\nHost: x\r\n\r\n' >&3 &&
        cat <&3) 2>/dev/null | tail -n 1
}

start() { # OUT_FILE ARGS... ; waits until the URL line is printed
    "$BIN" serve "${@:2}" >"$1" 2>&1 &
    pid=$!
    for _ in $(seq 120); do
        grep -q "serving http" "$1" && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.5
    done
    return 1
}

stop() {
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    pid=
}

p_file=$(free_port)
p_flag=$(free_port)
cat >"$tmp/visage.conf" <<CONF
# visage settings
port $p_file
bind 127.0.0.1
db   $tmp/v.db
threads 1
index hnsw
CONF

start "$tmp/out1" --config "$tmp/visage.conf" --port "$p_flag" || fail "the server did not start: $(cat "$tmp/out1")"
grep -q "127.0.0.1:$p_flag/" "$tmp/out1" || fail "the flag's port is not used: $(head -n 1 "$tmp/out1")"
case "$(healthz "$p_flag")" in *'"status":"ok"'*) ;; *) fail "/healthz on the flag's port" ;; esac
[ -z "$(healthz "$p_file")" ] || fail "something answers on the file's port $p_file"
[ -f "$tmp/v.db" ] || fail "the config file's db was not used"
grep -q "admin API key" "$tmp/out1" || fail "the first start printed no admin key"
stop

start "$tmp/out2" --config "$tmp/visage.conf" || fail "restart: $(cat "$tmp/out2")"
grep -q "127.0.0.1:$p_file/" "$tmp/out2" || fail "the file's port is not used: $(head -n 1 "$tmp/out2")"
grep -q "admin API key" "$tmp/out2" && fail "a restart printed an admin key again"
stop

printf 'port 8080\nshoe_size 44\n' >"$tmp/bad.conf"
"$BIN" serve --config "$tmp/bad.conf" >"$tmp/out3" 2>&1
rc=$?
[ $rc -eq 2 ] && grep -q "shoe_size" "$tmp/out3" && grep -q "bad.conf:2" "$tmp/out3" ||
    fail "bad config line: exit $rc, $(cat "$tmp/out3")"
"$BIN" serve --index quantum >"$tmp/out4" 2>&1
rc=$?
[ $rc -eq 2 ] && grep -q "index" "$tmp/out4" || fail "--index quantum: exit $rc"
"$BIN" serve --port >"$tmp/out5" 2>&1
rc=$?
[ $rc -eq 2 ] && grep -q "needs a value" "$tmp/out5" || fail "--port without a value: exit $rc"

echo "serve_config: $([ $failures -eq 0 ] && echo ok || echo FAIL) ($failures failures)"
[ $failures -eq 0 ]
