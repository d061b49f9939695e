#!/usr/bin/env bash
# Builds the Debian package libnginx-mod-http-image-filter-rs against the
# installed nginx-dev with Debian's own tools (dpkg-buildpackage, dh with
# dh-sequence-nginx: the same route as Debian's libnginx-mod-* packages),
# and leaves the .deb files, .buildinfo and .changes in target/deb/.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/debian-deps.sh

out=target/deb
rm -rf "$out"
mkdir -p "$out"
out=$(cd "$out" && pwd)

version=$(dpkg-parsechangelog -S Version)
arch=$(dpkg-architecture -q DEB_HOST_ARCH)
base="libnginx-mod-http-image-filter-rs_${version}_${arch}"

start=$(date +%s)
IFRS_DEB_DESTDIR="$out" dpkg-buildpackage -b -uc -us --post-clean \
    --buildinfo-file="$out/$base.buildinfo" --buildinfo-option="-u$out" \
    --changes-file="$out/$base.changes" --changes-option="-u$out"
elapsed=$(($(date +%s) - start))

deb="$out/libnginx-mod-http-image-filter-rs_${version}_${arch}.deb"
[ -f "$deb" ] || { echo "deb: $deb was not made" >&2; exit 1; }
echo
echo "built $deb ($(du -k "$deb" | cut -f1) KiB) in ${elapsed}s against nginx $(dpkg-query -W -f='${Version}' nginx-dev)"
dpkg-deb --contents "$deb" | sed 's/^/  /'
echo "install it with: apt install ./${deb#"$(pwd)/"}"
