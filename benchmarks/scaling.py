"""Measure the ``scale`` choice of the families that scale: each family's default trial with its numbers
standardised (``standard``), with the skewed ones through their quantiles (``quantile``, the engine's choice:
:class:`automl.pipeline.transformers.SkewAwareScaler`), and with every column of more than two values through its
quantiles (``all``, the threshold at 0: measured, not offered).

For each table of ``--suite`` (default ``extra``, the training collection the benchmark does not report on), the
training rows of the benchmark's seed-0 split (the test rows are never read), at most ``--max-rows`` of them, are
cross-validated (3 folds) through the engine's own trial pipeline (``build_pipeline``: cast, imputation, encoding,
the scaling, the model), so the figures are what a trial of that family would score, one configuration apart.

Usage::

    python -m benchmarks.scaling [--families torch_mlp,linear,mlp] [--suite extra] [--max-rows 5000]
        [--datasets a,b]

Writes ``benchmarks/results/scaling_<suite>.csv`` (one row per dataset, family and variant) and ``.md``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold, StratifiedKFold

from benchmarks import datasets as D
from benchmarks.scoring import score

RESULTS = Path(__file__).resolve().parent / "results"
FOLDS = 3
SAME = 0.1  # gains within this many % count as the same score
# variant -> (the trial's ``scale``, the scaler's skew threshold; None: the scaler's own)
VARIANTS = {"standard": ("standard", None), "quantile": ("quantile", None), "all": ("quantile", 0.0)}


def _with_threshold(pipeline: Any, threshold: float | None) -> Any:
    """``pipeline`` with every :class:`SkewAwareScaler` in it set to ``threshold`` (unchanged for ``None``)."""
    from automl.pipeline.transformers import SkewAwareScaler

    if threshold is not None:
        for name, step in pipeline.get_params().items():
            if isinstance(step, SkewAwareScaler):
                pipeline.set_params(**{f"{name}__skew_threshold": threshold})
    return pipeline


def _skewed_columns(pipeline: Any) -> int:
    """Columns the fitted pipeline's scalers send through their quantiles."""
    from automl.pipeline.transformers import SkewAwareScaler

    parts = pipeline.named_steps["preprocess"].transformers_
    steps = [step for _, part, _ in parts for _, step in getattr(part, "steps", [(None, part)])]
    return sum(int(step.skewed_.sum()) for step in steps if isinstance(step, SkewAwareScaler))


def measure(meta: dict[str, Any], root: Path, families: list[str], max_rows: int) -> list[dict[str, Any]]:
    """Every family and variant on one table's seed-0 training rows."""
    from automl.data.schema import infer_schema
    from automl.models.registry import all_families
    from automl.pipeline.build import TrialConfig, build_pipeline

    train = D.training_rows(meta, root, 0, max_rows)
    y = train[meta["target"]].astype(str) if meta["task"] != "regression" else train[meta["target"]]
    schema, x = infer_schema(train.drop(columns=[meta["target"]]))
    task = meta["task"]
    classes = sorted(y.unique()) if task != "regression" else []
    splitter = (KFold if task == "regression" else StratifiedKFold)(FOLDS, shuffle=True, random_state=0)
    rows = []
    for family in families:
        for variant, (scale, threshold) in VARIANTS.items():
            config = TrialConfig(family=all_families()[family], preprocess={"scale": scale})
            oof = np.zeros(len(y)) if task == "regression" else np.zeros((len(y), len(classes)))
            start, skewed = time.perf_counter(), 0
            for train_rows, valid in splitter.split(x, y):
                pipeline = _with_threshold(build_pipeline(schema, config, task, 0, 2, rows=len(x)), threshold)
                pipeline.fit(x.iloc[train_rows], y.iloc[train_rows])
                skewed = _skewed_columns(pipeline)
                if task == "regression":
                    oof[valid] = pipeline.predict(x.iloc[valid])
                else:
                    columns = [classes.index(str(c)) for c in pipeline.classes_]
                    oof[np.ix_(valid, columns)] = pipeline.predict_proba(x.iloc[valid])
            rows.append({"dataset": meta["name"], "task": task, "rows": len(y), "family": family, "variant": variant,
                         "score": score(task, y, oof, classes), "skewed_columns": skewed,
                         "seconds": round(time.perf_counter() - start, 2)})
    return rows


def report(results: pd.DataFrame, suite: str, max_rows: int) -> str:
    """Per family and table, the gain of ``quantile`` and ``all`` over ``standard``; then the counts."""
    keys = ["family", "dataset", "task"]
    wide = results.pivot_table(index=keys, columns="variant", values="score").reset_index()
    wide = wide.merge(results[results["variant"] == "quantile"][[*keys, "skewed"]], on=keys)
    sign = np.where(wide["task"] == "binary", 1, -1)
    lines = [f"# The `scale` choice, each family's default trial ({suite}, {FOLDS}-fold CV through the trial pipeline, "
             f"seed-0 training rows, at most {max_rows:,})", "",
             "Gain: % of `standard`'s score, positive = better (AUC up for binary; log loss and RMSE down). "
             "`skewed`: columns `quantile` maps (last fold).", "",
             "| family | dataset | task | skewed | standard | quantile | all | gain quantile % | gain all % |",
             "|---|---|---|---|---|---|---|---|---|"]
    for variant in ("quantile", "all"):
        wide[f"gain_{variant}"] = sign * 100 * (wide[variant] - wide["standard"]) / wide["standard"].abs()
    for _, row in wide.iterrows():
        lines.append(f"| {row['family']} | {row['dataset']} | {row['task']} | {row['skewed']} | {row['standard']:.4g} "
                     f"| {row['quantile']:.4g} | {row['all']:.4g} | {row['gain_quantile']:+.2f} | {row['gain_all']:+.2f} |")
    lines += ["", "| family | variant | better / same / worse | median gain % | best of the three: mean gain % |",
              "|---|---|---|---|---|"]
    for family, group in wide.groupby("family"):
        best = group[["gain_quantile", "gain_all"]].max(axis=1).clip(lower=0).mean()
        for variant in ("quantile", "all"):
            gains = group[f"gain_{variant}"]
            better, worse = int((gains > SAME).sum()), int((gains < -SAME).sum())
            lines.append(f"| {family} | {variant} | {better} / {len(gains) - better - worse} / {worse} | "
                         f"{gains.median():+.2f} | {best:+.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", default="torch_mlp,linear,mlp", help="comma-separated scaling families")
    parser.add_argument("--suite", default="extra", choices=["extra", "openml"])
    parser.add_argument("--max-rows", type=int, default=5000)
    parser.add_argument("--datasets", default=None, help="comma-separated names (default: all)")
    args = parser.parse_args(argv)
    root = D.datasets_dir(args.suite)
    manifest = D.select(D.load_manifest(root), args.datasets.split(",") if args.datasets else None)
    rows = []
    for meta in manifest:
        measured = measure(meta, root, args.families.split(","), args.max_rows)
        for row in measured:
            print(f"{row['dataset']:28s} {row['family']:10s} {row['variant']:9s} {row['score']:.5g} "
                  f"({row['skewed_columns']} skewed, {row['seconds']:.1f}s)", flush=True)
        rows += measured
    results = pd.DataFrame(rows).rename(columns={"skewed_columns": "skewed"})
    stem = RESULTS / f"scaling_{args.suite}"
    results.to_csv(stem.with_suffix(".csv"), index=False)
    stem.with_suffix(".md").write_text(report(results, args.suite, args.max_rows))
    print(f"wrote {stem}.csv and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
