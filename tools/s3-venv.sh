#!/usr/bin/env bash
# Makes build/s3-venv with moto's S3 server (moto[server] from PyPI), the
# S3 stand-in t/tests/upstream_s3.rs starts. Prints the moto_server path.
set -euo pipefail

bin=$("$(dirname "$0")/test-venv.sh" s3-venv 'moto[server]==5.1.*')
echo "$bin/moto_server"
