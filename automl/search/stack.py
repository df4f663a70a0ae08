"""Stacking: a second level of models fitted on the columns plus the first level's predictions, scored honestly.

On small data the search's trials are bags of fold models (``bagging``). After the first-level search, the stack
stage reruns the best configuration of the top bagging families on the rows with the best trials' predictions added
as columns (AutoGluon's ``use_orig_features=True``), on the same folds. Each such trial is a bag too, and its model
becomes a :class:`StackedModel`: the first-level bags predict, their columns are appended, the second-level bag
predicts. Its out-of-fold predictions enter ensemble selection like any trial's.

The features are **nested**, not the first level's out-of-fold predictions: for validation fold k, a training row's
feature comes from the base's configuration fitted without the row's fold and without fold k, so no feature the
second level trains on was shaped by the labels it is scored on. On the plain out-of-fold predictions (every fold
model but one saw fold k) a linear second level gained 7.4 % in cross-validation and 1.2 % on the test rows, on
average over five tables of the training collection and three seeds; on nested ones -0.6 % and +1.1 %: its
cross-validation no longer runs ahead of the test rows (``benchmarks/results/stack_leak_extra.md``; a LightGBM
second level showed no such gap either way).
The price: each base costs about ``folds - 2`` times its first-level trial again, so the bases are the ones whose
nested features fit in the time kept.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import optuna
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from automl.metrics import align_proba, predict_for_metric
from automl.search.leaderboard import params_json
from automl.search.step_cache import STEP_CACHE
from automl.search.stack_columns import (prediction_columns, stack_column_names, stacked_schema,
                                         with_stack_columns)
from automl.search.study import add_row, diverse_first

if TYPE_CHECKING:
    from automl.search.evaluate import TrialResult
    from automl.search.planner import TimePlanner
    from automl.search.worker import TrialData

log = logging.getLogger("automl")

# At most this many first-level trials whose predictions become columns: the best of each family first, as ensemble
# selection ranks them
SECOND_LEVEL_BASES = 8
# Second-level trials: the best configuration of this many bagging families, best first
SECOND_LEVEL_TOPS = 3
# A second-level trial is started when its first-level twin's duration, times this, fits before the refit reserve
STACK_COST_MARGIN = 1.3
# The search keeps at most this share of the budget for the stack stage
STACK_SHARE = 0.25
# Leaderboard source of a second-level trial (not a configuration of the search space: never refitted by itself;
# one of study.NOT_CONFIGURATIONS)
STACK_SOURCE = "stack"


class StackedModel(BaseEstimator):
    """A second-level model over the predictions of first-level models.

    ``predict`` appends the first-level models' predictions (:func:`stack_column_names`) to the rows and lets the
    top model predict from them and the original columns. The search builds it from fitted parts with
    :meth:`from_fitted`; ``fit`` refits it from scratch (the bases' out-of-fold predictions from ``cv`` folds, then
    the bases on all rows and the top on the rows with those predictions), so ``clone(model).fit(X, y)`` works.

    Parameters
    ----------
    bases : list of estimators
        First-level pipelines.
    columns : list of list of str
        The column names of each base's predictions.
    top : estimator
        The second-level pipeline (it reads the original columns and the stack columns).
    classes : array-like or None
        Class labels, in the order of the probability columns (``None`` for regression).
    cv : int, default=5
        Folds of the out-of-fold predictions when :meth:`fit` refits it.

    Attributes
    ----------
    bases_ : list of fitted estimators
    top_ : fitted estimator
    classes_ : ndarray
        Classification only.
    """

    def __init__(self, bases: list[Any] | None = None, columns: list[list[str]] | None = None, top: Any = None,
                 classes: Any = None, cv: int = 5):
        self.bases = bases
        self.columns = columns
        self.top = top
        self.classes = classes
        self.cv = cv

    @classmethod
    def from_fitted(cls, bases: list[Any], columns: list[list[str]], top: Any, classes: Any = None,
                    cv: int = 5) -> "StackedModel":
        """A stacked model of parts fitted already (the parameters hold unfitted clones of them)."""
        model = cls([clone(b) for b in bases], [list(c) for c in columns], clone(top), classes, cv)
        return model._set_fitted(list(bases), top)

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> "StackedModel":
        """Fit the bases on ``cv`` folds for their out-of-fold predictions and on all rows, then the top on the rows
        with those predictions appended (``sample_weight`` goes to every model step). As scikit-learn's stacking
        estimators refit: nothing is scored here, so plain out-of-fold features do (the search's second-level
        trials are scored on nested ones)."""
        if not self.bases or len(self.bases) != len(self.columns or []) or self.top is None:
            raise ValueError("StackedModel needs bases, one list of column names per base, and a top model")
        y = np.asarray(y)
        classes = None if self.classes is None else np.asarray(self.classes)
        splitter = (KFold(self.cv, shuffle=True, random_state=0) if classes is None
                    else StratifiedKFold(self.cv, shuffle=True, random_state=0))
        fit_params = {} if sample_weight is None else {"model__sample_weight": sample_weight}
        blocks = []
        for base, names in zip(self.bases, self.columns or []):
            oof = np.zeros((len(y), len(names)))
            for train, valid in splitter.split(np.zeros(len(y)), y):
                params = {k: np.asarray(v)[train] for k, v in fit_params.items()}
                part = clone(base).fit(X.iloc[train], y[train], **params)
                oof[valid] = prediction_columns(self._predict(part, X.iloc[valid], classes), classes)
            blocks.append((list(names), oof))
        bases = [clone(b).fit(X, y, **fit_params) for b in self.bases]
        top = clone(self.top).fit(with_stack_columns(X, blocks), y, **fit_params)
        return self._set_fitted(bases, top)

    def _set_fitted(self, bases: list[Any], top: Any) -> "StackedModel":
        self.bases_, self.top_ = bases, top
        if self.classes is not None:
            self.classes_ = np.asarray(self.classes)
        return self

    @staticmethod
    def _predict(model: Any, X: Any, classes: np.ndarray | None) -> np.ndarray:
        return predict_for_metric(model, X, "regression" if classes is None else "classification", classes)

    def stacked_rows(self, X: pd.DataFrame) -> pd.DataFrame:
        """``X`` with the fitted bases' prediction columns appended: what the top model reads."""
        check_is_fitted(self, "top_")
        classes = getattr(self, "classes_", None)
        return with_stack_columns(X, [(list(names), prediction_columns(self._predict(base, X, classes), classes))
                                      for base, names in zip(self.bases_, self.columns or [])])

    def predict_proba(self, X: Any) -> np.ndarray:
        return align_proba(self.top_.predict_proba(self.stacked_rows(X)), self.top_.classes_, self.classes_)

    def predict(self, X: Any) -> np.ndarray:
        if self.classes is not None:
            return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
        return np.asarray(self.top_.predict(self.stacked_rows(X)), dtype=float)


class StackedClassifier(ClassifierMixin, StackedModel):
    """:class:`StackedModel` for classification."""


class StackedRegressor(RegressorMixin, StackedModel):
    """:class:`StackedModel` for regression."""


def stacked_pipeline(bases: list[Any], columns: list[list[str]], top: Any, classes: np.ndarray | None,
                     folds: int) -> Pipeline:
    """The final-model form of a second-level trial: ``Pipeline([("stack", StackedModel)])``."""
    kind = StackedRegressor if classes is None else StackedClassifier
    return Pipeline([("stack", kind.from_fitted(bases, columns, top, classes, cv=max(folds, 2)))])


class StackingSearch(Protocol):
    """What the stack stage reads from the search that ran (:class:`automl.search.controller.SearchController`)."""

    problem: Any
    planner: "TimePlanner"
    models: Any
    fallback: tuple[int, Any] | None
    runner: Any
    results: dict[int, Any]
    worker_id: str

    def _contenders(self, study: optuna.Study) -> list[optuna.trial.FrozenTrial]: ...

    def _trial_deadline(self, study: optuna.Study, stacking: bool = True) -> float: ...

    def extra_scores(self, oof: np.ndarray | None) -> dict[str, float | None] | None: ...


@dataclass
class Level:
    """The first level a stack reads: its trials (best of each family first), their models (on all rows), column
    names, and per validation fold the nested features (:func:`nested_features`) of every row."""

    numbers: list[int] = field(default_factory=list)
    models: list[Any] = field(default_factory=list)
    columns: list[list[str]] = field(default_factory=list)
    features: list[list[np.ndarray]] = field(default_factory=list)  # per base: per fold, rows x its columns


def stacking_applies(problem: Any) -> bool:
    """Whether a problem can be stacked: bagged trials (small data) on a flat table. Related tables and series
    (synthesis plans, a cached FRESH filter) are left out: their trials' inputs are built before the search, not
    from the rows a trial receives."""
    return bool(problem.bagging) and len(problem.folds) > 2 and not problem.plans() and not any(
        STEP_CACHE in family.needs for family in problem.families)


def nested_cost(trial: optuna.trial.FrozenTrial, n_folds: int) -> float:
    """Seconds a base's nested features take, from its first-level trial's duration: ``n_folds`` runs of
    ``n_folds - 1`` fits on ``(n_folds - 2) / n_folds`` of the rows, against its ``n_folds`` fits on
    ``(n_folds - 1) / n_folds`` of them, with a margin."""
    return (n_folds - 2) * top_cost(trial)


def base_trials(search: StackingSearch, study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """The first-level trials the second level may read: ensemble candidates (the best of each family first) with a
    model on all rows held (a bag, or the fallback's refit) and out-of-fold predictions for every row."""
    out = []
    for trial in diverse_first(search._contenders(study)):
        result = search.results.get(trial.number)
        if result is None or result.oof is None or np.isnan(result.oof).any() \
                or held_model(search, trial.number) is None:
            continue
        out.append(trial)
        if len(out) == SECOND_LEVEL_BASES:
            break
    return out


def held_model(search: StackingSearch, number: int) -> Any:
    """Trial ``number``'s model on all the rows held by the search (a bag, or the fallback's refit), or ``None``."""
    if search.fallback is not None and search.fallback[0] == number:
        return search.fallback[1]
    return search.models[number] if number in search.models else None


def top_cost(trial: optuna.trial.FrozenTrial) -> float:
    """Seconds a second-level trial takes: its first-level twin's duration, with a margin."""
    return STACK_COST_MARGIN * float(trial.user_attrs.get("duration") or 0.0)


@dataclass
class StackPlan:
    """What the stage will run in ``room`` seconds: bases (for their nested features) and second-level tops."""

    bases: list[optuna.trial.FrozenTrial] = field(default_factory=list)
    tops: list[optuna.trial.FrozenTrial] = field(default_factory=list)
    seconds: float = 0.0


def stack_plan(search: StackingSearch, study: optuna.Study, room: float) -> StackPlan:
    """The stage that fits in ``room`` seconds, planned by cost: the cheapest of the top families' second-level
    trials is kept first, then bases best first while their nested features fit, then the other tops that still
    fit. Empty when fewer than two bases fit. (Reserving every top first, leaf_flavia_species at 300 s, 32 classes
    and dear trials, kept a quarter of its budget and then had no room for any base.)"""
    tops = top_trials(search, study)
    if not tops:
        return StackPlan()
    cheapest = min(tops, key=top_cost)
    left = room - top_cost(cheapest)
    folds = len(search.problem.folds)
    bases = []
    for trial in base_trials(search, study):
        if nested_cost(trial, folds) <= left:
            bases.append(trial)
            left -= nested_cost(trial, folds)
    if len(bases) < 2 or left < 0:
        return StackPlan()
    chosen = []
    for trial in tops:
        if trial is cheapest or top_cost(trial) <= left:
            chosen.append(trial)
            left -= 0.0 if trial is cheapest else top_cost(trial)
    return StackPlan(bases, chosen, room - left)


def stack_reserve(search: StackingSearch, study: optuna.Study) -> float:
    """Seconds the first-level search leaves for the stack stage: what :func:`stack_plan` plans in
    :data:`STACK_SHARE` of the budget (none when it plans nothing)."""
    return stack_plan(search, study, STACK_SHARE * (search.planner.deadline.seconds or 0.0)).seconds


def top_trials(search: StackingSearch, study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """The first-level trials whose configurations the second level reruns: the best of each bagging family."""
    heads: list[optuna.trial.FrozenTrial] = []
    seen: set[str] = set()
    for trial in search._contenders(study):
        family = search.problem.config_of(trial).family
        if family.bag and family.name not in seen and search.results.get(trial.number) is not None:
            seen.add(family.name)
            heads.append(trial)
            if len(heads) == SECOND_LEVEL_TOPS:
                break
    return heads


def nested_features(search: StackingSearch, trial: optuna.trial.FrozenTrial, data: "TrialData", deadline: float,
                    ) -> list[np.ndarray] | None:
    """Per validation fold k, trial ``trial``'s predictions of every row from models that saw neither the row's fold
    nor fold k (its configuration refitted on the rows of the other folds, fold by fold); fold k's own rows keep its
    out-of-fold predictions (the fold model that did not see them). ``None`` when a run fails or the time runs out.

    Out-of-fold predictions on the same folds would leak: every fold model but one saw the validation fold, and a
    second level trained on their predictions is scored on labels that shaped its features
    (``benchmarks/results/stack_leak_extra.md``: a linear second level on caravan_insurance gained 8.6 % AUC in
    cross-validation and 0.2 % on the test rows).
    """
    problem, classes = search.problem, search.problem.classes
    config = problem.config_of(trial)
    oof = prediction_columns(search.results[trial.number].oof, classes)
    rows = np.arange(len(data.y))
    out = []
    for k, (_, valid_k) in enumerate(problem.folds):
        inner = [(np.setdiff1d(rows, np.concatenate([valid_j, valid_k])), valid_j)
                 for j, (_, valid_j) in enumerate(problem.folds) if j != k]
        task = replace(problem.trial_task(config, refit=False), folds=inner, bag=False)
        start = time.monotonic()
        result = search.runner.run(task, data, search.planner.trial_limit(start, deadline),
                                   lambda step, score, seconds: True)
        if result.status != "ok" or result.oof is None:
            log.info("stack: nested features of trial %d stopped at fold %d: %s %s", trial.number, k, result.status,
                     result.error)
            return None
        feature = prediction_columns(result.oof, classes).copy()
        feature[valid_k] = oof[valid_k]
        out.append(feature)
    return out


def first_level(search: StackingSearch, study: optuna.Study, data: "TrialData", plan: StackPlan) -> Level | None:
    """The planned bases with their nested features, best first, each started while its estimated cost still fits
    before the time the planned second-level trials need; ``None`` when fewer than two are."""
    folds = len(search.problem.folds)
    tops = sum(top_cost(t) for t in plan.tops)
    level = Level()
    for trial in plan.bases:
        deadline = search._trial_deadline(study, stacking=False)
        if time.monotonic() + nested_cost(trial, folds) + tops > deadline:
            log.info("stack: nested features of trial %d not started: estimated %.1fs, %.1fs left (%.1fs kept for the "
                     "second level)", trial.number, nested_cost(trial, folds), deadline - time.monotonic(), tops)
            continue
        features = nested_features(search, trial, data, deadline - tops)
        if features is None:
            continue
        level.numbers.append(trial.number)
        level.models.append(held_model(search, trial.number))
        level.columns.append(stack_column_names(trial.number, search.problem.classes))
        level.features.append(features)
    return level if len(level.numbers) >= 2 else None


def run_stack_stage(search: StackingSearch, study: optuna.Study, data: "TrialData") -> list[int]:
    """Run the second-level trials that fit before the refit reserve; return their study trial numbers (their
    results and models are added to ``search.results`` and ``search.models``)."""
    plan = stack_plan(search, study, search._trial_deadline(study, stacking=False) - time.monotonic())
    level = first_level(search, study, data, plan) if plan.bases else None
    if level is None:
        log.info("stack: no stage: fewer than two bases' nested features fit in the time left")
        return []
    problem = search.problem
    names = [name for names in level.columns for name in names]
    schema = stacked_schema(problem.schema, names)
    per_fold = [np.hstack([features[k] for features in level.features]) for k in range(len(problem.folds))]
    numbers = []
    for trial in plan.tops:
        config = problem.config_of(trial)
        start = time.monotonic()
        deadline = search._trial_deadline(study, stacking=False)
        estimate = top_cost(trial)
        if start + estimate > deadline:
            log.info("stack: %s on the first level's predictions not started: estimated %.1fs, %.1fs left",
                     config.family.name, estimate, deadline - start)
            continue
        task = replace(problem.trial_task(config, refit=False), schema=schema, stack_columns=names,
                       stack_features=per_fold)
        result = search.runner.run(task, data, search.planner.trial_limit(start, deadline),
                                   lambda step, score, seconds: True)
        duration = time.monotonic() - start
        if result.status != "ok" or not result.bagged or result.refit_model is None:
            log.info("stack: %s on the first level's predictions ended %s: %s", config.family.name, result.status,
                     result.error)
            continue
        model = stacked_pipeline(level.models, level.columns, result.refit_model, problem.classes, len(problem.folds))
        result.refit_model = None
        number = _record(search, study, trial, config, result, level.numbers, duration)
        search.results[number] = result
        search.models[number] = model
        numbers.append(number)
        log.info("stack: trial %d, %s over trials %s: %.5g (its first-level twin %d: %.5g) in %.1fs", number,
                 config.family.name, level.numbers, result.score, trial.number, trial.value, duration)
    return numbers


def _record(search: StackingSearch, study: optuna.Study, twin: optuna.trial.FrozenTrial, config: Any,
            result: "TrialResult", bases: list[int], duration: float) -> int:
    """Add a second-level trial to the study as a finished trial (a leaderboard row; not a point of the space)."""
    params = {"top": config.family.name, "top_params": config.describe(), "first_level_twin": twin.number,
              "bases": bases}
    attrs = {"family": "stack", "params_json": params_json(params), "status": "ok", "score": result.score,
             "score_std": result.score_std, "n_folds": len(result.fold_scores),
             "fit_time": float(np.sum(result.fit_times)), "mean_fold_fit_time": result.fold_fit_time,
             "predict_time_per_1k": float(np.mean(result.predict_times_per_1k)) if result.predict_times_per_1k
             else None, "duration": None, "stack_duration": round(duration, 4), "source": STACK_SOURCE,
             "error": "", "worker": search.worker_id, "fold_scores": [float(v) for v in result.fold_scores],
             "n_features_synthesised": result.n_features_synthesised,
             "n_features_selected": result.n_features_selected,
             "synthesis": twin.user_attrs.get("synthesis", "none"), "extra_scores": search.extra_scores(result.oof)}
    return add_row(study, result.score, attrs)
