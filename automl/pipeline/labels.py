"""Train classifiers on label codes 0..K-1 and answer in the user's labels.

Some estimators mishandle unusual label types: scikit-learn 1.9's forests with
``class_weight="balanced"`` fail on string labels that look like numbers ("1", "2", "U" in anneal). Every
classifier of ours therefore sees integer codes, and this wrapper maps them back.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.validation import check_is_fitted

from automl.models.adapters import WrapsModel


class EncodedLabelClassifier(WrapsModel, ClassifierMixin, BaseEstimator):
    """Fit ``estimator`` on encoded labels; ``predict`` returns the original labels.

    Parameters
    ----------
    estimator : classifier
        Fitted on ``LabelEncoder`` codes. A ``class_weight`` dict keyed by original labels is re-keyed.
    """

    def __init__(self, estimator: Any = None):
        self.estimator = estimator

    def fit(self, X: Any, y: Any, sample_weight: Any = None, validation: Any = None) -> "EncodedLabelClassifier":
        """Fit the estimator on the label codes of ``y``.

        ``validation``: ``(X, y, sample_weight)`` rows for a wrapped estimator that stops on them
        (:class:`automl.models.boosting.EarlyStopping`), passed on with their labels encoded; rows of a label
        ``y`` lacks are left out (they have no code).
        """
        self.encoder_ = LabelEncoder().fit(y)
        self.classes_ = self.encoder_.classes_
        estimator = clone(self.estimator)
        weights = estimator.get_params().get("class_weight")
        if isinstance(weights, dict):
            codes = dict(zip(self.classes_, range(len(self.classes_))))
            estimator.set_params(class_weight={codes[k]: v for k, v in weights.items() if k in codes})
        kwargs: dict[str, Any] = {} if sample_weight is None else {"sample_weight": sample_weight}
        if validation is not None:
            kwargs["validation"] = self._encoded(validation)
        self.estimator_ = estimator.fit(X, self.encoder_.transform(y), **kwargs)
        return self

    def _encoded(self, validation: Any) -> Any:
        from automl.models.boosting import rows_of_known_labels

        known = rows_of_known_labels(validation, self.classes_)
        if known is None:
            return None
        X_valid, y_valid, weight = known
        return X_valid, self.encoder_.transform(y_valid), weight

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        return self.classes_[np.asarray(self.estimator_.predict(X), dtype=int)]

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        proba = self.estimator_.predict_proba(X)
        seen = np.asarray(self.estimator_.classes_, dtype=int)
        if len(seen) == len(self.classes_):
            return proba
        full = np.zeros((proba.shape[0], len(self.classes_)))
        full[:, seen] = proba
        return full
