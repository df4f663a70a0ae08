"""The HTML report: one self-contained file with the leaderboard, plots, importances, profile, cleaning."""
from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from automl import AutoMLRegressor
from automl.io.persist import save
from automl.io.report import build_report

ROOT = Path(__file__).resolve().parents[1]
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
    assert len(images) == 3 + own and all(i.startswith(PNG) for i in images)
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


@pytest.mark.slow
def test_cli_report(credit_model_folder, tmp_path):
    out = tmp_path / "report.html"
    done = subprocess.run([sys.executable, "-m", "automl.cli", "report", str(credit_model_folder), "--out", str(out)],
                          capture_output=True, text=True, timeout=180, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert out.read_text().startswith("<!doctype html>") and len(_images(out.read_text())) == 4
