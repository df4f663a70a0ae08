"""FLAML (``flaml[automl]``), run with ``benchmarks/.venvs/flaml/bin/python``: defaults plus budget, metric,
seed and cores."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository, for ``benchmarks``

from benchmarks.adapters.harness import Task, run_adapter  # noqa: E402

FLAML_METRICS = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}


def fit(task: Task, workdir: Path) -> Any:
    """``flaml.AutoML().fit`` with ``time_budget``, the benchmark metric, ``seed`` and ``n_jobs``."""
    from flaml import AutoML

    spec = task.spec
    model = AutoML()
    model.fit(task.x_train, task.y_train, task="classification" if task.is_classification else "regression",
              metric=FLAML_METRICS[spec["task"]], time_budget=spec["budget"], seed=spec["seed"],
              n_jobs=spec["cores"], verbose=0, log_file_name=str(workdir / "flaml.log"))
    return model


def predict(model: Any, x: pd.DataFrame, task: Task) -> Any:
    """Class probabilities (columns = ``model.classes_``) or values."""
    if task.is_classification:
        return pd.DataFrame(model.predict_proba(x), columns=[str(c) for c in model.classes_])
    return model.predict(x)


def describe(model: Any) -> dict[str, Any]:
    """FLAML version, best learner and its validation loss."""
    import flaml

    return {"version": f"flaml {flaml.__version__}", "best": str(model.best_estimator),
            "best_loss": float(model.best_loss)}


if __name__ == "__main__":
    sys.exit(run_adapter(fit, predict, describe))
