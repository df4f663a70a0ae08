"""Does cheap tabular synthesis pay? Cross-validated scores of each family's default pipeline with and without it.

Frequency encoding of categoricals and a per-row missing count (automl/features/tabular.py) are switched on
through a family's ``needs`` (``frequency``, ``missing_count``); everything else is the default trial pipeline.
Run: ``PYTHONPATH=. python benchmarks/tabular_synthesis.py [dataset ...]``; writes
``benchmarks/results/tabular_synthesis.csv``.
"""
from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold, StratifiedKFold

from automl.data.schema import infer_schema
from automl.metrics import get_metric, predict_for_metric, score_predictions
from automl.models.registry import all_families
from automl.pipeline.build import TrialConfig, build_pipeline
from benchmarks.datasets import load_frame, load_manifest, select

DATASETS = ["credit-g", "credit-approval", "sick", "kr-vs-kp", "abalone"]
FAMILIES = ["linear", "knn", "lightgbm", "random_forest"]
VARIANTS = {"base": {}, "frequency": {"frequency": True}, "missing_count": {"missing_count": True}}


def cv_score(frame: pd.DataFrame, y: np.ndarray, task: str, family: str, extra: dict) -> tuple[float, float]:
    schema, frame = infer_schema(frame)
    base = all_families()[family]
    config = TrialConfig(family=dataclasses.replace(base, needs={**base.needs, **extra}))
    metric = get_metric(None, task)
    classes = np.unique(y) if task != "regression" else None
    splitter = (KFold(5, shuffle=True, random_state=0) if task == "regression"
                else StratifiedKFold(5, shuffle=True, random_state=0))
    scores, start = [], time.perf_counter()
    for train, valid in splitter.split(frame, y):
        pipe = build_pipeline(schema, config, task, random_state=0, n_jobs=1).fit(frame.iloc[train], y[train])
        pred = predict_for_metric(pipe, frame.iloc[valid], task, classes)
        scores.append(score_predictions(metric, y[valid], pred, None, classes))
    return float(np.mean(scores)), time.perf_counter() - start


def main(names: list[str]) -> pd.DataFrame:
    rows = []
    for meta in select(load_manifest(), names or DATASETS):
        frame = load_frame(meta)
        y = frame.pop(meta["target"]).to_numpy()
        for family in FAMILIES:
            for variant, extra in VARIANTS.items():
                score, seconds = cv_score(frame, y, meta["task"], family, extra)
                rows.append({"dataset": meta["name"], "family": family, "variant": variant, "score": score,
                             "seconds": round(seconds, 2)})
                print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    out = Path(__file__).parent / "results" / "tabular_synthesis.csv"
    table.to_csv(out, index=False)
    return table


if __name__ == "__main__":
    print(main(sys.argv[1:]).pivot_table(index=["dataset", "family"], columns="variant", values="score"))
