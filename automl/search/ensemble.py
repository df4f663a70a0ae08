"""Ensemble selection (Caruana et al., 2004) over the out-of-fold predictions of finished trials.

Greedy forward selection with replacement: start empty, repeatedly add the trial whose predictions most
improve the metric of the running average, for a fixed number of rounds. The counts become weights. The
fitted ensemble is :class:`WeightedEnsemble`, a plain scikit-learn estimator over refitted pipelines.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.utils.validation import check_is_fitted

from automl.metrics import Metric, align_proba, score_predictions

ROUNDS = 25
MAX_CANDIDATES = 8
# Selection scores at most this many out-of-fold rows (a fixed random subset beyond): rounds x candidates metric
# evaluations on the 80,000 holdout rows of a 400k table took 15-20 s, on 20,000 a quarter of that.
SELECTION_ROWS = 20_000


@dataclass
class Selection:
    """Trial numbers with their weights, and the ensemble's out-of-fold score."""

    weights: dict[int, float]
    score: float


def select_ensemble(oof: dict[int, np.ndarray], y: np.ndarray, metric: Metric, classes: np.ndarray | None,
                    sample_weight: np.ndarray | None = None, rounds: int = ROUNDS) -> Selection | None:
    """Greedy ensemble selection with replacement over out-of-fold predictions.

    Parameters
    ----------
    oof : dict of int to ndarray
        Trial number to out-of-fold predictions (probabilities, or values for regression); rows that no
        fold predicted are NaN and left out of the scoring.
    y, metric, classes, sample_weight
        As in the search.

    Returns
    -------
    Selection or None
        ``None`` when the metric cannot be computed from predictions or there is nothing to choose from.
    """
    if metric.func is None or not oof:
        return None
    numbers = list(oof)
    scored = _scored_rows(oof, y, sample_weight)
    if scored is None:
        return None
    stacked, target, weight = scored
    sign = 1.0 if metric.greater_is_better else -1.0
    counts = np.zeros(len(numbers))
    total = np.zeros_like(stacked[0])
    best_score, best_counts = -np.inf, counts.copy()
    for _ in range(rounds):
        trial_scores = []
        for i in range(len(numbers)):
            blend = (total + stacked[i]) / (counts.sum() + 1)
            trial_scores.append(sign * _safe_score(metric, target, blend, weight, classes))
        pick = int(np.argmax(trial_scores))
        counts[pick] += 1
        total += stacked[pick]
        if trial_scores[pick] > best_score:  # keep the best round, not the last
            best_score, best_counts = trial_scores[pick], counts.copy()
    weights = {numbers[i]: float(c / best_counts.sum()) for i, c in enumerate(best_counts) if c > 0}
    return Selection(weights=weights, score=float(sign * best_score))


def score_weights(oof: dict[int, np.ndarray], weights: dict[int, float], y: np.ndarray, metric: Metric,
                  classes: np.ndarray | None, sample_weight: np.ndarray | None = None) -> float:
    """The out-of-fold score of a given weighting (weights are normalised to sum to 1)."""
    scored = _scored_rows({n: oof[n] for n in weights}, y, sample_weight)
    if scored is None or metric.func is None:
        return metric.worst()
    stacked, target, weight = scored
    total = sum(weights.values())
    blend = sum(w / total * stacked[i] for i, w in enumerate(weights.values()))
    return _safe_score(metric, target, blend, weight, classes)


def blend(oof: dict[int, np.ndarray], weights: dict[int, float]) -> np.ndarray:
    """The weighted average of the trials' out-of-fold predictions (NaN where any of them has none)."""
    total = sum(weights.values())
    return np.sum([w / total * oof[n] for n, w in weights.items()], axis=0)


def flatten(models: list[Any], weights: list[float]) -> tuple[list[Any], list[float]]:
    """Members and weights with every averaged model (a bag of fold models, ``Pipeline([("ensemble", ...)])``)
    replaced by its own members at their share of its weight: an ensemble holds plain pipelines only."""
    members: list[Any] = []
    shares: list[float] = []
    for model, weight in zip(models, weights):
        steps = dict(getattr(model, "steps", []))
        if len(steps) == 1 and "ensemble" in steps:
            inner = steps["ensemble"]
            for member, share in zip(inner._members(), inner.weights or []):
                members.append(member)
                shares.append(weight * share)
        else:
            members.append(model)
            shares.append(weight)
    return members, shares


def scoring_seconds(oof: np.ndarray | None, y: np.ndarray | None, metric: Metric,
                    classes: np.ndarray | None) -> float | None:
    """Seconds of one evaluation of the metric on out-of-fold predictions (what selection repeats), or ``None``
    when there is nothing to measure on yet."""
    if oof is None or y is None or metric.func is None:
        return None
    times = []
    for _ in range(3):  # the least of three: the first call may pay one-off costs
        start = time.perf_counter()
        score_weights({0: oof}, {0: 1.0}, y, metric, classes, None)
        times.append(time.perf_counter() - start)
    return min(times)


def _scored_rows(oof: dict[int, np.ndarray], y: np.ndarray, sample_weight: np.ndarray | None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None] | None:
    """Predictions stacked in the order of ``oof``, on the rows every trial predicted, with their target and weight."""
    stacked = np.stack(list(oof.values()))
    rows = ~np.isnan(stacked.reshape(len(oof), stacked.shape[1], -1)).any(axis=(0, 2))
    if rows.sum() < 2:
        return None
    if rows.sum() > SELECTION_ROWS:  # the same subset every time: scores of different weightings compare
        kept = np.random.default_rng(0).choice(np.flatnonzero(rows), SELECTION_ROWS, replace=False)
        rows = np.zeros_like(rows)
        rows[kept] = True
    return stacked[:, rows], y[rows], None if sample_weight is None else sample_weight[rows]


def _safe_score(metric: Metric, y: np.ndarray, pred: np.ndarray, weight: np.ndarray | None,
                classes: np.ndarray | None) -> float:
    try:
        value = score_predictions(metric, y, pred, weight, classes)
    except ValueError:
        return metric.worst()
    return value if np.isfinite(value) else metric.worst()


class WeightedEnsemble(BaseEstimator):
    """Weighted average of pipelines' probabilities (classification) or predictions (regression).

    A plain scikit-learn estimator: ``fit`` fits a clone of every member on the same rows, so
    ``clone(ensemble).fit(X, y)`` refits the whole ensemble. The search builds it from members it already refitted
    in its worker processes with :meth:`from_fitted`.

    Parameters
    ----------
    estimators : list of estimators
        The members (pipelines).
    weights : list of float
        One weight per member, summing to 1.
    classes : array-like or None
        Class labels, in the order of the averaged probability columns (``None`` for regression).

    Attributes
    ----------
    estimators_ : list of fitted estimators
    classes_ : ndarray
        Classification only.
    """

    def __init__(self, estimators: list[Any] | None = None, weights: list[float] | None = None,
                 classes: Any = None):
        self.estimators = estimators
        self.weights = weights
        self.classes = classes

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> "WeightedEnsemble":
        """Fit a clone of every member on ``X, y`` (with ``sample_weight`` passed to each member's model)."""
        self._check_members()
        fit_params = {} if sample_weight is None else {"model__sample_weight": sample_weight}
        return self._set_fitted([clone(e).fit(X, y, **fit_params) for e in self.estimators or []])

    @classmethod
    def from_fitted(cls, fitted: list[Any], weights: list[float], classes: Any = None) -> "WeightedEnsemble":
        """An ensemble of members fitted already (``estimators`` holds unfitted clones of them)."""
        ensemble = cls([clone(e) for e in fitted], list(weights), classes)
        ensemble._check_members()
        return ensemble._set_fitted(list(fitted))

    def _check_members(self) -> None:
        if not self.estimators or len(self.estimators) != len(self.weights or []):
            raise ValueError("WeightedEnsemble needs as many weights as estimators")

    def _set_fitted(self, fitted: list[Any]) -> "WeightedEnsemble":
        self.estimators_ = fitted
        if self.classes is not None:
            self.classes_ = np.asarray(self.classes)
        self.n_members_ = len(fitted)
        return self

    def _members(self) -> list[Any]:
        check_is_fitted(self, "n_members_")
        # folders saved before estimators_ existed hold the fitted members in estimators
        return getattr(self, "estimators_", None) or list(self.estimators or [])

    def predict_proba(self, X: Any) -> np.ndarray:
        members = zip(self._members(), self.weights or [])
        return np.sum([align_proba(e.predict_proba(X), e.classes_, self.classes_) * w for e, w in members], axis=0)

    def predict(self, X: Any) -> np.ndarray:
        if self.classes is not None:
            return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
        members = zip(self._members(), self.weights or [])
        return np.sum([w * np.asarray(e.predict(X), dtype=float) for e, w in members], axis=0)


class WeightedEnsembleClassifier(ClassifierMixin, WeightedEnsemble):
    """:class:`WeightedEnsemble` for classification."""


class WeightedEnsembleRegressor(RegressorMixin, WeightedEnsemble):
    """:class:`WeightedEnsemble` for regression."""
