#!/usr/bin/env bash
# Starts nginx in the foreground with nginx-conf/demo.conf, the sample media
# at /media/ and thumbnail locations beside it. Ctrl-C (or `make stop`) stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
port=${PORT:-8080}
prefix="$root/build/demo"

mkdir -p "$prefix/logs" "$prefix/conf"
conf="$prefix/conf/nginx.conf"
{
    # As root, nginx would switch workers to "nobody", who may not be able
    # to read a checkout under a private home directory.
    if [ "$(id -u)" -eq 0 ]; then echo "user root;"; fi
    sed -e "s|@MODULE@|$root/build/modules/ngx_http_image_filter_rs_module.so|g" \
        -e "s|@PREFIX@|$prefix|g" \
        -e "s|@PORT@|$port|g" \
        -e "s|@MEDIA@|$root/sample-media|g" \
        -e "s|@DEMO@|$root/demo|g" \
        nginx-conf/demo.conf
    echo "daemon off;"
} >"$conf"

build/sbin/nginx -p "$prefix" -c "$conf" -t -q

base="http://127.0.0.1:$port"
cat <<MSG
image_filter_rs demo on $base (Ctrl-C or 'make stop' to stop)
  the page:    $base/   (a gallery, the Django libraries' cases, formats, the cache)
  originals:   $base/media/seeding.jpg   $base/media/gulp.png
  350x350 fit: $base/thumb/seeding.jpg   $base/thumb/gulp.png   $base/thumb/wine.jpg
  200x200 crop:$base/square/wine.jpg     $base/square/gulp.png
  100x75 crop: $base/gallery/sunset.jpg
  640 wide:    $base/wide/sunset.jpg
  try: curl -sD - -o /tmp/t.jpg $base/thumb/seeding.jpg   (twice: MISS, then HIT)
  logs: build/demo/logs/error.log, cache: build/demo/cache/
MSG
exec build/sbin/nginx -p "$prefix" -c "$conf"
