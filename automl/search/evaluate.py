"""Evaluate one trial configuration by cross-validation; runs inside a worker process."""
from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field, replace
from typing import Any, Callable, cast

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.pipeline import Pipeline

from automl.data.schema import Schema
from automl.features.tabular import synthesis_seconds
from automl.metrics import Metric, predict_for_metric, score_predictions
from automl.models.boosting import CutsRounds, EarlyStopping, nested_rounds
from automl.pipeline.build import TrialConfig, build_pipeline
from automl.pipeline.labels import EncodedLabelClassifier
from automl.pipeline.select import selected_counts
from automl.search.ensemble import WeightedEnsembleClassifier, WeightedEnsembleRegressor
from automl.search.stack_columns import with_stack_columns
from automl.search.step_cache import CACHED_STEP, STEP_CACHE, fit_reusing_step

# report(step, score, seconds) -> what to do next: GO on, PRUNE (the trial ends without a result), or STOP (the
# trial ends with what it has: on row-subsample rungs, a model at the fidelity reached). A bool is read as GO /
# PRUNE. ``seconds``: what the step took, as (fitting, the rest: predicting and scoring the validation rows), so
# the parent can project the steps left (a rung's fit grows with its rows, its validation does not).
Reporter = Callable[[int, float, tuple[float, float]], Any]
GO, PRUNE, STOP = "go", "prune", "stop"
# The subsample of a rung: a fixed permutation of the training rows, so each rung holds the rows of the one before.
RUNG_SEED = 0
# The model parameters a refit at its fold models' iterations (TrialTask.rounds) sets: boosting wrappers' rounds, the
# scikit-learn networks' epochs (automl/models/neural.py)
REFIT_ITERATIONS = ("rounds", "epochs")


@dataclass
class TrialTask:
    """Everything a worker needs to evaluate one configuration (data travels separately)."""

    config: TrialConfig
    schema: Schema
    task: str
    metric: Metric
    classes: np.ndarray | None
    folds: list[tuple[np.ndarray, np.ndarray]]
    random_state: int | None
    n_jobs: int
    refit: bool = False
    memory_limit: int | None = None  # bytes the trial process may allocate beyond what it started with
    # with one (holdout) fold: shares of its training rows fitted in turn, each a step the pruner sees
    rungs: tuple[float, ...] = (1.0,)
    # the rungs (their positions) this trial does not fit: the fallback trial's middle ones (TimePlanner.skipped_rungs)
    skip_rungs: tuple[int, ...] = ()
    # the refit trains on this share of the rows (a trial that ended at a lower rung)
    refit_fraction: float = 1.0
    # small data: the trial's model is the average of its fold models (no refit)
    bag: bool = False
    # a boosting model (a wrapper that ``stops_on_validation``) stops on each fold's validation rows and keeps the
    # rounds the other folds' curves chose (automl/models/boosting.py); small data, as ``bag``
    stop_on_folds: bool = False
    # a refit of such a trial boosts this many rounds on all the rows, unstopped (its fold models' mean); a network's
    # refit trains this many epochs on all of them (its fold models' mean best epoch: REFIT_ITERATIONS)
    rounds: int | None = None
    # ``time.monotonic()`` instant the trial is stopped at (set for trials on rungs): its fits share the time left
    # (FIT_SHARE of it) and boosting stops adding rounds when a fit's share is spent (a model, not a kill)
    deadline_at: float | None = None
    # with one holdout fold (not on rungs): send the fold's model back when its score beats this one (the best so
    # far), to stand in for the refit on all rows if that cannot finish in time; ``None``: never
    keep_holdout_model_beating: float | None = None
    # a second-level (stacked) trial: step k's rows get the columns ``stack_columns`` with the values
    # ``stack_features[k]`` (rows x columns: first-level predictions no model of fold k saw; automl/search/stack.py)
    stack_columns: list[str] = field(default_factory=list)
    stack_features: list[np.ndarray] | None = None

    def at_rounds(self, rounds: float) -> "TrialTask":
        """This task with ``rounds`` (its fold models' mean rounds or best epoch) as the whole number its refit
        fits, at least 1."""
        return replace(self, rounds=max(1, round(float(rounds))))

    @property
    def on_rungs(self) -> bool:
        """Whether the trial fits growing shares of one holdout fold's rows (large data) instead of its folds."""
        return len(self.folds) == 1 and len(self.rungs) > 1

    def fits_step(self, position: int) -> bool:
        """Whether the trial fits its step (fold or rung) at ``position``: every one but the rungs it skips."""
        return not (self.on_rungs and position in self.skip_rungs)


@dataclass
class TrialResult:
    """What a finished (or pruned) evaluation sends back."""

    status: str  # ok | pruned | error
    fold_scores: list[float] = field(default_factory=list)
    fit_times: list[float] = field(default_factory=list)
    predict_times_per_1k: list[float] = field(default_factory=list)
    oof: np.ndarray | None = None
    error: str = ""
    traceback: str = ""
    refit_model: Any = None
    refit_time: float | None = None
    # features the pipeline built before selection, and features its model got (first fold)
    n_features_synthesised: int | None = None
    n_features_selected: int | None = None
    # on rungs: the scores are of growing training sets, the last one is the trial's; fidelity is its share of rows
    rungs: bool = False
    fidelity: float = 1.0
    # the model is the average of the fold models (TrialTask.bag), in ``refit_model``
    bagged: bool = False
    # the model is the one holdout fold's (TrialTask.keep_holdout_model_beating), in ``refit_model``
    holdout_model: bool = False
    # peak resident memory of the trial's process (sampled about four times a second), set by the runner
    peak_memory_mb: float | None = None
    # seconds its folds (or rungs) spent fitting single-table synthesis on their training rows
    synthesis_time: float = 0.0
    # boosting rounds its fold models kept on average, when they stopped on their validation folds (stop_on_folds),
    # or the epochs a network's fold models kept (their best on their own early-stopping holdout)
    rounds: float | None = None

    @property
    def score(self) -> float | None:
        if not self.fold_scores:
            return None
        return float(self.fold_scores[-1]) if self.rungs else float(np.mean(self.fold_scores))

    @property
    def score_std(self) -> float | None:
        return float(np.std(self.fold_scores)) if len(self.fold_scores) > 1 and not self.rungs else None

    @property
    def fold_fit_time(self) -> float | None:
        """Seconds of one fit on a fold's training rows (at the fidelity reached, on rungs)."""
        if not self.fit_times:
            return None
        return float(self.fit_times[-1]) if self.rungs else float(np.mean(self.fit_times))


def fit_pipeline(task: TrialTask, X: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray | None,
                 max_seconds: float | None = None, table_rows: int | None = None,
                 validation: tuple[pd.DataFrame, np.ndarray, np.ndarray | None] | None = None,
                 index: np.ndarray | None = None) -> Any:
    """Build and fit the trial's pipeline on ``X, y`` (weights go to the model step); its FRESH filter comes from
    the fit's step cache when the trials' needs name one (:mod:`automl.search.step_cache`). ``max_seconds`` caps
    the whole fit, the steps before the model included, through the rounds of a model that takes it (boosting's
    early-stopping wrappers, the network's epochs): the model gets what the steps before it left (all of it when a
    cached FRESH filter is reused: those steps are fitted in :func:`~automl.search.step_cache.fit_reusing_step`,
    and the model's cap is set before them). ``table_rows``:
    the rows of the table searched (default: the rows fitted), which decide the size rules of the families (a
    forest's leaf budget), so that a rung or fold of a large table is built like the table's model: a quarter rung
    of 300k rows under the large-data threshold grew its extra trees out, 1.1 GB in the trial process against
    0.15 GB at the full rung.
    ``validation``: rows ``(X, y, sample_weight)`` a model that stops on them is stopped on (transformed by the
    pipeline's steps before the model, fitted on ``X``), for a pipeline whose model can (:func:`stopping_model`).
    ``index``: the positions of ``X, y, sample_weight`` to fit on (default all), taken here so that their copy is
    let go once the first step has read it (the full rung of a 3M-row table: 0.9 GB less from the second step on)."""
    started = time.monotonic()
    if index is not None:
        y, sample_weight = y[index], None if sample_weight is None else sample_weight[index]
    rows = len(y) if table_rows is None else table_rows
    pipe = build_pipeline(task.schema, task.config, task.task, task.random_state, task.n_jobs, rows=rows)
    if task.rounds:
        _set_by_name(pipe, dict.fromkeys(REFIT_ITERATIONS, task.rounds), within="model__")
    _set_by_name(pipe, task.config.family.adapter_object().label_params(y, task.task), within="model__")
    location = task.config.needs().get(STEP_CACHE)
    if location and CACHED_STEP in pipe.named_steps:  # the FRESH filter of an earlier trial, on the same input
        if max_seconds is not None:  # here the model's cap does not count the steps before it (fitted in the call)
            _set_by_name(pipe, {"max_seconds": max_seconds})
        fit_params = {} if sample_weight is None else {"model__sample_weight": sample_weight}
        return fit_reusing_step(pipe, X if index is None else X.iloc[index], y, fit_params, str(location))
    # step by step, as Pipeline.fit does, but holding each step's input only until it is transformed (Pipeline.fit
    # holds its own until the model is fitted): the rows taken, and then the cast frame, go before the next step
    head, model = pipe[:-1], pipe.steps[-1][1]
    Xt = X if index is None else X.iloc[index]
    for _, step in head.steps:
        Xt = step.fit_transform(Xt, y)
    if max_seconds is not None:
        # the steps before the model spent part of the fit's time: the model gets the rest (the full rung of a
        # 600k-row table encoded for 5.7 s and then boosted for all of its 27.8 s; with the validation rows'
        # predictions after it, its trial passed its deadline and was killed with no model)
        _set_by_name(pipe, {"max_seconds": max(max_seconds - (time.monotonic() - started), 0.0)})
    Xt = in_fit_dtype(Xt, model)
    weight = {} if sample_weight is None else {"sample_weight": sample_weight}
    if validation is not None and stopping_model(model) is not None:
        X_valid, y_valid, w_valid = validation
        model.fit(Xt, y, validation=(head.transform(X_valid), y_valid, w_valid), **weight)
    else:
        model.fit(Xt, y, **weight)
    return pipe


def in_fit_dtype(X: Any, model: Any) -> Any:
    """``X`` in the dtype the model's fit reads it in (its ``fit_dtype``: the network's float32), so that the
    steps' float64 output is let go before the model makes its own copy (the network's trial on 60,000 rows of the
    100k-row multiclass table held both: 59 MB of float64 beside the 30 MB it trained on); the numbers are those the
    model's own conversion gives. ``X`` as it is for a model without one, or for input that is not an array."""
    dtype = getattr(_inner_model(model), "fit_dtype", None)
    if dtype is None:
        return X
    if sparse.issparse(X):
        return X.astype(dtype, copy=False)
    return np.ascontiguousarray(X, dtype=dtype) if isinstance(X, np.ndarray) else X


def stopping_model(model: Any) -> CutsRounds | None:
    """The boosting wrapper inside a pipeline's model step (fitted or not: through a label encoder) that stops on
    validation rows it is given, or ``None``."""
    inner = _inner_model(model)
    return cast(CutsRounds, inner) if isinstance(inner, EarlyStopping) and inner.stops_on_validation else None


def _inner_model(model: Any) -> Any:
    """A pipeline's model step without its label encoder (fitted or not)."""
    if isinstance(model, EncodedLabelClassifier):
        return getattr(model, "estimator_", None) or model.estimator
    return model


def best_epoch(pipe: Any) -> int | None:
    """The epoch a fitted pipeline's network keeps (its best on its early-stopping holdout), or ``None`` for a model
    that cannot be refitted at a given number of ``epochs`` (the torch network stops on a holdout in its refit too,
    by its time cap: not changed, unmeasured)."""
    inner = _inner_model(pipe.steps[-1][1])
    return getattr(inner, "best_epoch_", None) if "epochs" in inner.get_params(deep=False) else None


def _set_by_name(pipe: Any, values: dict[str, Any], within: str = "") -> None:
    """Set parameters by their own name (the part after the last ``__``) wherever the pipeline's steps, wrappers
    included, have them; only under ``within`` when given (``"model__"``: the model step)."""
    if values:
        pipe.set_params(**{name: values[own] for name in pipe.get_params()
                           if name.startswith(within) and (own := name.rpartition("__")[2]) in values and own != name})


def steps(task: TrialTask) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """What a trial fits and scores in turn: each fold, or, with one fold and several rungs, growing nested
    subsamples of its training rows (each with its share of them)."""
    if not task.on_rungs:
        return [(train, valid, 1.0) for train, valid in task.folds]
    train, valid = task.folds[0]
    order = np.random.default_rng(RUNG_SEED).permutation(train)
    return [(np.sort(order[: max(2, int(round(f * len(train))))]), valid, f) for f in task.rungs]


def evaluate(task: TrialTask, X: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray | None,
             report: Reporter) -> TrialResult:
    """Cross-validate ``task.config`` over ``task.folds`` (or its rungs); report each step's score as it comes.

    Errors are caught and returned as ``status="error"`` with the traceback's last line and the step.
    """
    plan = steps(task)
    result = TrialResult(status="ok", rungs=task.on_rungs)
    width = len(task.classes) if task.classes is not None else None
    result.oof = np.full((len(y), width) if width else len(y), np.nan)
    stage = "fold 0"
    pipe = None
    fold_models: list[Any] = []
    stops = task.stop_on_folds and not result.rungs
    curves: list[np.ndarray | None] = []  # of the fold models stopped on their validation folds so far
    epochs: list[int | None] = []  # the best epoch of each fold's network (None: not a network that stops)
    scoring = 0.0  # what the last step took besides its fit (predicting and scoring its validation rows)
    try:
        for step, (train, valid, fraction) in enumerate(plan):
            if not task.fits_step(step):
                continue
            stage = f"rung {step} ({fraction:.3g} of the rows)" if result.rungs else f"fold {step}"
            step_start = time.perf_counter()
            w_valid = None if sample_weight is None else sample_weight[valid]
            rows = step_rows(task, X, step)
            start = time.perf_counter()
            pipe = None  # the step before's model is not held while this one is fitted
            validation = (rows.iloc[valid], y[valid], w_valid) if stops else None
            pipe = fit_pipeline(task, rows, y, sample_weight, _fit_seconds(task, plan, step, scoring), len(y),
                                validation, index=train)
            result.fit_times.append(time.perf_counter() - start)
            result.synthesis_time += synthesis_seconds(pipe)
            if task.bag or stops:
                fold_models.append(pipe)
            epochs.append(best_epoch(pipe))
            if len(result.fit_times) == 1:
                result.n_features_synthesised, result.n_features_selected = selected_counts(pipe)
            start = time.perf_counter()
            if stops:  # scored for the pruner at the rounds the folds before it chose (cut after the last fold)
                _predict_with_interim_rounds(pipe, curves)
            score = _validate(task, pipe, rows, y, valid, w_valid, result, stage)
            result.predict_times_per_1k.append((time.perf_counter() - start) / max(len(valid), 1) * 1000)
            result.fold_scores.append(score)
            result.fidelity = fraction
            fitting = result.fit_times[-1]
            scoring = time.perf_counter() - step_start - fitting
            decision = report(step, score, (fitting, scoring))
            decision = GO if decision is True else PRUNE if decision is False else decision
            if decision == PRUNE or (decision == STOP and not result.rungs):
                result.status = "pruned"
                return result
            if decision == STOP:
                break
        if stops:
            stage = "cutting the rounds"
            _cut_at_nested_rounds(task, fold_models, X, y, sample_weight, result)
            fold_models = fold_models if task.bag else []
        elif not result.rungs and epochs and None not in epochs:
            result.rounds = float(np.mean([e for e in epochs if e is not None]))
        if result.rungs:
            # large data, one holdout: the last fitted pipeline is the trial's model (a refit would cost as much
            # again for a fifth more rows); the search keeps those of its best trials for the final model
            result.refit_model, result.refit_time = pipe, 0.0
        elif task.bag and len(fold_models) > 1:
            # small data: the fold models, averaged, are the trial's model; its out-of-fold predictions are theirs
            result.refit_model, result.refit_time, result.bagged = bag_of(fold_models, task.classes), 0.0, True
        elif _refits(task):
            stage = "refit"
            start = time.perf_counter()
            refit_task = task.at_rounds(result.rounds) if result.rounds and not task.rounds else task
            result.refit_model = _refit(refit_task, X, y, sample_weight)
            result.refit_time = time.perf_counter() - start
        elif _keeps_holdout_model(task, result):
            result.refit_model, result.holdout_model = pipe, True
    except Exception as exc:  # a failing family is a leaderboard row, not a crash
        result.status = "error"
        limit = (f" (over the trial memory limit of {task.memory_limit / 2**30:.1f} GB: AutoML(memory_limit=...))"
                 if isinstance(exc, MemoryError) and task.memory_limit else "")
        result.error = f"{type(exc).__name__} in {stage}: {exc}{limit}"[:2000]
        result.traceback = traceback.format_exc(limit=8)
    return result


def _validate(task: TrialTask, pipe: Any, rows: pd.DataFrame, y: np.ndarray, valid: np.ndarray,
              w_valid: np.ndarray | None, result: TrialResult, stage: str) -> float:
    """Predict the validation rows ``valid`` into ``result.oof`` and score them."""
    pred = predict_for_metric(pipe, rows.iloc[valid], task.task, task.classes)
    if result.oof is not None:
        result.oof[valid] = pred
    if task.metric.scorer is not None:
        kwargs = {} if w_valid is None else {"sample_weight": w_valid}
        score = float(task.metric.scorer(pipe, rows.iloc[valid], y[valid], **kwargs))
    else:
        score = score_predictions(task.metric, y[valid], pred, w_valid, task.classes)
    if not np.isfinite(score):
        raise ValueError(f"the metric {task.metric.name} gave {score} on {stage}")
    return score


def _predict_with_interim_rounds(pipe: Any, curves: list[np.ndarray | None]) -> None:
    """Let a fold model stopped on its validation rows predict with the best round of the folds before it (its
    own best for the first fold, the one optimistic score), adding its curve to ``curves``. Scored with every
    round it fitted (patience past its best), a fold would rank below its worth and the pruner would stop trials it
    should not."""
    stopper = stopping_model(pipe.steps[-1][1])
    curve = None if stopper is None else stopper.validation_curve_
    curves.append(curve)
    if stopper is not None and curve is not None:
        stopper.predict_with_rounds(nested_rounds(curves)[-1])


def _cut_at_nested_rounds(task: TrialTask, fold_models: list[Any], X: pd.DataFrame, y: np.ndarray,
                          sample_weight: np.ndarray | None, result: TrialResult) -> None:
    """Cut each fold model that stopped on its own validation rows at the round the other folds' validation curves
    chose (:func:`automl.models.boosting.nested_rounds`), and validate it again: its score is then honest. (A fold
    model without a curve, one whose validation rows had no class it knew, stopped on its own holdout.)"""
    stoppers = [stopping_model(pipe.steps[-1][1]) for pipe in fold_models]
    rounds = nested_rounds([None if s is None else s.validation_curve_ for s in stoppers])
    cut = [r for r in rounds if r is not None]
    result.rounds = float(np.mean(cut)) if cut else None
    for step, ((_, valid), pipe, stopper, at) in enumerate(zip(task.folds, fold_models, stoppers, rounds)):
        if stopper is None or at is None:
            continue
        stopper.keep_rounds(at)
        w_valid = None if sample_weight is None else sample_weight[valid]
        result.fold_scores[step] = _validate(task, pipe, step_rows(task, X, step), y, valid, w_valid, result,
                                             f"fold {step}")


def step_rows(task: TrialTask, X: pd.DataFrame, step: int) -> pd.DataFrame:
    """The rows step ``step`` fits and validates on: ``X``, with a second-level trial's stack columns of that step."""
    if task.stack_features is None:
        return X
    return with_stack_columns(X, [(task.stack_columns, task.stack_features[step])])


# Share of a trial's time left that its fits may take (the rest: predicting, scoring, sending the result back).
FIT_SHARE = 0.8


def _refits(task: TrialTask) -> bool:
    """Whether the trial ends with a refit on all the rows (not on rungs, not a bag of its fold models)."""
    return task.refit and not task.on_rungs and not (task.bag and len(task.folds) > 1)


def _keeps_holdout_model(task: TrialTask, result: TrialResult) -> bool:
    """Whether a one-holdout trial sends its fold's model back: it beat the best score so far."""
    bar, score = task.keep_holdout_model_beating, result.score
    if bar is None or len(task.folds) != 1 or score is None or not np.isfinite(score):
        return False
    return task.metric.better(score, bar)


def _fit_seconds(task: TrialTask, plan: list[tuple[np.ndarray, np.ndarray, float]], step: int,
                 scoring: float = 0.0) -> float | None:
    """The time step ``step``'s fit may take: its share (a rung: its share of the rows) of what is left before the
    trial's deadline, split over this and the later fits (and the refit; not the rungs skipped), once ``scoring``
    (what the step before took besides its fit: predicting the validation rows, the same rows on every rung) is kept
    for this and each later step."""
    if task.deadline_at is None:
        return None
    ahead = [fraction for position, (_, _, fraction) in enumerate(plan) if position >= step and task.fits_step(position)]
    left = FIT_SHARE * (task.deadline_at - time.monotonic() - scoring * len(ahead))
    return max(left * plan[step][2] / (sum(ahead) + (1.0 if _refits(task) else 0.0)), 0.0)


def bag_of(models: list[Any], classes: np.ndarray | None) -> Any:
    """Fitted pipelines averaged with equal weights, as a final model is (``Pipeline([("ensemble", ...)])``)."""
    weights = [1.0 / len(models)] * len(models)
    if classes is None:
        return Pipeline([("ensemble", WeightedEnsembleRegressor.from_fitted(models, weights))])
    return Pipeline([("ensemble", WeightedEnsembleClassifier.from_fitted(models, weights, classes))])


def _refit(task: TrialTask, X: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray | None) -> Any:
    """The pipeline fitted on all the rows, or on ``task.refit_fraction`` of them (the same nested order)."""
    seconds = None if task.deadline_at is None else max(FIT_SHARE * (task.deadline_at - time.monotonic()), 0.0)
    if task.refit_fraction >= 1.0:
        return fit_pipeline(task, X, y, sample_weight, seconds)
    rows = np.sort(np.random.default_rng(RUNG_SEED).permutation(len(y))[: max(2, int(task.refit_fraction * len(y)))])
    return fit_pipeline(task, X, y, sample_weight, seconds, len(y), index=rows)
