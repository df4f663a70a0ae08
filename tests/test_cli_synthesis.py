"""The synthesis commands as a user runs them: related tables and long-format series from files."""
from __future__ import annotations

import pytest

pytest.importorskip("featuretools", reason="the synthesis extra is not installed")

from pathlib import Path

import pandas as pd

from tests.cli import run_cli
from tests.generated import customers_sessions_transactions
from tests.generated import sine_or_sawtooth

pytestmark = pytest.mark.slow  # real searches, seconds each

FAST = ["--time-budget", "20", "--max-trials", "2", "--families", "lightgbm", "--cv", "3", "--quiet"]
# a series fit spends about 8 s of its budget before the first trial (quiet, this machine: importing tsfresh and
# timing its settings; 11 s before the fork server imported tsfresh meanwhile); on the loaded CI machine 20 s left no
# trial (exit 5). max_trials ends it as early at 40 s (same plan, tsfresh minimal, and the same wall when quiet)
SERIES_FAST = ["--time-budget", "40", *FAST[2:]]


def test_fit_and_predict_with_related_tables(tmp_path: Path):
    customers, sessions, transactions, y = customers_sessions_transactions(150, seed=0)
    customers.assign(big_spender=y).to_csv(tmp_path / "customers.csv", index=False)
    sessions.to_csv(tmp_path / "sessions.csv", index=False)
    transactions.to_csv(tmp_path / "transactions.csv", index=False)
    tables = ["--table", str(tmp_path / "sessions.csv"), "--table", str(tmp_path / "transactions.csv")]
    fit = run_cli("fit", str(tmp_path / "customers.csv"), "--target", "big_spender", *tables,
                  "--relationship", "customers.customer_id=sessions.customer_id",
                  "--relationship", "sessions.session_id=transactions.session_id", "--cutoff-time", "as_of",
                  "--out", str(tmp_path / "model"), *FAST)
    assert fit.returncode == 0, fit.stderr
    assert "synthesis: featuretools" in fit.stdout
    predict = run_cli("predict", str(tmp_path / "model"), str(tmp_path / "customers.csv"), *tables,
                      "--out", str(tmp_path / "p.csv"))
    assert predict.returncode == 0, predict.stderr
    predicted = pd.read_csv(tmp_path / "p.csv").prediction
    assert len(predicted) == 150 and (predicted == y).mean() > 0.8


def test_fit_series_and_predict(tmp_path: Path):
    readings, labels = sine_or_sawtooth(120, seed=0)
    readings.to_csv(tmp_path / "readings.csv", index=False)
    labels.rename_axis("id").rename("shape").reset_index().to_csv(tmp_path / "labels.csv", index=False)
    fit = run_cli("fit-series", str(tmp_path / "readings.csv"), "--labels", str(tmp_path / "labels.csv"),
                  "--id", "id", "--sort", "time", "--out", str(tmp_path / "model"), *SERIES_FAST)
    assert fit.returncode == 0, fit.stderr
    assert "synthesis: tsfresh" in fit.stdout
    predict = run_cli("predict", str(tmp_path / "model"), str(tmp_path / "readings.csv"),
                      "--out", str(tmp_path / "p.csv"))
    assert predict.returncode == 0, predict.stderr
    table = pd.read_csv(tmp_path / "p.csv")
    assert list(table.columns) == ["id", "prediction"] and list(table.id) == sorted(labels.index)
    assert (table.prediction.to_numpy() == labels.loc[table.id].to_numpy()).mean() > 0.8


def test_predict_names_the_related_tables_a_saved_model_needs(relational_model_folder, tmp_path: Path):
    from automl import load

    customers, sessions, transactions, _ = customers_sessions_transactions(30, seed=1, first_id=10_000)
    customers.to_csv(tmp_path / "customers.csv", index=False)
    sessions.to_csv(tmp_path / "sessions.csv", index=False)
    transactions.to_csv(tmp_path / "purchases.csv", index=False)
    command = ["predict", str(relational_model_folder), str(tmp_path / "customers.csv")]
    none = run_cli(*command)
    assert none.returncode == 4 and "related tables ['sessions', 'transactions']: give each with --table" in none.stderr
    misnamed = run_cli(*command, "--table", str(tmp_path / "sessions.csv"), "--table", str(tmp_path / "purchases.csv"))
    assert misnamed.returncode == 4 and "missing ['transactions'] and not this model's ['purchases']" in misnamed.stderr
    named = run_cli(*command, "--table", str(tmp_path / "sessions.csv"), "--table",
                    f"transactions={tmp_path / 'purchases.csv'}", "--proba", "--out", str(tmp_path / "p.csv"))
    assert named.returncode == 0, named.stderr
    table = pd.read_csv(tmp_path / "p.csv")
    expected = load(relational_model_folder).predict_proba(customers, tables={"sessions": sessions,
                                                                              "transactions": transactions})
    assert list(table.columns) == ["prediction", "proba_0", "proba_1"]
    assert abs(table[["proba_0", "proba_1"]].to_numpy() - expected).max() < 1e-9


def test_predict_series_with_probabilities_one_row_per_id(series_model_folder, tmp_path: Path):
    readings, _ = sine_or_sawtooth(12, seed=2, first_id=5000)
    readings.sample(frac=1.0, random_state=0).to_csv(tmp_path / "readings.csv", index=False)
    done = run_cli("predict", str(series_model_folder), str(tmp_path / "readings.csv"), "--proba")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "id,prediction,proba_sawtooth,proba_sine" and [int(x.split(",")[0]) for x in lines[1:]] \
        == list(range(5000, 5012))
    with_table = run_cli("predict", str(series_model_folder), str(tmp_path / "readings.csv"), "--table",
                         str(tmp_path / "readings.csv"))
    assert with_table.returncode == 4 and "it takes no related tables" in with_table.stderr
