"""featuretools' transform primitives on a single table, as a fitted transformer (the ``primitives`` synthesis plan).

A transform primitive reads one value of one row (the day of the year of a date, the number of words of a text), so
it fits the shape of a pipeline step with no leak: what ``fit`` learns from the training rows is only which outputs
vary there (a date column without times gives no ``minute``; a column of weekdays gives no ``is_weekend``), and
``transform`` computes the same outputs for any row. The primitives are featuretools' own (``get_function``), called
on the column directly rather than through a DFS EntitySet, which costs milliseconds per primitive on 15,000 rows.

Datetime columns also give the days since 1970-01-01 (a trend the calendar parts of
:class:`automl.pipeline.transformers.DatetimeParts` split into year, month and day).
"""
from __future__ import annotations

import functools
import importlib.util
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from automl.features.tabular import _Timed

# Primitives with a numeric or boolean output per value; those whose output DatetimeParts already gives (year,
# month, day, weekday, hour) are left out.
DATETIME_PRIMITIVES = (
    "day_of_year", "week", "quarter", "days_in_month", "minute", "second", "nth_week_of_month", "is_weekend",
    "is_month_start", "is_month_end", "is_quarter_start", "is_quarter_end", "is_year_start", "is_year_end",
    "is_leap_year", "is_working_hours", "is_lunch_time", "is_federal_holiday", "distance_to_holiday",
)
TEXT_PRIMITIVES = (
    "num_characters", "num_words", "number_of_unique_words", "mean_characters_per_word", "punctuation_count",
    "upper_case_count", "title_word_count", "whitespace_count", "num_unique_separators",
)
# Not a featuretools primitive: the date as a number of days (a trend over time).
EPOCH_DAYS = "days_since_1970"


def primitives_available() -> bool:
    """Whether featuretools is installed (the ``synthesis`` extra): without it the plan is not offered."""
    return importlib.util.find_spec("featuretools") is not None


class TransformPrimitives(_Timed, TransformerMixin, BaseEstimator):
    """featuretools' transform primitives of datetime and text columns, as numbers (missing input: NaN).

    Takes the cast step's frame of datetime columns (datetime64) and text columns (strings). ``fit`` keeps the
    outputs that take more than one value on the training rows; the output is float, one column per kept
    (column, primitive) pair, named ``<column>__<primitive>``.
    """

    def fit(self, X: pd.DataFrame, y: Any = None) -> "TransformPrimitives":
        self._fitted_values(pd.DataFrame(X))
        return self

    def _fit_transform_untimed(self, X: pd.DataFrame, y: Any = None, **fit_params: Any) -> np.ndarray:
        """:meth:`fit`, returning the training rows' outputs it computed (not computed twice)."""
        return self._fitted_values(pd.DataFrame(X))

    def _fitted_values(self, frame: pd.DataFrame) -> np.ndarray:
        self.feature_names_in_ = np.asarray([str(c) for c in frame.columns], dtype=object)
        candidates = [(str(name), primitive) for name in frame.columns
                      for primitive in _primitives_for(frame[name])]
        values = self._compute(frame, candidates)
        varying = [np.unique(column[~np.isnan(column)]).size > 1 for column in values.T]
        self.outputs_ = [pair for pair, keep in zip(candidates, varying) if keep]
        return values[:, np.flatnonzero(varying)]

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "outputs_")
        return self._compute(pd.DataFrame(X), self.outputs_)

    def _compute(self, frame: pd.DataFrame, outputs: list[tuple[str, str]]) -> np.ndarray:
        if not outputs:
            return np.zeros((len(frame), 0))
        functions = _primitive_functions({primitive for _, primitive in outputs})
        prepared: dict[str, pd.Series] = {}
        out = np.empty((len(frame), len(outputs)))
        for j, (name, primitive) in enumerate(outputs):
            if name not in prepared:
                prepared[name] = _prepared(frame[name])
            column = prepared[name]
            if primitive == EPOCH_DAYS:
                result = (column - pd.Timestamp("1970-01-01")).dt.total_seconds() / 86400.0
            else:
                result = pd.Series(functions[primitive](column), index=column.index)
            numbers = result.astype(object).where(result.notna(), np.nan).to_numpy(dtype=float)  # bool, int, <NA>
            out[:, j] = np.where(column.isna().to_numpy(), np.nan, numbers)
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "outputs_")
        return np.asarray([f"{name}__{primitive}" for name, primitive in self.outputs_], dtype=object)

    def feature_sources(self) -> list[tuple[str, ...]]:
        """The input column of each output (:mod:`automl.explain`)."""
        check_is_fitted(self, "outputs_")
        return [(name,) for name, _ in self.outputs_]


def _is_datetime(col: pd.Series) -> bool:
    return pd.api.types.is_datetime64_any_dtype(col.dtype)


def _primitives_for(col: pd.Series) -> tuple[str, ...]:
    return (EPOCH_DAYS, *DATETIME_PRIMITIVES) if _is_datetime(col) else TEXT_PRIMITIVES


def _prepared(col: pd.Series) -> pd.Series:
    """A datetime column without a time zone (UTC wall time), or a text column as strings with missing as None."""
    col = col.reset_index(drop=True)
    if _is_datetime(col):
        return col.dt.tz_convert(None) if getattr(col.dt, "tz", None) is not None else col
    return col.astype(object).where(col.notna(), None).map(lambda v: v if v is None else str(v))


def _primitive_functions(names: set[str]) -> dict[str, Any]:
    """featuretools' function for each primitive name (raises ``ImportError`` naming the extra without it)."""
    return {name: _primitive_function(name) for name in names if name != EPOCH_DAYS}


@functools.lru_cache(maxsize=None)
def _primitive_function(name: str) -> Any:
    """featuretools' function of one transform primitive, kept for the process."""
    return _transform_primitives()[name]().get_function()


@functools.lru_cache(maxsize=1)
def _transform_primitives() -> dict[str, Any]:
    """featuretools' transform primitives by name, read once per process: its registry scan takes 47 ms, which every
    ``transform`` paid before (one datetime column, one row: 60 ms, 22 ms with the functions kept, of which
    ``distance_to_holiday`` and ``is_federal_holiday`` themselves take 7 ms), and a scan per primitive would be about
    0.9 s (20 x 47 ms) in each trial process, whose first fit imports featuretools (0.6 s) besides."""
    try:
        from featuretools.primitives.utils import get_transform_primitives
    except ImportError as error:  # a model saved with this plan, loaded where featuretools is missing
        raise ImportError("the 'primitives' synthesis plan computes featuretools' transform primitives; install "
                          "the synthesis extra: pip install 'automl[synthesis]'") from error
    return get_transform_primitives()
