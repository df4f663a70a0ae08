"""Check the ``automl`` CLI on the offline OpenML suite against a default LightGBM baseline.

For each dataset: split 75/25, run ``automl fit`` and ``automl predict`` as subprocesses exactly
like a user, score the predictions on the test rows, train a default LightGBM on the same rows,
and check score, time budget, number of working model families and the inferred task.

Usage::

    python -m benchmarks.suite_check [--datasets credit-g,kc1] [--budget 30] [--seed 0]

Results go to ``benchmarks/results/suite_check_<budget>s_seed<seed>.{csv,md}``; the CLI's
standard error for each dataset goes to ``benchmarks/results/logs/``.
"""
from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.datasets import (  # noqa: E402
    CLASSIFICATION_TASKS,
    datasets_dir,
    lightgbm_frames,
    load_frame,
    load_manifest,
    select,
    split_frame,
)
from benchmarks.markdown import to_markdown  # noqa: E402
from benchmarks.provenance import engine_revision  # noqa: E402
from benchmarks.scoring import METRICS, label_key, proba_matrix, score  # noqa: E402,F401 - re-exported

RESULTS_DIR = Path(__file__).resolve().parent / "results"
AUC_TOLERANCE = 0.01  # automl may be this much below LightGBM's AUC
LOSS_TOLERANCE = 1.01  # automl's log loss / RMSE may be this factor above LightGBM's
MIN_FAMILIES_OK = 4


@dataclass
class Row:
    """One dataset's outcome (one line of the result CSV)."""

    name: str
    task: str
    inferred_task: str = ""
    rows: int = 0
    metric: str = ""
    automl_score: float = math.nan
    lgbm_score: float = math.nan
    pass_score: bool = False
    wall_s: float = math.nan
    fit_time_s: float = math.nan
    startup_s: float = math.nan
    within_budget: bool = False
    predict_s: float = math.nan
    n_families_ok: int = 0
    n_trials: int = 0
    best_family: str = ""
    error: str = ""


# --------------------------------------------------------------------------- CLI
def automl_command() -> list[str]:
    """Return the command that starts the CLI (the ``automl`` console script if on PATH).

    Returns
    -------
    list of str
        Argument prefix for :func:`subprocess.run`.
    """
    script = shutil.which("automl")
    if script:
        return [script]
    return [sys.executable, "-c", "import sys; from automl.cli import main; sys.exit(main())"]


def measure_startup(repeats: int = 3) -> float:
    """Time ``automl --help`` (interpreter and import start-up); median of ``repeats`` runs.

    Returns
    -------
    float
        Seconds.
    """
    times = []
    for _ in range(repeats):
        start = time.monotonic()
        subprocess.run([*automl_command(), "--help"], capture_output=True, check=True)
        times.append(time.monotonic() - start)
    return float(np.median(times))


def run_cli(args: list[str], timeout: float, log: Path) -> float:
    """Run the CLI with ``args``, append its output to ``log`` and return the wall time.

    Raises
    ------
    RuntimeError
        If the process fails or times out (the message holds the tail of its standard error).
    """
    start = time.monotonic()
    try:
        proc = subprocess.run([*automl_command(), *args], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        _append_log(log, args, str(exc.stdout or ""), str(exc.stderr or ""), "timeout")
        raise RuntimeError(f"automl {args[0]} timed out after {timeout:.0f}s") from exc
    wall = time.monotonic() - start
    _append_log(log, args, proc.stdout, proc.stderr, f"exit {proc.returncode}, {wall:.1f}s")
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        raise RuntimeError(f"automl {args[0]} exit {proc.returncode}: {tail}")
    return wall


def _append_log(log: Path, args: list[str], stdout: str, stderr: str, status: str) -> None:
    with log.open("a") as handle:
        handle.write(f"$ automl {' '.join(args)}\n[{status}]\n")
        if stdout.strip():
            handle.write(f"--- stdout\n{stdout.rstrip()}\n")
        if stderr.strip():
            handle.write(f"--- stderr\n{stderr.rstrip()}\n")


# --------------------------------------------------------------------------- scoring
def passes(metric: str, automl_score: float, lgbm_score: float) -> bool:
    """Whether automl's score is within tolerance of LightGBM's."""
    if metric == "roc_auc":
        return automl_score >= lgbm_score - AUC_TOLERANCE
    return automl_score <= lgbm_score * LOSS_TOLERANCE


# --------------------------------------------------------------------------- one dataset
def lgbm_baseline(meta: dict[str, Any], train: pd.DataFrame, test: pd.DataFrame, seed: int,
                  classes: list[str]) -> float:
    """Fit a default LightGBM on ``train`` and score it on ``test``.

    Returns
    -------
    float
        Same metric as for automl.
    """
    import lightgbm

    target = meta["target"]
    x_train, x_test = lightgbm_frames(train.drop(columns=target), test.drop(columns=target),
                                      meta["categorical_columns"])
    if meta["task"] == "regression":
        model = lightgbm.LGBMRegressor(verbose=-1, random_state=seed, n_jobs=2)
        model.fit(x_train, train[target].astype(float))
        return score("regression", test[target], model.predict(x_test), classes)
    model = lightgbm.LGBMClassifier(verbose=-1, random_state=seed, n_jobs=2)
    model.fit(x_train, train[target])
    if [str(c) for c in model.classes_] != classes:
        raise ValueError(f"LightGBM classes {list(model.classes_)} differ from {classes}")
    return score(meta["task"], test[target], model.predict_proba(x_test), classes)


def read_model_folder(folder: Path, row: Row) -> None:
    """Fill ``row`` from ``model.json`` and ``leaderboard.csv`` of a fitted model folder."""
    meta = json.loads((folder / "model.json").read_text())
    row.inferred_task = str(meta.get("task", ""))
    row.fit_time_s = float(meta.get("fit_time", math.nan))
    row.best_family = str((meta.get("best") or {}).get("family", ""))
    board = pd.read_csv(folder / "leaderboard.csv", keep_default_na=False, na_values=[""])
    row.n_trials = len(board)
    # the ensemble is a leaderboard row but not a model family
    ok = board.loc[(board["status"] == "ok") & (board["family"] != "ensemble"), "family"]
    row.n_families_ok = int(ok.nunique())


def check_dataset(meta: dict[str, Any], budget: float, seed: int, startup: float, log: Path) -> Row:
    """Run the whole check for one dataset; failures end up in ``Row.error``, never raised.

    Parameters
    ----------
    meta : dict
        Manifest entry.
    budget : float
        ``--time-budget`` for ``automl fit``.
    seed : int
        Split, CLI and LightGBM seed.
    startup : float
        CLI start-up seconds (from :func:`measure_startup`).
    log : pathlib.Path
        File receiving the CLI's output.

    Returns
    -------
    Row
    """
    row = Row(name=meta["name"], task=meta["task"], metric=METRICS[meta["task"]], startup_s=startup)
    errors = []
    try:
        frame = load_frame(meta)
        row.rows = len(frame)
        train, test = split_frame(frame, meta, seed)
        is_classification = meta["task"] in CLASSIFICATION_TASKS
        classes = sorted(frame[meta["target"]].dropna().unique()) if is_classification else []
    except Exception as exc:  # noqa: BLE001 - a benchmark row, not a crash
        row.error = f"load: {type(exc).__name__}: {exc}"
        return row
    try:
        run_automl(meta, train, test, budget, seed, startup, classes, row, log)
    except Exception as exc:  # noqa: BLE001
        errors.append(f"automl: {type(exc).__name__}: {exc}")
    try:
        row.lgbm_score = lgbm_baseline(meta, train, test, seed, classes)
    except Exception as exc:  # noqa: BLE001
        errors.append(f"lgbm: {type(exc).__name__}: {exc}")
    if not (math.isnan(row.automl_score) or math.isnan(row.lgbm_score)):
        row.pass_score = passes(row.metric, row.automl_score, row.lgbm_score)
    row.error = "; ".join(errors)
    return row


def run_automl(meta: dict[str, Any], train: pd.DataFrame, test: pd.DataFrame, budget: float, seed: int,
               startup: float, classes: list[str], row: Row, log: Path) -> None:
    """Fit and predict with the CLI in a temporary folder and fill ``row`` with the outcome."""
    target = meta["target"]
    with tempfile.TemporaryDirectory(prefix=f"suite_{meta['name']}_") as tmp:
        tmpdir = Path(tmp)
        train_csv, test_csv = tmpdir / "train.csv.gz", tmpdir / "test.csv.gz"
        train.to_csv(train_csv, index=False)
        test.drop(columns=target).to_csv(test_csv, index=False)
        model, preds_csv = tmpdir / "model", tmpdir / "preds.csv"
        fit_args = ["fit", str(train_csv), "--target", target, "--time-budget", str(budget),
                    "--seed", str(seed), "--out", str(model), "--quiet"]
        row.wall_s = run_cli(fit_args, timeout=3 * budget + 120, log=log)
        row.within_budget = row.wall_s <= 1.05 * budget + 1 + startup
        read_model_folder(model, row)
        row.predict_s = run_cli(["predict", str(model), str(test_csv), "--out", str(preds_csv), "--proba"],
                                timeout=300, log=log)
        preds = pd.read_csv(preds_csv)
        if len(preds) != len(test):
            raise ValueError(f"{len(preds)} predictions for {len(test)} test rows")
        row.automl_score = score(meta["task"], test[target], preds, classes)


# --------------------------------------------------------------------------- report
def failures(row: Row) -> list[str]:
    """List the checks ``row`` fails (empty if it passes all)."""
    failed = []
    if row.error:
        failed.append("error")
    if not row.pass_score:
        failed.append("score")
    if not row.within_budget:
        failed.append("budget")
    if row.n_families_ok < MIN_FAMILIES_OK:
        failed.append("families")
    if row.inferred_task != row.task:
        failed.append("task")
    return failed


def summarise(rows: list[Row], budget: float, seed: int, startup: float,
              revisions: tuple[str, str]) -> str:
    """Markdown report: the table (with a ``failed`` column) and a one-line summary.

    ``revisions`` are the engine's git revisions at the start and at the end of the run.
    """
    frame = pd.DataFrame([asdict(r) for r in rows])
    table = frame.drop(columns=["startup_s"]).assign(failed=[",".join(failures(r)) for r in rows])
    n_ok = sum(not failures(r) for r in rows)
    header = (f"# automl suite check: budget {budget:g}s, seed {seed}\n\n"
              f"CLI start-up (`automl --help`): {startup:.2f}s; within_budget means "
              f"wall_s <= 1.05*budget + 1 + start-up = {1.05 * budget + 1 + startup:.1f}s.\n\n"
              f"Engine revision: {_describe_revisions(*revisions)}.\n\n")
    return header + to_markdown(table) + f"\n\n{n_ok}/{len(rows)} datasets pass every check.\n"


def _describe_revisions(first: str, last: str) -> str:
    if first == last:
        return first
    return f"{first} at the start, {last} at the end (the engine changed during the run)"


def write_results(rows: list[Row], budget: float, seed: int, startup: float,
                  revisions: tuple[str, str]) -> tuple[Path, Path]:
    """Write the CSV and markdown reports to ``benchmarks/results``.

    Returns
    -------
    csv_path, md_path : pathlib.Path
    """
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stem = RESULTS_DIR / f"suite_check_{budget:g}s_seed{seed}"
    columns = ["name", "task", "inferred_task", "rows", "metric", "automl_score", "lgbm_score", "pass_score",
               "wall_s", "fit_time_s", "within_budget", "n_families_ok", "n_trials", "best_family", "error",
               "startup_s", "predict_s"]
    pd.DataFrame([asdict(r) for r in rows])[columns].to_csv(stem.with_suffix(".csv"), index=False)
    markdown = summarise(rows, budget, seed, startup, revisions)
    stem.with_suffix(".md").write_text(markdown)
    return stem.with_suffix(".csv"), stem.with_suffix(".md")


# --------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="", help="comma-separated dataset names (default: all)")
    parser.add_argument("--budget", type=float, default=30, help="automl --time-budget in seconds")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the suite check and print the markdown report.

    Returns
    -------
    int
        0 (failures are reported in the table, not by the exit code).
    """
    args = parse_args(argv)
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    entries = select(load_manifest(), names)
    startup = measure_startup()
    first_revision = engine_revision()
    revisions = (first_revision, first_revision)
    log_dir = RESULTS_DIR / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    print(f"{len(entries)} datasets from {datasets_dir()}, budget {args.budget:g}s, seed {args.seed}, "
          f"start-up {startup:.2f}s, engine {first_revision}", file=sys.stderr, flush=True)
    rows = []
    for meta in entries:
        log = log_dir / f"{meta['name']}_{args.budget:g}s_seed{args.seed}.log"
        log.write_text("")
        try:
            row = check_dataset(meta, args.budget, args.seed, startup, log)
        except Exception:  # noqa: BLE001 - last resort: keep the suite going
            row = Row(name=meta["name"], task=meta["task"], error=traceback.format_exc(limit=2))
        rows.append(row)
        print(f"{row.name}: {row.metric} automl={row.automl_score:.4f} lgbm={row.lgbm_score:.4f} "
              f"wall={row.wall_s:.1f}s failed={failures(row) or '-'} {row.error}",
              file=sys.stderr, flush=True)
        revisions = (first_revision, engine_revision())
        write_results(rows, args.budget, args.seed, startup, revisions)  # partial results survive a crash
    print(summarise(rows, args.budget, args.seed, startup, revisions))
    return 0


if __name__ == "__main__":
    sys.exit(main())
