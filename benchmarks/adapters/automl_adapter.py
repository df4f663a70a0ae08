"""Our engine: ``automl.AutoML`` with the task's budget, seed and cores (run with our environment's Python)."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository, for ``benchmarks``

from benchmarks.adapters.harness import Task, run_adapter, single_row_latency_ms  # noqa: E402


def fit(task: Task, workdir: Path) -> Any:
    """Fit ``AutoML(time_budget=budget, task=task, random_state=seed, n_jobs=cores)``; the metric is the default."""
    from automl import AutoML

    spec = task.spec
    model = AutoML(time_budget=spec["budget"], task=spec["task"], random_state=spec["seed"], n_jobs=spec["cores"])
    return model.fit(task.x_train, task.y_train)


def predict(model: Any, x: pd.DataFrame, task: Task) -> Any:
    """Class probabilities (columns = ``model.classes_``) or values."""
    if task.is_classification:
        return pd.DataFrame(model.predict_proba(x), columns=list(model.classes_))
    return model.predict(x)


def describe(model: Any) -> dict[str, Any]:
    """Best family, CV score, trial counts and where the ``automl`` package was imported from."""
    import automl

    board = model.leaderboard_
    return {"version": f"automl {automl.__version__}", "best": str(getattr(model, "best_family_", "")), "cv_score": float(getattr(model, "best_score_", "nan")),
            "metric": model.metric_.name, "trials": len(board),
            "trials_ok": int((board["status"] == "ok").sum()) if "status" in board else None,
            "automl_path": str(Path(automl.__file__).resolve().parent)}


def measure(model: Any, task: Task) -> dict[str, Any]:
    """The chosen pipeline compiled to ONNX (``automl export``): export seconds and single-row latency in
    onnxruntime, measured like the Python predict's (median over single test rows)."""
    import time

    from automl.io.onnx import NotExportable, OnnxPredictor, to_onnx

    start = time.perf_counter()
    try:
        proto = to_onnx(model.best_pipeline_)
    except NotExportable as exc:
        return {"onnx": f"not exportable: {exc}"[:200]}
    export_s = time.perf_counter() - start
    session = OnnxPredictor(proto)
    onnx_predict = session.predict_proba if task.is_classification else session.predict
    rows = task.x_test.head(200)
    difference = np.abs(np.asarray(onnx_predict(rows), dtype=float)
                        - np.asarray(predict(model, rows, task), dtype=float).reshape(len(rows), -1).squeeze())
    return {"onnx_export_s": round(export_s, 2), "onnx_max_diff": float(difference.max()),
            "onnx_row_ms": single_row_latency_ms(lambda _, x, __: onnx_predict(x), None, task)}


if __name__ == "__main__":
    sys.exit(run_adapter(fit, predict, describe, measure=measure))
