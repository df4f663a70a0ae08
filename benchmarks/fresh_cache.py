"""Search time of ``fit_series`` on a real series set with a fixed number of trials: what the FRESH step cache saves.

Each trial's pipeline fits tsfresh's FRESH filter on every fold (seconds per fold on a few hundred features and
many classes); the step cache (automl/search/step_cache.py) fits it once per fold and input and reuses it in later
trials. With ``max_trials`` fixed, random search (its configurations do not depend on the scores), 2 folds (no
pruning: successive halving needs 3) and a budget large enough that no trial is stopped, the searches run the same
trials, so their search times compare. To measure the engine without the cache, run this file with an export of
an earlier revision first on the path::

    git archive a55e756 automl configs | tar -x -C /tmp/before
    PYTHONPATH=/tmp/before python benchmarks/fresh_cache.py --label before
    python benchmarks/fresh_cache.py --label after

Appends one row per run to ``benchmarks/results/fresh_cache.csv`` (in the folder of this file).
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

import pandas as pd

import automl
from automl import AutoML

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "extra" / "series"
RESULTS = Path(__file__).resolve().parent / "results" / "fresh_cache.csv"


def load(name: str) -> tuple[pd.DataFrame, pd.Series]:
    """The archive's training series (long format) and their labels (text), indexed by series id."""
    readings = pd.read_csv(DATA / name / "series.csv.gz")
    labels = pd.read_csv(DATA / name / "labels.csv.gz", dtype={"label": str}).set_index("id")
    train = labels.index[labels.split == "train"]
    return readings[readings.id.isin(train)], labels.label.loc[train]


def measure(name: str, trials: int, budget: float, seed: int, label: str) -> dict[str, Any]:
    """One ``fit_series`` with ``trials`` trials: its search time, trial count and the engine it ran."""
    readings, labels = load(name)
    model = AutoML(time_budget=budget, max_trials=trials, random_state=seed, ensemble=False, search="random", cv=2)
    load_avg = os.getloadavg()[0]
    start = time.monotonic()
    model.fit_series(readings, labels, column_id="id", column_sort="time")
    board = model.leaderboard_
    board.to_csv(RESULTS.with_name(f"fresh_cache_{name}_{label}_leaderboard.csv"), index=False)
    return {"label": label, "dataset": name, "trials": len(board), "ok": int((board.status == "ok").sum()),
            "trial_fit_s": round(float(board.fit_time.sum()), 2),  # the leaderboard's fit_time: all folds of a trial
            "settings": model.synthesis_["settings"], "features": model.synthesis_["n_features_synthesised"],
            "synthesis_s": model.synthesis_["synthesis_time"], "search_s": round(model.search_time_, 2),
            "fit_wall_s": round(time.monotonic() - start, 2), "best_score": round(float(model.best_score_), 4),
            "budget": budget, "seed": seed, "load": round(load_avg, 2), "engine": str(Path(automl.__file__).parent)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="PickupGestureWiimoteZ")
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--budget", type=float, default=900.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--label", default="after")
    args = parser.parse_args(argv)
    row = measure(args.dataset, args.trials, args.budget, args.seed, args.label)
    print(row, flush=True)
    table = pd.concat([pd.read_csv(RESULTS), pd.DataFrame([row])]) if RESULTS.exists() else pd.DataFrame([row])
    table.to_csv(RESULTS, index=False)
    return row


if __name__ == "__main__":
    main()
