# Sourced by run_tests.sh and run_demo.sh: create .venv with Python >= 3.11 if missing, install the package with
# its test and dask extras when pyproject.toml changed since the last install, and activate the environment.
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "creating .venv with $($PYTHON --version)"
    "$PYTHON" -m venv .venv
fi
# shellcheck disable=SC1091
source .venv/bin/activate
stamp=.venv/.dl_tools_installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "installing dl_tools and its dependencies into .venv (a few minutes the first time)"
    python -m pip install --quiet --upgrade pip
    python -m pip install --quiet -e ".[test,dask]"
    touch "$stamp"
fi
export MPLBACKEND=Agg
