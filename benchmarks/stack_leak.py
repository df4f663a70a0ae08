"""How optimistic a second level's cross-validation is when its features are the first level's out-of-fold predictions
on the same folds, and what stacking buys on test rows when its features are nested instead.

Stacking (AutoGluon's ``StackerEnsembleModel``) fits a second-level model on the columns plus the out-of-fold
predictions of first-level bags and validates it on the same folds. A row's feature then comes from a fold model
that saw every other fold, the validation fold included, so the second level's score is measured on labels that
shaped its training features. This script measures that on the training collection: for each table (the seed's
training rows, at most ``--max-rows``) and seed, 8 folds (as a long budget's small tables get them),

- first level: the engine's default trials of ``--bases`` (each a bag of 8 fold models), their CV score and the
  bag's score on the seed's test rows;
- second level, **same folds**: each of ``--tops`` on the columns plus the bases' out-of-fold predictions;
- second level, **nested**: for validation fold k, the training rows' features come from models that saw neither
  their own fold nor fold k (8 x 7 more fits per base); fold k's features from the fold model that did not see it.

Both second levels predict the test rows from the bases' bags (their fold models' mean). A CV gain that the test
rows do not show is the leak.

Usage::

    python -m benchmarks.stack_leak [--datasets a,b] [--seeds 0,1] [--bases linear,lightgbm] [--tops linear,lightgbm]

Writes ``benchmarks/results/stack_leak_extra.csv`` and ``.md``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import make_pipeline

from benchmarks import datasets as D
from benchmarks.family_defaults import default_trial, prepared
from benchmarks.scoring import score
from automl.search.stack_columns import prediction_columns, with_stack_columns

RESULTS = Path(__file__).resolve().parent / "results"
FOLDS = 8
# The training collection's tables of at most 6,667 rows (5,000 training rows: where 8 bagged folds apply), every
# third by size from the smallest
DEFAULT_DATASETS = ["alzheimer_biomarkers", "fishing_mode", "leaf_flavia_species", "ames_housing", "hpc_job_class",
                    "caravan_insurance"]


class Table:
    """One table's training and test rows, prepared once, with its folds."""

    def __init__(self, meta: dict[str, Any], root: Path, seed: int, max_rows: int, folds: int = FOLDS):
        train, test = D.split_frame(D.load_frame(meta, root), meta, seed)
        train = train.sample(max_rows, random_state=seed) if len(train) > max_rows else train
        self.task, target = meta["task"], meta["target"]
        self.x, self.x_test = train.drop(columns=[target]), test.drop(columns=[target])
        for column in self.x.columns:
            if column in meta["categorical_columns"] or self.x[column].dtype == object:
                levels = pd.CategoricalDtype(sorted(self.x[column].dropna().astype(str).unique()))
                self.x[column] = self.x[column].astype(str).where(self.x[column].notna()).astype(levels)
                self.x_test[column] = self.x_test[column].astype(str).where(self.x_test[column].notna()).astype(levels)
        y, y_test = train[target].to_numpy(), test[target]
        self.classes: list[str] = []
        if self.task != "regression":
            classes, y = np.unique(y.astype(str), return_inverse=True)
            self.classes = list(classes)
            y_test = y_test.astype(str)
        self.y, self.y_test = y, y_test
        splitter = (KFold if self.task == "regression" else StratifiedKFold)(folds, shuffle=True, random_state=seed)
        self.folds = list(splitter.split(self.x, y))

    def stack_classes(self) -> np.ndarray | None:
        """The classes as the engine's stack columns take them (positions: the probability columns' order)."""
        return np.arange(self.width()) if self.classes else None

    def width(self) -> int:
        return 1 if self.task == "regression" else len(self.classes)

    def fit_predict(self, family: Any, x: pd.DataFrame, rows: np.ndarray, targets: list[pd.DataFrame]
                    ) -> list[np.ndarray]:
        """Fit ``family``'s default trial on ``x.iloc[rows]`` and predict each frame of ``targets``."""
        categorical = [c for c in x.columns if x[c].dtype == "category"]
        numeric = [c for c in x.columns if c not in categorical]
        params = default_trial(family, len(rows), self.task)
        model = family.make(self.task, params, random_state=0, n_jobs=2)
        pipeline = make_pipeline(prepared(family, numeric, categorical), model).fit(x.iloc[rows], self.y[rows])
        out = []
        for frame in targets:
            if self.task == "regression":
                out.append(np.asarray(pipeline.predict(frame), dtype=float))
            else:
                proba = np.zeros((len(frame), self.width()))
                proba[:, model.classes_] = pipeline.predict_proba(frame)
                out.append(proba)
        return out

    def score(self, pred: np.ndarray, on_test: bool) -> float:
        y = self.y_test if on_test else pd.Series(np.asarray(self.classes)[self.y] if self.classes else self.y)
        return score(self.task, y, pred, self.classes)

    def empty(self, rows: int) -> np.ndarray:
        return np.zeros(rows) if self.task == "regression" else np.zeros((rows, self.width()))


def bag(table: Table, family: Any, x: pd.DataFrame, x_test: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold predictions and the test rows' prediction (the fold models' mean) of a bag."""
    oof, test = table.empty(len(x)), table.empty(len(x_test))
    for train, valid in table.folds:
        on_valid, on_test = table.fit_predict(family, x, train, [x.iloc[valid], x_test])
        oof[valid] = on_valid
        test += on_test / len(table.folds)
    return oof, test


def nested_features(table: Table, family: Any) -> list[np.ndarray]:
    """Per validation fold k: the base's predictions of every row from models that saw neither the row's fold nor
    fold k (fold k's own rows: the fold model without fold k)."""
    out = []
    for k, (_, valid_k) in enumerate(table.folds):
        feature = table.empty(len(table.y))
        for j, (_, valid_j) in enumerate(table.folds):
            rows = np.setdiff1d(np.arange(len(table.y)), np.concatenate([valid_j, valid_k])) if j != k else \
                np.setdiff1d(np.arange(len(table.y)), valid_k)
            feature[valid_j] = table.fit_predict(family, table.x, rows, [table.x.iloc[valid_j]])[0]
        out.append(feature)
    return out


def with_columns(x: pd.DataFrame, blocks: list[np.ndarray]) -> pd.DataFrame:
    """``x`` with each base's block of predictions appended."""
    return with_stack_columns(x, [([f"stack_{i}_{j}" for j in range(block.shape[1])], block)
                                  for i, block in enumerate(blocks)])


def second_level(table: Table, top: Any, train_features: list[pd.DataFrame], x_test: pd.DataFrame
                 ) -> tuple[np.ndarray, np.ndarray]:
    """A bag of ``top`` over the folds, fold k trained and validated on ``train_features[k]``."""
    oof, test = table.empty(len(table.y)), table.empty(len(x_test))
    for k, (train, valid) in enumerate(table.folds):
        on_valid, on_test = table.fit_predict(top, train_features[k], train, [train_features[k].iloc[valid], x_test])
        oof[valid] = on_valid
        test += on_test / len(table.folds)
    return oof, test


def blend(table: Table, oofs: list[np.ndarray], tests: list[np.ndarray], bases: list[str]) -> dict[str, Any]:
    """The first level as the engine's ensemble selection blends it (Caruana's greedy selection on the bags'
    out-of-fold predictions), scored like a model: what a second level must beat."""
    from automl.metrics import DEFAULT_METRIC, get_metric
    from automl.search.ensemble import blend as weighted, select_ensemble

    metric = get_metric(DEFAULT_METRIC[table.task], table.task)
    classes = np.arange(table.width()) if table.classes else None
    chosen = select_ensemble(dict(enumerate(oofs)), table.y, metric, classes)
    weights = chosen.weights if chosen is not None else {0: 1.0}
    return {"level": "first", "model": "blend of " + "+".join(bases),
            "cv": table.score(weighted(dict(enumerate(oofs)), weights), False),
            "test": table.score(weighted(dict(enumerate(tests)), weights), True)}


def measure(meta: dict[str, Any], root: Path, seed: int, bases: list[str], tops: list[str], max_rows: int
            ) -> list[dict[str, Any]]:
    from automl.models.registry import all_families

    families = all_families()
    table = Table(meta, root, seed, max_rows)
    if table.classes and np.bincount(table.y).min() < FOLDS:
        return [{"dataset": meta["name"], "seed": seed, "status": f"skipped: a class has fewer than {FOLDS} rows"}]
    start = time.perf_counter()
    rows, oofs, tests, nested, raw_oofs, raw_tests = [], [], [], [], [], []
    for name in bases:
        oof, test = bag(table, families[name], table.x, table.x_test)
        raw_oofs.append(oof)
        raw_tests.append(test)
        oofs.append(prediction_columns(oof, table.stack_classes()))
        tests.append(prediction_columns(test, table.stack_classes()))
        nested.append([prediction_columns(f, table.stack_classes()) for f in nested_features(table, families[name])])
        rows.append({"level": "first", "model": name, "cv": table.score(oof, False), "test": table.score(test, True)})
    rows.append(blend(table, [o for o in raw_oofs], raw_tests, bases))
    x_test = with_columns(table.x_test, tests)
    same = with_columns(table.x, oofs)
    per_fold = [with_columns(table.x, [n[k] for n in nested]) for k in range(FOLDS)]
    for k, (_, valid) in enumerate(table.folds):  # fold k's own rows read the fold model that did not see them
        per_fold[k].iloc[valid, table.x.shape[1]:] = same.iloc[valid, table.x.shape[1]:].to_numpy()
    for name in tops:
        for kind, features in (("same folds", [same] * FOLDS), ("nested", per_fold)):
            oof, test = second_level(table, families[name], features, x_test)
            rows.append({"level": f"second, {kind}", "model": name, "cv": table.score(oof, False),
                         "test": table.score(test, True)})
    seconds = round(time.perf_counter() - start, 1)
    return [{"dataset": meta["name"], "task": table.task, "rows": len(table.y), "seed": seed, **row,
             "seconds": seconds, "status": "ok"} for row in rows]


def gain(task: str, value: float, reference: float) -> float:
    """Relative gain in % of ``value`` over ``reference`` (positive: better; lower is better but for AUC)."""
    sign = 1.0 if task == "binary" else -1.0
    return 100.0 * sign * (value - reference) / abs(reference)


def report(results: pd.DataFrame, bases: list[str]) -> str:
    """Per table, seed and top: the second level's CV and test gain over the best first-level bag (by CV)."""
    ok = results[results["status"] == "ok"]
    lines = ["| dataset | seed | top | best first level (by CV) | same folds: CV gain | same folds: test gain | "
             "same folds: test gain over the blend | nested: CV gain | nested: test gain | "
             "nested: test gain over the blend |", "|---|---|---|---|---|---|---|---|---|---|"]
    summary: dict[str, list[tuple[float, float, float]]] = {"same folds": [], "nested": []}
    for (dataset, seed), group in ok.groupby(["dataset", "seed"], sort=True):
        task = group["task"].iloc[0]
        first = group[group["level"] == "first"]
        sign = -1.0 if task == "binary" else 1.0
        single = first[~first["model"].str.startswith("blend")]
        best = single.loc[(sign * single["cv"]).idxmin()]
        blended = first[first["model"].str.startswith("blend")]
        for top in group.loc[group["level"] != "first", "model"].unique():
            cells = []
            for kind in ("same folds", "nested"):
                row = group[(group["level"] == f"second, {kind}") & (group["model"] == top)].iloc[0]
                cv, test = gain(task, row["cv"], best["cv"]), gain(task, row["test"], best["test"])
                over_blend = gain(task, row["test"], blended["test"].iloc[0]) if len(blended) else float("nan")
                summary[kind].append((cv, test, over_blend))
                cells += [f"{cv:+.2f} %", f"{test:+.2f} %", f"{over_blend:+.2f} %"]
            lines.append(f"| {dataset} | {seed} | {top} | {best['model']} | " + " | ".join(cells) + " |")
    lines.append("")
    for kind, triples in summary.items():
        cv, test, over_blend = np.array(triples).T if triples else (np.array([]),) * 3
        lines.append(f"- {kind}: mean CV gain {cv.mean():+.2f} %, mean test gain {test.mean():+.2f} % "
                     f"({(test > 0).sum()} of {len(test)} better on test); CV over test by {np.mean(cv - test):+.2f} "
                     f"points on average; on test against the blend: {(over_blend > 0).sum()} of {len(over_blend)} "
                     f"better, median {np.median(over_blend):+.2f} %")
    return "\n".join(lines)


def measure_tables(datasets: str, seeds: str, measure: Callable[[dict[str, Any], Path, int], list[dict[str, Any]]]
                   ) -> pd.DataFrame:
    """``measure(meta, root, seed)``'s rows for each of the training collection's ``datasets`` and ``seeds``
    (comma-separated), reporting each on stderr as it ends."""
    root = D.datasets_dir("extra")
    rows: list[dict[str, Any]] = []
    for meta in D.select(D.load_manifest(root), datasets.split(",")):
        for seed in [int(s) for s in seeds.split(",")]:
            rows += measure(meta, root, seed)
            print(f"{meta['name']} seed {seed}: done", file=sys.stderr, flush=True)
    return pd.DataFrame(rows)


def write_results(results: pd.DataFrame, out: str, text: str) -> None:
    """``results`` as ``<out>.csv`` and ``text`` as ``<out>.md`` (and on stdout)."""
    results.to_csv(f"{out}.csv", index=False)
    Path(f"{out}.md").write_text(text)
    print(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(DEFAULT_DATASETS))
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--bases", default="linear,lightgbm")
    parser.add_argument("--tops", default="linear,lightgbm")
    parser.add_argument("--max-rows", type=int, default=5000)
    parser.add_argument("--out", default=str(RESULTS / "stack_leak_extra"))
    args = parser.parse_args(argv)
    bases, tops = args.bases.split(","), args.tops.split(",")
    results = measure_tables(args.datasets, args.seeds,
                             lambda meta, root, seed: measure(meta, root, seed, bases, tops, args.max_rows))
    text = (f"# Stacking on the same folds against nested features (8 folds; bases {', '.join(bases)}; "
            f"`python -m benchmarks.stack_leak`)\n\nGain of the second level over the best first-level bag (by CV), "
            f"in % of the metric (positive: better), and on test over the bags' blend by ensemble selection.\n\n{report(results, bases)}\n")
    write_results(results, args.out, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
