"""The HTTP service, served by a real uvicorn on 127.0.0.1: valid and invalid payloads, token, request log."""
from __future__ import annotations

import json

import httpx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from automl.io.persist import load
from automl.serve.app import create_app
from automl.serve.validate import PayloadError
from tests.serving import running


@pytest.fixture(scope="module")
def served(credit_model_folder, tmp_path_factory):
    log = tmp_path_factory.mktemp("serve") / "requests.jsonl"
    app = create_app(credit_model_folder, token="s3cret", log=log, max_rows=50, max_bytes=200_000)
    with running(app) as url:
        with httpx.Client(base_url=url, headers={"Authorization": "Bearer s3cret"}, timeout=30) as client:
            yield client, log


def _rows(credit, n=3, start=0):
    X, _ = credit
    return json.loads(X.iloc[start:start + n].to_json(orient="records"))


def test_predict_json_matches_the_model_and_is_logged(served, credit, credit_model_folder):
    client, log = served
    before = len(log.read_text().splitlines()) if log.exists() else 0
    answer = client.post("/predict", json={"rows": _rows(credit, 4)})
    assert answer.status_code == 200, answer.text
    X, _ = credit
    expected = load(credit_model_folder).predict(X.iloc[:4])
    assert answer.json()["predictions"] == list(expected)
    lines = [json.loads(line) for line in log.read_text().splitlines()[before:]]
    assert [r["prediction"] for r in lines] == list(expected)
    assert {"time", "input_hash", "row", "latency_ms", "model_version"} <= set(lines[0])
    assert lines[0]["row"]["duration"] == X.iloc[0]["duration"]
    assert lines[0]["model_version"] == answer.json()["model_version"]


def test_predict_csv_and_proba(served, credit):
    client, _ = served
    X, _ = credit
    csv = X.iloc[:5].to_csv(index=False)
    answer = client.post("/predict", content=csv, headers={"content-type": "text/csv"})
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["predictions"]) == 5
    proba = client.post("/predict_proba", json={"rows": _rows(credit, 2)}).json()
    assert proba["classes"] == ["bad", "good"]
    assert np.allclose(np.sum(proba["probabilities"], axis=1), 1.0, atol=1e-5)


def test_health_needs_no_token_and_metadata_has_the_schema(served):
    client, _ = served
    assert httpx.get(str(client.base_url.join("/health"))).json()["status"] == "ok"
    meta = client.get("/metadata").json()
    assert meta["metric"] == "roc_auc" and meta["task"] == "binary"
    assert {"name": "duration", "role": "numeric"} in meta["schema"]


@pytest.mark.parametrize("payload, status, message", [
    ({"rows": [{"duration": "twelve"}]}, 422, "missing columns"),
    ("wrong type", 422, "numeric"),
    ({"rows": []}, 422, "no rows"),
    ({"rows": "not a list"}, 422, "list of objects"),
    ("too many", 413, "at most 50"),
    ("too big", 413, "bytes"),
    ("nested", 422, "objects or lists"),
])
def test_bad_payloads_get_4xx_with_a_message(served, credit, payload, status, message):
    client, _ = served
    rows = _rows(credit, 2)
    if payload == "wrong type":
        rows[1]["duration"] = "twelve"
        payload = {"rows": rows}
    elif payload == "too many":
        payload = {"rows": _rows(credit, 51)}
    elif payload == "too big":
        payload = {"rows": rows * 2, "padding": "x" * 300_000}
    elif payload == "nested":
        rows[0]["purpose"] = {"a": 1}
        payload = {"rows": rows}
    answer = client.post("/predict", json=payload)
    assert answer.status_code == status, answer.text
    assert message in answer.json()["detail"]


def test_malformed_bodies_are_4xx_not_500(served):
    client, _ = served
    assert client.post("/predict", content=b"{not json", headers={"content-type": "application/json"}
                       ).status_code == 400
    assert client.post("/predict", content=b"a,b\n1", headers={"content-type": "text/plain"}).status_code == 415
    assert client.post("/predict", content=b"x,y\n1,2\n", headers={"content-type": "text/csv"}).status_code == 422


def test_token_is_required(served, credit):
    client, _ = served
    url = str(client.base_url.join("/predict"))
    assert httpx.post(url, json={"rows": _rows(credit, 1)}).status_code == 401
    assert httpx.post(url, json={"rows": _rows(credit, 1)}, headers={"Authorization": "Bearer nope"}
                      ).status_code == 401


@pytest.mark.slow
def test_traffic_split_logs_which_model_answered(credit_model_folder, credit, tmp_path):
    log = tmp_path / "ab.jsonl"
    app = create_app(credit_model_folder, log=log, challenger=credit_model_folder, split=0.5, seed=1)
    with running(app) as url:
        answers = [httpx.post(f"{url}/predict", json={"rows": _rows(credit, 1, i)}).json()["model"]
                   for i in range(30)]
    logged = [json.loads(line)["model"] for line in log.read_text().splitlines()]
    assert logged == answers and {"a", "b"} == set(answers)


VALUES = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                   st.text(max_size=8), st.lists(st.integers(), max_size=2))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_json_rows_get_an_answer_or_a_4xx_never_an_error(credit_model_folder, credit, data):
    """Whatever the cells hold, the service predicts or refuses with a status below 500."""
    service = _service(credit_model_folder)
    X, _ = credit
    rows = _rows(credit, data.draw(st.integers(1, 3)))
    for row in rows:
        for name in data.draw(st.lists(st.sampled_from(list(X.columns)), max_size=4, unique=True)):
            row[name] = data.draw(VALUES)
    try:
        answer = service.answer(json.dumps({"rows": rows}).encode(), "application/json", proba=True)
    except PayloadError as exc:
        assert 400 <= exc.status < 500
    else:
        assert len(answer["predictions"]) == len(rows)


_SERVICES: dict = {}


def _service(folder):
    if folder not in _SERVICES:
        _SERVICES[folder] = create_app(folder).state.service
    return _SERVICES[folder]


def test_serving_the_onnx_export_answers_as_the_pipeline(credit_model_folder, credit, tmp_path, regression_frame):
    from automl.io.onnx import export_model

    export_model(str(credit_model_folder), str(tmp_path / "m.onnx"))
    X, _ = credit
    with running(create_app(credit_model_folder, onnx=tmp_path / "m.onnx")) as url:
        answer = httpx.post(f"{url}/predict_proba", json={"rows": _rows(credit, 20, 100)}).json()
        runtime = httpx.get(f"{url}/metadata").json()["runtime"]
    model = load(credit_model_folder)
    assert runtime == "onnx"
    assert answer["predictions"] == list(model.predict(X.iloc[100:120]))
    assert np.allclose(answer["probabilities"], model.predict_proba(X.iloc[100:120]), atol=1e-5)


def test_an_onnx_file_of_another_model_is_refused(credit_model_folder, tmp_path, regression_frame):
    from automl import AutoMLRegressor
    from automl.io.onnx import export_model
    from automl.io.persist import save

    X, y = regression_frame
    other = save(AutoMLRegressor(time_budget=20, max_trials=1, families=["linear"], cv=2).fit(X, y),
                 tmp_path / "other", data=(X, y))
    export_model(str(other), str(tmp_path / "other.onnx"))
    with pytest.raises(ValueError, match="export this model again"):
        create_app(credit_model_folder, onnx=tmp_path / "other.onnx")


def test_served_pipelines_predict_on_one_thread():
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline

    from automl.pipeline.labels import EncodedLabelClassifier
    from automl.search.ensemble import WeightedEnsembleClassifier
    from automl.serve.service import single_threaded

    X, y = np.random.default_rng(0).normal(size=(40, 3)), np.array(["a", "b"] * 20)
    member = Pipeline([("model", EncodedLabelClassifier(RandomForestClassifier(5, n_jobs=-1)))]).fit(X, y)
    ensemble = Pipeline([("ensemble", WeightedEnsembleClassifier.from_fitted([member], [1.0], np.array(["a", "b"])))])
    single_threaded(ensemble)
    assert member.named_steps["model"].estimator_.n_jobs == 1
