#!/usr/bin/env bash
# Create one virtual environment per peer AutoML system, so their dependencies never touch ours.
#
#   bash benchmarks/peers/setup.sh               # both peers
#   bash benchmarks/peers/setup.sh flaml         # only FLAML
#
# Environments go to benchmarks/.venvs/<peer> (or $AUTOML_BENCH_VENVS/<peer>); git ignores them.
# AutoGluon is installed as users install it, with every model (its torch networks included): torch is
# pinned first to the CPU wheel this machine keeps on disk (torch==2.13.0), so AutoGluon does not pull a
# CUDA build of several GB. AUTOGLUON_EXTRAS=lightgbm,catboost,xgboost gives the lighter install without
# the networks (say so when reporting against it).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
venvs="${AUTOML_BENCH_VENVS:-$here/.venvs}"
python="${PYTHON:-python3}"
autogluon_extras="${AUTOGLUON_EXTRAS:-all}"
torch_pin="${TORCH_PIN:-torch==2.13.0}"

# FLAML_VERSION=2.8.0 AUTOGLUON_VERSION=1.6.3 install the versions of recorded rows (default: the newest)
flaml_pin="${FLAML_VERSION:+==$FLAML_VERSION}"
autogluon_pin="${AUTOGLUON_VERSION:+==$AUTOGLUON_VERSION}"

declare -A requirement=(
    [flaml]="flaml[automl]${flaml_pin}"
    [autogluon]="autogluon.tabular[${autogluon_extras}]${autogluon_pin}"
)

make_venv() {  # make_venv NAME: a fresh venv with the peer and the libraries its adapter imports
    local name="$1" dir="$venvs/$1"
    echo "== $name -> $dir (${requirement[$name]})"
    rm -rf "$dir"
    "$python" -m venv "$dir"
    "$dir/bin/python" -m pip install --quiet --upgrade pip
    if [ "$name" = autogluon ] && [ "$autogluon_extras" = all ]; then
        "$dir/bin/python" -m pip install --quiet "$torch_pin"
    fi
    "$dir/bin/python" -m pip install --quiet "${requirement[$name]}" pandas numpy
    "$dir/bin/python" -m pip freeze > "$dir/requirements-frozen.txt"
    "$dir/bin/python" -c "import importlib.metadata as m; print('$name', m.version('${requirement[$name]%%[*}'))"
}

peers=("$@")
[ ${#peers[@]} -eq 0 ] && peers=(flaml autogluon)
status=0
for peer in "${peers[@]}"; do
    if [ -z "${requirement[$peer]:-}" ]; then
        echo "unknown peer $peer (known: ${!requirement[*]})" >&2; status=2; continue
    fi
    make_venv "$peer" || { echo "== $peer: install FAILED (see the pip output above)" >&2; status=1; }
done
exit $status
