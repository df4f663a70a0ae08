"""The HTML report: one self-contained file with the leaderboard, plots, importances, profile, cleaning."""
from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from automl import AutoMLRegressor
from automl.io.persist import save
from automl.io.report import build_report
from tests.cli import run_cli

PNG = b"\x89PNG\r\n\x1a\n"


def _images(text: str) -> list[bytes]:
    return [base64.b64decode(b) for b in re.findall(r'src="data:image/png;base64,([^"]+)"', text)]


@pytest.mark.slow
def test_classification_report_is_self_contained(credit_model_folder, credit):
    X, y = credit
    text = build_report(credit_model_folder, (X.iloc[800:], y.iloc[800:]))
    for section in ("Leaderboard", "Score vs time of the search", "Permutation importances", "Confusion matrix",
                    "The models' own importances", "Data profile", "Cleaning report"):
        assert f"<h2>{section}</h2>" in text
    images = _images(text)
    own = "no model of the final pipeline has importances" not in text  # kNN alone would have none
    shap = "<p class=note>TreeSHAP on" in text  # one tree-based pipeline, with the explain extra
    assert "<h2>SHAP values</h2>" in text
    assert len(images) == 3 + own + shap and all(i.startswith(PNG) for i in images)
    assert not re.search(r'(src|href)="(http|file|/)', text)  # nothing outside the file
    assert "on 200 rows of the labelled rows given" in text
    assert "checking_status" in text  # the profile lists the columns


def test_regression_report_plots_residuals_from_the_saved_sample(regression_frame, tmp_path):
    X, y = regression_frame
    model = AutoMLRegressor(time_budget=30, max_trials=1, families=["linear"], cv=2, random_state=0).fit(X, y)
    folder = save(model, tmp_path / "reg", data=(X, y))
    text = build_report(folder)
    assert "<h2>Residuals</h2>" in text and "training sample" in text
    assert len(_images(text)) == 4  # the linear model's own importances (coefficient sizes) are the fourth
    # a linear model has none (with the explain extra: "computed for tree-based models"; without: "need the 'shap'")
    assert re.search(r"<h2>SHAP values</h2><p class=note>Not computed: SHAP values (are computed for tree-based|need)",
                     text)


def test_report_shows_shap_values_of_one_tree_model(regression_frame, tmp_path):
    pytest.importorskip("shap", reason="SHAP values are the explain extra")
    X, y = regression_frame
    model = AutoMLRegressor(time_budget=30, max_trials=1, families=["lightgbm"], search="defaults", cv=2,
                            ensemble=False, random_state=0).fit(X, y)
    text = build_report(save(model, tmp_path / "trees", data=(X, y)))
    assert "<h2>SHAP values</h2><p class=note>TreeSHAP on 200 rows of the training sample" in text
    assert len(_images(text)) == 5  # search, permutation, SHAP, residuals, own importances


@pytest.mark.slow
def test_cli_report(credit_model_folder, tmp_path):
    out = tmp_path / "report.html"
    done = run_cli("report", str(credit_model_folder), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert out.read_text().startswith("<!doctype html>") and len(_images(out.read_text())) == 4


def _write_customers(folder: Path, n: int, seed: int) -> list[str]:
    """New customers with their label, and their related tables, as files; the report's data options."""
    from tests.generated import customers_sessions_transactions

    customers, sessions, transactions, y = customers_sessions_transactions(n, seed=seed, first_id=10_000)
    customers.assign(big_spender=y).to_csv(folder / "customers.csv", index=False)
    sessions.to_csv(folder / "sessions.csv", index=False)
    transactions.to_csv(folder / "transactions.csv", index=False)
    return ["--data", str(folder / "customers.csv"), "--target", "big_spender",
            "--table", str(folder / "sessions.csv"), "--table", str(folder / "transactions.csv")]


@pytest.mark.slow
def test_cli_report_of_a_relational_model_shuffles_its_synthesised_features(relational_model_folder, tmp_path):
    data = _write_customers(tmp_path, 40, seed=1)
    out = tmp_path / "report.html"
    done = run_cli("report", str(relational_model_folder), "--out", str(out), *data)
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert "5 shuffles per synthesised feature on 40 rows of the labelled rows given" in text
    assert "<h2>Confusion matrix</h2>" in text and "MEAN(transactions.amount)" in text  # the profile's columns
    assert len(_images(text)) == 3  # search, importances, confusion matrix: DFS models have no own importances
    missing = run_cli("report", str(relational_model_folder), "--out", str(out), *data[:4])
    assert missing.returncode == 4 and "related tables ['sessions', 'transactions']: give each with --table" \
        in missing.stderr
    bare = run_cli("report", str(relational_model_folder), "--out", str(out))  # no labelled rows: no crash either
    assert bare.returncode == 0 and "No labelled rows" in out.read_text()


@pytest.mark.slow
def test_report_of_a_series_model_scores_one_row_per_series(series_model_folder):
    from tests.generated import sine_or_sawtooth

    readings, labels = sine_or_sawtooth(30, seed=2, first_id=5000)
    text = build_report(series_model_folder, (readings, labels.sample(frac=1.0, random_state=0)))
    assert "5 shuffles per synthesised feature on 30 rows" in text and "<h2>Confusion matrix</h2>" in text
    assert len(_images(text)) == 3
