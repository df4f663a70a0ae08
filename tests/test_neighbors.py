"""Weighted k-nearest neighbours: unweighted they equal scikit-learn's; weights move the votes."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

from automl.models.neighbors import WeightedKNeighborsClassifier, WeightedKNeighborsRegressor, direct_answer


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    return X, np.where(X[:, 0] + rng.normal(scale=1.0, size=200) > 0, "a", "b")


@pytest.mark.parametrize("weights", ["uniform", "distance"])
def test_unweighted_equals_sklearn(data, weights):
    X, y = data
    ours = WeightedKNeighborsClassifier(n_neighbors=7, weights=weights).fit(X, y)
    theirs = KNeighborsClassifier(n_neighbors=7, weights=weights).fit(X, y)
    assert np.allclose(ours.predict_proba(X), theirs.predict_proba(X))
    values = X[:, 1] * 3
    assert np.allclose(WeightedKNeighborsRegressor(n_neighbors=7, weights=weights).fit(X, values).predict(X),
                       KNeighborsRegressor(n_neighbors=7, weights=weights).fit(X, values).predict(X))


@pytest.mark.parametrize("weights", ["uniform", "distance"])
def test_equal_weights_change_nothing(data, weights):
    X, y = data
    plain = WeightedKNeighborsClassifier(n_neighbors=7, weights=weights).fit(X, y)
    equal = WeightedKNeighborsClassifier(n_neighbors=7, weights=weights).fit(X, y, sample_weight=np.full(200, 3.0))
    assert np.allclose(plain.predict_proba(X[:50] + 0.01), equal.predict_proba(X[:50] + 0.01))


def test_heavy_rows_win_votes(data):
    X, y = data
    heavy = np.where(y == "a", 10.0, 1.0)
    plain = WeightedKNeighborsClassifier(n_neighbors=15).fit(X, y)
    weighted = WeightedKNeighborsClassifier(n_neighbors=15).fit(X, y, sample_weight=heavy)
    assert (weighted.predict(X) == "a").sum() > (plain.predict(X) == "a").sum()
    proba = weighted.predict_proba(X)
    assert np.allclose(proba.sum(axis=1), 1.0)
    regression = WeightedKNeighborsRegressor(n_neighbors=15).fit(X, (y == "a").astype(float), sample_weight=heavy)
    assert regression.predict(X).mean() > (y == "a").mean()


@pytest.mark.parametrize("algorithm", ["brute", "kd_tree", "ball_tree"])
@pytest.mark.parametrize("weights", ["uniform", "distance"])
@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("sample_weighted", [False, True])
def test_direct_answer_equals_predict(data, algorithm, weights, p, sample_weighted):
    """The direct answer (the same neighbour search without kneighbors' checks) answers as predict_proba / predict,
    including ties: rows on a grid, queried at training points (an exact match: distance weights of infinity)."""
    X, y = data
    X = np.round(X * 2) / 2  # many equal distances
    sample_weight = np.linspace(0.5, 2.0, len(y)) if sample_weighted else None
    queries = np.ascontiguousarray(np.vstack([X[:20], X[20:40] + 0.25]))
    kwargs = dict(n_neighbors=9, weights=weights, p=p, algorithm=algorithm)
    classifier = WeightedKNeighborsClassifier(**kwargs).fit(X, y, sample_weight=sample_weight)
    np.testing.assert_allclose(direct_answer(classifier)(queries), classifier.predict_proba(queries),
                               rtol=1e-12, atol=1e-15)
    regressor = WeightedKNeighborsRegressor(**kwargs).fit(X, X[:, 1] * 3, sample_weight=sample_weight)
    np.testing.assert_allclose(direct_answer(regressor)(queries)[:, 0], regressor.predict(queries),
                               rtol=1e-12, atol=1e-15)


def test_direct_answer_leaves_what_it_does_not_cover(data):
    X, y = data
    assert direct_answer(KNeighborsClassifier(metric=lambda a, b: float(np.abs(a - b).sum())).fit(X, y)) is None
    assert direct_answer(KNeighborsRegressor().fit(X, np.column_stack([X[:, 0], X[:, 1]]))) is None
    plain = KNeighborsClassifier(n_neighbors=5).fit(X, y)
    floats32 = np.asarray(X[:5], dtype=np.float32)  # a dtype the reduction does not pair: the ordinary way
    np.testing.assert_array_equal(direct_answer(plain)(floats32), plain.predict_proba(floats32))
