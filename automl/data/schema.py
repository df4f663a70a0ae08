"""Turn user input into a DataFrame, infer each column's role and the task, and check input at predict time."""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np
import pandas as pd

ROLES = ("numeric", "boolean", "categorical", "datetime", "text", "id")
_ID_NAME = re.compile(r"(^|[_\W])(id|uuid|key)$|^id[_\W]", re.IGNORECASE)
_DATE_HINT = re.compile(r"\d{1,4}[-/:.]\d{1,2}")
# An integer target with at most this many distinct values is read as classes (cmc's 1/2/3), or at most
# MAX_NAMED_CLASSES when its name says it is a class (first-order-theorem-proving's "Class" 1..6), or, whatever
# the count, when the values are few next to the rows (see explain_task). Override with task=.
MAX_INTEGER_CLASSES = 5
MAX_NAMED_CLASSES = 20
_CLASS_NAME = re.compile(r"(^|[_\W])(class|label|category|type|kind|grade)($|[_\W])", re.IGNORECASE)


@dataclass
class Column:
    """What the engine knows of one input column."""

    name: str
    role: str
    dtype: str
    coerced_from: str | None = None


@dataclass
class Schema:
    """The columns a fitted model expects, in order, with their roles.

    ``dropped`` maps a column left out of modelling to the reason (it is still expected at predict time);
    ``kept_categories`` lists, for columns whose rare categories are merged, the categories kept as they are;
    ``levels`` counts the distinct values of each categorical column in training (after that merge).
    """

    columns: list[Column]
    dropped: dict[str, str] = field(default_factory=dict)
    kept_categories: dict[str, list[str]] = field(default_factory=dict)
    levels: dict[str, int] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def by_role(self, *roles: str) -> list[str]:
        """Modelled columns having one of ``roles``, in input order."""
        return [c.name for c in self.columns if c.role in roles and c.name not in self.dropped]

    def only(self, columns: list[str], reason: str) -> "Schema":
        """The same schema with every modelled column outside ``columns`` left out (with ``reason``)."""
        keep = set(columns)
        dropped = dict(self.dropped)
        dropped.update({c.name: reason for c in self.columns if c.name not in keep and c.name not in self.dropped})
        return Schema(columns=self.columns, dropped=dropped, kept_categories=self.kept_categories, levels=self.levels)

    def count_levels(self, frame: pd.DataFrame) -> None:
        """Fill :attr:`levels` from the training ``frame`` (a column whose rare categories merge counts the kept ones
        and the merged one)."""
        self.levels = {name: len(self.kept_categories[name]) + 1 if name in self.kept_categories
                       else int(frame[name].nunique()) for name in self.by_role("categorical")}

    def role_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for c in self.columns:
            if c.name not in self.dropped:
                counts[c.role] = counts.get(c.role, 0) + 1
        return counts


def to_frame(X: Any) -> pd.DataFrame:
    """Return ``X`` as a DataFrame with string column names (``x0, x1, ...`` for arrays).

    Raises
    ------
    TypeError
        For sparse matrices, complex numbers or cells that are not scalars.
    ValueError
        For input that is not two-dimensional.
    """
    if hasattr(X, "to_pandas") and not isinstance(X, pd.DataFrame):  # polars, pyarrow
        X = X.to_pandas()
    if hasattr(X, "toarray") or type(X).__module__.startswith("scipy.sparse"):
        raise TypeError("sparse input is not supported: pass a dense array or a DataFrame (X.toarray()).")
    if isinstance(X, pd.DataFrame):
        frame = X.copy(deep=False)  # columns shared with X: nothing here writes into them, columns are replaced
        if not all(type(c) is str for c in frame.columns):
            frame.columns = [str(c) for c in frame.columns]
    else:
        arr = np.asarray(X) if not isinstance(X, np.ndarray) else X
        if arr.ndim != 2:
            raise ValueError(f"Expected a 2D array (rows x columns), got {arr.ndim}D input with shape {arr.shape}. "
                             "Reshape your data: array.reshape(-1, 1) for a single feature, "
                             "array.reshape(1, -1) for a single sample.")
        frame = pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])
    if frame.columns.duplicated().any():
        dup = frame.columns[frame.columns.duplicated()].tolist()
        raise ValueError(f"column names must be unique; repeated: {dup}. Rename them before fitting.")
    dtypes = list(zip(frame.columns, frame.dtypes))
    for name, dtype in dtypes:
        if complex_numbers(dtype):
            raise ValueError(f"Complex data not supported: column {name!r} holds complex numbers; "
                             "split it into real and imaginary parts.")
    objects = [name for name, dtype in dtypes if dtype == object]
    # a few rows: every object cell checked in one pass, not a Series and its distinct values per column (on one
    # row of 30 object columns that was most of predict's time); a column is looked at alone only to name a problem
    if objects and len(frame) <= _ONE_PASS_ROWS and not any(map(_not_scalar, cells(frame, objects).ravel())):
        objects = []
    for name in objects:
        _check_scalar_cells(name, frame[name])
    return frame


_ONE_PASS_ROWS = 1024


def complex_numbers(dtype: Any) -> bool:
    """Whether a column of this dtype holds complex numbers: a NumPy dtype answers by its kind, without pandas'
    ``is_complex_dtype`` (called per column on every predict: 0.08 ms on one row of 216 columns)."""
    return dtype.kind == "c" if isinstance(dtype, np.dtype) else pd.api.types.is_complex_dtype(dtype)


def plain_numbers(dtype: Any) -> bool:
    """Whether a numeric column of this dtype is read as it is (numbers, not booleans).

    A NumPy dtype answers by its kind (integers, unsigned, floats, complex: what pandas' ``is_numeric_dtype`` takes
    but for booleans), without pandas' checks: on one row of a table of 216 numbers those took 0.2 ms per pass."""
    if isinstance(dtype, np.dtype):
        return dtype.kind in "iufc"
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def cells(frame: pd.DataFrame, names: list[str], dtype: Any = object) -> np.ndarray:
    """The values of the columns ``names`` of ``frame`` (unique column names) as one array of ``dtype``. A batch of
    up to 1,024 rows is read whole and the columns picked by position: selecting columns first makes a new frame,
    ten times the cost on one row. ``float`` reads numbers of numpy dtypes only (no ``pd.NA``)."""
    if len(frame) > _ONE_PASS_ROWS:
        return frame[names].to_numpy(dtype=dtype)
    position = {name: i for i, name in enumerate(frame.columns.tolist())}
    values = frame.to_numpy(dtype=object)[:, [position[name] for name in names]]
    return values if dtype is object else values.astype(dtype)


def _not_scalar(value: Any) -> bool:
    return not (value is None or isinstance(value, (str, bytes, int, float, bool, np.generic, pd.Timestamp))
                or value is pd.NA)


def _check_scalar_cells(name: str, col: pd.Series) -> None:
    try:  # the distinct values are few next to the rows: check those (unhashable cells are not scalars anyway)
        if not any(_not_scalar(v) for v in pd.unique(col.to_numpy())):
            return
    except TypeError:
        pass
    bad = col.map(_not_scalar)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        value = col.iloc[row]
        if isinstance(value, complex):
            raise ValueError(f"Complex data not supported: column {name!r} holds a complex number at row {row}.")
        raise TypeError(f"column {name!r} holds a {type(value).__name__} at row {row}: the argument must be a "
                        "string or a number in every cell. Flatten or drop that column.")


def infer_schema(frame: pd.DataFrame) -> tuple[Schema, pd.DataFrame]:
    """Infer every column's role; return the schema and the frame with numeric strings coerced.

    Columns with no information (all missing, constant) and identifier-like columns are recorded in
    ``Schema.dropped`` with the reason; they are not modelled.
    """
    columns, frame = infer_roles(frame)
    schema = Schema(columns=columns, dropped=find_uninformative(frame, columns))
    schema.count_levels(frame)
    return schema, frame


def infer_roles(frame: pd.DataFrame, coerce_numeric_strings: bool = True) -> tuple[list[Column], pd.DataFrame]:
    """Each column's role; numeric strings become numbers unless ``coerce_numeric_strings`` is False.

    Columns already numeric are judged together, a block of columns at a time (thousands of columns take a
    fraction of a second); the frame returned shares every column it did not change with ``frame``.
    """
    dtypes = frame.dtypes
    id_like = integer_id_flags(frame, numeric_columns(frame))
    columns, out = [], frame.copy(deep=False)
    for name in frame.columns:
        if name in id_like:  # a number column: its dtype says enough, no Series needed
            columns.append(Column(name=name, role="id" if id_like[name] else "numeric", dtype=str(dtypes[name])))
            continue
        col = frame[name]
        role, coerced = _infer_role(name, col)
        if coerced is not None and role in ("numeric", "id") and not coerce_numeric_strings:
            role, coerced = ("id" if role == "id" else "categorical"), None
        if coerced is not None:
            out[name] = coerced
        columns.append(Column(name=name, role=role, dtype=str(col.dtype),
                              coerced_from=str(col.dtype) if coerced is not None else None))
    return columns, out


def numeric_columns(frame: pd.DataFrame, names: list[str] | None = None) -> list[str]:
    """The columns (of ``names``, default all) whose dtype is a number (booleans are not numbers here)."""
    dtypes = frame.dtypes
    kinds = {d: plain_numbers(d) for d in set(dtypes)}
    wanted = set(frame.columns if names is None else names)
    return [n for n, d in dtypes.items() if kinds[d] and n in wanted]


# Numeric columns judged at once: at most this many values (rows x columns) in one float block.
BLOCK_VALUES = 20_000_000


def column_blocks(frame: pd.DataFrame, names: list[str]) -> Iterator[tuple[list[str], np.ndarray]]:
    """The numeric columns ``names`` as float blocks (rows x columns) of bounded size, one block at a time.

    A block may share memory with ``frame`` (the user's data): it is read-only.
    """
    width = max(1, BLOCK_VALUES // max(len(frame), 1))
    position = {name: i for i, name in enumerate(frame.columns)}
    for start in range(0, len(names), width):
        chunk = list(names[start:start + width])
        first, last = position[chunk[0]], position[chunk[-1]]
        # adjacent columns are sliced (a view of a frame of one dtype), others gathered (a copy)
        part = frame.iloc[:, first:last + 1] if last - first + 1 == len(chunk) else frame[chunk]
        block = np.asarray(part.to_numpy(dtype=float, na_value=np.nan), dtype=float)
        block.flags.writeable = False
        yield chunk, block


def integer_id_flags(frame: pd.DataFrame, names: list[str]) -> dict[str, bool]:
    """For numeric columns: whether each looks like an integer identifier (every value a distinct whole number,
    none missing, at least 20 rows, and named like an id or counting up by one)."""
    flags = {name: False for name in names}
    if len(frame) < 20:
        return flags
    head = frame.iloc[:1000]  # most columns are ruled out by their first rows: only the others are read whole
    with np.errstate(invalid="ignore"):
        names = [name for chunk, block in column_blocks(head, names)
                 for name, whole in zip(chunk, (np.mod(block, 1) == 0).all(axis=0)) if whole]
    for chunk, block in column_blocks(frame, names):
        with np.errstate(invalid="ignore"):
            candidate = ~np.isnan(block).any(axis=0) & (np.mod(block, 1) == 0).all(axis=0)
        if not candidate.any():
            continue
        steps = np.diff(np.sort(block[:, candidate], axis=0), axis=0)
        distinct, counting = (steps != 0).all(axis=0), (steps == 1).all(axis=0)
        for name, is_distinct, counts_up in zip(np.asarray(chunk)[candidate], distinct, counting):
            flags[name] = bool(is_distinct and (counts_up or _ID_NAME.search(name)))
    return flags


UNINFORMATIVE = ("all_missing", "constant", "id_like")


def find_uninformative(frame: pd.DataFrame, columns: list[Column],
                       kinds: tuple[str, ...] = UNINFORMATIVE) -> dict[str, str]:
    """Columns to leave out (all missing, constant, identifier-like: those of ``kinds``), with the reason."""
    numeric = numeric_columns(frame, [c.name for c in columns if c.role == "numeric"])
    varying: set[str] = set()  # numeric columns that vary, judged a block at a time; only the rest is looked at alone
    for chunk, block in column_blocks(frame, numeric):
        missing = np.isnan(block)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-missing columns: nanmax of nothing
            spread = np.nanmax(block, axis=0) > np.nanmin(block, axis=0)
        varying.update(np.asarray(chunk)[spread | (missing.any(axis=0) & ~missing.all(axis=0))])
    dropped = {}
    for column in columns:
        if column.name in varying:
            continue
        found = _uninformative(frame[column.name], column.role)
        if found and found[0] in kinds:
            dropped[column.name] = found[1]
    return dropped


def _uninformative(col: pd.Series, role: str) -> tuple[str, str] | None:
    if col.isna().all():
        return "all_missing", "all values missing"
    if col.nunique(dropna=False) <= 1:
        value = col.dropna().iloc[0]
        return "constant", f"constant (every value is {value.item() if isinstance(value, np.generic) else value!r})"
    if role == "id":
        return "id_like", "identifier-like (a distinct value on every row)"
    return None


def _infer_role(name: str, col: pd.Series) -> tuple[str, pd.Series | None]:
    dtype = col.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean", None
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime", None
    if isinstance(dtype, pd.CategoricalDtype):
        return "categorical", None
    if pd.api.types.is_numeric_dtype(dtype):
        return ("id" if _looks_like_integer_id(name, col) else "numeric"), None
    # every test reads the distinct values (with their counts), not every row: text columns repeat their values
    counts = col.value_counts(dropna=True, sort=False)
    if counts.empty:
        return "categorical", None
    distinct = pd.Series(counts.index, dtype=object)
    if distinct.map(lambda v: isinstance(v, (bool, np.bool_))).all():
        return "boolean", col.astype("boolean")
    if pd.to_numeric(distinct, errors="coerce").notna().all():
        coerced = pd.to_numeric(col, errors="coerce")
        return ("id" if _looks_like_integer_id(name, coerced) else "numeric"), coerced
    as_text = distinct.astype(str)
    if _looks_like_dates(as_text):
        return "datetime", pd.to_datetime(col.astype("string"), errors="coerce", format="mixed")
    rows = int(counts.sum())
    unique_ratio = len(counts) / rows
    words = float(np.dot(as_text.str.count(r"\s+").to_numpy() + 1, counts.to_numpy()) / rows)  # mean over rows
    if unique_ratio > 0.5 and words >= 3:
        return "text", None
    if unique_ratio == 1.0 and rows >= 20:
        return "id", None
    return "categorical", None


def _looks_like_integer_id(name: str, col: pd.Series) -> bool:
    values = col.dropna()
    if len(values) < 20 or values.nunique() != len(col):
        return False
    if not (pd.api.types.is_integer_dtype(values.dtype) or bool(np.all(np.mod(values, 1) == 0))):
        return False
    step = np.diff(np.sort(values.to_numpy(dtype=float)))
    return bool(_ID_NAME.search(name)) or bool(np.all(step == 1))


def _looks_like_dates(values: pd.Series) -> bool:
    sample = values.iloc[:200]
    if not sample.str.contains(_DATE_HINT).mean() > 0.9:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
    return bool(parsed.notna().mean() > 0.95)


# AutoGluon's rule for whole-number targets: classes when there are at most MULTICLASS_UPPER_LIMIT distinct values
# and they are few next to the rows (at most 5 % of the rows from LARGE_DATA_ROWS rows, 10 % below). A table of a few
# thousand rows with labels 0..9 is multiclass.
MULTICLASS_UPPER_LIMIT = 1000
LARGE_DATA_ROWS = 1000
DISTINCT_SHARE_LARGE, DISTINCT_SHARE_SMALL = 0.05, 0.1


def infer_task(y: pd.Series) -> str:
    """``"binary"``, ``"multiclass"`` or ``"regression"`` from the target's values (see :func:`explain_task`)."""
    return explain_task(y)[0]


def explain_task(y: pd.Series) -> tuple[str, str]:
    """The task inferred from the target's values, and why.

    Strings, booleans and categories are classes. Numbers are a quantity unless they are whole numbers and
    either few next to the rows (AutoGluon's rule: at most 1,000 distinct values, at most 5 % of the rows, 10 %
    below 1,000 rows), or at most ``MAX_INTEGER_CLASSES`` distinct values, or at most ``MAX_NAMED_CLASSES`` when
    the target's name says it is a class (``class``, ``label``, ``category``, ``type``...).
    """
    values = y.dropna()
    n_unique, rows = int(values.nunique()), max(len(values), 1)
    kind = "binary" if n_unique <= 2 else "multiclass"
    if not plain_numbers(values.dtype):
        boolean = pd.api.types.is_bool_dtype(values.dtype)
        return kind, f"{n_unique} distinct {'boolean values' if boolean else 'labels'}"
    integral = bool(np.all(np.mod(values.to_numpy(dtype=float), 1) == 0))
    if not integral:
        return "regression", "numbers that are not all whole"
    share = DISTINCT_SHARE_LARGE if rows >= LARGE_DATA_ROWS else DISTINCT_SHARE_SMALL
    named = bool(_CLASS_NAME.search(str(y.name or "")))
    if n_unique <= MAX_INTEGER_CLASSES:
        return kind, f"{n_unique} distinct whole numbers (at most {MAX_INTEGER_CLASSES})"
    if named and n_unique <= MAX_NAMED_CLASSES:
        return kind, f"{n_unique} distinct whole numbers in a column named like a class ({y.name!r})"
    if n_unique <= MULTICLASS_UPPER_LIMIT and n_unique / rows <= share:
        return kind, (f"{n_unique} distinct whole numbers in {rows} rows ({100 * n_unique / rows:.2g} % of the rows, "
                      f"at most {share:.0%})")
    return "regression", (f"{n_unique} distinct whole numbers in {rows} rows: too many to be classes "
                          f"(more than {share:.0%} of the rows, or more than {MULTICLASS_UPPER_LIMIT})")
