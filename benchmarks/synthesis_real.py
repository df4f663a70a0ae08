"""Synthesis as a searched choice, on real data (issue 17): searched plan, no synthesis, and the fixed richest plan.

For each dataset, three fits at the same budget and seed, scored on the same held-out rows:

- ``searched``: the default fit (``fit(..., tables=...)`` or ``fit_series``); every trial chooses a synthesis plan
  up to the richest affordable one (related tables: also ``none``, the target table's own columns).
- ``none``: no synthesis. NAFLD: the subjects table alone; series: the raw values pivoted to one column per time
  step (variable-length series padded with NaN), as ``benchmarks/synthesis.py`` does for generated series.
- ``fixed``: ``AutoML(synthesis_plan="richest")``, every trial on the richest affordable plan.

Data (``../shared/datasets/extra``, see its README):

- ``relational/nafld``: subjects (parent) with labs and events (children, ``days`` relative to each subject's index
  date); target ``died_within_5y`` of the labelled subjects, a seeded stratified 75/25 split; ``futime`` and
  ``status`` (the target's source) and the ``id`` key are not features. Only child rows with ``days <=
  cutoff_days`` (0) are given: the engine's ``cutoff_time`` takes dates, and ``days`` is a number relative to each
  subject, so the cutoff is applied by filtering (the same for every subject, so nothing is lost).
- ``series/{ACSF1,PickupGestureWiimoteZ,Trace}``: long format ``id, time, value``; the archive's train/test split.

Run: ``python -m benchmarks.synthesis_real [--budget 60] [--seed 0] [--datasets nafld,Trace]``; writes
``benchmarks/results/synthesis_real_<budget>s.csv`` (after every run) and ``.md``.
"""
from __future__ import annotations

import argparse
import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score
from sklearn.model_selection import train_test_split

from automl import AutoML
from benchmarks.datasets import datasets_dir
from benchmarks.markdown import to_markdown
from benchmarks.provenance import engine_revision

SERIES = ("ACSF1", "PickupGestureWiimoteZ", "Trace")
DATASETS = ("nafld", *SERIES)
VARIANTS = ("searched", "none", "fixed")
NAFLD_RELATIONSHIPS = [("subjects", "id", "labs", "id"), ("subjects", "id", "events", "id")]
RESULTS = Path(__file__).parent / "results"
MACHINE = ("2 cores, one run at a time (`load` is the 1-minute load average when each run started: near 2 or above, "
           "something else was running, and times are longer and trial counts lower than on an idle machine)")


@dataclass
class Case:
    """One dataset: how to fit each variant and how to score a fitted model on the held-out rows."""

    name: str
    kind: str  # "relational" or "series"
    fit: dict[str, Callable[[AutoML], AutoML]]
    score: dict[str, Callable[[AutoML], dict[str, float]]]
    notes: dict[str, Any] = field(default_factory=dict)


# -- NAFLD -----------------------------------------------------------------------------------------------------
def nafld_split(seed: int) -> tuple[pd.DataFrame, pd.DataFrame, Any, Any, dict[str, pd.DataFrame], int]:
    """Training and test subjects, their labels, the child tables on or before the cutoff, and the cutoff day."""
    root = datasets_dir("extra") / "relational" / "nafld"
    labels = pd.read_csv(root / "labels_death_5y.csv.gz")
    subjects = pd.read_csv(root / "nafld1_subjects.csv.gz").drop(columns=["futime", "status"])
    cutoff = int(labels.cutoff_days.max())
    if labels.cutoff_days.nunique() != 1:
        raise ValueError("nafld: this benchmark filters child rows by one cutoff_days; the labels have several")
    children = {name: frame[frame.days <= cutoff].reset_index(drop=True) for name, frame in (
        ("labs", pd.read_csv(root / "nafld2_labs.csv.gz")), ("events", pd.read_csv(root / "nafld3_events.csv.gz")))}
    target = subjects.merge(labels[["id", "died_within_5y"]], on="id")
    train, test = train_test_split(target, test_size=0.25, stratify=target.died_within_5y, random_state=seed)
    y_train, y_test = train.pop("died_within_5y").to_numpy(), test.pop("died_within_5y").to_numpy()
    return train.reset_index(drop=True), test.reset_index(drop=True), y_train, y_test, children, cutoff


def nafld_tables(seed: int) -> dict[str, pd.DataFrame]:
    """What a relational fit on NAFLD synthesises from: the child tables and the training subjects."""
    train, _, _, _, children, _ = nafld_split(seed)
    return {**children, "subjects": train}


def nafld_case(seed: int) -> Case:
    """Subjects with their labs and events before the index date; died within 5 years, stratified 75/25 split."""
    train, test, y_train, y_test, children, cutoff = nafld_split(seed)

    def relational(model: AutoML) -> AutoML:
        return model.fit(train, y_train, tables=children, relationships=NAFLD_RELATIONSHIPS)

    def alone(model: AutoML) -> AutoML:
        return model.fit(train.drop(columns="id"), y_train)

    def score(model: AutoML, tables: bool) -> dict[str, float]:
        proba = (model.predict_proba(test, tables=children) if tables else
                 model.predict_proba(test.drop(columns="id")))
        return {"roc_auc": roc_auc_score(y_test, proba[:, list(model.classes_).index(1)])}

    return Case("nafld", "relational", fit={"searched": relational, "none": alone, "fixed": relational},
                score={"searched": lambda m: score(m, True), "none": lambda m: score(m, False),
                       "fixed": lambda m: score(m, True)},
                notes={"rows": f"{len(train)} train / {len(test)} test subjects ({y_test.mean():.1%} positive in "
                                f"test), {len(children['labs'])} lab and {len(children['events'])} event rows with "
                                f"days <= {cutoff}"})


# -- series ----------------------------------------------------------------------------------------------------
def wide(readings: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """One row per series id (sorted), one column per time step; shorter series padded with NaN, and steps beyond
    ``columns`` (the training series' length) dropped."""
    table = readings.pivot(index="id", columns="time", values="value").sort_index()
    table.columns = [f"value_{t}" for t in table.columns]
    return table if columns is None else table.reindex(columns=columns)


def series_case(name: str) -> Case:
    """A UCR archive dataset with its fixed train/test split; labels read as text."""
    root = datasets_dir("extra") / "series" / name
    readings = pd.read_csv(root / "series.csv.gz")
    labels = pd.read_csv(root / "labels.csv.gz", dtype={"label": str}).set_index("id")
    split = {part: labels.index[labels.split == part] for part in ("train", "test")}
    train, test = (readings[readings.id.isin(split[p])] for p in ("train", "test"))
    y_train, y_test = labels.label.loc[split["train"]], labels.label.loc[split["test"]].sort_index()
    wide_train = wide(train)

    def synthesised(model: AutoML) -> AutoML:
        return model.fit_series(train, y_train, column_id="id", column_sort="time")

    def raw(model: AutoML) -> AutoML:
        return model.fit(wide_train, y_train.loc[wide_train.index].to_numpy())

    def score(model: AutoML, series: bool) -> dict[str, float]:
        proba = (model.predict_proba_series(test).to_numpy() if series else
                 model.predict_proba(wide(test, list(wide_train.columns))))
        classes = np.asarray(model.classes_)
        return {"accuracy": accuracy_score(y_test, classes[proba.argmax(axis=1)]),
                "log_loss": log_loss(y_test, proba, labels=classes)}

    lengths = labels.length
    return Case(name, "series", fit={"searched": synthesised, "none": raw, "fixed": synthesised},
                score={"searched": lambda m: score(m, True), "none": lambda m: score(m, False),
                       "fixed": lambda m: score(m, True)},
                notes={"rows": f"{len(split['train'])} train / {len(split['test'])} test series, length "
                                f"{lengths.min()}-{lengths.max()}, {labels.label.nunique()} classes"})


# -- runs ------------------------------------------------------------------------------------------------------
def run(case: Case, variant: str, budget: float, seed: int) -> dict[str, Any]:
    """Fit one variant at ``budget``, score it on the held-out rows, and describe what it did."""
    model = AutoML(time_budget=budget, random_state=seed,
                   synthesis_plan="richest" if variant == "fixed" else "search")
    row: dict[str, Any] = {"dataset": case.name, "kind": case.kind, "variant": variant, "budget": budget,
                           "seed": seed, "load": round(os.getloadavg()[0], 2)}
    start = time.monotonic()
    try:
        case.fit[variant](model)
        row["fit_wall_s"] = round(time.monotonic() - start, 2)
        start = time.monotonic()
        row.update({k: round(v, 4) for k, v in case.score[variant](model).items()})
        row["predict_s"] = round(time.monotonic() - start, 2)
    except Exception as exc:  # noqa: BLE001 - a failed run is a row of the table, the others still run
        row.update(status="error", error=f"{type(exc).__name__}: {exc}"[:300])
        traceback.print_exc()
        return row
    return {**row, **describe(model)}


def describe(model: AutoML) -> dict[str, Any]:
    """Status, trials, the synthesis plan computed and the one the final model reads, and the time each took."""
    info = getattr(model, "synthesis_", None) or {}
    board = model.leaderboard_
    ok = board[(board.status == "ok") & (board.family != "ensemble")]
    return {"status": model.fit_status_, "error": "", "trials": len(board), "trials_ok": len(ok),
            "plans_tried": _counts(ok.synthesis) if info else "",
            "plan_computed": info.get("plan") or info.get("settings") or "",
            "plan_chosen": info.get("plan_chosen", ""), "best_family": model.best_family_,
            "choice_s": info.get("choice_time"), "synthesis_s": info.get("synthesis_time"),
            "synthesis_estimate_s": info.get("estimated_seconds"), "search_s": round(model.search_time_, 2),
            "n_features_synthesised": info.get("n_features_synthesised"),
            "n_features_modelled": info.get("n_features_modelled")}


def _counts(values: pd.Series) -> str:
    """``"rich:12 none:3"``: ok trials per plan, most first."""
    return " ".join(f"{k}:{v}" for k, v in values.value_counts().items())


def cases(names: list[str], seed: int) -> list[Case]:
    return [nafld_case(seed) if name == "nafld" else series_case(name) for name in names]


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    parser.add_argument("--report-only", action="store_true", help="rewrite the .md from the .csv, no fits")
    args = parser.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    out = args.out_dir / f"synthesis_real_{args.budget:g}s"
    rows: list[dict[str, Any]] = []
    notes: dict[str, str] = {}
    for case in cases(args.datasets.split(","), args.seed):
        notes[case.name] = case.notes["rows"]
        for variant in [] if args.report_only else args.variants.split(","):
            rows.append(run(case, variant, args.budget, args.seed))
            print(rows[-1], flush=True)
            pd.DataFrame(rows).to_csv(out.with_suffix(".csv"), index=False)
    table = pd.read_csv(out.with_suffix(".csv")) if args.report_only else pd.DataFrame(rows)
    out.with_suffix(".md").write_text(report(table, notes, args.budget, args.seed))
    return table


# -- report ----------------------------------------------------------------------------------------------------
SHOWN = {"dataset": "dataset", "variant": "variant", "roc_auc": "ROC AUC", "accuracy": "accuracy",
         "log_loss": "log loss", "fit_wall_s": "fit wall_s", "choice_s": "choosing the plan_s",
         "synthesis_s": "synthesis_s", "synthesis_estimate_s": "its estimate_s", "search_s": "search_s",
         "plan_computed": "plan computed", "plan_chosen": "plan of the final model", "plans_tried": "ok trials per plan (no ensemble)",
         "trials": "trials", "trials_ok": "ok", "best_family": "best family", "status": "status", "load": "load"}


def differences(table: pd.DataFrame) -> pd.DataFrame:
    """Per dataset and metric: searched minus none and searched minus fixed (log loss: lower is better)."""
    rows = []
    for dataset, runs in table.groupby("dataset", sort=False):
        by = runs.set_index("variant")
        for metric in ("roc_auc", "accuracy", "log_loss"):
            if metric not in by or by[metric].isna().all():
                continue
            value = by[metric].to_dict()
            rows.append({"dataset": dataset, "metric": SHOWN[metric],
                         **{f"searched - {other}": _minus(value.get("searched"), value.get(other))
                            for other in ("none", "fixed")}})
    return pd.DataFrame(rows)


def _minus(a: Any, b: Any) -> float:
    return float(a) - float(b) if a is not None and b is not None and not pd.isna(a) and not pd.isna(b) else np.nan


def report(table: pd.DataFrame, notes: dict[str, str], budget: float, seed: int) -> str:
    """The markdown page: how the runs were made, the table, the differences and the failures."""
    shown = table.reindex(columns=list(SHOWN)).rename(columns=SHOWN)
    lines = [f"# Synthesis as a searched choice, real data, {budget:g} s, seed {seed}", "",
             f"`python -m benchmarks.synthesis_real --budget {budget:g} --seed {seed}`, engine {engine_revision()}. "
             f"Machine: {MACHINE}.", "",
             "Variants at the same budget: `searched` = the default fit (each trial chooses a plan up to the richest "
             "affordable one; for related tables also `none`); `none` = no synthesis (NAFLD: the subjects table "
             "alone; series: raw values, one column per time step, NaN-padded); `fixed` = "
             "`AutoML(synthesis_plan=\"richest\")`, every trial on the richest affordable plan. Test metric: ROC AUC "
             "(NAFLD, binary); accuracy and log loss (series, multiclass). `choosing the plan` is the timing of a "
             "sample that picks the plan, `synthesis` the computation of the chosen plan on the training rows, "
             "both inside the fit's budget.", ""]
    lines += [f"- {name}: {text}" for name, text in notes.items()]
    lines += ["", to_markdown(shown, formats={"ROC AUC": ".4f", "accuracy": ".3f", "log loss": ".3f", "load": ".2f"}), "",
              "Searched minus the others (positive is better for ROC AUC and accuracy, negative for log loss):", "",
              to_markdown(differences(table), formats={c: "+.4f" for c in ("searched - none", "searched - fixed")})]
    failed = table[table.get("status", pd.Series(dtype=str)) == "error"] if "status" in table else table.iloc[:0]
    for record in failed.to_dict("records"):
        lines += ["", f"- {record['dataset']} / {record['variant']} failed: {record['error']}"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
