"""Calibrate the cost model: time each family's default pipeline on generated tables of growing size, and fit
``log(seconds) = log(c) + a log(rows) + b log(width) + g log(classes)`` per family.

Usage::

    python -m benchmarks.cost_calibration [--rows 1000,4000,16000,64000] [--cores 2] [--limit 30]

For each family, task (binary, 4-class, regression), width (10 or 40 numeric columns, plus the generated table's
6 categorical columns) and size: one fit on ``rows`` training rows and a prediction of ``rows / 4`` validation
rows, with the threads the engine would give it, in this process (quiet machine). A size is skipped once a
smaller one of the same setting took more than ``--limit`` seconds (the fit extrapolates). Writes the fitted
coefficients to ``configs/cost_model.yaml`` (read by :mod:`automl.search.cost`) and the raw timings to
``benchmarks/results/cost_calibration.csv``; with ``--families`` only those families' entries and rows are
replaced, the others' are kept; ``--refit`` fits the coefficients again from the timings in that CSV without
measuring. A cost does not fall as the table widens: where the fit gives width a negative exponent (the generated
tables' two widths, 10 or 40 numbers beside the categories' one-hot columns, are close together), the family is
fitted again without it (exponent 0).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from automl.data.schema import infer_schema  # noqa: E402
from automl.models.registry import all_families  # noqa: E402
from automl.pipeline.build import TrialConfig, build_pipeline  # noqa: E402
from automl.search.cost import encoded_width  # noqa: E402
from benchmarks.generated import make_table  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TASKS = ("binary", "multiclass", "regression")


def time_family(family, frame: pd.DataFrame, y: pd.Series, task: str, cores: int) -> float:  # noqa: ANN001
    """Seconds to fit the family's default pipeline on 4/5 of the rows and predict the other fifth."""
    from threadpoolctl import threadpool_limits

    split = int(len(frame) * 0.8)
    schema, _ = infer_schema(frame)
    threads = family.threads(split, cores)
    with threadpool_limits(limits=threads):
        pipe = build_pipeline(schema, TrialConfig(family=family), task, random_state=0, n_jobs=threads)
        start = time.perf_counter()
        pipe.fit(frame.iloc[:split], y.iloc[:split])
        if task == "regression":
            pipe.predict(frame.iloc[split:])
        else:
            pipe.predict_proba(frame.iloc[split:])
        return time.perf_counter() - start


def fit_costs(part: pd.DataFrame) -> dict[str, float]:
    """``log(seconds) = log(c) + a log(rows) + b log(width) + g log(classes)`` by least squares over one family's
    timings; without the width term (b = 0) where it comes out negative."""
    target = np.log(part.seconds.clip(lower=1e-3))
    columns = [np.ones(len(part)), np.log(part.rows), np.log(part.width), np.log(part.classes)]
    coef, *_ = np.linalg.lstsq(np.column_stack(columns), target, rcond=None)
    if coef[2] < 0:
        kept, *_ = np.linalg.lstsq(np.column_stack([columns[0], columns[1], columns[3]]), target, rcond=None)
        coef = np.array([kept[0], kept[1], 0.0, kept[2]])
    residual = target - np.column_stack(columns) @ coef
    return {"log_seconds": round(float(coef[0]), 4), "rows": round(float(coef[1]), 4),
            "width": round(float(coef[2]), 4), "classes": round(float(coef[3]), 4),
            "spread": round(float(np.std(residual)), 3), "measured": int(len(part))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1250,5000,20000,80000")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--limit", type=float, default=20.0)
    parser.add_argument("--families", default="")
    parser.add_argument("--refit", action="store_true", help="fit again from the timings in the CSV, measure nothing")
    args = parser.parse_args(argv)
    sizes = [int(r) for r in args.rows.split(",")]
    wanted = [f for f in args.families.split(",") if f] or list(all_families())
    records = []
    for name in ([] if args.refit else wanted):
        family = all_families()[name]
        for task in TASKS:
            for numeric in (10, 40):
                for rows in sizes:
                    X, y = make_table(rows, task, seed=0, numeric=numeric)
                    schema, _ = infer_schema(X)
                    classes = 1 if task == "regression" else int(y.nunique())
                    seconds = time_family(family, X, y, task, args.cores)
                    width = encoded_width(schema, X, family.needs.get("encode", "ordinal"))
                    records.append({"family": name, "task": task, "rows": int(rows * 0.8), "width": width,
                                    "classes": classes, "seconds": seconds})
                    print(records[-1], file=sys.stderr, flush=True)
                    if seconds > args.limit:
                        break
    frame = pd.DataFrame(records)
    timings = ROOT / "benchmarks" / "results" / "cost_calibration.csv"
    timings.parent.mkdir(parents=True, exist_ok=True)
    if args.refit:
        frame = pd.read_csv(timings)
    else:
        if timings.exists():  # keep the timings of the families not measured this time
            earlier = pd.read_csv(timings)
            frame = pd.concat([earlier[~earlier.family.isin(wanted)], frame], ignore_index=True)
        frame.to_csv(timings, index=False)
    path = ROOT / "configs" / "cost_model.yaml"
    model = {k: v for k, v in (yaml.safe_load(path.read_text()) if path.exists() else {}).items() if k not in wanted}
    for name, part in frame[frame.family.isin(wanted)].groupby("family"):
        model[name] = fit_costs(part)
    header = ("# Cost of each family's default fit + predict (one fold: rows training rows, rows/4 predicted), fitted\n"
              "# by benchmarks/cost_calibration.py on generated tables (2 cores, the engine's threads):\n"
              "#   seconds = exp(log_seconds) * rows^rows * width^width * classes^classes\n"
              "# width: columns after encoding; classes: 1 for regression. spread: std of the log residual.\n"
              "# The search corrects these by every finished trial (automl/search/cost.py).\n")
    path.write_text(header + yaml.safe_dump(model, sort_keys=True))
    print(yaml.safe_dump(model, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
