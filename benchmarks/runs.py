"""One benchmark run: one system on one prepared (dataset, seed) task, in a contained subprocess.

The task is prepared once per (dataset, seed) and shared by every system, so all see the same split. A run
is ``ok`` when the adapter wrote predictions within the limits; ``error`` when it failed, ``timeout`` when it
was killed at ``2 * budget + PREDICT_ALLOWANCE_S`` seconds, ``overrun`` when its fit took longer than twice
the budget, and ``not_installed`` when the peer's environment is missing. Only ``ok`` runs have a score; the
report counts the others as the constant predictor (as the AutoML Benchmark does).
"""
from __future__ import annotations

import datetime
import json
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.adapters.harness import MEASURING
from benchmarks.datasets import CLASSIFICATION_TASKS, load_frame, split_frame
from benchmarks.process import Outcome, run_contained
from benchmarks.scoring import METRICS, score
from benchmarks.systems import REPO_AUTOML, System, child_environment, command

PREDICT_ALLOWANCE_S = 60.0  # on top of 2x the budget: interpreter start, reading data, predicting, latency
OVERRUN_FACTOR = 2.0


@dataclass
class RunRow:
    """One (dataset, seed, system) run: one line of the result CSV."""

    dataset: str
    task: str
    seed: int
    system: str
    metric: str = ""
    budget: float = math.nan
    cores: int = 0
    status: str = ""
    score: float = math.nan
    fit_s: float = math.nan
    predict_s: float = math.nan
    predict_row_ms: float = math.nan
    wall_s: float = math.nan
    peak_rss_mb: float = math.nan
    peak_pss_mb: float = math.nan
    version: str = ""
    engine: str = ""
    details: str = ""
    error: str = ""
    load_1m: float = math.nan
    machine_ref_s: float = math.nan  # the machine's reference fit when the run started (benchmarks/machine_speed.py)
    finished_at: str = ""


@dataclass
class PreparedTask:
    """A (dataset, seed) split written to a folder for the adapters, and what scoring needs."""

    meta: dict[str, Any]
    seed: int
    folder: Path
    y_test: pd.Series
    classes: list[str]


def prepare_task(meta: dict[str, Any], seed: int, budget: float, cores: int, folder: Path,
                 root: Path | None = None) -> PreparedTask:
    """Split the dataset with ``seed`` and write ``spec.json``, ``train.csv`` and ``test.csv`` to ``folder``.

    ``root`` is the dataset folder (default: the OpenML suite's, see :func:`benchmarks.datasets.datasets_dir`).

    Returns
    -------
    PreparedTask
    """
    frame = load_frame(meta, root)
    train, test = split_frame(frame, meta, seed)
    target = meta["target"]
    folder.mkdir(parents=True, exist_ok=True)
    spec = {"dataset": meta["name"], "task": meta["task"], "target": target, "seed": seed, "budget": budget,
            "cores": cores, "categorical_columns": [c for c in meta["categorical_columns"] if c != target]}
    (folder / "spec.json").write_text(json.dumps(spec, indent=1))
    train.to_csv(folder / "train.csv", index=False)
    test.drop(columns=target).to_csv(folder / "test.csv", index=False)
    classes = sorted(frame[target].dropna().unique()) if meta["task"] in CLASSIFICATION_TASKS else []
    return PreparedTask(meta, seed, folder, test[target].reset_index(drop=True), classes)


def run_system(system: System, task: PreparedTask, budget: float, cores: int, log: Path,
               engine: str = "") -> RunRow:
    """Run ``system`` on ``task`` in a contained subprocess and score its predictions.

    Parameters
    ----------
    system : System
        What to run.
    task : PreparedTask
        The shared split.
    budget : float
        Seconds given to the system (recorded for baselines too, which ignore it).
    cores : int
        CPUs given to the system.
    log : pathlib.Path
        Receives the adapter's output.
    engine : str, optional
        Git revision of our engine, recorded on its rows.

    Returns
    -------
    RunRow
        Never raises for a failing system: the failure is the row's status and error.
    """
    meta = task.meta
    row = RunRow(dataset=meta["name"], task=meta["task"], seed=task.seed, system=system.name,
                 metric=METRICS[meta["task"]], budget=budget, cores=cores,
                 engine=engine if system.kind == "engine" else "")
    row.load_1m = os.getloadavg()[0]  # other work on the machine while this run starts
    out = task.folder / f"out_{system.slug}"
    shutil.rmtree(out, ignore_errors=True)
    cmd = command(system, task.folder, out)
    if cmd is None:
        row.status, row.error = "not_installed", f"no environment for {system.name}: run benchmarks/peers/setup.sh"
    else:
        outcome = run_contained(cmd, OVERRUN_FACTOR * budget + PREDICT_ALLOWANCE_S, log, child_environment(cores),
                                cores, peak_until=out / MEASURING)
        record_outcome(row, system, outcome, _read_result(out), out / "predictions.csv", task)
    row.finished_at = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return row


def _read_result(out: Path) -> dict[str, Any]:
    try:
        return json.loads((out / "result.json").read_text())
    except (OSError, ValueError):
        return {}


def record_outcome(row: RunRow, system: System, outcome: Outcome, result: dict[str, Any], predictions: Path,
                   task: PreparedTask) -> None:
    """Fill ``row`` from the process outcome and the adapter's ``result.json``, then score if it is ``ok``."""
    row.wall_s, row.peak_rss_mb, row.peak_pss_mb = outcome.wall_s, outcome.peak_rss_mb, outcome.peak_pss_mb
    for name in ("fit_s", "predict_s", "predict_row_ms"):
        setattr(row, name, float(result.get(name, math.nan)))
    info = dict(result.get("info") or {})
    row.version = str(info.pop("version", ""))
    row.status, row.error = classify(outcome, result, row.budget if system.uses_budget else math.inf)
    info.pop("automl_path", None)  # checked by classify
    row.details = "; ".join(f"{key}={_compact(value)}" for key, value in sorted(info.items()))
    if row.status == "ok":
        try:
            row.score = score(row.task, task.y_test, _read_predictions(predictions, len(task.y_test)), task.classes)
        except Exception as exc:  # noqa: BLE001 - unusable predictions are the system's failure
            row.status, row.error = "error", f"scoring: {type(exc).__name__}: {exc}"


def _compact(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _read_predictions(path: Path, rows: int) -> pd.DataFrame:
    preds = pd.read_csv(path)
    if len(preds) != rows:
        raise ValueError(f"{len(preds)} predictions for {rows} test rows")
    return preds


def classify(outcome: Outcome, result: dict[str, Any], budget: float) -> tuple[str, str]:
    """Status and error text of a finished process (``budget`` is infinite for systems that take none).

    Returns
    -------
    status, error : str
    """
    fit_s = float(result.get("fit_s", math.nan))
    if outcome.timed_out:
        return "timeout", f"killed after {outcome.wall_s:.0f}s (limit {OVERRUN_FACTOR:g}x budget + allowance)"
    if result.get("status") != "ok" or outcome.returncode != 0:
        error = str(result.get("error") or f"exit code {outcome.returncode} without a result")
        return "error", " ".join(error.split())[:500]
    if fit_s > OVERRUN_FACTOR * budget:
        return "overrun", f"fit took {fit_s:.1f}s, over {OVERRUN_FACTOR:g}x the {budget:g}s budget"
    automl_path = (result.get("info") or {}).get("automl_path")
    if automl_path and Path(automl_path) != REPO_AUTOML:
        return "error", f"ran the automl package at {automl_path}, not {REPO_AUTOML}"
    return "ok", ""
