"""Rows given to a fitted model, held to the training schema: one check for ``predict``, ``automl predict`` and
``automl serve``.

A value the model cannot read (a word in a numeric column, ``"maybe"`` in a boolean one, a date that does not
parse, an object inside a cell) is an error naming the column and the rows, never a silent missing value. With
``errors="coerce"`` such values are made missing instead, and counted per column so the caller can say so.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from automl.data.clean import infinite_values_error
from automl.data.schema import cells, plain_numbers

# Text a boolean column takes (case and surrounding spaces ignored); anything else is not read as a boolean.
TRUE_TEXT = frozenset({"true", "t", "yes", "y", "1", "1.0", "on"})
FALSE_TEXT = frozenset({"false", "f", "no", "n", "0", "0.0", "off"})
ERRORS = ("raise", "coerce")
SHOWN_ROWS = 10  # rows named in an error message


# how ``predict(errors="coerce")`` helps with an unreadable value; left out where nothing can coerce (related tables)
COERCE_HINT = ", or pass errors='coerce' to treat them as missing"


class InputError(ValueError):
    """Rows a fitted model cannot take; ``column`` and ``rows`` say where."""

    def __init__(self, message: str, column: str | None = None, rows: list[int] | None = None):
        super().__init__(message)
        self.column, self.rows = column, rows or []


@dataclass
class CheckedRows:
    """The rows with every modelled column typed as in training, and how many values ``coerce`` made missing."""

    frame: pd.DataFrame
    coerced: dict[str, int] = field(default_factory=dict)


def parse_booleans(values: Any) -> tuple[np.ndarray, np.ndarray]:
    """Booleans read from any values: ``(as 0/1 floats with NaN for missing, positions that are not booleans)``.

    True / False, the numbers 1 / 0 and the text in :data:`TRUE_TEXT` / :data:`FALSE_TEXT` are booleans.
    """
    array = np.asarray(values, dtype=object)
    out = np.full(len(array), np.nan)
    bad = []
    for i, value in enumerate(array):
        if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
            continue
        if isinstance(value, (bool, np.bool_)):
            out[i] = float(value)
        elif isinstance(value, (int, float, np.integer, np.floating)) and float(value) in (0.0, 1.0):
            out[i] = float(value)
        elif isinstance(value, str) and value.strip().lower() in TRUE_TEXT | FALSE_TEXT:
            out[i] = 1.0 if value.strip().lower() in TRUE_TEXT else 0.0
        else:
            bad.append(i)
    return out, np.asarray(bad, dtype=int)


def check_rows(frame: pd.DataFrame, roles: dict[str, str], errors: str = "raise",
               allow_infinite: bool = True) -> CheckedRows:
    """Hold ``frame``'s modelled columns to their training roles.

    Parameters
    ----------
    frame : DataFrame
        The rows, with at least the columns of ``roles``.
    roles : dict of str to str
        Modelled column -> role (``numeric``, ``boolean``, ``categorical``, ``datetime``, ``text``).
    errors : {"raise", "coerce"}
        What to do with a value the column's role cannot read: raise, or make it missing and count it.
    allow_infinite : bool
        Whether infinite numbers are taken (the model then treats them as missing, as cleaning did in training).

    Returns
    -------
    CheckedRows

    Raises
    ------
    InputError
        Naming the column, the rows (positions in ``frame``) and a value, for missing columns, unreadable values
        (``errors="raise"``), objects inside cells, or infinite numbers when they are not allowed.
    """
    if errors not in ERRORS:
        raise ValueError(f"errors must be one of {ERRORS}, got {errors!r}")
    missing = [c for c in roles if c not in frame.columns]
    if missing:
        raise InputError(f"missing columns {missing}; every row needs the training columns {list(roles)}")
    out = frame.copy(deep=False)
    coerced: dict[str, int] = {}
    dtypes = dict(zip(frame.columns, frame.dtypes))
    # columns taken as they are (categories, text, numbers already numeric) are checked a block at a time, not as a
    # Series each: on one row that pandas work was most of predict's time. Where a block finds a problem, the
    # column's own check below raises it, in column order as before.
    as_they_are = {name for name, role in roles.items()
                   if role in ("categorical", "text") or (role == "numeric" and plain_numbers(dtypes[name]))}
    nested = _first_nested(frame, [n for n in roles if n in as_they_are and dtypes[n] == object])
    infinite = None if allow_infinite else _first_infinite(
        frame, [n for n in roles if n in as_they_are and roles[n] == "numeric"])
    for name, role in roles.items():
        if name in as_they_are and name != nested and name != infinite:
            continue
        column = frame[name]
        values, bad = _read(column, role, name)
        if len(bad) and errors == "raise":
            expected = {"numeric": "a number", "boolean": "true/false, yes/no or 1/0",
                        "datetime": "a date"}[role]
            raise InputError(f"column {name!r} is {role}: rows {bad[:SHOWN_ROWS].tolist()} hold "
                             f"{column.iloc[int(bad[0])]!r}, not {expected}. Fix or blank those values{COERCE_HINT}",
                             name, bad.tolist())
        if len(bad):
            coerced[name] = int(len(bad))
        if role == "numeric" and not allow_infinite:
            numbers = column.to_numpy(dtype=float, na_value=np.nan) if values is None else values
            infinite_rows = np.flatnonzero(np.isinf(np.asarray(numbers, dtype=float)))
            if len(infinite_rows):
                raise InputError(str(infinite_values_error(name, infinite_rows)), name, infinite_rows.tolist())
        if values is not None:
            out[name] = values
    return CheckedRows(out, coerced)


def _first_nested(frame: pd.DataFrame, names: list[str]) -> str | None:
    """The first of the object columns ``names`` holding an object or a list in a cell."""
    if not names:
        return None
    values = cells(frame, names)
    found = [isinstance(v, _NESTED) for v in values.ravel()]
    if not any(found):
        return None
    return names[int(np.flatnonzero(np.asarray(found).reshape(values.shape).any(axis=0))[0])]


def _first_infinite(frame: pd.DataFrame, names: list[str]) -> str | None:
    """The first of the numeric columns ``names`` holding an infinite number."""
    if not names:
        return None
    infinite = np.isinf(frame[names].to_numpy(dtype=float, na_value=np.nan)).any(axis=0)
    return names[int(np.flatnonzero(infinite)[0])] if infinite.any() else None


_NESTED = (dict, list, tuple, set)


def _read(column: pd.Series, role: str, name: str) -> tuple[Any, np.ndarray]:
    """The column's values as its role reads them (``None``: keep them as they are) and the unreadable rows."""
    _refuse_objects(column, name)
    if role == "numeric":
        if pd.api.types.is_bool_dtype(column.dtype):
            return column.to_numpy(dtype=float), np.empty(0, dtype=int)
        if pd.api.types.is_numeric_dtype(column.dtype):
            return None, np.empty(0, dtype=int)
        raw = column.map(lambda v: float(v) if isinstance(v, (bool, np.bool_)) else v)
        parsed = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        bad = np.flatnonzero(np.isnan(parsed) & column.notna().to_numpy() & ~_blank(column))
        return parsed, bad
    if role == "boolean":
        if pd.api.types.is_bool_dtype(column.dtype):
            return column.to_numpy(dtype=float), np.empty(0, dtype=int)
        parsed, bad = parse_booleans(column.to_numpy(dtype=object))
        bad = bad[~_blank(column)[bad]] if len(bad) else bad
        return parsed, bad
    if role == "datetime":
        if pd.api.types.is_datetime64_any_dtype(column.dtype):
            return None, np.empty(0, dtype=int)
        dates = pd.to_datetime(column.astype("string"), errors="coerce", format="mixed")
        bad = np.flatnonzero(dates.isna().to_numpy() & column.notna().to_numpy() & ~_blank(column))
        return dates, bad
    return None, np.empty(0, dtype=int)  # categories and text take any scalar


def _blank(column: pd.Series) -> np.ndarray:
    """Positions holding an empty or all-space string (read as missing, as a CSV's empty field is)."""
    if column.dtype != object and not pd.api.types.is_string_dtype(column.dtype):
        return np.zeros(len(column), dtype=bool)
    return column.map(lambda v: isinstance(v, str) and not v.strip()).to_numpy(dtype=bool)


def _refuse_objects(column: pd.Series, name: str) -> None:
    if column.dtype != object:
        return
    nested = [i for i, v in enumerate(column) if isinstance(v, _NESTED)]
    if nested:
        raise InputError(f"column {name!r}: rows {nested[:SHOWN_ROWS]} hold objects or lists, not values", name,
                         nested)
