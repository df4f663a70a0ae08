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
    ("with tables", 422, 'fitted on a single table: it takes no "tables"'),
    ("as series", 422, 'not "series"'),
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
    elif payload == "with tables":
        payload = {"rows": rows, "tables": {"sessions": []}}
    elif payload == "as series":
        payload = {"series": rows}
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


# -- the ecosystem's interfaces: OpenAPI schema, Open Inference Protocol (v2), Prometheus metrics -------------
def _inputs(rows):
    """The Open Inference Protocol's per-column inputs for JSON rows."""
    def kind(values):
        present = [v for v in values if v is not None]
        return "FP64" if present and all(isinstance(v, (int, float)) for v in present) else "BYTES"

    return [{"name": name, "shape": [len(rows)], "datatype": kind([r[name] for r in rows]),
             "data": [r[name] for r in rows]} for name in rows[0]]


def _metrics(client):
    """``/metrics`` as {'name{labels}': value}, fetched without the token."""
    answer = httpx.get(str(client.base_url.join("/metrics")))
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    out = {}
    for line in answer.text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def test_openapi_shows_the_row_schema_of_the_training_columns(served, credit):
    client, _ = served
    spec = client.get("/openapi.json").json()
    row = spec["components"]["schemas"]["Row"]
    X, _ = credit
    assert set(row["properties"]) == set(X.columns) and set(row["required"]) <= set(X.columns)
    assert {"type": "number"} in row["properties"]["duration"]["anyOf"]
    assert {"type": "string"} in row["properties"]["purpose"]["anyOf"]
    body = spec["paths"]["/predict"]["post"]["requestBody"]["content"]
    assert body["application/json"]["schema"]["properties"]["rows"]["items"] == {"$ref": "#/components/schemas/Row"}
    assert "text/csv" in body
    answer = spec["paths"]["/predict_proba"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": "#/components/schemas/Probabilities"}
    assert {"predictions", "classes", "probabilities"} <= set(spec["components"]["schemas"]["Probabilities"]
                                                               ["properties"])
    assert "InferRequest" in spec["components"]["schemas"]


def test_v2_metadata_lists_every_modelled_column(served, credit_model_folder):
    client, _ = served
    model = load(credit_model_folder)
    meta = client.get("/v2/models/credit").json()
    roles = {c.name: c.role for c in model.schema_.columns if c.name not in model.schema_.dropped}
    assert [i["name"] for i in meta["inputs"]] == list(roles)
    assert {i["name"]: i["datatype"] for i in meta["inputs"]}["duration"] == "FP64"
    assert {i["name"]: i["datatype"] for i in meta["inputs"]}["purpose"] == "BYTES"
    assert meta["outputs"] == [{"name": "predictions", "datatype": "BYTES", "shape": [-1]},
                               {"name": "probabilities", "datatype": "FP64", "shape": [-1, 2]}]
    assert client.get("/v2/models/other").status_code == 404
    assert httpx.get(str(client.base_url.join("/v2/health/ready"))).json() == {"ready": True}  # no token


def test_v2_infer_answers_as_predict_and_is_logged(served, credit):
    client, log = served
    rows = _rows(credit, 6, 200)
    before = len(log.read_text().splitlines())
    answer = client.post("/v2/models/credit/infer", json={"id": "r1", "inputs": _inputs(rows)})
    assert answer.status_code == 200, answer.text
    out = {o["name"]: o for o in answer.json()["outputs"]}
    expected = client.post("/predict_proba", json={"rows": rows}).json()
    assert answer.json()["id"] == "r1" and answer.json()["model_version"] == expected["model_version"]
    assert out["predictions"]["data"] == expected["predictions"] and out["predictions"]["shape"] == [6]
    assert out["probabilities"]["shape"] == [6, 2]
    assert np.allclose(np.reshape(out["probabilities"]["data"], (6, 2)), expected["probabilities"])
    assert out["probabilities"]["parameters"]["classes"] == expected["classes"]
    assert len(log.read_text().splitlines()) == before + 12  # 6 rows from /v2, 6 from /predict_proba
    only = client.post("/v2/models/credit/infer", json={"inputs": _inputs(rows), "outputs": [{"name": "predictions"}]})
    assert [o["name"] for o in only.json()["outputs"]] == ["predictions"]


@pytest.mark.parametrize("change, status, message", [
    ("word in a number", 422, "column 'duration' is numeric"),
    ("short input", 422, "different lengths"),
    ("bad shape", 422, "shape"),
    ("missing column", 422, "missing columns ['purpose']"),
    ("unknown output", 422, "not outputs of the model"),
    ("not inputs", 422, "one input per column"),
])
def test_v2_bad_requests_get_4xx_naming_the_problem(served, credit, change, status, message):
    client, _ = served
    request = {"inputs": _inputs(_rows(credit, 3))}
    inputs = {i["name"]: i for i in request["inputs"]}
    if change == "word in a number":
        inputs["duration"]["data"][1] = "twelve"
    elif change == "short input":
        inputs["age"]["data"] = inputs["age"]["data"][:2]
        inputs["age"]["shape"] = [2]
    elif change == "bad shape":
        inputs["age"]["shape"] = [3, 2]
    elif change == "missing column":
        request["inputs"] = [i for i in request["inputs"] if i["name"] != "purpose"]
    elif change == "unknown output":
        request["outputs"] = [{"name": "scores"}]
    elif change == "not inputs":
        request = {"rows": _rows(credit, 1)}
    answer = client.post("/v2/models/credit/infer", json=request)
    assert answer.status_code == status, answer.text
    assert message in answer.json()["detail"]


def test_metrics_count_requests_rows_errors_and_latency_without_a_token(served, credit):
    client, _ = served
    before = _metrics(client)
    assert client.post("/predict", json={"rows": _rows(credit, 3)}).status_code == 200
    assert client.post("/predict", json={"rows": [{"duration": 1}]}).status_code == 422
    assert httpx.post(str(client.base_url.join("/predict")), json={"rows": _rows(credit, 1)}).status_code == 401
    after = _metrics(client)

    def grew(name):
        return after.get(name, 0) - before.get(name, 0)

    assert grew('automl_requests_total{route="/predict",method="POST",status="200"}') == 1
    assert grew('automl_request_errors_total{route="/predict",status="422"}') == 1
    assert grew('automl_request_errors_total{route="/predict",status="401"}') == 1
    assert grew('automl_rows_predicted_total{model="a"}') == 3
    assert grew('automl_request_duration_seconds_count{route="/predict"}') == 3
    assert after['automl_request_duration_seconds_bucket{route="/predict",le="+Inf"}'] == \
        after['automl_request_duration_seconds_count{route="/predict"}']
    assert after['automl_drift_retrain{model="a"}'] in (0.0, 1.0)  # the service keeps a log: a verdict
    assert after['automl_drift_rows{model="a"}'] >= 0


def test_the_drift_gauge_is_cached_and_says_why_it_is_missing():
    from automl.serve.metrics import DriftGauge

    calls = []

    def report():
        calls.append(1)
        return {"retrain": len(calls) > 1, "rows": 60, "drifted_features": []}

    drift = DriftGauge(report, seconds=3600)
    assert 'automl_drift_retrain{model="a"} 0' in drift.lines()
    assert 'automl_drift_retrain{model="a"} 0' in drift.lines() and len(calls) == 1  # reused, not recomputed
    drift.seconds = 0
    assert 'automl_drift_retrain{model="a"} 1' in drift.lines() and len(calls) == 2

    def no_log():
        raise PayloadError(404, "the service keeps no request log")

    assert DriftGauge(no_log).lines() == ["# automl_drift_retrain: no verdict (the service keeps no request log)"]


def test_batched_requests_get_the_answers_they_would_get_alone(credit_model_folder, credit):
    """Rows of concurrent requests predicted in one call answer as when predicted alone; a request the model
    cannot predict fails alone."""
    from concurrent.futures import ThreadPoolExecutor

    from automl.serve import batch
    from automl.serve.service import ServedModel

    served = ServedModel.open(credit_model_folder)
    calls = []

    def predict(frame, proba):
        calls.append(len(frame))
        if (frame["duration"] < 0).any():
            raise PayloadError(422, "negative duration")
        return served.predict_rows(frame, proba)

    batcher = batch.Batcher(predict, inline_seconds=0.0)  # as for a dear model: requests queue to be batched
    X, _ = credit
    frames = [X.iloc[i:i + 1 + i % 3].reset_index(drop=True) for i in range(0, 60, 3)]
    frames[5] = frames[5].assign(duration=-1)
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(batcher.predict, frame, True) for frame in frames]
    for i, (frame, future) in enumerate(zip(frames, futures)):
        if i == 5:
            with pytest.raises(PayloadError, match="negative duration"):
                future.result()
            continue
        alone = served.predict_rows(frame, True)
        assert list(future.result().labels) == list(alone.labels)
        assert np.allclose(future.result().probabilities, alone.probabilities)
    assert max(calls) > 3  # some calls predicted the rows of several requests


@pytest.mark.slow
def test_several_worker_processes_share_the_log_and_the_metrics(credit_model_folder, credit, tmp_path):
    """``automl serve --workers 2``: one log line per row whichever process answered, and /metrics counts the
    requests of both."""
    import subprocess
    import sys
    import threading
    import time

    from tests.serving import free_port

    port, log = free_port(), tmp_path / "requests.jsonl"
    server = subprocess.Popen([sys.executable, "-m", "automl.cli", "serve", str(credit_model_folder), "--port",
                               str(port), "--log", str(log), "--workers", "2"], stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        rows = _rows(credit, 40)

        def client(part):
            with httpx.Client(base_url=url, timeout=30) as http:  # a connection each: both processes answer
                for row in part:
                    assert http.post("/predict", json={"rows": [row, row]}).status_code == 200

        threads = [threading.Thread(target=client, args=(rows[k::4],)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        time.sleep(1.5)  # each process writes its counts to the shared folder every second
        metrics = httpx.get(f"{url}/metrics").text
    finally:
        server.terminate()
        server.wait(timeout=30)
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(lines) == 80 and all(line["model"] == "a" for line in lines)
    assert 'automl_requests_total{route="/predict",method="POST",status="200"} 40' in metrics
    assert 'automl_rows_predicted_total{model="a"} 80' in metrics
