"""Cheap synthesis on a single table: features computed from the training rows alone, no target used."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted


class CategoryFrequencies(TransformerMixin, BaseEstimator):
    """Replace each categorical value by its share of the training rows (frequency encoding).

    Rare and common levels become comparable numbers, which linear models and kNN cannot read from ordinal codes;
    a missing value counts as its own level, an unseen one gets 0.
    """

    def fit(self, X: pd.DataFrame, y: Any = None) -> "CategoryFrequencies":
        frame = pd.DataFrame(X)
        self.feature_names_in_ = np.asarray([str(c) for c in frame.columns], dtype=object)
        self.frequencies_ = {str(name): _keys(frame[name]).value_counts(normalize=True).to_dict()
                             for name in frame.columns}
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "frequencies_")
        frame = pd.DataFrame(X)
        frame.columns = [str(c) for c in frame.columns]
        out = [_keys(frame[name]).map(self.frequencies_[name]).fillna(0.0).to_numpy(dtype=float)
               for name in self.feature_names_in_]
        return np.column_stack(out) if out else np.zeros((len(frame), 0))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray([f"{name}__frequency" for name in self.feature_names_in_], dtype=object)


class MissingCount(TransformerMixin, BaseEstimator):
    """One column: how many of the row's values are missing."""

    def fit(self, X: pd.DataFrame, y: Any = None) -> "MissingCount":
        self.n_features_in_ = pd.DataFrame(X).shape[1]
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "n_features_in_")
        return pd.DataFrame(X).isna().sum(axis=1).to_numpy(dtype=float).reshape(-1, 1)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(["n_missing"], dtype=object)


def _keys(col: pd.Series) -> pd.Series:
    """Values as hashable keys, missing ones as one level."""
    return col.astype(object).where(col.notna(), "__missing__").map(str)
