#!/usr/bin/env bash
# make bench-pipeline: times the thumbnailer crate against vipsthumbnail and
# Pillow (with draft) on the photos in $PHOTOS (default ../shared/photos),
# 350x350 fit and crop, in the same run, and prints the per-photo table,
# median ratios and the issue's targets. RUNS=N sets the runs per tool.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

need_photos
# vipsthumbnail and GNU time (for peak RSS) come from Debian.
need_packages libvips-tools time
if ! python3 -c 'import PIL' 2>/dev/null; then
    echo "installing Pillow with pip"
    python3 -m pip install --quiet Pillow || die "cannot install Pillow: run python3 -m pip install Pillow"
fi
build_bench

out=build/bench/pipeline
mkdir -p "$out"
exec "$BENCH_BIN/pipeline" run --photos "$PHOTOS" --out "$out" --runs "${RUNS:-5}" \
    --pillow-script bench/pillow_thumb.py
