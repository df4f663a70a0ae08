"""A/B comparison of two models on the same labelled rows: the metric of each and a paired bootstrap
confidence interval on their difference."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from automl.serve.scoring import align_labels, metric_predictions, score


@dataclass
class Comparison:
    """Scores of models A and B on the same rows; ``difference`` is B - A, its interval from the bootstrap."""

    metric: str
    greater_is_better: bool
    rows: int
    score_a: float
    score_b: float
    difference: float
    ci_low: float
    ci_high: float
    confidence: float
    n_boot: int

    @property
    def verdict(self) -> str:
        """Which model is better, when the interval excludes zero."""
        better_b = self.ci_low > 0 if self.greater_is_better else self.ci_high < 0
        better_a = self.ci_high < 0 if self.greater_is_better else self.ci_low > 0
        if better_b:
            return "B is better"
        if better_a:
            return "A is better"
        return "no significant difference"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "verdict": self.verdict}


def compare_models(model_a: Any, model_b: Any, X: pd.DataFrame, y: pd.Series, metric: str | None = None,
                   n_boot: int = 1000, confidence: float = 0.95, random_state: int = 0) -> Comparison:
    """Score two fitted models on the same rows, with a paired bootstrap interval on B - A.

    Each bootstrap round resamples the rows once and scores both models on that same resample, so the
    interval reflects the difference between the models, not the noise of the rows.

    Parameters
    ----------
    model_a, model_b : AutoML
        Fitted (or loaded) models of the same task.
    X, y : DataFrame, Series
        Labelled rows, not used in training either model.
    metric : str, optional
        A built-in metric name; model A's metric by default.
    n_boot : int
        Bootstrap rounds.
    confidence : float
        Coverage of the interval.
    """
    from automl.metrics import get_metric

    if model_a.task_ != model_b.task_:
        raise ValueError(f"model A is {model_a.task_}, model B {model_b.task_}: compare models of one task")
    chosen = get_metric(metric, model_a.task_) if metric else model_a.metric_
    labels = align_labels(model_a, y)
    pred_a, pred_b = metric_predictions(model_a, X, chosen), metric_predictions(model_b, X, chosen)
    score_a, score_b = score(model_a, labels, pred_a, chosen), score(model_b, labels, pred_b, chosen)
    differences = _paired_bootstrap(model_a, model_b, labels, pred_a, pred_b, chosen, n_boot, random_state)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(differences, [tail, 100 - tail])
    return Comparison(chosen.name, chosen.greater_is_better, len(labels), score_a, score_b, score_b - score_a,
                      float(low), float(high), confidence, len(differences))


def _paired_bootstrap(model_a: Any, model_b: Any, y: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray,
                      metric: Any, n_boot: int, random_state: int) -> np.ndarray:
    rng = np.random.default_rng(random_state)
    out = []
    for _ in range(n_boot):
        rows = rng.integers(0, len(y), len(y))
        try:  # a resample may hold one class only, where AUC is undefined: skip it
            out.append(score(model_b, y[rows], pred_b[rows], metric) - score(model_a, y[rows], pred_a[rows], metric))
        except ValueError:
            continue
    if not out:
        raise ValueError("no bootstrap resample could be scored: give more labelled rows")
    return np.asarray(out)
