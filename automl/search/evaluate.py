"""Evaluate one trial configuration by cross-validation; runs inside a worker process."""
from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

from automl.data.schema import Schema
from automl.metrics import Metric, predict_for_metric, score_predictions
from automl.pipeline.build import TrialConfig, build_pipeline
from automl.pipeline.select import selected_counts

# report(step, score) -> whether to go on (False: the trial is pruned)
Reporter = Callable[[int, float], bool]


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

    @property
    def score(self) -> float | None:
        return float(np.mean(self.fold_scores)) if self.fold_scores else None

    @property
    def score_std(self) -> float | None:
        return float(np.std(self.fold_scores)) if len(self.fold_scores) > 1 else None


def fit_pipeline(task: TrialTask, X: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray | None) -> Any:
    """Build and fit the trial's pipeline on ``X, y`` (weights go to the model step)."""
    pipe = build_pipeline(task.schema, task.config, task.task, task.random_state, task.n_jobs)
    fit_params = {} if sample_weight is None else {"model__sample_weight": sample_weight}
    return pipe.fit(X, y, **fit_params)


def evaluate(task: TrialTask, X: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray | None,
             report: Reporter) -> TrialResult:
    """Cross-validate ``task.config`` over ``task.folds``; report each fold's score as it comes.

    Errors are caught and returned as ``status="error"`` with the traceback's last line and the fold.
    """
    result = TrialResult(status="ok")
    width = len(task.classes) if task.classes is not None else None
    result.oof = np.full((len(y), width) if width else len(y), np.nan)
    stage = "fold 0"
    try:
        for fold, (train, valid) in enumerate(task.folds):
            stage = f"fold {fold}"
            w_train = None if sample_weight is None else sample_weight[train]
            w_valid = None if sample_weight is None else sample_weight[valid]
            start = time.perf_counter()
            pipe = fit_pipeline(task, X.iloc[train], y[train], w_train)
            result.fit_times.append(time.perf_counter() - start)
            if fold == 0:
                result.n_features_synthesised, result.n_features_selected = selected_counts(pipe)
            start = time.perf_counter()
            pred = predict_for_metric(pipe, X.iloc[valid], task.task, task.classes)
            result.predict_times_per_1k.append((time.perf_counter() - start) / max(len(valid), 1) * 1000)
            result.oof[valid] = pred
            if task.metric.scorer is not None:
                kwargs = {} if w_valid is None else {"sample_weight": w_valid}
                score = float(task.metric.scorer(pipe, X.iloc[valid], y[valid], **kwargs))
            else:
                score = score_predictions(task.metric, y[valid], pred, w_valid, task.classes)
            if not np.isfinite(score):
                raise ValueError(f"the metric {task.metric.name} gave {score} on fold {fold}")
            result.fold_scores.append(score)
            if not report(fold, score):
                result.status = "pruned"
                return result
        if task.refit:
            stage = "refit"
            start = time.perf_counter()
            result.refit_model = fit_pipeline(task, X, y, sample_weight)
            result.refit_time = time.perf_counter() - start
    except Exception as exc:  # a failing family is a leaderboard row, not a crash
        result.status = "error"
        limit = (f" (over the trial memory limit of {task.memory_limit / 2**30:.1f} GB: AutoML(memory_limit=...))"
                 if isinstance(exc, MemoryError) and task.memory_limit else "")
        result.error = f"{type(exc).__name__} in {stage}: {exc}{limit}"[:2000]
        result.traceback = traceback.format_exc(limit=8)
    return result
