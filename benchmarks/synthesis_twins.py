"""Which single-table synthesis plans pay on a table? The search's own verdicts, given the trials to reach them all.

One family, ``--trials`` random-search trials (refinement takes the last quarter of them: with 20, four twins of the
best configuration, one per plan that builds something), no time pressure (``--budget`` is a cap), no ensemble, on
the seed-0 training rows of each dataset. Prints and writes every twin's verdict against its parent on the same folds
(kept or rejected, mean gain, standard error) and its synthesis time.

Run: ``PYTHONPATH=. python -m benchmarks.synthesis_twins --suite extra --datasets hotel_daily_rate,email_spam``.
"""
from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import pandas as pd

from automl import AutoML
from benchmarks.datasets import datasets_dir, load_frame, load_manifest, select, split_frame

RESULTS = Path(__file__).resolve().parent / "results"


def twins_of(name: str, suite: str, family: str, trials: int, budget: float) -> pd.DataFrame:
    """The synthesis twins of one search on ``name``'s seed-0 training rows, with their verdicts."""
    root = datasets_dir(suite)
    meta = select(load_manifest(root), [name])[0]
    train, _ = split_frame(load_frame(meta, root), meta, seed=0)
    y = train.pop(meta["target"])
    model = AutoML(time_budget=budget, random_state=0, families=[family], max_trials=trials, search="random",
                   ensemble=False, portfolio=None).fit(train, y)
    board = model.leaderboard_
    twins = board[board["synthesis"] != "none"][["trial", "synthesis", "score", "status", "synthesis_time", "error"]]
    return twins.assign(dataset=name, family=family, final_plan=board.loc[board["trial"] == model.best_trial_,
                                                                          "synthesis"].iloc[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="extra")
    parser.add_argument("--datasets", required=True, help="comma-separated dataset names")
    parser.add_argument("--family", default="lightgbm")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--budget", type=float, default=600.0)
    parser.add_argument("--out", type=Path, default=RESULTS / "synthesis_twins.csv")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    rows = pd.concat([twins_of(name, args.suite, args.family, args.trials, args.budget)
                      for name in args.datasets.split(",")], ignore_index=True)
    rows.to_csv(args.out, index=False)
    with pd.option_context("display.width", 250, "display.max_colwidth", 120):
        print(rows.to_string(index=False))


if __name__ == "__main__":
    main()
