"""Budgets and data preparation under stress: the whole ``automl fit`` command at small budgets, and the data stage
on wide and long tables (time and peak memory).

Usage::

    python -m benchmarks.reliability [--budgets 5,10] [--repeats 2]

- **Command budget**: ``automl fit`` as a user runs it (a subprocess, its wall time from start to exit, interpreter
  start and imports included) on the bundled credit-g (1,000 rows) and a generated 50,000 x 21 table, at each
  budget; the exit code (5 = no model found) and the trials finished.
- **Data stage**: ``AutoML._prepare`` (checks, roles, cleaning, duplicates, profile, folds) in a fresh process on a
  generated 200 x 10,000 float table and a 200,000 x 300 float table; seconds and the process's peak resident
  memory (the table alone is 16 MB and 458 MB).

Results go to ``benchmarks/results/reliability.md``. Measured, never asserted in tests.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PREPARE = """
import json, resource, sys, time
import numpy as np, pandas as pd
from automl import AutoML
from automl.search.planner import Deadline
rows, columns = int(sys.argv[1]), int(sys.argv[2])
X = pd.DataFrame(np.random.default_rng(0).normal(size=(rows, columns)), columns=[f"c{i}" for i in range(columns)])
y = pd.Series(np.where(X.iloc[:, 0] > 0, "a", "b"))
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
model = AutoML(time_budget=60)
model._validate_params()
start = time.monotonic()
model._prepare(X, y, None, Deadline(60))
print(json.dumps({"seconds": time.monotonic() - start, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "before_mb": base / 1024, "data_mb": X.memory_usage().sum() / 2**20}))
"""


def generated_table(path: Path, rows: int = 50_000) -> Path:
    """A binary table of ``rows`` x 21 columns (20 numbers, one 8-level category) with signal."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(rows, 20)), columns=[f"f{i}" for i in range(20)])
    frame["cat"] = rng.choice(list("abcdefgh"), rows)
    frame["y"] = (frame.f0 + frame.f1 * frame.f2 + (frame.cat == "a") + rng.normal(size=rows) > 0).astype(int)
    frame.to_csv(path, index=False)
    return path


def command_run(data: Path, target: str, budget: float, workdir: Path) -> dict:
    """One ``automl fit`` subprocess: wall seconds from start to exit, exit code, trials."""
    out = workdir / "model"
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "automl.cli", "fit", str(data), "--target", target, "--time-budget",
                           str(budget), "--out", str(out), "--quiet"], capture_output=True, text=True, timeout=600)
    wall = time.monotonic() - start
    trials = next((line for line in done.stdout.splitlines() if line.startswith("trials:")), "")
    return {"budget": budget, "wall": round(wall, 2), "ratio": round(wall / budget, 3), "exit": done.returncode,
            "trials": trials.split(";")[0].replace("trials: ", ""),
            "best": next((line.split()[1] for line in done.stdout.splitlines() if line.startswith("best:")), "-")}


def prepare_run(rows: int, columns: int) -> dict:
    """The data stage in a fresh process."""
    done = subprocess.run([sys.executable, "-c", PREPARE, str(rows), str(columns)], capture_output=True, text=True,
                          timeout=900, cwd=ROOT)
    if done.returncode:
        return {"rows": rows, "columns": columns, "error": done.stderr[-500:]}
    return {"rows": rows, "columns": columns, **{k: round(v, 2) for k, v in json.loads(done.stdout).items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", default="5,10")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    budgets = [float(b) for b in args.budgets.split(",")]
    lines = ["# Reliability: command budgets and the data stage", "",
             f"Machine: 2 cores; {time.strftime('%Y-%m-%d')}; `python -m benchmarks.reliability --budgets "
             f"{args.budgets} --repeats {args.repeats}`.", "",
             "## `automl fit`, whole command (process start to exit)", "",
             "| data | budget s | wall s | wall / budget | exit | trials | best |", "|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        tables = [(ROOT / "examples" / "data" / "credit-g.csv.gz", "class"),
                  (generated_table(Path(tmp) / "generated50k.csv"), "y")]
        for data, target in tables:
            for budget in budgets:
                for _ in range(args.repeats):
                    row = command_run(data, target, budget, Path(tmp))
                    print(data.name, row, file=sys.stderr, flush=True)
                    lines.append(f"| {data.name} | {budget:g} | {row['wall']} | {row['ratio']} | {row['exit']} | "
                                 f"{row['trials']} | {row['best']} |")
    lines += ["", "## The data stage (`AutoML._prepare`), fresh process", "",
              "| rows x columns | data MB | seconds | peak RSS MB (process) | RSS before MB |", "|---|---|---|---|---|"]
    for rows, columns in ((200, 10_000), (200_000, 300)):
        row = prepare_run(rows, columns)
        print(row, file=sys.stderr, flush=True)
        if "error" in row:
            lines.append(f"| {rows} x {columns} | - | error | {row['error'][:100]} | - |")
        else:
            lines.append(f"| {rows:,} x {columns:,} | {row['data_mb']} | {row['seconds']} | {row['peak_mb']} | "
                         f"{row['before_mb']} |")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "reliability.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
