"""LightGBM and CatBoost early stopping on held-out training rows, inside the pipeline."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from lightgbm import LGBMClassifier, LGBMRegressor

from automl.models.boosting import CatBoostEarlyStopping, LightGBMEarlyStopping
from automl.models.registry import all_families


def _data(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 5))
    return X, (X[:, 0] + 0.3 * rng.normal(size=n) > 0).astype(int)


HAS_CATBOOST = importlib.util.find_spec("catboost") is not None
needs_catboost = pytest.mark.skipif(not HAS_CATBOOST, reason="the catboost extra is not installed")


def _catboost(kind: str):  # noqa: ANN202
    from catboost import CatBoostClassifier, CatBoostRegressor

    cls = CatBoostClassifier if kind == "classifier" else CatBoostRegressor
    return cls(iterations=1000, learning_rate=0.3, verbose=0, thread_count=1, allow_writing_files=False)


# the two libraries' classifier and regressor, with at most 1,000 rounds at a fast learning rate, and their
# early-stopping wrapper
LIBRARIES = {
    "lightgbm": (lambda: LGBMClassifier(n_estimators=1000, learning_rate=0.3, verbose=-1),
                 lambda: LGBMRegressor(n_estimators=1000, learning_rate=0.3, verbose=-1), LightGBMEarlyStopping),
    "catboost": (lambda: _catboost("classifier"), lambda: _catboost("regressor"), CatBoostEarlyStopping),
}
CASES = [pytest.param(name, marks=needs_catboost) if name == "catboost" else name for name in sorted(LIBRARIES)]


@pytest.mark.parametrize("library", CASES)
def test_stops_before_the_round_limit_on_enough_rows(library):
    classifier, regressor, wrapper = LIBRARIES[library]
    X, y = _data(3000)
    model = wrapper(classifier(), patience=20, random_state=0).fit(X, y)
    assert model.best_iteration_ < 1000
    assert list(model.classes_) == [0, 1] and model.predict_proba(X[:3]).shape == (3, 2)
    fitted = wrapper(regressor(), patience=20, random_state=0).fit(X, X[:, 0] * 2)
    assert fitted.best_iteration_ < 1000
    assert np.corrcoef(fitted.predict(X), X[:, 0])[0, 1] > 0.95


def test_small_data_fits_every_round():
    X, y = _data(300)
    model = LightGBMEarlyStopping(LGBMClassifier(n_estimators=40, verbose=-1), random_state=0).fit(X, y)
    assert model.best_iteration_ == 40


@pytest.mark.parametrize("rows", [300, 3000])  # fitted plainly, and with its early-stopping holdout
def test_lightgbm_rounds_stop_at_max_seconds(rows):
    """A spent time allowance ends the rounds with a usable model (not an error): one round here; without it the
    same fit boosts on."""
    X, y = _data(rows)
    slow = dict(n_estimators=1000, learning_rate=0.01, verbose=-1)
    capped = LightGBMEarlyStopping(LGBMClassifier(**slow), patience=1000, random_state=0, max_seconds=0.0).fit(X, y)
    assert capped.best_iteration_ == 1 and capped.estimator_.booster_.num_trees() >= 1
    assert capped.predict_proba(X[:3]).shape == (3, 2)
    free = LightGBMEarlyStopping(LGBMClassifier(**{**slow, "n_estimators": 150}), patience=1000, random_state=0)
    assert free.fit(X, y).best_iteration_ > 100


@pytest.mark.parametrize("library", CASES)
def test_sample_weight_is_used(library):
    classifier, _, wrapper = LIBRARIES[library]
    X, y = _data(3000)
    heavy = np.where(y == 1, 20.0, 1.0)
    plain = wrapper(classifier(), random_state=0).fit(X, y)
    weighted = wrapper(classifier(), random_state=0).fit(X, y, sample_weight=heavy)
    assert weighted.predict(X).mean() > plain.predict(X).mean()


def test_lightgbm_family_is_wrapped():
    model = all_families()["lightgbm"].make("binary", {}, random_state=0, n_jobs=1)
    assert isinstance(model, LightGBMEarlyStopping) and isinstance(model.estimator, LGBMClassifier)


@needs_catboost
def test_catboost_family_is_wrapped_quiet_and_writes_no_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = all_families()["catboost"].make("regression", {"iterations": 20}, random_state=0, n_jobs=1)
    from catboost import CatBoostRegressor

    assert isinstance(model, CatBoostEarlyStopping) and isinstance(model.estimator, CatBoostRegressor)
    X, y = _data(200)
    model.fit(X, y.astype(float))
    assert model.best_iteration_ == 20 and list(tmp_path.iterdir()) == []  # no catboost_info folder
