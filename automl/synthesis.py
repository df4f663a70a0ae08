"""Fitting with feature synthesis: time series (tsfresh) and related tables (featuretools DFS).

The synthesis runs once, before the search, on a share of the time budget; the search then starts from the
synthesised frame, and the final pipeline is ``[("synthesis", synthesiser), *searched steps]``, so ``predict``
takes the raw input (long-format series, or the target table plus its related tables) and recomputes the same
features. What looks at the target (FRESH, the searched selectors) stays inside the searched pipeline and is
fitted on training folds only.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from automl._resources import resolve_n_jobs
from automl.model_input import TABLES, ModelInput, columns_read, per_series, sorted_ids
from automl.search.planner import Deadline, check_synthesis_affordable, synthesis_seconds
from automl.search.step_cache import STEP_CACHE, step_cache
from automl.verbosity import engine_log


class SynthesisMixin:
    """``fit_series`` / ``predict_series`` and the relational ``fit(..., tables=...)`` of :class:`automl.AutoML`."""

    # provided by AutoML
    time_budget: float | None
    n_jobs: int | None
    synthesis_plan: str
    verbose: int
    schema_: Any
    best_pipeline_: Any
    search_time_: float
    fit_time_: float
    classes_: Any
    feature_names_in_: np.ndarray
    n_features_in_: int
    if TYPE_CHECKING:
        def _validate_params(self) -> None: ...
        def _search(self, X: Any, y: Any, sample_weight: Any, deadline: Deadline,
                    needs: dict[str, Any] | None = None, data_source: dict[str, str] | None = None,
                    spent: float = 0.0) -> Any: ...
        def predict(self, X: Any, tables: dict[str, pd.DataFrame] | None = None) -> np.ndarray: ...
        def predict_proba(self, X: Any, tables: dict[str, pd.DataFrame] | None = None) -> np.ndarray: ...

    # -- time series -------------------------------------------------------------------------------------
    def fit_series(self, X: pd.DataFrame, y: Any, column_id: str = "id", column_sort: str | None = None,
                   column_kind: str | None = None, column_value: str | None = None,
                   sample_weight: Any = None) -> Any:
        """Extract tsfresh features from long-format series, then search as :meth:`fit` does.

        The tsfresh settings are chosen from the budget (Minimal, Efficient or Comprehensive: the richest whose
        measured cost fits in about a third of the budget), and each trial chooses among them and ``none``: the raw
        values, the last values of each series (as many as the longest series has, at most
        :data:`automl.features.timeseries.MAX_RAW_VALUES`; NaN before a shorter series' first value). FRESH selection
        (Benjamini-Yekutieli) runs in the pipeline of every trial that reads tsfresh features, on the training folds
        only. A fold's FRESH result is kept for the fit and reused by later trials
        whose filter gets the same input (:mod:`automl.search.step_cache`).

        Parameters
        ----------
        X : DataFrame
            One row per (series id, time): the id column, the sort column, and one numeric column per signal.
        y : Series or array-like
            One target per series: a Series indexed by series id, or values in the order of the sorted ids.
        column_id, column_sort, column_kind, column_value : str
            As in ``tsfresh.extract_features``.
        sample_weight : array-like, optional
            One weight per series, in the order of the sorted ids.

        Returns
        -------
        self

        Examples
        --------
        >>> model = AutoML(time_budget=60).fit_series(readings, labels, column_id="id", column_sort="time")  # doctest: +SKIP
        >>> model.predict_series(new_readings)   # doctest: +SKIP
        """
        from automl.features.timeseries import (IN_PROCESS_SECONDS, SeriesFeatures, check_series_frame, choose_settings,
                                               raw_value_count)
        from automl.search.worker import preload as preload_modules

        require("tsfresh", "fit_series (time-series features)")
        deadline = self._start_synthesis()
        columns: dict[str, Any] = {"column_id": column_id, "column_sort": column_sort, "column_kind": column_kind,
                                   "column_value": column_value}
        check_series_frame(X, **columns)
        # trial processes import tsfresh (about 5 s here) while this process imports it and times its settings:
        # told after the choice, the fork server made the first trial wait for that import (a 20 s CLI fit of 120
        # series: 11.0 s before its first trial, 8.0 s now)
        preload_modules(["tsfresh"])
        start = time.monotonic()
        settings, estimate = choose_settings(X, synthesis_seconds(deadline), **columns)
        choice_time = time.monotonic() - start
        check_synthesis_affordable(estimate, deadline, "tsfresh (Minimal settings)")
        n_jobs = 0 if estimate < IN_PROCESS_SECONDS else resolve_n_jobs(self.n_jobs)
        synthesiser = SeriesFeatures(**columns, settings=settings, n_jobs=n_jobs,
                                     raw_values=raw_value_count(X, column_id))  # the "none" plan: raw values
        ids = sorted_ids(X, column_id)
        from automl.features.timeseries import plan_columns

        with engine_log(self.verbose), step_cache() as cache:  # FRESH fitted once per fold, reused by later trials
            return self._fit_synthesised(synthesiser, X, per_series(y, ids, column_id), sample_weight, deadline,
                                         needs={"filter": "fresh", STEP_CACHE: cache},
                                         info={"method": "tsfresh", "settings": settings, "n_series": len(ids),
                                               "estimated_seconds": round(estimate, 3),
                                               "choice_time": round(choice_time, 3)},
                                         plans=lambda names: plan_columns(names, settings))

    def predict_series(self, X: pd.DataFrame) -> pd.Series:
        """Predictions for long-format series (the columns seen in :meth:`fit_series`), indexed by series id."""
        return pd.Series(self.predict(X), index=self._series_ids(X), name="prediction")

    def predict_proba_series(self, X: pd.DataFrame) -> pd.DataFrame:
        """Class probabilities for long-format series: one row per series id, one column per class."""
        return pd.DataFrame(self.predict_proba(X), index=self._series_ids(X), columns=self.classes_)

    def _series_ids(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "best_pipeline_")
        column_id = self.best_pipeline_.named_steps["synthesis"].column_id
        return sorted_ids(X, column_id)

    # -- related tables ------------------------------------------------------------------------------------
    def _fit_relational(self, X: Any, y: Any, sample_weight: Any, tables: dict[str, pd.DataFrame],
                        relationships: list[tuple[str, str, str, str]], cutoff_time: str | None,
                        time_index: dict[str, str] | None, logical_types: dict[str, dict[str, str]] | None) -> Any:
        """DFS over ``X`` (the target table) and ``tables``, then the search (see :meth:`AutoML.fit`)."""
        from automl.data.schema import to_frame
        from automl.features.relational import RelationalFeatures, choose_plan

        require("featuretools", "fit(..., tables=...) (features from related tables)")
        deadline = self._start_synthesis()
        relationships = [(str(a), str(b), str(c), str(d)) for a, b, c, d in relationships or []]
        target = _target_table(tables, relationships)
        raw = {**tables, target: to_frame(X)}
        synthesiser = RelationalFeatures(target=target, relationships=relationships, cutoff_time=cutoff_time,
                                         time_index=time_index, logical_types=logical_types)
        start = time.monotonic()
        plan, estimate = choose_plan(synthesiser, raw, synthesis_seconds(deadline))
        choice_time = time.monotonic() - start
        synthesiser.set_params(plan=plan)
        check_synthesis_affordable(estimate, deadline, f"featuretools DFS ({plan} plan)", done=synthesiser.computed(raw))
        from automl.features.relational import plan_columns

        return self._fit_synthesised(synthesiser, raw, y, sample_weight, deadline, needs={},
                                     plans=lambda names: plan_columns(synthesiser, raw, names, plan),
                                     info={"method": "featuretools", "plan": plan, "target_table": target,
                                           "cutoff_unit": synthesiser.cutoff_unit_,
                                           "estimated_seconds": round(estimate, 3), "choice_time": round(choice_time, 3)})

    def _pipeline_input(self, frame: pd.DataFrame, tables: dict[str, pd.DataFrame] | None) -> Any:
        """What ``best_pipeline_`` takes: the frame, or the frame with its related tables for a DFS model."""
        model_input = ModelInput.of(self)
        model_input.check_tables(tables, "pass them as tables={name: DataFrame}")
        if model_input.kind != TABLES:
            return frame
        return {**(tables or {}), str(model_input.target_table): frame}

    # -- shared --------------------------------------------------------------------------------------------
    def _plans_used(self) -> str:
        """The synthesis plans of the final model's trials (``"standard"``, or ``"none+rich"`` for an ensemble)."""
        board = self.leaderboard_.set_index("trial")  # type: ignore[attr-defined]
        family = getattr(self, "best_family_", None)
        trials = [int(n) for n in (getattr(self, "best_params_", {}) or {}).get("weights", {})] \
            if family == "ensemble" else [getattr(self, "best_trial_", None)]
        return "+".join(sorted({str(board.loc[t, "synthesis"]) for t in trials if t in board.index})) or "-"

    def _start_synthesis(self) -> Deadline:
        self._validate_params()
        if self.time_budget is None:
            raise ValueError("feature synthesis needs a time_budget (seconds) to choose how much to synthesise")
        return Deadline(self.time_budget)

    def _fit_synthesised(self, synthesiser: Any, raw: Any, y: Any, sample_weight: Any, deadline: Deadline,
                         needs: dict[str, Any], info: dict[str, Any],
                         plans: Any = None) -> Any:
        """Synthesise the richest affordable plan once, search on it, and put the synthesiser in front of the best
        pipeline. ``plans(names)`` maps each plan (cheaper ones, and "none": the target table's own columns, or the
        series' raw values) to the columns it makes: every trial chooses one (the ``plan`` option), so the score
        decides how much synthesis pays; with ``synthesis_plan="richest"``, or a single plan, every trial uses the
        computed one."""
        from automl.search.worker import warm_up

        start = time.monotonic()
        frame = synthesiser.fit_transform(raw)
        synthesis_time = time.monotonic() - start
        warm_up()  # the fork server's imports (tsfresh's for series) are not charged to the first trial's deadline
        startup_time = time.monotonic() - start - synthesis_time
        columns = plans([str(c) for c in frame.columns]) if plans is not None else {}
        # what the synthesis cost, choosing the plan included (on small tables the timing of a plan is its
        # computation, kept for the fit): shown on the leaderboard rows of the trials that read it
        shared = float(info.get("choice_time") or 0.0) + synthesis_time
        needs = {**needs, **plan_needs(columns, search=self.synthesis_plan), "synthesis_seconds": round(shared, 4)}
        self._search(frame, y, sample_weight, deadline, needs=needs, spent=deadline.elapsed())
        modelled = columns_read(self.best_pipeline_) or [c.name for c in self.schema_.columns
                                                          if c.name not in self.schema_.dropped]
        if hasattr(synthesiser, "keep_only"):
            synthesiser.keep_only(modelled)
        self.best_pipeline_ = Pipeline([("synthesis", synthesiser), *self.best_pipeline_.steps])
        raw_columns = _raw_columns(synthesiser, raw)
        self.feature_names_in_ = np.asarray(raw_columns, dtype=object)
        self.n_features_in_ = len(raw_columns)
        self.synthesis_ = {**info, "plans": {k: len(v) for k, v in columns.items()},
                           "plan_chosen": self._plans_used(),
                           "n_features_synthesised": int(frame.shape[1]), "n_features_modelled": len(modelled),
                           "synthesis_time": round(synthesis_time, 3), "worker_start_time": round(startup_time, 3),
                           "search_time": round(self.search_time_, 3)}
        self.synthesis_time_ = synthesis_time
        profile = getattr(self, "profile_", None)
        if isinstance(profile, dict):  # the profile describes the synthesised frame; say where it came from
            profile["synthesis"] = self.synthesis_
        self.fit_time_ = deadline.elapsed()
        return self


def plan_needs(columns: dict[str, list[str]], search: bool | str) -> dict[str, Any]:
    """The trials' needs for the synthesis plans ``columns`` (cheapest first, the computed one last).

    Every trial reads the columns of its ``plan`` and names it on the leaderboard. ``search`` is
    ``synthesis_plan`` (or a bool: ``True`` for ``"search"``). With ``"search"`` and more than one plan, ``plans``
    holds them all and each trial chooses; with ``"none"``, the ``none`` plan alone (the columns of ``X``, or a
    series' raw values); otherwise the computed plan alone, which every trial uses (a series fit whose only
    affordable tsfresh settings are Minimal has that one plan, and its trials use Minimal features, not ``none``).
    """
    if not columns:
        return {}
    if search == "none" and "none" in columns:
        return {"plans": {"none": columns["none"]}, "plan": "none"}
    richest = list(columns)[-1]
    if search in (True, "search") and len(columns) > 1:
        return {"plans": columns, "plan": richest}
    return {"plans": {richest: columns[richest]}, "plan": richest}


def plan_options(needs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The searched preprocessing options the synthesis plans of ``needs`` add to every family.

    ``plan``, when there is a choice: the computed plan first (the family defaults use it), then the others. With a
    ``none`` plan and the FRESH filter (series: the raw values), ``filter`` is ``"none"`` on the trials that choose
    ``none``: FRESH tests every time step and class (seconds per fold on a long series) and the raw values are the
    model's input as they are, not features to sift.
    """
    plans = list(needs.get("plans") or ())
    if len(plans) < 2:
        return {}
    options: dict[str, dict[str, Any]] = {"plan": {"choice": [needs["plan"], *[p for p in plans if p != needs["plan"]]]}}
    if "none" in plans and needs.get("filter") == "fresh":
        options["filter"] = {"choice": ["none"], "when": {"plan": ["none"]}}
    return options


def require(library: str, what: str) -> None:
    """Raise a clear ``ImportError`` when the synthesis extra is not installed."""
    import importlib.util

    if importlib.util.find_spec(library) is None:
        raise ImportError(f"{what} needs {library}, which is not installed: pip install \"automl[synthesis]\"",
                          name=library)


def _raw_columns(synthesiser: Any, raw: Any) -> list[str]:
    frame = raw[synthesiser.target] if isinstance(raw, dict) else raw
    return [str(c) for c in frame.columns]


def _target_table(tables: Any, relationships: list[tuple[str, str, str, str]]) -> str:
    """The one table named in ``relationships`` but not passed in ``tables``: the table of ``X``."""
    if not isinstance(tables, dict):
        raise TypeError(f"tables must be a dict of {{name: DataFrame}}, got {type(tables).__name__}")
    if any(len(r) != 4 for r in relationships):
        raise ValueError("each relationship is (parent table, parent key, child table, child key)")
    named = [t for r in relationships for t in (r[0], r[2]) if t not in tables]
    if len(set(named)) != 1:
        raise ValueError(f"the relationships must name exactly one table besides {sorted(tables)}: the table of X "
                         f"(e.g. ('customers', 'customer_id', 'sessions', 'customer_id')); they name {sorted(set(named))}")
    return named[0]
