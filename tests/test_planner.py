"""The time planner's rules, with numbers alone (no process, no study): every margin, share and estimate."""
from __future__ import annotations

import dataclasses
import time

import numpy as np
import optuna
import pytest
from hypothesis import given
from hypothesis import strategies as st

from automl.data.target import automatic_cv
from automl.metrics import constant_score, get_metric, weighted_median
from automl.search.controller import Problem
from automl.search.planner import (END_MARGIN, FALLBACK_SHARE, FIRST_STEP_SETUP, KILL_SLACK, REFIT_OVERHEAD,
                                   REFIT_SAFETY, TRIAL_SHARE, Deadline, TimePlanner, TrialCost,
                                   check_synthesis_affordable, budget_scale, command_fit_seconds, fold_cap)
from automl.search.study import beating


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
    # the last trial max_trials allows keeps no share for trials that never come: the trial deadline
    assert plan.trial_limit(start, start + 50, last=True) == pytest.approx(start + 50)
    # the trial deadline keeps the end margin, the kill slack and the refit reserve
    assert plan.trial_deadline(10.0) == pytest.approx(start + 60 - END_MARGIN - KILL_SLACK - 10.0)


def test_on_rungs_the_fallback_trial_may_take_a_larger_share_than_the_others():
    on_folds, on_rungs = planner(60), planner(60, n_rows=500_000, train_rows=400_000, n_folds=1)
    assert len(on_rungs.rungs) > 1
    start = on_rungs.deadline.start
    assert on_rungs.trial_limit(start, start + 100, fallback=True) == pytest.approx(start + FALLBACK_SHARE * 60)
    assert on_rungs.trial_limit(start, start + 100) == pytest.approx(start + TRIAL_SHARE * 60)
    assert on_rungs.trial_limit(start, start + 30, fallback=True) == pytest.approx(start + 30)  # never past it
    # on folds the first trial's projection stops it before it starves the rest: its share is every trial's
    start = on_folds.deadline.start
    assert on_folds.trial_limit(start, start + 100, fallback=True) == pytest.approx(start + TRIAL_SHARE * 60)


def test_the_fallback_trial_skips_the_rungs_between_its_first_and_last_and_their_cost_is_not_projected():
    three = planner(60, n_rows=500_000, train_rows=400_000, n_folds=1)
    assert three.rungs == (1 / 16, 0.25, 1.0)
    assert three.skipped_rungs(fallback=True) == (1,) and three.skipped_rungs(fallback=False) == ()
    assert planner(60, n_rows=100_000, train_rows=80_000, n_folds=1).skipped_rungs(fallback=True) == ()  # two rungs
    # the first rung fitted in 1 s (and 0.5 s scoring): the last costs 16 s more and 0.5 s, the skipped one nothing
    assert three.projected_overrun(0.0, 1.5, 1, limit=10.0, step_seconds=(1.0, 0.5), skipped=(1,)) == pytest.approx(18.0)
    assert three.projected_overrun(0.0, 1.5, 1, limit=10.0, step_seconds=(1.0, 0.5)) == pytest.approx(22.5)


def test_first_folds_that_project_past_the_limit_stop_the_trial():
    plan = planner(n_folds=5)
    # one fold in 3 s: five take 15 s; a limit 10 s after the start cannot be met
    assert plan.projected_overrun(start=0.0, now=3.0, folds_done=1, limit=10.0) == pytest.approx(15.0)
    assert plan.projected_overrun(start=0.0, now=1.0, folds_done=1, limit=10.0) is None  # 5 s: it fits
    assert plan.projected_overrun(start=0.0, now=30.0, folds_done=5, limit=10.0) is None  # nothing left to stop


def test_a_fold_still_running_stops_the_trial_when_even_its_time_so_far_projects_past_the_limit():
    plan = planner(n_folds=5)
    plan.measured_overhead(0.2)  # 0.32 s of process overhead
    setup = plan.process_overhead + FIRST_STEP_SETUP
    # the first fold, 7 s in: less the set-up, 7 - 2.32 s of fitting a fold, five of them pass a 20 s limit
    assert plan.in_flight_overrun(0.0, 7.0, 0.0, 0, limit=20.0) == pytest.approx(5 * (7.0 - setup))
    assert plan.in_flight_overrun(0.0, 6.0, 0.0, 0, limit=20.0) is None  # 3.7 s x 5: it may still fit
    # a limit shorter than the set-up: no bound until the fold has run past the set-up
    assert plan.in_flight_overrun(0.0, 2.0, 0.0, 0, limit=0.5) is None
    # the third fold, 4 s in after two that ended at 6 s: 6 + 3 x 4 = 18 s at least
    assert plan.in_flight_overrun(0.0, 10.0, 6.0, 2, limit=15.0) == pytest.approx(18.0)
    assert plan.in_flight_overrun(0.0, 10.0, 6.0, 2, limit=20.0) is None
    assert plan.in_flight_overrun(0.0, 30.0, 6.0, 5, limit=10.0) is None  # the folds are done (a refit may run)
    # one holdout fold: its limit is its own end, nothing to project
    assert planner(n_folds=1).in_flight_overrun(0.0, 30.0, 0.0, 0, limit=10.0) is None


def test_a_family_estimate_is_the_median_of_its_finished_trials_timeouts_included():
    costs = [TrialCost("lightgbm", 2.0, True), TrialCost("lightgbm", 4.0, True), TrialCost("lightgbm", 30.0, False),
             TrialCost("knn", 1.0, True)]
    assert TimePlanner.trial_estimate(costs, "lightgbm") == pytest.approx(4.0)
    assert TimePlanner.trial_estimate(costs, "catboost") is None  # unknown: it is tried
    assert TimePlanner.fits(None, 0.1) and TimePlanner.fits(3.0, 4.0) and not TimePlanner.fits(5.0, 4.0)


def test_a_family_is_estimated_and_stopped_per_synthesis_plan():
    stopped = [TrialCost("lightgbm", 40.0, False, plan="rich"), TrialCost("lightgbm", 1.0, True, plan="none")]
    assert TimePlanner.trial_estimate(stopped, "lightgbm", "rich") == pytest.approx(40.0)
    assert TimePlanner.trial_estimate(stopped, "lightgbm", "none") == pytest.approx(1.0)
    assert TimePlanner.trial_estimate(stopped, "lightgbm", "basic") is None  # not tried on that plan yet
    plan = planner(seconds=60.0, n_folds=3)
    now, deadline = plan.deadline.start + 10.0, plan.deadline.start + 50.0
    assert plan.room(stopped, "lightgbm", now, deadline, "rich") < plan.room(stopped, "lightgbm", now, deadline, "none")


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


def test_no_refit_is_reserved_for_a_member_dearer_than_a_quarter_of_the_budget_unless_it_is_the_best():
    # fried at 60 s: a torch network second best, its refit estimated at ~30 s, ended the search at 35 s
    cheap = TrialCost("a", 1.0, True, mean_fold_fit=1.0)
    dear = TrialCost("torch", 25.0, True, mean_fold_fit=25.0)
    one, many = planner().refit_estimate(1.0), planner().refit_estimate(25.0)
    assert many > 0.25 * 60
    others = [TrialCost(f, 1.0, True, mean_fold_fit=1.0) for f in ("c", "d", "e")]
    # the next family's best takes the dear member's place among the three reserved
    assert planner().refit_reserve([cheap, dear, *others], None, selection=0.0) == pytest.approx(3 * one)
    assert planner().refit_reserve([dear, cheap, *others], None, selection=0.0) == pytest.approx(many + 2 * one)
    assert planner(seconds=600).refit_reserve([cheap, dear, *others], None, selection=0.0) == pytest.approx(
        many + 2 * one)  # 30 s is not dear in 10 minutes
    assert planner(seconds=None).refit_reserve([cheap, dear], None, selection=0.0) == pytest.approx(many + one)


def test_the_constant_floor_is_the_prior_fitted_on_each_training_fold():
    rng = np.random.default_rng(0)
    folds = [(np.arange(100, 400), np.arange(0, 100)), (np.arange(0, 300), np.arange(300, 400))]
    values = rng.normal(5.0, 2.0, 400)
    expected = np.mean([np.sqrt(np.mean((values[v] - values[t].mean()) ** 2)) for t, v in folds])
    assert constant_score(get_metric(None, "regression"), values, folds, None, None) == pytest.approx(expected)
    skewed = rng.exponential(3.0, 400)  # for an absolute error the median is the better constant, not the mean

    def mae(centre):  # noqa: ANN001, ANN202
        return np.array([np.mean(np.abs(skewed[v] - centre(skewed[t]))) for t, v in folds])

    floor = constant_score(get_metric("mae", "regression"), skewed, folds, None, None)
    assert floor == pytest.approx(np.mean(np.minimum(mae(np.mean), mae(np.median))))  # the better, fold by fold
    assert floor < np.mean(mae(np.mean)) - 0.03  # the mean alone (before): 2.09 here
    assert weighted_median(np.array([1.0, 2.0, 10.0]), np.array([1.0, 1.0, 5.0])) == 10.0
    labels = rng.choice(np.array(["a", "b", "c"]), 400, p=[0.7, 0.2, 0.1])
    classes = np.array(["a", "b", "c"])
    assert constant_score(get_metric(None, "binary"), labels == "a", folds, None,
                          np.array([False, True])) == pytest.approx(0.5)
    loss = constant_score(get_metric(None, "multiclass"), labels, folds, None, classes)
    shares = np.array([0.7, 0.2, 0.1])
    assert loss == pytest.approx(-np.sum(shares * np.log(shares)), abs=0.05)  # about the entropy of the shares
    weights = np.where(labels == "c", 50.0, 1.0)  # weights move the prior toward "c", and the weighted loss with it
    assert constant_score(get_metric(None, "multiclass"), labels, folds, weights, classes) != pytest.approx(loss)
    assert constant_score(get_metric(lambda estimator, X, y: 0.0, "regression"), values, folds, None, None) is None


def test_trials_worse_than_a_constant_get_no_refit_reserve():
    def trial(number: int, value: float) -> optuna.trial.FrozenTrial:
        frozen = optuna.trial.create_trial(value=value, params={}, distributions={})
        frozen.number = number
        return frozen

    ranked = [trial(0, 0.42), trial(1, 2.4), trial(2, 12.7)]  # log loss, best first; a constant scores 2.5
    assert [t.number for t in beating(ranked, 2.5, greater_is_better=False)] == [0, 1]
    assert [t.number for t in beating(ranked, None, greater_is_better=False)] == [0, 1, 2]
    assert [t.number for t in beating(ranked, 0.1, greater_is_better=False)] == [0]  # the best stays
    assert [t.number for t in beating([trial(0, 0.7), trial(1, 0.5)], 0.5, greater_is_better=True)] == [0]


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
    check_synthesis_affordable(9.5, deadline, "DFS", done=True)  # already computed: nothing more to spend
    with pytest.raises(ValueError, match=r"took 0.5s and, with choosing it, used up the time budget; raise "
                                         r"time_budget to at least [1-9]"):
        check_synthesis_affordable(0.5, Deadline(0.0), "DFS", done=True)
    assert 0 < command_fit_seconds(60, time.monotonic()) < 60
    with pytest.raises(ValueError, match="used up"):
        command_fit_seconds(1.0, time.monotonic() - 5)


def test_one_large_holdout_fold_trains_on_growing_rungs():
    from automl.search.planner import RUNG_MIN_ROWS, rungs

    assert rungs(30_000, 1) == (1.0,) and rungs(500_000, 5) == (1.0,)  # small data, or folds: no rungs
    shares = rungs(320_000, 1)
    assert shares == (1 / 16, 1 / 4, 1.0) and 320_000 * shares[0] >= RUNG_MIN_ROWS
    plan = TimePlanner(Deadline(60), 400_000, 320_000, 1)
    assert plan.step_weights == list(shares)
    # a rung costs about its share: 2 s for the 1/16 rung projects 2 * (1/16 + 1/4 + 1) / (1/16) = 42 s in all
    assert plan.projected_overrun(0.0, 2.0, 1, limit=30.0) == pytest.approx(2 * 21)
    assert plan.projected_overrun(0.0, 2.0, 1, limit=60.0) is None
    # told what the rung itself took (1 s: 0.5 s fitting, 0.5 s predicting the validation rows; the other second
    # was starting the process): the rungs left cost 0.5 * (1/4 + 1) / (1/16) + 2 * 0.5 = 11 s more, 13 s in all
    assert plan.projected_overrun(0.0, 2.0, 1, limit=10.0, step_seconds=(0.5, 0.5)) == pytest.approx(13.0)
    # a fit that grows as rows ** 0.5 (boosting: much of it per-round work): 0.5 * (4 ** 0.5 + 16 ** 0.5) + 1 = 4 s
    # more, 6 s in all, which fits a 10 s limit
    assert plan.projected_overrun(0.0, 2.0, 1, limit=5.0, step_seconds=(0.5, 0.5),
                                  rows_exponent=0.5) == pytest.approx(6.0)
    assert plan.projected_overrun(0.0, 2.0, 1, limit=10.0, step_seconds=(0.5, 0.5), rows_exponent=0.5) is None


def test_rung_projections_use_the_calibrated_growth_of_each_family_kept_between_the_floor_and_linear():
    from automl.search.cost import ROWS_EXPONENT_MIN, CostModel, priors

    table = priors()
    assert CostModel.rows_exponent("lightgbm") == pytest.approx(max(table["lightgbm"]["rows"], ROWS_EXPONENT_MIN))
    assert CostModel.rows_exponent("lightgbm") < 1.0  # measured sublinear
    assert CostModel.rows_exponent("hist_gradient_boosting") == ROWS_EXPONENT_MIN  # 0.27 measured: floored
    assert CostModel.rows_exponent("knn") == 1.0  # 1.24 measured: capped at linear
    assert CostModel.rows_exponent("no_such_family") == 1.0


@pytest.mark.parametrize("rows, width, classes, measured", [(4095, 1520, 2, 2.43), (1200, 216, 10, 0.55)])
def test_the_linear_prior_does_not_blow_up_on_wide_tables(rows, width, classes, measured):
    from automl.models.registry import all_families
    from automl.search.cost import CostModel, DataShape

    # measured folds of the linear defaults on real wide tables (nih_grants; mfeat-factors: 1.1 s a fold on a
    # machine twice as slow, halved): the prior fitted on generated tables of 16 and 46 columns alone put them at
    # 58 s and 3.0 s (width ** 2.5)
    model = CostModel(DataShape(train_rows=rows, folds=5, classes=classes, widths={"onehot": width}))
    assert measured / 3 < model.fold_seconds(all_families()["linear"]) < 3 * measured


def test_second_moves_take_the_left_out_families_that_fit_now_cheapest_first():
    from automl.models.registry import all_families
    from automl.search.cost import CostModel, DataShape, second_moves

    families = all_families()
    model = CostModel(DataShape(train_rows=1600, folds=5, classes=10, widths={"onehot": 216, "ordinal": 216,
                                                                               "native": 216, "target": 216}))
    tried = {"lightgbm", "hist_gradient_boosting"}
    untried = sorted((f for f in families.values() if f.name not in tried), key=model.estimate)
    # room for the two cheapest untried defaults but not the third: those two, cheapest first
    room = model.estimate(untried[0]) + model.estimate(untried[1]) + 0.5 * model.estimate(untried[2])
    moves = second_moves(families.values(), tried, model.estimate, room / 0.5, 0.5)
    assert [f.name for f in moves] == [f.name for f in untried[:2]]
    # a tried family is never taken again, however cheap; nothing fits in no time
    assert not tried & {f.name for f in second_moves(families.values(), tried, model.estimate, 1e9, 0.5)}
    assert second_moves(families.values(), tried, model.estimate, 0.0, 0.5) == []
    # the corrected estimate decides: trials that ran 5x faster than predicted make room for 5x as much
    model.observe("lightgbm", 10.0, 2.0)
    faster = second_moves(families.values(), tried, model.estimate, room / 0.5, 0.5)
    assert len(faster) > len(moves)


def test_a_plan_is_priced_by_its_own_columns():
    from automl.data.schema import Column, Schema
    from automl.models.registry import all_families
    from automl.search.cost import CostModel

    lightgbm = all_families()["lightgbm"]
    plans = {"none": ["a", "b"], "rich": [f"f{i}" for i in range(400)] + ["a", "b"]}
    columns = [Column(name, "numeric", "float64") for name in plans["rich"]]
    lightgbm = dataclasses.replace(lightgbm, needs={**lightgbm.needs, "plans": plans, "plan": "rich"})
    problem = Problem(schema=Schema(columns=columns), task="binary", metric=None, families=[lightgbm],
                      folds=[(np.arange(800), np.arange(800, 1000))] * 5, classes=np.array([0, 1]))
    shape = problem.shape()
    assert shape.plan_widths["none"]["ordinal"] == 2 and shape.plan_widths["rich"]["ordinal"] == 402
    model = CostModel(shape)
    assert model.estimate(lightgbm, "none") < model.estimate(lightgbm, "rich") == pytest.approx(model.estimate(lightgbm))


def test_the_cost_model_predicts_before_any_trial_and_learns_from_trials():
    from automl.models.registry import all_families
    from automl.search.cost import CostModel, DataShape, first_moves

    families = all_families()
    small = CostModel(DataShape(train_rows=800, folds=5, classes=2, widths={"onehot": 40, "ordinal": 20,
                                                                             "native": 20, "target": 20}))
    large = CostModel(DataShape(train_rows=320_000, folds=1, classes=2, widths={"onehot": 120, "ordinal": 46,
                                                                                "native": 46, "target": 46}))
    for name in ("linear", "knn", "lightgbm", "random_forest"):
        assert large.estimate(families[name]) > small.estimate(families[name]) > 0
    # kNN's cost grows with the rows it predicts and searches: on 320k rows it is dearer than LightGBM
    assert large.estimate(families["knn"]) > 2 * large.estimate(families["lightgbm"])
    # cheap defaults: every family, in the declared order; dear ones: the strong that fit, strongest first
    assert [f.name for f in first_moves(families.values(), small, 60, 0.5)] == list(families)
    moves = [f.name for f in first_moves(families.values(), large, 120, 0.5, strong_first=True)]
    assert moves[0] == "lightgbm" and "knn" not in moves  # kNN on 320k rows does not fit
    assert all(large.estimate(families[name]) <= 60 for name in moves)
    strong_moves = [families[name].strength_for("binary") >= 0.8 for name in moves]
    assert strong_moves == sorted(strong_moves, reverse=True)  # on rungs the strong ones go first
    # a long budget on large data: every family, the strong ones first (strongest first), then the rest in order
    ample = [f.name for f in first_moves(families.values(), large, 1e9, 0.5, strong_first=True)]
    strong = [name for name in families if families[name].strength_for("binary") >= 0.8]
    assert sorted(ample) == sorted(families) and sorted(ample[:len(strong)]) == sorted(strong)
    assert ample[0] == max(strong, key=lambda name: families[name].strength_for("binary"))
    assert ample[len(strong):] == [name for name in families if name not in strong]
    assert [f.name for f in first_moves(families.values(), large, 1e9, 0.5)] == list(families)
    # nothing strong fits: the cheapest family alone
    assert len(first_moves(families.values(), large, 2, 0.5)) == 1
    # one dear weak family does not push the cheap ones out: the others that fit keep their declared order
    middle = CostModel(DataShape(train_rows=1600, folds=5, classes=1, widths={"onehot": 20, "ordinal": 20,
                                                                               "native": 20, "target": 20}))
    weak = [f for f in families.values() if f.strength_for("regression") < 0.8]
    dearest = max(weak, key=middle.estimate)
    rest = sum(middle.estimate(f) for f in families.values() if f is not dearest)
    seconds = (rest + 0.5 * middle.estimate(dearest)) / 0.5  # the rest fits, the rest and the dearest do not
    assert [f.name for f in first_moves(families.values(), middle, seconds, 0.5)] == \
        [name for name in families if name != dearest.name]
    # finished trials correct the prior: twice as slow as predicted, for this family and (until seen) the others
    lightgbm = families["lightgbm"]
    before = large.estimate(families["linear"])
    large.observe("lightgbm", large.default_trial(lightgbm), 2 * large.default_trial(lightgbm))
    assert large.estimate(lightgbm) == pytest.approx(2 * large.default_trial(lightgbm))
    assert large.estimate(families["linear"]) == pytest.approx(2 * before)


def test_a_network_fits_the_last_rung_only_and_starts_a_large_multiclass_search():
    """A family whose fits end at their cap with the best so far (the network), where it is strong, skips every rung
    but the last: a step costs it the same on fewer rows, which would only learn less. On a large table's rungs its default counts as
    at most its share (uncapped it would pass it), and on a multiclass table it is the first move, before boosting
    (a round costs a tree per class); on a binary one boosting stays first, and off rungs its default strength."""
    from automl.models.registry import all_families
    from automl.pipeline.build import ENCODINGS
    from automl.search.cost import CostModel, DataShape, capped_on_rungs, first_moves

    # only where it is strong: elsewhere it climbs the rungs, where the pruner stops it cheaply
    network = all_families()["torch_mlp"]
    assert capped_on_rungs(network, "multiclass") and not capped_on_rungs(network, "regression")
    assert not capped_on_rungs(network, "binary") and not capped_on_rungs(all_families()["lightgbm"], "multiclass")
    three = planner(60, n_rows=1_000_000, train_rows=600_000, n_folds=1)
    assert three.skipped_rungs(fallback=False, capped=True) == (0, 1)
    assert three.skipped_rungs(fallback=True, capped=True) == (0, 1)
    assert planner(60).skipped_rungs(fallback=False, capped=True) == ()  # folds: one rung, all the rows
    families = all_families()
    widths = dict.fromkeys(ENCODINGS, 46)
    multiclass = CostModel(DataShape(train_rows=600_000, folds=1, classes=4, widths=widths))
    binary = CostModel(DataShape(train_rows=600_000, folds=1, classes=2, widths=widths))
    network = families["torch_mlp"]
    assert multiclass.estimate(network) > 0.5 * 100  # its default does not end in its share uncapped
    moves = [f.name for f in first_moves(families.values(), multiclass, 100, 0.5, strong_first=True)]
    assert moves[:2] == ["torch_mlp", "lightgbm"]
    assert network.strength_for("multiclass") > families["lightgbm"].strength_for("multiclass")
    assert [f.name for f in first_moves(families.values(), binary, 100, 0.5, strong_first=True)][0] == "lightgbm"
    assert network.strength_for("binary") == network.strength_for("regression") < 0.8  # weak elsewhere
    # off rungs (folds) its default strength holds, and uncapped it does not fit its share
    assert "torch_mlp" not in [f.name for f in first_moves(families.values(), multiclass, 100, 0.5)]


def test_dear_strong_defaults_do_not_push_the_cheap_families_out_of_the_first_moves():
    from automl.models.registry import all_families
    from automl.search.cost import CHEAP_SHARE, STRONG, CostModel, DataShape, first_moves

    families = all_families()
    # mfeat-factors' shape at 60 s: 1,200 fold rows, 216 numbers, 10 classes
    wide = CostModel(DataShape(train_rows=1200, folds=5, classes=10,
                               widths=dict.fromkeys(("onehot", "ordinal", "native", "target", "mixed"), 216)))
    seconds, share = 60.0, 0.5
    budget = share * seconds
    strength = {f.name: f.strength_for("default") for f in families.values()}  # per task on rungs only
    strong = [f for f in families.values() if strength[f.name] >= STRONG and wide.estimate(f) <= budget]
    assert sum(wide.estimate(f) for f in strong) > budget  # each fits, together they do not
    moves = first_moves(families.values(), wide, seconds, share)
    weak = [f for f in moves if strength[f.name] < STRONG]
    assert moves[:len(strong)] == sorted(strong, key=lambda f: (-strength[f.name], wide.estimate(f)))
    assert "linear" in [f.name for f in weak]  # the best single family on mfeat-factors
    assert sum(wide.estimate(f) for f in weak) <= CHEAP_SHARE * budget
    left_out = [f for f in families.values() if strength[f.name] < STRONG and f not in weak]
    assert all(wide.estimate(f) > CHEAP_SHARE * budget - sum(wide.estimate(w) for w in weak) for f in left_out)
    # on rungs (large data) the weak ones are left to the sampler, whose trials the rungs prune; there the strength
    # declared per task holds (the network first on multiclass tables)
    on_rungs = first_moves(families.values(), wide, seconds, share, strong_first=True)
    assert on_rungs[0].name == "torch_mlp" and all(f.strength_for("multiclass") >= STRONG for f in on_rungs)
    assert on_rungs[1:] == [f for f in moves[:len(strong)] if f.name != "torch_mlp"]


def test_regression_has_its_own_cost_term_and_classification_its_classes(monkeypatch):
    from automl.models.registry import all_families
    from automl.search import cost

    table = {"linear": {"log_seconds": -5.0, "rows": 0.8, "width": 1.0, "classes": 1.0, "regression": -2.0}}
    monkeypatch.setattr(cost, "priors", lambda: table)
    linear = all_families()["linear"]

    def seconds(classes: int) -> float:
        widths = {"onehot": 50, "ordinal": 50, "native": 50, "target": 50}
        return cost.CostModel(cost.DataShape(train_rows=1000, folds=5, classes=classes, widths=widths)).fold_seconds(
            linear)

    base = np.exp(-5.0) * 1000 ** 0.8 * 50
    assert seconds(1) == pytest.approx(base * np.exp(-2.0))  # regression: its own term, no classes
    assert seconds(2) == pytest.approx(base * 2) and seconds(10) == pytest.approx(base * 10)
    del table["linear"]["regression"]  # a table calibrated before the term: regression costs as one class
    assert seconds(1) == pytest.approx(base)


def test_a_family_size_rule_is_a_step_in_its_cost_where_the_rows_reach_it(monkeypatch):
    from automl.models.registry import all_families
    from automl.search import cost

    lightgbm = all_families()["lightgbm"]
    small, large = lightgbm.small_data["rows"], lightgbm.large_data["rows"]
    table = {"lightgbm": {"log_seconds": -5.0, "rows": 0.5, "width": 0.0, "classes": 0.0, "small_data": -2.0,
                          "large_data": 1.0}}
    monkeypatch.setattr(cost, "priors", lambda: table)

    def seconds(rows: float) -> float:
        shape = cost.DataShape(train_rows=rows, folds=5, classes=2, widths={"native": 10, "ordinal": 10})
        return cost.CostModel(shape).fold_seconds(lightgbm)

    # between the two, the default trial stops on a holdout: a rule of its own, with no step in the cost
    assert lightgbm.size_regime(small - 1) == "small_data" and lightgbm.size_regime(small) == "stopped_data"
    assert lightgbm.size_regime(large) == "large_data" and lightgbm.size_defaults(small - 1) == \
        dict(lightgbm.small_data["defaults"])
    assert seconds(small - 1) == pytest.approx(np.exp(-5.0 - 2.0) * (small - 1) ** 0.5)
    assert seconds(small) == pytest.approx(np.exp(-5.0) * small ** 0.5)
    assert seconds(large) == pytest.approx(np.exp(-5.0 + 1.0) * large ** 0.5)


def test_the_calibration_fit_recovers_each_term_and_keeps_width_from_lowering_a_cost():
    import pandas as pd

    from benchmarks.cost_calibration import fit_costs

    rng = np.random.default_rng(0)
    rows = [(task, r, w, c) for task, c in (("binary", 2), ("multiclass", 4), ("multiclass", 10), ("regression", 1))
            for w in (20, 60, 250) for r in (1000, 4000, 16000)]
    part = pd.DataFrame(rows, columns=["task", "rows", "width", "classes"])

    def timed(width_exponent: float) -> pd.DataFrame:
        log = (-9.0 + 0.9 * np.log(part.rows) + width_exponent * np.log(part.width) + 1.1 * np.log(part.classes)
               - 1.5 * (part.task == "regression") + rng.normal(scale=0.01, size=len(part)))
        return part.assign(seconds=np.exp(log))

    fitted = fit_costs(timed(0.7))
    assert fitted["rows"] == pytest.approx(0.9, abs=0.02) and fitted["width"] == pytest.approx(0.7, abs=0.02)
    assert fitted["classes"] == pytest.approx(1.1, abs=0.02) and fitted["regression"] == pytest.approx(-1.5, abs=0.05)
    assert fitted["measured"] == len(part) and fitted["spread"] < 0.05
    narrowing = fit_costs(timed(-0.3))  # a cost falling with width is noise: fitted without the term
    assert narrowing["width"] == 0.0 and narrowing["classes"] == pytest.approx(1.1, abs=0.05)
    assert "small_data" not in fitted  # no timing fell under a size rule: no step
    # the smallest fits ran under a size rule (fewer boosting rounds): a step of their own, the slope unbent
    under = part.assign(regime=np.where(part.rows < 1500, "small_data", ""))
    stepped = timed(0.7).assign(regime=under.regime)
    stepped.loc[stepped.regime == "small_data", "seconds"] *= np.exp(-2.0)
    fitted = fit_costs(stepped)
    assert fitted["small_data"] == pytest.approx(-2.0, abs=0.05) and fitted["rows"] == pytest.approx(0.9, abs=0.02)
    # real tables beside generated ones (--fit-on all): the generated tables' level is a term of its own
    real = timed(0.7).assign(source="extra/table")
    slower = timed(0.7).assign(source="generated", seconds=lambda frame: frame.seconds * np.exp(1.0))
    both = fit_costs(pd.concat([real, slower], ignore_index=True))
    assert both["generated"] == pytest.approx(1.0, abs=0.05) and both["rows"] == pytest.approx(0.9, abs=0.02)
    assert "generated" not in fit_costs(real)


def test_a_family_stopped_at_its_limit_before_may_count_only_on_its_own_limit():
    from automl.search.planner import TRIAL_SHARE, TrialCost

    plan = planner(seconds=15.0, n_folds=3)
    now = plan.deadline.start + 6.0  # 9 s left; the trial deadline at 13.6 s: 7.6 s away
    deadline = plan.deadline.start + 13.6
    stopped = [TrialCost("sleepy", 7.5, complete=False, mean_fold_fit=None)]  # 7.5 s projected when it was stopped
    finished = [TrialCost("sleepy", 7.5, complete=True, mean_fold_fit=None)]
    room = plan.room(stopped, "sleepy", now, deadline)
    assert room == pytest.approx(TRIAL_SHARE * 9.0)  # 4.5 s: its estimate of 7.5 s does not fit, it is not started
    assert not plan.fits(7.5, room)
    assert plan.room(finished, "sleepy", now, deadline) == pytest.approx(7.6)  # a complete one: the trial deadline
    assert plan.room(stopped, "other", now, deadline) == pytest.approx(7.6)  # another family: the trial deadline
    on_rungs = planner(seconds=15.0, n_rows=400_000, train_rows=320_000, n_folds=1)  # a stopped trial keeps a rung
    assert on_rungs.room(stopped, "sleepy", on_rungs.deadline.start + 6.0, on_rungs.deadline.start + 13.6) \
        == pytest.approx(7.6)


@given(rows=st.integers(2, 60_000), scale=st.floats(0.05, 50.0), more=st.floats(1.0, 4.0),
       extra_rows=st.integers(0, 20_000))
def test_automatic_folds_grow_with_the_budget_on_small_tables_only(rows, scale, more, extra_rows):
    folds = automatic_cv(rows, scale)
    if rows > 20_000:
        assert folds == 0.2  # large tables keep the holdout (their trials run on rungs), whatever the budget
    elif rows > 5_000:
        assert folds == 3  # medium ones their 3 folds: 8 cost 3.5 times the trials (covid_test_result)
    else:
        assert folds == (8 if scale >= 1.5 and 7 * rows <= 20_000 * scale else 5)
    assert automatic_cv(rows, scale * more) >= folds  # more time never means fewer folds
    assert automatic_cv(rows + extra_rows, scale) <= folds  # nor do fewer rows
    assert automatic_cv(rows, scale, max_folds=3) == min(folds, 3)


def test_the_budget_scale_is_the_budget_over_the_default_one():
    assert budget_scale(None) == 1.0 and budget_scale(60) == 1.0 and budget_scale(300) == 5.0
    assert automatic_cv(5_000, budget_scale(300)) == 8 and automatic_cv(5_000, budget_scale(60)) == 5
    assert automatic_cv(4_000, budget_scale(90)) == 8 and automatic_cv(5_000, budget_scale(90)) == 5
    assert automatic_cv(6_000, budget_scale(300)) == 3 and automatic_cv(30_000, budget_scale(300)) == 0.2


def test_an_ensemble_member_runs_past_its_estimate_only_into_time_the_later_members_do_not_need():
    plan = planner(10)
    now, end = time.monotonic(), plan.end()
    assert plan.member_refit_end(now, 1.0, 0.0) == end  # the last member: to the end
    assert plan.member_refit_end(now, 1.0, 3.0) == pytest.approx(end - 3.0)  # leaves the later ones their time
    assert plan.member_refit_end(now, end - now - 1.0, 3.0) == pytest.approx(end - 1.0)  # never before its estimate
    assert plan.member_refit_end(now, 100.0, 3.0) == end  # nor after the end


def test_a_portfolio_entry_is_left_out_only_when_far_behind_and_dear():
    from automl.search.planner import ENTRY_BEHIND, ENTRY_DEAR_SHARE
    from automl.search.portfolio import behind_best

    far, near = 2 * ENTRY_BEHIND, ENTRY_BEHIND / 2
    dear, cheap = 2 * ENTRY_DEAR_SHARE * 40.0, ENTRY_DEAR_SHARE * 40.0 / 2
    assert TimePlanner.skips_entry(dear, 40.0, far)
    assert not TimePlanner.skips_entry(cheap, 40.0, far)
    assert not TimePlanner.skips_entry(dear, 40.0, near)
    assert not TimePlanner.skips_entry(dear, 40.0, None) and not TimePlanner.skips_entry(None, 40.0, far)
    # on the error scale: RMSE as it is, ROC AUC as 1 - AUC
    assert behind_best(2.2, 2.0, greater_is_better=False) == pytest.approx(0.1)
    assert behind_best(0.88, 0.90, greater_is_better=True) == pytest.approx(0.2)
    assert behind_best(0.95, 0.90, greater_is_better=True) == 0.0  # ahead is not behind
    assert behind_best(0.99, 1.0, greater_is_better=True) == float("inf")
    assert behind_best(-3.0, -2.0, greater_is_better=False) is None  # a negated loss: scale unknown
    assert behind_best(5.0, 2.0, greater_is_better=True) is None
