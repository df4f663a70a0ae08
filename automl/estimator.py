"""The scikit-learn estimators: parameters in, a searched and fitted pipeline out."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
import logging
import os
import sys
import time
import warnings
import weakref
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd
from optuna.storages import BaseStorage
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from automl._resources import process_memory_bytes, resolve_memory_limit, resolve_n_jobs
from automl.data.checks import raise_on_errors, validate
from automl.data.clean import CleaningOptions, clean_training_data
from automl.data.inputs import check_rows
from automl.data.profile import profile_frame
from automl.data.schema import explain_task, plain_numbers, to_frame
from automl.data.split import split_test, time_order
from automl.data.target import (automatic_cv, check_label_types, make_folds, prepare_classes, prepare_sample_weight,
                                prepare_target)
from automl.search.acceptance import acceptance_test
from automl.metrics import TASKS, align_proba, get_metric, resolve_extra_metrics
from automl.models.registry import get_families
from automl.pipeline.threads import predict_single_threaded
from automl.search.planner import Deadline
from automl.search.controller import Problem, SearchController, SearchSettings
from automl.search.leaderboard import why_no_model
from automl.search.planner import BAG_MIN_FOLDS, STACK_MIN_FOLDS, budget_scale, fold_cap, parallel_slots
from automl.search.portfolio import load_portfolio
from automl.search.strategies import SEARCHES
from automl.search.worker import TrialData, start_server
from automl.synthesis import SynthesisMixin, plan_options
from automl.verbosity import engine_log, progress_log

log = logging.getLogger("automl")
# Classes whose smallest is below this share of the largest count as imbalanced: the portfolio then
# also tries class weighting.
IMBALANCE_RATIO = 0.2


def _may_predict_proba(model: "AutoML") -> bool:
    """predict_proba exists unless the estimator is (or was fitted as) a regressor."""
    return not isinstance(model, RegressorMixin) and getattr(model, "task_", None) != "regression"


@dataclass
class FitPlan:
    """What the data stage hands the search: the search rows, the rows held back for the acceptance test,
    the problem (schema, task, metric, families, folds, seed) and the search settings."""

    data: TrialData
    held_out: tuple[pd.DataFrame, np.ndarray, np.ndarray | None] | None
    problem: Problem
    settings: SearchSettings


# Each estimator's compiled predictor (automl/pipeline/fast.py), beside it: (id of the pipeline it compiles, the
# predictor or None, whether compiling was tried). Weak keys: it goes with the estimator.
_COMPILED: "weakref.WeakKeyDictionary[Any, tuple[int, Any, bool]]" = weakref.WeakKeyDictionary()


class AutoML(SynthesisMixin, BaseEstimator):
    """Automated machine learning under a hard time budget; the task is inferred from ``y``.

    ``fit`` cleans the data, evaluates every model family with its default hyperparameters (cheapest
    first), tunes them with an Optuna search until the deadline, and refits the best configuration on
    all the data, all within ``time_budget`` seconds.

    Parameters
    ----------
    time_budget : float or None, default=60
        Seconds for the whole ``fit``, refit included. ``None`` needs ``max_trials``.
    task : {"binary", "multiclass", "regression"} or None, default=None
        Inferred from ``y`` when ``None``.
    metric : str, callable or None, default=None
        ROC AUC (binary), log loss (multiclass) or RMSE (regression) when ``None``; any name from
        :func:`automl.metrics.builtin_metric_names`, a scikit-learn scorer name, or a scorer callable.
    cv : None, int, float, "holdout" or splitter, default=None
        Validation: chosen from data size and ``time_budget`` when ``None`` (see
        :func:`automl.data.target.automatic_cv`: at 60 s 5-fold up to 5,000 rows, 3-fold up to 20,000, else a 20 %
        holdout; from 90 s 8-fold on small tables).
    search : {"bayes", "random", "grid", "defaults"}, default="bayes"
        After each family's defaults and the ``portfolio``: TPE, random or grid search, or stop ("defaults").
    families : list of str or ModelFamily, "exportable", or None
        Model families to search (``configs/families.yaml``); all when ``None``; ``"exportable"``: only the
        families that export to ONNX (``automl export``).
    portfolio : "default", None, path or list of dict, default="default"
        Configurations tried after each family's defaults, before any tuning: ``"default"`` is the built-in
        ``configs/portfolio.yaml`` (chosen on the training collection by ``benchmarks/portfolio.py``), ``None`` tries
        the defaults only; or a YAML file / list of ``{"family": ..., "params": {...}}`` entries.
    max_trials : int or None, default=None
        Stop after this many trials (with a fixed ``random_state`` the result is reproducible).
    class_weight : {"search", "balanced"}, dict or None, default="search"
        "search" lets the search choose class weighting (and tries it early when classes are imbalanced).
    ensemble : bool, default=True
        Build a weighted ensemble of the finished trials (Caruana's ensemble selection over out-of-fold
        predictions) when it scores better than the best single trial and can be refitted in time.
    n_jobs : int or None, default=None
        Cores to use; ``None`` means every core this process may use (affinity and cgroup limits).
    random_state : int, RandomState or None, default=None
        One seed for the splits, the sampler and every model (a ``RandomState`` gives one draw).
    storage : str, optuna storage or None, default=None
        Optuna storage URL (``sqlite:///file.db``, ``journal:///file.log``, ``postgresql://...``) or an opened
        Optuna storage; in memory when ``None``.
    study_name : str or None, default=None
        Study to create or resume in ``storage``.
    verbose : int, default=0
        Tied to :mod:`logging`, during ``fit`` only. 0: warnings only; 1: the logger ``"automl.progress"`` at
        INFO (the inferred task, the data stage, a line per finished trial; on a terminal the trials are one live
        bar instead); 2: all of ``"automl"`` at INFO (also refits and cleaning steps). The records go to the handlers
        you set up (on those loggers or the root logger), else to standard error.
    test_size : float, int or None, default=None
        Rows held back from the search (a fraction or a count) for a final acceptance test of the chosen
        pipeline (``acceptance_``). Stratified for classification; the latest rows with ``time_column``.
    time_column : str or None, default=None
        A column of dates or numbers ordering the rows in time: the test set is then the latest rows and the
        search validates on later rows than it trains on (forward chaining).
    checks : str, path, list or None, default=None
        Validation rules besides the built-in ones: a YAML rule file or a list of rule dicts, callables
        ``(DataFrame) -> list of problems`` or :class:`automl.data.checks.Rule` (see :mod:`automl.data.checks`).
        A failing rule of severity "error" stops ``fit``.
    cleaning : dict or None, default=None
        Switch cleaning steps on or off, e.g. ``{"duplicate_rows": "keep", "rare_category_min_count": 10}``
        (keys of :class:`automl.data.clean.CleaningOptions`).
    callbacks : list of callable or None, default=None
        Each is called as ``callback(study, trial)`` after every finished trial (an Optuna ``FrozenTrial`` whose
        ``user_attrs`` hold family, status, score, error), as Optuna's own callbacks are; an exception in a
        callback stops the fit.
    memory_limit : float, "auto" or None, default="auto"
        Gigabytes one trial process may allocate; ``"auto"`` is 70 % of the memory available when ``fit`` starts
        (shared by the trials that run at once, see ``parallel_trials``), ``None`` no limit. A trial over it fails
        with ``MemoryError`` (an ``error`` row that says so) and its family is not started again; the search goes
        on.
    extra_metrics : list of str or None, default=None
        Further metrics shown on the leaderboard, one column each, computed from every trial's out-of-fold
        predictions (and the ensemble's blend of them); names from :func:`automl.metrics.builtin_metric_names`
        that fit the task, e.g. ``["accuracy", "f1_macro"]`` next to the default ROC AUC. The search still
        optimises ``metric`` alone.
    calibration : {"sigmoid", "isotonic"} or None, default=None
        Classification: calibrate the final model's probabilities (Platt scaling or isotonic regression per
        class), fitted on its out-of-fold probabilities from the search, never on rows it was fitted on.
    threshold : str or None, default=None
        Binary classification: predict ``classes_[1]`` above the probability threshold that optimises this label
        metric (``"balanced_accuracy"``, ``"f1_macro"``, ``"accuracy"``) on the out-of-fold probabilities, instead
        of 0.5; ``postprocess_`` records it. Useful with imbalanced classes.
    bagging : bool or "auto", default="auto"
        Keep the fold models of the cross-validation as a trial's model, averaged, instead of one refit on all
        rows (families declared ``bag``: boosting, linear, kNN, the neural network; the forests are bagged
        already). ``"auto"``: with 5 folds or more (up to 5,000 rows; 8 of them from a 90 s budget, see ``cv``),
        where a single model's
        variance costs most and the out-of-fold predictions ensemble selection weighs are then those of the
        models it combines. Predictions cost one pipeline per fold.
    synthesis_plan : {"search", "richest", "none"}, default="search"
        ``"search"`` lets every trial choose its feature synthesis: on one table among none, frequency, group
        statistics and numeric pairs (each family's ``synthesis`` option); with related tables
        (``fit(..., tables=...)``) or series (:meth:`fit_series`) a plan up to the richest affordable one, which
        is computed once (also ``"none"``: the columns of ``X`` alone, or a series' raw values), so the score
        decides how much synthesis pays. ``"richest"`` makes every trial use the richest affordable plan of related
        tables or series (what the engine did before the plan was searched; ``benchmarks/synthesis_real.py``
        compares the two; on one table it is ``"search"``). ``"none"`` switches synthesis off: no single-table
        synthesis, and only the ``none`` plan of related tables or series.
    stacking : bool or "auto", default=False
        With bagging on a flat table, run a second level after the search: the best configuration of the top three
        bagging families again, on the columns plus the predictions of the best trials (the best of each family
        first). The second level's training rows get *nested* predictions, from models that saw neither their fold
        nor the validation fold, so its score is not flattered by the labels it is scored on (see
        :mod:`automl.search.stack`); each such base costs about ``folds - 2`` times its trial again, and the search
        keeps at most a quarter of the budget for the stage. Ensemble selection weighs the stacked trials with the
        rest. ``True``: whenever the fit bags; ``"auto"``: with 8 folds or more (small tables from a 90 s budget,
        see ``cv``). Off by default: at 300 s on four tables of the training collection it gained 1.6 % and 0.7 %
        on two, lost 0.5 % on one and did not run on the fourth, and a stacked model predicts a single row 30-300
        times slower (it runs every base's fold models; ``benchmarks/results/ab_stacking_300s_paired.md``).
    parallel_trials : int or "auto", default="auto"
        Trials of the search running at once, each in its own process on ``n_jobs // parallel_trials`` cores (at
        most ``n_jobs`` of them). ``"auto"`` decides by the data's size: on small data (below the rows where the
        boosting families fit on one thread, 10,000) one trial per core, at most 8 (a trial of a family that fits
        on several threads there, the forests, kNN and CatBoost, still runs alone on every core); on larger data
        one trial at a time on every core; without a ``time_budget`` (a search of ``max_trials``) one at a time,
        so that ``random_state`` repeats it. Trials that run at once end in an order that depends on timing, so
        the sampler's proposals, and the search, are not repeatable run to run; ``1`` runs them one after the
        other.

    Attributes
    ----------
    leaderboard_ : pandas.DataFrame
        One row per trial, best first.
    best_pipeline_ : sklearn.pipeline.Pipeline
        The refitted winner: takes raw frames like ``X``, predicts the user's labels.
    study_ : optuna.Study
        The search record (not kept when the estimator is pickled).
    best_family_, best_params_, best_score_, best_trial_
        What won: a family name (or ``"ensemble"``), its parameters, its validation score and trial.
    fallback_used_ : bool
        True when the top-ranked configuration could not be refitted in time and a lower one was used.
    fit_status_ : {"ok", "fallback", "constant"}
        ``"ok"``: the best configuration is the model; ``"fallback"``: a lower-ranked one (see
        ``fallback_used_``); ``"constant"``: no trial gave a model and ``predict`` answers the class priors or the
        mean (a warning says why; ``automl fit`` exits with an error unless ``--allow-constant``).
    fit_summary_ : dict
        For programs: ``status`` (as ``fit_status_``), ``trials`` (count per status), ``reason`` and ``remedy``
        (why there is no model, or why a fallback was used, and what to do).
    task_, metric_ : str, Metric
        The task and metric the search used.
    task_reason_ : str
        Why the task is what it is: given, or inferred from ``y`` and how (also printed with ``verbose``).
    classes_ : ndarray or None
        Class labels (classification), in the order of ``predict_proba``'s columns.
    schema_ : Schema
        Column roles, the columns left out of modelling and why.
    profile_ : dict
        Per-column statistics of the data given to ``fit`` (role, dtype, min, max, mean, std, missing,
        distinct, top values, quantiles; the target too), see :mod:`automl.data.profile`.
    validation_ : pandas.DataFrame
        Each validation rule's result: rule, column, severity, passed, rows_affected, message.
    cleaning_ : list of dict
        Every change cleaning made: step, column, action, count, reason.
    row_counts_ : dict
        ``input`` rows = ``test`` (held back) + ``duplicates_removed`` + ``search`` (used by the search and refit).
    acceptance_ : dict or None
        With ``test_size``: the chosen pipeline's test score beside its validation score, and whether they
        agree within the folds' and the test's spread.
    peak_memory_mb_ : float
        Peak resident memory of the fit: this process's peak plus the largest peak of its trial processes (with
        trials running at once, the largest of each slot's, summed: an upper bound).
    fit_time_, prepare_time_, search_time_, refit_time_ : float
        Seconds for the whole fit, the data stage (checks, cleaning, profile, folds), the search, and the final
        refit.
    synthesis_ : dict
        After ``fit(..., tables=...)`` or :meth:`fit_series`: the method and its plan or settings, features
        synthesised and modelled, the plan the final model reads (``plan_chosen``), seconds in choosing the plan
        (``choice_time``: timing a sample; ``estimated_seconds`` is its estimate of the synthesis), in synthesis and
        in the search (also in ``profile_["synthesis"]``).
    n_features_in_, feature_names_in_
        As in scikit-learn.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from automl import AutoML
    >>> X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    >>> model = AutoML(time_budget=30, random_state=0).fit(X, y)  # doctest: +SKIP
    >>> model.leaderboard_[["family", "score", "status"]].head(3)   # doctest: +SKIP
    >>> model.predict_proba(X.head(2))                                # doctest: +SKIP
    """

    classes_: np.ndarray | None
    metric_: Any

    _parameter_constraints: dict = {
        "time_budget": [Interval(Real, 0, None, closed="neither"), None],
        "task": [StrOptions(set(TASKS)), None],
        "metric": [str, callable, None],
        "cv": ["cv_object", Interval(Real, 0, 1, closed="neither"), StrOptions({"holdout"}), None],
        "search": [StrOptions(set(SEARCHES))],
        "families": [list, tuple, StrOptions({"exportable"}), None],
        "portfolio": [str, os.PathLike, list, None],
        "max_trials": [Interval(Integral, 1, None, closed="left"), None],
        "class_weight": [StrOptions({"search", "balanced"}), dict, None],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
        "ensemble": ["boolean"],
        "storage": [str, BaseStorage, None],
        "study_name": [str, None],
        "verbose": ["verbose"],
        "test_size": [Interval(Real, 0, 1, closed="neither"), Interval(Integral, 1, None, closed="left"), None],
        "time_column": [str, None],
        "checks": [str, os.PathLike, list, callable, None],
        "cleaning": [dict, None],
        "memory_limit": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"}), None],
        "callbacks": [list, tuple, None],
        "extra_metrics": [list, tuple, None],
        "calibration": [StrOptions({"sigmoid", "isotonic"}), None],
        "threshold": [str, None],
        "bagging": ["boolean", StrOptions({"auto"})],
        "stacking": ["boolean", StrOptions({"auto"})],
        "synthesis_plan": [StrOptions({"search", "richest", "none"})],
        "parallel_trials": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
    }

    def __init__(self, time_budget: float | None = 60, task: str | None = None, metric: Any = None,
                 cv: Any = None, search: str = "bayes", families: Any = None, portfolio: Any = "default",
                 max_trials: int | None = None,
                 class_weight: str | None = "search", ensemble: bool = True, n_jobs: int | None = None,
                 random_state: int | None = None, storage: str | None = None, study_name: str | None = None,
                 verbose: int = 0, test_size: float | int | None = None, time_column: str | None = None,
                 checks: Any = None, cleaning: dict | None = None, memory_limit: float | str | None = "auto",
                 callbacks: list | None = None, extra_metrics: list[str] | None = None,
                 calibration: str | None = None, threshold: str | None = None, bagging: bool | str = "auto",
                 synthesis_plan: str = "search", stacking: bool | str = False, parallel_trials: int | str = "auto"):
        self.time_budget = time_budget
        self.task = task
        self.metric = metric
        self.cv = cv
        self.search = search
        self.families = families
        self.portfolio = portfolio
        self.max_trials = max_trials
        self.class_weight = class_weight
        self.ensemble = ensemble
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.storage = storage
        self.study_name = study_name
        self.verbose = verbose
        self.test_size = test_size
        self.time_column = time_column
        self.checks = checks
        self.cleaning = cleaning
        self.memory_limit = memory_limit
        self.callbacks = callbacks
        self.extra_metrics = extra_metrics
        self.calibration = calibration
        self.threshold = threshold
        self.bagging = bagging
        self.synthesis_plan = synthesis_plan
        self.stacking = stacking
        self.parallel_trials = parallel_trials

    # -- fit ---------------------------------------------------------------------------------------------
    def fit(self, X: Any, y: Any, sample_weight: Any = None, tables: dict[str, Any] | None = None,
            relationships: list[tuple[str, str, str, str]] | None = None, cutoff_time: str | None = None,
            time_index: dict[str, str] | None = None, logical_types: dict[str, dict[str, str]] | None = None,
            data_source: dict[str, str] | None = None) -> "AutoML":
        """Search for the best pipeline within ``time_budget`` and refit it on all of ``X, y``.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Missing values are allowed; infinite values are not.
        y : array-like of shape (n_samples,)
            Labels (any type) or values.
        sample_weight : array-like of shape (n_samples,), optional
            Row weights, used by every family's fit and by the metric.
        tables : dict of str to DataFrame, optional
            Tables related to ``X``: features are synthesised from them with featuretools DFS (depth and
            primitives chosen from the budget) before the search; ``predict`` then takes ``tables=`` too.
        relationships : list of (parent table, parent key, child table, child key)
            How the tables link; the one table named here but absent from ``tables`` is ``X``.
        cutoff_time : str, optional
            Datetime column of ``X``: no feature of a row uses related rows dated after it.
        time_index, logical_types : dict, optional
            Per table, the column dating its rows (default: its only datetime column) and woodwork logical
            types overriding the inferred ones.
        data_source : dict, optional
            Where ``X, y`` came from (``{"path": ..., "target": ...}``), recorded in the study (with ``storage``)
            so that ``automl worker`` on another machine can read the same file.

        Returns
        -------
        self

        Raises
        ------
        ValueError, TypeError
            For invalid data: the message names the column or rows and the remedy.
        """
        self._validate_params()
        if self.time_budget is None and self.max_trials is None:
            raise ValueError("give a time_budget (seconds) or max_trials, otherwise the search never ends")
        with engine_log(self.verbose):
            if tables is not None:
                return self._fit_relational(X, y, sample_weight, tables, relationships or [], cutoff_time,
                                            time_index, logical_types)
            deadline = Deadline(self.time_budget)
            return self._search(X, y, sample_weight, deadline, data_source=data_source)

    def work(self, X: Any, y: Any, sample_weight: Any = None) -> "AutoML":
        """Join the study ``study_name`` in ``storage`` as one more worker: evaluate trials until ``time_budget``
        (or the study's shared deadline, whichever comes first); no refit.

        The study must have been started by ``fit`` with the same ``storage`` and ``study_name``; pass the same
        data. Each worker samples with its own seed; folds and model seeds are shared, so scores compare.

        Returns
        -------
        self
            With ``study_``, ``leaderboard_`` (every worker's trials) and ``worker_trials_`` (the number of trials
            this worker finished).
        """
        self._validate_params()
        deadline = Deadline(self.time_budget)
        with engine_log(self.verbose):
            plan = self._prepare(X, y, sample_weight, deadline, role="worker")
            controller = self._controller(plan, deadline)
            self.study_ = controller.work(plan.data)
        self.leaderboard_ = controller.leaderboard()
        self.worker_id_ = controller.worker_id
        self.worker_trials_ = sum(1 for t in self.study_.get_trials(deepcopy=False)
                                  if t.user_attrs.get("worker") == controller.worker_id and t.state.is_finished())
        return self

    def refit_study(self, X: Any, y: Any, sample_weight: Any = None) -> "AutoML":
        """Fit without searching: refit the best trials of the study ``study_name`` in ``storage`` (an ensemble of
        them when it scores better, as ``fit`` does) on ``X, y`` within ``time_budget``.

        Returns
        -------
        self
            Fitted as by ``fit``.
        """
        self._validate_params()
        deadline = Deadline(self.time_budget)
        with engine_log(self.verbose):
            return self._run(self._prepare(X, y, sample_weight, deadline, role="refit"), deadline, search=False)

    def _search(self, X: Any, y: Any, sample_weight: Any, deadline: Deadline, needs: dict[str, Any] | None = None,
                data_source: dict[str, str] | None = None, spent: float = 0.0) -> "AutoML":
        """Prepare the data, search and refit within ``deadline`` (also after feature synthesis, whose
        ``needs`` are added to every family's and which ``spent`` seconds of the budget)."""
        plan = self._prepare(X, y, sample_weight, deadline, needs=needs, data_source=data_source, spent=spent)
        return self._run(plan, deadline)

    def _run(self, plan: "FitPlan", deadline: Deadline, search: bool = True) -> "AutoML":
        """Search (unless ``search=False``) and refit; set the fitted attributes and run the acceptance test."""
        progress = _ProgressLine(deadline) if self.verbose else None
        controller = self._controller(plan, deadline, progress)
        try:
            outcome = controller.run(plan.data, search=search)
        finally:
            if progress is not None:
                progress.close()
        self.study_ = outcome.study
        self.leaderboard_ = controller.leaderboard()
        self._set_best(outcome, plan.data)
        self._postprocess(outcome, plan.data)
        self.acceptance_ = self._acceptance_test(plan)
        self.fit_time_ = deadline.elapsed()
        self.search_time_, self.refit_time_ = outcome.search_time, outcome.refit_time
        self.peak_memory_mb_ = (process_peak_bytes() + controller.peak_trial_bytes()) / 2**20
        return self

    def _controller(self, plan: "FitPlan", deadline: Deadline,
                    progress: "_ProgressLine | None" = None) -> SearchController:
        listeners = ([progress] if progress else []) + list(self.callbacks or [])
        return SearchController(plan.problem, deadline, plan.settings,
                                progress=_each(listeners) if listeners else None)

    def _prepare(self, X: Any, y: Any, sample_weight: Any, deadline: Deadline, role: str = "fit",
                 needs: dict[str, Any] | None = None, data_source: dict[str, str] | None = None,
                 spent: float = 0.0) -> "FitPlan":
        """Validate, split and clean the data, and plan the search (``role``: ``fit``, ``worker`` or ``refit``;
        ``spent``: seconds of the budget used before, by feature synthesis). Its time counts against the
        budget and is kept as ``prepare_time_``."""
        started = time.monotonic()
        start_server()  # trial processes import their libraries while the data is prepared
        plan = self._plan(X, y, sample_weight, deadline, role, needs, data_source, spent)
        self.prepare_time_ = time.monotonic() - started
        rows, columns = plan.data.X.shape
        progress_log.info("[%6.1fs] data ready: %d rows x %d columns, %d folds (prepared in %.1fs)",
                          deadline.elapsed(), rows, columns, len(plan.problem.folds), self.prepare_time_)
        return plan

    def _plan(self, X: Any, y: Any, sample_weight: Any, deadline: Deadline, role: str,
              needs: dict[str, Any] | None, data_source: dict[str, str] | None, spent: float) -> "FitPlan":
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        frame = to_frame(X)
        validate_data(self, X, skip_check_array=True, reset=True)
        _check_not_empty(frame)
        target = prepare_target(y, len(frame))
        weights = prepare_sample_weight(sample_weight, len(frame))
        self.task_ = self._resolve_task(target)
        self._check_postprocessing()
        classification = self.task_ != "regression"
        if classification:
            labels, self.classes_ = prepare_classes(target)
        else:
            labels, self.classes_ = _numeric_target(target), None
        self.validation_ = self._run_checks(frame, target)
        seed = _seed_of(self.random_state)
        order = time_order(frame, self.time_column) if self.time_column is not None else None
        search_rows, test_rows = split_test(len(frame), self.test_size, labels, classification, seed, order)
        held_out = _take(frame, labels, weights, test_rows) if len(test_rows) else None
        search_frame, labels, weights, groups = self._clean(frame, labels, weights, search_rows)
        self.profile_ = profile_frame(frame, self.schema_, target, self.task_)
        self.metric_ = get_metric(self.metric, self.task_)
        search_order = time_order(search_frame, self.time_column) if self.time_column is not None else None
        cv = self.cv
        if cv is None:  # resolved here, once: workers joining the study get this choice (their budget is what is left)
            # forward chaining (a time column) keeps the rule by rows: more folds would train its first ones on few rows
            scale = 1.0 if search_order is not None else budget_scale(deadline.seconds)
            cv = automatic_cv(len(labels), scale,
                              fold_cap(None if deadline.seconds is None else deadline.seconds - spent))
        folds = make_folds(cv, labels, classification, seed, order=search_order, groups=groups)
        worker = role != "fit"
        n_jobs = resolve_n_jobs(self.n_jobs)
        families = self._usable_families(weights, needs)
        slots = self._parallel_slots(n_jobs, len(labels), families)
        settings = SearchSettings(
            search=self.search, max_trials=self.max_trials, n_jobs=n_jobs, slots=slots, seed=seed,
            # each worker samples with its own seed; folds and models keep the shared one
            sampler_seed=seed + (1 + os.getpid() % 100_000 if worker else 0),
            class_weight=self.class_weight, imbalanced=classification and _imbalanced(labels),
            storage=self.storage, study_name=self.study_name, worker=worker, ensemble=self.ensemble,
            portfolio=load_portfolio(self.portfolio),
            saved={} if worker else self._settings_for_workers(deadline, data_source, cv))
        bagging = len(folds) >= (BAG_MIN_FOLDS if self.bagging == "auto" else 2) and bool(self.bagging)
        problem = Problem(schema=self.schema_, task=self.task_, metric=self.metric_,
                          families=families, folds=folds, classes=self.classes_,
                          seed=seed, n_jobs=n_jobs, class_weight=self.class_weight,
                          memory_limit=resolve_memory_limit(self.memory_limit, slots),
                          extra_metrics=resolve_extra_metrics(self.extra_metrics, self.task_),
                          bagging=bagging, stacking=bagging and len(folds) >= (
                              STACK_MIN_FOLDS if self.stacking == "auto" else 2) and bool(self.stacking))
        return FitPlan(TrialData(search_frame, labels, weights), held_out, problem, settings)

    def _parallel_slots(self, n_jobs: int, n_rows: int, families: list) -> int:
        """Trials running at once (:func:`~automl.search.planner.parallel_slots`); a number above ``n_jobs`` is
        lowered to it, with a warning."""
        if self.parallel_trials == "auto" and self.time_budget is None:
            return 1  # a search bounded by max_trials alone is repeatable with random_state: trials in turn
        if self.parallel_trials != "auto" and int(self.parallel_trials) > n_jobs:
            warnings.warn(f"parallel_trials={self.parallel_trials} is more than the {n_jobs} cores of n_jobs: "
                          f"{n_jobs} trials run at once (a trial needs a core)", UserWarning, stacklevel=4)
        return parallel_slots(self.parallel_trials, n_jobs, n_rows, [f.single_thread_below for f in families])

    def _run_checks(self, frame: pd.DataFrame, target: pd.Series) -> pd.DataFrame:
        """Built-in and user rules on the features plus the target; errors stop here with every failure listed."""
        report = validate(frame, target, self.checks)
        raise_on_errors(report)
        for row in report[~report["passed"]].itertuples():
            log.warning("validation rule %r failed (%s): %s", row.rule, row.severity, row.message)
        return report

    def _settings_for_workers(self, deadline: Deadline, data_source: dict[str, str] | None,
                              cv: Any) -> dict[str, Any]:
        """What ``automl worker`` needs to join this search: parameters (``cv`` as this fit resolved it: the
        automatic choice depends on the budget, and a worker's is what is left), data source, shared deadline."""
        params = {k: v for k, v in {**self.get_params(), "cv": cv}.items()
                  if k not in ("storage", "study_name", "verbose") and _plain(v)}
        remaining = deadline.remaining()
        return {"params": params, "data": data_source,
                "deadline_unix": None if remaining == float("inf") else time.time() + remaining}

    def _resolve_task(self, target: pd.Series) -> str:
        if self.task:
            task, self.task_reason_ = self.task, "given (task=)"
        else:
            task, why = explain_task(target)
            self.task_reason_ = f"inferred from y: {why}; pass task= to override"
        progress_log.info("task %s: %s", task, self.task_reason_)
        if task == "regression" and not pd.api.types.is_numeric_dtype(target.dtype):
            raise ValueError(f"regression needs a numeric target, y has dtype {target.dtype}; "
                             "use a classifier, or convert y with pd.to_numeric")
        return task

    def _clean(self, frame: pd.DataFrame, labels: np.ndarray, weights: np.ndarray | None,
               rows: np.ndarray) -> tuple[pd.DataFrame, np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Clean the search's rows (the held-back test rows are never touched) and record every change;
        returns the frame, labels, weights and the groups of duplicate rows (when kept grouped)."""
        whole = len(rows) == len(frame) and bool(np.all(rows == np.arange(len(frame))))
        part = frame.copy(deep=False) if whole else frame.iloc[rows]  # the whole frame is not copied
        part.index = pd.RangeIndex(len(part))
        cleaned = clean_training_data(part, labels[rows], None if weights is None else weights[rows],
                                      CleaningOptions.from_param(self.cleaning), row_ids=rows)
        self.schema_, self.cleaning_ = cleaned.schema, cleaned.report
        for entry in self.cleaning_:
            log.info("cleaning: %s %s (%s rows/values): %s", entry["column"] or "rows", entry["action"],
                     entry["count"], entry["reason"])
        if len(self.schema_.dropped) == len(self.schema_.columns):
            raise ValueError(f"no column is usable: {self.schema_.dropped}. Pass at least one informative feature.")
        kept = rows[cleaned.kept_rows]
        self.row_counts_ = {"input": len(frame), "test": len(frame) - len(rows),
                            "duplicates_removed": len(rows) - len(kept), "search": len(kept)}
        labels = labels[kept]
        if self.task_ != "regression" and len(np.unique(labels)) < 2:
            raise ValueError(f"the rows left for the search hold only 1 class ({labels[0]!r}); lower test_size or "
                             "give more rows of the other classes")
        weights = None if weights is None else weights[kept]
        if cleaned.copies is not None:
            weights = cleaned.copies.astype(float) * (1.0 if weights is None else weights)
        return cleaned.frame, labels, weights, cleaned.groups

    def _acceptance_test(self, plan: "FitPlan") -> dict[str, Any] | None:
        """Score the chosen pipeline once on the held-back rows; warn when it disagrees with validation."""
        if plan.held_out is None:
            return None
        seed = plan.problem.seed
        X_test, y_test, w_test = plan.held_out
        std = _folds_spread(self.leaderboard_, self.best_trial_)
        result = acceptance_test(self.best_pipeline_, X_test, y_test, w_test, self.metric_, self.task_,
                                 self.classes_, self.best_score_, std, seed)
        if result["agrees"] is False:
            warnings.warn(f"acceptance test: the test score {result['test_score']:.5g} differs from the validation "
                          f"score {result['validation_score']:.5g} by more than the spread of the folds and the "
                          f"test ({result['tolerance']:.3g}); the validation may be optimistic or the test set "
                          "different", UserWarning, stacklevel=3)
        return result

    def _usable_families(self, weights: np.ndarray | None, needs: dict[str, Any] | None = None) -> list:
        families = get_families(self.families, self.task_)
        if self.synthesis_plan == "none":  # single-table synthesis off: every family's option fixed to none
            families = [dataclasses.replace(f, preprocess={**f.preprocess, "synthesis": {
                **f.preprocess["synthesis"], "choice": ["none"]}}) if "synthesis" in f.preprocess else f
                for f in families]
        if needs:  # e.g. the FRESH filter after tsfresh, the synthesis plans to choose from (synthesis.py)
            option = plan_options(needs)
            families = [dataclasses.replace(f, needs={**f.needs, **needs}, preprocess={**option, **f.preprocess})
                        for f in families]
        if weights is None:
            return families
        unweighted = [f.name for f in families if not f.sample_weight]
        if unweighted:
            warnings.warn(f"sample_weight given: families {unweighted} cannot use weights and are left out",
                          UserWarning, stacklevel=3)
        usable = [f for f in families if f.sample_weight]
        if not usable:
            raise ValueError(f"none of the families {[f.name for f in families]} supports sample_weight")
        return usable

    def _set_best(self, outcome: Any, data: TrialData) -> None:
        final = outcome.final
        self.fallback_used_ = final.fallback_used
        self.best_trial_, self.best_family_ = final.trial, final.family
        self.best_params_, self.best_score_ = final.params, final.score
        counts = {str(k): int(v) for k, v in self.leaderboard_["status"].value_counts().items()}
        self.fit_summary_: dict[str, Any]
        if final.pipeline is None:
            reason, remedy = why_no_model(self.leaderboard_)
            self.fit_status_ = "constant"
            self.fit_summary_ = {"status": "constant", "trials": counts, "reason": reason, "remedy": remedy}
            kind = "the mean" if self.task_ == "regression" else "the class priors"
            warnings.warn(f"no model was found: {reason}. Falling back to a constant predictor ({kind}); {remedy}.",
                          UserWarning, stacklevel=3)
            self.best_pipeline_ = self._constant_pipeline().fit(data.X, data.y, model__sample_weight=data.sample_weight)
            return
        self.fit_status_ = "fallback" if final.fallback_used else "ok"
        why: str | None = None
        if final.fallback_used:
            why = (f"the best configuration could not be refitted in time; using trial {final.trial} "
                   f"({final.family}), the best that could")
            warnings.warn(why, UserWarning, stacklevel=3)
        self.fit_summary_ = {"status": self.fit_status_, "trials": counts, "reason": why, "remedy": None}
        self.best_pipeline_ = predict_single_threaded(final.pipeline)

    def _check_postprocessing(self) -> None:
        """``calibration`` and ``threshold`` against the task, before any work."""
        if self.calibration is None and self.threshold is None:
            return
        if self.task_ == "regression":
            raise ValueError("calibration= and threshold= apply to classification; this is a regression task")
        if self.threshold is not None:
            if self.task_ != "binary":
                raise ValueError(f"threshold= tunes the decision threshold of a binary task; this one is {self.task_}")
            metric = get_metric(self.threshold, "binary")
            if metric.needs_proba or metric.func is None:
                raise ValueError(f"threshold={self.threshold!r}: the threshold is tuned for a metric of labels "
                                 "('balanced_accuracy', 'f1_macro', 'accuracy')")

    def _postprocess(self, outcome: Any, data: TrialData) -> None:
        """Calibration and the decision threshold (opt-in), fitted on the final model's out-of-fold probabilities."""
        from sklearn.pipeline import Pipeline

        from automl.pipeline.postprocess import PostProcessedClassifier
        from automl.search.refit import final_out_of_fold

        self.postprocess_: dict[str, Any] | None = None
        if (self.calibration is None and self.threshold is None) or self.fit_status_ == "constant":
            return
        oof = final_out_of_fold(outcome)
        if oof is None or np.isnan(oof).all():
            warnings.warn("calibration/threshold skipped: the final model's out-of-fold probabilities are not in "
                          "this process (a refit of other workers' trials)", UserWarning, stacklevel=3)
            return
        wrapped = PostProcessedClassifier.from_out_of_fold(self.best_pipeline_, oof, data.y, np.asarray(self.classes_),
                                                           self.calibration, self.threshold)
        self.best_pipeline_ = Pipeline([("postprocess", wrapped)])
        self.postprocess_ = {"calibration": self.calibration, "threshold": wrapped.threshold_,
                             "threshold_metric": self.threshold, "rows": int((~np.isnan(oof).any(axis=1)).sum())}

    def _constant_pipeline(self) -> Any:
        from sklearn.pipeline import Pipeline

        from automl.pipeline.transformers import ColumnCaster

        model = DummyRegressor() if self.task_ == "regression" else DummyClassifier(strategy="prior")
        roles = {c.name: c.role for c in self.schema_.columns if c.name not in self.schema_.dropped}
        return Pipeline([("cast", ColumnCaster(roles, self.schema_.kept_categories or None)), ("model", model)])

    # -- predict -----------------------------------------------------------------------------------------
    def _input_frame(self, X: Any, errors: str = "raise", synthesised: bool = False) -> pd.DataFrame:
        """``X`` held to the training schema (:func:`automl.data.inputs.check_rows`): missing, renamed or reordered
        columns and values the model cannot read are errors naming the column and rows; ``errors="coerce"`` makes
        unreadable values missing, with a warning that counts them. A model fitted with feature synthesis checks
        the names only: its raw input is not the modelled table."""
        check_is_fitted(self, "best_pipeline_")
        if self._exactly_the_fitted_columns(X):  # nothing extra, none missing, same order: nothing to say about names
            frame = to_frame(X)
        else:
            self._check_names_given(X)
            X = self._without_extra_columns(X)
            frame = to_frame(X)
            try:
                validate_data(self, X, skip_check_array=True, reset=False)
            except ValueError as exc:
                expected = list(getattr(self, "feature_names_in_", []))
                hint = f" Pass the columns seen in fit, in this order: {expected}." if expected else ""
                raise ValueError(f"{exc}{hint}") from None
        if synthesised:
            return frame
        roles = {c.name: c.role for c in self.schema_.columns if c.name not in self.schema_.dropped}
        checked = check_rows(frame, roles, errors=errors,
                             allow_infinite=CleaningOptions.from_param(self.cleaning).inf_to_missing)
        if checked.coerced:
            counts = ", ".join(f"{n} in {c!r}" for c, n in checked.coerced.items())
            warnings.warn(f"errors='coerce': values the model cannot read were treated as missing ({counts})",
                          UserWarning, stacklevel=4)
        return checked.frame

    def _synthesised(self) -> bool:
        check_is_fitted(self, "best_pipeline_")
        return "synthesis" in dict(getattr(self.best_pipeline_, "named_steps", {}))

    def _exactly_the_fitted_columns(self, X: Any) -> bool:
        """Whether ``X`` is a frame whose column names are the fitted ones, as strings, in the fitted order."""
        expected = getattr(self, "feature_names_in_", None)
        return isinstance(X, pd.DataFrame) and expected is not None and len(X.columns) == len(expected) and \
            X.columns.tolist() == expected.tolist()

    def _check_names_given(self, X: Any) -> None:
        """A model fitted on a frame with named columns needs named columns: an array has no order to trust."""
        expected = getattr(self, "feature_names_in_", None)
        generated = expected is not None and all(str(c) == f"x{i}" for i, c in enumerate(expected))
        if expected is not None and not generated and not hasattr(X, "columns"):
            raise ValueError(f"this model was fitted on a DataFrame with columns {list(expected)[:10]}"
                             f"{'...' if len(expected) > 10 else ''}; pass a DataFrame with those columns, not a "
                             f"{type(X).__name__}")

    def _without_extra_columns(self, X: Any) -> Any:
        """Drop columns fit never saw (with a warning), when every column fit saw is there."""
        expected = getattr(self, "feature_names_in_", None)
        if expected is None or not isinstance(X, pd.DataFrame):
            return X
        given = [str(c) for c in X.columns]
        extra = [c for c, g in zip(X.columns, given) if g not in set(expected)]
        if not extra or not set(expected) <= set(given):
            return X  # nothing extra, or columns missing: validation names them
        warnings.warn(f"X has {len(extra)} column(s) fit never saw, ignored: {[str(c) for c in extra][:10]}",
                      UserWarning, stacklevel=3)
        return X.drop(columns=extra)

    def predict(self, X: Any, tables: dict[str, Any] | None = None, errors: str = "raise") -> np.ndarray:
        """Predict labels (in the user's label type) or values for ``X`` (and its related ``tables`` when the
        model was fitted with some).

        Parameters
        ----------
        X : DataFrame or array-like
            Rows with the columns seen in ``fit`` (columns fit never saw are ignored, with a warning).
        tables : dict of str to DataFrame, optional
            The related tables, for a model fitted with ``tables=``.
        errors : {"raise", "coerce"}, default="raise"
            A value the model cannot read (a word in a numeric column, ``"maybe"`` in a boolean one, a date that
            does not parse) raises; ``"coerce"`` treats it as missing and warns with the count per column.

        Raises
        ------
        ValueError
            When columns are missing, renamed or reordered, or a value cannot be read: the message names the
            column and the rows.
        """
        frame = self._input_frame(X, errors, synthesised=self._synthesised())
        return self._predicting(frame).predict(self._pipeline_input(frame, tables))

    @available_if(_may_predict_proba)
    def predict_proba(self, X: Any, tables: dict[str, Any] | None = None, errors: str = "raise") -> np.ndarray:
        """Class probabilities for ``X``, columns in the order of ``classes_`` (``tables`` and ``errors`` as in
        :meth:`predict`)."""
        frame = self._input_frame(X, errors, synthesised=self._synthesised())
        classes = self.classes_ if self.classes_ is not None else self.best_pipeline_.classes_
        proba = self._predicting(frame).predict_proba(self._pipeline_input(frame, tables))
        return align_proba(proba, self.best_pipeline_.classes_, classes)

    def _predicting(self, frame: pd.DataFrame) -> Any:
        """What predicts ``frame``: ``best_pipeline_``, or its compiled form (:mod:`automl.pipeline.fast`) for a batch
        of at most ``FAST_ROWS`` rows once a first small batch went the ordinary way (a single call does not pay
        for compiling). Kept beside the estimator, not in it (``predict`` leaves the estimator as it was; nothing
        is pickled or saved)."""
        from automl.pipeline.fast import FAST_ROWS, FastPredictor, check_rows

        if len(frame) > FAST_ROWS or self._synthesised():
            return self.best_pipeline_
        key = id(self.best_pipeline_)
        cached = _COMPILED.get(self)
        if cached is None or cached[0] != key:
            _COMPILED[self] = (key, None, False)
            return self.best_pipeline_
        if not cached[2]:  # the second small batch: compile, checked on these rows and a row of missing values
            cached = _COMPILED[self] = (key, FastPredictor.compile(self.best_pipeline_, check_rows(frame)), True)
        return cached[1] if cached[1] is not None else self.best_pipeline_

    def _compiled_predictor(self) -> Any:
        """The compiled form of ``best_pipeline_`` that small batches use (None before the second small batch, or
        when nothing of the pipeline compiles)."""
        cached = _COMPILED.get(self)
        return cached[1] if cached is not None and cached[0] == id(self.best_pipeline_) else None

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """The fitted model's score on ``X, y`` with the metric of the search (``metric_``), greater is better as
        with scikit-learn's scorers: a loss (RMSE, log loss) is returned negated.

        Parameters
        ----------
        X : DataFrame or array-like
        y : array-like
            True labels or values.
        sample_weight : array-like, optional

        Returns
        -------
        float
        """
        from automl.metrics import align_labels, predict_for_metric, score_predictions

        frame = self._input_frame(X, synthesised=self._synthesised())
        if self.metric_.scorer is not None:
            kwargs = {} if sample_weight is None else {"sample_weight": np.asarray(sample_weight, dtype=float)}
            return float(self.metric_.scorer(self.best_pipeline_, frame, np.asarray(y), **kwargs))
        labels = align_labels(self.classes_, pd.Series(np.asarray(y).ravel()))
        pred = predict_for_metric(self.best_pipeline_, frame, self.task_, self.classes_)
        weights = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
        value = score_predictions(self.metric_, labels, pred, weights, self.classes_)
        return value if self.metric_.greater_is_better else -value

    # -- explanations (automl/explain.py) ---------------------------------------------------------------
    @property
    def feature_importances_(self) -> np.ndarray:
        """The final models' own importances of the input columns, in the order of ``feature_names_in_``, summing
        to 1 (scikit-learn's convention): LightGBM's split gain, the forests' and CatBoost's importances, the size
        of linear coefficients, carried back through the preprocessing (a one-hot column gets the sum of its
        levels) and averaged over an ensemble's members by weight. A column the data stage dropped has 0.

        Raises
        ------
        AttributeError
            When no model of the final pipeline has importances of its own (kNN, neural networks, histogram
            gradient boosting), or it was fitted with synthesis from related tables or series: use
            :meth:`permutation_importance`.
        """
        from automl.explain import native_importances

        check_is_fitted(self, "best_pipeline_")
        columns = [str(c) for c in self.feature_names_in_]
        return native_importances(self.best_pipeline_, columns).reindex(columns).to_numpy()

    def permutation_importance(self, X: Any, y: Any, *, n_repeats: int = 5, random_state: int | None = None,
                               max_rows: int | None = 10_000, sample_weight: Any = None,
                               tables: dict[str, Any] | None = None) -> pd.DataFrame:
        """How much the search metric drops when each column of ``X`` is shuffled: a model-agnostic importance
        (any family, ensembles, synthesis from related ``tables``), best measured on rows the model did not fit.

        Parameters
        ----------
        X : DataFrame
            Rows with the columns seen in ``fit``.
        y : array-like
            Their true labels or values.
        n_repeats : int, default=5
            Shuffles per column.
        random_state : int or None, default=None
        max_rows : int or None, default=10000
            Rows drawn at random when ``X`` has more (``None``: all).
        sample_weight : array-like, optional
        tables : dict of str to DataFrame, optional
            The related tables, for a model fitted with ``tables=``.

        Returns
        -------
        DataFrame
            Indexed by column, most important first: ``importance`` (mean drop, greater is more important
            whatever the metric's direction) and ``std`` over the repeats.
        """
        from automl.explain import permutation_importances

        check_is_fitted(self, "best_pipeline_")
        return permutation_importances(self, X, y, n_repeats=n_repeats, random_state=random_state,
                                       max_rows=max_rows, sample_weight=sample_weight, tables=tables)

    def shap_values(self, X: Any) -> pd.DataFrame:
        """Per row and input column, how much the column moved the prediction from the average one (TreeSHAP;
        needs the ``explain`` extra), for a final model that is one tree-based pipeline.

        Returns
        -------
        DataFrame
            One row per row of ``X``, one column per input column (binary: contributions to the raw score of
            ``classes_[1]``; multiclass: columns ``(class, column)``; regression: to the value).
            ``attrs["base_value"]`` is the average output: base value plus a row's contributions is its raw output
            (before ``calibration``, which maps it monotonically).

        Raises
        ------
        ImportError
            Without the ``shap`` package.
        ValueError
            For an ensemble, a model that is not tree-based, or synthesis from related tables or series.
        """
        from automl.explain import shap_values

        if self._synthesised():
            raise ValueError("SHAP values of a model fitted with feature synthesis are not computed; use "
                             "permutation_importance(X, y, tables=...)")
        frame = self._input_frame(X)
        return shap_values(self.best_pipeline_, frame, [str(c) for c in self.feature_names_in_], self.classes_)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.non_deterministic = self.max_trials is None
        return tags

    def __getstate__(self) -> dict[str, Any]:
        # An in-memory Optuna study holds locks and cannot be pickled; the leaderboard keeps its content.
        state = super().__getstate__()
        state.pop("study_", None)
        return state


class AutoMLClassifier(ClassifierMixin, AutoML):
    """:class:`AutoML` for classification (binary or multiclass, from the number of classes)."""

    def _resolve_task(self, target: pd.Series) -> str:
        if self.task == "regression":
            raise ValueError("AutoMLClassifier cannot do regression; use AutoMLRegressor")
        check_label_types(target.to_numpy())
        check_classification_targets(target.to_numpy())
        n_classes = target.nunique()
        self.task_reason_ = "given (task=)" if self.task else f"AutoMLClassifier: {n_classes} classes"
        return self.task or ("binary" if n_classes <= 2 else "multiclass")

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        return AutoML.score(self, X, y, sample_weight)


class AutoMLRegressor(RegressorMixin, AutoML):
    """:class:`AutoML` for regression."""

    def _resolve_task(self, target: pd.Series) -> str:
        if self.task not in (None, "regression"):
            raise ValueError(f"AutoMLRegressor does regression only, got task={self.task!r}; use AutoMLClassifier")
        self_task = "regression"
        if not plain_numbers(target.dtype):
            try:
                pd.to_numeric(target)
            except (ValueError, TypeError):
                raise ValueError(f"regression needs a numeric target, y has dtype {target.dtype}") from None
        self.task_reason_ = "AutoMLRegressor"
        return self_task

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        return AutoML.score(self, X, y, sample_weight)


def _each(listeners: list[Any]) -> Any:
    """One progress callback that calls each of ``listeners``."""
    def call(study: Any, trial: Any) -> None:
        for listener in listeners:
            listener(study, trial)
    return call


def _seed_of(random_state: Any) -> int:
    """One integer seed from ``random_state``: an int as it is, a ``RandomState`` or ``None`` drawn from (as
    scikit-learn's ``check_random_state`` does)."""
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        return int(random_state)
    from sklearn.utils import check_random_state

    return int(check_random_state(random_state).randint(0, 2**31 - 1))


def process_peak_bytes() -> int:
    """This process's peak resident memory."""
    return process_memory_bytes("self", "VmHWM")


def _plain(value: Any) -> bool:
    """Whether a parameter value survives JSON as it is (callables and splitters do not)."""
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, (str, int, float, bool))


def _check_not_empty(frame: pd.DataFrame) -> None:
    if frame.shape[1] == 0:
        raise ValueError(f"0 feature(s) (shape=({frame.shape[0]}, 0)) while a minimum of 1 is required.")
    if len(frame) < 2:
        raise ValueError(f"Found array with {len(frame)} sample(s) (shape={frame.shape}) while a minimum of 2 is "
                         f"required: fit needs at least 2 rows, got n_samples = {len(frame)}.")


def _folds_spread(board: pd.DataFrame, trial: int | None) -> float | None:
    """The standard deviation of the trial's fold scores; for an ensemble (no folds of its own), the median
    over the finished trials."""
    stds = pd.to_numeric(board.loc[board["trial"] == trial, "score_std"], errors="coerce").dropna()
    if len(stds):
        return float(stds.iloc[0])
    ok = pd.to_numeric(board.loc[board["status"] == "ok", "score_std"], errors="coerce").dropna()
    return float(ok.median()) if len(ok) else None


def _take(frame: pd.DataFrame, labels: np.ndarray, weights: np.ndarray | None,
          rows: np.ndarray) -> tuple[pd.DataFrame, np.ndarray, np.ndarray | None]:
    return frame.iloc[rows].reset_index(drop=True), labels[rows], None if weights is None else weights[rows]


def _numeric_target(target: pd.Series) -> np.ndarray:
    return pd.to_numeric(target).to_numpy(dtype=float)


def _imbalanced(labels: np.ndarray) -> bool:
    counts = np.unique(labels, return_counts=True)[1]
    return bool(counts.min() < IMBALANCE_RATIO * counts.max())


class _ProgressLine:
    """Progress of the search: on a terminal (``stream``, standard error by default) one live bar (elapsed / budget,
    trials, best score, the last family), rewritten after every trial; elsewhere (a log, a pipe) one line per
    finished trial, a record of the ``"automl.progress"`` logger."""

    WIDTH = 30

    def __init__(self, deadline: Deadline, stream: Any = None):
        self.deadline, self.stream = deadline, stream or sys.stderr
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())

    def __call__(self, study: Any, trial: Any) -> None:
        attrs = trial.user_attrs
        finished = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished()]
        from automl.search.study import REJECTED

        # a rejected synthesis twin keeps its score in the study but is not a candidate (automl/search/refine.py)
        complete = [t.value for t in finished if t.value is not None and t.user_attrs.get("status") != REJECTED]
        best = (max(complete) if study.direction.name == "MAXIMIZE" else min(complete)) if complete else None
        score = attrs.get("score")
        shown = f"{score:.5g}" if score is not None else "-"
        best_shown = f"{best:.5g}" if best is not None else "-"
        if self.live:
            self.stream.write("\r" + self.bar(len(finished), len(complete), best_shown, attrs) + "\x1b[K")
            self.stream.flush()
            return
        progress_log.info(f"[{self.deadline.elapsed():6.1f}s] trial {trial.number:>3} {attrs.get('family', '?'):<22} "
                          f"{attrs.get('status', '?'):<8} score {shown:<10} best {best_shown:<10} "
                          f"took {attrs.get('duration') or 0:5.2f}s  ({len(finished)} done)")

    def bar(self, finished: int, ok: int, best: str, attrs: dict[str, Any]) -> str:
        """One line: a bar of the time used, the counts, the best score and the last trial's family."""
        elapsed, budget = self.deadline.elapsed(), self.deadline.seconds
        share = min(elapsed / budget, 1.0) if budget else 0.0
        filled = int(round(share * self.WIDTH))
        total = f"/{budget:.0f}s" if budget else "s"
        return (f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {elapsed:5.1f}{total} | trials {finished} "
                f"(ok {ok}) | best {best} | last {attrs.get('family', '?')} {attrs.get('status', '?')}")

    def close(self) -> None:
        """End the live bar's line."""
        if self.live:
            self.stream.write("\n")
            self.stream.flush()
