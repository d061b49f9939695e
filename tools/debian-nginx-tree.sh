#!/usr/bin/env bash
# Prepares a configured copy of the installed nginx's source, for cargo's
# route (NGINX_SOURCE_DIR / NGINX_BUILD_DIR): nginx-dev ships that source,
# unconfigured, in /usr/share/nginx/src with the distribution's configure
# flags in conf_flags. The copy lives in target/debian-nginx/nginx-VERSION,
# configured as Debian configures its nginx, and is reused while the
# installed source stays the same. Prints the source directory.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

src=${NGINX_DEV_SRC:-/usr/share/nginx/src}
[ -f "$src/src/core/nginx.h" ] && [ -f "$src/conf_flags" ] || {
    echo "debian-nginx-tree: no nginx source in $src; install nginx-dev (tools/debian-deps.sh)" >&2
    exit 1
}
version=$(sed -n 's/^#define NGINX_VERSION *"\(.*\)"/\1/p' "$src/src/core/nginx.h")
tree="$root/target/debian-nginx/nginx-$version"
stamp="$tree/objs/.configured-from"
# What the copy was made from: the package version when dpkg knows it.
origin="$src $(dpkg-query -W -f='${Version}' nginx-dev 2>/dev/null || echo unknown)"

if [ -f "$tree/objs/ngx_auto_config.h" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$origin" ]; then
    echo "$tree"
    exit 0
fi

rm -rf "$tree"
mkdir -p "$tree"
cp -a "$src/." "$tree/"
(
    cd "$tree"
    # shellcheck disable=SC1091
    . ./conf_flags
    ./configure "${NGX_CONF_FLAGS[@]}" >objs-configure.log 2>&1 || {
        cat objs-configure.log >&2
        exit 1
    }
)
echo "$origin" >"$stamp"
echo "$tree"
