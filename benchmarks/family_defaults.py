"""Measure a family's default trial against its library's own defaults on the training collection, not the suite.

A family's default trial (``configs/families.yaml``: its ``defaults``, and its ``small_data`` / ``large_data`` ones
by the rows) may differ from the library's defaults; this script is the measurement such a choice is made on. For
each table of ``--suite`` (default ``extra``, the training collection the benchmark does not report on), the
training rows of the benchmark's seed-0 split (the test rows are never read), at most ``--max-rows`` of them, are
cross-validated (5 folds) with both, each model built as the search builds it (``ModelFamily.make``: the family's
fixed parameters and wrapper, e.g. LightGBM's early stopping on a 10 % holdout from 1,000 rows). The columns are
prepared as the family needs (``needs.scale``: numbers imputed and standardised, categories one-hot; otherwise
categorical and text columns become pandas categories, which LightGBM splits on natively), not through the engine's
whole pipeline, so the figures compare the two defaults, not the engine's pipelines.

With ``--against OTHER`` the baseline is another family's default trial instead of the library's defaults (each
model with its own family's preparation): the measurement a new family is added on. With ``--variant KEY=VALUE,...``
the baseline is the engine's default trial and the other configuration that trial with those parameters changed
(values parsed as YAML: ``extra_trees=true``): the measurement a portfolio entry or a new default is chosen on.

Usage::

    python -m benchmarks.family_defaults --family lightgbm [--against mlp | --variant extra_trees=true]
        [--suite extra] [--max-rows 20000] [--datasets a,b]

Writes ``benchmarks/results/family_defaults_<family>[_vs_<other> | _<key>_<value>...]_<suite>.csv`` (one row per dataset and
configuration) and ``.md``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from sklearn.model_selection import KFold, StratifiedKFold

from benchmarks import datasets as D
from benchmarks.scoring import score

RESULTS = Path(__file__).resolve().parent / "results"
LIBRARY = "library defaults"
ENGINE = "engine default trial"
SAME = 0.005  # gains within this many % count as the same score
FOLDS = 5


def default_trial(family: Any, fold_rows: int, task: str, bagging: bool = False) -> dict[str, Any]:
    """The engine's default trial of ``family`` on a fold of ``fold_rows`` training rows (in a fit that bags when
    ``bagging``)."""
    return {**family.default_params(task), **family.size_defaults(fold_rows, bagging)}


def configurations(family: Any, fold_rows: int, task: str, against: Any = None,
                   variant: dict[str, Any] | None = None) -> dict[str, tuple[Any, dict]]:
    """The baseline (the library's own defaults, the default trial of the family ``against``, or with ``variant``
    the engine's default trial) and the compared configuration (the engine's default trial, or with ``variant`` that
    trial with the variant's parameters), each as (family, parameters), on a fold of ``fold_rows`` training rows."""
    trial = default_trial(family, fold_rows, task)
    if variant:
        return {baseline_name(None, variant): (family, trial), ENGINE: (family, {**trial, **variant})}
    baseline = (family, {}) if against is None else (against, default_trial(against, fold_rows, task))
    return {baseline_name(against.name if against else None): baseline, ENGINE: (family, trial)}


def baseline_name(against: str | None, variant: dict[str, Any] | None = None) -> str:
    """The baseline configuration's name: the library's defaults, the family ``against``'s default trial, or the
    engine's default trial without ``variant``."""
    if variant:
        return "default trial without " + _listed(variant)
    return LIBRARY if against is None else f"{against} default trial"


def _listed(variant: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in variant.items())


def parse_variant(text: str | None) -> dict[str, Any]:
    """``KEY=VALUE,KEY=VALUE`` as parameters, each value parsed as YAML (``true``, ``0.5``, ``gbdt``)."""
    if not text:
        return {}
    pairs = [item.split("=", 1) for item in text.split(",")]
    if any(len(pair) != 2 or not pair[0] for pair in pairs):
        raise ValueError(f"--variant takes KEY=VALUE pairs separated by commas, got {text!r}")
    return {key.strip(): yaml.safe_load(value) for key, value in pairs}


def prepared(family: Any, numeric: list[str], categorical: list[str]) -> Any:
    """The columns as the family needs them: standardised numbers and one-hot categories where it scales;
    ordinal codes of categories where it asks for them (histogram boosting: scikit-learn would otherwise split
    natively on pandas categories and refuse more than 255 levels); otherwise unchanged (categories stay pandas
    categories)."""
    from sklearn.compose import make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    if family.needs.get("encode") == "ordinal" and not family.needs.get("scale"):
        codes = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan)
        return make_column_transformer((codes, categorical), remainder="passthrough")
    if not family.needs.get("scale"):
        return "passthrough"

    return make_column_transformer(
        (make_pipeline(SimpleImputer(), StandardScaler()), numeric),
        (make_pipeline(SimpleImputer(strategy="most_frequent"),
                       OneHotEncoder(handle_unknown="ignore", max_categories=30, sparse_output=False)), categorical))


def cross_validate(family: Any, params: dict[str, Any], x: pd.DataFrame, y: np.ndarray, task: str,
                   n_classes: int) -> tuple[float, float, int]:
    """Score, seconds and median boosting rounds kept (0 for a family without rounds) of 5-fold cross-validation."""
    from sklearn.pipeline import make_pipeline

    categorical = [c for c in x.columns if x[c].dtype == "category"]
    numeric = [c for c in x.columns if c not in categorical]
    splitter = (KFold if task == "regression" else StratifiedKFold)(FOLDS, shuffle=True, random_state=0)
    oof = np.zeros(len(y)) if task == "regression" else np.zeros((len(y), n_classes))
    rounds, start = [], time.perf_counter()
    for fold, (train, valid) in enumerate(splitter.split(x, y)):
        model = family.make(task, params, random_state=fold, n_jobs=2)
        pipeline = make_pipeline(prepared(family, numeric, categorical), model).fit(x.iloc[train], y[train])
        rounds.append(int(getattr(model, "best_iteration_", 0) or 0))
        if task == "regression":
            oof[valid] = pipeline.predict(x.iloc[valid])
        else:
            oof[np.ix_(valid, model.classes_)] = pipeline.predict_proba(x.iloc[valid])
    seconds = time.perf_counter() - start
    return score(task, pd.Series(y), oof, list(range(n_classes))), seconds, int(np.median(rounds))


def measure(family_name: str, meta: dict[str, Any], root: Path, max_rows: int,
            against_name: str | None = None, variant: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Both configurations of the family on one table's seed-0 training rows."""
    from automl.models.registry import all_families

    train = D.training_rows(meta, root, 0, max_rows)
    x = train.drop(columns=[meta["target"]])
    for column in x.columns:
        if column in meta["categorical_columns"] or x[column].dtype == object:
            x[column] = x[column].astype("category")
    task, y = meta["task"], train[meta["target"]].to_numpy()
    n_classes = 0
    if task != "regression":
        classes, y = np.unique(y, return_inverse=True)
        n_classes = len(classes)
        if np.bincount(y).min() < FOLDS:  # a class too rare for stratified folds and a holdout
            return [{"dataset": meta["name"], "task": task, "rows": len(y), "configuration": name,
                     "status": f"skipped: a class has fewer than {FOLDS} rows"}
                    for name in (baseline_name(against_name, variant), ENGINE)]
    fold_rows = int(len(y) * (FOLDS - 1) / FOLDS)
    rows = []
    family = all_families()[family_name]
    against = all_families()[against_name] if against_name else None
    for name, (model_family, params) in configurations(family, fold_rows, task, against, variant).items():
        score, seconds, rounds = cross_validate(model_family, params, x, y, task, n_classes)
        rows.append({"dataset": meta["name"], "task": task, "rows": len(y), "configuration": name,
                     "params": str(params), "score": score, "seconds": round(seconds, 2), "rounds": rounds,
                     "status": "ok"})
    return rows


def report(results: pd.DataFrame, family: str, suite: str, max_rows: int, baseline: str = LIBRARY,
           variant: dict[str, Any] | None = None) -> str:
    """A markdown table of the two configurations per dataset, with the engine's relative gain."""
    ok = results[results["status"] == "ok"]
    wide = ok.pivot(index=["dataset", "task", "rows"], columns="configuration", values=["score", "seconds", "rounds"])
    against = "the library's own defaults" if baseline == LIBRARY else f"the {baseline}"
    compared = "the engine's default trial" + (" with " + _listed(variant) if variant else "")
    lines = [f"# {family}: {compared} against {against} ({suite}, {FOLDS}-fold CV, "
             f"seed-0 training rows, at most {max_rows:,})", "",
             f"Gain: {compared} against {against}, in % of the latter's score, positive = "
             "better (AUC up for binary; log loss and RMSE down). Rounds: boosting rounds kept (0: not a boosting family).",
             "",
             "| dataset | task | rows | baseline | engine | gain % | rounds (baseline / engine) | s (baseline / engine) |",
             "|---|---|---|---|---|---|---|---|"]
    gains: dict[str, list[float]] = {}
    for (dataset, task, rows), row in wide.iterrows():
        library, engine = row[("score", baseline)], row[("score", ENGINE)]
        gain = 100 * (engine - library) / abs(library) * (1 if task == "binary" else -1)
        gains.setdefault(task, []).append(gain)
        lines.append(f"| {dataset} | {task} | {rows:,} | {library:.4g} | {engine:.4g} | {gain:+.2f} | "
                     f"{row[('rounds', baseline)]:.0f} / {row[('rounds', ENGINE)]:.0f} | "
                     f"{row[('seconds', baseline)]:.1f} / {row[('seconds', ENGINE)]:.1f} |")
    lines += ["", "| task | better / same / worse | median gain % |", "|---|---|---|"]
    for task, values in sorted(gains.items()):
        better, worse = sum(g > SAME for g in values), sum(g < -SAME for g in values)
        lines.append(f"| {task} | {better} / {len(values) - better - worse} / {worse} | {np.median(values):+.2f} |")
    skipped = results[results["status"] != "ok"].drop_duplicates("dataset")
    for _, row in skipped.iterrows():
        lines.append(f"\n{row['dataset']}: {row['status']}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", required=True, help="a family declared in configs/families.yaml")
    parser.add_argument("--suite", default="extra", choices=["extra", "openml"])
    parser.add_argument("--against", default=None, help="compare with this family's default trial instead of the "
                        "library's defaults")
    parser.add_argument("--variant", default=None, help="KEY=VALUE,...: compare the default trial with these "
                        "parameters changed against the default trial")
    parser.add_argument("--max-rows", type=int, default=20000)
    parser.add_argument("--datasets", default=None, help="comma-separated names (default: all)")
    args = parser.parse_args(argv)
    variant = parse_variant(args.variant)
    if variant and args.against:
        parser.error("--variant and --against are two different measurements: give one")
    root = D.datasets_dir(args.suite)
    chosen = D.select(D.load_manifest(root), args.datasets.split(",") if args.datasets else None)
    rows: list[dict[str, Any]] = []
    for meta in chosen:
        if meta["task"] in ("binary", "multiclass", "regression"):
            rows += measure(args.family, meta, root, args.max_rows, args.against, variant)
            print(meta["name"], "done", flush=True)
    results = pd.DataFrame(rows)
    RESULTS.mkdir(exist_ok=True)
    versus = f"_vs_{args.against}" if args.against else "".join(f"_{k}_{v}" for k, v in variant.items()).lower()
    stem = RESULTS / f"family_defaults_{args.family}{versus}_{args.suite}"
    results.to_csv(stem.with_suffix(".csv"), index=False)
    stem.with_suffix(".md").write_text(report(results, args.family, args.suite, args.max_rows,
                                              baseline_name(args.against, variant), variant))
    return 0


if __name__ == "__main__":
    sys.exit(main())
