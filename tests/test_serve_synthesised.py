"""Serving models fitted with related tables (DFS) or on long-format series (tsfresh), on a real uvicorn server: the
request shapes, what is refused and why, the request log the monitor reads, the OpenAPI body."""
from __future__ import annotations

import json

import httpx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from automl.io.persist import load
from automl.model_input import FeatureModel
from automl.serve.app import create_app
from tests.generated import customers_sessions_transactions, sine_or_sawtooth
from tests.serving import json_rows, running

pytestmark = pytest.mark.slow  # the session's synthesised models take seconds to fit


def _client(folder, log):
    app = create_app(folder, log=log, max_rows=40)
    return running(app)


@pytest.fixture(scope="module")
def relational(relational_model_folder, tmp_path_factory):
    log = tmp_path_factory.mktemp("serve") / "relational.jsonl"
    with _client(relational_model_folder, log) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield client, log


@pytest.fixture(scope="module")
def series(series_model_folder, tmp_path_factory):
    log = tmp_path_factory.mktemp("serve") / "series.jsonl"
    with _client(series_model_folder, log) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield client, log


@pytest.fixture(scope="module")
def new_customers():
    customers, sessions, transactions, _ = customers_sessions_transactions(12, seed=1, first_id=10_000)
    return customers, {"sessions": sessions, "transactions": transactions}


def _body(customers, tables):
    return {"rows": json_rows(customers), "tables": {name: json_rows(t) for name, t in tables.items()}}


def test_rows_with_tables_are_answered_as_the_model_and_logged_with_features(relational, relational_model_folder,
                                                                             new_customers):
    client, log = relational
    customers, tables = new_customers
    answer = client.post("/predict_proba", json=_body(customers, tables))
    assert answer.status_code == 200, answer.text
    model = load(relational_model_folder)
    assert np.allclose(answer.json()["probabilities"], model.predict_proba(customers, tables=tables), atol=1e-6)
    assert answer.json()["predictions"] == model.predict(customers, tables=tables).tolist()
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(lines) == len(customers)  # one line per row of the target table
    assert lines[0]["row"]["customer_id"] == 10_000 and set(lines[0]["row"]) == set(customers.columns)
    assert set(lines[0]["features"]) == set(FeatureModel(model).columns)  # what the training profile describes
    assert lines[0]["features"]["MAX(transactions.amount)"] > 0


def _drop_table(body):
    del body["tables"]["transactions"]


def _extra_table(body):
    body["tables"]["visits"] = []


def _bad_date(body):
    body["tables"]["sessions"][1]["started"] = "yesterday"


def _null_key(body):
    body["tables"]["sessions"][2]["customer_id"] = None


def _missing_column(body):
    for row in body["rows"]:
        del row["age"]


SHAPE = 'send {"rows": [{...}, ...], "tables": {"sessions": [{...}, ...], "transactions": [{...}, ...]}}'


@pytest.mark.parametrize("change, message", [
    (lambda body: body.pop("tables"), "fitted with related tables ['sessions', 'transactions']: " + SHAPE),
    (_drop_table, "missing ['transactions']"),
    (_extra_table, "not this model's ['visits']"),
    (_bad_date, "table 'sessions': column 'started' is datetime: rows [1] hold 'yesterday', not a date"),
    (_null_key, "table 'sessions': key 'customer_id' is missing on rows [2]; every row needs its key"),
    (_missing_column, "the rows lack the columns ['age']; every row needs ['customer_id', 'age', 'plan', 'as_of']"),
    (lambda body: body.update(series=body.pop("rows")), "this model takes rows of 'customers'"),
])
def test_a_relational_body_that_does_not_fit_gets_422_naming_what(relational, new_customers, change, message):
    client, _ = relational
    body = _body(*new_customers)
    change(body)
    answer = client.post("/predict", json=body)
    assert answer.status_code == 422 and message in answer.json()["detail"], answer.text


def test_relational_csv_oip_and_limits_are_refused_with_the_reason(relational, new_customers):
    client, _ = relational
    customers, tables = new_customers
    csv = client.post("/predict", content=customers.to_csv(index=False), headers={"content-type": "text/csv"})
    assert csv.status_code == 422 and "CSV body holds no related tables" in csv.json()["detail"]
    many, sessions, transactions, _ = customers_sessions_transactions(41, seed=5)
    too_many = client.post("/predict", json=_body(many, {"sessions": sessions, "transactions": transactions}))
    assert too_many.status_code == 413 and "41 rows" in too_many.json()["detail"]
    assert client.get("/metadata").json()["input"] == {"kind": "tables", "columns": list(customers.columns), "tables": ["sessions", "transactions"],
                    "target_table": "customers", "column_id": None}
    refused = client.post("/v2/models/relational/infer", json={"inputs": []})
    assert refused.status_code == 422 and "Open Inference Protocol" in refused.json()["detail"]
    assert "POST /predict with {\"rows\"" in refused.json()["detail"]
    assert client.get("/v2/models/relational").status_code == 422


def test_a_customer_without_sessions_is_predicted(relational, relational_model_folder, new_customers):
    client, _ = relational
    customers, _ = new_customers
    answer = client.post("/predict", json={"rows": json_rows(customers.head(2)),
                                           "tables": {"sessions": [], "transactions": []}})
    assert answer.status_code == 200, answer.text
    lines = [json.loads(line) for line in _log_tail(relational[1], 2)]
    assert [r["features"]["COUNT(sessions)"] for r in lines] == [0, 0]


CELLS = st.one_of(st.none(), st.integers(-10**12, 10**12), st.floats(allow_nan=False, allow_infinity=False),
                  st.text(max_size=5),
                  st.booleans(), st.just("2024-01-01"), st.just(""), st.lists(st.integers(), max_size=2))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_cell_of_any_table_gets_an_answer_or_a_4xx_never_an_error(relational, new_customers, data):
    client, _ = relational
    body = _body(*new_customers)
    part = data.draw(st.sampled_from(["rows", "sessions", "transactions"]))
    rows = body["rows"] if part == "rows" else body["tables"][part]
    row = rows[data.draw(st.integers(0, len(rows) - 1))]
    column = data.draw(st.sampled_from([*row, "extra"]))
    if column in row and data.draw(st.booleans()):
        del row[column]
    else:
        row[column] = data.draw(CELLS)
    answer = client.post("/predict", json=body)
    assert answer.status_code in (200, 422), answer.text
    assert answer.status_code == 200 or answer.json()["detail"]


def _log_tail(log, n):
    return log.read_text().splitlines()[-n:]


def test_openapi_describes_the_rows_and_each_related_table(relational):
    client, _ = relational
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/predict"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json"}  # no CSV: it cannot hold the tables
    schema = body["application/json"]["schema"]
    assert schema["required"] == ["rows", "tables"]
    assert schema["properties"]["tables"]["properties"]["sessions"]["items"] == {
        "$ref": "#/components/schemas/Table_sessions"}
    components = spec["components"]["schemas"]
    assert set(components["Row"]["required"]) == {"customer_id", "age", "plan", "as_of"}
    assert {"type": "number"} in components["Table_transactions"]["properties"]["amount"]["anyOf"]
    assert {"type": "string"} in components["Table_sessions"]["properties"]["started"]["anyOf"]


def test_series_get_one_prediction_per_id_with_the_ids_and_one_log_line_each(series, series_model_folder):
    client, log = series
    readings, labels = sine_or_sawtooth(15, seed=2, first_id=5000)
    shuffled = readings.sample(frac=1.0, random_state=0)  # readings in any order: ids come back sorted
    answer = client.post("/predict", json={"series": json_rows(shuffled)})
    assert answer.status_code == 200, answer.text
    model = load(series_model_folder)
    expected = model.predict_series(readings)
    assert answer.json()["ids"] == list(range(5000, 5015))
    assert answer.json()["predictions"] == expected.loc[answer.json()["ids"]].tolist()
    assert client.post("/predict", json={"series": json_rows(readings)}).status_code == 200
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(lines) == 30 and [r["row"] for r in lines[:15]] == [{"id": i} for i in range(5000, 5015)]
    assert set(lines[0]["features"]) == set(FeatureModel(model).columns)
    assert lines[0]["input_hash"] == lines[15]["input_hash"]  # the same readings, whatever their order
    csv = client.post("/predict_proba", content=readings.to_csv(index=False), headers={"content-type": "text/csv"})
    assert csv.status_code == 200 and csv.json()["ids"] == answer.json()["ids"]
    assert np.allclose(csv.json()["probabilities"], model.predict_proba_series(readings).to_numpy(), atol=1e-6)


@pytest.mark.parametrize("body, status, message", [
    ("rows", 422, 'this model predicts long-format series'),
    ("missing column", 422, "the readings lack the columns ['noise']"),
    ({"series": []}, 422, "no readings"),
    ("text value", 422, "must be numeric"),
    ("with tables", 422, "it takes no related tables"),
    ("too many", 413, "41 series"),
])
def test_a_series_body_that_does_not_fit_gets_4xx_naming_what(series, body, status, message):
    client, _ = series
    readings, _ = sine_or_sawtooth(3, seed=3)
    rows = json_rows(readings)
    if body == "rows":
        body = {"rows": rows}
    elif body == "missing column":
        body = {"series": json_rows(readings.drop(columns="noise"))}
    elif body == "text value":
        rows[4]["value"] = "high"
        body = {"series": rows}
    elif body == "with tables":
        body = {"series": rows, "tables": {}}
    elif body == "too many":
        body = {"series": json_rows(sine_or_sawtooth(41, seed=3, length=5)[0])}
    answer = client.post("/predict", json=body)
    assert answer.status_code == status and message in answer.json()["detail"], answer.text


def test_series_openapi_and_oip(series):
    client, _ = series
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/predict"]["post"]["requestBody"]["content"]
    assert body["application/json"]["schema"]["required"] == ["series"] and "text/csv" in body
    reading = spec["components"]["schemas"]["Reading"]
    assert reading["required"] == ["id", "time", "value", "noise"]
    assert reading["properties"]["value"]["type"] == "number"
    assert "ids" in spec["components"]["schemas"]["Predictions"]["properties"]
    refused = client.post("/v2/models/series/infer", json={"inputs": []})
    assert refused.status_code == 422 and "long-format series" in refused.json()["detail"]


def test_an_ab_test_of_models_taking_different_bodies_is_refused(relational_model_folder, series_model_folder):
    with pytest.raises(ValueError, match="an A/B test needs models that take the same request body"):
        create_app(relational_model_folder, challenger=series_model_folder, split=0.5)
