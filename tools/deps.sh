#!/usr/bin/env bash
# Makes sure the Debian packages the build needs are installed: as root it
# installs the missing ones, otherwise it prints the apt-get line and fails.
set -euo pipefail

packages=(
    build-essential pkg-config   # nginx's and the C libraries' builds
    libssl-dev libpcre2-dev zlib1g-dev   # nginx itself
    libclang-dev                 # bindgen, for nginx-sys
    cmake nasm                   # the bundled libjpeg-turbo
    curl                         # make run's printed examples, benchmarks
    python3-venv libmagic1       # make test-python: its venv; python-magic (versatileimagefield)
    libavif-dev                  # AVIF in and out (libavif with dav1d and libaom)
    prometheus                   # promtool, which checks the metrics exposition in t/
    libjxl-tools                 # cjxl, which makes the JPEG XL originals of the tests
    libheif-dev                  # the optional HEIC input (the heic feature), which make test builds once
)
# Word lists above carry comments; keep only package names.
wanted=()
for p in "${packages[@]}"; do wanted+=("$p"); done
[ "$#" -gt 0 ] && wanted+=("$@")

missing=()
for p in "${wanted[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$p")
done

if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo is not installed: install a Rust toolchain (1.87 or newer), for example with rustup." >&2
    exit 1
fi

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
    echo "missing Debian packages; run:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi
