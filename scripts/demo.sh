#!/usr/bin/env bash
# demo.sh - what `make run` shows until the HTTP server exists: the engine on a real face crop.
#
#   scripts/demo.sh [BUILD]      (BUILD defaults to build; run from anywhere)
#
# 1. `visage nn info faceres`: the model as the engine loaded it (ops, parameters, FLOPs, arena).
# 2. The face crop of tests/golden/faceres (a 224x224 crop of a bbt photo from ../shared/data)
#    turned into the model's float input (u8 * scale + offset from its meta.json, by
#    scripts/u8_to_f32.pl), run with `visage nn run faceres --node global_pooling/Mean`, and the
#    1024-D descriptor compared with what TensorFlow.js computed for the same input.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BUILD=${1:-build}
VISAGE="$BUILD/visage"
MODEL=faceres
NODE=global_pooling/Mean
GOLDEN=tests/golden/$MODEL
WORK="$BUILD/demo"
mkdir -p "$WORK"

echo "\$ $VISAGE nn info $MODEL"
"$VISAGE" nn info "$MODEL"
echo

meta="$GOLDEN/meta.json"
scale=$(perl -0ne 'print $1 if /"scale"\s*:\s*([-0-9.eE+]+)/' "$meta")
offset=$(perl -0ne 'print $1 if /"offset"\s*:\s*([-0-9.eE+]+)/' "$meta")
source=$(perl -0ne 'print $1 if /"source"\s*:\s*"([^"]+)"/' "$meta")
# The golden output file that holds $NODE.
golden=$(NODE="$NODE" perl -0ne \
    'while (m#"name"\s*:\s*"\Q$ENV{NODE}\E"[^}]*?"file"\s*:\s*"([^"]+)"#g) { print $1 }' "$meta")
[ -n "$golden" ] || { echo "demo: $meta has no output $NODE" >&2; exit 1; }
scripts/u8_to_f32.pl "$scale" "$offset" <"$GOLDEN/input.u8" >"$WORK/input.f32"
echo "input: ../shared/data/$source resized to 224x224, x * $scale + $offset -> $WORK/input.f32"

echo "\$ $VISAGE nn run $MODEL --input $WORK/input.f32 --output $WORK/$MODEL.f32 --node $NODE"
time "$VISAGE" nn run "$MODEL" --input "$WORK/input.f32" --output "$WORK/$MODEL.f32" --node "$NODE"

# Ours against TensorFlow.js: max |difference|, cosine, and the first values of each.
perl -e '
    local $/;
    open my $a, "<", $ARGV[0] or die "$ARGV[0]: $!"; my @o = unpack("f<*", <$a>);
    open my $b, "<", $ARGV[1] or die "$ARGV[1]: $!"; my @r = unpack("f<*", <$b>);
    die "length differs: ", scalar @o, " vs ", scalar @r, "\n" if @o != @r;
    my ($err, $dot, $no, $nr) = (0, 0, 0, 0);
    for my $i (0 .. $#o) {
        my $d = abs($o[$i] - $r[$i]); $err = $d if $d > $err;
        $dot += $o[$i] * $r[$i]; $no += $o[$i] ** 2; $nr += $r[$i] ** 2;
    }
    printf "visage  : %s ...\n", join(" ", map { sprintf "%.5f", $_ } @o[0 .. 5]);
    printf "tfjs    : %s ...\n", join(" ", map { sprintf "%.5f", $_ } @r[0 .. 5]);
    printf "%d values, max |difference| %.3g, cosine %.7f\n", scalar @o, $err,
        $dot / sqrt($no * $nr);
' "$WORK/$MODEL.f32" "$GOLDEN/$golden"
