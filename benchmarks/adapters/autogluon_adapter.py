"""AutoGluon (``autogluon.tabular``), run with ``benchmarks/.venvs/autogluon/bin/python``.

``TabularPredictor`` with the benchmark metric, ``time_limit=budget`` and ``num_cpus=cores``; the preset is
the ``presets`` option (default ``medium_quality``, AutoGluon's own default; ``best_quality`` bags and stacks,
which rarely finishes usefully in a minute on two cores).
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository, for ``benchmarks``

from benchmarks.adapters.harness import Task, run_adapter  # noqa: E402

AUTOGLUON_METRICS = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "root_mean_squared_error"}


def fit(task: Task, workdir: Path) -> Any:
    """``TabularPredictor(...).fit(train, time_limit=budget, presets=..., num_cpus=cores)``."""
    from autogluon.tabular import TabularPredictor

    spec = task.spec
    train = task.x_train.assign(**{spec["target"]: task.y_train})
    predictor = TabularPredictor(label=spec["target"], problem_type=spec["task"],
                                 eval_metric=AUTOGLUON_METRICS[spec["task"]], path=str(workdir / "ag"), verbosity=0)
    return predictor.fit(train, time_limit=spec["budget"], presets=task.options.get("presets", "medium_quality"),
                         num_cpus=spec["cores"])


def predict(predictor: Any, x: pd.DataFrame, task: Task) -> Any:
    """Class probabilities (columns = class labels) or values."""
    if task.is_classification:
        return predictor.predict_proba(x, as_multiclass=True)
    return predictor.predict(x)


def describe(predictor: Any) -> dict[str, Any]:
    """AutoGluon version, best model and how many models were trained."""
    import autogluon.tabular

    return {"version": f"autogluon {autogluon.tabular.__version__}", "best": str(predictor.model_best),
            "models": len(predictor.model_names())}


if __name__ == "__main__":
    sys.exit(run_adapter(fit, predict, describe))
