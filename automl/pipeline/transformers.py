"""Small scikit-learn transformers the pipelines are built from."""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.preprocessing import QuantileTransformer, StandardScaler
from sklearn.utils.validation import check_is_fitted, validate_data

from automl.data.inputs import parse_booleans
from automl.data.schema import cells, plain_numbers

# feature name -> the ``Series.dt`` attribute it reads (pandas 3 deprecates ``dayofweek`` for ``day_of_week``)
_DATE_PARTS = {"year": "year", "month": "month", "day": "day", "dayofweek": "day_of_week", "hour": "hour"}


class ColumnCaster(TransformerMixin, BaseEstimator):
    """Select the modelled columns and give each the dtype of its role.

    Numeric columns go through ``pd.to_numeric`` (numeric strings parse), categoricals become strings with
    missing values kept missing, booleans become 0/1 floats (``"no"``, ``"False"`` and ``0`` are false) and
    datetimes are parsed. Values a role cannot read become missing here; :class:`automl.AutoML` checks rows before
    they reach the pipeline (:mod:`automl.data.inputs`) and refuses them instead, unless asked to coerce. This runs first in every pipeline, so predict-time input is cast exactly as
    training input was.

    Infinite numbers become missing, as the training data's cleaning made them.

    Parameters
    ----------
    roles : dict of str to str
        Column name to role (``numeric``, ``boolean``, ``categorical``, ``datetime``, ``text``).
    categories : dict of str to list of str, optional
        For columns whose rare categories were merged in cleaning: the categories kept; any other
        (non-missing) value becomes ``"__rare__"``.
    """

    def __init__(self, roles: dict[str, str] | None = None, categories: dict[str, list[str]] | None = None):
        self.roles = roles
        self.categories = categories

    def fit(self, X: pd.DataFrame, y: Any = None) -> "ColumnCaster":
        self.columns_ = list((self.roles or {}).keys())
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        out = self.cast_columns(X)
        # columns as arrays, one frame built at the end: a single row casts in well under a millisecond. Text stays
        # object with None for missing (pandas 3 would infer its string dtype, with NaN, from a bare array)
        for name, values in out.items():
            if isinstance(values, np.ndarray) and values.dtype == object:
                out[name] = pd.Series(values, index=X.index, dtype=object)
        return pd.DataFrame(out, index=X.index)

    def cast_columns(self, X: pd.DataFrame) -> dict[str, Any]:
        """The cast columns of ``X`` by name, as arrays (datetimes as Series), before :meth:`transform` makes them a
        frame: what a compiled pipeline reads (:mod:`automl.pipeline.fast`)."""
        check_is_fitted(self, "columns_")
        roles = self.roles or {}
        # getattr: casters saved before ``categories`` existed load without the attribute
        kept = getattr(self, "categories", None) or {}
        out = _cast_blocks(X, [name for name in self.columns_ if name not in kept], roles)
        for name in self.columns_:
            if name in out:
                continue
            column = X[name]
            if name in kept:
                column = pd.Series(_merge_rare(column.to_numpy(dtype=object), kept[name]), index=X.index)
            out[name] = _cast(column, roles[name])
        return {name: out[name] for name in self.columns_}

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(self.columns_, dtype=object)


def _cast_blocks(X: pd.DataFrame, names: list[str], roles: dict[str, str]) -> dict[str, np.ndarray]:
    """The columns ``names`` that cast from one block of a few rows, as :func:`_cast` casts each: numbers already
    numeric (read as float64, infinities missing) and categories or text held as objects or strings. Taking a
    Series per column cost more than the casting on one row; larger batches go column by column."""
    if len(X) > _BLOCK_ROWS or not names:
        return {}
    dtypes = dict(zip(X.columns, X.dtypes))
    numbers = [n for n in names if roles[n] in ("numeric", "boolean") and plain_numbers(dtypes[n])]
    texts = [n for n in names if roles[n] in ("categorical", "text")
             and (dtypes[n] == object or pd.api.types.is_string_dtype(dtypes[n]))
             and not isinstance(dtypes[n], pd.CategoricalDtype)]
    out: dict[str, np.ndarray] = {}
    if numbers:
        plain = all(isinstance(dtypes[n], np.dtype) for n in numbers)  # numpy dtypes: no pd.NA to read as NaN
        block = cells(X, numbers, np.float64) if plain else X[numbers].to_numpy(dtype="float64", na_value=np.nan)
        block = np.where(np.isinf(block), np.nan, block)
        out.update((name, block[:, j]) for j, name in enumerate(numbers))
    if texts:
        values = cells(X, texts)
        out.update((name, _texts_or_none(values[:, j])) for j, name in enumerate(texts))
    return out


_BLOCK_ROWS = 1024


def _merge_rare(values: np.ndarray, kept: list[str]) -> np.ndarray:
    """Values as text (missing stays ``None``); any text not in ``kept`` becomes ``"__rare__"``."""
    known = set(kept)
    return np.array([t if t is None or t in known else "__rare__" for t in _texts_or_none(values)], dtype=object)


def _texts_or_none(values: np.ndarray) -> np.ndarray:
    """``str(value)`` for every value of an object array, ``None`` where it is missing."""
    texts = np.empty(len(values), dtype=object)  # filled item by item: no fixed-width copy of long texts
    texts[:] = [None if gone else str(v) for v, gone in zip(values, pd.isna(values))]
    return texts


def _cast(col: pd.Series, role: str) -> Any:
    """The column with its role's dtype, as an array (a Series for datetimes)."""
    if role in ("numeric", "boolean"):
        if pd.api.types.is_bool_dtype(col.dtype):
            return col.to_numpy(dtype="float64")
        if pd.api.types.is_numeric_dtype(col.dtype):
            values = col.to_numpy(dtype="float64", na_value=np.nan)
        else:
            if role == "boolean":  # "False" / "no" / "0" are False: never bool("False")
                return parse_booleans(col.to_numpy(dtype=object))[0]
            values = pd.to_numeric(col, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        return np.where(np.isinf(values), np.nan, values)
    if role == "datetime":
        if pd.api.types.is_datetime64_any_dtype(col.dtype):
            return col
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pd.to_datetime(col.astype("string"), errors="coerce", format="mixed")
    # categorical / text: strings, missing stays missing
    if isinstance(col.dtype, pd.CategoricalDtype):  # each distinct value made text once, then taken by code
        texts = np.concatenate([_texts_or_none(np.asarray(col.cat.categories, dtype=object)),
                                np.array([None], dtype=object)])
        return texts[col.cat.codes.to_numpy()]  # code -1 (missing) takes the appended None
    return _texts_or_none(col.to_numpy(dtype=object))


class DatetimeParts(TransformerMixin, BaseEstimator):
    """Expand datetime columns into year, month, day, day of week and hour (missing stays NaN)."""

    def fit(self, X: pd.DataFrame, y: Any = None) -> "DatetimeParts":
        self.feature_names_in_ = np.asarray(list(X.columns), dtype=object)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self, "feature_names_in_")
        parts = {}
        for name in self.feature_names_in_:
            values = pd.to_datetime(X[name], errors="coerce")
            if getattr(values.dt, "tz", None) is not None:
                values = values.dt.tz_convert(None)
            for part, attribute in _DATE_PARTS.items():
                parts[f"{name}__{part}"] = getattr(values.dt, attribute).astype("float64")
        return pd.DataFrame(parts, index=X.index)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray([f"{n}__{p}" for n in self.feature_names_in_ for p in _DATE_PARTS], dtype=object)

    def feature_sources(self) -> list[tuple[str, ...]]:
        """The input column of each output (:mod:`automl.explain`)."""
        return [(str(n),) for n in self.feature_names_in_ for _ in _DATE_PARTS]


class TextFeatures(TransformerMixin, BaseEstimator):
    """Dense features of one free-text column: TF-IDF, reduced by truncated SVD when it is wide.

    Parameters
    ----------
    max_features : int
        Vocabulary size of the TF-IDF.
    n_components : int
        Output width when the vocabulary is wider than this; otherwise the TF-IDF itself is returned.
    """

    def __init__(self, max_features: int = 2000, n_components: int = 20):
        self.max_features = max_features
        self.n_components = n_components

    def fit(self, X: Any, y: Any = None) -> "TextFeatures":
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.vectorizer_ = TfidfVectorizer(max_features=self.max_features, sublinear_tf=True,
                                           token_pattern=r"(?u)\b\w+\b")
        try:
            tfidf = self.vectorizer_.fit_transform(_texts(X))
        except ValueError:  # empty vocabulary: every value blank
            self.vectorizer_ = None
            self.svd_ = None
            return self
        width = tfidf.shape[1]
        self.svd_ = (TruncatedSVD(n_components=self.n_components, random_state=0).fit(tfidf)
                     if width > self.n_components else None)
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "svd_")
        texts = _texts(X)
        if self.vectorizer_ is None:
            return np.zeros((len(texts), 1))
        tfidf = self.vectorizer_.transform(texts)
        return self.svd_.transform(tfidf) if self.svd_ is not None else tfidf.toarray()


def _texts(X: Any) -> np.ndarray:
    frame = pd.DataFrame(X)
    return frame.iloc[:, 0].fillna("").astype(str).to_numpy()


# Rows the skewness of each column is measured on (a sample above it; the quantiles use 10,000, scikit-learn's).
SKEW_SAMPLE_ROWS = 100_000


class SkewAwareScaler(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Standardise numeric columns, but send the skewed ones through their quantiles to a standard normal.

    A column whose sample skewness on the training rows is at least ``skew_threshold`` in absolute value, and that
    holds more than two distinct values, is mapped by a :class:`~sklearn.preprocessing.QuantileTransformer`
    (``output_distribution="normal"``); every other column is standardised. A network or a linear model then sees
    a long-tailed column (counts, amounts, durations) as evenly spread values instead of a few outliers and a
    crowd near zero. AutoGluon prepares its networks' inputs so (``proc.skew_threshold`` 0.99).

    Parameters
    ----------
    skew_threshold : float, default=0.99
        Absolute skewness from which a column goes through its quantiles; 0 sends every non-binary column.
    n_quantiles : int, default=1000
        Quantiles estimated per column (at most the training rows).
    random_state : int or None, default=None
        Seed of the quantiles' row subsample.

    Attributes
    ----------
    skewed_ : numpy.ndarray of bool
        Which input columns go through their quantiles.
    quantiles_ : QuantileTransformer or None
        Fitted on the skewed columns.
    scaler_ : StandardScaler or None
        Fitted on the other columns.
    """

    def __init__(self, skew_threshold: float = 0.99, n_quantiles: int = 1000, random_state: int | None = None):
        self.skew_threshold = skew_threshold
        self.n_quantiles = n_quantiles
        self.random_state = random_state

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # missing cells stay missing, as in StandardScaler
        return tags

    def fit(self, X: Any, y: Any = None) -> "SkewAwareScaler":
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=True)
        self.skewed_ = _skewed_columns(X, self.skew_threshold, self.random_state)
        self.quantiles_ = self.scaler_ = None
        if self.skewed_.any():
            n_quantiles = max(1, min(self.n_quantiles, X.shape[0]))
            self.quantiles_ = QuantileTransformer(n_quantiles=n_quantiles, output_distribution="normal",
                                                  random_state=self.random_state).fit(X[:, self.skewed_])
        if not self.skewed_.all():
            self.scaler_ = StandardScaler().fit(X[:, ~self.skewed_])
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "skewed_")
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=False)
        return self.transform_array(X)

    def transform_array(self, X: np.ndarray) -> np.ndarray:
        """:meth:`transform` of a float array of the fitted width, without checking it (the fast predictor)."""
        out = np.empty(X.shape, dtype=np.float64)
        if self.quantiles_ is not None:
            out[:, self.skewed_] = self.quantiles_.transform(X[:, self.skewed_])
        if self.scaler_ is not None:
            out[:, ~self.skewed_] = self.scaler_.transform(X[:, ~self.skewed_])
        return out


def _skewed_columns(X: np.ndarray, threshold: float, random_state: int | None) -> np.ndarray:
    """Which columns of ``X`` have an absolute sample skewness of at least ``threshold`` and more than two distinct
    values (a binary column, a missing-value indicator, stays standardised), measured on at most
    :data:`SKEW_SAMPLE_ROWS` rows; missing values are left out of the measure."""
    if X.shape[0] > SKEW_SAMPLE_ROWS:
        X = X[np.random.default_rng(random_state).choice(X.shape[0], SKEW_SAMPLE_ROWS, replace=False)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-missing columns: nan statistics, never skewed
        low, high = np.nanmin(X, axis=0), np.nanmax(X, axis=0)
        centred = X - np.nanmean(X, axis=0)
        spread = np.sqrt(np.nanmean(centred ** 2, axis=0))
        skew = np.nanmean(centred ** 3, axis=0) / np.where(spread > 0, spread, np.nan) ** 3
    present = ~np.isnan(X)
    binary = ((X == low) | (X == high) | ~present).all(axis=0)
    return (np.nan_to_num(np.abs(skew), nan=-1.0) >= threshold) & ~binary & (spread > 0)
