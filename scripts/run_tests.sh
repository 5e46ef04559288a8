#!/usr/bin/env bash
# run_tests.sh - run every test binary of the given build folders and sum them up.
#
#   scripts/run_tests.sh build build-asan
#
# Runs each BUILD/tests/test_* from the repository root (tests find tests/golden, models/ and
# ../shared/data relative to it), prints its output, and closes with one line
# "tests: N passed, N failed, N skipped".  Exit status 77 from a test means it skipped (its data
# is missing: the test prints SKIP and the reason); any other non-zero status is a failure.
# A test that runs longer than VISAGE_TEST_TIMEOUT seconds (default 1800) fails.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
TIMEOUT=${VISAGE_TEST_TIMEOUT:-1800}

# Sanitizer builds: report every finding as a failure, with a stack.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# Test photos: ../shared/data (or $VISAGE_TEST_DATA).  A clone without them still runs the core
# face tests on the small MIT-licensed set committed in tests/data/photos; the tests that need
# the big sets (LFW, group photos, human-samples) then say SKIP and why.
SMALL_OK="test_app test_pipeline"
FULL_DATA=${VISAGE_TEST_DATA:-../shared/data}
small=
if [ ! -d "$FULL_DATA/lfw-dev" ]; then
    small=1
    echo "NOTE: $FULL_DATA has no lfw-dev: the core face tests use tests/data/photos; tests that"
    echo "      need the shared data set (LFW, group photos) are skipped by their own checks."
fi

passed=0
failed=0
skipped=0
failures=()
skips=()

[ $# -gt 0 ] || set -- build

for dir in "$@"; do
    found=0
    for t in "$dir"/tests/test_*; do
        if [ ! -f "$t" ] || [ ! -x "$t" ]; then continue; fi
        case "$t" in *.d | *.o) continue ;; esac
        found=1
        echo "=== $t"
        start=$(date +%s)
        # The sanitizer pass re-runs every test for memory and UB errors; the photo-heavy
        # measurements inside some tests are skipped there (VISAGE_TEST_QUICK), not in the plain
        # build.
        quick=
        case "$dir" in *asan*) quick=1 ;; esac
        data=$FULL_DATA
        if [ -n "$small" ]; then
            case " $SMALL_OK " in
            *" $(basename "$t") "*) data=$ROOT/tests/data/photos ;;
            *) data=$ROOT/tests/data/no-shared-data ;; # absent: the test skips itself
            esac
        fi
        VISAGE_TEST_DATA=$data VISAGE_TEST_QUICK=$quick timeout "$TIMEOUT" "$t"
        rc=$?
        secs=$(($(date +%s) - start))
        case $rc in
        0)
            passed=$((passed + 1))
            echo "--- PASS $t (${secs}s)"
            ;;
        77)
            skipped=$((skipped + 1))
            skips+=("$t")
            echo "--- SKIP $t (${secs}s)"
            ;;
        124)
            failed=$((failed + 1))
            failures+=("$t (timed out after ${TIMEOUT}s)")
            echo "--- FAIL $t (timed out after ${TIMEOUT}s)"
            ;;
        *)
            failed=$((failed + 1))
            failures+=("$t (exit $rc)")
            echo "--- FAIL $t (exit $rc, ${secs}s)"
            ;;
        esac
    done
    if [ $found -eq 0 ]; then
        echo "=== $dir/tests: no test binaries"
        failed=$((failed + 1))
        failures+=("$dir/tests (no test binaries)")
    fi
done

# Counts the exit status of one script-driven test (0 pass, 77 skip, else fail).
tally() {
    case $1 in
    0) passed=$((passed + 1)); echo "--- PASS $2" ;;
    77) skipped=$((skipped + 1)); skips+=("$2"); echo "--- SKIP $2" ;;
    *) failed=$((failed + 1)); failures+=("$2 (exit $1)"); echo "--- FAIL $2" ;;
    esac
}

# The image decoders under libFuzzer (clang, ASan + UBSan) for a short time on the seeds.
echo "=== tests/fuzz/run.sh"
"$ROOT/tests/fuzz/run.sh"
tally $? tests/fuzz/run.sh

# `visage serve` as a user starts it: settings from a config file and flags.
echo "=== tests/cli/serve_config.sh"
timeout "$TIMEOUT" "$ROOT/tests/cli/serve_config.sh" build
tally $? tests/cli/serve_config.sh

# The browser test of the web UI, against the normal build's `visage serve` (Debian chromium
# driven by playwright-core; exit 77 when either is missing).
echo "=== tests/ui/run.sh"
timeout "$TIMEOUT" "$ROOT/tests/ui/run.sh"
tally $? tests/ui/run.sh

echo
echo "==================== summary"
for f in "${failures[@]+"${failures[@]}"}"; do echo "FAILED:  $f"; done
for s in "${skips[@]+"${skips[@]}"}"; do echo "SKIPPED: $s"; done
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]
