"""Synthesis on a single table: features fitted on the training rows only, as steps of each trial's pipeline.

The search chooses among them per trial (the ``synthesis`` preprocessing option in ``configs/families.yaml``,
"none" included), so a plan is kept only where it scores:

- ``frequency``: each category's share of the training rows (:class:`CategoryFrequencies`);
- ``group_stats``: numbers against the mean of their group, for the categorical keys (:class:`GroupStatistics`);
- ``pairs``: ratios and differences of the numeric pairs most related to the target (:class:`NumericPairs`);
- ``primitives``: featuretools' transform primitives of datetime and text columns (:mod:`automl.features.primitives`).

Nothing here looks at validation rows: every statistic is learned in ``fit`` on the rows the pipeline trains on.
"""
from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted


class _Timed:
    """Records what fitting took on the training rows (``fit_seconds_``: fit and transform, as the pipeline fits it):
    a trial's synthesis cost on the leaderboard (:func:`synthesis_seconds`)."""

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> Any:
        start = time.perf_counter()
        out = self._fit_transform_untimed(X, y, **fit_params)
        self.fit_seconds_ = time.perf_counter() - start
        return out

    def _fit_transform_untimed(self, X: Any, y: Any = None, **fit_params: Any) -> Any:
        """``fit`` then ``transform``; a step that computes its training output while fitting returns it here."""
        return super().fit_transform(X, y, **fit_params)  # type: ignore[misc]


def synthesis_seconds(pipeline: Any) -> float:
    """Seconds a fitted trial pipeline spent fitting its single-table synthesis (the parts of its ``preprocess``
    step, scaled or not, that record ``fit_seconds_``)."""
    preprocess = getattr(pipeline, "named_steps", {}).get("preprocess")
    total = 0.0
    for _, part, _ in getattr(preprocess, "transformers_", []):
        for step in getattr(part, "steps", [(None, part)]):
            total += float(getattr(step[1], "fit_seconds_", 0.0))
    return total


class CategoryFrequencies(_Timed, TransformerMixin, BaseEstimator):
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

    def feature_sources(self) -> list[tuple[str, ...]]:
        """The input column of each output (:mod:`automl.explain`)."""
        return [(str(name),) for name in self.feature_names_in_]


class MissingCount(_Timed, TransformerMixin, BaseEstimator):
    """One column: how many of the row's values are missing."""

    def fit(self, X: pd.DataFrame, y: Any = None) -> "MissingCount":
        frame = pd.DataFrame(X)
        self.n_features_in_ = frame.shape[1]
        self.columns_ = [str(c) for c in frame.columns]
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "n_features_in_")
        return pd.DataFrame(X).isna().sum(axis=1).to_numpy(dtype=float).reshape(-1, 1)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(["n_missing"], dtype=object)

    def feature_sources(self) -> list[tuple[str, ...]]:
        """The count reads every column (:mod:`automl.explain`)."""
        return [tuple(getattr(self, "columns_", []))]


def _keys(col: pd.Series) -> pd.Series:
    """Values as hashable keys, missing ones as one level."""
    return col.astype(object).where(col.notna(), "__missing__").map(str)


# Group statistics: at most this many keys (categorical columns with 2..MAX_LEVELS levels, most levels first) and
# numbers (most distinct values first); a level seen fewer than MIN_GROUP times takes the overall mean.
MAX_KEYS, MAX_VALUES, MAX_LEVELS, MIN_GROUP = 3, 5, 1000, 5


class GroupStatistics(_Timed, TransformerMixin, BaseEstimator):
    """For categorical keys and numeric columns: the mean of the number in the row's group, and how far the row's
    number is from it (0 where it is missing).

    Takes a frame of numeric and categorical columns (the cast step's output); the keys and numbers are chosen in
    ``fit`` from the training rows. Output has no missing values.
    """

    def fit(self, X: pd.DataFrame, y: Any = None) -> "GroupStatistics":
        frame = pd.DataFrame(X)
        numbers = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c].dtype)]
        texts = [c for c in frame.columns if c not in numbers]
        levels = {c: int(frame[c].nunique()) for c in texts}
        self.keys_ = sorted((c for c in texts if 2 <= levels[c] <= MAX_LEVELS), key=lambda c: -levels[c])[:MAX_KEYS]
        self.values_ = sorted(numbers, key=lambda c: -int(frame[c].nunique()))[:MAX_VALUES]
        self.overall_ = {v: float(np.nan_to_num(frame[v].mean())) for v in self.values_}
        # key column -> number column -> level -> mean: text keys only, so skops can save it
        self.means_: dict[str, dict[str, dict[str, float]]] = {}
        for key in self.keys_:
            groups = frame.groupby(_keys(frame[key]), sort=False)
            self.means_[str(key)] = {}
            for value in self.values_:
                stats = groups[value].agg(["mean", "count"])
                kept = stats[stats["count"] >= MIN_GROUP]["mean"].dropna()
                self.means_[str(key)][str(value)] = {str(level): float(m) for level, m in kept.items()}
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "means_")
        frame = pd.DataFrame(X)
        out = []
        for key in self.keys_:
            keys = _keys(frame[key])
            for value in self.values_:
                mean = keys.map(self.means_[str(key)][str(value)]).astype(float).fillna(self.overall_[value]).to_numpy()
                number = frame[value].to_numpy(dtype=float)
                out += [mean, np.nan_to_num(number - mean)]
        return np.column_stack(out) if out else np.zeros((len(frame), 0))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "means_")
        return np.asarray([f"{v}__{kind}_by_{k}" for k in self.keys_ for v in self.values_
                           for kind in ("mean", "minus_mean")], dtype=object)

    def feature_sources(self) -> list[tuple[str, ...]]:
        """Each output reads its number and its key (:mod:`automl.explain`)."""
        return [(str(v), str(k)) for k in self.keys_ for v in self.values_ for _ in ("mean", "minus_mean")]


# Numeric pairs: the numbers most related to the target (absolute correlation with it, or with each class for
# classification), at most PAIR_COLUMNS of them; every pair gives a ratio and a difference.
PAIR_COLUMNS = 4


class NumericPairs(_Timed, TransformerMixin, BaseEstimator):
    """Ratios and differences of the numeric columns most related to the target (chosen on the training rows).

    Parameters
    ----------
    task : {"binary", "multiclass", "regression"}
    """

    def __init__(self, task: str = "binary"):
        self.task = task

    def fit(self, X: Any, y: Any) -> "NumericPairs":
        self.medians_ = _medians(np.asarray(X, dtype=float))
        values = _filled(np.asarray(X, dtype=float), self.medians_)
        target = np.asarray(y)
        if self.task == "regression":
            targets = [target.astype(float)]
        else:
            targets = [(target == c).astype(float) for c in np.unique(target)]
        strength = np.zeros(values.shape[1])
        for column in targets:
            strength = np.maximum(strength, np.abs(_correlations(values, column)))
        self.columns_ = [int(i) for i in np.argsort(-strength)[:PAIR_COLUMNS] if strength[i] > 0]
        self.pairs_ = [(a, b) for i, a in enumerate(self.columns_) for b in self.columns_[i + 1:]]
        self.n_features_in_ = values.shape[1]
        self.input_names_ = [str(c) for c in X.columns] if hasattr(X, "columns") else None
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "pairs_")
        return self.pairs_of(np.asarray(X, dtype=float))

    def pairs_of(self, values: np.ndarray) -> np.ndarray:
        """The ratios and differences of a float block of the fitted columns, without input checks (the compiled
        predictor's path, :mod:`automl.pipeline.fast`)."""
        # the training medians fill a missing number (models saved before medians_ existed: the batch's own)
        values = _filled(values, getattr(self, "medians_", None))
        out = []
        for a, b in self.pairs_:
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # clipped below
                ratio = np.where(np.abs(values[:, b]) > 1e-12, values[:, a] / values[:, b], 0.0)
            out += [np.clip(ratio, -1e9, 1e9), values[:, a] - values[:, b]]
        return np.column_stack(out) if out else np.zeros((len(values), 0))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "pairs_")
        names = getattr(self, "input_names_", None) or [f"x{i}" for i in range(self.n_features_in_)]
        return np.asarray([f"{names[a]}__{op}__{names[b]}" for a, b in self.pairs_ for op in ("over", "minus")],
                          dtype=object)

    def feature_sources(self) -> list[tuple[str, ...]]:
        """Each ratio and difference reads its two columns (:mod:`automl.explain`)."""
        names = getattr(self, "input_names_", None) or [f"x{i}" for i in range(self.n_features_in_)]
        return [(names[a], names[b]) for a, b in self.pairs_ for _ in ("over", "minus")]


def _medians(values: np.ndarray) -> np.ndarray:
    """Each column's median of its finite values (0 for a column with none)."""
    values = np.where(np.isfinite(values), values, np.nan)
    if not values.size:
        return np.zeros(values.shape[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing column: no median, 0
        return np.nan_to_num(np.nanmedian(values, axis=0))


def _filled(values: np.ndarray, medians: np.ndarray | None = None) -> np.ndarray:
    """Missing and infinite values as ``medians`` (the training columns' medians; the batch's own when None)."""
    medians = _medians(values) if medians is None else medians
    values = np.where(np.isfinite(values), values, np.nan)
    return np.where(np.isnan(values), medians, values)


def _correlations(values: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Pearson correlation of each column with ``target`` (0 for a constant column)."""
    centred = values - values.mean(axis=0)
    t = target - target.mean()
    denominator = np.sqrt((centred ** 2).sum(axis=0) * (t ** 2).sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, centred.T @ t / denominator, 0.0)
