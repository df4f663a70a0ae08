"""End-to-end fits on small real and generated data: leaderboard, predictions, labels, weights."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from automl import AutoML, AutoMLClassifier, AutoMLRegressor
from automl.search.leaderboard import COLUMNS

FAST = dict(time_budget=60, max_trials=6, random_state=0, cv=3)


@pytest.mark.slow
def test_credit_g_binary_with_string_labels(credit):
    X, y = credit
    model = AutoML(search="defaults", **FAST).fit(X, y)
    assert model.task_ == "binary"
    assert list(model.classes_) == ["bad", "good"]
    board = model.leaderboard_
    assert list(board.columns[: len(COLUMNS)]) == COLUMNS
    ok = board[board.status == "ok"]
    # six trials: the first six families in default order (random forest comes seventh)
    assert set(ok.family) - {"ensemble"} == {"linear", "knn", "hist_gradient_boosting", "lightgbm", "extra_trees",
                                             "mlp"}
    assert ok.score.is_monotonic_decreasing  # roc_auc: best first
    assert (ok.score > 0.65).all() and (ok.n_folds == 3).all()
    # each trial's process peak memory: at least the interpreter with numpy, pandas and scikit-learn
    trials = ok[ok.family != "ensemble"]
    assert (trials.peak_memory_mb > 50).all() and (trials.peak_memory_mb < 4000).all()
    assert board["rank"].tolist() == list(range(1, len(board) + 1))
    assert model.best_score_ == pytest.approx(ok.score.iloc[0]) and model.best_family_ == ok.family.iloc[0]
    predictions = model.predict(X.head(50))
    assert set(predictions) <= {"bad", "good"}
    proba = model.predict_proba(X.head(50))
    assert proba.shape == (50, 2) and np.allclose(proba.sum(axis=1), 1.0)
    # the fitted pipeline is plain scikit-learn and predicts the same on its own
    assert np.array_equal(model.best_pipeline_.predict(X.head(50)), predictions)


@pytest.mark.slow
def test_portfolio_runs_cheapest_family_first(credit):
    X, y = credit
    model = AutoML(search="defaults", **FAST).fit(X, y)
    first = model.leaderboard_.sort_values("trial").family.tolist()
    assert first[0] == "linear" and first[1] == "knn"


@pytest.mark.slow
def test_multiclass_defaults_to_log_loss(mixed_frame):
    X, _ = mixed_frame
    y = pd.Series(np.array(["a", "b", "c"])[np.arange(len(X)) % 3])
    model = AutoML(families=["linear", "lightgbm"], **FAST).fit(X, y)
    assert model.task_ == "multiclass" and model.metric_.name == "log_loss"
    ok = model.leaderboard_[model.leaderboard_.status == "ok"]
    assert ok.score.is_monotonic_increasing  # lower is better
    assert model.predict_proba(X).shape == (len(X), 3)


@pytest.mark.slow
def test_regression_rmse_and_values(regression_frame):
    X, y = regression_frame
    model = AutoMLRegressor(families=["linear", "lightgbm", "random_forest"], **FAST).fit(X, y)
    assert model.task_ == "regression" and model.metric_.name == "rmse"
    assert model.best_score_ < y.std()  # better than predicting the mean
    assert model.predict(X).shape == (len(X),)
    assert not hasattr(model, "predict_proba")


@pytest.mark.slow
def test_mixed_roles_numpy_and_datetime(mixed_frame):
    X, y = mixed_frame
    model = AutoMLClassifier(families=["linear", "hist_gradient_boosting"], **FAST).fit(X, y)
    roles = {c.name: c.role for c in model.schema_.columns}
    assert roles == {"x1": "numeric", "x2": "numeric", "colour": "categorical", "flag": "boolean",
                     "when": "datetime"}
    unseen = X.head(5).assign(colour=["purple"] * 5)  # a category never seen in fit
    assert model.predict(unseen).shape == (5,)


@pytest.mark.slow
def test_numpy_input_gets_generated_names():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    y = (X[:, 0] > 0).astype(int)
    model = AutoML(families=["linear"], **FAST).fit(X, y)
    assert model.n_features_in_ == 3 and not hasattr(model, "feature_names_in_")
    assert set(model.predict(X)) <= {0, 1}


@pytest.mark.slow
def test_explicit_metric_name_and_scorer(credit):
    X, y = credit
    model = AutoML(metric="accuracy", families=["linear"], **FAST).fit(X, y)
    assert model.metric_.name == "accuracy" and 0.6 < model.best_score_ <= 1.0
    model = AutoML(metric="balanced_accuracy", families=["linear"], **FAST).fit(X, y)
    assert model.metric_.greater_is_better


@pytest.mark.slow
def test_sample_weight_reaches_models_and_metric(credit):
    X, y = credit
    weights = np.where(y == "bad", 5.0, 1.0)
    families = ["linear", "knn", "lightgbm", "random_forest", "mlp"]
    model = AutoML(search="defaults", **{**FAST, "families": families}).fit(X, y, sample_weight=weights)
    ok = set(model.leaderboard_[model.leaderboard_.status == "ok"].family)
    assert set(families) <= ok  # every family takes the weights
    unweighted = AutoML(search="defaults", families=["linear"], **FAST).fit(X, y)
    weighted = AutoML(search="defaults", families=["linear"], **FAST).fit(X, y, sample_weight=weights)
    # heavier "bad" rows move the model toward predicting "bad"
    assert (weighted.predict(X) == "bad").sum() > (unweighted.predict(X) == "bad").sum()


@pytest.mark.slow
def test_reproducible_with_max_trials(credit):
    X, y = credit
    params = dict(time_budget=None, max_trials=6, random_state=7, cv=3, families=["linear", "lightgbm"])
    a = AutoML(**params).fit(X, y).leaderboard_
    b = AutoML(**params).fit(X, y).leaderboard_
    columns = ["trial", "family", "params", "score", "status"]
    pd.testing.assert_frame_equal(a[columns], b[columns])


@pytest.mark.slow
def test_imbalanced_classes_try_class_weighting(credit):
    X, y = credit
    keep = (y == "good") | (np.arange(len(y)) % 6 == 0)  # about 1 bad for 12 good
    model = AutoML(search="defaults", families=["linear", "lightgbm"], **FAST).fit(X[keep], y[keep])
    weighted = [json.loads(p).get("class_weight") for p in model.leaderboard_.params]
    assert "balanced" in weighted


@pytest.mark.slow
def test_a_free_text_column_is_modelled_end_to_end(tmp_path):
    from automl.io.persist import load, save

    rng = np.random.default_rng(3)
    good = ["great service and friendly staff", "lovely food would come again", "excellent value and quick"]
    bad = ["terrible wait and cold food", "rude staff never again", "awful noise and dirty tables"]
    n = 240
    label = rng.integers(0, 2, size=n)
    review = [f"{rng.choice(good if y else bad)} visit {i}" for i, y in enumerate(label)]
    X = pd.DataFrame({"review": review, "table": rng.integers(1, 20, size=n)})
    y = pd.Series(np.where(label == 1, "liked", "disliked"))
    model = AutoML(time_budget=60, max_trials=2, families=["linear"], search="defaults", portfolio=None, cv=3,
                   random_state=0).fit(X, y)
    roles = {c.name: c.role for c in model.schema_.columns}
    assert roles["review"] == "text"
    assert model.leaderboard_.status.iloc[0] == "ok" and model.best_score_ > 0.9  # the words carry the label
    new = pd.DataFrame({"review": ["friendly staff and great food", "cold food and a rude waiter"], "table": [3, 4]})
    assert model.predict(new).tolist() == ["liked", "disliked"]  # words in new combinations, one never seen
    loaded = load(save(model, tmp_path / "m"))
    assert np.allclose(loaded.predict_proba(new), model.predict_proba(new))
