"""k-nearest neighbours that honour sample weights: each neighbour votes (or averages) with its weight.

scikit-learn's neighbours take no ``sample_weight``; without it the family would have to sit out every
weighted fit. Unweighted, these estimators answer exactly as scikit-learn's.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
from sklearn.metrics._pairwise_distances_reduction import ArgKmin, ArgKminClassMode
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.neighbors._classification import _adjusted_metric

from automl.models.adapters import FamilyAdapter


def _neighbour_weights(model: Any, distances: np.ndarray, index: np.ndarray) -> np.ndarray:
    """The weights of the neighbours ``index`` at ``distances``: sample weight (1 without) times the distance
    weight, if any."""
    sample_weight = getattr(model, "sample_weight_", None)
    weights = np.ones(index.shape) if sample_weight is None else sample_weight[index]
    if model.weights == "distance":
        with np.errstate(divide="ignore"):
            inverse = 1.0 / distances
        exact = np.isinf(inverse)
        rows = exact.any(axis=1)
        inverse[rows] = exact[rows]  # an exact match outvotes every other neighbour, as in scikit-learn
        weights = weights * inverse
    return weights


def _class_shares(model: Any, index: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Each class's share of the neighbours' weight (uniform when every weight is zero)."""
    codes = np.asarray(model._y)[index]
    proba = np.stack([(weights * (codes == c)).sum(axis=1) for c in range(len(model.classes_))], axis=1)
    total = proba.sum(axis=1, keepdims=True)
    return np.where(total > 0, proba / np.where(total > 0, total, 1), 1.0 / len(model.classes_))


def _weighted_mean(model: Any, index: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The neighbours' targets averaged with their weights (plainly when every weight is zero)."""
    values = np.asarray(model._y, dtype=float)[index]
    total = weights.sum(axis=1)
    safe = np.where(total > 0, total, 1.0)
    return np.where(total > 0, (weights * values).sum(axis=1) / safe, values.mean(axis=1))


def direct_answer(model: Any) -> Callable[[np.ndarray], np.ndarray] | None:
    """A fitted k-nearest-neighbours model (scikit-learn's or the family's) as its answer on a float array without
    the input validation of ``kneighbors``: the same neighbour search with the same arguments (the pairwise
    reduction for brute force, the fitted tree's query otherwise), then the same weighting. Probabilities
    (classifier) or one column of predictions (regressor); ``None`` for a model it does not cover (several outputs,
    a precomputed or callable metric)."""
    if not isinstance(model, (KNeighborsClassifier, KNeighborsRegressor)) or not hasattr(model, "_fit_method"):
        return None
    if np.ndim(model._y) != 1 or model.metric == "precomputed" or callable(model.metric) or \
            model._fit_method not in ("brute", "kd_tree", "ball_tree"):
        return None
    classifier = isinstance(model, KNeighborsClassifier)
    fit_X, k = model._fit_X, model.n_neighbors
    class_mode = classifier and model.weights == "uniform" and getattr(model, "sample_weight_", None) is None
    # the metric as the uniform vote of scikit-learn's predict_proba names it
    mode_metric, mode_params = _adjusted_metric(model.metric, dict(model.metric_params or {}), p=model.p)

    def ordinary(X: np.ndarray) -> np.ndarray:
        return model.predict_proba(X) if classifier else np.asarray(model.predict(X), dtype=float).reshape(-1, 1)

    def answer(X: np.ndarray) -> np.ndarray:
        if model._fit_method != "brute":
            distances, index = model._tree.query(X, k, return_distance=True)
        elif not X.flags.c_contiguous or not ArgKmin.is_usable_for(X, fit_X, model.effective_metric_):
            return ordinary(X)
        elif class_mode and ArgKminClassMode.is_usable_for(X, fit_X, mode_metric):
            return ArgKminClassMode.compute(X, fit_X, k=k, weights="uniform", Y_labels=model._y,
                                            unique_Y_labels=np.arange(len(model.classes_), dtype=np.intp),
                                            metric=mode_metric, metric_kwargs=mode_params, strategy="parallel_on_X")
        else:
            distances, index = ArgKmin.compute(X=X, Y=fit_X, k=k, metric=model.effective_metric_,
                                               metric_kwargs=model.effective_metric_params_, strategy="auto",
                                               return_distance=True)
        weights = _neighbour_weights(model, distances, index)
        return _class_shares(model, index, weights) if classifier else \
            _weighted_mean(model, index, weights).reshape(-1, 1)

    return answer


class _SampleWeightFit:
    """``fit`` that also keeps the rows' weights for the weighted predictions."""

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Any:
        super().fit(X, y)  # type: ignore[misc]
        self.sample_weight_ = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
        return self


class WeightedKNeighborsClassifier(_SampleWeightFit, KNeighborsClassifier):
    """:class:`~sklearn.neighbors.KNeighborsClassifier` whose ``fit`` takes ``sample_weight``."""

    def predict_proba(self, X: Any) -> np.ndarray:
        if getattr(self, "sample_weight_", None) is None:
            return super().predict_proba(X)
        distances, index = self.kneighbors(X)
        return _class_shares(self, index, _neighbour_weights(self, distances, index))

    def predict(self, X: Any) -> np.ndarray:
        if getattr(self, "sample_weight_", None) is None:
            return super().predict(X)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class WeightedKNeighborsRegressor(_SampleWeightFit, KNeighborsRegressor):
    """:class:`~sklearn.neighbors.KNeighborsRegressor` whose ``fit`` takes ``sample_weight``."""

    def predict(self, X: Any) -> np.ndarray:
        if getattr(self, "sample_weight_", None) is None:
            return super().predict(X)
        distances, index = self.kneighbors(X)
        return _weighted_mean(self, index, _neighbour_weights(self, distances, index))


class KNNAdapter(FamilyAdapter):
    """kNN: the fitted trees of neighbours and their distance metrics are trusted; unweighted fits export with
    scikit-learn's kNN converters."""

    trusted_types = ("automl.models.neighbors.WeightedKNeighborsClassifier",
                     "automl.models.neighbors.WeightedKNeighborsRegressor",
                     "sklearn.neighbors._kd_tree.KDTree", "sklearn.neighbors._ball_tree.BallTree",
                     "sklearn.metrics._dist_metrics.EuclideanDistance64",
                     "sklearn.metrics._dist_metrics.ManhattanDistance64",
                     "sklearn.metrics._dist_metrics.MinkowskiDistance64")

    def register_onnx(self) -> None:
        from skl2onnx import _supported_operators

        names = _supported_operators.sklearn_operator_name_map
        names.setdefault(WeightedKNeighborsClassifier, "SklearnKNeighborsClassifier")
        names.setdefault(WeightedKNeighborsRegressor, "SklearnKNeighborsRegressor")

    def export_problem(self, model: Any) -> str | None:
        weighted = isinstance(model, _SampleWeightFit) and getattr(model, "sample_weight_", None) is not None
        if weighted:
            return "kNN fitted with sample weights has no ONNX converter"
        return None
