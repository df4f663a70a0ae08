"""Category encoders that read their columns as one array.

scikit-learn's encoders check their input column by column (an indexing, a conversion and a validation each,
~0.1-0.3 ms a column whatever the number of rows): on one row of credit-g's 13 categorical columns that was most
of a ~6 ms prediction. :class:`ArrayOrdinalEncoder` converts a frame once and codes a small batch of text
categories by dictionary lookups; it encodes exactly as scikit-learn does (same parameters, the same
``categories_``, the same ONNX converter), and larger batches go through scikit-learn itself.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.preprocessing import OrdinalEncoder

# Batches up to this many rows are coded by lookups; a Python loop over more rows is slower than scikit-learn.
LOOKUP_ROWS = 256


def is_scalar_nan(value: Any) -> bool:
    """Whether ``value`` is a float NaN (scikit-learn's notion of a missing category; None is a category)."""
    return isinstance(value, (float, np.floating)) and value != value


def as_object_array(X: Any) -> Any:
    """``X`` as one 2-D object array when it is a DataFrame (missing values stay NaN/None), else unchanged."""
    return X.to_numpy(dtype=object) if isinstance(X, pd.DataFrame) else X


class ArrayOrdinalEncoder(OrdinalEncoder):
    """:class:`~sklearn.preprocessing.OrdinalEncoder` that encodes a DataFrame as one object array.

    Parameters are scikit-learn's. scikit-learn sees an array, so ``feature_names_in_`` is not set: after fitting
    on a DataFrame, ``columns_`` holds its columns, ``get_feature_names_out()`` returns them, and ``transform``
    refuses a frame whose columns differ (by name or order) with a ``ValueError``.
    """

    def fit(self, X: Any, y: Any = None) -> "ArrayOrdinalEncoder":
        """Learn the categories of each column of ``X``."""
        names = _column_names(X)
        self.__dict__.pop("_lookup_cache", None)
        super().fit(as_object_array(X))
        if names is not None:
            self.columns_ = names
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Codes of ``X``'s categories (unknown and missing ones as the parameters say)."""
        names = _column_names(X)
        expected = getattr(self, "columns_", None)
        if names is not None and expected is not None and not np.array_equal(names, expected):
            raise ValueError(f"the columns {list(names)} differ from the ones the encoder was fitted on "
                             f"({list(expected)})")
        values = as_object_array(X)
        if self._lookups_apply(values):
            codes = self._by_lookup(values)
            if codes is not None:
                return codes
        return super().transform(values)

    def _lookups_apply(self, values: Any) -> bool:
        return (isinstance(values, np.ndarray) and values.dtype == object and values.ndim == 2
                and len(values) <= LOOKUP_ROWS and values.shape[1] == getattr(self, "n_features_in_", -1)
                and self.handle_unknown == "use_encoded_value" and self.min_frequency is None
                and self.max_categories is None)

    def _by_lookup(self, values: np.ndarray) -> np.ndarray | None:
        """The codes of ``values``, as scikit-learn gives them; None when a cell is neither text, None nor NaN."""
        out = np.empty(values.shape, dtype=self.dtype)
        unknown = self.unknown_value
        for j, (codes, nan_code) in enumerate(self._lookups()):
            for i, value in enumerate(values[:, j]):
                if isinstance(value, str) or value is None:
                    out[i, j] = codes.get(value, unknown)
                elif is_scalar_nan(value):
                    out[i, j] = nan_code
                else:
                    return None
        return out

    def _lookups(self) -> list[tuple[dict[Any, int], float]]:
        """Per column: category -> code, and the code of NaN (its missing code when seen in training, else the
        unknown value); built on first use, not saved."""
        cached = self.__dict__.get("_lookup_cache")
        if cached is None:
            cached = [({c: i for i, c in enumerate(categories) if not is_scalar_nan(c)},
                       self.encoded_missing_value if len(categories) and is_scalar_nan(categories[-1])
                       else self.unknown_value)
                      for categories in self.categories_]
            self.__dict__["_lookup_cache"] = cached
        return cached

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.pop("_lookup_cache", None)
        return state

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The output names: the input names (those it was fitted on when none are given)."""
        if input_features is None and getattr(self, "columns_", None) is not None:
            input_features = self.columns_
        return super().get_feature_names_out(input_features)


def _column_names(X: Any) -> np.ndarray | None:
    return np.asarray([str(c) for c in X.columns], dtype=object) if isinstance(X, pd.DataFrame) else None
