"""The acceptance test: the chosen pipeline scored once on the held-back test set."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from automl.metrics import Metric, bootstrap, predict_for_metric, score_predictions

BOOTSTRAP_ROUNDS = 200


def acceptance_test(pipeline: Any, X: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray | None,
                    metric: Metric, task: str, classes: np.ndarray | None, validation_score: float | None,
                    validation_std: float | None, seed: int) -> dict[str, Any]:
    """Score ``pipeline`` on the test rows and compare with its validation score.

    The two disagree when they differ by more than twice the combined spread: the validation folds'
    standard deviation and the test score's bootstrap standard deviation.

    Returns
    -------
    dict
        ``test_score``, ``validation_score``, ``difference``, ``tolerance``, ``agrees``, ``n_test_rows``,
        ``metric``.
    """
    if metric.scorer is not None:
        kwargs = {} if sample_weight is None else {"sample_weight": sample_weight}
        score = float(metric.scorer(pipeline, X, y, **kwargs))
        spread = 0.0
    else:
        pred = predict_for_metric(pipeline, X, task, classes)
        score = score_predictions(metric, y, pred, sample_weight, classes)
        spread = _bootstrap_std(metric, y, pred, sample_weight, classes, seed)
    result: dict[str, Any] = {"metric": metric.name, "test_score": score, "validation_score": validation_score,
                              "n_test_rows": int(len(y)), "difference": None, "tolerance": None, "agrees": None}
    if validation_score is not None and np.isfinite(validation_score):
        tolerance = 2.0 * float(np.hypot(validation_std or 0.0, spread))
        result.update(difference=score - validation_score, tolerance=tolerance,
                      agrees=bool(abs(score - validation_score) <= tolerance))
    return result


def _bootstrap_std(metric: Metric, y: np.ndarray, pred: np.ndarray, sample_weight: np.ndarray | None,
                   classes: np.ndarray | None, seed: int) -> float:
    def test_score(rows: np.ndarray) -> float:
        return score_predictions(metric, y[rows], pred[rows], None if sample_weight is None else sample_weight[rows],
                                 classes)

    scores = bootstrap(test_score, len(y), BOOTSTRAP_ROUNDS, seed)
    return float(np.std(scores, ddof=1)) if len(scores) > 1 else 0.0
