"""tsfresh features of long-format time series (one row per id, time and value), chosen by the time budget.

Extraction is unsupervised and per series (a series' features depend on that series alone), so it runs once on
every series before the search; FRESH selection, which looks at the target, is a step of the searched pipeline
(:class:`automl.pipeline.select.RelevanceFilter`) and so is fitted on training folds only.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

# Settings from cheapest to richest (tsfresh on 100 series x 200 points: Minimal 10 features in 0.02 s,
# Efficient ~777 in 5-6 s, Comprehensive ~783 in 7-11 s; see ../shared/STACK.md).
SETTINGS = ("minimal", "efficient", "comprehensive")
# Comprehensive costs about this many times Efficient (the entropy and matrix-profile calculators).
COMPREHENSIVE_FACTOR = 2.0
# Series timed to estimate the cost of the rest.
CALIBRATION_SERIES = 8
# The estimate is trusted to within this factor.
SAFETY = 1.5
# Below this many seconds of extraction tsfresh runs in-process (n_jobs=0): its process pool costs ~2.5 s to start.
IN_PROCESS_SECONDS = 20.0
# The "none" plan (no tsfresh features) gives the model the raw values: the last values of each series and signal,
# at most this many (the longest real series here, ACSF1, has 1,460; 100 series x 2,048 floats is 1.6 MB).
MAX_RAW_VALUES = 2048
# Raw value columns are named ``<signal>__raw__lag_<j>``: lag 0 is a series' last value. "raw" is no tsfresh
# calculator, so :func:`plan_columns` tells them apart from the extracted features.
RAW = "raw"


def fc_parameters(settings: str) -> Any:
    """tsfresh's feature calculator settings object for a name in :data:`SETTINGS`."""
    from tsfresh.feature_extraction import settings as ts

    classes = {"minimal": ts.MinimalFCParameters, "efficient": ts.EfficientFCParameters,
               "comprehensive": ts.ComprehensiveFCParameters}
    if settings not in classes:
        raise ValueError(f"unknown tsfresh settings {settings!r}; choose one of {SETTINGS}")
    return classes[settings]()


class SeriesFeatures(TransformerMixin, BaseEstimator):
    """Extract tsfresh features from long-format series: one output row per series id, sorted by id.

    Parameters
    ----------
    column_id : str, default="id"
        Column naming the series a row belongs to.
    column_sort : str or None, default=None
        Column to order each series by (time); rows are taken in order when ``None``.
    column_kind, column_value : str or None, default=None
        For series stacked in one value column with a kind column (tsfresh's "stacked" format); by default
        every other column is a value column of its own.
    settings : {"minimal", "efficient", "comprehensive"}, default="efficient"
    n_jobs : int, default=0
        tsfresh's worker processes (0: in this process).
    raw_values : int, default=0
        Also output the last ``raw_values`` values of each series and signal, as columns
        ``<signal>__raw__lag_<j>`` (lag 0: the last value); a shorter series has NaN at the lags it lacks.

    Attributes
    ----------
    feature_names_ : list of str
        The extracted columns, in order; ``transform`` returns exactly these.
    kind_to_fc_parameters_ : dict
        The calculators behind ``feature_names_`` (tsfresh's ``from_columns``): ``transform`` computes only them.
    """

    def __init__(self, column_id: str = "id", column_sort: str | None = None, column_kind: str | None = None,
                 column_value: str | None = None, settings: str = "efficient", n_jobs: int = 0, raw_values: int = 0):
        self.column_id = column_id
        self.column_sort = column_sort
        self.column_kind = column_kind
        self.column_value = column_value
        self.settings = settings
        self.n_jobs = n_jobs
        self.raw_values = raw_values

    def fit(self, X: pd.DataFrame, y: Any = None) -> "SeriesFeatures":
        self.fit_transform(X, y)
        return self

    def fit_transform(self, X: pd.DataFrame, y: Any = None, **fit_params: Any) -> pd.DataFrame:
        """Extract with ``settings`` and remember which features came out (one extraction)."""
        from tsfresh.feature_extraction.settings import from_columns

        frame = self._extract(X, default_fc_parameters=fc_parameters(self.settings))
        self.kind_to_fc_parameters_ = _plain(from_columns([str(c) for c in frame.columns]))
        frame = pd.concat([frame, self._raw(X)], axis=1)
        self.feature_names_ = [str(c) for c in frame.columns]
        return frame

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self, "feature_names_")
        frame = self._extract(X, kind_to_fc_parameters=self.kind_to_fc_parameters_)
        return pd.concat([frame, self._raw(X)], axis=1).reindex(columns=self.feature_names_)

    def keep_only(self, names: list[str]) -> "SeriesFeatures":
        """Compute only ``names`` from now on (the columns the fitted model reads); other extracted features come
        out missing (raw values cost nothing to read and come out as they are)."""
        from tsfresh.feature_extraction.settings import from_columns

        check_is_fitted(self, "feature_names_")
        kept = [n for n in self.feature_names_ if n in set(names) and not is_raw(n)]
        self.kind_to_fc_parameters_ = _plain(from_columns(kept)) if kept else {}
        return self

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "feature_names_")
        return np.asarray(self.feature_names_, dtype=object)

    def _extract(self, X: pd.DataFrame, **calculators: Any) -> pd.DataFrame:
        from tsfresh import extract_features

        check_series_frame(X, self.column_id, self.column_sort, self.column_kind, self.column_value)
        if calculators.get("kind_to_fc_parameters") == {}:
            frame = pd.DataFrame(index=pd.Index(X[self.column_id].drop_duplicates().sort_values()))
        else:
            frame = extract_features(X, column_id=self.column_id, column_sort=self.column_sort,
                                     column_kind=self.column_kind, column_value=self.column_value,
                                     n_jobs=self.n_jobs, disable_progressbar=True, **calculators)
        # infinite values (a ratio over a constant series) become missing; the models handle those
        return frame.replace([np.inf, -np.inf], np.nan).astype("float64")

    def _raw(self, X: pd.DataFrame) -> pd.DataFrame:
        """The last :attr:`raw_values` values of each series and signal (one row per series id, sorted)."""
        ids = pd.Index(X[self.column_id].drop_duplicates().sort_values())
        if self.raw_values <= 0:
            return pd.DataFrame(index=ids)
        ordered = X.sort_values(self.column_sort, kind="stable") if self.column_sort is not None else X
        parts = [last_values(signal, self.column_id, value, int(self.raw_values), ids).add_prefix(f"{kind}__")
                 for kind, signal, value in self._signals(ordered)]
        return pd.concat(parts, axis=1) if parts else pd.DataFrame(index=ids)

    def _signals(self, X: pd.DataFrame) -> list[tuple[str, pd.DataFrame, str]]:
        """``(name, rows, value column)`` per signal, in tsfresh's formats (wide, or stacked with a kind column)."""
        if self.column_kind is not None:
            value = self.column_value or next(c for c in X.columns if c not in {self.column_id, self.column_sort,
                                                                                  self.column_kind})
            return [(str(kind), rows, value) for kind, rows in X.groupby(self.column_kind, sort=True)]
        named = {self.column_id, self.column_sort}
        values = [self.column_value] if self.column_value is not None else [c for c in X.columns if c not in named]
        return [(str(value), X, value) for value in values]


def last_values(rows: pd.DataFrame, column_id: str, value: str, count: int, ids: pd.Index) -> pd.DataFrame:
    """The last ``count`` values of ``value`` per series, rows in order: one row per id of ``ids``, columns
    ``raw__lag_0`` (the last value) to ``raw__lag_<count - 1>``, NaN where a series is shorter (or absent).

    Examples
    --------
    >>> rows = pd.DataFrame({"id": [1, 1, 1, 2], "v": [1.0, 2.0, 3.0, 9.0]})
    >>> last_values(rows, "id", "v", 2, pd.Index([1, 2])).to_numpy().tolist()
    [[3.0, 2.0], [9.0, nan]]
    """
    lag = rows.groupby(column_id, sort=False).cumcount(ascending=False).to_numpy()
    recent = rows.loc[lag < count, [column_id, value]].assign(_lag=lag[lag < count])
    table = recent.pivot(index=column_id, columns="_lag", values=value)
    table = table.reindex(index=ids, columns=range(count)).astype("float64")
    table.columns = [f"{RAW}__lag_{j}" for j in range(count)]
    return table.replace([np.inf, -np.inf], np.nan)


def is_raw(name: str) -> bool:
    """Whether a column of :class:`SeriesFeatures` is a raw value (not an extracted feature)."""
    parts = name.split("__")
    return len(parts) == 3 and parts[1] == RAW and parts[2].startswith("lag_")


def raw_value_count(X: pd.DataFrame, column_id: str) -> int:
    """How many raw values the "none" plan gives per signal: the longest series' length, at most
    :data:`MAX_RAW_VALUES`."""
    return int(min(X.groupby(column_id, sort=False).size().max(), MAX_RAW_VALUES)) if len(X) else 0


def _plain(parameters: Any) -> dict[str, Any]:
    """tsfresh settings as plain dicts and lists, so skops can save them without trusting tsfresh's types."""
    return {str(kind): {str(name): (None if params is None else [dict(p) for p in params])
                        for name, params in calcs.items()}
            for kind, calcs in dict(parameters).items()}


def check_series_frame(X: Any, column_id: str, column_sort: str | None, column_kind: str | None,
                       column_value: str | None) -> None:
    """Raise a clear error when ``X`` is not long-format series with the named columns."""
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"time series must be a long-format DataFrame (one row per id and time), got "
                        f"{type(X).__name__}")
    named = {"column_id": column_id, "column_sort": column_sort, "column_kind": column_kind,
             "column_value": column_value}
    missing = {k: v for k, v in named.items() if v is not None and v not in X.columns}
    if missing:
        raise ValueError(f"the series frame has no column {missing}; its columns are {list(X.columns)}")
    values = [c for c in X.columns if c not in {v for v in named.values() if v is not None}]
    if column_value is None and column_kind is None:
        bad = [c for c in values if not pd.api.types.is_numeric_dtype(X[c])]
        if bad:
            raise ValueError(f"series value columns must be numeric; {bad} are not. Drop them or convert them "
                             "with pd.to_numeric")
    if X[column_id].isna().any():
        raise ValueError(f"column {column_id!r} (the series id) is missing on {int(X[column_id].isna().sum())} "
                         "rows; every row must belong to a series")


def choose_settings(X: pd.DataFrame, seconds: float, **columns: Any) -> tuple[str, float]:
    """The richest tsfresh settings whose extraction fits in ``seconds``, and its estimated cost.

    Efficient extraction is timed on :data:`CALIBRATION_SERIES` series and scaled to all of them.
    """
    import tsfresh  # noqa: F401 - before the timer: its import (~2 s) is paid once, not once per 8 series

    column_id = columns["column_id"]
    ids = pd.unique(X[column_id])
    sample = X[X[column_id].isin(ids[:CALIBRATION_SERIES])]
    start = time.perf_counter()
    SeriesFeatures(**columns, settings="efficient").fit(sample)
    efficient = (time.perf_counter() - start) * len(ids) / min(len(ids), CALIBRATION_SERIES)
    estimates = {"comprehensive": efficient * COMPREHENSIVE_FACTOR, "efficient": efficient}
    for name in ("comprehensive", "efficient"):
        if estimates[name] * SAFETY <= seconds:
            return name, estimates[name]
    return "minimal", efficient / 100  # Minimal: 10 cheap calculators, ~1/275 of Efficient on 100 x 200


def plan_columns(names: list[str], chosen: str) -> dict[str, list[str]]:
    """The columns of each plan: ``none``, the raw values (when there are any), then each settings name up to
    ``chosen`` (the one extracted) with the extracted columns it makes (a column ``kind__calculator__params`` belongs
    to the settings that hold its calculator). Cheaper settings are subsets, so the search can choose among them
    without extracting again."""
    raw = [c for c in names if is_raw(c)]
    plans = {"none": raw} if raw else {}
    for name in SETTINGS[: SETTINGS.index(chosen) + 1]:
        calculators = set(fc_parameters(name))
        plans[name] = [c for c in names if not is_raw(c) and len(c.split("__")) > 1
                       and c.split("__")[1] in calculators]
    return plans
