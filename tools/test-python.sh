#!/usr/bin/env bash
# The Django companion package (python/): a venv in build/python-venv, the
# package installed editable with its pinned test requirements, mypy --strict
# over the package, then pytest against the staged nginx and module
# (build/sbin/nginx, build/modules/…; IFRS_NGINX / IFRS_MODULE override them).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/build/python-venv"
python=${PYTHON:-python3}

if ! "$python" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    echo "python3 cannot make a venv: install python3-venv (tools/deps.sh does, as root)" >&2
    exit 1
fi
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
# Reinstall only when the requirements or the package metadata changed.
stamp="$venv/.ifrs-installed"
want=$(cat "$root/python/tests/requirements.txt" "$root/python/pyproject.toml" | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    "$venv/bin/python" -m pip install -q --disable-pip-version-check \
        -e "$root/python" -r "$root/python/tests/requirements.txt"
    echo "$want" > "$stamp"
fi

cd "$root/python"
"$venv/bin/python" -m mypy --strict --cache-dir "$venv/.mypy_cache" src/image_filter_rs
"$venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
