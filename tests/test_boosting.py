"""LightGBM early stopping on held-out training rows, inside the pipeline."""
from __future__ import annotations

import numpy as np
from lightgbm import LGBMClassifier, LGBMRegressor

from automl.models.boosting import EarlyStopping
from automl.models.registry import all_families


def _data(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 5))
    return X, (X[:, 0] + 0.3 * rng.normal(size=n) > 0).astype(int)


def test_stops_before_the_round_limit_on_enough_rows():
    X, y = _data(3000)
    model = EarlyStopping(LGBMClassifier(n_estimators=1000, learning_rate=0.3, verbose=-1), patience=20,
                          random_state=0).fit(X, y)
    assert model.best_iteration_ < 1000
    assert list(model.classes_) == [0, 1] and model.predict_proba(X[:3]).shape == (3, 2)
    regressor = EarlyStopping(LGBMRegressor(n_estimators=1000, learning_rate=0.3, verbose=-1), patience=20,
                              random_state=0).fit(X, X[:, 0] * 2)
    assert regressor.best_iteration_ < 1000


def test_small_data_fits_every_round():
    X, y = _data(300)
    model = EarlyStopping(LGBMClassifier(n_estimators=40, verbose=-1), random_state=0).fit(X, y)
    assert model.best_iteration_ == 40


def test_sample_weight_is_used():
    X, y = _data(3000)
    heavy = np.where(y == 1, 20.0, 1.0)
    plain = EarlyStopping(LGBMClassifier(verbose=-1), random_state=0).fit(X, y)
    weighted = EarlyStopping(LGBMClassifier(verbose=-1), random_state=0).fit(X, y, sample_weight=heavy)
    assert weighted.predict(X).mean() > plain.predict(X).mean()


def test_lightgbm_family_is_wrapped():
    model = all_families()["lightgbm"].make("binary", {}, random_state=0, n_jobs=1)
    assert isinstance(model, EarlyStopping) and isinstance(model.estimator, LGBMClassifier)
