"""ONNX export across the offline OpenML suite: does every model searched with ``families="exportable"``
export, and does onnxruntime answer as the pipeline on held-out rows?

For each dataset: split 75/25, fit ``AutoML(families="exportable")`` within the budget, export through
:func:`automl.io.onnx.export_model` with the parity check on 200 held-out rows plus the copies with a column
missing / a category unseen (``checked_rows``), and time predictions of the Python pipeline and of
onnxruntime on up to 2,000 held-out rows (``*_ms_per_1k``, one call each, after a warm-up).

Usage::

    python -m benchmarks.export_check [--datasets credit-g,kc1] [--budget 30] [--seed 0]

Results go to ``benchmarks/results/export_check_<budget>s_seed<seed>.{csv,md}``.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import pandas as pd

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.datasets import load_frame, load_manifest, select, split_frame  # noqa: E402
from benchmarks.markdown import to_markdown  # noqa: E402

RESULTS_DIR = Path(__file__).resolve().parent / "results"
CHECK_ROWS = 2000


def check_dataset(meta: dict[str, Any], budget: float, seed: int) -> dict[str, Any]:
    """Fit, export and time one dataset; the result row (``exported`` False with the error otherwise)."""
    from automl import AutoML
    from automl.io.onnx import OnnxPredictor, export_model
    from automl.io.persist import load, save

    train, test = split_frame(load_frame(meta), meta, seed)
    y = train.pop(meta["target"])
    rows = test.drop(columns=[meta["target"]]).head(CHECK_ROWS)
    row: dict[str, Any] = {"name": meta["name"], "task": meta["task"], "rows": len(train) + len(test)}
    model = AutoML(time_budget=budget, families="exportable", random_state=seed, verbose=0).fit(train, y)
    row.update(family=model.best_family_, score=model.best_score_)
    with tempfile.TemporaryDirectory() as tmp:
        folder, out = save(model, Path(tmp) / "model"), Path(tmp) / "model.onnx"
        started = time.perf_counter()
        try:
            parity = export_model(str(folder), str(out), data=rows)
        except ValueError as exc:
            return {**row, "exported": False, "error": str(exc)[:300]}
        row.update(exported=True, export_s=round(time.perf_counter() - started, 2), checked_rows=parity.rows,
                   max_diff=parity.max_abs_diff, labels_differing=parity.labels_differing,
                   ties=parity.ties)
        row.update(_timings(load(folder), OnnxPredictor(str(out)), rows))
    return row


def _timings(model: Any, runner: Any, rows: pd.DataFrame) -> dict[str, float]:
    """Milliseconds per 1,000 rows: the Python pipeline vs onnxruntime, on the same rows."""
    out = {}
    for name, predict in (("python_ms_per_1k", model.predict), ("onnx_ms_per_1k", runner.predict)):
        predict(rows.head(5))  # warm up
        started = time.perf_counter()
        predict(rows)
        out[name] = round((time.perf_counter() - started) * 1000 * 1000 / max(len(rows), 1), 2)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="", help="comma-separated names (default: all)")
    parser.add_argument("--budget", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    results = []
    for meta in select(load_manifest(), [n for n in args.datasets.split(",") if n]):
        try:
            result = check_dataset(meta, args.budget, args.seed)
        except Exception as exc:  # one dataset's failure is a row, not the end of the run
            traceback.print_exc()
            result = {"name": meta["name"], "task": meta["task"], "exported": False,
                      "error": f"{type(exc).__name__}: {exc}"[:300]}
        print(result, flush=True)
        results.append(result)
    _write(pd.DataFrame(results), args.budget, args.seed)
    return 0


def _write(table: pd.DataFrame, budget: float, seed: int) -> None:
    stem = RESULTS_DIR / f"export_check_{budget:g}s_seed{seed}"
    table.to_csv(stem.with_suffix(".csv"), index=False)
    exported = int(table["exported"].sum()) if "exported" in table else 0
    header = (f"# ONNX export check: {exported}/{len(table)} datasets exported with parity "
              f"(fit budget {budget:g}s, seed {seed}, families='exportable')\n\n")
    shown = table.assign(max_diff=table.get("max_diff", pd.Series(dtype=float)).map(
        lambda v: "" if pd.isna(v) else f"{v:.1e}"))
    stem.with_suffix(".md").write_text(header + to_markdown(shown) + "\n")


if __name__ == "__main__":
    sys.exit(main())
