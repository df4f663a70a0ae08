"""The end of a search: the final model, refitted on all the search rows before the deadline.

An ensemble of refitted trials when selection over out-of-fold predictions beats the best single trial and its
members can be refitted in time; else the best single trial whose refit finishes in time, or, when it does not
and the search validated on one holdout, its holdout fit's model (then going down the ranking); else the
fallback model (the first trial that finished, refitted at once); else nothing (the estimator then says so).
"""
from __future__ import annotations

import json
import logging
import time
from collections import ChainMap
from collections.abc import MutableMapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import optuna
from sklearn.pipeline import Pipeline

from automl.search.ensemble import (MAX_CANDIDATES, Selection, WeightedEnsembleClassifier, WeightedEnsembleRegressor,
                                    blend, flatten, score_weights, select_ensemble)
from automl.search.leaderboard import params_json
from automl.search.planner import REFIT_SAFETY, TimePlanner
from automl.search.study import add_row, diverse_first, ranked_by_value

if TYPE_CHECKING:
    from automl.search.held_models import HeldModels
    from automl.search.worker import TrialData

log = logging.getLogger("automl")


@dataclass
class Refit:
    """The final model and where it came from."""

    trial: int | None
    family: str
    params: dict[str, Any]
    score: float | None
    pipeline: Any
    fallback_used: bool


class FinishedSearch(Protocol):
    """What the final model reads from the search that ran (:class:`automl.search.controller.SearchController`): its
    problem, planner and study, the models and out-of-fold predictions its trials left, and how it ranks trials, ships
    data to a worker process and scores. Declared here so this module needs nothing above it."""

    problem: Any
    planner: TimePlanner
    study: optuna.Study | None
    models: HeldModels
    fallback: tuple[int, Any] | None
    holdout_best: tuple[int, Any] | None
    settings: Any
    runner: Any
    results: dict[int, Any]
    worker_id: str
    stacked: list[int]

    def _ranked(self, study: optuna.Study) -> list[optuna.trial.FrozenTrial]: ...

    def _contenders(self, study: optuna.Study) -> list[optuna.trial.FrozenTrial]: ...

    def _shipped(self, data: Any) -> Any: ...

    def _selection_seconds(self, n_trials: int) -> float: ...

    def extra_scores(self, oof: np.ndarray | None) -> dict[str, float | None] | None: ...


class FinalModel:
    """Builds the :class:`Refit` of a finished search.

    Parameters
    ----------
    controller : FinishedSearch
        The search: its study, its trials' out-of-fold predictions, its fallback model, its time planner and its
        worker process runner.
    data : TrialData
        The search rows.
    """

    def __init__(self, controller: FinishedSearch, data: "TrialData"):
        self.search, self.data = controller, data
        self.problem, self.planner = controller.problem, controller.planner
        assert controller.study is not None
        self.study: optuna.Study = controller.study
        # holdout models of the best trials (large data; read from disk when looked up), then the refitted ones
        self.fitted: MutableMapping[int, Any] = ChainMap({}, controller.models)
        if controller.fallback is not None:
            self.fitted[controller.fallback[0]] = controller.fallback[1]

    def build(self) -> Refit:
        if self.search.settings.ensemble:
            ensemble = self._ensemble()
            if ensemble is not None:
                return ensemble
        stacked = self._best_stacked()
        if stacked is not None:
            return stacked
        for rank, trial in enumerate(self.search._ranked(self.study)):
            model = self._refit_one(trial, without_margin=rank == 0)
            if model is None and rank == 0:
                model = self._holdout_model(trial)
            if model is not None:
                return self._single(trial, model, fallback_used=rank > 0)
        fallback = self.search.fallback
        if fallback is None:
            return Refit(None, "constant", {}, None, None, True)
        return self._single(self.study.trials[fallback[0]], fallback[1], fallback_used=True)

    def _best_stacked(self) -> Refit | None:
        """The best second-level trial when it beats the best first-level one (ensemble selection kept it alone):
        its model is fitted already."""
        stacked = [t for t in self.study.get_trials(deepcopy=False)
                   if t.number in self.search.stacked and t.value is not None and t.number in self.fitted]
        values = {t.number: float(t.value) for t in stacked if t.value is not None}
        ranked = self.search._ranked(self.study)
        if not stacked or not ranked:
            return None
        metric = self.problem.metric
        best = ranked_by_value(stacked, metric.greater_is_better)[0]
        first = ranked[0].value
        if not metric.better(values[best.number], metric.worst() if first is None else float(first)):
            return None
        params = json.loads(best.user_attrs.get("params_json", "{}"))
        return Refit(best.number, "stack", params, values[best.number], self.fitted[best.number], False)

    def _single(self, trial: optuna.trial.FrozenTrial, model: Any, fallback_used: bool) -> Refit:
        config = self.problem.config_of(trial)
        return Refit(trial.number, config.family.name, config.describe(), trial.value, model, fallback_used)

    def _holdout_model(self, trial: optuna.trial.FrozenTrial) -> Any:
        """The best trial's model from its holdout fit (the training share of the rows), when its refit on all of
        them cannot finish: better than a lesser trial's refit (portal_rodent_genus at 60 s: histogram boosting's
        refit was refused with 27 s left for an estimate of 27.5 s, and the fit ended at 33 s on a linear model, test
        log loss 0.44 where the boosting's holdout scored 0.25)."""
        held = self.search.holdout_best
        if held is None or held[0] != trial.number:
            return None
        log.info("trial %d (%s): its refit would not finish in time; the final model is its holdout fit's",
                 trial.number, self.problem.config_of(trial).family.name)
        return held[1]

    def _refit_one(self, trial: optuna.trial.FrozenTrial, without_margin: bool = False, after: float = 0.0) -> Any:
        """Refit one trial on all the data in a worker, or ``None`` when it cannot finish in time. ``without_margin``
        (the best single trial): tried when its estimate fits without the safety factor, since the time is otherwise
        left unused and the worker is stopped at the end (portal_rodent_genus: a LightGBM refit estimated at 26-29 s,
        18-19 s when it ran, was refused at the end of a search that had kept that time for it, and the fit ended at
        33 s of 60 on a linear model). ``after``: seconds the ensemble members refitted after this one are expected
        to need; past its estimate, it is stopped before their time (:meth:`TimePlanner.member_refit_end`)."""
        if trial.number in self.fitted:
            return self.fitted[trial.number]
        estimate = self.planner.refit_estimate(trial.user_attrs.get("mean_fold_fit_time"))
        if not self.planner.refit_fits(estimate / REFIT_SAFETY if without_margin else estimate):
            return None
        config = self.problem.config_of(trial)
        start = time.monotonic()
        fidelity = float(trial.user_attrs.get("fidelity") or 1.0)  # a trial stopped at a rung refits on that share
        task = self.problem.trial_task(config, refit=True, cross_validate=False, refit_fraction=fidelity)
        if trial.user_attrs.get("rounds"):  # its fold models' mean rounds (stopped on their folds) or best epoch
            task = task.at_rounds(trial.user_attrs["rounds"])
        end = self.planner.member_refit_end(start, estimate, after)
        if config.family.capped_on_folds:  # its folds were capped (their fit times too): its refit ends by its estimate
            task = replace(task, deadline_at=min(start + estimate, end))
        result = self.search.runner.run(task, self.search._shipped(self.data), end, lambda step, score, seconds: True)
        log.info("refit of trial %d (%s): %.2fs, estimated %.2fs, fit %.2fs in the worker", trial.number,
                 config.family.name, time.monotonic() - start, estimate, result.refit_time or float("nan"))
        if result.status == "ok" and result.refit_model is not None:
            self.fitted[trial.number] = result.refit_model
            return result.refit_model
        log.warning("refit of trial %d (%s) did not finish: %s", trial.number, config.family.name, result.error)
        return None

    def _ensemble(self) -> "Refit | None":
        """Select an ensemble among the best trials (the best of each family first), once. When its members
        cannot all be refitted in the time left, leave out the slowest to refit until they can, and keep the rest
        if their blend still beats the best single trial: cheap, different members (a linear model, kNN) often
        carry an ensemble as much as a second forest does. (Selection is not rerun: on 45k rows it takes seconds.)"""
        oof = {n: r.oof for n, r in self.search.results.items() if r.oof is not None}
        # members beat a constant prediction, as the refit reserve assumes: a worse one adds nothing and its refit
        # cost can push the best trial out of the members that fit in the time left
        ranked = [t for t in self.search._contenders(self.study) if t.number in oof]
        if len(ranked) < 2:
            return None
        rank = {t.number: i for i, t in enumerate(ranked)}
        best = ranked[0]
        best_refit = 0.0 if best.number in self.fitted else self.planner.refit_estimate(
            best.user_attrs.get("mean_fold_fit_time"))
        if self.planner.seconds_to_end() - self.search._selection_seconds(len(ranked)) < best_refit:
            return None  # selecting would leave no time to refit even the best single trial
        candidates = sorted(diverse_first(ranked)[:MAX_CANDIDATES], key=lambda t: rank[t.number])
        # the second-level trials of the stack stage (their models are fitted: no refit) compete as members too
        candidates += [t for t in self.study.get_trials(deepcopy=False) if t.number in self.search.stacked
                       and t.number in oof]
        metric, classes, y, weights_of_rows = self.problem.metric, self.problem.classes, self.data.y, \
            self.data.sample_weight
        selection = select_ensemble({t.number: oof[t.number] for t in candidates}, y, metric, classes, weights_of_rows)
        if selection is None:
            return None
        by_number = {t.number: t for t in candidates}
        costs = {n: self.planner.refit_estimate(by_number[n].user_attrs.get("mean_fold_fit_time"))
                 for n in selection.weights if n not in self.fitted}
        affordable = self.planner.affordable_members(costs)
        # against the best single trial scored on the same rows as the selection (a subset on large data)
        single = score_weights(oof, {best.number: 1.0}, y, metric, classes, weights_of_rows)
        kept = self._kept(selection, {n for n in selection.weights if n in self.fitted or n in affordable}, oof,
                          single)
        return None if kept is None else self._fit_ensemble(kept, by_number, oof, single, costs)

    def _kept(self, selection: Selection, members: set[int], oof: dict[int, np.ndarray], single: float,
              ) -> Selection | None:
        """``selection`` restricted to ``members``, its weights rescaled to sum to 1 and its blend rescored; ``None``
        when fewer than two are left or their blend does not beat the best single trial's score ``single``."""
        weights = {n: w for n, w in selection.weights.items() if n in members}
        if len(weights) < 2:
            return None
        if weights != selection.weights:
            total = sum(weights.values())
            weights = {n: w / total for n, w in weights.items()}
            selection = Selection(weights, score_weights(oof, weights, self.data.y, self.problem.metric,
                                                         self.problem.classes, self.data.sample_weight))
        return selection if self.problem.metric.better(selection.score, single) else None

    def _fit_ensemble(self, selection: Selection, by_number: dict[int, Any], oof: dict[int, np.ndarray],
                      single: float, costs: dict[int, float]) -> "Refit | None":
        """Refit the members, heaviest first, each stopped past its estimate (``costs``) before the time the
        members after it need. A member whose refit fails or no longer fits the time left (its estimate was short:
        elevators, an MLP estimated at 1.5 s ran past 3.6 s and was stopped) is left out, and the members refitted
        stay an ensemble when their blend still beats the best single trial; until stop 38 one failed refit dropped
        the whole ensemble."""
        members = sorted(selection.weights, key=lambda n: -selection.weights[n])
        refitted = {}
        for i, n in enumerate(members):
            after = sum(costs.get(later, 0.0) for later in members[i + 1:]) / REFIT_SAFETY  # their expected time
            model = self._refit_one(by_number[n], after=after)
            if model is not None:
                refitted[n] = model
        if len(refitted) < len(members):
            log.info("ensemble: members %s were not refitted in time; kept %s if their blend beats the best single",
                     [n for n in members if n not in refitted], list(refitted))
            kept = self._kept(selection, set(refitted), oof, single)
            if kept is None:
                return None
            selection, members = kept, [n for n in members if n in refitted]
        models, weights = flatten([refitted[n] for n in members], [selection.weights[n] for n in members])
        if self.problem.task == "regression":
            ensemble = WeightedEnsembleRegressor.from_fitted(models, weights)
        else:
            ensemble = WeightedEnsembleClassifier.from_fitted(models, weights, self.problem.classes)
        shown = {str(n): round(selection.weights[n], 4) for n in members}
        blended = blend({n: oof[n] for n in members}, selection.weights)  # all of them have it: selected by it
        number = self._record(selection.score, shown, self.search.extra_scores(blended))
        return Refit(number, "ensemble", {"weights": shown}, selection.score, Pipeline([("ensemble", ensemble)]), False)

    def _record(self, score: float, weights: dict[str, float], extra_scores: dict[str, Any] | None) -> int:
        """Add the ensemble to the study as a finished trial, so the leaderboard shows it."""
        attrs = {"family": "ensemble", "params_json": params_json({"weights": weights}), "status": "ok",
                 "score": score, "score_std": None, "n_folds": len(self.problem.folds), "fit_time": None,
                 "predict_time_per_1k": None, "duration": None, "source": "ensemble",
                 "error": "", "worker": self.search.worker_id, "extra_scores": extra_scores,
                 "synthesis": members_synthesis(self.study, [int(n) for n in weights])}
        return add_row(self.study, score, attrs)


def members_synthesis(study: optuna.Study, members: list[int]) -> str:
    """The ``synthesis`` of an ensemble's leaderboard row: its members' plans (``"rich"``, ``"none+rich"``), which
    are what the ensemble reads; without it the row showed ``"none"`` whatever they were."""
    by_number = {t.number: t for t in study.get_trials(deepcopy=False)}
    return "+".join(sorted({str(by_number[n].user_attrs.get("synthesis", "none")) for n in members if n in by_number}))


def final_out_of_fold(outcome: Any) -> np.ndarray | None:
    """The out-of-fold predictions of the final model: its trial's, or the weighted blend of an ensemble's
    members'; ``None`` when this process did not run them (a refit of another worker's trials)."""
    final, results = outcome.final, outcome.results
    if final.family == "ensemble":
        weights = {int(n): float(w) for n, w in final.params.get("weights", {}).items()}
        oof: dict[int, np.ndarray] = {n: results[n].oof for n in weights
                                      if n in results and results[n].oof is not None}
        return blend(oof, weights) if len(oof) == len(weights) else None
    result = results.get(final.trial)
    return None if result is None else result.oof
