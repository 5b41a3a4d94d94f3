#!/usr/bin/env bash
# Set up .venv (first run only), check the code with ruff, and run the test suite:  ./run_tests.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")"
source ./tools/setup_venv.sh
echo "ruff check ."
ruff check --quiet .
exec python -m pytest "$@"
