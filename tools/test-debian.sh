#!/usr/bin/env bash
# Proves the Debian package in the system nginx, as root: builds it
# (tools/deb.sh, into target/deb/), installs it, checks its layout and that
# `nginx -t` passes on Debian's stock /etc/nginx/nginx.conf after install,
# remove and purge, installs it again, and runs the whole integration suite
# against /usr/sbin/nginx with the installed module. The system nginx is
# neither started nor reloaded here; the tests start their own nginx.
set -euo pipefail
cd "$(dirname "$0")/.."

pkg=libnginx-mod-http-image-filter-rs
so=/usr/lib/nginx/modules/ngx_http_image_filter_rs_module.so
snippet=/usr/share/nginx/modules-available/mod-http-image-filter-rs.conf
link=/etc/nginx/modules-enabled/50-mod-http-image-filter-rs.conf

# Installing packages needs root. Without it this run is skipped, loudly,
# except under CI (env CI set), where a skip would hide a failure.
if [ "$(id -u)" -ne 0 ]; then
    msg="test-debian: installing the package into the system nginx needs root"
    if [ -n "${CI:-}" ]; then
        echo "$msg; CI is set, so this is a failure, not a skip" >&2
        exit 1
    fi
    echo "SKIPPED $msg. As root: make test-debian; or by hand: make deb," >&2
    echo "  sudo apt install ./target/deb/${pkg}_*.deb && sudo nginx -t" >&2
    echo "  IFRS_NGINX=/usr/sbin/nginx IFRS_MODULE=$so cargo test --release -p image-filter-rs-tests" >&2
    exit 0
fi

tools/deb.sh

shopt -s nullglob
debs=(target/deb/"$pkg"_*.deb)
[ ${#debs[@]} -eq 1 ] || { echo "test-debian: expected one target/deb/${pkg}_*.deb" >&2; exit 1; }
deb=${debs[0]}

step() { echo "== test-debian: $*"; }
fail() { echo "test-debian: FAILED: $*" >&2; exit 1; }

install_pkg() {
    dpkg -i "$deb" >/dev/null
    [ -f "$so" ] || fail "$so not installed"
    [ "$(readlink "$link")" = "$snippet" ] || fail "$link does not point to $snippet"
    grep -qx "load_module modules/ngx_http_image_filter_rs_module.so;" "$snippet" \
        || fail "$snippet does not load the module"
    nginx -t -q || fail "nginx -t with the module enabled"
}

step "install $deb"
install_pkg
dpkg-query -W -f='${Package} ${Version}: Depends: ${Depends}\n' "$pkg"
nginx -v

step "remove: nginx must keep working without the module"
dpkg -r "$pkg" >/dev/null
[ ! -e "$so" ] || fail "$so left after remove"
[ ! -e "$link" ] || fail "$link left enabled after remove"
nginx -t -q || fail "nginx -t after remove"

step "purge"
dpkg -P "$pkg" >/dev/null
[ ! -e "$link" ] && [ ! -L "$link.removed" ] || fail "modules-enabled link left after purge"
nginx -t -q || fail "nginx -t after purge"

step "install again"
install_pkg

step "integration suite against /usr/sbin/nginx and $so"
start=$(date +%s)
IFRS_NGINX=/usr/sbin/nginx IFRS_MODULE=$so \
    cargo test --release -p image-filter-rs-tests
echo "test-debian: integration suite against Debian's nginx passed in $(($(date +%s) - start))s"
