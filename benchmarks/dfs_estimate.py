"""How close the DFS cost estimate that picks the relational plan is to the time DFS then takes, on NAFLD.

For each plan (automl/features/relational.py ``PLANS``): the estimate up to engine 623f368 (the basic plan timed on 100
target rows, scaled by rows and by each plan's number of features), the estimate now (:func:`plan_seconds`: a
fixed cost per call plus a cost per row, from two timed samples) and the measured time on all the training
subjects. Data as in ``benchmarks/synthesis_real.py`` (subjects with labs and events on or before day 0, the
same 75 % of the labelled subjects).

Run: ``python -m benchmarks.dfs_estimate``; prints a markdown table.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from automl.features.relational import PLANS, RelationalFeatures, plan_seconds
from benchmarks.markdown import to_markdown
from benchmarks.synthesis_real import NAFLD_RELATIONSHIPS, nafld_tables

OLD_SAMPLE = 100  # the target rows the old estimate timed


def _seconds(synthesiser: RelationalFeatures, features: list[Any], tables: dict[str, pd.DataFrame],
             rows: Any = None) -> float:
    start = time.perf_counter()
    synthesiser._calculate(features, tables, rows=rows)
    return time.perf_counter() - start


def measure() -> pd.DataFrame:
    """One row per plan: features, old estimate, new estimate, measured seconds on all rows, and the ratios."""
    import featuretools  # noqa: F401 - imported before any timer

    tables = nafld_tables(seed=0)
    synthesiser = RelationalFeatures(target="subjects", relationships=[tuple(r) for r in NAFLD_RELATIONSHIPS])
    synthesiser._learn_layout(tables)
    n_rows = len(tables["subjects"])
    features = {name: synthesiser.define_features(tables, name) for name in PLANS}
    sample = np.sort(np.random.default_rng(0).choice(n_rows, OLD_SAMPLE, replace=False))
    per_feature = (_seconds(synthesiser, features["basic"], tables, sample) * n_rows / OLD_SAMPLE
                   / len(features["basic"]))
    rows = []
    for name, defined in features.items():
        new = plan_seconds(synthesiser, tables, defined)
        actual = _seconds(synthesiser, defined, tables)
        old = per_feature * len(defined)
        rows.append({"plan": name, "features": len(defined), "rows": n_rows, "old estimate_s": old,
                     "new estimate_s": new, "measured_s": actual, "old / measured": old / actual,
                     "new / measured": new / actual})
    return pd.DataFrame(rows)


if __name__ == "__main__":
    print(to_markdown(measure(), formats={c: ".3f" for c in ("old estimate_s", "new estimate_s", "measured_s")}
                      | {"old / measured": ".1f", "new / measured": ".2f"}))
