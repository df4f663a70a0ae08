"""Cleaning of the training data, every change recorded: nothing is dropped or changed without a line.

Steps, each switchable with ``AutoML(cleaning={...})`` (keys of :class:`CleaningOptions`):
numeric strings coerced to numbers, infinite values turned into missing values, all-missing, constant,
identifier-like and duplicated columns left out of modelling, duplicate rows removed, rare categories merged.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Iterator

import numpy as np
import pandas as pd

from automl.data.schema import (UNINFORMATIVE, Column, Schema, column_blocks, find_uninformative, infer_roles,
                                numeric_columns)

RARE_LABEL = "__rare__"
DUPLICATE_ROWS = ("weight", "drop", "group", "keep")


@dataclass(frozen=True)
class CleaningOptions:
    """Which cleaning steps run (all but rare-category merging by default; duplicate rows are kept, grouped).

    Parameters
    ----------
    coerce_numeric_strings : bool
        Read columns of numeric strings ("1.5", "3") as numbers.
    inf_to_missing : bool
        Replace +/-inf by a missing value (otherwise an infinite value is an error).
    drop_all_missing, drop_constant, drop_id_like, drop_duplicate_columns : bool
        Leave such columns out of modelling (they are still expected at predict time).
    duplicate_rows : {"weight", "drop", "group", "keep"}
        Rows identical to an earlier one in every column, the target and the weight (found in the search's
        rows only: the held-back test set is never touched). ``"weight"`` drops the copies and gives the first
        one their number as its weight (3 copies: weight 3), so nothing is lost and no row sits in a training
        fold and its validation fold at once; ``"drop"`` drops them; ``"group"`` keeps them but puts all copies
        of a row in the same fold (when new rows will not repeat old ones); ``"keep"`` (the default) keeps them as
        they are: copies count, as they will in data drawn the same way.
    rare_category_min_count : int
        Categories seen fewer times than this share one category, ``"__rare__"``; 0 turns merging off.
    """

    coerce_numeric_strings: bool = True
    inf_to_missing: bool = True
    drop_all_missing: bool = True
    drop_constant: bool = True
    drop_id_like: bool = True
    drop_duplicate_columns: bool = True
    # "keep": copies are rows like any other and the folds are plain (stratified) k-fold, the estimate of a random
    # split's test score, as the peers validate. "group" (the default until 2026-12-04, chosen on four suite tables
    # at 30 s) puts copies of one row in one fold; since the copies share their label, the folds then depend on the
    # labels, and a repeated feature vector validated is often trained only with its other label. On the 11 tables of
    # the training collection with duplicates, 60 s, 2 seeds, the two did not differ (group better on 5, worse on 2,
    # mixed 3, tie 1; median +0.06 %, Wilcoxon p = 0.77: benchmarks/results/duplicate_rows_ab_extra_60s.md).
    duplicate_rows: str = "keep"
    rare_category_min_count: int = 0

    @classmethod
    def from_param(cls, value: dict[str, Any] | None) -> "CleaningOptions":
        """Options from the estimator's ``cleaning`` parameter (None: the defaults)."""
        if value is None:
            return cls()
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(f"unknown cleaning option(s) {unknown}; known: {sorted(known)}")
        if value.get("duplicate_rows", cls.duplicate_rows) not in DUPLICATE_ROWS:
            raise ValueError(f"cleaning option duplicate_rows must be one of {DUPLICATE_ROWS}, got "
                             f"{value['duplicate_rows']!r}")
        count = value.get("rare_category_min_count", 0)
        if not isinstance(count, (int, np.integer)) or isinstance(count, bool) or count < 0:
            raise ValueError(f"cleaning option rare_category_min_count must be an int >= 0, got {count!r}")
        return cls(**value)


@dataclass
class CleanedData:
    """The cleaned training part: schema, frame, kept row positions, the report lines, for each kept row how
    many identical rows it stands for (``None`` unless duplicates were weighted), and for each row the group
    of its identical copies (``None`` unless duplicates are kept grouped)."""

    schema: Schema
    frame: pd.DataFrame
    kept_rows: np.ndarray
    report: list[dict[str, Any]]
    copies: np.ndarray | None = None
    groups: np.ndarray | None = None


def clean_training_data(frame: pd.DataFrame, target: np.ndarray, weights: np.ndarray | None,
                        options: CleaningOptions, row_ids: np.ndarray | None = None) -> CleanedData:
    """Infer roles and clean ``frame`` as ``options`` say; every change gets a line in ``report``.

    ``row_ids`` are the rows' positions in the user's data, used in the report (default: 0, 1, ...).

    Raises
    ------
    ValueError
        When infinite values are found and ``inf_to_missing`` is off (names the column and rows).
    """
    columns, frame = infer_roles(frame, options.coerce_numeric_strings)
    report = [_line("coerce_numeric_strings", c.name, "coerced", int(frame[c.name].notna().sum()),
                    f"numeric strings ({c.coerced_from}) read as numbers")
              for c in columns if c.coerced_from and c.role == "numeric"]
    row_ids = np.arange(len(frame)) if row_ids is None else np.asarray(row_ids)
    report += _replace_infinite(frame, columns, options.inf_to_missing, row_ids)
    kept, copies, groups = _unique_rows(frame, target, weights)
    n_copies = len(frame) - len(kept)
    if n_copies and options.duplicate_rows in ("weight", "drop"):
        removed = np.setdiff1d(np.arange(len(frame)), kept)
        note = "; each kept row weighs as many as its copies" if options.duplicate_rows == "weight" else ""
        report.append(_line("duplicate_rows", None, "rows removed", n_copies,
                            f"duplicate rows (same values, target and weight as an earlier row; first: "
                            f"{row_ids[removed[:5]].tolist()}){note}"))
        frame = frame.iloc[kept].reset_index(drop=True)
        columns, _ = infer_roles(frame, options.coerce_numeric_strings)  # an id column may be unique only now
    elif n_copies:
        note = "; all copies of a row share one validation fold" if options.duplicate_rows == "group" else ""
        report.append(_line("duplicate_rows", None, "rows kept", n_copies,
                            f"duplicate rows found and kept as cleaning={{'duplicate_rows': "
                            f"{options.duplicate_rows!r}}} asks{note}"))
    if options.duplicate_rows not in ("weight", "drop"):
        kept = np.arange(len(frame))
    dropped = find_uninformative(frame, columns, _dropped_kinds(options))
    columns = _model_undropped_ids(columns, dropped)
    dropped.update(_duplicate_columns(frame, columns, dropped) if options.drop_duplicate_columns else {})
    report += [_line(_step_of(reason), name, "dropped", int(len(frame)), reason) for name, reason in dropped.items()]
    schema = Schema(columns=columns, dropped=dropped)
    if options.rare_category_min_count > 0:
        schema.kept_categories, rare_lines = _rare_categories(frame, schema, options.rare_category_min_count)
        report += rare_lines
    schema.count_levels(frame)
    return CleanedData(schema=schema, frame=frame, kept_rows=kept, report=report,
                       copies=copies if options.duplicate_rows == "weight" and n_copies else None,
                       groups=groups if options.duplicate_rows == "group" and n_copies else None)


def _line(step: str, column: str | None, action: str, count: int, reason: str) -> dict[str, Any]:
    return {"step": step, "column": column, "action": action, "count": count, "reason": reason}


def _dropped_kinds(options: CleaningOptions) -> tuple[str, ...]:
    wanted = {"all_missing": options.drop_all_missing, "constant": options.drop_constant,
              "id_like": options.drop_id_like}
    return tuple(kind for kind in UNINFORMATIVE if wanted[kind])


def _step_of(reason: str) -> str:
    for prefix, step in (("all values", "drop_all_missing"), ("constant", "drop_constant"),
                         ("identifier", "drop_id_like"), ("duplicate of", "drop_duplicate_columns")):
        if reason.startswith(prefix):
            return step
    return "drop_column"


def _replace_infinite(frame: pd.DataFrame, columns: list[Column], replace: bool,
                      row_ids: np.ndarray) -> list[dict[str, Any]]:
    numbers = numeric_columns(frame, [c.name for c in columns if c.role in ("numeric", "id")])
    with_infinity = [name for chunk, block in column_blocks(frame, numbers)
                     for name, found in zip(chunk, np.isinf(block).any(axis=0)) if found]
    lines = []
    for name in with_infinity:
        values = frame[name]
        infinite = np.isinf(values.to_numpy(dtype=float))
        rows = row_ids[np.flatnonzero(infinite)]
        if not replace:
            raise infinite_values_error(name, rows)
        frame[name] = values.astype("float64").where(~infinite, np.nan)
        lines.append(_line("inf_to_missing", name, "replaced", len(rows),
                           f"infinite values made missing (first rows: {rows[:5].tolist()})"))
    return lines


def infinite_values_error(column: str, rows: np.ndarray) -> ValueError:
    """The error for infinite values when cleaning may not make them missing (at fit and at predict time)."""
    return ValueError(f"column {column!r} holds infinite values on {len(rows)} rows (first: {rows[:5].tolist()}); "
                      "replace them with NaN (missing) or a finite value, or allow "
                      "cleaning={'inf_to_missing': True}")


def _model_undropped_ids(columns: list[Column], dropped: dict[str, str]) -> list[Column]:
    """An identifier-like column the user keeps is modelled: as a number when numeric, else as a category."""
    out = []
    for c in columns:
        if c.role == "id" and c.name not in dropped:
            c = Column(c.name, "numeric" if "int" in c.dtype or "float" in c.dtype or c.coerced_from
                       else "categorical", c.dtype, c.coerced_from)
        out.append(c)
    return out


def _duplicate_columns(frame: pd.DataFrame, columns: list[Column], dropped: dict[str, str]) -> dict[str, str]:
    """Columns equal, value for value, to an earlier modelled column (same dtype too: 1 and 1.0 differ)."""
    names = [c.name for c in columns if c.name not in dropped]
    keys = _column_fingerprints(frame, names)
    seen: dict[tuple[int, int], list[str]] = {}
    duplicates = {}
    for name in names:
        twin = next((other for other in seen.get(keys[name], []) if frame[name].equals(frame[other])), None)
        if twin is not None:
            duplicates[name] = f"duplicate of column {twin!r} (equal on every row)"
        else:
            seen.setdefault(keys[name], []).append(name)
    return duplicates


# Fingerprints of rows and columns: each value's 64 bits (a hash for text) times a random odd multiplier, summed
# modulo 2**64, twice. Equal rows (columns) get equal fingerprints; unequal ones share both by chance with odds
# of about 2**-128, and every match is checked value for value before anything is reported.
_MULTIPLIERS = np.random.default_rng(20261202).integers(1, 2**63 - 1, size=(2, 4096), dtype=np.uint64) | np.uint64(1)


def _value_bits(frame: pd.DataFrame, names: list[str]) -> Iterator[tuple[list[str], np.ndarray]]:
    """Blocks of columns as uint64 codes of their values (rows x columns): a number's bits (-0.0 as 0.0, every
    NaN alike), or the hash of any other value."""
    numbers = set(numeric_columns(frame, names))
    for chunk, block in column_blocks(frame, [n for n in names if n in numbers]):
        block = block + 0.0  # -0.0 becomes 0.0
        block[np.isnan(block)] = np.nan
        yield chunk, np.ascontiguousarray(block).view(np.uint64)
    for name in (n for n in names if n not in numbers):
        yield [name], pd.util.hash_pandas_object(frame[name], index=False).to_numpy(dtype=np.uint64)[:, None]


def _multipliers(count: int, offset: int) -> np.ndarray:
    index = (np.arange(count) + offset) % _MULTIPLIERS.shape[1]
    return _MULTIPLIERS[:, index]


def _column_fingerprints(frame: pd.DataFrame, names: list[str]) -> dict[str, tuple[int, int]]:
    out = {}
    rows = _multipliers(len(frame), 0)
    for chunk, bits in _value_bits(frame, names):
        with np.errstate(over="ignore"):
            sums = [(bits * rows[k][:, None]).sum(axis=0, dtype=np.uint64) for k in range(2)]
        out.update({name: (int(sums[0][j]), int(sums[1][j])) for j, name in enumerate(chunk)})
    return out


def _row_fingerprints(frame: pd.DataFrame, extra: list[np.ndarray]) -> np.ndarray:
    """Two uint64 fingerprints per row over every column and the ``extra`` per-row arrays (target, weight)."""
    out = np.zeros((len(frame), 2), dtype=np.uint64)
    offset = 0
    extras = pd.DataFrame({f"extra_{i}": values for i, values in enumerate(extra)})
    parts = [_value_bits(frame, list(frame.columns)), _value_bits(extras, list(extras.columns))]
    for part in parts:
        for chunk, bits in part:
            factors = _multipliers(len(chunk), offset)
            with np.errstate(over="ignore"):
                for k in range(2):
                    out[:, k] += (bits * factors[k][None, :]).sum(axis=1, dtype=np.uint64)
            offset += len(chunk)
    return out


def _unique_rows(frame: pd.DataFrame, target: np.ndarray,
                 weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions of the rows that are not an exact repeat of an earlier row (features, target and weight),
    how many rows each of them stands for, and every row's group of identical rows.

    Rows are compared by fingerprint (a block of columns at a time, so memory stays a small multiple of the
    data), and rows sharing one are compared value for value.
    """
    extra = [np.asarray(target)] + ([] if weights is None else [np.asarray(weights)])
    prints = pd.DataFrame(_row_fingerprints(frame, extra))
    candidates = np.flatnonzero(prints.duplicated(keep=False).to_numpy())
    group = np.arange(len(frame))
    if not len(candidates):  # the common case: no copies, no grouping to compute
        return group, np.ones(len(frame), dtype=int), group
    keyed = frame.iloc[candidates].copy()
    for i, values in enumerate(extra):
        keyed[f"__extra_{i}__"] = values[candidates]
    first = keyed.groupby(list(keyed.columns), dropna=False, sort=False).ngroup().to_numpy()
    group[candidates] = pd.Series(candidates).groupby(first).transform("min").to_numpy()  # first row of each
    kept = np.flatnonzero(group == np.arange(len(frame)))
    _, group = np.unique(group, return_inverse=True)
    return kept, np.bincount(group)[group[kept]], group


def _rare_categories(frame: pd.DataFrame, schema: Schema, min_count: int) -> tuple[dict[str, list[str]], list]:
    kept, lines = {}, []
    for name in schema.by_role("categorical"):
        counts = frame[name].dropna().astype(str).value_counts()
        rare = counts[counts < min_count]
        if rare.empty:
            continue
        kept[name] = sorted(counts[counts >= min_count].index)
        lines.append(_line("rare_category_min_count", name, "merged", int(rare.sum()),
                           f"{len(rare)} categories seen fewer than {min_count} times merged into "
                           f"{RARE_LABEL!r} (e.g. {list(rare.index[:3])})"))
    return kept, lines
