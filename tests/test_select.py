"""Feature selection as a searched pipeline step: what each method keeps, and that it never sees validation rows."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from automl import AutoML
from automl.models.registry import all_families
from automl.pipeline.select import METHODS, FeatureSelector, RelevanceFilter

SCORING = [m for m in METHODS if m != "none"]


@pytest.mark.parametrize("method", SCORING)
@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_each_method_keeps_the_informative_features(method, task):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 30))
    signal = X[:, :4].sum(axis=1) + rng.normal(scale=0.5, size=300)  # the first 4 columns matter
    if task == "regression":
        y = signal
    else:  # string labels, as the pipeline passes them
        y = np.array(["a", "b", "c"])[np.digitize(signal, [0.0] if task == "binary" else [-1.0, 1.0])]
    X[::7, 10] = np.nan  # missing values are allowed
    selector = FeatureSelector(method, fraction=4 / 30, task=task, random_state=0).fit(X, y)
    kept = np.flatnonzero(selector.get_support())
    assert len(kept) == 4 and selector.n_features_selected_ == 4
    assert len(set(kept) & {0, 1, 2, 3}) >= 3, (method, kept)
    assert selector.transform(X).shape == (300, 4)


@settings(max_examples=25, deadline=None)
@given(n_features=st.integers(1, 40), fraction=st.floats(0.01, 1.0), method=st.sampled_from(METHODS))
def test_fraction_sets_the_number_kept(n_features, fraction, method):
    rng = np.random.default_rng(n_features)
    X = rng.normal(size=(40, n_features))
    X[:, 0] = 0.0  # a constant column scores 0, not NaN
    y = rng.integers(0, 2, size=40)
    selector = FeatureSelector(method, fraction=fraction, random_state=0).fit(X, y)
    expected = n_features if method == "none" else max(1, math.ceil(fraction * n_features))
    assert selector.n_features_selected_ == expected == selector.transform(X).shape[1]
    assert clone(selector).get_params() == selector.get_params()


def test_bad_settings_name_the_remedy():
    X, y = np.zeros((10, 3)), np.arange(10) % 2
    with pytest.raises(ValueError, match="choose one of"):
        FeatureSelector("chi2").fit(X, y)
    with pytest.raises(ValueError, match="fraction must be in"):
        FeatureSelector("f_test", fraction=0.0).fit(X, y)


def test_fresh_filter_keeps_relevant_and_drops_noise():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=200)
    X = np.column_stack([y + rng.normal(scale=0.5, size=200), rng.normal(size=(200, 20))])
    fresh = RelevanceFilter(task="binary").fit(X, y)
    assert fresh.support_[0] and fresh.support_[1:].sum() <= 2 and not fresh.fallback_
    noise_only = RelevanceFilter(task="binary").fit(X[:, 1:], y)
    assert noise_only.fallback_ and noise_only.n_features_selected_ == 5


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_fresh_filter_handles_multiclass_and_regression(task):
    rng = np.random.default_rng(1)
    signal = rng.normal(size=240)
    y = signal if task == "regression" else np.array(["a", "b", "c"])[np.digitize(signal, [-0.5, 0.5])]
    X = np.column_stack([signal + rng.normal(scale=0.3, size=240), rng.normal(size=(240, 15))])
    fresh = RelevanceFilter(task=task).fit(X, y)
    assert fresh.support_[0] and fresh.support_[1:].sum() <= 2 and fresh.transform(X).shape[0] == 240


def _noise_problem(n_rows: int = 120, n_features: int = 1000) -> tuple[pd.DataFrame, pd.Series]:
    """Labels independent of every feature: any honest validation score is near chance."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(n_rows, n_features)), columns=[f"n{i}" for i in range(n_features)])
    return X, pd.Series(rng.permutation(np.repeat(["a", "b"], n_rows // 2)))


@pytest.mark.slow
def test_selection_on_full_data_is_impossible_through_the_public_api():
    """Keeping the 10 of 1,000 noise features most correlated with the labels *on all rows* makes a
    cross-validated AUC look good (the known selection bias); the engine's score stays at chance because the
    selector is fitted inside each fold."""
    X, y = _noise_problem()
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    leaked = FeatureSelector("f_test", fraction=0.01).fit(X.to_numpy(), y).transform(X.to_numpy())
    leaked_auc = roc_auc_score(y, cross_val_predict(LogisticRegression(), leaked, y, cv=folds,
                                                    method="predict_proba")[:, 1])
    assert leaked_auc > 0.75  # what selecting outside the folds would report
    linear = all_families()["linear"]
    selecting = dataclasses.replace(linear, needs={**linear.needs, "select": "f_test", "select_fraction": 0.01})
    model = AutoML(time_budget=60, families=[selecting], search="defaults", cv=folds, ensemble=False,
                   random_state=0).fit(X, y)
    row = model.leaderboard_.iloc[0]
    assert row.status == "ok" and row.n_features_selected == 10 and row.n_features_synthesised == 1000
    assert model.best_score_ < 0.65
    step = model.best_pipeline_.steps[-1][1]  # with 5 folds the model is the bag of the fold pipelines
    members = list(step._members()) if hasattr(step, "_members") else [model.best_pipeline_]
    assert len(members) >= 1 and all(m.named_steps["select"].n_features_selected_ == 10 for m in members)


@pytest.mark.slow
def test_leaderboard_counts_features_per_trial(credit):
    X, y = credit
    model = AutoML(time_budget=60, families=["linear", "lightgbm"], search="random", max_trials=8, cv=3,
                   ensemble=False, random_state=0).fit(X, y)
    ok = model.leaderboard_[model.leaderboard_.status == "ok"]
    assert (ok.n_features_selected <= ok.n_features_synthesised).all()
    params = ok.params.map(lambda p: pd.read_json(pd.io.common.StringIO(f"[{p}]")).iloc[0].to_dict())
    for (_, row), chosen in zip(ok.iterrows(), params):
        fraction = chosen.get("preprocess.select_fraction")
        if fraction is not None:
            assert row.n_features_selected == max(1, math.ceil(fraction * row.n_features_synthesised))
        else:
            assert row.n_features_selected == row.n_features_synthesised
