#!/usr/bin/env bash
# test-venv.sh NAME REQUIREMENT: makes build/NAME, a venv with REQUIREMENT
# (a pip requirement, pinned) from PyPI, for a test that needs a Python
# tool of its own; again only when the requirement changed. Safe to run
# from several tests at once (flock). Prints the venv's bin directory.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
name=$1 requirement=$2
dir="$root/build/$name"

mkdir -p "$root/build"
exec 9>"$root/build/$name.lock"
flock 9
if [ ! -x "$dir/bin/python" ] || [ "$(cat "$dir/.ifrs-installed" 2>/dev/null)" != "$requirement" ]; then
    "$python" -m venv "$dir" >&2
    "$dir/bin/python" -m pip install -q --disable-pip-version-check "$requirement" >&2
    echo "$requirement" > "$dir/.ifrs-installed"
fi
echo "$dir/bin"
