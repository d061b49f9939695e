#!/usr/bin/env bash
# Builds the module in release mode and copies the two artefacts to stable
# paths: build/sbin/nginx (the nginx the module was compiled against) and
# build/modules/ngx_http_image_filter_rs_module.so. IFRS_FEATURES names
# optional cargo features (heic).
set -euo pipefail
cd "$(dirname "$0")/.."

messages=$(mktemp)
trap 'rm -f "$messages"' EXIT
features=()
[ -n "${IFRS_FEATURES:-}" ] && features=(--features "$IFRS_FEATURES")
cargo build --release -p image-filter-rs "${features[@]}" --message-format=json-render-diagnostics >"$messages"

# The module's build script records where nginx-sys built nginx; cargo tells
# us where that script's output directory is.
out_dir=$(grep '"reason":"build-script-executed"' "$messages" \
    | grep '"package_id":"[^"]*image-filter-rs' \
    | sed -E 's/.*"out_dir":"([^"]*)".*/\1/' | tail -n 1)
[ -n "$out_dir" ] && [ -f "$out_dir/nginx-build-dir" ] || {
    echo "stage-build: cannot find the module's build output" >&2
    exit 1
}
nginx_objs=$(cat "$out_dir/nginx-build-dir")
library=$(grep '"reason":"compiler-artifact"' "$messages" \
    | grep -o '"[^"]*libngx_http_image_filter_rs\.so"' | tr -d '"' | tail -n 1)
[ -x "$nginx_objs/nginx" ] && [ -f "$library" ] || {
    echo "stage-build: nginx binary or module library missing" >&2
    exit 1
}

mkdir -p build/sbin build/modules
# Copy through a temporary name so a running nginx never sees half a file.
cp "$nginx_objs/nginx" build/sbin/nginx.new && mv -f build/sbin/nginx.new build/sbin/nginx
cp "$library" build/modules/ngx_http_image_filter_rs_module.so.new
mv -f build/modules/ngx_http_image_filter_rs_module.so.new build/modules/ngx_http_image_filter_rs_module.so
echo "built $(build/sbin/nginx -v 2>&1 | sed 's/.*: //') and build/modules/ngx_http_image_filter_rs_module.so"
