"""How a bagged LightGBM trial should choose its boosting rounds on small data, and how optimistic each way's
cross-validation score is.

A bagged trial (small data: the trial's model is the mean of its fold models) fits one LightGBM model per fold.
The engine's default trial stops each on 10 % of the fold's *training* rows (from 1,000 of them; 100 rounds
unstopped below 1,500), so the validation fold stays unseen but the fold model loses a tenth of its rows and
stops on a small, noisy holdout. AutoGluon stops each fold model on the fold's *validation* rows: all training
rows are used and the stop is taken on more rows, but the fold's score is then measured on the rows that chose
its rounds. A third way chooses **one** number of rounds for all folds from their mean validation curve (as
``lightgbm.cv`` does): each fold model is kept at that round, and one number chosen on every row moves the score
far less than one per fold.

For each table of the training collection up to ``--max-rows`` rows (the seed's training rows; its test rows
only score) and seed, ``--folds`` folds:

- ``holdout stop``: the engine's LightGBM default trial as an unbagged fit builds it (``ModelFamily.make``), what
  bagged trials did before they stopped on their validation folds;
- ``fold stop``: the default trial's parameters in a fit that bags (``configs/families.yaml``; or up to
  ``--max-rounds``),
  each fold model fitted on all its training rows and stopped on its validation fold ``--patience`` rounds after
  its best log loss (L2 for regression), by the engine's wrapper (``LightGBMEarlyStopping.fit(validation=...)``),
  and kept at that best round;
- ``common stop``: the same fits, every fold model cut at the round with the best mean validation loss over
  the folds;
- ``nested stop``: the same fits, fold k's model cut at the best round of the *other* folds' mean validation
  curve (``automl.models.boosting.nested_rounds``, what the engine does), so no fold's rounds are chosen on its
  own validation rows (an honest CV score, at no extra fit).

Each way's CV score (the mean of its folds' scores, as the engine's) and its bag's score on the seed's test rows (the fold models'
mean) are recorded. A CV gain that the test rows do not show is optimism.

Usage::

    python -m benchmarks.bag_stopping [--datasets a,b] [--seeds 0,1,2] [--folds 8] [--patience 50]

Writes ``benchmarks/results/bag_stopping_extra.csv`` and ``.md``.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.family_defaults import default_trial, prepared
from benchmarks.scoring import score
from benchmarks.stack_leak import Table, gain, measure_tables, write_results

RESULTS = Path(__file__).resolve().parent / "results"
# The training collection's tables whose search rows are bagged (at most 5,000 of them in the benchmark's split)
DEFAULT_DATASETS = ["alzheimer_biomarkers", "olive_oil_area", "opt_birthweight", "fishing_mode", "beps_vote",
                    "nhefs_death", "leaf_flavia_species", "mortgage_approval", "chile_plebiscite_vote",
                    "ames_housing", "kershaw_pitch_type", "email_spam", "hpc_job_class", "credit_scoring",
                    "resume_callback", "caravan_insurance"]
WAYS = ("holdout stop", "fold stop", "common stop", "nested stop")


def stopping_model(table: Table, family: Any, fold_rows: int, max_rounds: int | None, patience: int) -> Any:
    """The engine's default LightGBM trial in a fit that bags, on ``fold_rows`` training rows (up to ``max_rounds``
    rounds when given), in the engine's early-stopping wrapper, to be fitted with ``validation=`` (every round kept,
    the curve recorded)."""
    from automl.models.boosting import LightGBMEarlyStopping

    params = {**default_trial(family, fold_rows, table.task, bagging=True), "verbose": -1, "random_state": 0,
              "n_jobs": 2}
    if max_rounds is not None:
        params["n_estimators"] = max_rounds
    return LightGBMEarlyStopping(family.estimator_class(table.task)(**params), patience=patience, random_state=0)


def predict(table: Table, model: Any, frame: pd.DataFrame, rounds: int) -> np.ndarray:
    """Predictions of ``frame`` in the table's layout (class probabilities in class order) after ``rounds``."""
    if table.task == "regression":
        return np.asarray(model.predict(frame, num_iteration=rounds), dtype=float)
    proba = np.zeros((len(frame), table.width()))
    proba[:, model.classes_] = model.predict_proba(frame, num_iteration=rounds)
    return proba


def holdout_bag(table: Table, family: Any) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Out-of-fold and test predictions of the engine's default trial as an unbagged fit builds it (a 10 % holdout of
    the fold's training rows from 1,000 of them; 100 rounds unstopped below 1,500), bagged, and its rounds per fold."""
    from sklearn.pipeline import make_pipeline

    oof, test, rounds = table.empty(len(table.y)), table.empty(len(table.x_test)), []
    categorical = [c for c in table.x.columns if table.x[c].dtype == "category"]
    numeric = [c for c in table.x.columns if c not in categorical]
    for train, valid in table.folds:
        model = family.make(table.task, default_trial(family, len(train), table.task), random_state=0, n_jobs=2)
        pipe = make_pipeline(prepared(family, numeric, categorical), model).fit(table.x.iloc[train], table.y[train])
        oof[valid] = _pipe_predict(table, pipe, table.x.iloc[valid])
        test += _pipe_predict(table, pipe, table.x_test) / len(table.folds)
        rounds.append(int(pipe[-1].best_iteration_))
    return oof, test, rounds


def _pipe_predict(table: Table, pipe: Any, frame: pd.DataFrame) -> np.ndarray:
    if table.task == "regression":
        return np.asarray(pipe.predict(frame), dtype=float)
    proba = np.zeros((len(frame), table.width()))
    proba[:, pipe[-1].classes_] = pipe.predict_proba(frame)
    return proba


def stopped_bags(table: Table, family: Any, max_rounds: int | None, patience: int
                 ) -> dict[str, tuple[np.ndarray, np.ndarray, list[int]]]:
    """``fold stop``, ``common stop`` and ``nested stop``: one fit per fold on its training rows, stopped on its
    validation rows (``patience`` rounds after their best loss, every round kept), cut three ways."""
    from automl.models.boosting import nested_rounds

    fits, curves = [], []
    for train, valid in table.folds:
        model = stopping_model(table, family, len(train), max_rounds, patience)
        model.fit(table.x.iloc[train], table.y[train], validation=(table.x.iloc[valid], table.y[valid], None))
        fits.append(model.estimator_)
        curves.append(model.validation_curve_)
    longest = max(len(c) for c in curves)
    # a fold that stopped early keeps its last loss for the rounds it did not fit (it was rising there)
    common = int(np.argmin(np.mean([np.pad(c, (0, longest - len(c)), mode="edge") for c in curves], axis=0))) + 1
    chosen = {"fold stop": [int(np.argmin(c)) + 1 for c in curves], "common stop": [common] * len(curves),
              "nested stop": nested_rounds(curves)}
    out = {}
    for way, rounds in chosen.items():
        oof, test = table.empty(len(table.y)), table.empty(len(table.x_test))
        for (_, valid), model, at in zip(table.folds, fits, rounds):
            oof[valid] = predict(table, model, table.x.iloc[valid], at)
            test += predict(table, model, table.x_test, at) / len(table.folds)
        out[way] = (oof, test, rounds)
    return out


def measure(meta: dict[str, Any], root: Path, seed: int, folds: int, max_rows: int, max_rounds: int | None,
            patience: int) -> list[dict[str, Any]]:
    from automl.models.registry import all_families

    family = all_families()["lightgbm"]
    table = Table(meta, root, seed, max_rows, folds)
    if table.classes and np.bincount(table.y).min() < folds:
        return [{"dataset": meta["name"], "seed": seed, "status": f"skipped: a class has fewer than {folds} rows"}]
    rows = []
    start = time.perf_counter()
    bags = {"holdout stop": holdout_bag(table, family), **stopped_bags(table, family, max_rounds, patience)}
    for way, (oof, test, rounds) in bags.items():
        rows.append({"dataset": meta["name"], "task": table.task, "rows": len(table.y), "seed": seed, "way": way,
                     "cv": fold_mean(table, oof), "cv_pooled": table.score(oof, False),
                     "test": table.score(test, True),
                     "median_rounds": float(np.median(rounds)), "status": "ok"})
    for row in rows:
        row["seconds"] = round(time.perf_counter() - start, 1)
    return rows


def fold_mean(table: Table, oof: np.ndarray) -> float:
    """The mean of the folds' scores (the engine's CV score; pooled out-of-fold predictions of fold models stopped
    at different rounds would score their different scales too)."""
    labels = pd.Series(np.asarray(table.classes)[table.y] if table.classes else table.y)
    return float(np.mean([score(table.task, labels.iloc[valid], oof[valid], table.classes)
                          for _, valid in table.folds]))


def report(results: pd.DataFrame) -> str:
    """Per table and seed: each way's CV and test gain over the holdout stop."""
    ok = results[results["status"] == "ok"]
    lines = ["| dataset | seed | holdout stop: rounds | holdout stop: CV | holdout stop: test | fold stop: rounds | fold stop: CV gain "
             "| fold stop: test gain | common stop: rounds | common stop: CV gain | common stop: test gain "
             "| nested stop: rounds | nested stop: CV gain | nested stop: test gain |", "|---" * 14 + "|"]
    gains: dict[str, list[tuple[float, float]]] = {way: [] for way in WAYS[1:]}
    for (dataset, seed), group in ok.groupby(["dataset", "seed"], sort=True):
        task = group["task"].iloc[0]
        by_way = group.set_index("way")
        engine = by_way.loc["holdout stop"]
        cells = [f"{engine['median_rounds']:.0f}", f"{engine['cv']:.5g}", f"{engine['test']:.5g}"]
        for way in WAYS[1:]:
            row = by_way.loc[way]
            cv, test = gain(task, row["cv"], engine["cv"]), gain(task, row["test"], engine["test"])
            gains[way].append((cv, test))
            cells += [f"{row['median_rounds']:.0f}", f"{cv:+.2f} %", f"{test:+.2f} %"]
        lines.append(f"| {dataset} | {seed} | " + " | ".join(cells) + " |")
    lines.append("")
    for way, pairs in gains.items():
        cv, test = np.array(pairs).T
        lines.append(f"- {way} against the holdout stop: mean CV gain {cv.mean():+.2f} %, mean test gain {test.mean():+.2f} % "
                     f"(median {np.median(test):+.2f} %; better on test in {(test > 0).sum()} of {len(test)}, worse "
                     f"in {(test < 0).sum()}); CV gain over test gain by {np.mean(cv - test):+.2f} points on average")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(DEFAULT_DATASETS))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--folds", type=int, default=8)
    parser.add_argument("--max-rows", type=int, default=5000)
    parser.add_argument("--max-rounds", type=int, default=None,
                        help="most rounds of the stopped fits (default: the bagged default trial's)")
    parser.add_argument("--patience", type=int, default=50)
    parser.add_argument("--out", default=str(RESULTS / "bag_stopping_extra"))
    args = parser.parse_args(argv)
    results = measure_tables(args.datasets, args.seeds, lambda meta, root, seed: measure(
        meta, root, seed, args.folds, args.max_rows, args.max_rounds, args.patience))
    text = (f"# Boosting rounds of a bagged LightGBM trial ({args.folds} folds, patience {args.patience}; "
            f"`python -m benchmarks.bag_stopping`)\n\nGain over the holdout stop in % of the metric "
            f"(positive: better): in CV and on the seed's test rows.\n\n{report(results)}\n")
    write_results(results, args.out, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
