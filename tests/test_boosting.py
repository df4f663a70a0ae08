"""LightGBM and CatBoost early stopping on held-out training rows, inside the pipeline."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
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


@needs_catboost
@pytest.mark.parametrize("rows", [300, 3000])  # fitted plainly, and with its early-stopping holdout
def test_catboost_rounds_stop_at_max_seconds(rows):
    """CatBoost's rounds end at a spent allowance too, with a usable model of at least one tree."""
    X, y = _data(rows)
    slow = _catboost("classifier").set_params(learning_rate=0.01)
    capped = CatBoostEarlyStopping(slow, patience=1000, random_state=0, max_seconds=0.0).fit(X, y)
    assert 1 <= capped.estimator_.tree_count_ <= 2
    assert capped.predict_proba(X[:3]).shape == (3, 2)
    free = CatBoostEarlyStopping(slow.set_params(iterations=150), patience=1000, random_state=0).fit(X, y)
    assert free.estimator_.tree_count_ > 100


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


def test_stopping_on_given_validation_rows_records_their_curve_and_keeps_any_first_rounds():
    X, y = _data(600)
    model = LightGBMEarlyStopping(LGBMClassifier(n_estimators=1000, learning_rate=0.3, verbose=-1), patience=20,
                                  random_state=0)
    model.fit(X[:400], y[:400], validation=(X[400:], y[400:], None))
    curve = model.validation_curve_
    # every training row is fitted (below 1,000 rows no holdout would have stopped it at all), stopped on the rows
    # given 20 rounds after their best, every round kept (to be cut where other folds choose)
    assert len(curve) == model.best_iteration_ == model.estimator_.booster_.current_iteration() < 1000
    assert int(np.argmin(curve)) + 1 + 20 == len(curve)
    full = model.estimator_.booster_.predict(X[:5], num_iteration=7)
    every = model.predict_proba(X[:5])[:, 1]
    model.predict_with_rounds(7)  # for the pruner's score: no round dropped
    assert np.allclose(model.predict_proba(X[:5])[:, 1], full) and model.best_iteration_ == 7
    assert model.estimator_.booster_.current_iteration() == len(curve)
    assert np.allclose(model.predict_with_rounds(None).predict_proba(X[:5])[:, 1], every)
    model.keep_rounds(7)
    assert model.best_iteration_ == 7 and model.estimator_.booster_.current_iteration() == 7
    assert np.allclose(model.predict_proba(X[:5])[:, 1], full)
    assert model.keep_rounds(10_000).best_iteration_ == 7  # it cannot keep rounds it no longer has


def test_a_validation_class_the_training_rows_lack_is_left_out_of_the_stop():
    from automl.pipeline.labels import EncodedLabelClassifier

    X, y = _data(300)
    labels = np.where(y == 1, "yes", "no")
    valid_labels = labels[200:].copy()
    valid_labels[:5] = "maybe"  # unseen in training: no code, no loss
    model = EncodedLabelClassifier(LightGBMEarlyStopping(LGBMClassifier(n_estimators=200, verbose=-1), patience=10))
    model.fit(X[:200], labels[:200], validation=(X[200:], valid_labels, None))
    assert model.estimator_.validation_curve_ is not None and list(model.classes_) == ["no", "yes"]
    only_unseen = (X[200:205], np.array(["maybe"] * 5), None)  # nothing to stop on: its own holdout rules instead
    assert model.fit(X[:200], labels[:200], validation=only_unseen).estimator_.validation_curve_ is None


@given(st.lists(st.lists(st.floats(0.0, 10.0), min_size=1, max_size=30), min_size=2, max_size=8),
       st.integers(0, 7), st.lists(st.floats(0.0, 10.0), min_size=1, max_size=30))
def test_a_folds_rounds_come_from_the_other_folds_curves_only(curves, fold, replacement):
    from automl.models.boosting import nested_rounds

    curves = [np.asarray(c) for c in curves]
    fold = fold % len(curves)
    rounds = nested_rounds(curves)
    changed = [replacement if k == fold else c for k, c in enumerate(curves)]
    longest = max(len(c) for c in curves)
    assert all(1 <= r <= max(longest, len(replacement)) for r in rounds)
    if len(replacement) <= longest:  # the other folds' padded curves are the same length: fold k's choice is unmoved
        assert nested_rounds([np.asarray(c) for c in changed])[fold] == rounds[fold]
    # the round chosen is the best of the others' mean (a fold that stopped keeps its last loss)
    others = np.array([np.pad(c, (0, longest - len(c)), mode="edge") for k, c in enumerate(curves) if k != fold])
    assert others.mean(axis=0)[rounds[fold] - 1] == pytest.approx(others.mean(axis=0).min())
    # alone, a fold's own best; without a curve (not stopped on validation rows), nothing to cut
    assert nested_rounds([curves[0], None]) == [int(np.argmin(curves[0])) + 1, None]


def test_a_refit_boosts_exactly_the_rounds_it_is_given_on_every_row():
    X, y = _data(3000)  # enough rows for a holdout, which a given number of rounds turns off
    model = LightGBMEarlyStopping(LGBMClassifier(n_estimators=1000, learning_rate=0.3, verbose=-1), rounds=37,
                                  random_state=0).fit(X, y)
    assert model.best_iteration_ == 37 and model.estimator_.booster_.current_iteration() == 37
    assert model.estimator_.n_estimators == 37 and model.validation_curve_ is None
