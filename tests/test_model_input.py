"""automl/model_input.py: the series and column helpers it owns, and its place at the bottom of the imports."""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.pipeline import Pipeline

import automl.model_input as model_input
from automl.model_input import columns_read, per_series, sorted_ids
from automl.pipeline.transformers import ColumnCaster

# Modules above model_input (they import it): model_input must import none of them, even inside a function.
ABOVE = ("automl.synthesis", "automl.estimator", "automl.cli", "automl.cli_deploy", "automl.cli_inputs",
         "automl.serve", "automl.io.report", "automl.explain")


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_model_input_imports_nothing_that_imports_it():
    imported = _imported_modules(Path(model_input.__file__))
    upward = sorted(m for m in imported if any(m == a or m.startswith(a + ".") for a in ABOVE))
    assert upward == []


def test_synthesis_takes_the_series_helpers_from_model_input():
    import automl.synthesis as synthesis

    assert synthesis.sorted_ids is sorted_ids and synthesis.per_series is per_series
    assert synthesis.columns_read is columns_read
    assert not hasattr(synthesis, "_casters")  # one home for each helper


def test_sorted_ids_are_unique_and_sorted_as_tsfresh_returns_them():
    readings = pd.DataFrame({"id": ["b", "a", "b", "c", "a"], "value": range(5)})
    assert list(sorted_ids(readings, "id")) == ["a", "b", "c"]


def test_per_series_aligns_a_series_indexed_by_id_and_names_missing_ids():
    ids = np.array(["a", "b", "c"])
    y = pd.Series({"c": 2, "a": 0, "b": 1})
    assert list(per_series(y, ids, "id")) == [0, 1, 2]
    with pytest.raises(ValueError, match="no target for 1 series"):
        per_series(y.drop("b"), ids, "id")
    with pytest.raises(ValueError, match="holds 3 series"):
        per_series([0, 1], ids, "id")


def test_columns_read_are_the_cast_steps_columns_sorted():
    pipe = Pipeline([("cast", ColumnCaster({"z": "numeric", "a": "numeric"})), ("model", DummyClassifier())])
    assert columns_read(pipe) == ["a", "z"]
    assert columns_read(Pipeline([("model", DummyClassifier())])) == []
