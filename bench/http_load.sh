#!/usr/bin/env bash
# http_load.sh - the load test of `visage serve`: for each server thread count, a new server on
# a new SQLite database with the 8 bbt people enrolled, then bench/http_load (POST /v1/recognize
# of one face photo from N keep-alive clients for S seconds) at each client count, with the
# server's resident memory before and after each run and the CPU the server and the whole machine
# used during it.  Prints a Markdown table, the 2-thread / 1-thread throughput ratios and a footer.
#
#   bench/http_load.sh [--seconds 60] [--clients "1 4 16"] [--threads "1 2"] [--photo PATH]
#                      [--warmup 3]
#
# The photo defaults to a bbt crop (sheldon2.png) from ../shared/data/bbt, or from
# tests/data/photos/bbt without the shared data; the gallery is one other crop of each person
# (<name>1.png), so the photo is a real match.  Before the first timed run of each server, a
# warm-up (--warmup seconds, 0 for none) at the largest client count makes the server's
# analysis workers, which it makes on first need, so no timed run pays for loading the models.
# "CPU server / machine" is the cores busy during a run: the server process, and every process
# (http_load and anybody else's work too); the machine near its core count while the server is
# well below it means other work took the cores, and the run says little about scaling.
# Exit status: 0 when every request of every run succeeded, 1 otherwise, 2 on a usage error.
# Environment: BUILD (build directory, default build), VISAGE_TEST_DATA (default ../shared/data).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
BUILD=${BUILD:-build}
SECONDS_PER_RUN=60
CLIENTS="1 4 16"
THREADS="1 2"
WARMUP=3
PHOTO=
CMD="bench/http_load.sh${*:+ $*}"
while [ $# -gt 0 ]; do
    case "$1" in
    --seconds | --clients | --threads | --photo | --warmup)
        [ $# -ge 2 ] || { echo "http_load.sh: $1 needs a value" >&2; exit 2; }
        case "$1" in
        --seconds) SECONDS_PER_RUN=$2 ;;
        --clients) CLIENTS=$2 ;;
        --threads) THREADS=$2 ;;
        --photo) PHOTO=$2 ;;
        --warmup) WARMUP=$2 ;;
        esac
        shift 2
        ;;
    -h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    *) echo "http_load.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

say() { echo "# http_load.sh: $*" >&2; }
die() { echo "http_load.sh: $*" >&2; exit 1; }

# The crops: the shared data set, else the subset committed for the tests.
DATA=${VISAGE_TEST_DATA:-../shared/data}
BBT=$DATA/bbt
[ -d "$BBT" ] || BBT=tests/data/photos/bbt
PEOPLE="amy bernadette howard leonard penny raj sheldon stuart"
[ -n "$PHOTO" ] || PHOTO=$BBT/sheldon/sheldon2.png
[ -f "$PHOTO" ] || die "no photo at $PHOTO (give one with --photo)"

make --no-print-directory -s BUILD="$BUILD" "$BUILD/visage" "$BUILD/bench/http_load" >&2 ||
    die "building $BUILD/visage and $BUILD/bench/http_load failed"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/visage_http_load.XXXXXX") || die "mktemp failed"
SERVER=
SERVER_RC=0
# Stops the server (SIGTERM; SIGKILL after 10 s).
stop_server() {
    [ -n "$SERVER" ] || return 0
    kill -TERM "$SERVER" 2>/dev/null
    for _ in $(seq 1 40); do
        kill -0 "$SERVER" 2>/dev/null || break
        sleep 0.25
    done
    if kill -0 "$SERVER" 2>/dev/null; then
        say "the server did not stop within 10 s of SIGTERM: SIGKILL"
        kill -KILL "$SERVER" 2>/dev/null
    fi
    wait "$SERVER" 2>/dev/null
    SERVER_RC=$?
    SERVER=
}
# shellcheck disable=SC2317  # called by the traps
cleanup() {
    stop_server
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A free TCP port on 127.0.0.1 (the kernel's pick; a random unused one without python3).
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0));
print(s.getsockname()[1]); s.close()' 2>/dev/null && return
    local p
    for _ in $(seq 1 50); do
        p=$((20000 + RANDOM % 40000))
        ss -ltnH "sport = :$p" 2>/dev/null | grep -q . || { echo "$p"; return; }
    done
    return 1
}

# CPU time in clock ticks: of process $1 (user + system), and of the whole machine (not idle).
proc_ticks() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $12 + $13 }'; }
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
now_ns() { date +%s%N; }
# Cores busy over an interval from tick counts $1 to $2 in $3 ns: ticks / (CLK_TCK * seconds).
cores() {
    awk -v a="$1" -v b="$2" -v hz="$(getconf CLK_TCK)" -v ns="$3" 'BEGIN {
        if (a != "" && b != "" && ns > 0) printf "%.2f", (b - a) / hz / (ns / 1e9); else printf "?" }'
}

rss_mib() { awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo '?'; }

# Starts `visage serve` with $1 threads on a new database; sets SERVER, URL, KEY, OUT, ERR.
start_server() {
    local t=$1 port
    port=$(free_port) || die "no free port"
    URL=http://127.0.0.1:$port
    OUT=$TMP/serve-$t.out
    ERR=$TMP/serve-$t.err
    "$BUILD/visage" serve --db "$TMP/visage-$t.db" --port "$port" --bind 127.0.0.1 \
        --threads "$t" --rate 1000000 --burst 1000000 >"$OUT" 2>"$ERR" &
    SERVER=$!
    # Ready when the admin key ("vs_" + 43 base64url characters, printed once on the first
    # start) is out and /healthz answers.
    KEY=
    for _ in $(seq 1 240); do
        kill -0 "$SERVER" 2>/dev/null || { cat "$ERR" >&2; SERVER=; die "visage serve exited"; }
        KEY=$(grep -oE 'vs_[A-Za-z0-9_-]{43}' "$OUT" | head -n 1)
        [ -n "$KEY" ] && curl -fsS -o /dev/null "$URL/healthz" 2>/dev/null && return 0
        sleep 0.5
    done
    die "visage serve was not ready (admin key and /healthz) within 120 s"
}

# Enrols each bbt person from <name>1.png; returns 1 if one failed.
enrol() {
    local p f code rc=0 n=0
    for p in $PEOPLE; do
        f=$BBT/$p/${p}1.png
        [ -f "$f" ] || { say "no $f: enrolment skipped"; return 0; }
    done
    for p in $PEOPLE; do
        f=$BBT/$p/${p}1.png
        code=$(curl -sS -o "$TMP/enrol.json" -w '%{http_code}' -H "X-API-Key: $KEY" \
            -F "name=$p" -F consent=given -F "file=@$f;type=image/png" "$URL/v1/persons")
        if [ "$code" = 201 ]; then
            n=$((n + 1))
        else
            echo "http_load.sh: enrolling $p: HTTP $code: $(head -c 300 "$TMP/enrol.json")" >&2
            rc=1
        fi
    done
    say "enrolled $n people; $(curl -fsS "$URL/healthz")"
    return $rc
}

# A field of http_load's line "RESULT clients=.. req=.. errors=.. secs=.. rps=.. p50_ms=.. p99_ms=.."
val() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$res"; }

STATUS=0
ROWS=()
declare -A RPS
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')
for t in $THREADS; do
    say "server with --threads $t ..."
    start_server "$t"
    enrol || STATUS=1
    if [ "$WARMUP" != 0 ]; then
        max=0
        for c in $CLIENTS; do [ "$c" -le "$max" ] || max=$c; done
        say "warm-up: $max clients, $WARMUP s (not reported)"
        "$BUILD/bench/http_load" --port "${URL##*:}" --key "$KEY" --file "$PHOTO" \
            --clients "$max" --seconds "$WARMUP" >/dev/null 2>"$TMP/warmup.err" ||
            { say "warm-up had errors:"; cat "$TMP/warmup.err" >&2; }
    fi
    for c in $CLIENTS; do
        rss0=$(rss_mib "$SERVER")
        srv0=$(proc_ticks "$SERVER")
        all0=$(machine_ticks)
        ns0=$(now_ns)
        say "threads $t, clients $c, $SECONDS_PER_RUN s ..."
        out=$("$BUILD/bench/http_load" --port "${URL##*:}" --key "$KEY" --file "$PHOTO" \
            --clients "$c" --seconds "$SECONDS_PER_RUN")
        rc=$?
        rss1=$(rss_mib "$SERVER")
        ns=$(($(now_ns) - ns0))
        srv=$(cores "$srv0" "$(proc_ticks "$SERVER")" "$ns")
        all=$(cores "$all0" "$(machine_ticks)" "$ns")
        echo "threads $t, $out" | grep -v '^RESULT' >&2
        res=$(grep '^RESULT' <<<"$out")
        if [ $rc -ne 0 ] || [ -z "$res" ]; then
            STATUS=1
        fi
        if ! kill -0 "$SERVER" 2>/dev/null; then
            echo "http_load.sh: the server died during the run:" >&2
            tail -n 20 "$ERR" >&2
            SERVER=
            STATUS=1
        fi
        err=$(val errors)
        [ -n "$res" ] || err='run failed'
        RPS[$t,$c]=$(val rps)
        ROWS+=("| $t | $c | $(val rps) | $(val p50_ms) | $(val p99_ms) | $err | $rss0 → $rss1 | $srv / $all |")
        [ -n "$SERVER" ] || break
    done
    SERVER_RC=0
    stop_server
    if [ "$SERVER_RC" -ne 0 ]; then
        echo "http_load.sh: visage serve (--threads $t) exited with status $SERVER_RC" >&2
        STATUS=1
    fi
    # Anything the server said besides its stop line is worth a look.
    if grep -qv '^visage serve: stopping' "$ERR"; then
        say "server stderr (--threads $t):"
        grep -v '^visage serve: stopping' "$ERR" | tail -n 20 >&2
    fi
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')

echo
echo "| threads | clients | req/s | p50 ms | p99 ms | errors | RSS start→end MiB |" \
    "CPU server / machine |"
echo "|---:|---:|---:|---:|---:|---:|---|---|"
printf '%s\n' "${ROWS[@]}"
echo
for c in $CLIENTS; do
    a=${RPS[1,$c]:-}
    b=${RPS[2,$c]:-}
    if [ -n "$a" ] && [ -n "$b" ]; then
        awk -v a="$a" -v b="$b" -v c="$c" 'BEGIN {
            if (a + 0 > 0) printf "throughput ratio 2 threads / 1 thread at %s clients: %.2fx\n", c, b / a
            else printf "throughput ratio 2 threads / 1 thread at %s clients: - (no 1-thread throughput)\n", c }'
    fi
done
CPU=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //')
echo
echo "photo $PHOTO ($(stat -c %s "$PHOTO") bytes), $SECONDS_PER_RUN s per run, warm-up $WARMUP s;" \
    "${CPU:-$(uname -m)}, $(nproc) cores; load average $LOAD_START (start), $LOAD_END (end);" \
    "$(date -u '+%Y-%m-%d %H:%M UTC'); $CMD"
[ $STATUS -eq 0 ] || echo "http_load.sh: some requests failed (see above)" >&2
exit $STATUS
