"""Where one family's default trial ranks among every family's on the training collection, and at what cost.

The portfolio measurement (:mod:`benchmarks.portfolio`) cross-validated each family's default trial on the 36 flat
tables of the training collection (``portfolio_candidates.csv``: the seed-0 training rows, at most 2,000 of them,
3 folds, through the engine). A family declared after it (the torch network) has no row there. This script measures
such a family the same way and ranks it against the others' defaults on each table: whether the search should try it
sooner than it does (a family's place in the first and second moves is a question of score per second).

Usage::

    python -m benchmarks.family_rank --family torch_mlp [--datasets a,b]

Writes ``benchmarks/results/family_rank_<family>_extra.csv`` (one row per table) and ``.md``. The test rows are never
read.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.datasets import datasets_dir, load_manifest, select, training_rows
from benchmarks.markdown import to_markdown
from benchmarks.portfolio import RESULTS, TABULAR_TASKS, read_results

CANDIDATES_CSV = RESULTS / "portfolio_candidates.csv"
MAX_ROWS, SEED, FOLDS = 2000, 0, 3  # the portfolio measurement's settings, so the two compare


def measure(meta: dict[str, Any], root: Path, family: str) -> dict[str, Any]:
    """Cross-validated score and seconds of ``family``'s default trial on one table, as the portfolio measured
    the others'."""
    from automl import AutoML

    train = training_rows(meta, root, SEED, MAX_ROWS)
    X, y = train.drop(columns=[meta["target"]]), train[meta["target"]]
    model = AutoML(time_budget=None, task=meta["task"], search="defaults", families=[family], portfolio=None,
                   cv=FOLDS, max_trials=1, class_weight=None, ensemble=False, random_state=SEED, n_jobs=2)
    model.fit(X, y)
    trial = model.study_.trials[0]
    return {"dataset": meta["name"], "task": meta["task"], "rows": len(train), "columns": X.shape[1],
            "numeric_share": float(np.mean([X[c].dtype.kind in "biuf" for c in X.columns])),
            "score": trial.value, "seconds": trial.user_attrs.get("duration")}


def error(score: Any, greater_is_better: bool) -> Any:
    """The score (a number or a Series) on an error scale, lower is better: ``1 - score`` for a metric
    maximised up to 1."""
    return 1.0 - score if greater_is_better else score


def rank(measured: pd.DataFrame, candidates: pd.DataFrame, family: str) -> pd.DataFrame:
    """Each table ``family`` was measured on with its rank among the other families' default trials in
    ``candidates`` (1: the best), the best other family, how far behind it the family is (% of the best's error;
    negative: ahead) and the ratio of their seconds."""
    defaults = candidates[candidates["config"].str.endswith("_defaults") & (candidates["status"] == "ok")
                          & (candidates["family"] != family)]
    rows = []
    for _, own in measured.dropna(subset=["score"]).iterrows():
        others = defaults[defaults["dataset"] == own["dataset"]]
        if others.empty:
            continue
        greater = bool(others["greater_is_better"].iloc[0])
        errors = error(others["score"], greater)
        best = errors.idxmin()
        mine = error(own["score"], greater)
        rows.append({**own.to_dict(), "metric": others["metric"].iloc[0], "rank": 1 + int((errors < mine).sum()),
                     "families": len(others) + 1, "best_other": others.loc[best, "family"],
                     "best_other_score": others.loc[best, "score"],
                     "behind_pct": 100.0 * (mine - errors[best]) / abs(errors[best]),
                     "seconds_ratio": own["seconds"] / others.loc[best, "duration_s"]})
    return pd.DataFrame(rows)


def report(table: pd.DataFrame, family: str) -> str:
    """The ranks, table by table, and their summary."""
    lines = [f"# {family}: its default trial against every family's on the training collection", "",
             f"`python -m benchmarks.family_rank --family {family}`. The seed-0 training rows of each flat table of the "
             f"extra collection, at most {MAX_ROWS:,}, {FOLDS}-fold cross-validation through the engine, as "
             "`portfolio_candidates.csv` measured the other families' defaults (behind: % of the best other "
             "default's error, `1 - AUC` for binary tables; negative = ahead).", ""]
    if table.empty:
        return "\n".join(lines + ["No table measured."]) + "\n"
    shown = table.sort_values(["task", "behind_pct"])[
        ["dataset", "task", "rows", "columns", "numeric_share", "rank", "families", "best_other", "behind_pct",
         "seconds", "seconds_ratio"]]
    lines += [to_markdown(shown, {"numeric_share": ".2f", "behind_pct": "+.2f", "seconds": ".1f",
                                  "seconds_ratio": ".1f"}), ""]
    lines += ["| tables | best | within 1 % | median behind % | median seconds | median seconds / best other's |",
              "|---|---|---|---|---|---|",
              f"| {len(table)} | {int((table['rank'] == 1).sum())} | {int((table['behind_pct'] <= 1.0).sum())} | "
              f"{table['behind_pct'].median():+.1f} | {table['seconds'].median():.1f} | "
              f"{table['seconds_ratio'].median():.1f} |"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", required=True, help="a family declared in configs/families.yaml")
    parser.add_argument("--datasets", default=None, help="comma-separated names (default: every flat table)")
    args = parser.parse_args(argv)
    root = datasets_dir("extra")
    metas = [m for m in load_manifest(root) if m.get("task") in TABULAR_TASKS]
    if args.datasets:
        metas = select(metas, args.datasets.split(","))
    measured = []
    for meta in metas:
        start = time.monotonic()
        measured.append(measure(meta, root, args.family))
        print(f"{meta['name']}: {time.monotonic() - start:.0f}s", file=sys.stderr, flush=True)
    table = rank(pd.DataFrame(measured), read_results(CANDIDATES_CSV), args.family)
    stem = RESULTS / f"family_rank_{args.family}_extra"
    table.to_csv(stem.with_suffix(".csv"), index=False)
    stem.with_suffix(".md").write_text(report(table, args.family))
    print(f"wrote {stem}.csv and .md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
