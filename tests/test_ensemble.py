"""Ensemble selection: the greedy selection itself, and the ensemble as the fitted model."""
from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier

from automl import AutoML
from automl.metrics import get_metric
from automl.search.ensemble import select_ensemble


def test_selection_prefers_complementary_models():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=400)
    noise_a, noise_b = rng.normal(scale=0.8, size=400), rng.normal(scale=0.8, size=400)
    truth = y.astype(float)

    def proba(noise):  # noqa: ANN001
        p = 1 / (1 + np.exp(-(truth - 0.5 + noise) * 3))
        return np.column_stack([1 - p, p])

    useless = np.full((400, 2), 0.5)
    oof = {0: proba(noise_a), 1: proba(noise_b), 2: useless}
    metric = get_metric("log_loss", "binary")
    selection = select_ensemble(oof, y, metric, classes=np.array([0, 1]))
    assert set(selection.weights) == {0, 1}  # the two independent models, not the useless one
    single = min(metric.from_predictions(y, oof[i], None, np.array([0, 1])) for i in (0, 1))
    assert selection.score < single
    assert sum(selection.weights.values()) == pytest.approx(1.0)


def test_selection_skips_scorer_metrics():
    from sklearn.metrics import get_scorer

    metric = get_metric(get_scorer("accuracy"), "binary")
    assert select_ensemble({0: np.zeros((4, 2))}, np.array([0, 1, 0, 1]), metric, np.array([0, 1])) is None


@pytest.mark.slow
def test_ensemble_is_the_model_and_a_leaderboard_row(credit):
    X, y = credit
    model = AutoML(time_budget=60, max_trials=4, search="defaults", random_state=0, cv=3,
                   families=["linear", "knn", "lightgbm", "extra_trees"]).fit(X, y)
    board = model.leaderboard_
    row = board[board.family == "ensemble"]
    assert len(row) == 1 and row.status.iloc[0] == "ok"
    members = json.loads(row.params.iloc[0])["weights"]
    assert len(members) >= 2 and set(map(int, members)) <= set(board.trial)
    assert model.best_family_ == "ensemble" and board.family.iloc[0] == "ensemble"
    assert model.predict_proba(X.head(4)).shape == (4, 2)
    without = AutoML(time_budget=60, max_trials=2, search="defaults", random_state=0, cv=3,
                     families=["linear", "knn"], ensemble=False).fit(X, y)
    assert "ensemble" not in set(without.leaderboard_.family)


def test_candidates_put_each_family_first():
    from types import SimpleNamespace

    from automl.search.study import diverse_first

    trials = [SimpleNamespace(number=i, user_attrs={"family": f}) for i, f in
              enumerate(["linear", "linear", "linear", "lightgbm", "linear", "knn"])]
    assert [t.number for t in diverse_first(trials)] == [0, 3, 5, 1, 2, 4]


def test_selection_keeps_its_best_round():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, size=300)
    good = np.column_stack([1 - y * 0.8 - 0.1, y * 0.8 + 0.1])
    worse = np.column_stack([1 - y * 0.6 - 0.2, y * 0.6 + 0.2])
    metric = get_metric("log_loss", "binary")
    selection = select_ensemble({0: good, 1: worse}, y, metric, classes=np.array([0, 1]))
    # adding the worse model only hurts: the selection stays with the good one and reports its score
    assert selection.weights == {0: 1.0}
    assert selection.score == pytest.approx(metric.from_predictions(y, good, None, np.array([0, 1])))


@pytest.mark.slow
def test_an_ensemble_pipeline_is_a_plain_estimator_that_refits_all_its_members(credit):
    from sklearn.base import clone

    X, y = credit
    model = AutoML(time_budget=60, max_trials=3, families=["linear", "knn", "random_forest"], search="defaults",
                   portfolio=None, random_state=0, cv=3).fit(X, y)
    assert model.best_family_ == "ensemble"
    twin = clone(model.best_pipeline_)
    ensemble = twin.named_steps["ensemble"]
    assert not hasattr(ensemble, "estimators_")  # a clone is unfitted
    twin.fit(X.head(600), y.head(600))
    members = ensemble.estimators_
    assert len(members) == len(model.best_pipeline_.named_steps["ensemble"].estimators_)
    # every member was fitted again, on the 600 rows given
    assert all(m.named_steps["model"].estimator_ is not None for m in members)
    assert twin.predict_proba(X.tail(5)).shape == (5, 2)
    assert not np.allclose(twin.predict_proba(X.tail(50)), model.predict_proba(X.tail(50)))


def test_the_ensemble_row_names_the_synthesis_plans_of_its_members():
    import optuna

    from automl.search.refit import members_synthesis

    study = optuna.create_study()
    for plan in ("rich", "none", "rich"):
        study.add_trial(optuna.trial.create_trial(value=0.5, user_attrs={"synthesis": plan}))
    assert members_synthesis(study, [0, 2]) == "rich"  # was "none": the row had no synthesis of its own
    assert members_synthesis(study, [2, 1]) == "none+rich"


class _RefitRefused(RandomForestClassifier):
    """A random forest that fits a fold's rows but refuses more: its refit on all the rows fails as a real one
    that runs out of memory or time would, after its folds scored."""

    def fit(self, X, y, sample_weight=None):  # noqa: ANN001, ANN201
        if len(X) > REFUSED_ABOVE_ROWS:
            raise MemoryError(f"refused: {len(X)} rows")
        return super().fit(X, y, sample_weight=sample_weight)


REFUSED_ABOVE_ROWS = 700  # credit-g: 1,000 rows, folds of 3 train on 667


@pytest.mark.slow
def test_a_member_whose_refit_fails_leaves_the_ensemble_and_the_rest_stay_one(credit, caplog):
    import logging

    from automl.models.registry import ModelFamily

    X, y = credit
    # declared dearer than every registry family (the defaults run cheapest first, so it comes last), but not so
    # dear that it is skipped: at cost=100 its prior scaled to about 55 s, and on a loaded machine (CI, or three
    # busy loops beside it) that no longer fitted the 49 s left
    forest = ModelFamily(name="refit_refused", estimators={"classifier": _RefitRefused}, cost=10,
                         needs={"impute": True, "encode": "ordinal", "scale": False}, seed_param="random_state")
    with caplog.at_level(logging.INFO, logger="automl"):
        model = AutoML(time_budget=60, max_trials=4, families=["linear", "knn", "lightgbm", forest],
                       search="defaults", portfolio=None, random_state=0, cv=3, bagging=False).fit(X, y)
    board = model.leaderboard_.set_index("trial")
    refused = int(board.index[board.family == "refit_refused"][0])
    assert board.loc[refused, "status"] == "ok"  # its folds scored
    assert f"members [{refused}] were not refitted" in caplog.text  # it was selected, and its refit failed
    assert model.best_family_ == "ensemble"
    weights = json.loads(board.loc[board.family == "ensemble", "params"].iloc[0])["weights"]
    assert str(refused) not in weights and len(weights) >= 2
    assert sum(weights.values()) == pytest.approx(1.0, abs=1e-3)
    assert model.predict_proba(X.head(5)).shape == (5, 2)
