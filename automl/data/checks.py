"""Validation rules: built-in ones, declarative ones from a YAML file, and user callables.

A rule looks at the data and returns problems. Rules of severity ``"error"`` stop ``fit`` (and make
``automl validate`` exit non-zero); ``"warn"`` rules are reported only. A YAML rule file reads::

    rules:
      - {column: age, range: {min: 0, max: 120}, severity: error}
      - {column: purpose, allowed: [car, furniture, education]}
      - {column: customer_id, unique: true}
      - {column: email, regex: "[^@]+@[^@]+", severity: warn}     # the whole value must match
      - {column: income, not_null: true}
      - {column: duration, dtype: integer}                        # numeric, integer, boolean, datetime
    min_rows: 100                                                 # optional

A callable rule takes the frame (features, plus the target as a column named like ``y``, ``"target"``
when ``y`` has no name) and returns a list of problems: strings, or dicts with ``message`` and
optionally ``rows`` (a count) and ``column``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

SEVERITIES = ("warn", "error")
# Fewer rows than this fit, but every score is noise: a warning says so.
FEW_ROWS = 30
_KINDS = ("range", "allowed", "not_null", "unique", "regex", "dtype")


@dataclass
class Problem:
    """One thing a rule found wrong with the data."""

    message: str
    rows: int = 0
    column: str | None = None


@dataclass
class Rule:
    """A named check of the data.

    Parameters
    ----------
    name : str
        Shown in the report and in the error message.
    check : callable
        ``check(frame) -> list`` of problems (``Problem``, str, or dict with ``message`` / ``rows`` / ``column``).
    severity : {"warn", "error"}, default="error"
    column : str, optional
        The column the rule is about (shown in the report).
    """

    name: str
    check: Callable[[pd.DataFrame], list]
    severity: str = "error"
    column: str | None = None

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"rule {self.name!r}: severity must be one of {SEVERITIES}, got {self.severity!r}")


class DataValidationError(ValueError):
    """Raised by ``fit`` when a rule of severity ``"error"`` fails; ``report`` holds every rule's result."""

    def __init__(self, message: str, report: pd.DataFrame):
        super().__init__(message)
        self.report = report


def builtin_rules(target_name: str | None) -> list[Rule]:
    """Rules every fit runs: row count, schema, no infinite values, target present and not constant."""
    rules = [Rule("row count", _check_rows), Rule("few rows", _check_few_rows, "warn"),
             Rule("schema", _check_schema), Rule("no infinite values", _check_infinite, "warn")]
    if target_name is not None:
        rules += [Rule("target present", _target_check(target_name, _target_missing), column=target_name),
                  Rule("target not constant", _target_check(target_name, _target_constant), column=target_name)]
    return rules


def load_rules(checks: Any) -> list[Rule]:
    """User rules from ``checks``: a YAML file path, a list of :class:`Rule`, callables or rule dicts, or None."""
    if checks is None:
        return []
    if isinstance(checks, (str, Path)):
        return _rules_from_yaml(Path(checks))
    if isinstance(checks, (Rule, dict)) or callable(checks):
        checks = [checks]
    if not isinstance(checks, (list, tuple)):
        raise TypeError(f"checks must be a YAML file path, a list of rules or callables, or None; got "
                        f"{type(checks).__name__}")
    return [_as_rule(item, i) for i, item in enumerate(checks)]


def _as_rule(item: Any, position: int) -> Rule:
    if isinstance(item, Rule):
        return item
    if isinstance(item, dict):
        return declarative_rule(item)
    if callable(item):
        return Rule(getattr(item, "__name__", f"rule {position}"), item)
    raise TypeError(f"checks[{position}] is a {type(item).__name__}: give a Rule, a callable or a rule dict")


def _rules_from_yaml(path: Path) -> list[Rule]:
    import yaml

    if not path.is_file():
        raise ValueError(f"checks file {str(path)!r} does not exist")
    spec = yaml.safe_load(path.read_text()) or {}
    if not isinstance(spec, dict) or not isinstance(spec.get("rules", []), list):
        raise ValueError(f"{path}: expected a mapping with a 'rules' list, see automl.data.checks")
    rules = [declarative_rule(entry, source=f"{path.name}: rule {i + 1}") for i, entry in enumerate(spec["rules"])]
    if "min_rows" in spec:
        minimum = int(spec["min_rows"])
        rules.append(Rule(f"at least {minimum} rows", lambda frame: _min_rows(frame, minimum)))
    return rules


def declarative_rule(spec: dict[str, Any], source: str = "rule") -> Rule:
    """A :class:`Rule` from a dict such as ``{"column": "age", "range": {"min": 0, "max": 120}}``."""
    if not isinstance(spec, dict) or "column" not in spec:
        raise ValueError(f"{source}: a rule needs a 'column' and one of {_KINDS}, got {spec!r}")
    kinds = [k for k in _KINDS if k in spec]
    unknown = set(spec) - set(_KINDS) - {"column", "severity", "name"}
    if len(kinds) != 1 or unknown:
        raise ValueError(f"{source}: give exactly one of {_KINDS} (got {kinds}); unknown keys: {sorted(unknown)}")
    column, kind, arg = str(spec["column"]), kinds[0], spec[kinds[0]]
    bad_rows = _declarative_check(kind, arg, source)
    name = spec.get("name") or f"{column}: {kind}"
    return Rule(name, lambda frame: _column_problems(frame, column, kind, arg, bad_rows),
                spec.get("severity", "error"), column)


def _declarative_check(kind: str, arg: Any, source: str) -> Callable[[pd.Series], pd.Series]:
    """The function that marks the bad rows of a column for one rule kind (missing values pass, but not_null)."""
    if kind == "range":
        if not isinstance(arg, dict) or not set(arg) <= {"min", "max"} or not arg:
            raise ValueError(f"{source}: range takes {{min: ..., max: ...}}, got {arg!r}")
        low, high = arg.get("min", -np.inf), arg.get("max", np.inf)
        return lambda col: (lambda v: (v < low) | (v > high))(pd.to_numeric(col, errors="coerce"))
    if kind == "allowed":
        allowed = {str(a) for a in arg}
        return lambda col: col.notna() & ~col.astype(str).isin(allowed)
    if kind == "not_null":
        return lambda col: col.isna() if arg else pd.Series(False, index=col.index)
    if kind == "unique":
        return lambda col: col.notna() & col.duplicated(keep=False) if arg else pd.Series(False, index=col.index)
    if kind == "regex":
        pattern = re.compile(str(arg))
        return lambda col: col.notna() & ~col.astype(str).map(lambda v: bool(pattern.fullmatch(v)))
    return _dtype_check(str(arg), source)


def _dtype_check(dtype: str, source: str) -> Callable[[pd.Series], pd.Series]:
    def not_numeric(col: pd.Series) -> pd.Series:
        return col.notna() & pd.to_numeric(col, errors="coerce").isna()

    if dtype == "numeric":
        return not_numeric
    if dtype == "integer":
        return lambda col: not_numeric(col) | (pd.to_numeric(col, errors="coerce") % 1 > 0)
    if dtype == "boolean":
        truth = {"true", "false", "1", "0", "1.0", "0.0", "yes", "no"}
        return lambda col: col.notna() & ~col.astype(str).str.lower().isin(truth)
    if dtype == "datetime":
        return lambda col: col.notna() & pd.to_datetime(col, errors="coerce", format="mixed").isna()
    raise ValueError(f"{source}: dtype must be numeric, integer, boolean or datetime, got {dtype!r}")


def _column_problems(frame: pd.DataFrame, column: str, kind: str, arg: Any,
                     bad_rows: Callable[[pd.Series], pd.Series]) -> list[Problem]:
    if column not in frame.columns:
        return [Problem(f"column {column!r} is not in the data (columns: {list(frame.columns)[:10]}...)",
                        column=column)]
    bad = bad_rows(frame[column]).to_numpy(dtype=bool)
    if not bad.any():
        return []
    rows = np.flatnonzero(bad)
    return [Problem(f"{len(rows)} rows fail {kind}={arg!r} (first rows: {rows[:5].tolist()}, values: "
                    f"{frame[column].iloc[rows[:3]].tolist()})", rows=len(rows), column=column)]


def run_rules(frame: pd.DataFrame, rules: list[Rule]) -> pd.DataFrame:
    """Run every rule; one report row per rule (or per problem): rule, column, severity, passed, rows, message.

    A rule that raises is reported as failed with the exception, so one broken rule does not hide the others.
    """
    rows = []
    for rule in rules:
        try:
            problems = [_as_problem(p, rule) for p in (rule.check(frame) or [])]
        except Exception as exc:  # a user's rule may fail in any way: report it, go on
            problems = [Problem(f"the rule raised {type(exc).__name__}: {exc}", column=rule.column)]
        if not problems:
            rows.append({"rule": rule.name, "column": rule.column, "severity": rule.severity, "passed": True,
                         "rows_affected": 0, "message": ""})
        for p in problems:
            rows.append({"rule": rule.name, "column": p.column or rule.column, "severity": rule.severity,
                         "passed": False, "rows_affected": int(p.rows), "message": p.message})
    return pd.DataFrame(rows, columns=["rule", "column", "severity", "passed", "rows_affected", "message"])


def _as_problem(item: Any, rule: Rule) -> Problem:
    if isinstance(item, Problem):
        return item
    if isinstance(item, str):
        return Problem(item)
    if isinstance(item, dict) and "message" in item:
        return Problem(str(item["message"]), int(item.get("rows", 0)), item.get("column"))
    raise TypeError(f"rule {rule.name!r} returned {item!r}: return strings or dicts with a 'message'")


def validate(X: pd.DataFrame, y: Any, checks: Any) -> pd.DataFrame:
    """The built-in rules and those of ``checks`` (see :func:`load_rules`) on the features plus the target;
    the report of :func:`run_rules`."""
    frame, target_name = frame_with_target(X, y)
    return run_rules(frame, builtin_rules(target_name) + load_rules(checks))


def raise_on_errors(report: pd.DataFrame) -> None:
    """Raise :class:`DataValidationError` listing every failed rule of severity ``"error"``."""
    failed = report[(~report["passed"]) & (report["severity"] == "error")]
    if failed.empty:
        return
    lines = [f"  - {r.rule}" + (f" (column {r.column!r})" if r.column else "") + f": {r.message}"
             for r in failed.itertuples()]
    raise DataValidationError(f"data validation failed: {len(failed)} problem(s) of severity error; fix the data "
                              "or the rule:\n" + "\n".join(lines), report)


def frame_with_target(X: pd.DataFrame, y: Any) -> tuple[pd.DataFrame, str | None]:
    """The features with the target added as a column (named like ``y``; ``"target"`` without a name)."""
    if y is None:
        return X, None
    name = str(getattr(y, "name", None) or "target")
    if name in X.columns:
        name = f"{name}__target"
    frame = X.copy(deep=False)  # the target is added to this frame only; the features are shared, not copied
    values = np.asarray(y.iloc[:, 0] if isinstance(y, pd.DataFrame) else y).ravel()
    if len(values) != len(X):
        return X, None  # the schema rule reports the mismatch
    frame[name] = values
    return frame, name


def _check_rows(frame: pd.DataFrame) -> list[Problem]:
    return _min_rows(frame, 2)


def _min_rows(frame: pd.DataFrame, minimum: int) -> list[Problem]:
    if len(frame) < minimum:
        return [Problem(f"{len(frame)} rows, at least {minimum} are needed")]
    return []


def _check_few_rows(frame: pd.DataFrame) -> list[Problem]:
    if 2 <= len(frame) < FEW_ROWS:
        return [Problem(f"only {len(frame)} rows: validation scores will be very noisy")]
    return []


def _check_schema(frame: pd.DataFrame) -> list[Problem]:
    if frame.shape[1] == 0:
        return [Problem("the data has no columns")]
    repeated = frame.columns[frame.columns.duplicated()].tolist()
    return [Problem(f"column names repeat: {repeated}; rename them")] if repeated else []


def _check_infinite(frame: pd.DataFrame) -> list[Problem]:
    from automl.data.schema import column_blocks, numeric_columns

    problems = []
    for chunk, block in column_blocks(frame, numeric_columns(frame)):
        for name, count in zip(chunk, np.isinf(block).sum(axis=0)):
            if count:
                problems.append(Problem(f"{int(count)} infinite values (cleaning turns them into missing values)",
                                        rows=int(count), column=name))
    return problems


def _target_check(name: str, check: Callable[[pd.Series], list[Problem]]) -> Callable[[pd.DataFrame], list]:
    return lambda frame: check(frame[name]) if name in frame.columns else [Problem("no target column")]


def _target_missing(y: pd.Series) -> list[Problem]:
    missing = y.isna().to_numpy()
    if missing.any():
        rows = np.flatnonzero(missing)
        return [Problem(f"y is missing on {len(rows)} rows (first: {rows[:5].tolist()}); drop those rows or "
                        "fill the target", rows=len(rows))]
    return []


def _target_constant(y: pd.Series) -> list[Problem]:
    values = y.dropna()
    if values.nunique() == 1:
        return [Problem(f"y is constant: only 1 class or value ({values.iloc[0]!r}), there is nothing to learn",
                        rows=len(values))]
    return []
