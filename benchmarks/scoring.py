"""The benchmark metric of each task, and how two scores compare.

As in the AutoML Benchmark: ROC AUC for binary tasks (probability of the second sorted class), log loss for
multiclass tasks and RMSE for regression, all measured on held-out test rows.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

METRICS = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}
GREATER_IS_BETTER = {"roc_auc": True, "log_loss": False, "rmse": False}
TIE_TOLERANCE = 1e-4  # relative: RMSEs range from 0.002 (elevators) to 30,000 (house_16H)
SUM_TOLERANCE = 1e-4  # probability rows summing to 1 within this are renormalised (float32 round-off)


def label_key(label: Any) -> str:
    """Normalise a class label so ``"1"``, ``1`` and ``1.0``, or ``"true"`` and ``True``, compare equal.

    Returns
    -------
    str
        Canonical text of the label.
    """
    text = str(label).strip()
    try:
        number = float(text)
    except ValueError:
        return text.lower() if text.lower() in ("true", "false") else text
    if math.isfinite(number) and number == int(number):
        return str(int(number))
    return repr(number)


def proba_matrix(preds: pd.DataFrame, classes: list[str]) -> np.ndarray:
    """Pick the ``proba_<label>`` columns of ``preds`` in the order of ``classes``.

    Raises
    ------
    ValueError
        If a class has no (or more than one) probability column.
    """
    columns: dict[str, list[str]] = {}
    for column in preds.columns:
        if str(column).startswith("proba_"):
            columns.setdefault(label_key(str(column)[len("proba_"):]), []).append(column)
    picked = []
    for label in classes:
        found = columns.get(label_key(label), [])
        if len(found) != 1:
            raise ValueError(f"class {label!r}: probability columns {found} among {list(preds.columns)}")
        picked.append(found[0])
    return preds[picked].to_numpy(dtype=float)


def score(task: str, y_true: pd.Series, preds: pd.DataFrame | np.ndarray, classes: list[str]) -> float:
    """Score predictions: ROC AUC (binary), log loss (multiclass) or RMSE (regression).

    Parameters
    ----------
    task : str
        Manifest task.
    y_true : pandas.Series
        True test targets (class labels as text).
    preds : pandas.DataFrame or numpy.ndarray
        A prediction file (``proba_<label>`` columns, or ``prediction`` for regression), or a probability
        matrix / prediction vector in ``classes`` order.
    classes : list of str
        Sorted class labels (empty for regression).

    Returns
    -------
    float
        The metric value.
    """
    from sklearn.metrics import log_loss, roc_auc_score, root_mean_squared_error

    if task == "regression":
        predicted = preds["prediction"] if isinstance(preds, pd.DataFrame) else preds
        return float(root_mean_squared_error(y_true.astype(float), np.asarray(predicted, dtype=float)))
    proba = proba_matrix(preds, classes) if isinstance(preds, pd.DataFrame) else np.asarray(preds)
    if task == "binary":
        return float(roc_auc_score(y_true == classes[1], proba[:, 1]))
    sums = proba.sum(axis=1, keepdims=True)
    if np.all(np.abs(sums - 1) <= SUM_TOLERANCE):
        proba = proba / sums
    return float(log_loss(y_true, proba, labels=classes))


def is_tie(score: float, baseline: float) -> bool:
    """Whether two scores differ by at most :data:`TIE_TOLERANCE` of the larger magnitude."""
    return abs(score - baseline) <= TIE_TOLERANCE * max(abs(score), abs(baseline))


def compare(metric: str, score: float, baseline: float) -> str:
    """``"beat"``, ``"tie"`` or ``"loss"`` of ``score`` against ``baseline`` (``""`` if either is missing).

    Scores that tie (:func:`is_tie`) tie; otherwise higher is better for AUC, lower for log loss and RMSE.
    """
    if not (np.isfinite(score) and np.isfinite(baseline)):
        return ""
    if is_tie(score, baseline):
        return "tie"
    better = score > baseline if GREATER_IS_BETTER[metric] else score < baseline
    return "beat" if better else "loss"
