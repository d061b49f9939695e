#!/usr/bin/env bash
# Makes sure what the Debian route needs is installed: the build's own
# packages (tools/deps.sh), Debian's nginx and nginx-dev (the exact source of
# that nginx, dh_nginx, the nginx_mod build system; it brings debhelper and
# dpkg-dev). As root it installs the missing ones, otherwise it prints the
# apt-get line and fails, as tools/deps.sh does.
#
# When this script is the one installing nginx, nginx is not started (a
# policy-rc.d for the duration of the install): the tests start their own
# nginx processes and need no system nginx on port 80.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for p in nginx nginx-dev; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$p")
done

policy=/usr/sbin/policy-rc.d
own_policy=
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" -eq 0 ] && [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# tools/debian-deps.sh: no service starts during its install\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    own_policy=1
    trap 'rm -f "$policy"' EXIT
fi

tools/deps.sh nginx nginx-dev
[ -n "$own_policy" ] && rm -f "$policy" && trap - EXIT
exit 0
