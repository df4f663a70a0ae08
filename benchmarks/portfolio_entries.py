"""Which portfolio entries earn their time in a fit: per table, each family's default trial and each portfolio entry's
score, duration and weight in the final model, with how far the entry's family's default trial finished behind the
best default trial.

The reading behind a rule that skips entries (stop 49: on elevators and pol at 60 s the forest entries took 10-12 s
each with no weight, while the torch network, which wins there, never ran). A diagnostic, not a comparison: one fit
per table, the leave-one-dataset-out portfolio on the extra collection (as the benchmark runs it), the built-in one on
the suite. Test rows are never read.

Usage::

    python -m benchmarks.portfolio_entries --suite openml --datasets elevators,pol [--budget 60] [--seed 0]

Writes ``benchmarks/results/portfolio_entries_<suite>_<budget>s.csv`` (one row per default trial and entry).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks import datasets as D

RESULTS = Path(__file__).resolve().parent / "results"


def entry_of(family: str, params: dict[str, Any], entries: list[dict[str, Any]]) -> int | None:
    """The index of the portfolio entry a trial of ``family`` with ``params`` ran, or ``None``: every parameter the
    entry names that the trial has (the other task's are dropped) holds the entry's value."""
    for index, entry in enumerate(entries):
        named = {k: v for k, v in (entry.get("params") or {}).items() if k in params}
        if entry["family"] == family and named and all(params[k] == v for k, v in named.items()):
            return index
    return None


def behind(score: float, best: float, greater_is_better: bool) -> float:
    """How far ``score`` is behind ``best``, in % of ``best`` (positive: behind)."""
    return 100.0 * ((best - score) if greater_is_better else (score - best)) / abs(best)


def entry_rows(leaderboard: pd.DataFrame, entries: list[dict[str, Any]], weights: dict[str, float],
               greater_is_better: bool) -> pd.DataFrame:
    """The default trials (each family's first trial that is not an entry) and the entries' trials of a finished
    fit, with the final model's weight of each and their family's default's distance behind the best default."""
    rows, defaults = [], {}
    for _, trial in leaderboard[leaderboard.family != "ensemble"].sort_values("trial").iterrows():
        params = json.loads(trial.params) if isinstance(trial.params, str) else {}
        index = entry_of(trial.family, params, entries)
        if index is None and trial.family in defaults:
            continue  # a tuned trial
        if index is None:
            defaults[trial.family] = trial.score
        rows.append({"trial": int(trial.trial), "family": trial.family,
                     "kind": "default" if index is None else f"entry {index}", "status": trial.status,
                     "score": trial.score, "seconds": trial.duration, "weight": weights.get(str(trial.trial), 0.0)})
    table = pd.DataFrame(rows)
    finished = [s for s in defaults.values() if pd.notna(s)]
    if table.empty or not finished:
        return table
    best = max(finished) if greater_is_better else min(finished)
    table["family_default_behind_pct"] = [
        behind(defaults[f], best, greater_is_better) if pd.notna(defaults.get(f)) else float("nan") for f in table.family]
    return table


def run(meta: dict[str, Any], root: Path, suite: str, budget: float, seed: int) -> pd.DataFrame:
    """Fit one table's training rows and read its leaderboard."""
    from automl import AutoML
    from automl.search.portfolio import load_portfolio

    train, _ = D.split_frame(D.load_frame(meta, root), meta, seed)
    target = meta["target"]
    options: dict[str, Any] = {}
    if suite == "extra":
        from benchmarks.portfolio import portfolio_without

        options["portfolio"] = portfolio_without(meta["name"])
    model = AutoML(time_budget=budget, task=meta["task"], random_state=seed, **options)
    model.fit(train.drop(columns=target), train[target])
    final = model.leaderboard_.iloc[0]
    weights = (model.best_params_.get("weights", {}) if model.best_family_ == "ensemble"
               else {str(final.trial): 1.0})
    table = entry_rows(model.leaderboard_, load_portfolio(options.get("portfolio", "default")), weights,
                       meta["task"] == "binary")
    return table.assign(dataset=meta["name"], seed=seed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="extra", choices=["extra", "openml"])
    parser.add_argument("--datasets", required=True, help="comma-separated names")
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    root = D.datasets_dir(args.suite)
    tables = [run(meta, root, args.suite, args.budget, args.seed)
              for meta in D.select(D.load_manifest(root), args.datasets.split(","))]
    out = RESULTS / f"portfolio_entries_{args.suite}_{args.budget:g}s.csv"
    result = pd.concat(tables, ignore_index=True)
    result.to_csv(out, index=False)
    print(result.to_string(index=False))
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
