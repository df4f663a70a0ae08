"""Small data: a trial's model is the average of its cross-validation fold models (bagging), not one refit."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.pipeline import Pipeline

from automl import AutoML, load, save

FAST = dict(time_budget=60, search="defaults", portfolio=None, random_state=0)


def _members(model: "AutoML | Pipeline") -> list:
    pipeline = getattr(model, "best_pipeline_", model)
    step = pipeline.steps[-1][1]
    return list(step._members()) if hasattr(step, "_members") else [pipeline]


def test_with_five_folds_the_model_is_the_average_of_the_fold_models(credit, tmp_path):
    X, y = credit
    model = AutoML(families=["lightgbm"], max_trials=1, cv=5, ensemble=False, **FAST).fit(X, y)
    members = _members(model)
    assert len(members) == 5 and all("cast" in dict(m.steps) for m in members)  # plain fold pipelines
    rows = X.head(50)
    expected = np.mean([m.predict_proba(rows) for m in members], axis=0)
    np.testing.assert_allclose(model.predict_proba(rows), expected)
    assert model.refit_time_ < 5  # nothing was refitted: the fold models came back with the trial
    # each fold model stopped on its validation fold; the trial records their mean rounds for a refit elsewhere
    kept = [m.steps[-1][1].estimator_.best_iteration_ for m in members]
    assert model.study_.trials[0].user_attrs["rounds"] == pytest.approx(np.mean(kept))
    loaded = load(save(model, tmp_path / "bagged"))
    np.testing.assert_allclose(loaded.predict_proba(rows), expected)


@pytest.mark.parametrize("cv, bagging, families, expected", [
    (3, "auto", ["lightgbm"], 1),        # auto bags from 5 folds
    (3, True, ["lightgbm"], 3),          # asked for: every fold model
    (5, False, ["lightgbm"], 1),         # turned off
    (5, "auto", ["random_forest"], 1),   # the forests are bagged already: refitted once
])
def test_bagging_follows_the_folds_the_option_and_the_family(credit, cv, bagging, families, expected):
    X, y = credit
    model = AutoML(families=families, max_trials=1, cv=cv, ensemble=False, bagging=bagging, **FAST).fit(X, y)
    assert len(_members(model)) == expected


@pytest.mark.slow
def test_an_ensemble_of_bagged_trials_holds_plain_pipelines_weighted_to_one(credit):
    X, y = credit
    model = AutoML(families=["linear", "lightgbm"], max_trials=2, cv=5, **FAST).fit(X, y)
    if model.best_family_ != "ensemble":
        pytest.skip(f"no ensemble was chosen here (best: {model.best_family_})")
    ensemble = model.best_pipeline_.steps[-1][1]
    members = list(ensemble._members())
    assert len(members) == 10 and all("cast" in dict(m.steps) for m in members)  # 2 trials x 5 folds, flat
    assert sum(ensemble.weights) == pytest.approx(1.0)


@pytest.mark.parametrize("budget, expected", [(60, 5), (300, 8)])
def test_a_longer_budget_buys_more_folds_and_bags_them(credit, budget, expected):
    X, y = credit  # 1,000 rows: 5 folds at the default budget, 8 from 1.5 times it
    model = AutoML(families=["lightgbm"], max_trials=1, ensemble=False,
                   **{**FAST, "time_budget": budget}).fit(X, y)
    assert int(model.leaderboard_["n_folds"].iloc[0]) == expected
    assert len(_members(model)) == expected


def test_a_bagged_boosting_trial_stops_each_fold_on_its_validation_rows_at_rounds_the_other_folds_chose():
    """Each fold model is fitted on all its training rows and stopped on its validation fold; it keeps the round
    with the best mean validation loss of the *other* folds (its own rows do not choose it), and its fold score is
    that cut model's score on its validation rows."""
    import pandas as pd
    from sklearn.metrics import log_loss
    from sklearn.model_selection import StratifiedKFold

    from automl.data.schema import infer_schema
    from automl.metrics import get_metric
    from automl.models.boosting import nested_rounds
    from automl.models.registry import all_families
    from automl.pipeline.build import TrialConfig
    from automl.search.evaluate import TrialTask, evaluate, stopping_model

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(600, 6)), columns=[f"x{i}" for i in range(6)])
    labels = np.where(X["x0"] + 0.8 * rng.normal(size=600) > 0, "yes", "no")
    folds = list(StratifiedKFold(5, shuffle=True, random_state=0).split(X, labels))
    config = TrialConfig(family=all_families()["lightgbm"], params={"n_estimators": 1000, "learning_rate": 0.1})
    task = TrialTask(config=config, schema=infer_schema(X)[0], task="binary", metric=get_metric("log_loss", "binary"),
                     classes=np.array(["no", "yes"]), folds=folds, random_state=0, n_jobs=1, bag=True,
                     stop_on_folds=True)
    result = evaluate(task, X, labels, None, lambda step, score, seconds: True)
    assert result.status == "ok" and result.bagged
    fold_models = _members(result.refit_model)
    stoppers = [stopping_model(m.steps[-1][1]) for m in fold_models]
    curves = [s.validation_curve_ for s in stoppers]
    assert all(len(c) < 1000 for c in curves)  # stopped, on 120 validation rows each
    assert [s.best_iteration_ for s in stoppers] == nested_rounds(curves)
    for (_, valid), model, score in zip(folds, fold_models, result.fold_scores):
        proba = model.predict_proba(X.iloc[valid])
        assert score == pytest.approx(log_loss(labels[valid], proba, labels=["no", "yes"]))
        np.testing.assert_allclose(result.oof[valid], proba)
    # a fold's rounds do not move with its own validation curve: the best of its own curve is often elsewhere
    assert any(s.best_iteration_ != int(np.argmin(c)) + 1 for s, c in zip(stoppers, curves))
