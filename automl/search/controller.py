"""The search controller: one loop under one deadline, the Optuna study as the record."""
from __future__ import annotations

import logging
import os
import socket
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import optuna
from sklearn.pipeline import Pipeline

from automl.data.schema import Schema
from automl.metrics import Metric
from automl.models.registry import ModelFamily
from automl.pipeline.build import TrialConfig
from automl.search.budget import Deadline
from automl.search.ensemble import (MAX_CANDIDATES, ROUNDS as ENSEMBLE_ROUNDS, Selection, WeightedEnsembleClassifier,
                                    WeightedEnsembleRegressor, score_weights, select_ensemble)
from automl.search.evaluate import TrialResult, TrialTask
from automl.search.leaderboard import build_leaderboard, params_json
from automl.search.space import FAMILY, suggest_config
from automl.search.portfolio import portfolio_points
from automl.search.strategies import initial_points, make_pruner, make_sampler
from automl.search.study import (HEARTBEAT_INTERVAL, fail_stale_trials, open_storage, record_heartbeat,
                                 save_settings)
from automl.search.worker import TrialData, TrialProcess

log = logging.getLogger("automl")
COMPLETE, FAIL = optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL
optuna.logging.set_verbosity(optuna.logging.WARNING)

# Seconds kept free at the end of fit for building the leaderboard and returning.
END_MARGIN = 0.3
# A trial is not started with less than this many seconds before its deadline.
MIN_TRIAL_SECONDS = 0.5
# Process start and model transfer added to every refit estimate.
REFIT_OVERHEAD = 0.5
# Time to kill a trial's process and record it, so the refit reserve is still whole afterwards.
KILL_SLACK = 0.25
# Refit time is reserved for this many of the best trials when ensembling (weights concentrate on few).
ENSEMBLE_RESERVE = 3
# No trial may take more than this share of the time left when it starts, so one slow or hanging
# configuration cannot starve the families after it.
TRIAL_SHARE = 0.5


@dataclass
class SearchSettings:
    """How the controller searches (from the estimator's parameters)."""

    search: str = "bayes"
    max_trials: int | None = None
    n_jobs: int = 1
    seed: int = 0
    sampler_seed: int | None = None
    class_weight: Any = None
    imbalanced: bool = False
    storage: Any = None
    study_name: str | None = None
    worker: bool = False
    ensemble: bool = True
    portfolio: list[dict[str, Any]] = field(default_factory=list)  # entries, as load_portfolio returns them
    saved: dict[str, Any] = field(default_factory=dict)


@dataclass
class Refit:
    """The final model and where it came from."""

    trial: int | None
    family: str
    params: dict[str, Any]
    score: float | None
    pipeline: Any
    fallback_used: bool


@dataclass
class SearchOutcome:
    """What the search leaves behind."""

    study: optuna.Study
    final: Refit
    results: dict[int, TrialResult] = field(default_factory=dict)
    search_time: float = 0.0
    refit_time: float = 0.0


class SearchController:
    """Evaluate configurations until the deadline, then refit the best on all the data.

    Parameters
    ----------
    schema, task, metric, families, folds, classes
        The problem: see :class:`automl.search.evaluate.TrialTask`.
    deadline : Deadline
        The whole fit's deadline; the refit must finish before it too.
    settings : SearchSettings
    progress : callable, optional
        Called with ``(study, frozen_trial)`` after every trial.
    """

    def __init__(self, *, schema: Schema, task: str, metric: Metric, families: list[ModelFamily],
                 folds: list[tuple[np.ndarray, np.ndarray]], classes: np.ndarray | None, deadline: Deadline,
                 settings: SearchSettings, progress: Callable[[optuna.Study, Any], None] | None = None):
        self.schema, self.task, self.metric = schema, task, metric
        self.families, self.folds, self.classes = families, folds, classes
        self.deadline, self.settings, self.progress = deadline, settings, progress
        self.runner = TrialProcess()
        self.results: dict[int, TrialResult] = {}
        self._score_seconds: float | None = None  # one metric evaluation on the out-of-fold rows, measured once
        self._target: np.ndarray | None = None
        self.fallback: tuple[int, Any] | None = None
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"
        # rows of the search data: every row some fold trains or validates on (with a holdout the validation
        # rows alone are a fifth of them, which made the fit part of refit estimates a fifth of the truth)
        self.n_rows = len(np.unique(np.concatenate([np.concatenate([t, v]) for t, v in folds]))) if folds else 0

    # -- the study -------------------------------------------------------------------------------------
    def open_study(self) -> optuna.Study:
        """Create (or, with a storage, load) the study and enqueue the portfolio not yet evaluated.

        A worker only loads the study: the process that started it enqueued the portfolio.
        """
        s = self.settings
        storage = open_storage(s.storage) if isinstance(s.storage, str) or s.storage is None else s.storage
        sampler_seed = s.seed if s.sampler_seed is None else s.sampler_seed
        sampler, pruner = make_sampler(s.search, sampler_seed), make_pruner(len(self.folds))
        if s.worker:
            if storage is None or s.study_name is None:
                raise ValueError("a worker joins a study: give a storage URL and a study name")
            return optuna.load_study(study_name=s.study_name, storage=storage, sampler=sampler, pruner=pruner)
        study = optuna.create_study(storage=storage, study_name=s.study_name, load_if_exists=s.study_name is not None,
                                    direction=self.metric.direction, sampler=sampler, pruner=pruner)
        if study.direction.name.lower() != self.metric.direction:
            raise ValueError(f"study {s.study_name!r} was started to {study.direction.name.lower()} another metric; "
                             f"{self.metric.name} must {self.metric.direction}. Use a new study name.")
        if s.saved:
            save_settings(study, s.saved)
        evaluated = {params_json(t.params) for t in study.get_trials(deepcopy=False)
                     if t.user_attrs.get("source") == "enqueued" and _was_evaluated(t)}
        portfolio = portfolio_points(s.portfolio, self.families, self.task)
        for point in initial_points(s.search, self.families, self.task,
                                    "balanced" if s.imbalanced and s.class_weight == "search" else None, portfolio):
            if params_json(point) not in evaluated:
                study.enqueue_trial(point, user_attrs={"source": "enqueued", "fixed": sorted(point)},
                                    skip_if_exists=True)
        return study

    # -- the loop --------------------------------------------------------------------------------------
    def search(self, study: optuna.Study, data: TrialData) -> None:
        """Run trials until the deadline, ``max_trials`` or the end of the enqueued points."""
        self._target = data.y
        skipped_in_a_row = 0
        while self._may_start(study):
            fail_stale_trials(study)
            with warnings.catch_warnings():
                # Optuna warns that heartbeats are meant for Study.optimize; we send them ourselves
                warnings.filterwarnings("ignore", message="Heartbeat of storage")
                trial = study.ask()
            fixed = trial.user_attrs.get("fixed")
            if self.settings.search in ("defaults", "grid") and fixed is None:
                # another worker took the last enqueued point: nothing is left to evaluate
                trial.set_user_attr("status", "skipped")
                trial.set_user_attr("error", "no enqueued configuration left")
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                break
            config = suggest_config(trial, self.families, self.task, self.settings.class_weight, fixed)
            estimate = self._estimate_trial(study, config.family.name)
            available = self._trial_deadline() - time.monotonic()
            if estimate is not None and estimate > available:
                self._tell(study, trial, config, TrialResult(
                    status="skipped", error=f"not started: estimated {estimate:.1f}s, {available:.1f}s left"), 0.0)
                skipped_in_a_row += 1
                if skipped_in_a_row >= 5:
                    break
                self._redirect(study, available)
                continue
            skipped_in_a_row = 0
            self._run(study, trial, config, data)

    def _redirect(self, study: optuna.Study, available: float) -> None:
        """After a sampled family was too slow for the time left: enqueue the next trial with its family
        fixed to one that fits (the best-scoring such family so far, else the cheapest), its other
        parameters sampled as usual, so the sampler does not keep drawing a family that cannot run."""
        if self.settings.search not in ("bayes", "random"):
            return
        fits = [f.name for f in self.families
                if (self._estimate_trial(study, f.name) or 0.0) <= available]
        if not fits:
            return
        best = next((t.user_attrs["family"] for t in self._ranked_ok_trials() if t.user_attrs.get("family") in fits),
                    fits[0])
        study.enqueue_trial({FAMILY: best}, user_attrs={"source": "redirected"})

    def _may_start(self, study: optuna.Study) -> bool:
        available = self._trial_deadline() - time.monotonic()
        if available < MIN_TRIAL_SECONDS:
            return False
        cheapest = min((self._estimate_trial(study, f.name) or 0.0) for f in self.families)
        if cheapest > available:
            return False
        if self.settings.max_trials is not None:
            finished = sum(1 for t in study.get_trials(deepcopy=False) if t.state.is_finished())
            if finished >= self.settings.max_trials:
                return False
        if self.settings.search in ("defaults", "grid"):
            waiting = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,))
            return bool(waiting)
        return True

    def _run(self, study: optuna.Study, trial: optuna.Trial, config: TrialConfig, data: TrialData) -> None:
        enqueued = trial.user_attrs.get("fixed") is not None
        want_fallback = self.fallback is None

        task = TrialTask(config=config, schema=self.schema, task=self.task, metric=self.metric,
                         classes=self.classes, folds=self.folds, random_state=self.settings.seed,
                         n_jobs=config.family.threads(self.n_rows, self.settings.n_jobs), refit=want_fallback)
        start = time.monotonic()
        limit = min(self._trial_deadline(), start + TRIAL_SHARE * (self.deadline.at - start))
        projected: list[float] = []

        def on_report(step: int, score: float) -> bool:
            trial.report(score, step)
            # stop a trial as soon as its folds so far show it cannot finish before its limit
            elapsed = time.monotonic() - start
            total = elapsed * len(self.folds) / (step + 1)
            if step + 1 < len(self.folds) and start + total > limit:
                projected.append(total)
                return False
            return enqueued or not trial.should_prune()

        beat = _Heartbeat(study, trial)
        try:
            result = self.runner.run(task, data, limit, on_report, on_poll=beat)
        except KeyboardInterrupt:
            self._tell(study, trial, config, TrialResult(status="error", error="interrupted (Ctrl-C)"),
                       time.monotonic() - start)
            raise
        duration = time.monotonic() - start
        if projected and result.status == "pruned":
            result.status = "timeout"
            result.error = (f"stopped after {len(result.fold_scores)} of {len(self.folds)} folds: all of them "
                            f"would take about {projected[0]:.1f}s, {limit - start:.1f}s were left for it")
            trial.set_user_attr("projected_duration", round(projected[0], 4))
        if result.status == "ok" and result.refit_model is not None:
            self.fallback = (trial.number, result.refit_model)
            result.refit_model = None
        self.results[trial.number] = result
        self._tell(study, trial, config, result, duration)

    def _tell(self, study: optuna.Study, trial: optuna.Trial, config: TrialConfig, result: TrialResult,
              duration: float) -> None:
        attrs = {
            "family": config.family.name, "params_json": params_json(config.describe()),
            "status": result.status, "score": result.score, "score_std": result.score_std,
            "n_folds": len(result.fold_scores), "fit_time": float(np.sum(result.fit_times)),
            "mean_fold_fit_time": float(np.mean(result.fit_times)) if result.fit_times else None,
            "predict_time_per_1k": float(np.mean(result.predict_times_per_1k))
            if result.predict_times_per_1k else None,
            "duration": round(duration, 4), "error": result.error, "worker": self.worker_id,
            "n_features_synthesised": result.n_features_synthesised, "n_features_selected": result.n_features_selected,
        }
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
        TrialState = optuna.trial.TrialState
        if result.status == "ok":
            study.tell(trial, result.score)
        elif result.status == "pruned":
            study.tell(trial, state=TrialState.PRUNED)
        else:
            study.tell(trial, state=TrialState.FAIL)
        if result.status == "error":
            log.warning("trial %d (%s) failed: %s", trial.number, config.family.name, result.error)
        if self.progress is not None:
            self.progress(study, study.get_trials(deepcopy=False)[trial.number])

    # -- time ------------------------------------------------------------------------------------------
    def _trial_deadline(self) -> float:
        """Trials must end early enough to refit the best so far before the fit's deadline."""
        return self.deadline.at - END_MARGIN - KILL_SLACK - self._refit_reserve()

    def _refit_reserve(self) -> float:
        """Time to refit the best trials: the best alone, or the likely members of an ensemble (the best
        of the top families, as :meth:`_refit_ensemble` picks them)."""
        ranked = self._ranked_ok_trials()
        top = _diverse_first(ranked)[:ENSEMBLE_RESERVE] if self.settings.ensemble else ranked[:1]
        fallback = self.fallback[0] if self.fallback is not None else None
        selection = self._estimate_selection(len(ranked)) if self.settings.ensemble else 0.0
        return selection + sum(self._estimate_refit(t) for t in top if t.number != fallback)

    def _estimate_selection(self, n_trials: int) -> float:
        """Seconds ensemble selection will take: rounds x candidates x one metric evaluation (measured once)."""
        if n_trials < 2:
            return 0.0
        if self._score_seconds is None:
            oof = next((r.oof for r in self.results.values() if r.oof is not None and r.status == "ok"), None)
            if oof is None or self.metric.func is None or self._target is None:
                return 0.0
            start = time.perf_counter()
            score_weights({0: oof}, {0: 1.0}, self._target, self.metric, self.classes, None)
            self._score_seconds = time.perf_counter() - start
        return ENSEMBLE_ROUNDS * min(n_trials, MAX_CANDIDATES) * self._score_seconds

    def _estimate_refit(self, trial: optuna.trial.FrozenTrial) -> float:
        fold_fit = float(trial.user_attrs.get("mean_fold_fit_time") or 0.0)
        train_rows = float(np.mean([len(t) for t, _ in self.folds])) if self.folds else 1.0
        return fold_fit * (self.n_rows / max(train_rows, 1.0)) * 1.2 + REFIT_OVERHEAD

    def _estimate_trial(self, study: optuna.Study, family: str) -> float | None:
        # Finished trials only: another worker may be writing a running trial's attributes right now. A trial
        # stopped at its deadline counts with the time it had: a lower bound, so a family that never finishes
        # in time is not started again and again.
        # A trial stopped because its first folds projected past its limit counts with that projection.
        durations = [max(t.user_attrs["duration"], t.user_attrs.get("projected_duration") or 0.0)
                     for t in study.get_trials(deepcopy=False, states=(COMPLETE, FAIL))
                     if t.user_attrs.get("family") == family and t.user_attrs.get("duration") is not None
                     and (t.state == COMPLETE or t.user_attrs.get("status") == "timeout")]
        return float(np.median(durations)) if durations else None

    def _ranked_ok_trials(self, limit: int | None = None) -> list[optuna.trial.FrozenTrial]:
        # ensembles recorded by earlier runs are rows of the study, not configurations to refit
        trials = [t for t in self.study.get_trials(deepcopy=False, states=(COMPLETE,))
                  if t.user_attrs.get("source") != "ensemble"]
        sign = -1.0 if self.metric.greater_is_better else 1.0
        trials.sort(key=lambda t: (sign * float(t.value or 0.0), t.number))
        return trials[:limit] if limit else trials

    # -- the end ---------------------------------------------------------------------------------------
    def refit(self, data: TrialData) -> "Refit":
        """The final model: an ensemble of refitted trials when selection over out-of-fold predictions
        beats the best single trial and its members can be refitted in time; else the best single trial
        whose refit finishes in time (going down the ranking); else the fallback model."""
        fitted: dict[int, Any] = {}
        if self.fallback is not None:
            fitted[self.fallback[0]] = self.fallback[1]
        if self.settings.ensemble:
            ensemble = self._refit_ensemble(data, fitted)
            if ensemble is not None:
                return ensemble
        for rank, trial in enumerate(self._ranked_ok_trials()):
            model = self._refit_one(trial, data, fitted)
            if model is not None:
                return self._single(trial, model, fallback_used=rank > 0)
        if self.fallback is None:
            return Refit(None, "constant", {}, None, None, True)
        return self._single(self.study.trials[self.fallback[0]], self.fallback[1], fallback_used=True)

    def _single(self, trial: optuna.trial.FrozenTrial, model: Any, fallback_used: bool) -> "Refit":
        config = self._config_of(trial)
        return Refit(trial.number, config.family.name, config.describe(), trial.value, model, fallback_used)

    def _refit_one(self, trial: optuna.trial.FrozenTrial, data: TrialData, fitted: dict[int, Any]) -> Any:
        """Refit one trial on all the data in a worker, or ``None`` when it cannot finish in time."""
        if trial.number in fitted:
            return fitted[trial.number]
        estimate = self._estimate_refit(trial)
        if estimate > self.deadline.at - END_MARGIN - time.monotonic():
            return None
        config = self._config_of(trial)
        start = time.monotonic()
        task = TrialTask(config=config, schema=self.schema, task=self.task, metric=self.metric,
                         classes=self.classes, folds=[], random_state=self.settings.seed,
                         n_jobs=config.family.threads(self.n_rows, self.settings.n_jobs), refit=True)
        result = self.runner.run(task, data, self.deadline.at - END_MARGIN, lambda step, score: True)
        log.info("refit of trial %d (%s): %.2fs, estimated %.2fs, fit %.2fs in the worker", trial.number,
                 config.family.name, time.monotonic() - start, estimate, result.refit_time or float("nan"))
        if result.status == "ok" and result.refit_model is not None:
            fitted[trial.number] = result.refit_model
            return result.refit_model
        log.warning("refit of trial %d (%s) did not finish: %s", trial.number, config.family.name, result.error)
        return None

    def _refit_ensemble(self, data: TrialData, fitted: dict[int, Any]) -> "Refit | None":
        """Select an ensemble among the best trials (the best of each family first), once. When its members
        cannot all be refitted in the time left, leave out the slowest to refit until they can, and keep the rest
        if their blend still beats the best single trial: cheap, different members (a linear model, kNN) often
        carry an ensemble as much as a second forest does. (Selection is not rerun: on 45k rows it takes seconds.)"""
        oof = {n: r.oof for n, r in self.results.items() if r.oof is not None}
        ranked = [t for t in self._ranked_ok_trials() if t.number in oof]
        if len(ranked) < 2:
            return None
        rank = {t.number: i for i, t in enumerate(ranked)}
        left = self.deadline.at - END_MARGIN - time.monotonic()
        best_refit = 0.0 if ranked[0].number in fitted else self._estimate_refit(ranked[0])
        if left - self._estimate_selection(len(ranked)) < best_refit:
            return None  # selecting would leave no time to refit even the best single trial
        candidates = sorted(_diverse_first(ranked)[:MAX_CANDIDATES], key=lambda t: rank[t.number])
        selection = select_ensemble({t.number: oof[t.number] for t in candidates}, data.y,
                                    self.metric, self.classes, data.sample_weight)
        if selection is None:
            return None
        by_number = {t.number: t for t in candidates}
        weights = dict(selection.weights)
        costs = {n: self._estimate_refit(by_number[n]) for n in weights if n not in fitted}
        while costs and sum(costs.values()) > self.deadline.at - END_MARGIN - time.monotonic():
            slowest = max(costs, key=lambda n: costs[n])
            del costs[slowest], weights[slowest]
        if len(weights) < 2:
            return None
        if weights != selection.weights:
            total = sum(weights.values())
            weights = {n: w / total for n, w in weights.items()}
            selection = Selection(weights, score_weights(oof, weights, data.y, self.metric, self.classes,
                                                         data.sample_weight))
        if not self._better(selection.score, float(ranked[0].value or 0.0)):
            return None
        return self._fit_ensemble(selection, by_number, data, fitted)

    def _fit_ensemble(self, selection: Any, by_number: dict[int, Any], data: TrialData,
                      fitted: dict[int, Any]) -> "Refit | None":
        members = sorted(selection.weights, key=lambda n: -selection.weights[n])
        models = [self._refit_one(by_number[n], data, fitted) for n in members]
        if any(m is None for m in models):
            return None
        weights = [selection.weights[n] for n in members]
        ensemble = (WeightedEnsembleRegressor(models, weights) if self.task == "regression"
                    else WeightedEnsembleClassifier(models, weights, self.classes))
        shown = {str(n): round(selection.weights[n], 4) for n in members}
        number = self._record_ensemble(selection.score, shown)
        return Refit(number, "ensemble", {"weights": shown}, selection.score,
                     Pipeline([("ensemble", ensemble.fit(None))]), False)

    def _better(self, a: float, b: float) -> bool:
        return a > b if self.metric.greater_is_better else a < b

    def _record_ensemble(self, score: float, weights: dict[str, float]) -> int:
        """Add the ensemble to the study as a finished trial, so the leaderboard shows it."""
        attrs = {"family": "ensemble", "params_json": params_json({"weights": weights}), "status": "ok",
                 "score": score, "score_std": None, "n_folds": len(self.folds), "fit_time": None,
                 "predict_time_per_1k": None, "duration": None, "source": "ensemble",
                 "error": "", "worker": self.worker_id}
        self.study.add_trial(optuna.trial.create_trial(value=score, params={}, distributions={},
                                                       user_attrs=attrs))
        return self.study.get_trials(deepcopy=False)[-1].number

    def _config_of(self, trial: optuna.trial.FrozenTrial) -> TrialConfig:
        fixed = trial.user_attrs.get("fixed")
        return suggest_config(optuna.trial.FixedTrial(trial.params, trial.number), self.families, self.task,
                              self.settings.class_weight, fixed)

    def run(self, data: TrialData, search: bool = True) -> SearchOutcome:
        """Open the study, search (unless ``search=False``), refit: the whole search stage of ``fit``."""
        start = time.monotonic()
        self.study = self.open_study()
        if search:
            self.search(self.study, data)
        search_time = time.monotonic() - start
        final = self.refit(data)
        return SearchOutcome(study=self.study, final=final, results=self.results, search_time=search_time,
                             refit_time=time.monotonic() - start - search_time)

    def work(self, data: TrialData) -> optuna.Study:
        """A worker's part: join the study and evaluate trials until the deadline; no refit."""
        self.study = self.open_study()
        self.search(self.study, data)
        return self.study

    def leaderboard(self) -> Any:
        return build_leaderboard(self.study.get_trials(deepcopy=False), self.metric.greater_is_better)


def _diverse_first(ranked: list[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
    """The best trial of each family first (in rank order), then the rest: ensembles gain from different
    families more than from near-copies of the best configuration."""
    seen: set[str] = set()
    heads: list[optuna.trial.FrozenTrial] = []
    tail: list[optuna.trial.FrozenTrial] = []
    for trial in ranked:
        family = trial.user_attrs.get("family")
        (tail if family in seen else heads).append(trial)
        seen.add(str(family))
    return heads + tail


def _was_evaluated(trial: optuna.trial.FrozenTrial) -> bool:
    """Whether an enqueued point ran (or waits to run): a trial failed only because its worker died is not."""
    if trial.state == optuna.trial.TrialState.FAIL:
        return "status" in trial.user_attrs
    return True


class _Heartbeat:
    """Called while a trial runs; tells the storage every few seconds that this worker is alive."""

    def __init__(self, study: optuna.Study, trial: optuna.Trial):
        self.study, self.trial, self.last = study, trial, 0.0

    def __call__(self) -> None:
        now = time.monotonic()
        if now - self.last >= HEARTBEAT_INTERVAL:
            record_heartbeat(self.study, self.trial)
            self.last = now
