"""Weighted k-nearest neighbours: unweighted they equal scikit-learn's; weights move the votes."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

from automl.models.neighbors import WeightedKNeighborsClassifier, WeightedKNeighborsRegressor


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
