"""A/B comparison: paired bootstrap interval on the metric difference of two models on the same rows."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from automl import AutoML
from automl.io.persist import load, save
from automl.serve.compare import compare_models

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def weaker_folder(credit, tmp_path_factory):
    X, y = credit
    model = AutoML(time_budget=30, max_trials=1, families=["knn"], search="defaults", cv=2, random_state=0,
                   ensemble=False).fit(X.iloc[:300], y.iloc[:300])
    return save(model, tmp_path_factory.mktemp("weak") / "knn")


def test_a_model_against_itself_differs_by_exactly_zero(credit_model_folder, credit):
    X, y = credit
    model = load(credit_model_folder)
    result = compare_models(model, model, X.iloc[600:], y.iloc[600:], n_boot=200)
    assert result.difference == 0 and result.ci_low == 0 and result.ci_high == 0
    assert result.verdict == "no significant difference"


@pytest.mark.slow
def test_the_better_model_is_named_with_an_interval_excluding_zero(credit_model_folder, weaker_folder, credit):
    X, y = credit
    rows = slice(600, None)
    result = compare_models(load(weaker_folder), load(credit_model_folder), X.iloc[rows], y.iloc[rows], n_boot=300)
    assert result.metric == "roc_auc" and result.score_b > result.score_a
    assert result.ci_low > 0 and result.verdict == "B is better"
    swapped = compare_models(load(credit_model_folder), load(weaker_folder), X.iloc[rows], y.iloc[rows],
                             metric="log_loss", n_boot=300)
    assert not swapped.greater_is_better and swapped.verdict == "A is better"


@pytest.mark.slow
def test_cli_compare(credit_model_folder, weaker_folder, credit, tmp_path):
    X, y = credit
    data = tmp_path / "holdout.csv"
    X.iloc[600:].assign(**{"class": y.iloc[600:]}).to_csv(data, index=False)
    done = subprocess.run([sys.executable, "-m", "automl.cli", "compare", str(weaker_folder),
                           str(credit_model_folder), str(data), "--target", "class", "--n-boot", "200", "--json"],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["rows"] == 400 and out["verdict"] == "B is better"
