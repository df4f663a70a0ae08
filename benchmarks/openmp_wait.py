"""How OpenMP threads wait, and what it costs a trial's fit: quiet machine and one core held by another job.

``python -m benchmarks.openmp_wait`` fits LightGBM (500 rounds), HistGradientBoosting (200 iterations; 50 on 7
classes) and kNN (the neighbours of a fifth of the rows) on generated tables of 2,000 to 160,000 rows x 18 columns,
on one and on two threads, each setting in a fresh process (libgomp reads its environment once, at start): waiting
passively (``OMP_WAIT_POLICY=PASSIVE``), spinning ``GOMP_SPINCOUNT`` turns first, and libgomp's default. Then the
same with a busy loop holding one core. Writes ``benchmarks/results/openmp_wait.{csv,md}``, the figures the trial
processes' setting was chosen from (``automl/search/worker.py``).
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from automl.search.worker import OPENMP_WAIT_SETTINGS
from benchmarks.markdown import to_markdown

RESULTS = Path(__file__).parent / "results"
SETTINGS = {"passive": {"OMP_WAIT_POLICY": "PASSIVE"}, "spin 1000": {"GOMP_SPINCOUNT": "1000"},
            "spin 3000": {"GOMP_SPINCOUNT": "3000"}, "spin 10000": {"GOMP_SPINCOUNT": "10000"},
            "libgomp default": {}}
MODELS = ("lightgbm", "hgb", "hgb_7_classes", "knn")

_FITS = """
import json, sys, time
import numpy as np
from threadpoolctl import threadpool_limits
rows, threads = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(0)
X = rng.normal(size=(rows, 18))
y = X[:, 0] + np.sin(X[:, 1]) + rng.normal(size=rows)
classes = rng.integers(0, 7, rows)
import lightgbm
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.neighbors import KNeighborsRegressor
fits = {
    "lightgbm": lambda: lightgbm.LGBMRegressor(learning_rate=0.05, n_estimators=500, verbose=-1,
                                               n_jobs=threads).fit(X, y),
    "hgb": lambda: HistGradientBoostingRegressor(max_iter=200, early_stopping=False).fit(X, y),
    "hgb_7_classes": lambda: HistGradientBoostingClassifier(max_iter=50, early_stopping=False).fit(X, classes),
    "knn": lambda: KNeighborsRegressor(algorithm="brute").fit(X, y).predict(X[: rows // 5]),
}
seconds = {}
with threadpool_limits(limits=threads):
    for name, fit in fits.items():
        start = time.perf_counter()
        fit()
        seconds[name] = time.perf_counter() - start
print(json.dumps(seconds))
"""

_BUSY = "import time\nend = time.monotonic() + 3600\nwhile time.monotonic() < end:\n    pass\n"


def measure(rows: int, threads: int, setting: str) -> dict[str, float]:
    """Seconds of each model's fit in a fresh process with the ``setting``'s environment."""
    environ = {k: v for k, v in os.environ.items() if k not in OPENMP_WAIT_SETTINGS}
    environ.update(SETTINGS[setting])
    done = subprocess.run([sys.executable, "-c", _FITS, str(rows), str(threads)], env=environ, check=True,
                          capture_output=True, text=True, timeout=600)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(sizes: list[int]) -> pd.DataFrame:
    """One row per machine state, table size, threads and setting: the seconds of each model's fit."""
    records = []
    for machine in ("quiet", "one core busy"):
        busy = subprocess.Popen([sys.executable, "-c", _BUSY]) if machine != "quiet" else None
        try:
            time.sleep(0.5)
            for rows, (threads, setting) in itertools.product(
                    sizes, [(1, "passive")] + [(2, s) for s in SETTINGS]):
                seconds = measure(rows, threads, setting)
                records.append({"machine": machine, "rows": rows, "threads": threads, "setting": setting, **seconds})
                print(records[-1], flush=True)
        finally:
            if busy is not None:
                busy.kill()
    return pd.DataFrame(records)


def report(frame: pd.DataFrame) -> str:
    """The markdown report of :func:`run`'s frame, one table per machine state."""
    lines = ["# How OpenMP threads wait: seconds of a fit", "",
             "`python -m benchmarks.openmp_wait`: each row a fresh process; 18 columns; LightGBM 500 rounds, "
             "HistGradientBoosting 200 iterations (50 on 7 classes), kNN the neighbours of a fifth of the rows. "
             "One thread is shown once (it never waits for another).", ""]
    for machine, part in frame.groupby("machine", sort=False):
        lines += [f"## {machine}", "", to_markdown(part.drop(columns="machine"), {m: ".2f" for m in MODELS}), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,20000,160000", help="rows of the generated tables")
    args = parser.parse_args(argv)
    frame = run([int(n) for n in args.sizes.split(",")])
    RESULTS.mkdir(exist_ok=True)
    frame.to_csv(RESULTS / "openmp_wait.csv", index=False)
    (RESULTS / "openmp_wait.md").write_text(report(frame))


if __name__ == "__main__":
    main()
