#!/usr/bin/env bash
# run.sh - the decoder fuzz target, built with clang's libFuzzer (ASan + UBSan) and run for a
# short time (VISAGE_FUZZ_SECONDS, default 20) on the committed seeds; make test calls it.
# Exit 0: no finding; 1: a crash, leak or sanitizer report (the reproducer is in build/fuzz/);
# 77: clang is not installed (the SKIP line says so).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
command -v clang >/dev/null || { echo "SKIP fuzz_decode: clang is not installed"; exit 77; }
out=build/fuzz
mkdir -p "$out/corpus"
clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -Isrc \
    tests/fuzz/fuzz_decode.c src/img/[a-z]*.c src/core/status.c -ljpeg -lspng -lwebp -lm \
    -o "$out/fuzz_decode" || { echo "FAIL fuzz_decode: build failed"; exit 1; }
cp tests/data/img/seeds/[a-z]* "$out/corpus/"
"$out/fuzz_decode" -max_total_time="${VISAGE_FUZZ_SECONDS:-20}" -rss_limit_mb=1024 \
    -artifact_prefix="$out/" "$out/corpus" 2>"$out/log.txt"
rc=$?
tail -n 3 "$out/log.txt"
[ $rc -eq 0 ] && echo "fuzz_decode: no finding" || echo "FAIL fuzz_decode: see $out/log.txt"
exit $rc
