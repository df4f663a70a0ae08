"""Duplicate rows: keep them, drop them, drop them and let the first copy weigh as many, or keep them in one fold.

``python -m benchmarks.duplicate_rows kc1,jm1,blood-transfusion-service-center,wine_quality`` prints, per
dataset and seed, the test score of ``search="defaults"`` at 30 s on the suite's 75/25 split (seed 0).
"""
from __future__ import annotations

import sys
import time
import warnings

import pandas as pd

from automl import AutoML
from benchmarks.datasets import load_frame, load_manifest, select, split_frame

CHOICES = {mode: {"duplicate_rows": mode} for mode in ("keep", "drop", "weight", "group")}


def test_score(model: AutoML, X: pd.DataFrame, y: pd.Series) -> float:
    """The model's metric on held-out rows."""
    metric = model.metric_
    if model.task_ == "regression":
        return metric.from_predictions(y.to_numpy(dtype=float), model.predict(X), None, None)
    pred = model.predict_proba(X) if metric.needs_proba else model.predict(X)
    return metric.from_predictions(y.to_numpy(), pred, None, model.classes_)


def main(names: list[str], modes: list[str], seeds: tuple[int, ...] = (0, 1)) -> None:
    for meta in select(load_manifest(), names):
        train, test = split_frame(load_frame(meta), meta, 0)[:2]
        y_train, y_test = train.pop(meta["target"]), test.pop(meta["target"])
        for seed in seeds:
            for choice in modes:
                cleaning = CHOICES[choice]
                started = time.monotonic()
                model = AutoML(time_budget=30, search="defaults", random_state=seed, cleaning=cleaning)
                model.fit(train, y_train)
                print(f"{meta['name']} seed{seed} {choice:6s} test {test_score(model, test, y_test):.4f} "
                      f"cv {model.best_score_:.4f} rows {model.row_counts_['search']} "
                      f"{time.monotonic() - started:.1f}s", flush=True)


if __name__ == "__main__":
    warnings.simplefilter("ignore")
    main(sys.argv[1].split(","), sys.argv[2].split(",") if len(sys.argv) > 2 else list(CHOICES))
