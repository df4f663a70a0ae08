"""The held-back test set, and time-ordered splitting when the user names a time column."""
from __future__ import annotations

from numbers import Integral
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split


def time_order(frame: pd.DataFrame, column: str) -> np.ndarray:
    """Row positions sorted by ``column`` (dates, or numbers), oldest first.

    Raises
    ------
    ValueError
        When the column is absent, cannot be read as times or numbers, or has missing values.
    """
    if column not in frame.columns:
        raise ValueError(f"time_column {column!r} is not a column of X (columns: {list(frame.columns)[:10]})")
    values = frame[column]
    if not (pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_datetime64_any_dtype(values.dtype)):
        values = pd.to_datetime(values, errors="coerce", format="mixed")
    missing = values.isna().to_numpy()
    if missing.any():
        rows = np.flatnonzero(missing)
        raise ValueError(f"time_column {column!r} is missing or not a date on {len(rows)} rows (first: "
                         f"{rows[:5].tolist()}); fill or drop those rows")
    return np.argsort(values.to_numpy(), kind="stable")


def split_test(n_rows: int, test_size: Any, labels: np.ndarray, classification: bool, seed: int,
               order: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the search's rows and of the held-back test rows (empty when ``test_size`` is None).

    With ``order`` (positions oldest first) the test set is the latest rows; otherwise a random split,
    stratified by class when every class has at least two rows.
    """
    if test_size is None:
        return np.arange(n_rows), np.array([], dtype=int)
    n_test = int(test_size) if isinstance(test_size, Integral) else int(round(float(test_size) * n_rows))
    if not 1 <= n_test <= n_rows - 2:
        raise ValueError(f"test_size={test_size!r} holds back {n_test} of {n_rows} rows; keep at least 1 for the "
                         "test and 2 for the search")
    if order is not None:
        return np.sort(order[:-n_test]), np.sort(order[-n_test:])
    index = np.arange(n_rows)
    stratify = labels if classification and np.unique(labels, return_counts=True)[1].min() >= 2 else None
    try:
        train, test = train_test_split(index, test_size=n_test, random_state=seed, stratify=stratify)
    except ValueError:  # fewer test rows than classes: stratifying is impossible
        train, test = train_test_split(index, test_size=n_test, random_state=seed)
    return np.sort(train), np.sort(test)


def time_folds(order: np.ndarray, n_folds: int | float) -> list[tuple[np.ndarray, np.ndarray]]:
    """Forward-chaining folds over rows sorted by time: each validates on a later block than it trains on.

    ``n_folds`` as an int gives that many expanding-window folds; a fraction gives one holdout of the latest rows.
    """
    n = len(order)
    if isinstance(n_folds, float):
        cut = n - max(1, int(round(n_folds * n)))
        return [(np.sort(order[:cut]), np.sort(order[cut:]))]
    block = n // (int(n_folds) + 1)
    if block < 1:
        raise ValueError(f"{n} rows are too few for {n_folds} time-ordered folds")
    return [(np.sort(order[:block * (k + 1)]), np.sort(order[block * (k + 1):block * (k + 2) if k + 1 < n_folds
                                                              else n]))
            for k in range(int(n_folds))]
