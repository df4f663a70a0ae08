"""The columns a second level (automl/search/stack.py) reads: first-level predictions appended to the rows.

A module of its own, below both the trial evaluation (which appends a second-level trial's columns fold by fold)
and the stack stage (which builds them), so neither imports the other.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from automl.data.schema import Column, Schema

COLUMN_PREFIX = "__stack"


def stack_column_names(number: int, classes: np.ndarray | None) -> list[str]:
    """The columns trial ``number``'s predictions become: the value (regression), the second class's probability
    (binary), or every class's (multiclass)."""
    if classes is None:
        return [f"{COLUMN_PREFIX}_{number}"]
    if len(classes) == 2:
        return [f"{COLUMN_PREFIX}_{number}_1"]
    return [f"{COLUMN_PREFIX}_{number}_{i}" for i in range(len(classes))]


def prediction_columns(pred: np.ndarray, classes: np.ndarray | None) -> np.ndarray:
    """``pred`` (from :func:`automl.metrics.predict_for_metric`) as the 2-D block of its stack columns."""
    pred = np.asarray(pred, dtype=float)
    if classes is None:
        return pred.reshape(-1, 1)
    return pred[:, 1:2] if len(classes) == 2 else pred


def with_stack_columns(X: pd.DataFrame, blocks: list[tuple[list[str], np.ndarray]]) -> pd.DataFrame:
    """``X`` with each block's columns appended (a new frame; ``X`` is not changed)."""
    clash = [name for names, _ in blocks for name in names if name in X.columns]
    if clash:
        raise ValueError(f"columns {clash[:3]} are reserved for stacked predictions; rename them")
    added = pd.DataFrame(np.hstack([values for _, values in blocks]),
                         columns=[name for names, _ in blocks for name in names], index=X.index)
    return pd.concat([X, added], axis=1)


def stacked_schema(schema: Schema, names: list[str]) -> Schema:
    """``schema`` with the numeric stack columns ``names`` appended."""
    return Schema(columns=list(schema.columns) + [Column(name, "numeric", "float64") for name in names],
                  dropped=dict(schema.dropped), kept_categories=schema.kept_categories, levels=schema.levels)
