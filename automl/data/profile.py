"""Per-column statistics of the training data: what a person reads, and what serving compares live data with.

The profile is a plain, JSON-serialisable dict, saved with the model (``profile.json``)::

    {"n_rows": int, "n_columns": int,
     "columns": {name: {"role", "dtype", "count", "missing", "missing_pct", "distinct",
                        # numeric: "min", "max", "mean", "std", "quantiles" (percentiles 0..100),
                        #          "bins": {"edges": [-inf, ..., inf], "fractions": [...]}
                        # other roles: "top": [[value, fraction of non-missing], ...]
                        # columns the cleaning left out: "dropped": reason
                        }},
     "target": {"name", "task", ...the statistics of a column...} or None}
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from automl.data.schema import Schema, column_blocks, infer_schema, numeric_columns

# Ten quantile bins is the usual resolution for the population stability index (PSI).
N_BINS = 10
N_TOP = 20
# Quantiles, bins and distinct counts of longer data are read from a random sample of this many rows (counts,
# missing values, min, max, mean and std from every row); the profile says so ("sampled_rows").
SAMPLE_ROWS = 100_000
PERCENTILES = np.linspace(0, 1, 101)


def profile_frame(frame: pd.DataFrame, schema: Schema | None = None, target: pd.Series | None = None,
                  task: str | None = None) -> dict[str, Any]:
    """Describe every column of ``frame`` (and the target, when given).

    Parameters
    ----------
    frame : DataFrame
        The data as the user gave it (numeric strings are read as numbers when the role says numeric).
    schema : Schema, optional
        Column roles; inferred from ``frame`` when ``None``.
    target : Series, optional
        The target, profiled as a column with its ``task``.
    task : str, optional
        ``"binary"``, ``"multiclass"`` or ``"regression"``: a classification target is profiled by its classes.

    Returns
    -------
    dict
        See the module docstring; every value is a plain Python number, string or list.
    """
    if schema is None:
        schema, _ = infer_schema(frame)
    roles = {c.name: c.role for c in schema.columns}
    sample = _sample_rows(len(frame))
    columns = numeric_profiles(frame, numeric_columns(frame, [n for n in frame.columns if roles.get(n) == "numeric"]),
                               sample)
    for name in frame.columns:
        if name not in columns:
            columns[name] = profile_column(frame[name], roles.get(name, "categorical"))
        if name in schema.dropped:
            columns[name]["dropped"] = schema.dropped[name]
    columns = {str(name): columns[name] for name in frame.columns}
    profile: dict[str, Any] = {"n_rows": int(len(frame)), "n_columns": int(frame.shape[1]), "columns": columns,
                               "target": None}
    if sample is not None:
        profile["sampled_rows"] = int(len(sample))
    if target is not None:
        role = "numeric" if task == "regression" else "categorical"
        profile["target"] = {"name": None if target.name is None else str(target.name), "task": task,
                             **profile_column(target, role)}
    return profile


def profile_column(col: pd.Series, role: str) -> dict[str, Any]:
    """Statistics of one column: counts for every role, distribution by role (numbers or top values)."""
    missing = int(col.isna().sum())
    stats: dict[str, Any] = {"role": role, "dtype": str(col.dtype), "count": int(len(col) - missing),
                             "missing": missing, "missing_pct": round(100.0 * missing / max(len(col), 1), 3),
                             "distinct": int(col.nunique(dropna=True))}
    if role in ("numeric",):
        stats.update(_numeric_stats(pd.to_numeric(col, errors="coerce")))
    elif role != "datetime":
        stats["top"] = _top_values(col)
    else:
        values = pd.to_datetime(col, errors="coerce", format="mixed") if col.dtype == object else col
        values = values.dropna()
        stats["min"] = None if values.empty else str(values.min())
        stats["max"] = None if values.empty else str(values.max())
    return stats


def _sample_rows(n_rows: int) -> np.ndarray | None:
    """Sorted positions of the rows the distribution statistics read (``None``: all of them)."""
    if n_rows <= SAMPLE_ROWS:
        return None
    return np.sort(np.random.default_rng(0).choice(n_rows, SAMPLE_ROWS, replace=False))


def numeric_profiles(frame: pd.DataFrame, names: list[str], sample: np.ndarray | None) -> dict[str, dict[str, Any]]:
    """:func:`profile_column` of numeric columns, computed a block of columns at a time: the same statistics,
    in a fraction of the time on wide data (quantiles, bins and distinct values from ``sample`` rows)."""
    out: dict[str, dict[str, Any]] = {}
    dtypes = frame.dtypes
    for chunk, block in column_blocks(frame, names):
        missing = np.isnan(block).sum(axis=0)
        infinite = np.isinf(block)
        n_infinite = infinite.sum(axis=0)
        signs = (block == np.inf).any(axis=0).astype(int) + (block == -np.inf).any(axis=0).astype(int)
        block = np.where(infinite, np.nan, block)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # columns with no finite value
            low, high, mean = np.nanmin(block, axis=0), np.nanmax(block, axis=0), np.nanmean(block, axis=0)
            std = np.nanstd(block, axis=0, ddof=1)
        ordered = np.sort(block if sample is None else block[sample], axis=0)  # missing values sort last
        finite = (~np.isnan(ordered)).sum(axis=0)
        for j, name in enumerate(chunk):
            column = ordered[: finite[j], j]
            stats: dict[str, Any] = {"role": "numeric", "dtype": str(dtypes[name]),
                                     "count": int(len(frame) - missing[j]), "missing": int(missing[j]),
                                     "missing_pct": round(100.0 * missing[j] / max(len(frame), 1), 3),
                                     "distinct": int((np.count_nonzero(np.diff(column)) + 1 if column.size else 0)
                                                     + signs[j])}
            if column.size == 0:
                stats.update({"min": None, "max": None, "mean": None, "std": None, "quantiles": [], "bins": None})
            else:
                stats.update({"min": float(low[j]), "max": float(high[j]), "mean": float(mean[j]),
                              "std": float(std[j]) if column.size > 1 else 0.0,
                              "quantiles": [float(q) for q in _sorted_quantiles(column, PERCENTILES)],
                              "bins": numeric_bins(column, presorted=True)})
            stats["infinite"] = int(n_infinite[j])
            out[name] = stats
    return out


def _sorted_quantiles(ordered: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """``np.quantile(ordered, levels)`` (linear interpolation) of an already sorted array."""
    position = levels * (len(ordered) - 1)
    below = np.floor(position).astype(int)
    above = np.minimum(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def _numeric_stats(values: pd.Series) -> dict[str, Any]:
    array = values.to_numpy(dtype=float)
    finite = array[np.isfinite(array)]
    if finite.size == 0:
        return {"min": None, "max": None, "mean": None, "std": None, "quantiles": [], "bins": None,
                "infinite": int(np.isinf(array).sum())}
    ordered = np.sort(finite)
    quantiles = _sorted_quantiles(ordered, PERCENTILES)
    return {"min": float(finite.min()), "max": float(finite.max()), "mean": float(finite.mean()),
            "std": float(finite.std(ddof=1)) if finite.size > 1 else 0.0,
            "quantiles": [float(q) for q in quantiles], "bins": numeric_bins(ordered, presorted=True),
            "infinite": int(np.isinf(array).sum())}


def numeric_bins(finite: np.ndarray, presorted: bool = False) -> dict[str, list[float]]:
    """Quantile bins (outer edges at ±inf) and the share of ``finite`` values falling in each."""
    levels = np.linspace(0, 1, N_BINS + 1)[1:-1]
    finite = finite if presorted else np.sort(finite)
    inner = np.unique(_sorted_quantiles(finite, levels))
    edges = np.concatenate([[-np.inf], inner, [np.inf]])
    if inner.size:  # np.histogram's bins: [a, b) except the last, which is closed
        cuts = np.concatenate([[0], np.searchsorted(finite, inner[:-1], side="left"),
                               [np.searchsorted(finite, inner[-1], side="left")], [finite.size]])
        counts = np.diff(cuts)
    else:  # every value the same: one bin
        counts, edges = np.array([finite.size]), np.array([-np.inf, np.inf])
    return {"edges": [float(e) for e in edges], "fractions": [float(c) / finite.size for c in counts]}


def _top_values(col: pd.Series) -> list[list[Any]]:
    values = col.dropna()
    if values.empty:
        return []
    shares = values.astype(str).value_counts(normalize=True).head(N_TOP)
    return [[str(value), float(share)] for value, share in shares.items()]


def profile_table(profile: dict[str, Any]) -> pd.DataFrame:
    """The profile as one row per column, for printing: role, dtype, min, max, mean, std, missing %, ..."""
    rows = []
    for name, stats in profile["columns"].items():
        top = stats.get("top") or []
        rows.append({"column": name, "role": stats["role"], "dtype": stats["dtype"],
                     "missing_pct": stats["missing_pct"], "distinct": stats["distinct"],
                     "min": stats.get("min"), "max": stats.get("max"), "mean": stats.get("mean"),
                     "std": stats.get("std"),
                     "top": ", ".join(f"{v} ({100 * s:.0f}%)" for v, s in top[:3]) if top else None,
                     "dropped": stats.get("dropped")})
    return pd.DataFrame(rows)
