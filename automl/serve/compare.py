"""A/B comparison of two models on the same labelled rows: the metric of each and a paired bootstrap
confidence interval on their difference."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from automl.metrics import align_labels, bootstrap, checked_builtin, get_metric, predict_for_metric, score_predictions
from automl.model_input import SERIES, ModelInput, predictor


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
                   n_boot: int = 1000, confidence: float = 0.95, random_state: int = 0,
                   tables: dict[str, pd.DataFrame] | None = None) -> Comparison:
    """Score two fitted models on the same rows, with a paired bootstrap interval on B - A.

    Each bootstrap round resamples the rows once and scores both models on that same resample, so the
    interval reflects the difference between the models, not the noise of the rows.

    Parameters
    ----------
    model_a, model_b : AutoML
        Fitted (or loaded) models of the same task.
    X, y : DataFrame, Series
        Labelled rows, not used in training either model. For models fitted on series: the readings, and one
        label per series as a Series indexed by series id.
    metric : str, optional
        A built-in metric name; model A's metric by default.
    n_boot : int
        Bootstrap rounds.
    confidence : float
        Coverage of the interval.
    tables : dict of str to DataFrame, optional
        The related tables of ``X``'s rows, for a model fitted with related tables (a model fitted on ``X``'s table
        alone ignores them: the two can be compared on the same rows).

    Raises
    ------
    ValueError
        For models of different tasks, or one fitted on series and one not.
    """
    if model_a.task_ != model_b.task_:
        raise ValueError(f"model A is {model_a.task_}, model B {model_b.task_}: compare models of one task")
    input_a = comparable_input(model_a, model_b)
    chosen = checked_builtin(get_metric(metric, model_a.task_) if metric else model_a.metric_)
    classes = model_a.classes_
    labels = align_labels(classes, input_a.labels_in_order(X, y))
    pred_a = predict_for_metric(predictor(model_a, tables), X, model_a.task_, classes)
    pred_b = predict_for_metric(predictor(model_b, tables), X, model_b.task_, classes)

    def difference(rows: np.ndarray) -> float:  # both models scored on the same resample of the rows
        return (score_predictions(chosen, labels[rows], pred_b[rows], None, classes)
                - score_predictions(chosen, labels[rows], pred_a[rows], None, classes))

    score_a = score_predictions(chosen, labels, pred_a, None, classes)
    score_b = score_predictions(chosen, labels, pred_b, None, classes)
    differences = bootstrap(difference, len(labels), n_boot, random_state)
    if not len(differences):
        raise ValueError("no bootstrap resample could be scored: give more labelled rows")
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(differences, [tail, 100 - tail])
    return Comparison(chosen.name, chosen.greater_is_better, len(labels), score_a, score_b, score_b - score_a,
                      float(low), float(high), confidence, len(differences))


def comparable_input(model_a: Any, model_b: Any) -> ModelInput:
    """Model A's input, when B reads the same rows: both fitted on series (with one id column) or neither."""
    a, b = ModelInput.of(model_a), ModelInput.of(model_b)
    if (a.kind == SERIES) != (b.kind == SERIES) or a.column_id != b.column_id:
        raise ValueError(f"model A takes {a.describe()}, model B {b.describe()}: compare models that read the same "
                         "labelled data")
    return a
