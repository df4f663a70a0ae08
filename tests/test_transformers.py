"""The cast step and prediction threads: fast paths that must not change a single prediction."""
from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.ensemble import ExtraTreesRegressor, RandomForestClassifier

from automl.pipeline.threads import predict_single_threaded
from automl.pipeline.transformers import ColumnCaster
from automl.search.ensemble import WeightedEnsembleRegressor

ROLES = {"n": "numeric", "s": "numeric", "b": "boolean", "c": "categorical", "t": "text"}
CELLS = st.one_of(st.none(), st.just(np.nan), st.integers(-5, 5), st.floats(allow_nan=False, width=32),
                  st.just(np.inf), st.sampled_from(["a", "b", "3.5", "x y", ""]), st.booleans())


def _expected(column: pd.Series, role: str) -> list:
    """What a cast column holds, value by value: numbers parsed (anything else and infinities missing),
    booleans as 0/1, categories and texts as strings with missing values kept missing."""
    out = []
    for value in column.tolist():
        missing = value is None or (isinstance(value, float) and np.isnan(value))
        if role in ("numeric", "boolean"):
            if isinstance(value, bool):
                value = float(value)
            number = pd.to_numeric(pd.Series([value], dtype=object), errors="coerce").iloc[0]
            out.append(np.nan if missing or not np.isfinite(number) else float(number))
        else:
            out.append(None if missing else str(value))
    return out


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(allow_nan=True, allow_infinity=True), CELLS, st.booleans(), CELLS, CELLS),
                min_size=1, max_size=8))
def test_cast_matches_its_value_by_value_definition(rows):
    frame = pd.DataFrame(rows, columns=["n", "s", "b", "c", "t"])
    frame["s"] = frame["s"].astype(object)
    cast = ColumnCaster(ROLES).fit(frame).transform(frame)
    assert list(cast.columns) == list(ROLES) and cast.index.equals(frame.index)
    for name, role in ROLES.items():
        got = cast[name].tolist()
        want = _expected(frame[name], role)
        if role in ("numeric", "boolean"):
            assert cast[name].dtype == np.float64
            np.testing.assert_array_equal(np.asarray(got, dtype=float), np.asarray(want, dtype=float), err_msg=name)
        else:
            assert got == want, name


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(allow_nan=True, allow_infinity=True), CELLS, st.booleans(), CELLS, CELLS),
                min_size=1, max_size=6))
def test_a_few_rows_cast_a_block_at_a_time_as_many_rows_cast_column_by_column(rows):
    """Up to 1,024 rows cast plain numbers and texts a block at a time: the same values as the column-by-column
    cast of larger batches, for every dtype a user's frame may hold."""
    frame = pd.DataFrame(rows, columns=["n", "s", "b", "c", "t"])
    frame["s"] = frame["s"].astype(object)
    frame["i"] = pd.array(range(len(frame)), dtype="Int64")
    frame.loc[0, "i"] = pd.NA
    with np.errstate(over="ignore"):  # numbers beyond float32 become infinite: a value to cast too
        frame["f"] = frame["n"].astype(np.float32)
    frame["j"] = np.arange(len(frame), dtype=np.int64) * (2 ** 53 + 3) + 1  # integers a float64 rounds
    frame["u"] = frame["c"].map(lambda v: None if v is None or v != v else str(v)).astype("string")
    frame["k"] = frame["t"].map(lambda v: None if v is None or v != v else str(v)).astype("category")
    roles = {**ROLES, "i": "numeric", "f": "numeric", "j": "numeric", "u": "categorical", "k": "categorical"}
    caster = ColumnCaster(roles).fit(frame)
    few = caster.cast_columns(frame)
    many = caster.cast_columns(pd.concat([frame] * (1100 // len(frame) + 1), ignore_index=True))
    for name in roles:
        got, want = np.asarray(few[name]), np.asarray(many[name])[:len(frame)]
        if got.dtype == object:
            assert got.tolist() == want.tolist(), name
        else:
            np.testing.assert_array_equal(got, want, err_msg=name)


def test_cast_merges_rare_categories_and_keeps_missing_values():
    frame = pd.DataFrame({"c": ["a", "b", None, 7, "a", np.nan]})
    cast = ColumnCaster({"c": "categorical"}, categories={"c": ["a", "7"]}).fit(frame).transform(frame)
    assert cast["c"].tolist() == ["a", "__rare__", None, "7", "a", None]


def test_fitted_forests_predict_single_threaded_with_the_same_predictions():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(300, 4)), rng.normal(size=300)
    members = [ExtraTreesRegressor(n_estimators=20, n_jobs=2, random_state=0).fit(X, y),
               ExtraTreesRegressor(n_estimators=20, n_jobs=2, random_state=1).fit(X, y)]
    ensemble = WeightedEnsembleRegressor.from_fitted(members, [0.5, 0.5])
    before = ensemble.predict(X)
    assert predict_single_threaded(ensemble) is ensemble
    assert [m.n_jobs for m in members] == [1, 1]
    np.testing.assert_array_equal(ensemble.predict(X), before)
    forest = RandomForestClassifier(n_estimators=5, n_jobs=2).fit(X, y > 0)
    assert predict_single_threaded(forest).n_jobs == 1
