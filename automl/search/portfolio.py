"""The portfolio: configurations tried after each family's defaults and before any tuning.

Each entry names a family and values for some of its tunable parameters (the others keep the library's
defaults). The built-in portfolio is ``configs/portfolio.yaml``, chosen by ``benchmarks/portfolio.py`` from
measurements on the training collection (not the suite the benchmark reports on); a user may pass their own
entries, or none.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from automl.models.registry import ModelFamily, all_families, config_path
from automl.search.space import in_domain, param_name

DEFAULT = "default"
#: The user attribute marking a trial enqueued from a portfolio entry (not a family's default).
ENTRY = "portfolio_entry"


def load_portfolio(portfolio: Any) -> list[dict[str, Any]]:
    """The portfolio entries ``{"family": name, "params": {...}, "preprocess": {...}}``.

    Parameters
    ----------
    portfolio : "default", None, path or list of dict
        ``"default"``: the built-in ``configs/portfolio.yaml``; ``None``: no entries (family defaults only);
        a path to a YAML file holding a list of entries; or the list itself.
    """
    if portfolio is None:
        return []
    if isinstance(portfolio, str) and portfolio == DEFAULT:
        return list(_read(str(config_path("portfolio.yaml"))))
    if isinstance(portfolio, (str, Path)):
        if not Path(portfolio).is_file():
            raise ValueError(f"portfolio {str(portfolio)!r} is not a file: give 'default' (the built-in portfolio), "
                             "None (each family's defaults only), a YAML file or a list of {family, params} entries")
        return list(_read(str(portfolio)))
    return list(portfolio)


@lru_cache(maxsize=8)
def _read(path: str) -> tuple[dict[str, Any], ...]:
    entries = yaml.safe_load(Path(path).read_text()) or []
    if not isinstance(entries, list):
        raise ValueError(f"{path} must hold a list of portfolio entries (family, params), got {type(entries).__name__}")
    return tuple(entries)


def portfolio_points(entries: list[dict[str, Any]], families: list[ModelFamily], task: str) -> list[dict[str, Any]]:
    """The entries of families in use as points to enqueue (``{"family": ..., "<family>.<param>": value}``).

    Entries of declared families that are not searched (or have no estimator for ``task``) are left out;
    parameters that apply to another task (``C`` for regression) are dropped from the entry.

    Raises
    ------
    ValueError
        For an entry without a family, with a family that is neither searched nor declared in
        ``configs/families.yaml``, with a parameter the family does not declare, or with a value outside
        its declared range.
    """
    by_name = {f.name: f for f in families}
    known = set(by_name) | set(all_families())
    points = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or "family" not in entry:
            raise ValueError(f"portfolio entry {i} needs a 'family' and 'params', got {entry!r}")
        if entry["family"] not in known:
            raise ValueError(f"portfolio entry {i}: unknown family {entry['family']!r}; known: {sorted(known)}")
        family = by_name.get(entry["family"])
        if family is None or not family.supports(task):
            continue
        point: dict[str, Any] = {"family": family.name}
        point.update(_checked(family, task, i, entry.get("params") or {}, family.space, family.space_for(task), ""))
        point.update(_checked(family, task, i, entry.get("preprocess") or {}, family.preprocess, family.preprocess,
                              "preprocess."))
        points.append(point)
    return points


def _checked(family: ModelFamily, task: str, index: int, values: dict[str, Any], declared: dict[str, Any],
             applicable: dict[str, Any], prefix: str) -> dict[str, Any]:
    out = {}
    for name, value in values.items():
        if name not in declared:
            raise ValueError(f"portfolio entry {index} ({family.name}): {prefix}{name} is not in the family's "
                             f"declared space ({sorted(declared)}); declare it in configs/families.yaml first")
        if name not in applicable:
            continue  # a parameter of the other task
        if not in_domain(value, applicable[name]):
            raise ValueError(f"portfolio entry {index} ({family.name}): {prefix}{name}={value!r} is outside "
                             f"its declared range {applicable[name]}")
        out[param_name(family, f"{prefix}{name}")] = value
    return out


def behind_best(family_best: float, best: float, greater_is_better: bool) -> float | None:
    """How far ``family_best`` is behind ``best``, as a share of ``best``'s error (``0.1``: 10 % more error).

    The error is the score itself for a metric that is minimised (RMSE, log loss), ``1 - score`` for one that is
    maximised up to 1 (ROC AUC, accuracy, R²), so a gap reads alike across metrics (ROC AUC 0.90 against 0.91 is
    11 % behind). ``None`` where the scale is unknown: a negative error (a scorer's negated loss) or a score above 1
    for a maximised metric.
    """
    errors = [1.0 - s for s in (family_best, best)] if greater_is_better else [family_best, best]
    if not all(np.isfinite(errors)) or min(errors) < 0:
        return None
    family_error, best_error = errors
    if best_error == 0:
        return 0.0 if family_error == 0 else float("inf")
    return max(family_error - best_error, 0.0) / best_error
