"""The synthesis commands as a user runs them: related tables and long-format series from files."""
from __future__ import annotations

import pytest

pytest.importorskip("featuretools", reason="the synthesis extra is not installed")

from pathlib import Path

import pandas as pd

from tests.generated import customers_sessions_transactions
from tests.test_cli import run
from tests.generated import sine_or_sawtooth

pytestmark = pytest.mark.slow  # real searches, seconds each

FAST = ["--time-budget", "20", "--max-trials", "2", "--families", "lightgbm", "--cv", "3", "--quiet"]


def test_fit_and_predict_with_related_tables(tmp_path: Path):
    customers, sessions, transactions, y = customers_sessions_transactions(150, seed=0)
    customers.assign(big_spender=y).to_csv(tmp_path / "customers.csv", index=False)
    sessions.to_csv(tmp_path / "sessions.csv", index=False)
    transactions.to_csv(tmp_path / "transactions.csv", index=False)
    tables = ["--table", str(tmp_path / "sessions.csv"), "--table", str(tmp_path / "transactions.csv")]
    fit = run("fit", str(tmp_path / "customers.csv"), "--target", "big_spender", *tables,
              "--relationship", "customers.customer_id=sessions.customer_id",
              "--relationship", "sessions.session_id=transactions.session_id", "--cutoff-time", "as_of",
              "--out", str(tmp_path / "model"), *FAST)
    assert fit.returncode == 0, fit.stderr
    assert "synthesis: featuretools" in fit.stdout
    predict = run("predict", str(tmp_path / "model"), str(tmp_path / "customers.csv"), *tables,
                  "--out", str(tmp_path / "p.csv"))
    assert predict.returncode == 0, predict.stderr
    predicted = pd.read_csv(tmp_path / "p.csv").prediction
    assert len(predicted) == 150 and (predicted == y).mean() > 0.8


def test_fit_series_and_predict(tmp_path: Path):
    readings, labels = sine_or_sawtooth(120, seed=0)
    readings.to_csv(tmp_path / "readings.csv", index=False)
    labels.rename_axis("id").rename("shape").reset_index().to_csv(tmp_path / "labels.csv", index=False)
    fit = run("fit-series", str(tmp_path / "readings.csv"), "--labels", str(tmp_path / "labels.csv"), "--id", "id",
              "--sort", "time", "--out", str(tmp_path / "model"), *FAST)
    assert fit.returncode == 0, fit.stderr
    assert "synthesis: tsfresh" in fit.stdout
    predict = run("predict", str(tmp_path / "model"), str(tmp_path / "readings.csv"), "--out", str(tmp_path / "p.csv"))
    assert predict.returncode == 0, predict.stderr
    table = pd.read_csv(tmp_path / "p.csv")
    assert list(table.columns) == ["id", "prediction"] and list(table.id) == sorted(labels.index)
    assert (table.prediction.to_numpy() == labels.loc[table.id].to_numpy()).mean() > 0.8
