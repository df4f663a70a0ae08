"""Small data: a trial's model is the average of its cross-validation fold models (bagging), not one refit."""
from __future__ import annotations

import numpy as np
import pytest

from automl import AutoML, load, save

FAST = dict(time_budget=60, search="defaults", portfolio=None, random_state=0)


def _members(model: AutoML) -> list:
    step = model.best_pipeline_.steps[-1][1]
    return list(step._members()) if hasattr(step, "_members") else [model.best_pipeline_]


def test_with_five_folds_the_model_is_the_average_of_the_fold_models(credit, tmp_path):
    X, y = credit
    model = AutoML(families=["lightgbm"], max_trials=1, cv=5, ensemble=False, **FAST).fit(X, y)
    members = _members(model)
    assert len(members) == 5 and all("cast" in dict(m.steps) for m in members)  # plain fold pipelines
    rows = X.head(50)
    expected = np.mean([m.predict_proba(rows) for m in members], axis=0)
    np.testing.assert_allclose(model.predict_proba(rows), expected)
    assert model.refit_time_ < 5  # nothing was refitted: the fold models came back with the trial
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
