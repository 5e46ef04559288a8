#!/bin/sh
# run.sh - the engine benchmark: our engine (XNNPACK backend, 1 and 2 threads) against
# TensorFlow.js + tfjs-backend-wasm (1 thread, SIMD) on every shipped model, in one invocation,
# with the core's measured FP32 FMA peak for scale.  Prints one table and a footer.
#
# Usage (from the repo root, after `make`):  bench/run.sh [--runs N] [model ...]
# Environment: BUILD (the Makefile's build directory, default build: $BUILD/bench/fma_peak and
# $BUILD/bench/bench_nn are made with `make` first), BENCH_BIN (a directory with both programs
# already built: then nothing is built), VISAGE_MODELS (models directory, default models).
# The raw lines of the three programs go to $BENCH_BIN/last_run.tsv.
set -eu

cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BIN=${BENCH_BIN:-$BUILD/bench}
MODELS=${VISAGE_MODELS:-models}
RUNS=50
while [ $# -gt 0 ]; do
    case "$1" in
    --runs) RUNS=$2; shift 2 ;;
    -h | --help) sed -n '2,10p' "$0"; exit 0 ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
    esac
done

# Build (or refresh) the two programs through the Makefile, so the flags and libraries are its
# own: `make bench` has just done this and it is then a no-op.
if [ -z "${BENCH_BIN:-}" ]; then
    make --no-print-directory -s BUILD="$BUILD" "$BIN/fma_peak" "$BIN/bench_nn" >&2 || {
        echo "run.sh: building $BIN/fma_peak and $BIN/bench_nn failed" >&2
        exit 1
    }
fi
for p in fma_peak bench_nn; do
    [ -x "$BIN/$p" ] || { echo "run.sh: $BIN/$p is missing" >&2; exit 1; }
done

RAW="$BIN/last_run.tsv"
LOAD=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')
STATUS=0
CMD="bench/run.sh --runs $RUNS${*:+ $*}"
[ $# -gt 0 ] || set -- $("$BIN/bench_nn" --list)
echo "# run.sh: fma_peak ..." >&2
"$BIN/fma_peak" 9 >"$RAW" || STATUS=1
# One model at a time, ours then tfjs, so that a change in the machine's load in the middle of
# the run hits both sides of a ratio alike.
for m in "$@"; do
    echo "# run.sh: $m: ours ($RUNS runs x 1 and 2 threads), tfjs-wasm ($RUNS runs) ..." >&2
    "$BIN/bench_nn" --no-fma --runs "$RUNS" --models "$MODELS" "$m" >>"$RAW" || STATUS=1
    VISAGE_MODELS=$MODELS node bench/tfjs_wasm.js --runs "$RUNS" --threads 1 "$m" >>"$RAW" ||
        STATUS=1
done

CPU=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //')
[ -n "$CPU" ] || CPU=$(uname -m)

awk -F'\t' -v cpu="$CPU" -v date="$(date -u '+%Y-%m-%d %H:%M UTC')" -v cmd="$CMD" \
    -v cores="$(nproc 2>/dev/null || echo '?')" -v load="$LOAD" '
    function num(x) { return x != "" && x != "nan" && x + 0 > 0 }
    function f(fmt, x) { return num(x) ? sprintf(fmt, x) : "-" }
    function ratio(a, b) { return (num(a) && num(b)) ? a / b : 0 }
    $1 == "fma_peak" { peak = $2; isa = $4; peak_wall = $5 }
    $1 == "nn" { order[++n] = $2; fl[$2] = $3; o1[$2] = $4; o2[$2] = $6; c1[$2] = $9 }
    $1 == "tfjs" { tj[$2] = $3; tc[$2] = $6; tfjs_seen[$2] = 1 }
    /^# / && !($0 in said) { said[$0] = 1; print > "/dev/stderr" }
    END {
        # Models only tfjs reported (ours failed before printing) still get a row.
        for (m in tfjs_seen) if (!(m in fl)) { order[++n] = m; fl[m] = "nan" }
        fmt = "%-22s %8s %10s %10s %10s %7s %12s %8s | %10s %10s %8s\n"
        hdr = sprintf(fmt, "model", "MFLOPs", "ours 1T ms", "ours 2T ms", "GFLOP/s 1T", "% peak",
                      "tfjs-wasm ms", "speed-up", "ours cpu", "tfjs cpu", "cpu s-up")
        printf "%s", hdr
        gsub(/[^\n]/, "-", hdr); printf "%s", hdr
        for (i = 1; i <= n; i++) {
            m = order[i]
            gf = ratio(fl[m], o1[m])   # MFLOP / ms = GFLOP/s
            su[m] = ratio(tj[m], o1[m]); sc[m] = ratio(tc[m], c1[m])
            share[m] = (gf > 0 && num(peak)) ? gf / peak : -1
            gc = ratio(fl[m], c1[m]); share_cpu[m] = (gc > 0 && num(peak)) ? gc / peak : -1
            printf fmt, m, f("%.1f", fl[m]), f("%.3f", o1[m]), f("%.3f", o2[m]), f("%.1f", gf),
                   (share[m] >= 0 ? sprintf("%.1f%%", 100 * share[m]) : "-"), f("%.3f", tj[m]),
                   f("%.2fx", su[m]), f("%.3f", c1[m]), f("%.3f", tc[m]), f("%.2fx", sc[m])
        }
        print ""
        # The targets the issue sets.  A speed-up counts at the lower of its wall-clock and its
        # CPU-time value, so a neighbour loading the machine during one side cannot make it.
        t = "targets: 1T speed-up >= 5x (lower of wall and cpu):"
        split("mobilefacenet faceres blazeface-back ssd_mobilenetv1", tg, " ")
        for (k = 1; k <= 4; k++) if (tg[k] in fl) {
            m = tg[k]; v = su[m]; if (sc[m] > 0 && sc[m] < v) v = sc[m]
            t = t sprintf(" %s %s (%.2fx)", m, (v >= 5 ? "ok" : "MISS"), v)
        }
        print t (t ~ /:$/ ? " (none of them in this run)" : "")
        # "The heaviest conv models": the three with the most FLOPs in this run.
        # Judged on wall time; the share over CPU time (no preemption) is shown next to it.
        t = "targets: heaviest 3 by FLOPs >= 50% of FMA peak at 1T (wall; cpu):"
        for (k = 1; k <= 3; k++) {
            best = ""
            for (i = 1; i <= n; i++) {
                m = order[i]
                if (num(fl[m]) && !(m in used) && (best == "" || fl[m] + 0 > fl[best] + 0)) best = m
            }
            if (best == "") break
            used[best] = 1
            t = t sprintf(" %s %s (%.0f%%; %.0f%%)", best, (share[best] >= 0.5 ? "ok" : "MISS"),
                          (share[best] >= 0 ? 100 * share[best] : 0),
                          (share_cpu[best] >= 0 ? 100 * share_cpu[best] : 0))
        }
        print t
        print ""
        printf "FMA peak (1 core, FP32, %s): %s GFLOP/s over thread CPU time", isa,
               num(peak) ? peak : "?"
        printf " (%s GFLOP/s wall clock: lower means the machine was busy)\n", peak_wall
        printf "CPU: %s (%s cores), load average at start: %s\n", cpu, cores, load
        printf "date: %s\n", date
        printf "command: %s\n", cmd
        printf "ours: XNNPACK backend through src/nn/nn.h; tfjs: @tensorflow/tfjs 4.22.0 + "
        printf "tfjs-backend-wasm, 1 thread, SIMD; same models, same inputs, run one model at a "
        printf "time, ours then tfjs.\n"
        printf "ms: median wall time of the timed runs; speed-up = tfjs-wasm ms / ours 1T ms; "
        printf "GFLOP/s and %% peak from ours 1T ms.\n"
        printf "cpu: median CPU time per run, 1 thread (ours: the calling thread; tfjs: the "
        printf "process, GC included): what a run costs without preemption by other processes.\n"
    }' "$RAW"
exit $STATUS
