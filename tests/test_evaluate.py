"""A trial's fits share the time left before its deadline; boosting stops adding rounds when its share is spent."""
from __future__ import annotations

import dataclasses
import time

import numpy as np
import pandas as pd
import pytest

from automl.data.schema import infer_schema
from automl.metrics import get_metric
from automl.models.registry import all_families
from automl.pipeline.build import TrialConfig
from automl.search.evaluate import FIT_SHARE, TrialTask, _fit_seconds, evaluate, steps


def _task(rows: int = 20_000, **kwargs) -> tuple[TrialTask, pd.DataFrame, np.ndarray]:  # noqa: ANN003
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(rows, 20)), columns=[f"x{i}" for i in range(20)])
    y = X.to_numpy() @ rng.normal(size=20) + np.sin(3 * X["x0"].to_numpy()) + rng.normal(scale=0.1, size=rows)
    schema, _ = infer_schema(X)
    order = rng.permutation(rows)
    config = TrialConfig(family=all_families()["lightgbm"],
                         params={"n_estimators": 1000, "learning_rate": 0.01})  # would boost on for 1,000 rounds
    task = TrialTask(config=config, schema=schema, task="regression", metric=get_metric("rmse", "regression"),
                     classes=None, folds=[(np.sort(order[rows // 5:]), np.sort(order[:rows // 5]))], random_state=0,
                     n_jobs=1, **kwargs)
    return task, X, y


def test_fit_shares_follow_the_rows_each_fit_trains_on():
    now = time.monotonic()
    rungs, _, _ = _task(rows=100, rungs=(0.25, 1.0), deadline_at=now + 100.0)
    plan = steps(rungs)
    assert _fit_seconds(rungs, plan, 0) == pytest.approx(FIT_SHARE * 100 * 0.25 / 1.25, rel=0.01)
    assert _fit_seconds(rungs, plan, 1) == pytest.approx(FIT_SHARE * 100, rel=0.01)  # the last fit: all that is left
    folds, _, _ = _task(rows=100, refit=True, deadline_at=now + 100.0)
    folds.folds = folds.folds * 3
    assert _fit_seconds(folds, steps(folds), 0) == pytest.approx(FIT_SHARE * 100 / 4, rel=0.01)  # 3 folds, a refit
    unbounded, _, _ = _task(rows=100)
    assert _fit_seconds(unbounded, steps(unbounded), 0) is None


def test_fit_shares_keep_time_for_predicting_the_validation_rows_of_every_step_left():
    now = time.monotonic()
    rungs, _, _ = _task(rows=100, rungs=(0.25, 1.0), deadline_at=now + 100.0)
    plan = steps(rungs)
    # the step before spent 10 s predicting: 10 s are kept for the last step's predictions, 20 s with two steps left
    assert _fit_seconds(rungs, plan, 1, scoring=10.0) == pytest.approx(FIT_SHARE * 90, rel=0.01)
    assert _fit_seconds(rungs, plan, 0, scoring=10.0) == pytest.approx(FIT_SHARE * 80 * 0.25 / 1.25, rel=0.01)


def test_the_steps_before_the_model_take_their_time_out_of_the_models_cap():
    """``max_seconds`` is the whole fit's: the model's own cap is what the cast and encoding left of it (a 600k-row
    rung encoded for 5.7 s, then boosted for the whole cap, and its trial was killed at its deadline)."""
    from automl.search.evaluate import fit_pipeline

    task, X, y = _task(rows=3000)
    started = time.monotonic()
    pipe = fit_pipeline(task, X, y, None, max_seconds=30.0)
    elapsed = time.monotonic() - started
    cap = pipe.named_steps["model"].max_seconds
    assert 30.0 - elapsed <= cap < 30.0


def test_boosting_stops_at_its_share_of_the_trial_and_keeps_a_model():
    """Half a second for a trial that would boost 1,000 slow rounds on 16,000 rows: it ends in time with its fold
    scored and its refit model, both with fewer rounds; nothing is killed."""
    task, X, y = _task(refit=True, deadline_at=time.monotonic() + 0.5)
    result = evaluate(task, X, y, None, lambda step, score, seconds: True)
    assert result.status == "ok" and len(result.fold_scores) == 1 and np.isfinite(result.fold_scores[0])
    booster = result.refit_model.named_steps["model"].estimator_
    assert 1 <= booster.best_iteration_ < 1000


def test_a_trial_caps_its_forest_by_the_rows_it_fits():
    """The rows of each fit reach the family's leaf budget (here a forest declared large from 300 rows): the fold's
    trees and the refit's have at most budget / n_estimators leaves; an uncapped forest on those rows has more."""
    import dataclasses

    task, X, y = _task(rows=500, refit=True)
    forest = dataclasses.replace(all_families()["random_forest"], large_data={"rows": 300, "leaf_budget": 200})
    task.config = TrialConfig(family=forest, params={"n_estimators": 10})
    result = evaluate(task, X, y, None, lambda *a: True)
    assert result.status == "ok", result.error
    leaves = [tree.get_n_leaves() for tree in result.refit_model.named_steps["model"].estimators_]
    assert max(leaves) <= 20
    uncapped = dataclasses.replace(forest, large_data={})
    task.config = TrialConfig(family=uncapped, params={"n_estimators": 10})
    grown = evaluate(task, X, y, None, lambda *a: True).refit_model.named_steps["model"].estimators_
    assert min(tree.get_n_leaves() for tree in grown) > 20


def test_a_rung_of_a_large_table_caps_its_forest_as_the_table_does():
    """A rung's rows are below the family's large-data threshold, the table's are not: the rung's forest is capped
    as the full model would be (a quarter rung of 300k rows grew extra trees out: 1.1 GB against 0.15 GB)."""
    from automl.search.evaluate import STOP

    task, X, y = _task(rows=500, rungs=(0.25, 1.0))
    forest = dataclasses.replace(all_families()["extra_trees"], large_data={"rows": 300, "leaf_budget": 200})
    task.config = TrialConfig(family=forest, params={"n_estimators": 10})
    result = evaluate(task, X, y, None, lambda *a: STOP)  # ends with the first rung's model: 100 of 400 rows
    assert result.status == "ok" and result.fidelity == 0.25, result.error
    assert max(tree.get_n_leaves() for tree in result.refit_model.named_steps["model"].estimators_) <= 20


def test_a_trial_skipping_its_middle_rungs_fits_and_reports_the_others_at_their_positions():
    """The fallback trial's middle rungs are not fitted; its first and last rungs report at their own steps (the
    pruner compares scores step by step), and the time of the skipped rung goes to the last one."""
    now = time.monotonic()
    task, X, y = _task(rows=2000, rungs=(1 / 16, 0.25, 1.0), skip_rungs=(1,))
    task.config.params.update(n_estimators=20)
    reported: list[int] = []
    result = evaluate(task, X, y, None, lambda step, score, seconds: reported.append(step) or True)
    assert result.status == "ok", result.error
    assert reported == [0, 2] and len(result.fold_scores) == 2 and result.fidelity == 1.0
    timed = dataclasses.replace(task, deadline_at=now + 100.0)
    plan = steps(timed)
    assert _fit_seconds(timed, plan, 0) == pytest.approx(FIT_SHARE * 100 / 17, rel=0.01)  # 1/16 of 1/16 + 1
    assert _fit_seconds(dataclasses.replace(timed, skip_rungs=()), plan, 0) == pytest.approx(
        FIT_SHARE * 100 / 21, rel=0.01)


def test_histogram_boosting_fits_a_class_with_one_training_row():
    """Over 10,000 rows the histogram boosting stops early on a stratified split of its training rows, which
    fails when a class has a single row there (a long tail of rare classes, in some folds). The trial scores and
    refits, stopping on its training loss."""
    task, X, values = _task(rows=12_000, refit=True)
    labels = np.where(values > 0, "up", "down").astype(object)
    labels[task.folds[0][0][0]] = "once"  # one training row of a third class
    task.config = TrialConfig(family=all_families()["hist_gradient_boosting"], params={"max_iter": 20})
    task.task, task.metric, task.classes = "multiclass", get_metric(None, "multiclass"), np.array(["down", "once", "up"])
    result = evaluate(task, X, labels, None, lambda step, score, seconds: True)
    assert result.status == "ok", result.error
    assert np.isfinite(result.fold_scores[0])
    refitted = result.refit_model.named_steps["model"].estimator_  # all rows: the one row of "once" among them
    assert refitted.validation_fraction is None and 1 <= refitted.n_iter_ <= 20


def test_a_holdout_trial_sends_its_model_back_only_when_it_beats_the_best_so_far():
    """With one holdout fold the trial's fitted model stands in for a refit that may not finish: sent back when its
    score beats the bar (the best so far), never otherwise, and it predicts what the fold scored."""
    task, X, y = _task(rows=600, keep_holdout_model_beating=np.inf)  # RMSE: any finite score beats it
    task.config = TrialConfig(family=all_families()["linear"], params={})
    result = evaluate(task, X, y, None, lambda step, score, seconds: True)
    assert result.status == "ok" and result.holdout_model and result.refit_time is None
    _, valid = task.folds[0]
    rmse = np.sqrt(np.mean((result.refit_model.predict(X.iloc[valid]) - y[valid]) ** 2))
    assert rmse == pytest.approx(result.fold_scores[0], rel=1e-6)
    task.keep_holdout_model_beating = 0.0  # nothing beats an RMSE of 0
    assert evaluate(task, X, y, None, lambda step, score, seconds: True).refit_model is None
    task.keep_holdout_model_beating = None
    assert evaluate(task, X, y, None, lambda step, score, seconds: True).refit_model is None


@pytest.mark.parametrize("plan", ["none", "group_stats"])
def test_a_trial_records_what_its_single_table_synthesis_cost_on_its_folds(plan):
    from automl.features.tabular import synthesis_seconds

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"shop": rng.choice(list("abcdefgh"), 3000), "price": rng.normal(size=3000),
                      "size": rng.normal(size=3000)})
    y = (X["price"] > 0).to_numpy().astype(int)
    schema, _ = infer_schema(X)
    config = TrialConfig(family=all_families()["linear"], params={}, preprocess={"synthesis": plan})
    folds = [(np.arange(1000, 3000), np.arange(1000)), (np.arange(1000), np.arange(1000, 3000))]
    task = TrialTask(config=config, schema=schema, task="binary", metric=get_metric("roc_auc", "binary"),
                     classes=np.array([0, 1]), folds=folds, random_state=0, n_jobs=1, refit=True)
    result = evaluate(task, X, y, None, lambda step, score, seconds: True)
    assert result.status == "ok", result.error
    if plan == "none":
        assert result.synthesis_time == 0.0 and synthesis_seconds(result.refit_model) == 0.0
    else:  # timed inside each fold's fit, so part of its fit time
        assert 0.0 < result.synthesis_time < sum(result.fit_times)
        assert 0.0 < synthesis_seconds(result.refit_model)


def test_a_refit_given_rounds_boosts_that_many_on_every_row():
    """A trial whose fold models stopped on their validation folds records their mean rounds; refitted in another
    process (its bag lost), its configuration boosts that many rounds on all the rows, without a holdout."""
    import dataclasses

    task, X, y = _task(rows=2000, refit=True, rounds=37)
    result = evaluate(dataclasses.replace(task, folds=[]), X, y, None, lambda step, score, seconds: True)
    wrapper = result.refit_model.named_steps["model"]
    assert result.status == "ok" and wrapper.best_iteration_ == 37
    assert wrapper.estimator_.booster_.current_iteration() == 37


def test_a_network_is_refitted_at_the_mean_best_epoch_of_its_fold_models():
    """The MLP's fold models stop on their own early-stopping holdout; the trial records their mean best epoch and
    its refit trains that many epochs on every row, without a holdout of its own (whose stop ran anything from a
    third to nearly five times the folds' epochs, so its time could not be planned)."""
    import dataclasses

    task, X, y = _task(rows=600, refit=True)
    order = np.random.default_rng(1).permutation(len(y))
    folds = [(np.sort(np.setdiff1d(order, part)), np.sort(part)) for part in np.array_split(order, 3)]
    mlp = all_families()["mlp"]
    config = TrialConfig(family=mlp, params={**mlp.fixed, "hidden_units": 16, "max_iter": 300})
    result = evaluate(dataclasses.replace(task, config=config, folds=folds), X, y, None, lambda *a: True)
    assert result.status == "ok", result.error
    assert result.rounds is not None and 1 <= result.rounds <= 300
    network = result.refit_model.named_steps["model"]
    assert network.epochs == max(1, round(result.rounds)) and network.validation_scores_ is None
    assert network.n_iter_ <= network.epochs and network.early_stopping  # the parameter is as given


def test_other_models_record_no_epochs():
    """A boosting trial outside a bag records no rounds: its refit stops on its own holdout, as before."""
    task, X, y = _task(rows=600, refit=True)
    result = evaluate(task, X, y, None, lambda *a: True)
    assert result.status == "ok" and result.rounds is None


def test_a_fit_on_some_rows_lets_their_copy_go_once_the_first_step_has_read_it(monkeypatch):
    """The rows a fold or rung fits are a copy (a 3M-row table's full rung: 0.9 GB); ``fit_pipeline`` takes them
    itself and holds them only until the cast has read them, where ``Pipeline.fit`` held them until the model was
    fitted. The model is the same as ``Pipeline.fit`` on those rows gives."""
    import weakref

    from automl.pipeline.build import build_pipeline
    from automl.pipeline.transformers import ColumnCaster
    from automl.search.evaluate import fit_pipeline

    task, X, y = _task(rows=3000)
    task.config.params.update(n_estimators=30)
    index = task.folds[0][0]
    plain = build_pipeline(task.schema, task.config, task.task, 0, 1, rows=len(index))
    model_class, cast = type(plain.steps[-1][1]), ColumnCaster.transform
    model_fit = model_class.fit
    cast_inputs: list[weakref.ref] = []
    alive_at_model_fit: list[bool] = []

    def watched_cast(self, frame):  # noqa: ANN001, ANN202
        cast_inputs.append(weakref.ref(frame))
        return cast(self, frame)

    def watched_fit(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        alive_at_model_fit.append(cast_inputs[0]() is not None)
        return model_fit(self, *args, **kwargs)

    monkeypatch.setattr(ColumnCaster, "transform", watched_cast)
    monkeypatch.setattr(model_class, "fit", watched_fit)
    pipe = fit_pipeline(task, X, y, None, index=index)
    assert alive_at_model_fit == [False]
    monkeypatch.undo()
    np.testing.assert_allclose(pipe.predict(X), plain.fit(X.iloc[index], y[index]).predict(X))


def test_selection_that_keeps_every_feature_passes_the_input_on_without_a_copy():
    """Most trials select nothing: their model's input is the preprocessing's output itself, not a second copy."""
    from automl.pipeline.select import FeatureSelector

    X = np.random.default_rng(0).normal(size=(200, 5))
    y = (X[:, 0] > 0).astype(int)
    assert FeatureSelector().fit(X, y).transform(X) is X
    kept = FeatureSelector(method="f_test", fraction=0.4).fit(X, y).transform(X)
    assert kept.shape == (200, 2) and not np.shares_memory(kept, X)
