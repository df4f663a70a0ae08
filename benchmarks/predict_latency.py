"""Single-row prediction latency of the chosen pipeline, the ordinary way and compiled (automl/pipeline/fast.py).

For each dataset of a suite: fit ``AutoML(time_budget=BUDGET, task=<the manifest's task>)`` on the benchmark's
training split (seed 0, other settings default), then time ``predict_proba`` (``predict`` for regression) on single test rows: first the ordinary
pipeline (``best_pipeline_`` behind the same input checks), then ``AutoML``'s own call, which compiles the pipeline on
its second small batch. Medians over ``--rows`` rows, after a warm-up; the compile time is reported apart. The
compiled answers are compared with the ordinary ones on every timed row and on the whole test split.

With ``--models DIR`` each fitted ``AutoML`` is kept there (``<dataset>.joblib``, a benchmark cache, not a model
folder to ship) and read back on the next run instead of fitting anew: before/after figures of a change to the
prediction path then time the very same models.

Usage::

    python -m benchmarks.predict_latency [--suite openml] [--budget 30] [--rows 200] [--datasets a,b] [--models DIR]

Writes ``benchmarks/results/predict_latency_<suite>_<budget>s.csv`` and ``.md``. Run it alone on a quiet machine.
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from benchmarks.datasets import datasets_dir, load_frame, load_manifest, select, split_frame
from benchmarks.markdown import to_markdown

RESULTS = Path(__file__).resolve().parent / "results"


def median_ms(call: Callable[[pd.DataFrame], Any], rows: list[pd.DataFrame]) -> float:
    """Median milliseconds of ``call`` over the one-row frames ``rows``."""
    times = []
    for row in rows:
        start = time.perf_counter()
        call(row)
        times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times)


def fitted_model(meta: dict[str, Any], train: pd.DataFrame, budget: float, models: Path | None) -> Any:
    """``AutoML`` fitted on ``train`` (seed 0), or the one kept in ``models`` by an earlier run with this budget."""
    import joblib

    from automl import AutoML

    kept = None if models is None else models / f"{meta['name']}_{budget:g}s.joblib"
    if kept is not None and kept.exists():
        return joblib.load(kept)
    target = meta["target"]
    model = AutoML(time_budget=budget, task=meta["task"], random_state=0).fit(train.drop(columns=[target]), train[target])
    if kept is not None:
        models.mkdir(parents=True, exist_ok=True)
        joblib.dump(model, kept)
    return model


def measure(meta: dict[str, Any], root: Path, budget: float, n_rows: int, models: Path | None = None) -> dict[str, Any]:
    from automl.pipeline.fast import FastPredictor

    frame = load_frame(meta, root)
    train, test = split_frame(frame, meta, seed=0)
    target = meta["target"]
    model = fitted_model(meta, train, budget, models)
    X = test.drop(columns=[target]).reset_index(drop=True)
    rows = [X.iloc[[i]] for i in range(min(n_rows, len(X)))]
    classify = model.task_ != "regression"
    ordinary_call = (lambda r: model.best_pipeline_.predict_proba(model._input_frame(r))) if classify else \
        (lambda r: model.best_pipeline_.predict(model._input_frame(r)))
    automl_call = model.predict_proba if classify else model.predict
    ordinary_call(rows[0])  # warm-up
    ordinary = median_ms(ordinary_call, rows)
    automl_call(rows[0])  # the first small batch: the ordinary way
    start = time.perf_counter()
    automl_call(rows[0])  # the second: compiles
    compile_s = time.perf_counter() - start
    compiled = model._compiled_predictor()
    fast = median_ms(automl_call, rows)
    differences = [float(np.max(np.abs(np.asarray(automl_call(r), dtype=float) -
                                       np.asarray(ordinary_call(r), dtype=float)))) for r in rows]
    members = len(compiled.members) if isinstance(compiled, FastPredictor) else 1
    return {"dataset": meta["name"], "task": model.task_, "rows": len(train), "family": model.best_family_,
            "members": members, "compiled_members": compiled.compiled if isinstance(compiled, FastPredictor) else 0,
            "ordinary_ms": round(ordinary, 3), "compiled_ms": round(fast, 3), "speedup": round(ordinary / fast, 1),
            "compile_s": round(compile_s, 2), "max_abs_difference": max(differences)}


def write(results: pd.DataFrame, name: str, budget: float) -> None:
    RESULTS.mkdir(exist_ok=True)
    results.to_csv(RESULTS / f"{name}.csv", index=False)
    ok = results.dropna(subset=["compiled_ms"])
    lines = [f"# Single-row prediction latency, ordinary vs compiled ({name})", "",
             f"`AutoML(time_budget={budget:g})`, default settings, seed-0 split; median of single-row `predict_proba` "
             "(`predict` for regression) over test rows, after a warm-up; the ordinary column is `best_pipeline_` "
             "behind the same input checks.", "",
             f"- median ordinary: {ok['ordinary_ms'].median():.2f} ms; median compiled: {ok['compiled_ms'].median():.2f} ms",
             f"- models at most 5 ms: ordinary {int((ok['ordinary_ms'] <= 5).sum())} of {len(ok)}, compiled "
             f"{int((ok['compiled_ms'] <= 5).sum())} of {len(ok)}",
             f"- largest difference between the two answers: {ok['max_abs_difference'].max():.2e}", "",
             to_markdown(results)]
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--suite", default="openml")
    parser.add_argument("--budget", type=float, default=30.0)
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--datasets", default="")
    parser.add_argument("--models", type=Path, default=None,
                        help="keep the fitted models here and reuse them on the next run (same models before/after)")
    args = parser.parse_args()
    root = datasets_dir(args.suite)
    entries = select(load_manifest(root), [d for d in args.datasets.split(",") if d])
    name = f"predict_latency_{args.suite}_{args.budget:g}s"
    results = []
    for meta in entries:
        try:
            row = measure(meta, root, args.budget, args.rows, args.models)
        except Exception as error:  # noqa: BLE001 - one dataset's failure is reported, the rest go on
            row = {"dataset": meta["name"], "error": repr(error)[:200]}
        print(row, flush=True)
        results.append(row)
        write(pd.DataFrame(results), name, args.budget)


if __name__ == "__main__":
    main()
