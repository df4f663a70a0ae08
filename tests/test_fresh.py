"""The FRESH relevance tests computed for all features at once decide exactly as tsfresh's relevance table does."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from automl.pipeline.fresh import benjamini_yekutieli, feature_kinds, relevance


def test_benjamini_yekutieli_steps_up_from_the_largest_p_value_under_its_line():
    # m = 4: the lines are 0.1 * k / (4 * 2.0833) = 0.012, 0.024, 0.036, 0.048 for k = 1..4
    p = np.array([0.03, 0.001, 0.5, 0.035])
    np.testing.assert_array_equal(benjamini_yekutieli(p, 0.1), [True, True, False, True])  # 0.035 <= 0.036
    np.testing.assert_array_equal(benjamini_yekutieli(p, 0.05), [False, True, False, False])
    np.testing.assert_array_equal(benjamini_yekutieli(np.array([np.nan, 0.0]), 0.05), [False, True])
    assert benjamini_yekutieli(np.zeros(0), 0.05).shape == (0,)


def test_one_class_gives_no_p_value_and_nothing_relevant():
    X = np.random.default_rng(0).normal(size=(20, 3))
    p, relevant = relevance(X, np.zeros(20, dtype=int), "binary", 0.05)
    assert np.isnan(p).all() and not relevant.any()


def test_feature_kinds_count_distinct_values():
    X = np.array([[1.0, 0.0, 5.0], [1.0, 3.0, 6.0], [1.0, 0.0, 7.0]])
    assert feature_kinds(X).tolist() == ["constant", "binary", "real"]


def _tsfresh(X: np.ndarray, y: np.ndarray, task: str, fdr_level: float) -> tuple[np.ndarray, np.ndarray]:
    tsfresh_relevance = pytest.importorskip("tsfresh.feature_selection.relevance",
                                            reason="the synthesis extra (tsfresh) is not installed")
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = tsfresh_relevance.calculate_relevance_table(
            frame, pd.Series(y), ml_task="regression" if task == "regression" else "classification",
            multiclass=task == "multiclass", n_significant=1, fdr_level=fdr_level, hypotheses_independent=False,
            n_jobs=0).reindex(frame.columns)
    p_columns = [c for c in table.columns if str(c).startswith("p_value")]
    return (table[p_columns].astype(float).min(axis=1).to_numpy(),
            table["relevant"].fillna(False).to_numpy(dtype=bool))


def _problem(seed: int, rows: int, features: int, task: str, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Real, rounded (tied), two-valued and constant features; a few carry the target."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, features))
    X[:, : features // 5] = rng.integers(0, 2, size=(rows, features // 5)) * 3.0 + 1.0
    X[:, features // 5: features // 4] = np.round(X[:, features // 5: features // 4])
    X[:, -1] = 7.0
    if task == "regression":
        y = X[:, features // 2] + X[:, 0] + rng.normal(size=rows)
    else:
        y = rng.integers(0, classes, rows)
        X[:, features // 3: features // 3 + 4] += y[:, None] * np.linspace(0.3, 2.0, 4)
        X[:, 1] = np.where(y == 1, 4.0, X[:, 1])  # a two-valued feature that marks one class
    return X, y


@pytest.mark.parametrize("seed, rows, features, task, classes", [
    (0, 80, 120, "multiclass", 10),  # 8 rows a class: the exact Mann-Whitney test for columns without ties
    (1, 200, 60, "binary", 2),
    (2, 150, 60, "regression", 0),
    (3, 40, 40, "multiclass", 4),
    (4, 40, 30, "binary", 2),
])
def test_p_values_and_decisions_equal_tsfresh(seed, rows, features, task, classes):
    X, y = _problem(seed, rows, features, task, classes)
    p, relevant = relevance(X, y, task, 0.05)
    p_expected, relevant_expected = _tsfresh(X, y, task, 0.05)
    np.testing.assert_allclose(p, p_expected, rtol=1e-12, atol=1e-15)  # NaN where tsfresh has none: constants
    np.testing.assert_array_equal(relevant, relevant_expected)
    assert relevant.any() and not relevant.all()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), rows=st.integers(6, 60), features=st.integers(1, 12),
       task=st.sampled_from(["binary", "multiclass", "regression"]), fdr=st.sampled_from([0.05, 0.3]))
def test_any_small_problem_decides_as_tsfresh(seed, rows, features, task, fdr):
    rng = np.random.default_rng(seed)
    X = np.column_stack([_column(rng, rows, i) for i in range(features)])
    y = rng.normal(size=rows) if task == "regression" else rng.integers(0, 2 if task == "binary" else 3, rows)
    if task != "regression" and len(np.unique(y)) < 2:
        y[0], y[1] = 0, 1
    p, relevant = relevance(X, y, task, fdr)
    p_expected, relevant_expected = _tsfresh(X, y, task, fdr)
    np.testing.assert_allclose(p, p_expected, rtol=1e-10, atol=1e-14)
    np.testing.assert_array_equal(relevant, relevant_expected)


def _column(rng: np.random.Generator, rows: int, i: int) -> np.ndarray:
    kind = i % 4
    if kind == 0:
        return rng.normal(size=rows)
    if kind == 1:
        return np.round(rng.normal(size=rows))
    if kind == 2:
        return rng.integers(0, 2, rows) * 1.0
    return np.full(rows, 2.0)
