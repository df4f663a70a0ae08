"""Synthesis as a refinement of the leading configurations: twins on the same folds, kept above the noise."""
from __future__ import annotations

import numpy as np
import optuna
import pandas as pd
import pytest

from automl.data.schema import Column, Schema
from automl.models.registry import get_families
from automl.search.planner import REFINE_MAX_SHARE, REFINE_SHARE, TRIAL_SHARE, TimePlanner
from automl.search.refine import (PARENT, PARENTS, REFINEMENT, TWIN_COST, Twins, affordable, holdout_verdict,
                                  refinable, seconds_needed, twin_groups, verdict)
from automl.search.space import param_name, suggest_config
from automl.search.study import REJECTED, ranked_trials

MIXED = Schema([Column("a", "numeric", "float64"), Column("b", "numeric", "float64"),
                Column("c", "categorical", "object")])
NUMBERS = Schema([Column("a", "numeric", "float64"), Column("b", "numeric", "float64")])


def finished(family: str, value: float, folds: list[float], **attrs) -> optuna.trial.FrozenTrial:
    return optuna.trial.create_trial(
        params={"family": family}, distributions={"family": optuna.distributions.CategoricalDistribution(
            ["linear", "lightgbm", "knn"])}, value=value,
        user_attrs={"family": family, "fold_scores": folds, "status": "ok", **attrs})


def study_of(trials: list[optuna.trial.FrozenTrial]) -> optuna.Study:
    study = optuna.create_study(direction="maximize")
    for trial in trials:
        study.add_trial(trial)
    return study


def test_a_twin_is_kept_only_when_its_paired_gain_passes_the_noise_of_the_folds():
    parent = finished("linear", 0.80, [0.80, 0.78, 0.82, 0.79, 0.81])
    steady = [s + 0.01 for s in parent.user_attrs["fold_scores"]]
    assert verdict(parent, steady, greater_is_better=True).kept
    noisy = [0.85, 0.74, 0.86, 0.76, 0.82]  # better on the mean by 0.006, but not fold by fold
    judged = verdict(parent, noisy, greater_is_better=True)
    assert not judged.kept and judged.reason.startswith(REJECTED) and "over trial" in judged.reason
    assert not verdict(parent, parent.user_attrs["fold_scores"], greater_is_better=True).kept  # no gain at all
    # a loss (lower is better): smaller scores are the gain
    lower = [s - 0.01 for s in parent.user_attrs["fold_scores"]]
    assert verdict(parent, lower, greater_is_better=False).kept
    assert not verdict(parent, steady, greater_is_better=False).kept
    assert not verdict(parent, steady[:2], greater_is_better=True).kept  # not the same folds


def test_twins_are_the_best_base_configuration_of_each_family_with_each_plan_that_builds():
    families = get_families(["linear", "lightgbm", "knn"], "binary")
    trials = [finished("linear", 0.80, [0.8] * 3), finished("lightgbm", 0.85, [0.85] * 3),
              finished("lightgbm", 0.83, [0.83] * 3), finished("knn", 0.70, [0.7] * 3)]
    study = study_of(trials)
    ranked = ranked_trials(study, greater_is_better=True)
    twinned, groups = twin_groups(ranked, study.get_trials(), families, MIXED)
    by_name = {f.name: f for f in families}
    assert twinned == 0 and [(g.parent, g.family) for g in groups] == [(1, "lightgbm"), (0, "linear"), (3, "knn")]
    for group in groups:
        option = param_name(by_name[group.family], "preprocess.synthesis")
        assert [p[option] for p in group.points] == ["frequency", "group_stats", "pairs"]
        assert all(p["family"] == group.family for p in group.points)
    # numbers only: frequency and group statistics would build nothing
    _, only_pairs = twin_groups(ranked, study.get_trials(), families, NUMBERS)
    assert {p[param_name(by_name[g.family], "preprocess.synthesis")] for g in only_pairs for p in g.points} == {"pairs"}
    # a parent with twins already gets no more; a twin is never a parent
    study.add_trial(finished("lightgbm", 0.90, [0.9] * 3, source=REFINEMENT, **{PARENT: 1}))
    twinned, again = twin_groups(ranked_trials(study, True), study.get_trials(), families, MIXED)
    assert twinned == 1 and [g.parent for g in again] == [0, 3]


def test_only_twins_estimated_to_finish_in_the_time_left_are_enqueued():
    groups = [Twins(1, "catboost", [{"p": 1}, {"p": 2}, {"p": 3}]), Twins(0, "linear", [{"p": 4}, {"p": 5}]),
              Twins(3, "knn", [{"p": 6}])]
    seconds = {"catboost": 4.0 / TWIN_COST, "linear": 0.5 / TWIN_COST, "knn": 1.0 / TWIN_COST}.get  # twins: 4, 0.5, 1
    # all of the leader's, then the next parent's with what is left
    assert affordable(groups, seconds, 13.0, 0) == [(1, {"p": 1}), (1, {"p": 2}), (1, {"p": 3}), (0, {"p": 4}),
                                                     (0, {"p": 5})]
    # the leader's twins do not fit: the next families are refined instead
    assert [parent for parent, _ in affordable(groups, seconds, 3.0, 0)] == [0, 0, 3]
    assert affordable(groups, seconds, 9.0, 0)[:2] == [(1, {"p": 1}), (1, {"p": 2})]  # as many as fit
    assert affordable(groups, seconds, 100.0, PARENTS) == []  # enough parents refined already
    assert len(affordable(groups, seconds, float("inf"), 0)) == 5  # no time limit (max_trials)
    # refining the leader is decided early enough for its twins after a trial that may be running then
    assert seconds_needed(groups[0], seconds) == pytest.approx(3 * 4.0 / (1 - TRIAL_SHARE))


def test_a_rejected_twin_is_not_ranked_though_its_score_stays_in_the_study():
    study = study_of([finished("linear", 0.80, [0.8] * 3),
                      finished("linear", 0.95, [0.95] * 3, status=REJECTED, source=REFINEMENT, **{PARENT: 0})])
    assert [t.number for t in ranked_trials(study, greater_is_better=True)] == [0]
    assert study.best_value == 0.95


def test_the_sampler_never_draws_a_refined_option_but_a_twin_replays_it():
    family = get_families(["linear"], "binary")[0]
    name = param_name(family, "preprocess.synthesis")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(10):
        trial = study.ask()
        config = suggest_config(trial, [family], "binary", None)
        assert name not in trial.params and config.needs().get("synthesis", "none") == "none"
        study.tell(trial, 0.5)
    point = {"family": "linear", name: "pairs"}
    study.enqueue_trial(point)
    trial = study.ask()
    assert suggest_config(trial, [family], "binary", None, fixed_only=sorted(point)).needs()["synthesis"] == "pairs"


def test_refinement_is_the_last_share_of_the_time_or_of_max_trials():
    start = 100.0
    deadline = start + 40.0
    assert not TimePlanner.refining(start, deadline - 40.0 * REFINE_SHARE - 1.0, deadline)
    assert TimePlanner.refining(start, deadline - 40.0 * REFINE_SHARE + 1.0, deadline)
    # twins that need more start earlier, but never before the last REFINE_MAX_SHARE
    assert TimePlanner.refining(start, deadline - 15.0, deadline, need=16.0)
    assert not TimePlanner.refining(start, deadline - 40.0 * REFINE_MAX_SHARE - 1.0, deadline, need=1000.0)
    assert not TimePlanner.refining(start, start + 1.0, float("inf"))
    assert TimePlanner.refining(start, start + 1.0, float("inf"), finished=8, max_trials=10)
    assert not TimePlanner.refining(start, start + 1.0, float("inf"), finished=5, max_trials=10)


@pytest.mark.slow
def test_a_plan_that_pays_is_kept_and_one_that_does_not_is_rejected_in_a_real_search():
    """The target is a ratio of two numbers, which a linear model cannot read from the numbers themselves: the
    ``pairs`` twin of the best linear configuration beats it on every fold and is kept; the final model uses it.
    The category is noise: its frequency twin gains nothing and is rejected."""
    from automl import AutoML

    rng = np.random.default_rng(0)
    a, b = rng.uniform(1, 10, 400), rng.uniform(1, 2, 400)
    X = pd.DataFrame({"a": a, "b": b, "c": rng.choice(list("xyz"), 400)})
    y = a / b + rng.normal(scale=0.05, size=400)
    model = AutoML(families=["linear"], search="random", max_trials=12, cv=3, random_state=0,
                   ensemble=False).fit(X, y)
    board = model.leaderboard_.set_index("trial")
    twins = board[board["synthesis"] != "none"]
    assert set(twins["synthesis"]) <= {"frequency", "group_stats", "pairs"} and len(twins) >= 1
    assert set(twins["status"]) <= {"ok", REJECTED}
    assert board.loc[twins.index[twins["synthesis"] == "pairs"], "status"].tolist() == ["ok"]
    assert board.loc[twins.index[twins["synthesis"] == "frequency"], "status"].tolist() == [REJECTED]
    assert twins["error"].str.contains("over trial").all()
    assert board.loc[model.best_trial_, "synthesis"] == "pairs"


def test_on_one_holdout_a_twin_is_judged_against_the_noise_of_its_rows():
    from automl.metrics import get_metric

    rng = np.random.default_rng(0)
    y = rng.normal(size=3000)
    parent = y + rng.normal(scale=1.0, size=3000)
    rmse = get_metric("rmse", "regression")
    better = holdout_verdict(4, rmse, y, parent, y + rng.normal(scale=0.5, size=3000))
    assert better.kept and "over trial 4 on the same holdout rows" in better.reason
    # the parent's own predictions with a little noise: no gain beyond the noise of 3,000 rows
    same = holdout_verdict(4, rmse, y, parent, parent + rng.normal(scale=0.01, size=3000))
    assert not same.kept and same.reason.startswith(REJECTED)
    # ROC AUC: resamples are scored like the whole; a twin that ranks worse is rejected
    labels = (y > 0).astype(int)
    auc = get_metric("roc_auc", "binary")
    proba = np.column_stack([1 - 1 / (1 + np.exp(-parent)), 1 / (1 + np.exp(-parent))])
    worse = np.column_stack([proba[:, 0][::-1], proba[:, 1][::-1]])
    assert not holdout_verdict(1, auc, labels, proba, worse, classes=np.array([0, 1])).kept
    assert holdout_verdict(1, auc, labels, worse, proba, classes=np.array([0, 1])).kept
    assert refinable(1) and refinable(5) and not refinable(2)


@pytest.mark.slow
def test_on_one_holdout_fold_the_leading_configurations_get_twins_too():
    """The ratio target again, on a holdout (what a table above 20,000 rows gets): the pairs twin is kept by the
    resampled rows, not left untried as when refinement needed three folds."""
    from automl import AutoML

    rng = np.random.default_rng(0)
    a, b = rng.uniform(1, 10, 2000), rng.uniform(1, 2, 2000)
    X = pd.DataFrame({"a": a, "b": b, "c": rng.choice(list("xyz"), 2000)})
    y = a / b + rng.normal(scale=0.05, size=2000)
    model = AutoML(families=["linear"], search="random", max_trials=12, cv="holdout", random_state=0,
                   ensemble=False).fit(X, y)
    board = model.leaderboard_.set_index("trial")
    twins = board[board["synthesis"] != "none"]
    assert len(twins) >= 1 and twins["error"].str.contains("on the same holdout rows").all()
    assert board.loc[twins.index[twins["synthesis"] == "pairs"], "status"].tolist() == ["ok"]
    assert board.loc[model.best_trial_, "synthesis"] == "pairs"
