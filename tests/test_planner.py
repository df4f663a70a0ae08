"""The time planner's rules, with numbers alone (no process, no study): every margin, share and estimate."""
from __future__ import annotations

import time

import numpy as np
import pytest

from automl.search.controller import Problem
from automl.search.planner import (END_MARGIN, KILL_SLACK, REFIT_OVERHEAD, REFIT_SAFETY, TRIAL_SHARE, Deadline,
                                   TimePlanner, TrialCost, check_synthesis_affordable, command_fit_seconds, fold_cap)


def planner(seconds: float = 60.0, n_rows: int = 1000, train_rows: float = 800.0, n_folds: int = 5,
            ensemble: bool = True) -> TimePlanner:
    return TimePlanner(Deadline(seconds), n_rows, train_rows, n_folds, ensemble)


@pytest.mark.parametrize("folds", [
    [(np.arange(0, 800), np.arange(800, 1000))],  # a holdout: the validation rows are a fifth of the data
    [(np.arange(500, 1000), np.arange(0, 500)), (np.arange(0, 500), np.arange(500, 1000))],  # 2-fold
])
def test_refit_estimates_count_every_row_of_the_search(folds):
    problem = Problem(schema=None, task="binary", metric=None, families=[], folds=folds, classes=None)
    assert problem.n_rows == 1000
    plan = TimePlanner(Deadline(60), problem.n_rows, problem.train_rows, len(folds))
    # one fold's fit time scaled to all 1,000 rows (with the safety factor and the process overhead)
    assert plan.refit_estimate(1.0) == pytest.approx(1000 / problem.train_rows * REFIT_SAFETY + REFIT_OVERHEAD)


def test_a_trial_may_take_a_share_of_the_time_left_and_never_pass_the_trial_deadline():
    plan = planner(60)
    start = plan.deadline.start
    assert plan.trial_limit(start, start + 100) == pytest.approx(start + TRIAL_SHARE * 60)
    assert plan.trial_limit(start, start + 5) == pytest.approx(start + 5)
    # the trial deadline keeps the end margin, the kill slack and the refit reserve
    assert plan.trial_deadline(10.0) == pytest.approx(start + 60 - END_MARGIN - KILL_SLACK - 10.0)


def test_first_folds_that_project_past_the_limit_stop_the_trial():
    plan = planner(n_folds=5)
    # one fold in 3 s: five take 15 s; a limit 10 s after the start cannot be met
    assert plan.projected_overrun(start=0.0, now=3.0, folds_done=1, limit=10.0) == pytest.approx(15.0)
    assert plan.projected_overrun(start=0.0, now=1.0, folds_done=1, limit=10.0) is None  # 5 s: it fits
    assert plan.projected_overrun(start=0.0, now=30.0, folds_done=5, limit=10.0) is None  # nothing left to stop


def test_a_family_estimate_is_the_median_of_its_finished_trials_timeouts_included():
    costs = [TrialCost("lightgbm", 2.0, True), TrialCost("lightgbm", 4.0, True), TrialCost("lightgbm", 30.0, False),
             TrialCost("knn", 1.0, True)]
    assert TimePlanner.trial_estimate(costs, "lightgbm") == pytest.approx(4.0)
    assert TimePlanner.trial_estimate(costs, "catboost") is None  # unknown: it is tried
    assert TimePlanner.fits(None, 0.1) and TimePlanner.fits(3.0, 4.0) and not TimePlanner.fits(5.0, 4.0)


def test_may_start_needs_time_for_the_cheapest_family():
    plan = planner(60)
    now = time.monotonic()
    assert plan.may_start(now + 10, cheapest=None)
    assert plan.may_start(now + 10, cheapest=5.0)
    assert not plan.may_start(now + 10, cheapest=20.0)
    assert not plan.may_start(now + 0.1, cheapest=None)  # less than the smallest trial


def test_refit_reserve_covers_the_likely_ensemble_members_but_not_the_fitted_fallback():
    costs = [TrialCost(f, 1.0, True, mean_fold_fit=1.0) for f in ("a", "b", "c", "d")]
    one = planner().refit_estimate(1.0)
    assert planner(ensemble=False).refit_reserve(costs, None, selection=5.0) == pytest.approx(one)
    assert planner().refit_reserve(costs, None, selection=5.0) == pytest.approx(3 * one + 5.0)
    assert planner().refit_reserve(costs, 0, selection=0.0) == pytest.approx(2 * one)


def test_ensemble_members_too_slow_to_refit_are_dropped_slowest_first():
    plan = planner(10)
    left = plan.seconds_to_end()
    kept = plan.affordable_members({1: left * 0.5, 2: left * 0.4, 3: left * 0.3})
    assert set(kept) == {2, 3}
    assert plan.affordable_members({1: left * 2}) == {}


def test_before_the_search_folds_synthesis_and_the_command_budget():
    assert fold_cap(10.0) == 3 and fold_cap(60.0) is None and fold_cap(None) is None
    deadline = Deadline(10)
    check_synthesis_affordable(1.0, deadline, "DFS")
    with pytest.raises(ValueError, match="raise time_budget to at least"):
        check_synthesis_affordable(9.5, deadline, "DFS")
    assert 0 < command_fit_seconds(60, time.monotonic()) < 60
    with pytest.raises(ValueError, match="used up"):
        command_fit_seconds(1.0, time.monotonic() - 5)
