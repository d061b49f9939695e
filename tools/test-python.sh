#!/usr/bin/env bash
# The Django companion package (python/): venvs in build/, the package
# installed editable with its pinned test requirements, mypy --strict over the
# package, then pytest against the staged nginx and module (build/sbin/nginx,
# build/modules/…; IFRS_NGINX / IFRS_MODULE override them): first with
# Django 5.2 (tests/requirements.txt), then with Django 4.2 LTS
# (tests/requirements-django42.txt). Arguments go to both pytest runs.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}

if ! "$python" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    echo "$python cannot make a venv: install python3-venv (tools/deps.sh does, as root)" >&2
    exit 1
fi
for artefact in "${IFRS_NGINX:-build/sbin/nginx}" \
        "${IFRS_MODULE:-build/modules/ngx_http_image_filter_rs_module.so}"; do
    case $artefact in /*) ;; *) artefact=$root/$artefact ;; esac
    if [ ! -f "$artefact" ]; then
        echo "$artefact is missing: run make build first" >&2
        exit 1
    fi
done

# venv DIR REQUIREMENTS: makes DIR and installs the package and REQUIREMENTS
# into it, again only when they or the package metadata changed.
venv() {
    local dir=$1 requirements=$2
    [ -x "$dir/bin/python" ] || "$python" -m venv "$dir"
    local stamp="$dir/.ifrs-installed" want
    want=$(cat "$requirements" "$root/python/pyproject.toml" | sha256sum | cut -d' ' -f1)
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        "$dir/bin/python" -m pip install -q --disable-pip-version-check \
            -e "$root/python" -r "$requirements"
        echo "$want" > "$stamp"
    fi
}

main="$root/build/python-venv"
lts="$root/build/python-venv-django42"
venv "$main" "$root/python/tests/requirements.txt"
venv "$lts" "$root/python/tests/requirements-django42.txt"

cd "$root/python"
echo "== mypy --strict"
"$main/bin/python" -m mypy --strict --cache-dir "$main/.mypy_cache" src/image_filter_rs
for dir in "$main" "$lts"; do
    echo "== pytest, Django $("$dir/bin/python" -c 'import django; print(django.get_version())')"
    "$dir/bin/python" -m pytest -q -p no:cacheprovider "$@"
done
