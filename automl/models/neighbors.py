"""k-nearest neighbours that honour sample weights: each neighbour votes (or averages) with its weight.

scikit-learn's neighbours take no ``sample_weight``; without it the family would have to sit out every
weighted fit. Unweighted, these estimators answer exactly as scikit-learn's.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

from automl.models.adapters import FamilyAdapter


def _neighbour_weights(model: Any, X: Any) -> tuple[np.ndarray, np.ndarray]:
    """Neighbour indices and their weights: sample weight times the distance weight, if any."""
    distances, index = model.kneighbors(X)
    weights = model.sample_weight_[index]
    if model.weights == "distance":
        with np.errstate(divide="ignore"):
            inverse = 1.0 / distances
        exact = np.isinf(inverse)
        rows = exact.any(axis=1)
        inverse[rows] = exact[rows]  # an exact match outvotes every other neighbour, as in scikit-learn
        weights = weights * inverse
    return index, weights


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
        index, weights = _neighbour_weights(self, X)
        codes = np.asarray(self._y)[index]
        proba = np.stack([(weights * (codes == c)).sum(axis=1) for c in range(len(self.classes_))], axis=1)
        total = proba.sum(axis=1, keepdims=True)
        return np.where(total > 0, proba / np.where(total > 0, total, 1), 1.0 / len(self.classes_))

    def predict(self, X: Any) -> np.ndarray:
        if getattr(self, "sample_weight_", None) is None:
            return super().predict(X)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class WeightedKNeighborsRegressor(_SampleWeightFit, KNeighborsRegressor):
    """:class:`~sklearn.neighbors.KNeighborsRegressor` whose ``fit`` takes ``sample_weight``."""

    def predict(self, X: Any) -> np.ndarray:
        if getattr(self, "sample_weight_", None) is None:
            return super().predict(X)
        index, weights = _neighbour_weights(self, X)
        values = np.asarray(self._y, dtype=float)[index]
        total = weights.sum(axis=1)
        safe = np.where(total > 0, total, 1.0)
        return np.where(total > 0, (weights * values).sum(axis=1) / safe, values.mean(axis=1))


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
