"""Column roles and task inference."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from automl.data.schema import infer_schema, infer_task


def test_roles():
    n = 60
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "num": rng.normal(size=n),
        "num_str": [str(v) for v in rng.integers(0, 100, size=n)],
        "cat": rng.choice(["a", "b", "c"], size=n),
        "flag": rng.random(n) > 0.5,
        "date": [f"2021-03-{d:02d}" for d in rng.integers(1, 28, size=n)],
        "text": [f"customer wrote message number {i} about the {w}" for i, w in
                 zip(range(n), rng.choice(["fee", "app", "card"], size=n))],
        "row_id": np.arange(n),
        "code": [f"K{i:05d}" for i in range(n)],
    })
    schema, cast = infer_schema(frame)
    roles = {c.name: c.role for c in schema.columns}
    assert roles == {"num": "numeric", "num_str": "numeric", "cat": "categorical", "flag": "boolean",
                     "date": "datetime", "text": "text", "row_id": "id", "code": "id"}
    assert pd.api.types.is_numeric_dtype(cast["num_str"])
    assert set(schema.dropped) == {"row_id", "code"}


def test_unique_floats_are_not_ids():
    frame = pd.DataFrame({"x": np.random.default_rng(0).normal(size=100)})
    schema, _ = infer_schema(frame)
    assert schema.columns[0].role == "numeric" and not schema.dropped


@pytest.mark.parametrize("values, task", [
    (["a", "b"] * 5, "binary"),
    ([True, False] * 5, "binary"),
    ([1, 2, 3] * 4, "multiclass"),            # cmc's classes are 1/2/3
    (list(range(3, 10)) * 3, "regression"),   # wine quality 3..9
    ([0.5, 1.5, 2.25] * 4, "regression"),
    (["x", "y", "z"] * 4, "multiclass"),
])
def test_task_inference(values, task):
    assert infer_task(pd.Series(values)) == task


def test_task_inference_reads_class_names():
    assert infer_task(pd.Series(list(range(1, 7)) * 5, name="Class")) == "multiclass"  # theorem proving
    assert infer_task(pd.Series(list(range(1, 7)) * 5, name="quality")) == "regression"
    assert infer_task(pd.Series(list(range(1, 30)) * 5, name="Class_number_of_rings")) == "regression"
