"""The command line, run as a user runs it: a real subprocess on a real file."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

from tests.conftest import CREDIT


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "automl.cli", *args], capture_output=True, text=True,
                          timeout=300)


def test_fit_predict_leaderboard(tmp_path: Path):
    out = tmp_path / "model"
    fit = run("fit", str(CREDIT), "--target", "class", "--time-budget", "20", "--max-trials", "4",
              "--search", "defaults", "--out", str(out))
    assert fit.returncode == 0, fit.stderr
    assert "trial   0 linear" in fit.stderr and "s] trial" in fit.stderr  # progress lines with elapsed time
    assert "best:" in fit.stdout and "metric roc_auc" in fit.stdout
    assert (out / "pipeline.skops").exists() and (out / "leaderboard.csv").exists()

    preds = tmp_path / "preds.csv"
    predict = run("predict", str(out), str(CREDIT), "--out", str(preds), "--proba")
    assert predict.returncode == 0, predict.stderr
    assert "ignoring columns not used in training: ['class']" in predict.stderr
    table = pd.read_csv(preds)
    assert list(table.columns) == ["prediction", "proba_bad", "proba_good"] and len(table) == 1000
    assert set(table.prediction) <= {"good", "bad"}

    board = run("leaderboard", str(out))
    assert board.returncode == 0 and "linear" in board.stdout


def test_reads_parquet_and_arff(tmp_path: Path):
    from automl.io.readers import read_table

    frame = pd.read_csv(CREDIT).head(50)
    frame.to_parquet(tmp_path / "d.parquet")
    assert read_table(tmp_path / "d.parquet").shape == (50, 21)
    arff = tmp_path / "d.arff"
    arff.write_text("@RELATION t\n@ATTRIBUTE x NUMERIC\n@ATTRIBUTE c {a,b}\n@DATA\n1.5,a\n?,b\n2,?\n")
    table = read_table(arff)
    assert table["x"].isna().sum() == 1 and table["c"].tolist()[:2] == ["a", "b"]


def test_bad_target_column_is_a_clear_error(tmp_path: Path):
    result = run("fit", str(CREDIT), "--target", "nope", "--time-budget", "5", "--out", str(tmp_path / "m"))
    assert result.returncode != 0 and "no column 'nope'" in result.stderr
