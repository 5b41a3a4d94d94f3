#!/usr/bin/env bash
# Set up .venv (first run only) and run the test suite:  ./run_tests.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")"
source ./tools/setup_venv.sh
exec python -m pytest "$@"
