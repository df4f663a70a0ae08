"""Bad input gets a clear ValueError / TypeError that names the problem and the remedy."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from automl import AutoML, AutoMLClassifier, AutoMLRegressor

FAST = dict(time_budget=30, max_trials=1, families=["linear"], random_state=0, cv=2)


@pytest.fixture
def small() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=40), "b": rng.choice(["x", "y"], size=40)})
    y = pd.Series(np.where(X["a"] > 0, "pos", "neg"))
    return X, y


def test_empty_data():
    with pytest.raises(ValueError, match="0 feature"):
        AutoML(**FAST).fit(pd.DataFrame(index=range(5)), [0, 1, 0, 1, 0])
    with pytest.raises(ValueError, match="minimum of 2"):
        AutoML(**FAST).fit(pd.DataFrame({"a": [1.0]}), [1])


def test_length_mismatch(small):
    X, y = small
    with pytest.raises(ValueError, match="X has 40 rows but y has 39"):
        AutoML(**FAST).fit(X, y[:39])


def test_one_class(small):
    X, _ = small
    with pytest.raises(ValueError, match="only 1 class"):
        AutoMLClassifier(**FAST).fit(X, ["same"] * len(X))


def test_target_all_missing_and_partly_missing(small):
    X, y = small
    with pytest.raises(ValueError, match="every target is missing"):
        AutoML(**FAST).fit(X, [np.nan] * len(X))
    holes = y.copy().astype(object)
    holes[[3, 7]] = None
    with pytest.raises(ValueError, match=r"missing on 2 rows \(first: \[3, 7\]\)"):
        AutoML(**FAST).fit(X, holes)


@pytest.mark.slow
def test_infinite_values_named(small):
    X, y = small
    X = X.assign(a=X["a"].where(X.index != 5, np.inf))
    with pytest.raises(ValueError, match=r"column 'a' holds infinite values on 1 rows \(first: \[5\]\)"):
        AutoML(**FAST, cleaning={"inf_to_missing": False}).fit(X, y)
    model = AutoML(**FAST).fit(X, y)  # by default infinite values become missing, with a line saying so
    replaced = [e for e in model.cleaning_ if e["step"] == "inf_to_missing"]
    assert [(e["column"], e["count"]) for e in replaced] == [("a", 1)] and "[5]" in replaced[0]["reason"]
    assert model.predict(X).shape == (40,)


@pytest.mark.slow
def test_all_missing_and_constant_columns_are_dropped_and_reported(small):
    X, y = small
    X = X.assign(empty=np.nan, same=7, label="k")
    model = AutoML(**FAST).fit(X, y)
    dropped = {e["column"]: e["reason"] for e in model.cleaning_ if e["action"] == "dropped"}
    assert dropped.keys() == {"empty", "same", "label"}
    assert "all values missing" in dropped["empty"] and "constant" in dropped["same"]
    assert model.predict(X).shape == (40,)  # still given at predict time, still ignored


def test_only_uninformative_columns():
    X = pd.DataFrame({"c": [1] * 10, "m": [np.nan] * 10})
    with pytest.raises(ValueError, match="no column is usable"):
        AutoML(**FAST).fit(X, [0, 1] * 5)


def test_columns_missing_or_reordered_at_predict(small):
    X, y = small
    model = AutoML(**FAST).fit(X, y)
    with pytest.raises(ValueError, match=r"(?s)missing:\n- b.*in this order: \['a', 'b'\]"):
        model.predict(X[["a"]])
    with pytest.raises(ValueError, match="should match"):
        model.predict(X[["b", "a"]])


def test_wrong_feature_count_for_arrays():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    model = AutoML(**FAST).fit(X, (X[:, 0] > 0).astype(int))
    with pytest.raises(ValueError, match="X has 2 features, but AutoML is expecting 3"):
        model.predict(X[:, :2])


def test_regressor_rejects_text_target(small):
    X, y = small
    with pytest.raises(ValueError, match="numeric target"):
        AutoMLRegressor(**FAST).fit(X, y)


def test_non_scalar_cells_named(small):
    X, y = small
    X = X.assign(b=X["b"].astype(object))
    X.at[2, "b"] = {"nested": 1}
    with pytest.raises(TypeError, match=r"column 'b' holds a dict at row 2"):
        AutoML(**FAST).fit(X, y)


def test_bad_parameters_are_named(small):
    X, y = small
    with pytest.raises(ValueError, match="search"):
        AutoML(search="exhaustive").fit(X, y)
    with pytest.raises(ValueError, match="unknown model families"):
        AutoML(families=["xgboost"], **{k: v for k, v in FAST.items() if k != "families"}).fit(X, y)
    with pytest.raises(ValueError, match="does not apply to a binary task"):
        AutoML(metric="rmse", **FAST).fit(X, y)
    with pytest.raises(ValueError, match="time_budget .* or max_trials"):
        AutoML(time_budget=None).fit(X, y)


def test_mixed_label_types(small):
    X, _ = small
    labels = pd.Series(["a", 1] * 20, dtype=object)
    with pytest.raises(TypeError, match="mixes label types"):
        AutoMLClassifier(**FAST).fit(X, labels)
