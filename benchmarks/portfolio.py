"""Choose the portfolio (``configs/portfolio.yaml``) by measurement on the OpenML suite.

For each dataset: the training rows of the benchmark's seed-0 split (the test rows are never touched), at
most ``--max-rows`` of them, are cross-validated (3 folds) with every family's defaults and every candidate
below, through the engine itself (``AutoML(search="defaults", portfolio=CANDIDATES)``). A candidate's gain on
a dataset is how much of the gap between the best family default and the best configuration measured it
closes (0 = no better than the defaults, 1 = the best); greedy forward selection then adds the candidate
with the largest mean gain over the datasets, given the ones already chosen, while that mean grows by at
least ``--min-gain``.

Usage::

    python -m benchmarks.portfolio [--datasets kc1,phoneme] [--max-rows 5000] [--min-gain 0.03]

Results: ``benchmarks/results/portfolio_candidates.csv`` (one row per dataset x configuration) and
``portfolio_selection.md`` (the chosen entries, in the order chosen, with their gains and median times).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.datasets import load_frame, load_manifest, select, split_frame

RESULTS = Path(__file__).resolve().parent / "results"

# Candidates: named after what they change from the library defaults. Drawn from configurations that
# do well across tabular benchmarks (AutoGluon's larger LightGBM, regularised slow-learning boosting,
# more and wider trees for the forests); the measurement decides which of them earn a place.
CANDIDATES: dict[str, dict[str, Any]] = {
    "lightgbm_large": {"family": "lightgbm", "params": {
        "learning_rate": 0.03, "num_leaves": 128, "min_child_samples": 3, "colsample_bytree": 0.9,
        "n_estimators": 1000}},
    "lightgbm_regularised": {"family": "lightgbm", "params": {
        "learning_rate": 0.05, "num_leaves": 31, "min_child_samples": 20, "colsample_bytree": 0.5,
        "subsample": 0.8, "subsample_freq": 1, "reg_lambda": 1.0, "n_estimators": 1000}},
    "lightgbm_shallow": {"family": "lightgbm", "params": {
        "learning_rate": 0.05, "num_leaves": 7, "min_child_samples": 10, "n_estimators": 1000}},
    "hist_gradient_boosting_slow": {"family": "hist_gradient_boosting", "params": {
        "learning_rate": 0.05, "max_iter": 500, "max_leaf_nodes": 63, "min_samples_leaf": 10}},
    "extra_trees_300_half": {"family": "extra_trees", "params": {"n_estimators": 300, "max_features": 0.5}},
    "extra_trees_300_all": {"family": "extra_trees", "params": {"n_estimators": 300, "max_features": 1.0}},
    "random_forest_300_half": {"family": "random_forest", "params": {"n_estimators": 300, "max_features": 0.5}},
    "linear_strong_penalty": {"family": "linear", "params": {"C": 0.1, "alpha": 10.0}},
    "knn_15_distance": {"family": "knn", "params": {"n_neighbors": 15, "weights": "distance"}},
}


def measure(meta: dict[str, Any], max_rows: int, seed: int) -> pd.DataFrame:
    """Cross-validated score and time of every family default and candidate on one dataset's training rows."""
    from automl import AutoML

    train, _ = split_frame(load_frame(meta), meta, seed)
    if len(train) > max_rows:
        train = train.sample(max_rows, random_state=seed)
    X, y = train.drop(columns=[meta["target"]]), train[meta["target"]]
    entries = list(CANDIDATES.values())
    model = AutoML(time_budget=None, task=meta["task"], search="defaults", portfolio=entries, cv=3,
                   max_trials=len(entries) + 12, class_weight=None, ensemble=False, random_state=seed, n_jobs=2)
    start = time.monotonic()
    model.fit(X, y)
    board = model.leaderboard_
    rows = []
    for trial in model.study_.trials:
        family = trial.params.get("family")
        name = _candidate_name(trial.params) or f"{family}_defaults"
        match = board[board["trial"] == trial.number]
        rows.append({"dataset": meta["name"], "task": meta["task"], "metric": model.metric_.name,
                     "greater_is_better": model.metric_.greater_is_better, "config": name, "family": family,
                     "status": match["status"].iloc[0] if len(match) else "missing",
                     "score": trial.value, "duration_s": trial.user_attrs.get("duration"),
                     "rows": len(train)})
    print(f"{meta['name']}: {len(rows)} configurations in {time.monotonic() - start:.0f}s", file=sys.stderr, flush=True)
    return pd.DataFrame(rows)


def _candidate_name(params: dict[str, Any]) -> str | None:
    """The candidate a trial evaluated: same family, and every parameter it set is the candidate's (an entry
    lists parameters of both tasks, C and alpha; a family's defaults set more parameters than any entry)."""
    family = params.get("family")
    values = {k.split(".", 1)[1]: v for k, v in params.items() if k != "family"}
    for name, entry in CANDIDATES.items():
        if entry["family"] == family and values and len(values) <= len(entry["params"]) and all(
                entry["params"].get(k) == v for k, v in values.items()):
            return name
    return None


def gains(results: pd.DataFrame) -> pd.DataFrame:
    """Per dataset and configuration: the share of the gap between the best default and the best
    configuration that the configuration closes (clipped to [0, 1]); datasets with no gap are left out."""
    ok = results[results["status"] == "ok"].copy()
    ok["signed"] = np.where(ok["greater_is_better"], ok["score"], -ok["score"])
    out = []
    for dataset, group in ok.groupby("dataset"):
        defaults = group[group["config"].str.endswith("_defaults")]["signed"].max()
        best = group["signed"].max()
        if not np.isfinite(defaults) or best - defaults <= 1e-12:
            continue
        share = ((group["signed"] - defaults) / (best - defaults)).clip(0, 1)
        out.append(pd.DataFrame({"dataset": dataset, "config": group["config"], "gain": share}))
    table = pd.concat(out) if out else pd.DataFrame(columns=["dataset", "config", "gain"])
    return table.pivot_table(index="dataset", columns="config", values="gain", aggfunc="max").fillna(0.0)


def greedy(table: pd.DataFrame, n_datasets: int, min_gain: float) -> list[tuple[str, float]]:
    """Forward selection of candidates by mean gain over all ``n_datasets`` (datasets with no gap count 0)."""
    candidates = [c for c in table.columns if c in CANDIDATES]
    chosen: list[tuple[str, float]] = []
    covered = pd.Series(0.0, index=table.index)
    while candidates:
        means = {c: float(np.maximum(covered, table[c]).sum() / n_datasets) for c in candidates}
        pick = max(means, key=means.get)
        current = float(covered.sum() / n_datasets)
        if means[pick] - current < min_gain:
            break
        chosen.append((pick, means[pick]))
        covered = np.maximum(covered, table[pick])
        candidates.remove(pick)
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="", help="comma-separated names (default: the whole suite)")
    parser.add_argument("--max-rows", type=int, default=5000)
    parser.add_argument("--min-gain", type=float, default=0.03)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--report-only", action="store_true", help="only redo the selection from the CSV")
    args = parser.parse_args(argv)
    csv = RESULTS / "portfolio_candidates.csv"
    if not args.report_only:
        frames = []
        for meta in select(load_manifest(), [n for n in args.datasets.split(",") if n]):
            frames.append(measure(meta, args.max_rows, args.seed))
            pd.concat(frames).to_csv(csv, index=False)
    results = pd.read_csv(csv)
    table = gains(results)
    n_datasets = results["dataset"].nunique()
    chosen = greedy(table, n_datasets, args.min_gain)
    times = results.groupby("config")["duration_s"].median()
    lines = [f"# Portfolio selection: {n_datasets} datasets, at most {args.max_rows} training rows, 3-fold CV, "
             f"seed {args.seed}", "",
             "Gain: the share of the gap between the best family default and the best configuration measured "
             "that a configuration closes, averaged over all datasets (0 where the defaults were already best).", "",
             "| order | configuration | mean gain of the portfolio so far | median trial s |", "|---|---|---|---|"]
    lines += [f"| {i + 1} | {name} | {gain:.3f} | {times.get(name, float('nan')):.1f} |"
              for i, (name, gain) in enumerate(chosen)]
    lines += ["", "## Gain of each configuration alone (mean over datasets)", "",
              "| configuration | mean gain | datasets where best | median trial s |", "|---|---|---|---|"]
    alone = (table.sum() / n_datasets).sort_values(ascending=False)
    for name, gain in alone.items():
        lines.append(f"| {name} | {gain:.3f} | {int((table[name] >= 0.999).sum())} | {times.get(name, float('nan')):.1f} |")
    (RESULTS / "portfolio_selection.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
