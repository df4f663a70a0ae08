"""Property tests: any valid messy frame in gives a leaderboard and well-formed predictions out;
invalid input gives a ValueError that names the column."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from automl import AutoML

FAMILIES = ["linear", "knn", "lightgbm", "hist_gradient_boosting", "random_forest", "extra_trees"]
SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                           HealthCheck.data_too_large])


@st.composite
def messy_frames(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(min_value=8, max_value=60))
    columns = {}
    for i in range(draw(st.integers(min_value=1, max_value=5))):
        kind = draw(st.sampled_from(["float", "int", "category", "bool", "constant", "empty", "numeric_text"]))
        name = f"{kind}_{i}"
        if kind == "float":
            values = draw(st.lists(st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.just(np.nan)),
                                   min_size=n, max_size=n))
        elif kind == "int":
            values = draw(st.lists(st.integers(-5, 5), min_size=n, max_size=n))
        elif kind == "category":
            values = draw(st.lists(st.sampled_from(["a", "b", "c", "d e", None]), min_size=n, max_size=n))
        elif kind == "bool":
            values = draw(st.lists(st.booleans(), min_size=n, max_size=n))
        elif kind == "constant":
            values = [3.0] * n
        elif kind == "empty":
            values = [np.nan] * n
        else:
            values = [str(v) for v in draw(st.lists(st.integers(0, 50), min_size=n, max_size=n))]
        columns[name] = values
    return pd.DataFrame(columns)


@st.composite
def problems(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.Series, str]:
    frame = draw(messy_frames())
    n = len(frame)
    kind = draw(st.sampled_from(["binary", "multiclass", "regression"]))
    if kind == "regression":
        y = pd.Series(draw(st.lists(st.floats(-100, 100, allow_nan=False), min_size=n, max_size=n)))
    else:
        labels = ["no", "yes"] if kind == "binary" else ["x", "y", "z"]
        y = pd.Series([labels[i % len(labels)] for i in range(n)])
    return frame, y, kind


@pytest.mark.slow
@SETTINGS
@given(problem=problems(), family=st.sampled_from(FAMILIES))
def test_any_valid_frame_gives_leaderboard_and_predictions(problem, family):
    frame, y, kind = problem
    informative = [c for c in frame if frame[c].nunique(dropna=False) > 1 and frame[c].notna().any()]
    model = AutoML(time_budget=30, max_trials=2, families=[family], random_state=0, cv=2,
                   task=kind if kind != "regression" else "regression")
    if y.nunique() < 2:  # a constant target (drawn for regression) is bad input too, checked before the columns
        with pytest.raises(ValueError, match="y is constant"):
            model.fit(frame, y)
        return
    if not informative:
        with pytest.raises(ValueError, match="no column is usable"):
            model.fit(frame, y)
        return
    model.fit(frame, y)
    board = model.leaderboard_
    assert len(board) >= 1 and set(board.status) <= {"ok", "error", "timeout", "pruned", "skipped"}
    assert board["rank"].tolist() == list(range(1, len(board) + 1))
    predictions = model.predict(frame)
    assert predictions.shape == (len(frame),)
    dropped = {e["column"]: e["reason"] for e in model.cleaning_ if e["action"] == "dropped"}
    # every uninformative column is reported; anything else dropped is a copy of another column or an identifier
    assert set(dropped) >= set(frame.columns) - set(informative)
    assert all(dropped[c].startswith(("duplicate of", "identifier")) for c in set(dropped) & set(informative))
    if kind == "regression":
        assert np.all(np.isfinite(predictions.astype(float)))
    else:
        assert set(predictions) <= set(y)
        proba = model.predict_proba(frame)
        assert proba.shape == (len(frame), y.nunique()) and np.allclose(proba.sum(axis=1), 1.0)


@settings(max_examples=20, deadline=None)
@given(frame=messy_frames(), data=st.data())
def test_infinite_values_are_refused_by_name_when_not_cleaned(frame, data):
    numeric = [c for c in frame if c.startswith(("float", "int"))]
    assume(numeric)
    column = data.draw(st.sampled_from(numeric))
    row = data.draw(st.integers(0, len(frame) - 1))
    frame[column] = frame[column].astype(float)
    frame.loc[row, column] = data.draw(st.sampled_from([np.inf, -np.inf]))
    y = pd.Series([i % 2 for i in range(len(frame))])
    with pytest.raises(ValueError, match=f"column '{column}' holds infinite values"):
        AutoML(time_budget=10, max_trials=1, families=["linear"], cleaning={"inf_to_missing": False}).fit(frame, y)
