"""automl/search/step_cache.py: the FRESH filter fitted once per fold and input, reused across trials, never leaked."""
from __future__ import annotations

import os

import pytest

pytest.importorskip("tsfresh", reason="the synthesis extra is not installed")

import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from automl.pipeline.select import FeatureSelector, RelevanceFilter
from automl.search.step_cache import fit_reusing_step, fit_step, step_cache


def _pipeline() -> Pipeline:
    return Pipeline([("scale", StandardScaler()), ("filter", RelevanceFilter(task="binary")),
                     ("select", FeatureSelector()), ("model", LogisticRegression())])


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 40)
    X = rng.normal(size=(80, 12))
    X[:, :3] += 1.5 * y[:, None]  # three informative features, nine of noise
    return X, y


def _in_cache(location: str, X: np.ndarray, y: np.ndarray) -> bool:
    """Whether the cache holds the filter fitted on the scaled ``X``."""
    scaled = StandardScaler().fit_transform(X)
    return joblib.Memory(location, verbose=0).cache(fit_step).check_call_in_cache(RelevanceFilter(task="binary"),
                                                                                  scaled, y)


def test_a_pipeline_fitted_through_the_cache_equals_one_fitted_plainly(data):
    X, y = data
    plain = _pipeline().fit(X, y)
    with step_cache() as location:
        cached = fit_reusing_step(_pipeline(), X, y, {}, location)
        again = fit_reusing_step(_pipeline(), X, y, {}, location)
    for pipe in (cached, again):
        assert isinstance(pipe.named_steps["filter"], RelevanceFilter)
        np.testing.assert_array_equal(pipe.named_steps["filter"].support_, plain.named_steps["filter"].support_)
        np.testing.assert_allclose(pipe.predict_proba(X), plain.predict_proba(X))
    assert plain.named_steps["filter"].support_[:3].all()


def test_the_second_fit_on_the_same_rows_is_a_hit_and_another_fold_is_fitted_on_its_own_rows(data):
    X, y = data
    fold_a, fold_b = np.r_[0:30, 40:70], np.r_[10:40, 50:80]
    with step_cache() as location:
        fit_reusing_step(_pipeline(), X[fold_a], y[fold_a], {}, location)
        assert _in_cache(location, X[fold_a], y[fold_a])
        assert not _in_cache(location, X[fold_b], y[fold_b])  # another fold's rows are another key
        pipe = fit_reusing_step(_pipeline(), X[fold_b], y[fold_b], {}, location)
        own = RelevanceFilter(task="binary").fit(StandardScaler().fit_transform(X[fold_b]), y[fold_b])
        np.testing.assert_allclose(pipe.named_steps["filter"].p_values_, own.p_values_)  # no leak from fold a
        assert _in_cache(location, X[fold_b], y[fold_b])
    assert not os.path.exists(location)  # the cache lives for one fit


def test_a_changed_filter_parameter_is_another_key(data):
    X, y = data
    with step_cache() as location:
        fit_reusing_step(_pipeline(), X, y, {}, location)
        strict = _pipeline().set_params(filter__fdr_level=1e-9)
        pipe = fit_reusing_step(strict, X, y, {}, location)
        assert pipe.named_steps["filter"].fdr_level == 1e-9
        direct = RelevanceFilter(fdr_level=1e-9).fit(StandardScaler().fit_transform(X), y)
        np.testing.assert_array_equal(pipe.named_steps["filter"].support_, direct.support_)


def test_fit_params_reach_the_model(data):
    X, y = data
    weights = np.where(y == 1, 100.0, 1.0)
    with step_cache() as location:
        weighted = fit_reusing_step(_pipeline(), X, y, {"model__sample_weight": weights}, location)
    plain = _pipeline().fit(X, y, model__sample_weight=weights)
    np.testing.assert_allclose(weighted.predict_proba(X), plain.predict_proba(X))
    assert not np.allclose(weighted.predict_proba(X), _pipeline().fit(X, y).predict_proba(X))


@pytest.mark.slow
def test_fit_series_reuses_fresh_across_trials_and_removes_the_cache(tmp_path, monkeypatch):
    import tempfile
    from pathlib import Path

    from automl import AutoML
    from tests.generated import sine_or_sawtooth

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the fit opens its cache, to look into it
    fitted: list[int] = []  # filter fits cached after each finished trial

    def count(study, trial):
        fitted.append(len(list(tmp_path.glob("automl-steps-*/joblib/**/output.pkl"))))

    X, y = sine_or_sawtooth(60, seed=0, length=40)
    model = AutoML(time_budget=60, families=["lightgbm"], search="random", portfolio=None, max_trials=4, cv=2,
                   ensemble=False, synthesis_plan="richest", random_state=0, callbacks=[count])
    model.fit_series(X, y, column_id="id", column_sort="time")
    ok = model.leaderboard_[model.leaderboard_.status == "ok"]
    fold_fits = int(ok.n_folds.sum())
    assert len(ok) >= 3 and fitted[0] >= 2  # the first trial fits FRESH on each of its 2 folds (and its refit)
    assert 0 < fitted[-1] < fold_fits  # later trials found some folds' filter fitted on the same input
    assert "filter" in model.best_pipeline_.named_steps
    assert not list(Path(tmp_path).glob("automl-steps-*"))  # removed when the fit ended
