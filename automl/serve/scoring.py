"""A fitted model's metric on labelled rows: shared by the monitor (live score) and ``automl compare``."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from automl.metrics import Metric, builtin_metric_names
from automl.search.evaluate import predict_for_metric, score_predictions


def metric_predictions(model: Any, X: pd.DataFrame, metric: Metric | None = None) -> np.ndarray:
    """What a metric (the model's own by default) is computed from: probabilities over ``classes_``, or values."""
    metric = metric or model.metric_
    if metric.func is None:
        raise ValueError(f"metric {metric.name!r} is a custom scorer; scoring rows needs a built-in metric "
                         f"({', '.join(builtin_metric_names())})")
    return predict_for_metric(model, X, model.task_, model.classes_)


def score(model: Any, y: Any, predictions: np.ndarray, metric: Metric | None = None) -> float:
    """A metric (the model's own by default) on ``predictions`` from :func:`metric_predictions` against ``y``."""
    return float(score_predictions(metric or model.metric_, np.asarray(y), predictions, None, model.classes_))


def align_labels(model: Any, y: pd.Series) -> np.ndarray:
    """Labels read from a file, in the dtype of the model's classes (CSV may read "1" where the model has 1)."""
    if model.classes_ is None:
        return pd.to_numeric(y, errors="raise").to_numpy(dtype=float)
    classes = np.asarray(model.classes_)
    by_text = {str(c): c for c in classes}
    unknown = sorted({str(v) for v in y if str(v) not in by_text})
    if unknown:
        raise ValueError(f"labels {unknown[:5]} are not classes of the model ({list(by_text)})")
    return np.array([by_text[str(v)] for v in y], dtype=classes.dtype)
