"""A/B comparison: paired bootstrap interval on the metric difference of two models on the same rows."""
from __future__ import annotations

import json

import pytest

from automl import AutoML
from automl.io.persist import load, save
from automl.serve.compare import compare_models
from tests.cli import run_cli


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
    done = run_cli("compare", str(weaker_folder), str(credit_model_folder), str(data), "--target", "class",
                   "--n-boot", "200", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["rows"] == 400 and out["verdict"] == "B is better"


@pytest.fixture(scope="module")
def customers_files(tmp_path_factory):
    """New customers with their label and their related tables, as files (the compare command's data)."""
    from tests.generated import customers_sessions_transactions

    folder = tmp_path_factory.mktemp("customers")
    customers, sessions, transactions, y = customers_sessions_transactions(120, seed=1, first_id=10_000)
    customers.assign(big_spender=y).to_csv(folder / "customers.csv", index=False)
    sessions.to_csv(folder / "sessions.csv", index=False)
    transactions.to_csv(folder / "transactions.csv", index=False)
    return folder


@pytest.mark.slow
def test_cli_compare_a_dfs_model_with_one_on_the_target_table_alone(relational_model_folder, customers_files,
                                                                     tmp_path):
    from tests.conftest import SYNTHESIS_SEARCH
    from tests.generated import customers_sessions_transactions

    customers, _, _, y = customers_sessions_transactions(150, seed=0)  # the DFS model's training customers
    alone = save(AutoML(**SYNTHESIS_SEARCH).fit(customers, y), tmp_path / "alone")
    tables = ["--table", str(customers_files / "sessions.csv"), "--table", str(customers_files / "transactions.csv")]
    done = run_cli("compare", str(alone), str(relational_model_folder), str(customers_files / "customers.csv"),
                   "--target", "big_spender", *tables, "--n-boot", "200", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["rows"] == 120 and out["score_b"] > 0.85 and out["verdict"] == "B is better"  # the tables tell


@pytest.mark.slow
def test_cli_compare_series_models_on_readings_and_labels(series_model_folder, relational_model_folder, tmp_path):
    from tests.generated import sine_or_sawtooth

    readings, labels = sine_or_sawtooth(40, seed=2, first_id=5000)
    readings.to_csv(tmp_path / "readings.csv", index=False)
    labels.rename_axis("id").rename("shape").reset_index().to_csv(tmp_path / "labels.csv", index=False)
    data = [str(tmp_path / "readings.csv"), "--labels", str(tmp_path / "labels.csv")]
    done = run_cli("compare", str(series_model_folder), str(series_model_folder), *data, "--n-boot", "100", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["rows"] == 40 and out["difference"] == 0 and out["score_a"] > 0.8  # one label per series
    mixed = run_cli("compare", str(relational_model_folder), str(series_model_folder), *data)
    assert mixed.returncode == 4 and "compare models that read the same labelled data" in mixed.stderr
