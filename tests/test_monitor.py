"""Drift monitor: a feature shifted by 2 standard deviations is flagged, and no other; retrain signal."""
from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from automl.serve.app import create_app
from automl.serve.monitor import psi
from tests.cli import run_cli
from tests.generated import customers_sessions_transactions, sine_or_sawtooth
from tests.serving import json_rows, running


def _serve_rows(folder: Path, rows: pd.DataFrame, log: Path) -> dict:
    """Send ``rows`` through a real server in batches; return its /monitor answer."""
    payload = json.loads(rows.to_json(orient="records"))
    return _serve(folder, [{"rows": payload[start:start + 100]} for start in range(0, len(payload), 100)], log)


def _serve(folder: Path, bodies: list[dict], log: Path) -> dict:
    """Send each request body to a real server of ``folder``; return its /monitor answer."""
    app = create_app(folder, log=log)
    with running(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        for body in bodies:
            answer = client.post("/predict", json=body)
            assert answer.status_code == 200, answer.text
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

    done = run_cli("monitor", str(credit_model_folder), "--log", str(tmp_path / "shifted.jsonl"))
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
    done = run_cli("monitor", str(credit_model_folder), "--log", str(log), "--labels", str(label_file), "--json")
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


def _customers_body(n: int, seed: int, spend: float = 1.0) -> tuple[dict, pd.Series]:
    """A request body of ``n`` new customers with their tables (amounts times ``spend``), and their labels."""
    customers, sessions, transactions, y = customers_sessions_transactions(n, seed=seed, first_id=10_000)
    transactions = transactions.assign(amount=transactions.amount * spend)
    tables = {"sessions": json_rows(sessions), "transactions": json_rows(transactions)}
    return {"rows": json_rows(customers), "tables": tables}, y


@pytest.mark.slow
def test_a_relational_model_is_monitored_on_the_synthesised_features(relational_model_folder, tmp_path):
    body, labels = _customers_body(60, seed=1)
    log = tmp_path / "relational.jsonl"
    report = _serve(relational_model_folder, [body], log)
    assert report["rows"] == 60 and {"age", "plan", "MEAN(transactions.amount)"} <= set(report["features"])
    label_file = tmp_path / "labels.csv"
    labels.to_frame("big_spender").to_csv(label_file, index=False)  # one label per logged row, in order
    done = run_cli("monitor", str(relational_model_folder), "--log", str(log), "--labels", str(label_file), "--json")
    score = json.loads(done.stdout)["score"]  # predicted again from the logged features
    assert score["metric"] == "roc_auc" and score["n"] == 60 and score["live"] > 0.8, done.stderr

    spent, _ = _customers_body(60, seed=2, spend=10.0)  # everyone spends ten times more
    shifted = _serve(relational_model_folder, [spent], tmp_path / "shifted.jsonl")
    assert shifted["retrain"] and "MEAN(transactions.amount)" in shifted["drifted_features"]
    assert "age" not in shifted["drifted_features"]


@pytest.mark.slow
def test_a_series_model_is_monitored_per_series_with_labels_joined_on_the_id(series_model_folder, tmp_path):
    readings, labels = sine_or_sawtooth(60, seed=2, first_id=5000)
    log = tmp_path / "series.jsonl"
    report = _serve(series_model_folder, [{"series": json_rows(readings)}], log)
    assert report["rows"] == 60 and any(name.startswith("value__") for name in report["features"])
    label_file = tmp_path / "labels.csv"
    labels.rename_axis("id").rename("shape").reset_index().sample(frac=1.0, random_state=0).to_csv(label_file,
                                                                                                   index=False)
    done = run_cli("monitor", str(series_model_folder), "--log", str(log), "--labels", str(label_file), "--json")
    score = json.loads(done.stdout)["score"]  # (PSI over 10 bins of 80 training series is noisy: no exit code here)
    assert score["n"] == 60 and score["live"] > 0.8, done.stderr  # joined on 'id', whatever the labels' order

    louder = readings.assign(value=readings.value * 5)
    shifted = _serve(series_model_folder, [{"series": json_rows(louder)}], tmp_path / "louder.jsonl")
    strongest = max(shifted["features"], key=lambda name: shifted["features"][name]["psi"] or 0.0)
    assert shifted["retrain"] and strongest.startswith("value__") and shifted["features"][strongest]["psi"] > 1.0
