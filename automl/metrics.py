"""Named metrics: how to compute each from predictions, its direction, and what it needs.

Scores are computed from out-of-fold predictions so that the same numbers serve the leaderboard,
pruning and ensemble selection. A scikit-learn scorer name or a scorer callable is accepted too; those
are evaluated on the fitted pipeline (``scorer(pipeline, X, y)``), which is what scikit-learn promises.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal

import numpy as np
from sklearn import metrics as skm

TASKS = ("binary", "multiclass", "regression")
DEFAULT_METRIC = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}


@dataclass(frozen=True)
class Metric:
    """A metric of the search.

    Attributes
    ----------
    name : str
        Name shown on the leaderboard.
    greater_is_better : bool
        Direction of optimisation.
    needs_proba : bool
        Whether it is computed from class probabilities (classification only).
    func : callable or None
        ``func(y_true, y_pred, sample_weight, labels) -> float`` on predictions; ``None`` for scorers.
    scorer : callable or None
        A scikit-learn scorer ``scorer(estimator, X, y, sample_weight=None)``, greater is better.
    """

    name: str
    greater_is_better: bool
    needs_proba: bool = False
    func: Callable[..., float] | None = None
    scorer: Callable[..., float] | None = None

    @property
    def direction(self) -> Literal["maximize", "minimize"]:
        """``"maximize"`` or ``"minimize"``, as Optuna spells it."""
        return "maximize" if self.greater_is_better else "minimize"

    def from_predictions(self, y_true: np.ndarray, y_pred: np.ndarray,
                         sample_weight: np.ndarray | None = None, labels: np.ndarray | None = None) -> float:
        """Score predictions (probabilities for ``needs_proba`` metrics, labels or values otherwise)."""
        if self.func is None:
            raise TypeError(f"metric {self.name!r} is a scorer and needs a fitted estimator, not predictions")
        return float(self.func(y_true, y_pred, sample_weight, labels))

    def worst(self) -> float:
        """The worst possible value, used to rank failed trials last."""
        return -np.inf if self.greater_is_better else np.inf


def _roc_auc(y, p, w, labels):
    return skm.roc_auc_score(y, p[:, 1], sample_weight=w)


def _roc_auc_ovr(y, p, w, labels):
    return skm.roc_auc_score(y, p, sample_weight=w, multi_class="ovr", labels=labels)


def _log_loss(y, p, w, labels):
    return skm.log_loss(y, p, sample_weight=w, labels=labels)


def _rmse(y, p, w, labels):
    return skm.root_mean_squared_error(y, p, sample_weight=w)


def _labels_metric(fn: Callable[..., float], **kwargs: Any) -> Callable[..., float]:
    return lambda y, p, w, labels: fn(y, p, sample_weight=w, **kwargs)


# name -> (greater_is_better, needs_proba, func, tasks)
_BUILTIN: dict[str, tuple[bool, bool, Callable[..., float], tuple[str, ...]]] = {
    "roc_auc": (True, True, _roc_auc, ("binary",)),
    "roc_auc_ovr": (True, True, _roc_auc_ovr, ("multiclass",)),
    "log_loss": (False, True, _log_loss, ("binary", "multiclass")),
    "accuracy": (True, False, _labels_metric(skm.accuracy_score), ("binary", "multiclass")),
    "balanced_accuracy": (True, False, _labels_metric(skm.balanced_accuracy_score), ("binary", "multiclass")),
    "f1_macro": (True, False, _labels_metric(skm.f1_score, average="macro"), ("binary", "multiclass")),
    "rmse": (False, False, _rmse, ("regression",)),
    "mae": (False, False, _labels_metric(skm.mean_absolute_error), ("regression",)),
    "r2": (True, False, _labels_metric(skm.r2_score), ("regression",)),
}
_ALIASES = {"auc": "roc_auc", "logloss": "log_loss", "neg_log_loss": "log_loss",
            "neg_root_mean_squared_error": "rmse", "neg_mean_absolute_error": "mae"}


def builtin_metric_names() -> list[str]:
    """Names computed from predictions (usable by ensembling and pruning)."""
    return sorted(_BUILTIN)


def get_metric(metric: str | Callable[..., float] | None, task: str) -> Metric:
    """Resolve the user's ``metric`` argument for a task.

    Parameters
    ----------
    metric : str, callable or None
        ``None`` for the AutoML Benchmark default of the task, a name from :func:`builtin_metric_names`,
        any scikit-learn scorer name (``sklearn.metrics.get_scorer_names()``), or a scorer callable
        ``scorer(estimator, X, y) -> float`` where greater is better.
    task : {"binary", "multiclass", "regression"}

    Returns
    -------
    Metric

    Raises
    ------
    ValueError
        If the name is unknown or does not fit the task.
    """
    if metric is None:
        metric = DEFAULT_METRIC[task]
    if callable(metric):
        name = getattr(metric, "__name__", None) or type(metric).__name__
        return Metric(name=str(name), greater_is_better=True, scorer=metric)
    if not isinstance(metric, str):
        raise TypeError(f"metric must be a name or a scorer callable, got {type(metric).__name__}")
    name = _ALIASES.get(metric, metric)
    if name in _BUILTIN:
        greater, proba, func, tasks = _BUILTIN[name]
        if task not in tasks:
            raise ValueError(f"metric {metric!r} does not apply to a {task} task; it is for {', '.join(tasks)}. "
                             f"Pick another, e.g. {DEFAULT_METRIC[task]!r}.")
        return Metric(name=name, greater_is_better=greater, needs_proba=proba, func=func)
    if metric in skm.get_scorer_names():
        return Metric(name=metric, greater_is_better=True, scorer=skm.get_scorer(metric))
    raise ValueError(f"unknown metric {metric!r}. Use one of {builtin_metric_names()}, a scikit-learn scorer name, "
                     "or a scorer callable.")
