#!/usr/bin/env bash
# Makes build/s3-venv with moto's S3 server (moto[server] from PyPI), the
# S3 stand-in t/tests/upstream_s3.rs starts; again only when the pinned
# requirement changed. Safe to run from several tests at once (flock).
# Prints the moto_server path.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
dir="$root/build/s3-venv"
requirement='moto[server]==5.1.*'

mkdir -p "$root/build"
exec 9>"$root/build/s3-venv.lock"
flock 9
if [ ! -x "$dir/bin/moto_server" ] || [ "$(cat "$dir/.ifrs-installed" 2>/dev/null)" != "$requirement" ]; then
    "$python" -m venv "$dir" >&2
    "$dir/bin/python" -m pip install -q --disable-pip-version-check "$requirement" >&2
    echo "$requirement" > "$dir/.ifrs-installed"
fi
echo "$dir/bin/moto_server"
