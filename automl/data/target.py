"""Check the target and sample weights, and split the rows for validation."""
from __future__ import annotations

from typing import Any

import warnings

import numpy as np
import pandas as pd
from sklearn.exceptions import DataConversionWarning
from sklearn.model_selection import (GroupKFold, GroupShuffleSplit, KFold, StratifiedGroupKFold, StratifiedKFold,
                                     train_test_split)

from automl.data.schema import plain_numbers
from automl.data.split import time_folds

# Automatic validation: k-fold on small data, holdout on large data (cost grows with rows x folds). At the default
# budget: 5 folds up to 5,000 rows, 3 up to 20,000, else a 20 % holdout; a trial's folds then fit at most
# (5 - 1) x 5,000 = 20,000 rows on small tables. From 1.5 times the default budget (``budget_scale``) small tables get
# 8 folds, bagged as AutoGluon's best_quality bags them, where 7 x their rows fit in that allowance grown with the
# budget (at 300 s every table up to 5,000 rows). Chosen on the training collection at 300 s
# (benchmarks/results/ab_budget_folds_300s_paired.md): 5 -> 8 folds on four tables up to 4,400 search rows, AUC
# +0.83 %, +0.75 %, -0.16 %, log loss +1.9 %; 3 -> 8 on two of 7,400 and 11,600 rows cost 3.5 times the trials
# (covid_test_result: 32 trials against 55, log loss 9.6 % worse; lending_club_default -0.07 %), so the medium and
# large tables keep theirs.
FOLDS_SMALL, FOLDS_MEDIUM, FOLDS_MANY = 5, 3, 8
ROWS_SMALL, ROWS_MEDIUM = 5_000, 20_000
MANY_FOLDS_FROM_SCALE = 1.5
FOLD_ROWS = (FOLDS_SMALL - 1) * ROWS_SMALL  # the rows a trial's folds fit at most on small tables, default budget
HOLDOUT_FRACTION = 0.2


def prepare_target(y: Any, n_rows: int) -> pd.Series:
    """``y`` as a Series with a clean index; raises on length mismatch and missing or infinite values."""
    if isinstance(y, pd.DataFrame):
        if y.shape[1] != 1:
            raise ValueError(f"y must be one column, got a DataFrame with {y.shape[1]} columns")
        y = y.iloc[:, 0]
    values = np.asarray(y)
    if values.ndim == 2 and values.shape[1] == 1:
        warnings.warn("A column-vector y was passed when a 1d array was expected; it is read as y.ravel().",
                      DataConversionWarning, stacklevel=3)
        values = values.ravel()
    if values.ndim != 1:
        raise ValueError(f"y must be one-dimensional, got shape {values.shape}; multi-output is not supported")
    if len(values) != n_rows:
        raise ValueError(f"X has {n_rows} rows but y has {len(values)}: they must describe the same rows")
    series = pd.Series(values, name=getattr(y, "name", None))
    missing = series.isna()
    if missing.all():
        raise ValueError("y has no values: every target is missing")
    if missing.any():
        rows = np.flatnonzero(missing.to_numpy())
        raise ValueError(f"y is missing on {len(rows)} rows (first: {rows[:5].tolist()}); drop those rows from "
                         "X and y, or fill the target, before fitting")
    if plain_numbers(series.dtype):
        bad = ~np.isfinite(series.to_numpy(dtype=float))
        if bad.any():
            raise ValueError(f"y holds infinite values on {int(bad.sum())} rows (first: "
                             f"{np.flatnonzero(bad)[:5].tolist()}); remove or replace them")
    return series


def check_label_types(values: np.ndarray) -> None:
    """Raise a TypeError when labels mix strings with numbers (they cannot be sorted into classes)."""
    if values.dtype == object:
        kinds = {type(v).__name__ for v in values}
        if len(kinds) > 1 and not kinds <= {"int", "float", "bool"}:
            raise TypeError(f"y mixes label types {sorted(kinds)}; convert the labels to one type "
                            "(e.g. y.astype(str))")


def prepare_classes(y: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Labels as an array and the sorted classes; raises on one class or mixed label types."""
    values = y.to_numpy()
    check_label_types(values)
    classes = np.unique(values)
    if len(classes) < 2:
        raise ValueError(f"y has only 1 class ({classes[0]!r}); a classifier needs at least two classes")
    return values, classes


def prepare_sample_weight(sample_weight: Any, n_rows: int) -> np.ndarray | None:
    """Weights as a float array; raises on a wrong length or negative, missing or all-zero weights."""
    if sample_weight is None:
        return None
    weights = np.asarray(sample_weight, dtype=float).ravel()
    if len(weights) != n_rows:
        raise ValueError(f"sample_weight has {len(weights)} values for {n_rows} rows")
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError("sample_weight must be finite and non-negative")
    if weights.sum() <= 0:
        raise ValueError("sample_weight sums to zero: at least one row must have a positive weight")
    return weights


def automatic_cv(n_rows: int, budget_scale: float = 1.0, max_folds: int | None = None) -> int | float:
    """The folds ``cv=None`` means: a number of folds, or the holdout fraction.

    Parameters
    ----------
    n_rows : int
        Search rows.
    budget_scale : float, default=1.0
        The time budget over the default one (60 s); below 1.5 it changes nothing.
    max_folds : int, optional
        Most folds (the time planner's cap for a short budget).

    Examples
    --------
    >>> automatic_cv(4_000), automatic_cv(6_000), automatic_cv(30_000)
    (5, 3, 0.2)
    >>> automatic_cv(4_000, budget_scale=5.0), automatic_cv(6_000, budget_scale=5.0)
    (8, 3)
    """
    if n_rows > ROWS_MEDIUM:
        return HOLDOUT_FRACTION
    if n_rows > ROWS_SMALL:
        folds = FOLDS_MEDIUM
    elif budget_scale >= MANY_FOLDS_FROM_SCALE and (FOLDS_MANY - 1) * n_rows <= FOLD_ROWS * budget_scale:
        folds = FOLDS_MANY
    else:
        folds = FOLDS_SMALL
    return folds if max_folds is None else min(folds, max_folds)


def make_folds(cv: Any, y: np.ndarray, classification: bool, seed: int, order: np.ndarray | None = None,
               groups: np.ndarray | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Train / validation row indices.

    Parameters
    ----------
    cv : None, int, float, "holdout", a scikit-learn splitter or a list of (train, validation) indices
        ``None`` chooses from the data size as at the default budget (:func:`automatic_cv`: 5-fold up to 5,000
        rows, 3-fold up to 20,000, else a 20% holdout; ``AutoML`` resolves it with its budget first); an int is
        k-fold (stratified for classification), a float in (0, 1) a holdout of that fraction.
    order : ndarray, optional
        Row positions sorted by time: folds then validate on later rows than they train on (forward
        chaining for k folds, the latest rows for a holdout).
    groups : ndarray, optional
        Rows of one group (copies of one row) are kept in the same fold; ignored with ``order``.
    """
    n = len(y)
    if n < 2:
        raise ValueError(f"fit needs at least 2 rows, got n_samples = {n}")
    if hasattr(cv, "split") and not isinstance(cv, str):  # a splitter (a string has a split method too)
        return [(np.asarray(t), np.asarray(v)) for t, v in cv.split(np.zeros((n, 1)), y)]
    if isinstance(cv, (list, tuple)):  # explicit (train, validation) index pairs
        return [(np.asarray(t), np.asarray(v)) for t, v in cv]
    if cv is None:
        cv = automatic_cv(n)
    if cv == "holdout":
        cv = HOLDOUT_FRACTION
    if isinstance(cv, float):
        if not 0.0 < cv < 1.0:
            raise ValueError(f"a holdout cv must be a fraction in (0, 1), got {cv}")
        if order is not None:
            return time_folds(order, cv)
        if groups is not None:
            split = GroupShuffleSplit(n_splits=1, test_size=cv, random_state=seed)
            return [next(split.split(np.zeros((n, 1)), y, groups))]
        return [_holdout(y, cv, classification, seed)]
    if isinstance(cv, (int, np.integer)) and not isinstance(cv, bool):
        if cv < 2:
            raise ValueError(f"cv must be at least 2 folds, got {cv}")
        if order is not None:
            return time_folds(order, int(cv))
        k = min(int(cv), n)
        stratify = classification and np.min(np.unique(y, return_counts=True)[1]) >= k
        if groups is not None:
            grouped = (StratifiedGroupKFold if stratify else GroupKFold)(n_splits=k, shuffle=True, random_state=seed)
            return [(t, v) for t, v in grouped.split(np.zeros((n, 1)), y, groups)]
        splitter = (StratifiedKFold if stratify else KFold)(n_splits=k, shuffle=True, random_state=seed)
        return [(t, v) for t, v in splitter.split(np.zeros((n, 1)), y)]
    raise ValueError(f"cv must be None, an int, a fraction, 'holdout' or a splitter, got {cv!r}")


def _holdout(y: np.ndarray, fraction: float, classification: bool, seed: int) -> tuple[np.ndarray, np.ndarray]:
    index = np.arange(len(y))
    stratify = None
    if classification:
        counts = np.unique(y, return_counts=True)[1]
        if counts.min() >= 2:
            stratify = y
    try:
        train, valid = train_test_split(index, test_size=fraction, random_state=seed, stratify=stratify)
    except ValueError:  # too few rows per class for the fraction
        train, valid = train_test_split(index, test_size=fraction, random_state=seed)
    return np.sort(train), np.sort(valid)
