"""Scoring, at the bottom of the package: named metrics, what they are computed from, and the bootstrap.

Scores are computed from out-of-fold predictions so that the same numbers serve the leaderboard,
pruning and ensemble selection. A scikit-learn scorer name or a scorer callable is accepted too; those
are evaluated on the fitted pipeline (``scorer(pipeline, X, y)``), which is what scikit-learn promises.

Everything that scores predictions (the search, the acceptance test, ``automl compare``, the monitor, the
report) uses :func:`predict_for_metric`, :func:`score_predictions` and :func:`bootstrap` from here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal

import numpy as np
import pandas as pd
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

    def better(self, a: float, b: float) -> bool:
        """Whether the score ``a`` is strictly better than ``b``."""
        return a > b if self.greater_is_better else a < b


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


def check_metric_name(name: str) -> None:
    """Raise the ``ValueError`` of :func:`get_metric` for a name that is neither built in nor a scikit-learn scorer
    (before the task is known: whether it fits the task is checked by :func:`get_metric`)."""
    if _ALIASES.get(name, name) not in _BUILTIN and name not in skm.get_scorer_names():
        raise ValueError(f"unknown metric {name!r}. Use one of {builtin_metric_names()}, a scikit-learn scorer name, "
                         "or a scorer callable.")


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


def resolve_extra_metrics(names: list[str] | tuple[str, ...] | None, task: str) -> list[Metric]:
    """The leaderboard's further metrics (``AutoML(extra_metrics=...)``) for a task.

    Raises
    ------
    ValueError
        For a name that is not a built-in metric (a scorer needs a fitted model, the leaderboard has predictions),
        does not fit the task, or is given twice.
    """
    metrics: list[Metric] = []
    for name in names or []:
        if not isinstance(name, str) or _ALIASES.get(name, name) not in _BUILTIN:
            raise ValueError(f"extra_metrics: {name!r} is not one of {builtin_metric_names()} (the leaderboard "
                             "scores trials from their out-of-fold predictions)")
        metric = get_metric(name, task)
        if metric.name in [m.name for m in metrics]:
            raise ValueError(f"extra_metrics: {name!r} is given twice")
        metrics.append(metric)
    return metrics


def score_out_of_fold(metrics: list[Metric], y: np.ndarray, oof: np.ndarray, sample_weight: np.ndarray | None,
                      classes: np.ndarray | None) -> dict[str, float | None]:
    """Each metric on the rows ``oof`` predicted (NaN marks a row no fold validated); ``None`` where a metric is
    undefined on them (one class only, say)."""
    rows = ~np.isnan(oof.reshape(len(oof), -1)).any(axis=1)
    out: dict[str, float | None] = {}
    for metric in metrics:
        try:
            value = score_predictions(metric, y[rows], oof[rows], None if sample_weight is None
                                      else sample_weight[rows], classes)
        except ValueError:
            value = float("nan")
        out[metric.name] = float(value) if np.isfinite(value) else None
    return out


# -- predictions a metric is computed from ----------------------------------------------------------------------
def align_proba(proba: np.ndarray, model_classes: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Put probability columns in the order of ``classes`` (zeros for classes a model never saw)."""
    if len(model_classes) == len(classes) and np.array_equal(model_classes, classes):
        return proba
    out = np.zeros((proba.shape[0], len(classes)))
    index = {c: i for i, c in enumerate(classes)}
    for j, c in enumerate(model_classes):
        out[:, index[c]] = proba[:, j]
    return out


def predict_for_metric(model: Any, X: Any, task: str, classes: np.ndarray | None) -> np.ndarray:
    """Probabilities over all ``classes`` (classification) or values (regression) of a fitted ``model``."""
    if task == "regression":
        return np.asarray(model.predict(X), dtype=float)
    if classes is None:
        raise ValueError("classification needs its classes to align probabilities")
    return align_proba(model.predict_proba(X), model.classes_, classes)


def score_predictions(metric: Metric, y: np.ndarray, pred: np.ndarray, sample_weight: np.ndarray | None,
                      classes: np.ndarray | None) -> float:
    """The metric on predictions from :func:`predict_for_metric` (labels are taken as the most probable class
    for metrics computed from labels)."""
    if classes is not None and not metric.needs_proba:
        pred = classes[np.argmax(pred, axis=1)]
    return metric.from_predictions(y, pred, sample_weight, classes)


def constant_score(metric: Metric, y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]],
                   sample_weight: np.ndarray | None, classes: np.ndarray | None) -> float | None:
    """The mean over ``folds`` of ``metric`` for a constant prediction fitted on each training fold: the class
    shares (add-one smoothed, in units of the mean weight), or for regression the better of the mean and the
    median (the best constant for a squared and an absolute error). The floor a useful model beats; ``None`` for a
    scorer, which needs a fitted estimator."""
    if metric.func is None:
        return None
    weights = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    scores = []
    for train, valid in folds:
        w = weights[train]
        valid_weights = None if sample_weight is None else weights[valid]
        if classes is None:
            weighted = sample_weight is not None and w.sum() > 0
            centres = [np.average(y[train], weights=w), weighted_median(y[train], w)] if weighted else \
                [np.mean(y[train]), np.median(y[train])]
            fold = [score_predictions(metric, y[valid], np.full(len(valid), c), valid_weights, None) for c in centres]
            scores.append(max(fold) if metric.greater_is_better else min(fold))
        else:
            mass = np.array([w[y[train] == c].sum() for c in classes]) + max(w.mean(), 1e-12)
            pred = np.tile(mass / mass.sum(), (len(valid), 1))
            scores.append(score_predictions(metric, y[valid], pred, valid_weights, classes))
    return float(np.mean(scores)) if scores else None


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The smallest value at which the cumulative weight (in the values' order) reaches half the total."""
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, cumulative[-1] / 2.0)])


def align_labels(classes: np.ndarray | None, y: Any) -> np.ndarray:
    """Labels read from a file in the dtype of ``classes`` (CSV may read "1" where the model has 1); values as
    floats for regression (``classes`` None).

    Raises
    ------
    ValueError
        For a label that is not one of ``classes``, or a value that is not a number.
    """
    if classes is None:
        return pd.to_numeric(pd.Series(y), errors="raise").to_numpy(dtype=float)
    classes = np.asarray(classes)
    by_text = {str(c): c for c in classes}
    unknown = sorted({str(v) for v in y if str(v) not in by_text})
    if unknown:
        raise ValueError(f"labels {unknown[:5]} are not classes of the model ({list(by_text)})")
    return np.array([by_text[str(v)] for v in y], dtype=classes.dtype)


def checked_builtin(metric: Metric) -> Metric:
    """``metric`` when it is computed from predictions; a clear error for a custom scorer."""
    if metric.func is None:
        raise ValueError(f"metric {metric.name!r} is a custom scorer; scoring rows needs a built-in metric "
                         f"({', '.join(builtin_metric_names())})")
    return metric


# -- the bootstrap ---------------------------------------------------------------------------------------------
def bootstrap(statistic: Callable[[np.ndarray], float], n_rows: int, rounds: int, seed: int) -> np.ndarray:
    """``statistic(rows)`` over ``rounds`` resamples of ``n_rows`` rows drawn with replacement.

    A resample where the statistic is undefined (``ValueError``, e.g. one class only for ROC AUC) or not finite
    is left out, so the result may hold fewer than ``rounds`` values.
    """
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(rounds):
        rows = rng.integers(0, n_rows, n_rows)
        try:
            value = float(statistic(rows))
        except ValueError:
            continue
        if np.isfinite(value):
            values.append(value)
    return np.asarray(values, dtype=float)
