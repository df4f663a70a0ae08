#!/usr/bin/env bash
# The second half of the README's test command (after `python -m pytest -q`, the full suite with every extra on
# pandas 2, which the synthesis extra pins): the fast tier with the core alone on pandas 3, in a virtual environment
# of its own (.venv-pandas3, reused when present).
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${AUTOML_PANDAS3_VENV:-.venv-pandas3}"
[ -x "$venv/bin/python" ] || python -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q -e ".[test,export,serve,report]" "pandas>=3"
echo "== the fast tier on pandas $("$venv/bin/python" -c 'import pandas; print(pandas.__version__)'), core install"
"$venv/bin/python" -m pytest -q -m "not slow" -p no:cacheprovider
