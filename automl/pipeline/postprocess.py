"""Opt-in steps after the search, for classification: probability calibration and a tuned decision threshold.

Both are fitted on the *out-of-fold* probabilities of the final model (the search's cross-validation), never on
rows the final model was fitted on: calibrating on those would learn the model's over-confidence on its own
training rows. This is what scikit-learn's ``CalibratedClassifierCV`` and ``TunedThresholdClassifierCV`` do with
their own internal cross-validation; here the search has already paid for it.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.utils.validation import check_is_fitted

from automl.metrics import Metric, align_proba, get_metric, score_predictions

CALIBRATIONS = ("sigmoid", "isotonic")
THRESHOLD_CANDIDATES = 200
EPS = 1e-6


class PostProcessedClassifier(ClassifierMixin, BaseEstimator):
    """A fitted classifier whose probabilities are calibrated and/or whose labels come from a tuned threshold.

    Parameters
    ----------
    estimator : classifier
        The model (the search's final pipeline).
    calibration : {"sigmoid", "isotonic"} or None
        Platt scaling or isotonic regression of each class's probability (one-vs-rest, then normalised).
    threshold_metric : str or None
        Binary only: the name of the label metric (``accuracy``, ``balanced_accuracy``, ``f1_macro``) the decision
        threshold on ``classes_[1]``'s probability optimises.

    Attributes
    ----------
    estimator_ : the fitted model
    calibrators_ : list of fitted one-dimensional regressors, one per class (or None)
    threshold_ : float or None
        Predict ``classes_[1]`` when its (calibrated) probability is at least this.
    classes_ : ndarray
    """

    def __init__(self, estimator: Any = None, calibration: str | None = None, threshold_metric: str | None = None):
        self.estimator = estimator
        self.calibration = calibration
        self.threshold_metric = threshold_metric

    def fit(self, X: Any, y: Any) -> "PostProcessedClassifier":
        """Fit the model on ``X, y`` and the post-processing on its 5-fold out-of-fold probabilities."""
        y = np.asarray(y)
        folds = StratifiedKFold(5, shuffle=True, random_state=0)
        oof = cross_val_predict(clone(self.estimator), X, y, cv=folds, method="predict_proba")
        fitted = clone(self.estimator).fit(X, y)
        return self._fit_on(fitted, oof, y)

    @classmethod
    def from_out_of_fold(cls, fitted: Any, oof: np.ndarray, y: np.ndarray, classes: np.ndarray,
                         calibration: str | None, threshold_metric: str | None) -> "PostProcessedClassifier":
        """Wrap an already fitted model, learning the post-processing from its out-of-fold probabilities ``oof``
        (columns in the order of ``classes``; rows no fold predicted are NaN and left out)."""
        rows = ~np.isnan(oof).any(axis=1)
        wrapper = cls(clone(fitted), calibration, threshold_metric)
        return wrapper._fit_on(fitted, align_proba(oof[rows], classes, fitted.classes_), np.asarray(y)[rows])

    def _fit_on(self, fitted: Any, oof: np.ndarray, y: np.ndarray) -> "PostProcessedClassifier":
        if self.calibration not in (None, *CALIBRATIONS):
            raise ValueError(f"calibration must be one of {CALIBRATIONS} or None, got {self.calibration!r}")
        self.estimator_ = fitted
        self.classes_ = np.asarray(fitted.classes_)
        self.calibrators_ = None
        if self.calibration is not None:
            self.calibrators_ = [_calibrator(self.calibration, oof[:, k], (y == c).astype(float))
                                 for k, c in enumerate(self.classes_)]
            oof = self._calibrated(oof)
        self.threshold_ = None
        if self.threshold_metric is not None:
            if len(self.classes_) != 2:
                raise ValueError("a decision threshold is tuned for binary classification only")
            metric = get_metric(self.threshold_metric, "binary")
            self.threshold_ = best_threshold(oof[:, 1], y, self.classes_, metric)
        return self

    def _calibrated(self, proba: np.ndarray) -> np.ndarray:
        if self.calibrators_ is None:
            return proba
        out = np.column_stack([_predict_calibrator(c, proba[:, k]) for k, c in enumerate(self.calibrators_)])
        if out.shape[1] == 2:  # binary: the positive class's calibrated probability decides both columns
            out[:, 0] = 1 - out[:, 1]
        out = np.clip(out, EPS, None)
        return out / out.sum(axis=1, keepdims=True)

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        return self._calibrated(self.estimator_.predict_proba(X))

    def predict(self, X: Any) -> np.ndarray:
        proba = self.predict_proba(X)
        if self.threshold_ is not None:
            return np.where(proba[:, 1] >= self.threshold_, self.classes_[1], self.classes_[0])
        return self.classes_[np.argmax(proba, axis=1)]


def _calibrator(method: str, scores: np.ndarray, is_class: np.ndarray) -> Any:
    if method == "isotonic":
        return IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, is_class)
    # Platt scaling on the log-odds of the probability
    if is_class.min() == is_class.max():
        return float(is_class[0])  # one value only: a constant
    return LogisticRegression(C=1e6).fit(_logit(scores).reshape(-1, 1), is_class)


def _predict_calibrator(calibrator: Any, scores: np.ndarray) -> np.ndarray:
    if isinstance(calibrator, float):
        return np.full(len(scores), calibrator)
    if isinstance(calibrator, IsotonicRegression):
        return calibrator.predict(scores)
    return calibrator.predict_proba(_logit(scores).reshape(-1, 1))[:, 1]


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPS, 1 - EPS)
    return np.log(p / (1 - p))


def best_threshold(positive: np.ndarray, y: np.ndarray, classes: np.ndarray, metric: Metric) -> float:
    """The threshold on ``classes[1]``'s probability that maximises (or minimises) the label ``metric`` on
    ``y``, among at most :data:`THRESHOLD_CANDIDATES` quantiles of the probabilities (ties: nearest 0.5)."""
    if metric.needs_proba or metric.func is None:
        raise ValueError(f"the threshold is tuned for a metric of labels (accuracy, balanced_accuracy, f1_macro), "
                         f"not {metric.name!r}")
    candidates = np.unique(np.quantile(positive, np.linspace(0, 1, THRESHOLD_CANDIDATES)))
    sign = 1.0 if metric.greater_is_better else -1.0
    best, best_value = 0.5, -np.inf
    for t in sorted(candidates, key=lambda v: abs(v - 0.5)):
        labels = np.where(positive >= t, classes[1], classes[0])
        value = sign * score_predictions(metric, y, labels, None, None)
        if value > best_value + 1e-12:
            best, best_value = float(t), value
    return best


def without_postprocessing(final: Any) -> Any:
    """The pipeline a final model's post-processing wraps (``Pipeline([("postprocess", ...)])``), else ``final``:
    what the code that reads a final model's parts (its cast steps, its members) looks into."""
    steps = dict(getattr(final, "steps", []))
    if "postprocess" in steps:
        return steps["postprocess"].estimator_
    return final
