#!/usr/bin/env bash
# Compile-checks the module (clippy, warnings denied) against Debian's nginx
# source (nginx-dev), as `make lint` does against the vendored nginx, so code
# that needs a newer nginx than Debian's is caught. The cargo build lives in
# target/debian-nginx/cargo, apart from the default route's.
# Without nginx-dev and without root to install it, this is skipped loudly,
# except under CI (env CI set).
set -euo pipefail
cd "$(dirname "$0")/.."

status=$(dpkg-query -W -f='${Status}' nginx-dev 2>/dev/null || true)
if [ "$status" != "install ok installed" ] && [ "$(id -u)" -ne 0 ] && [ -z "${CI:-}" ]; then
    echo "SKIPPED lint-debian: nginx-dev is not installed (sudo apt-get install nginx-dev)" >&2
    exit 0
fi
tools/debian-deps.sh

tree=$(tools/debian-nginx-tree.sh)
NGINX_SOURCE_DIR="$tree" NGINX_BUILD_DIR="$tree/objs" \
    cargo clippy --release -p image-filter-rs \
    --no-default-features --features export-modules \
    --target-dir target/debian-nginx/cargo -- -D warnings
