#!/bin/sh
# index_run.sh - the gallery index benchmark: ours (FLAT, INT8, HNSW through src/index/index.h)
# and the peers (FAISS IndexFlatIP and IndexHNSWFlat, hnswlib) on the very same synthetic
# vectors and queries, in one invocation, printed as one table with the issue's goals.
#
# Usage (from the repo root):  bench/index_run.sh [N]        N vectors (default 100000)
# Environment: DIM (512, the default embedder fr_feature's), NQ (1000 queries, a quarter of
# them strangers), FLAT_NQ (single-query runs of the exact scans: 1000, 100 when N > 200000),
# EF (HNSW efSearch values, "16,32,64,128,256,512,1024,1536,2048": on these clustered vectors
# recall@1 >= 0.99 over all queries needs efSearch 1536-2048, for hnswlib as for ours), REPS
# (runs per measurement, 3: q/s is their median, p99 over all calls), M (16), EFC (200), PEERS
# ("faiss-flat,faiss-hnsw,hnswlib,hnswlib-native"; faiss-hnsw is left out when N > 50000:
# Debian's generic FAISS build takes about 17 ms per insertion at 512 dimensions, hours at 1M),
# DATA (directory for the shared data, default /dev/shm/visage_index_bench, removed afterwards),
# BUILD (the Makefile's build directory) or BENCH_BIN (a directory with index_bench already
# built), PY (the Python, /usr/bin/python3).
#
# Peers: Debian's python3-faiss and python3-hnswlib (with python3-numpy), and hnswlib-native:
# bench/index_hnswlib.cpp, the same hnswlib 0.6.2 compiled here with g++ -march=native from
# Debian's libhnswlib-dev (python3-hnswlib is built for baseline x86-64: SSE distances only).
#   apt-get install python3-faiss python3-hnswlib libhnswlib-dev
# This script installs nothing; without them it says what is missing and shows what could run.
# Memory: N x DIM x 4 bytes for the data, about as much again per index, and the graph indexes
# (ours, hnswlib, hnswlib-native) are all held during the sweep, each process with its own copy
# of the data: about 14 GB at 1M x 512.  Raw rows go to $BIN/index_last_run.tsv.
set -eu

cd "$(dirname "$0")/.."
N=${1:-100000}
DIM=${DIM:-512}
NQ=${NQ:-1000}
if [ "$N" -gt 200000 ]; then FLAT_NQ=${FLAT_NQ:-100}; else FLAT_NQ=${FLAT_NQ:-1000}; fi
EF=${EF:-16,32,64,128,256,512,1024,1536,2048}
REPS=${REPS:-3}
M=${M:-16}
EFC=${EFC:-200}
if [ "$N" -gt 50000 ]; then PEERS=${PEERS:-faiss-flat,hnswlib,hnswlib-native}; else
    PEERS=${PEERS:-faiss-flat,faiss-hnsw,hnswlib,hnswlib-native}; fi
DATA=${DATA:-/dev/shm/visage_index_bench}
BUILD=${BUILD:-build}
BIN=${BENCH_BIN:-$BUILD/bench}
PY=${PY:-/usr/bin/python3}

if [ -z "${BENCH_BIN:-}" ]; then
    make --no-print-directory -s BUILD="$BUILD" "$BIN/index_bench" >&2 || {
        echo "index_run.sh: building $BIN/index_bench failed" >&2
        exit 1
    }
fi
[ -x "$BIN/index_bench" ] || { echo "index_run.sh: $BIN/index_bench is missing" >&2; exit 1; }

MISSING=""
$PY -c 'import numpy' 2>/dev/null || MISSING="$MISSING python3-numpy"
$PY -c 'import faiss' 2>/dev/null || MISSING="$MISSING python3-faiss"
$PY -c 'import hnswlib' 2>/dev/null || MISSING="$MISSING python3-hnswlib"
[ -z "$MISSING" ] || echo "index_run.sh: missing Debian packages:$MISSING (apt-get install$MISSING);" \
    "the table shows what could run" >&2

mkdir -p "$DATA"
trap 'rm -rf "$DATA"' EXIT
RAW="$BIN/index_last_run.tsv"
: >"$RAW"
LOAD=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')
STATUS=0

# relay FD: appends the rows read from fd FD to $RAW up to a line "ready" or "done"; fails at the
# end of the input (the program died).
relay() {
    while IFS= read -r line <&"$1"; do
        case $line in
        ready | done) return 0 ;;
        *) printf '%s\n' "$line" >>"$RAW" ;;
        esac
    done
    return 1
}

# Ours: flat and int8, then the HNSW build; it then waits for "ef N" requests (--serve).
mkfifo "$DATA/ours.in" "$DATA/ours.out"
"$BIN/index_bench" --n "$N" --dim "$DIM" --nq "$NQ" --flat-nq "$FLAT_NQ" --m "$M" --efc "$EFC" \
    --reps "$REPS" --write "$DATA" --serve <"$DATA/ours.in" >"$DATA/ours.out" &
OURS_PID=$!
exec 3>"$DATA/ours.in" 4<"$DATA/ours.out"
OURS_OK=1
relay 4 || { OURS_OK=0; STATUS=1; }

# The peers: FAISS's exact scan, then the graph indexes built and waiting like ours.
PEERS_OK=0
GRAPH_PEERS=$(printf '%s\n' "$PEERS" | tr ',' '\n' | grep -vxE 'faiss-flat|hnswlib-native' |
    paste -sd, - || true)
if [ -z "$MISSING" ]; then
    if printf '%s\n' "$PEERS" | tr ',' '\n' | grep -qx 'faiss-flat'; then
        $PY bench/index_peers.py "$DATA" --flat-nq "$FLAT_NQ" --reps "$REPS" --which faiss-flat \
            >>"$RAW" || STATUS=1
    fi
    if [ -n "$GRAPH_PEERS" ]; then
        mkfifo "$DATA/peers.in" "$DATA/peers.out"
        $PY bench/index_peers.py "$DATA" --m "$M" --efc "$EFC" --reps "$REPS" \
            --which "$GRAPH_PEERS" --serve <"$DATA/peers.in" >"$DATA/peers.out" 3>&- 4<&- &
        PEERS_PID=$!
        exec 5>"$DATA/peers.in" 6<"$DATA/peers.out"
        PEERS_OK=1
        relay 6 || { PEERS_OK=0; STATUS=1; }
    fi
fi

# hnswlib compiled for this CPU (bench/index_hnswlib.cpp), built and waiting like the others.
NATIVE_OK=0
if printf '%s\n' "$PEERS" | tr ',' '\n' | grep -qx 'hnswlib-native'; then
    if [ ! -f /usr/include/hnswlib/hnswlib.h ] || ! command -v g++ >/dev/null 2>&1; then
        echo "index_run.sh: hnswlib-native needs g++ and Debian's libhnswlib-dev" \
            "(apt-get install libhnswlib-dev); left out" >&2
    elif g++ -O3 -march=native -std=c++17 -pthread bench/index_hnswlib.cpp \
        -o "$BIN/index_hnswlib"; then
        mkfifo "$DATA/native.in" "$DATA/native.out"
        "$BIN/index_hnswlib" "$DATA" "$M" "$EFC" "$REPS" <"$DATA/native.in" \
            >"$DATA/native.out" 3>&- 4<&- 5>&- 6<&- &
        NATIVE_PID=$!
        exec 7>"$DATA/native.in" 8<"$DATA/native.out"
        NATIVE_OK=1
        relay 8 || { NATIVE_OK=0; STATUS=1; }
    else
        STATUS=1
    fi
fi

# The efSearch sweep, alternating ours and the peers at each value: the two sides of a
# comparison run minutes apart instead of a whole sweep apart (the machine's load drifts).
for ef in $(printf '%s\n' "$EF" | tr ',' ' '); do
    if [ "$OURS_OK" = 1 ]; then
        echo "ef $ef" >&3
        relay 4 || { OURS_OK=0; STATUS=1; }
    fi
    if [ "$PEERS_OK" = 1 ]; then
        echo "ef $ef" >&5
        relay 6 || { PEERS_OK=0; STATUS=1; }
    fi
    if [ "$NATIVE_OK" = 1 ]; then
        echo "ef $ef" >&7
        relay 8 || { NATIVE_OK=0; STATUS=1; }
    fi
done
# The end of their input ends them all (each was started without the fds of those started
# before it, or those would never see the end of theirs).
exec 3>&- 4<&-
[ -z "${PEERS_PID:-}" ] || exec 5>&- 6<&-
[ -z "${NATIVE_PID:-}" ] || exec 7>&- 8<&-
wait "$OURS_PID" || STATUS=1
[ -z "${PEERS_PID:-}" ] || wait "$PEERS_PID" || STATUS=1
[ -z "${NATIVE_PID:-}" ] || wait "$NATIVE_PID" || STATUS=1
BLAS=$(ldconfig -p 2>/dev/null | grep -m1 'libblas.so.3 ' | sed 's/.*=> //')
BLAS=$(readlink -f "$BLAS" 2>/dev/null || echo '?')

awk -F'\t' -v n="$N" -v dim="$DIM" -v nq="$NQ" -v fnq="$FLAT_NQ" -v load="$LOAD" -v blas="$BLAS" \
    -v reps="$REPS" -v efs="$EF" \
    -v cpu="$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')" -v cores="$(nproc)" \
    -v date="$(date -u '+%Y-%m-%d %H:%M UTC')" -v cmd="bench/index_run.sh $N" '
    $1 != "row" { next }
    {
        r++; impl[r] = $2; idx[r] = $3; mode[r] = $4; thr[r] = $5; qps[r] = $6; p99[r] = $7
        rec[r] = $8; bpv[r] = $9; bld[r] = $10; par[r] = $11; str[r] = $13
        key = $2 "/" $3 "/" $4 "/" $5
        if ($3 == "flat") flatq[key] = $6
        # The fastest setting at recall@1 >= 0.99, per implementation and mode/threads.
        if ($3 == "hnsw" && $8 >= 0.99 && $6 > best[key]) { best[key] = $6; bestp[key] = $11 }
        if ($3 == "hnsw" && !(key in seen)) { seen[key] = 1; keys[++nk] = key }
        if ($3 == "hnsw") {
            ef = $11; sub(/.*ef=/, "", ef)
            at[key "/" ef] = $6; rc[key "/" ef] = $8; rs[key "/" ef] = $13
            if (!(ef in efseen)) { efseen[ef] = 1; eflist[++ne] = ef }
        }
    }
    END {
        fmt = "%-9s %-5s %-6s %3s %11s %9s %8s %9s %9s %9s  %s\n"
        hdr = sprintf(fmt, "impl", "index", "mode", "thr", "queries/s", "p99 ms", "recall@1",
                      "strangers", "bytes/vec", "build s", "parameters")
        printf "%s", hdr; gsub(/[^\n]/, "-", hdr); printf "%s", hdr
        for (i = 1; i <= r; i++)
            printf fmt, impl[i], idx[i], mode[i], thr[i], sprintf("%.1f", qps[i]),
                   (p99[i] > 0 ? sprintf("%.2f", p99[i]) : "-"), sprintf("%.4f", rec[i]),
                   (str[i] != "" ? sprintf("%.4f", str[i]) : "-"), bpv[i], bld[i], par[i]
        print ""
        print "goal: exact flat within 1.5x of FAISS IndexFlatIP at the same thread count " \
              "(ratio = FAISS q/s / ours q/s, <= 1.5 meets it):"
        split("single/1 single/2 batch/1 batch/2", mt, " ")
        for (j = 1; j <= 4; j++) {
            o = flatq["ours/flat/" mt[j]]; f = flatq["faiss/flat/" mt[j]]
            if (o > 0 && f > 0)
                printf "  %-9s ours %.1f q/s, FAISS %.1f q/s: ratio %.2f %s\n", mt[j], o, f,
                       f / o, (f / o <= 1.5 ? "ok" : "MISS")
            else
                printf "  %-9s not measured on both sides\n", mt[j]
        }
        print "goal: HNSW at recall@1 >= 0.99 at least as many q/s as hnswlib (fastest efSearch " \
              "reaching 0.99 on each side):"
        split("single/1 batch/1 batch/2", mt, " ")
        for (j = 1; j <= 3; j++) {
            o = "ours/hnsw/" mt[j]; h = "hnswlib/hnsw/" mt[j]; fh = "faiss/hnsw/" mt[j]
            nh = "hnswlib-n/hnsw/" mt[j]
            line = sprintf("  %-9s ours %s, hnswlib %s", mt[j],
                           (o in best ? sprintf("%.1f q/s (%s)", best[o], bestp[o]) : "never >= 0.99"),
                           (h in best ? sprintf("%.1f q/s (%s)", best[h], bestp[h]) : "never >= 0.99"))
            if ((o in best) && (h in best)) line = line ((best[o] >= best[h]) ? ": ok" : ": MISS")
            if (nh in best)
                line = line sprintf("; hnswlib-native %.1f q/s (%s): %s", best[nh], bestp[nh],
                                    (o in best) && best[o] >= best[nh] ? "ok" : "MISS")
            if (fh in best) line = line sprintf("; faiss %.1f q/s (%s)", best[fh], bestp[fh])
            print line
        }
        split("hnswlib hnswlib-n", peer, " ")
        for (p = 1; p <= 2; p++) {
            pn = peer[p]
            if (!(pn "/hnsw/single/1" in seen)) continue
            printf "HNSW at equal efSearch, ours vs %s (q/s single/1 and batch/2, ratio ours / " \
                   "peer; recall@1 over all queries and over the strangers):\n", pn
            f2 = "  %6s %9s %9s %6s %9s %9s %6s %8s %8s %8s %8s\n"
            printf f2, "ef", "single/1", "peer", "ratio", "batch/2", "peer", "ratio", "recall",
                   "peer", "strangr", "peer"
            for (j = 1; j <= ne; j++) {
                e = eflist[j]
                o1 = "ours/hnsw/single/1/" e; h1 = pn "/hnsw/single/1/" e
                o2 = "ours/hnsw/batch/2/" e; h2 = pn "/hnsw/batch/2/" e
                if (!(o1 in at) || !(h1 in at) || !(o2 in at) || !(h2 in at)) continue
                printf "  %6s %9.1f %9.1f %6.2f %9.1f %9.1f %6.2f %8.4f %8.4f %8.4f %8.4f\n", e,
                       at[o1], at[h1], at[o1] / at[h1], at[o2], at[h2], at[o2] / at[h2], rc[o1],
                       rc[h1], rs[o1], rs[h1]
            }
        }
        print ""
        printf "data: %d x %d float32 unit vectors, 5 noisy copies per identity; %d queries (3/4 " \
               "mated, 1/4 strangers), single-query runs of flat/int8 over the first %d\n", n, dim, nq,
               (fnq < nq ? fnq : nq)
        print "recall@1: top-1 face equal to the exact top-1 (our FLAT batch), over all queries and " \
              "over the strangers; single = one query per call (ours and hnswlib-n: C/C++; faiss, " \
              "hnswlib: a Python loop), batch = all queries in one call"
        printf "q/s: median of %d runs (p99 over the calls of all runs); efSearch swept over %s\n", \
               reps, efs
        print "threads: ours flat/int8 single 2 = one query split over 2 threads; hnsw single 2 = " \
              "2 searching threads; batch = queries split over threads; peers: OpenMP / num_threads"
        print "order: ours flat, int8, HNSW build; FAISS flat; peers HNSW builds; then at each " \
              "efSearch ours, then the peers"
        print "hnswlib: Debian python3-hnswlib (baseline x86-64 build: SSE distances); hnswlib-n: " \
              "the same hnswlib (libhnswlib-dev) compiled here with g++ -O3 -march=native"
        print "bytes/vec: resident memory growth over the build per vector (ours int8 keeps float32 " \
              "originals for the re-rank); builds on 1 thread"
        printf "FAISS: Debian python3-faiss (generic build) with BLAS %s\n", blas
        printf "CPU: %s (%s cores), load average at start: %s\n", cpu, cores, load
        printf "date: %s\ncommand: %s\n", date, cmd
    }' "$RAW"
exit $STATUS
