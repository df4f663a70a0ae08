"""Drift monitor: a feature shifted by 2 standard deviations is flagged, and no other; retrain signal."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from automl.serve.app import create_app
from automl.serve.monitor import psi
from tests.serving import running

ROOT = Path(__file__).resolve().parents[1]


def _serve_rows(folder: Path, rows: pd.DataFrame, log: Path) -> dict:
    """Send ``rows`` through a real server in batches; return its /monitor answer."""
    app = create_app(folder, log=log)
    payload = json.loads(rows.to_json(orient="records"))
    with running(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        for start in range(0, len(payload), 100):
            assert client.post("/predict", json={"rows": payload[start:start + 100]}).status_code == 200
        return client.get("/monitor").json()


@pytest.fixture(scope="module")
def live_rows(credit):
    X, y = credit
    rows = X.sample(400, replace=True, random_state=3).reset_index(drop=True)
    return rows, y.loc[X.sample(400, replace=True, random_state=3).index].reset_index(drop=True)


@pytest.mark.slow
def test_shifted_feature_is_flagged_and_no_other(credit_model_folder, credit, live_rows, tmp_path):
    X, _ = credit
    rows, _ = live_rows
    shifted = rows.copy()
    shifted["credit_amount"] = shifted["credit_amount"] + 2 * X["credit_amount"].std()
    report = _serve_rows(credit_model_folder, shifted, tmp_path / "shifted.jsonl")
    assert report["rows"] == 400
    assert report["drifted_features"] == ["credit_amount"]
    assert report["retrain"] is True
    assert report["features"]["credit_amount"]["psi"] > 0.2
    assert len(report["features"]) >= 19  # every modelled column was checked

    done = _cli("monitor", str(credit_model_folder), "--log", str(tmp_path / "shifted.jsonl"))
    assert done.returncode == 1 and "RETRAIN" in done.stdout and "credit_amount" in done.stdout


@pytest.mark.slow
def test_unshifted_traffic_gives_no_signal_and_live_score_with_labels(credit_model_folder, live_rows, tmp_path):
    rows, labels = live_rows
    log = tmp_path / "same.jsonl"
    report = _serve_rows(credit_model_folder, rows, log)
    assert report["drifted_features"] == [] and report["retrain"] is False, report["reasons"]
    hashes = [json.loads(line)["input_hash"] for line in log.read_text().splitlines()]
    label_file = tmp_path / "labels.csv"
    pd.DataFrame({"input_hash": hashes, "class": labels}).to_csv(label_file, index=False)
    done = _cli("monitor", str(credit_model_folder), "--log", str(log), "--labels", str(label_file), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    score = json.loads(done.stdout)["score"]
    assert score["metric"] == "roc_auc" and 0.5 < score["live"] <= 1.0 and score["n"] == 400


def test_monitor_endpoint_without_log_says_how(credit_model_folder):
    with running(create_app(credit_model_folder)) as url:
        answer = httpx.get(f"{url}/monitor")
    assert answer.status_code == 404 and "--log" in answer.json()["detail"]


@given(st.lists(st.floats(0.01, 1.0), min_size=2, max_size=12))
def test_psi_is_zero_on_itself_and_positive_otherwise(weights):
    shares = np.asarray(weights) / np.sum(weights)
    assert psi(shares, shares) == pytest.approx(0.0, abs=1e-12)
    reversed_shares = shares[::-1]
    if np.allclose(shares, reversed_shares):
        assert psi(shares, reversed_shares) == pytest.approx(0.0, abs=1e-9)
    else:  # a real shift gives a strictly positive index, and PSI is symmetric in its two arguments
        assert psi(shares, reversed_shares) > 0.0
        assert psi(shares, reversed_shares) == pytest.approx(psi(reversed_shares, shares))


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "automl.cli", *args], capture_output=True, text=True,
                          timeout=120, env=env)


def test_a_live_score_well_below_validation_says_retrain(credit_model_folder, live_rows, tmp_path):
    from automl.io.persist import load
    from automl.serve.monitor import monitor_report, read_log

    rows, labels = live_rows
    log = tmp_path / "flipped.jsonl"
    _serve_rows(credit_model_folder, rows, log)
    flipped = labels.map({"good": "bad", "bad": "good"})  # labels that contradict the model
    report = monitor_report(load(credit_model_folder), read_log(log), flipped)
    assert report["score"]["degraded"] and report["retrain"]
    assert report["drifted_features"] == [] and report["reasons"][0].startswith("score: live roc_auc")
