"""Compare ``automl`` search strategies (``bayes``, ``random``, ``grid``) with the ``defaults`` portfolio.

For each dataset of the offline OpenML suite and each strategy: split 75/25 (the same split for every
strategy), fit ``automl.AutoML(time_budget=budget, search=strategy, random_state=seed, task=<manifest task>)``
in this process on the train rows, time the fit, and score the test rows: ROC AUC (binary, probability of the
second sorted class), log loss (multiclass) or RMSE (regression).

Usage::

    python -m benchmarks.search_strategies [--datasets credit-g,kc1] [--strategies bayes,defaults]
                                           [--budget 120] [--seed 0] [--fresh] [--report-only]

Each finished run is appended at once to ``benchmarks/results/search_strategies_<budget>s_seed<seed>.csv``,
so an interrupted run keeps its results; a restart skips the (dataset, strategy) pairs already in that CSV
(``--fresh`` drops and re-runs them). At the end the whole CSV is summarised in the ``.md`` file of the same
name: a dataset x strategy table and, per strategy, wins / ties / losses against ``defaults`` on the test
score and the runs that exceeded ``1.05 * budget + 1`` seconds. ``--report-only`` just rewrites that file.
"""
from __future__ import annotations

import argparse
import gc
import math
import resource
import sys
import time
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.datasets import load_frame, load_manifest, select, split_frame
from benchmarks.scoring import METRICS, TIE_TOLERANCE, compare
from benchmarks.csvlog import append_record, drop_records, read_records
from benchmarks.markdown import to_markdown
from benchmarks.provenance import engine_revision

RESULTS_DIR = Path(__file__).resolve().parent / "results"
BASELINE = "defaults"
STRATEGY_ORDER = ("defaults", "bayes", "random", "grid")
TRIAL_STATUSES = ("ok", "pruned", "timeout", "error", "skipped")
DRIFT_NOTE = "engine checkout is now"


@dataclass
class Row:
    """One (dataset, strategy) run: one line of the result CSV."""

    dataset: str
    task: str
    strategy: str
    metric: str = ""
    test_score: float = math.nan
    cv_score: float = math.nan
    best_family: str = ""
    trials_total: int = 0
    trials_ok: int = 0
    trials_pruned: int = 0
    trials_timeout: int = 0
    trials_error: int = 0
    trials_skipped: int = 0
    wall_s: float = math.nan
    fit_time_s: float = math.nan
    peak_rss_mb: float = math.nan
    budget: float = math.nan
    seed: int = 0
    engine: str = ""
    warnings: str = ""
    trial_errors: str = ""
    error: str = ""


# --------------------------------------------------------------------------- scoring
def score_test(task: str, model: Any, x_test: pd.DataFrame, y_test: pd.Series) -> float:
    """Score a fitted model on the test rows.

    Parameters
    ----------
    task : {"binary", "multiclass", "regression"}
        Manifest task.
    model : automl.AutoML
        Fitted estimator.
    x_test : pandas.DataFrame
        Test features.
    y_test : pandas.Series
        Test targets.

    Returns
    -------
    float
        ROC AUC of the second sorted class (binary), log loss with ``labels=model.classes_``
        (multiclass) or RMSE (regression).
    """
    from sklearn.metrics import log_loss, roc_auc_score, root_mean_squared_error

    if task == "regression":
        return float(root_mean_squared_error(y_test.astype(float), np.asarray(model.predict(x_test), dtype=float)))
    proba = np.asarray(model.predict_proba(x_test), dtype=float)
    classes = list(model.classes_)
    if task == "binary":
        positive = sorted(classes)[1]
        return float(roc_auc_score(y_test == positive, proba[:, classes.index(positive)]))
    return float(log_loss(y_test, proba, labels=classes))


def peak_rss_mb() -> float:
    """Peak resident memory so far of this process plus its largest reaped child, in MiB.

    ``ru_maxrss`` is a high-water mark over the process's life, so it only grows from run to run.

    Returns
    -------
    float
    """
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own + children) / 1024.0  # Linux reports KiB


def count_trials(board: pd.DataFrame, row: Row) -> None:
    """Fill the trial counts and the distinct trial error messages of ``row`` from a leaderboard."""
    row.trials_total = len(board)
    status = board["status"].astype(str) if "status" in board else pd.Series(dtype=str)
    for name in TRIAL_STATUSES:
        setattr(row, f"trials_{name}", int((status == name).sum()))
    if "error" in board:
        messages = board.loc[status.isin(["error", "timeout"]), "error"].dropna().astype(str)
        row.trial_errors = " || ".join(_short(m) for m in dict.fromkeys(messages) if m.strip())


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------- one run
def run_one(meta: dict[str, Any], train: pd.DataFrame, test: pd.DataFrame, strategy: str,
            budget: float, seed: int, engine: str = "") -> Row:
    """Fit and score one strategy on one dataset; a failure is recorded in ``Row.error``, never raised.

    Parameters
    ----------
    meta : dict
        Manifest entry (``name``, ``task``, ``target``).
    train, test : pandas.DataFrame
        The split, target column included.
    strategy : str
        ``search`` argument of :class:`automl.AutoML`.
    budget : float
        ``time_budget`` in seconds.
    seed : int
        ``random_state``.
    engine : str, optional
        Git revision of the engine code this process loaded (recorded in the row).

    Returns
    -------
    Row
    """
    from automl import AutoML

    task, target = meta["task"], meta["target"]
    row = Row(dataset=meta["name"], task=task, strategy=strategy, metric=METRICS[task], budget=budget,
              seed=seed, engine=engine)
    model = AutoML(time_budget=budget, search=strategy, random_state=seed, task=task)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            start = time.monotonic()
            try:
                model.fit(train.drop(columns=target), train[target])
            finally:
                row.wall_s = time.monotonic() - start
            row.warnings = " || ".join(dict.fromkeys(_short(f"{w.category.__name__}: {w.message}")
                                                     for w in caught))
        fill_from_model(model, row)
        save_leaderboard(model.leaderboard_, meta["name"], strategy, budget, seed)
        row.test_score = score_test(task, model, test.drop(columns=target), test[target])
    except Exception as exc:  # noqa: BLE001 - a benchmark row, not a crash
        row.error = _short(f"{type(exc).__name__}: {exc} @ {_where(exc)}", 600)
    row.peak_rss_mb = peak_rss_mb()
    return row


def fill_from_model(model: Any, row: Row) -> None:
    """Copy the fitted attributes of ``model`` (scores, family, times, leaderboard counts) into ``row``."""
    row.fit_time_s = float(getattr(model, "fit_time_", math.nan))
    row.cv_score = float(getattr(model, "best_score_", math.nan))
    row.best_family = str(getattr(model, "best_family_", ""))
    if model.metric_.name != row.metric:
        row.error = f"engine metric {model.metric_.name!r} differs from benchmark metric {row.metric!r}"
    count_trials(model.leaderboard_, row)


def save_leaderboard(board: pd.DataFrame, dataset: str, strategy: str, budget: float, seed: int) -> Path:
    """Write a run's leaderboard to ``benchmarks/results/leaderboards/<results stem>/<dataset>_<strategy>.csv``.

    Returns
    -------
    pathlib.Path
    """
    folder = RESULTS_DIR / "leaderboards" / results_stem(budget, seed).name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{dataset}_{strategy}.csv"
    board.to_csv(path, index=False)
    return path


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "?"
    last = frames[-1]
    return f"{Path(last.filename).name}:{last.lineno}"


# --------------------------------------------------------------------------- CSV
def results_stem(budget: float, seed: int) -> Path:
    """Path of the results without suffix: ``benchmarks/results/search_strategies_<budget>s_seed<seed>``."""
    return RESULTS_DIR / f"search_strategies_{budget:g}s_seed{seed}"


def read_results(path: Path) -> pd.DataFrame:
    """Read the result CSV (an empty frame with the right columns if it does not exist).

    Returns
    -------
    pandas.DataFrame
    """
    return read_records(path, Row)


def drop_pairs(path: Path, pairs: set[tuple[str, str]]) -> None:
    """Remove the rows of the given (dataset, strategy) pairs from the CSV at ``path`` (for ``--fresh``)."""
    drop_records(path, Row, ["dataset", "strategy"], pairs)


def append_row(path: Path, row: Row) -> None:
    """Append ``row`` to the CSV at ``path``, writing the header first if the file is new."""
    append_record(path, row)


# --------------------------------------------------------------------------- report
def over_budget(wall_s: float, budget: float) -> bool:
    """Whether a fit took longer than ``1.05 * budget + 1`` seconds."""
    return bool(np.isfinite(wall_s) and wall_s > 1.05 * budget + 1)


def strategies_in(frame: pd.DataFrame) -> list[str]:
    """Strategies present in ``frame``: known ones in :data:`STRATEGY_ORDER`, then any other."""
    present = list(dict.fromkeys(frame["strategy"]))
    return [s for s in STRATEGY_ORDER if s in present] + [s for s in present if s not in STRATEGY_ORDER]


def wide_table(frame: pd.DataFrame, strategies: list[str]) -> pd.DataFrame:
    """One line per dataset: metric, then test score, trials and wall time of each strategy."""
    lines = []
    for dataset, group in frame.groupby("dataset", sort=False):
        runs = {r["strategy"]: r for r in group.to_dict("records")}
        line: dict[str, Any] = {"dataset": dataset, "metric": group["metric"].iloc[0]}
        for strategy in strategies:
            run = runs.get(strategy, {})
            failed = bool(run.get("error"))
            line[f"{strategy} score"] = "ERROR" if failed else run.get("test_score", math.nan)
            line[f"{strategy} trials"] = "" if not run else str(int(run["trials_total"]))
            line[f"{strategy} wall_s"] = run.get("wall_s", math.nan)
        lines.append(line)
    return pd.DataFrame(lines)


def strategy_summary(frame: pd.DataFrame, strategy: str, budget: float) -> str:
    """One markdown bullet: beats / ties / losses against :data:`BASELINE`, over-budget runs, trials."""
    runs = frame[frame["strategy"] == strategy]
    base = frame[frame["strategy"] == BASELINE].set_index("dataset")
    outcomes = []
    for run in runs.to_dict("records"):
        if run["dataset"] in base.index and strategy != BASELINE:
            reference = base.loc[run["dataset"]]
            baseline = math.nan if reference["error"] else float(reference["test_score"])
            score = math.nan if run["error"] else float(run["test_score"])
            outcomes.append(compare(run["metric"], score, baseline))
    over = [f"{r['dataset']} ({r['wall_s']:.1f}s)" for r in runs.to_dict("records")
            if over_budget(r["wall_s"], budget)]
    text = f"- **{strategy}**: {len(runs)} runs, {int(runs['trials_total'].sum())} trials"
    if strategy != BASELINE:
        counts = {k: outcomes.count(k) for k in ("beat", "tie", "loss")}
        text += (f"; vs {BASELINE} on test score: beats {counts['beat']}, ties {counts['tie']}, "
                 f"loses {counts['loss']} (of {sum(counts.values())} datasets with both scores)")
    text += f"; over 1.05*budget+1 = {1.05 * budget + 1:.1f}s: {len(over)}"
    text += f" ({', '.join(over)})" if over else ""
    errors = int((runs["error"] != "").sum())
    text += f"; errors: {errors}" if errors else ""
    worse_cv = cv_worse_than_baseline(frame, strategy)
    if strategy != BASELINE and worse_cv:
        text += (f"; best CV score worse than {BASELINE}' best CV score (which it should include) on "
                 f"{len(worse_cv)}: {', '.join(worse_cv)}")
    return text


def cv_worse_than_baseline(frame: pd.DataFrame, strategy: str) -> list[str]:
    """Datasets where ``strategy``'s best CV score is worse than the baseline's.

    Every strategy starts with the baseline's default portfolio on the same folds, so its best CV score
    should be at least as good; a worse one means the search lost a baseline result (for example its
    ensemble). Returns ``"dataset (score vs baseline)"`` strings.
    """
    runs = frame[frame["strategy"] == strategy].set_index("dataset")
    base = frame[frame["strategy"] == BASELINE].set_index("dataset")
    worse = []
    for dataset in runs.index.intersection(base.index):
        run, ref = runs.loc[dataset], base.loc[dataset]
        if compare(str(run["metric"]), float(run["cv_score"]), float(ref["cv_score"])) == "loss":
            worse.append(f"{dataset} ({run['cv_score']:.4f} vs {ref['cv_score']:.4f})")
    return worse


def error_lines(frame: pd.DataFrame) -> list[str]:
    """Markdown bullets for failed runs and for runs with trial errors or warnings."""
    lines = []
    for run in frame.to_dict("records"):
        where = f"{run['dataset']} / {run['strategy']}"
        if run["error"]:
            lines.append(f"- {where}: run failed: `{run['error']}`")
        if run["trial_errors"]:
            lines.append(f"- {where}: trial errors/timeouts: `{run['trial_errors']}`")
        engine_warnings = [w for w in run["warnings"].split(" || ") if w and not w.startswith(DRIFT_NOTE)]
        if engine_warnings:
            lines.append(f"- {where}: warnings: `{' || '.join(engine_warnings)}`")
    return lines


def drifted_revisions(frame: pd.DataFrame) -> list[str]:
    """Git revisions the checkout moved to while runs were going (from the rows' drift warnings)."""
    found = []
    for text in frame["warnings"]:
        for warning in str(text).split(" || "):
            if warning.startswith(DRIFT_NOTE):
                found.append(warning[len(DRIFT_NOTE):].split(";")[0].strip())
    return list(dict.fromkeys(found))


def render_report(frame: pd.DataFrame, budget: float, seed: int) -> str:
    """The markdown report of a whole result CSV.

    Parameters
    ----------
    frame : pandas.DataFrame
        Rows of the result CSV.
    budget : float
        ``time_budget`` of the runs.
    seed : int
        Seed of the split and the engine.

    Returns
    -------
    str
    """
    strategies = strategies_in(frame)
    engines = ", ".join(dict.fromkeys(f"{e} ({s})" for e, s in zip(frame["engine"], frame["strategy"])))
    drift = drifted_revisions(frame)
    if drift:
        engines += (f"; the checkout moved to {', '.join(drift)} during the runs (each run kept the code its "
                    "process loaded at start)")
    header = (f"# automl search strategies: budget {budget:g}s, seed {seed}\n\n"
              f"Test metric: ROC AUC (binary, higher is better), log loss (multiclass) and RMSE (regression), "
              f"lower is better. Ties: relative difference within {TIE_TOLERANCE:g}. `wall_s` is the wall time of `fit` in "
              f"process. Engine code loaded (strategy): {engines}.\n\n")
    table = to_markdown(wide_table(frame, strategies))
    summary = "\n".join(strategy_summary(frame, s, budget) for s in strategies)
    notes = error_lines(frame)
    text = header + table + "\n\n## Summary\n\n" + summary + "\n"
    return text + ("\n## Errors and warnings\n\n" + "\n".join(notes) + "\n" if notes else "")


def write_report(budget: float, seed: int) -> Path:
    """Rewrite the markdown report from the whole result CSV.

    Returns
    -------
    pathlib.Path
        The ``.md`` file.
    """
    stem = results_stem(budget, seed)
    frame = read_results(stem.with_suffix(".csv"))
    path = stem.with_suffix(".md")
    if frame.empty:
        path.write_text(f"# automl search strategies: budget {budget:g}s, seed {seed}\n\nNo results yet.\n")
    else:
        path.write_text(render_report(frame, budget, seed))
    return path


# --------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="", help="comma-separated dataset names (default: all)")
    parser.add_argument("--strategies", default="bayes,defaults", help="comma-separated search strategies")
    parser.add_argument("--budget", type=float, default=120, help="time_budget in seconds")
    parser.add_argument("--seed", type=int, default=0, help="split and engine seed")
    parser.add_argument("--fresh", action="store_true", help="re-run pairs already in the result CSV")
    parser.add_argument("--report-only", action="store_true", help="only rewrite the markdown report")
    return parser.parse_args(argv)


def _split_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def run_dataset(meta: dict[str, Any], strategies: list[str], args: argparse.Namespace, csv_path: Path,
                engine: str) -> None:
    """Run the given strategies on one dataset (one shared split), appending each row when it is done.

    ``engine`` is the revision loaded at start; if git's revision moves during the run (the engine is
    edited meanwhile), the row's ``warnings`` say so, since this process keeps running the code it loaded.
    """
    try:
        train, test = split_frame(load_frame(meta), meta, args.seed)
    except Exception as exc:  # noqa: BLE001
        train = test = None
        load_error = f"load: {type(exc).__name__}: {exc}"
    for strategy in strategies:
        if train is None:
            row = Row(dataset=meta["name"], task=meta["task"], strategy=strategy, metric=METRICS[meta["task"]],
                      budget=args.budget, seed=args.seed, engine=engine, error=load_error)
        else:
            row = run_one(meta, train, test, strategy, args.budget, args.seed, engine)
        now = engine_revision()
        if now != engine:
            note = f"{DRIFT_NOTE} {now}; this run used the code loaded at start ({engine})"
            row.warnings = " || ".join(filter(None, [row.warnings, note]))
        append_row(csv_path, row)
        print(f"{row.dataset} / {row.strategy}: {row.metric}={row.test_score:.4f} cv={row.cv_score:.4f} "
              f"best={row.best_family} trials={row.trials_total} (ok {row.trials_ok}, pruned {row.trials_pruned}, "
              f"timeout {row.trials_timeout}, error {row.trials_error}) wall={row.wall_s:.1f}s "
              f"fit_time={row.fit_time_s:.1f}s rss={row.peak_rss_mb:.0f}MB {row.error}", file=sys.stderr, flush=True)
        gc.collect()


def load_engine() -> str:
    """Import the engine now and return the git revision of the code just loaded.

    Returns
    -------
    str
        See :func:`benchmarks.suite_check.engine_revision`.
    """
    revision = engine_revision()
    import automl.estimator  # pin the code of this revision for the whole run
    import automl.search.controller  # noqa: F401
    return revision


def main(argv: list[str] | None = None) -> int:
    """Run the missing (dataset, strategy) pairs, then write the markdown report.

    Returns
    -------
    int
        0 (failed runs are rows of the report, not an exit code).
    """
    args = parse_args(argv)
    csv_path = results_stem(args.budget, args.seed).with_suffix(".csv")
    if not args.report_only:
        entries = select(load_manifest(), _split_list(args.datasets))
        strategies = _split_list(args.strategies)
        if args.fresh:
            drop_pairs(csv_path, {(m["name"], s) for m in entries for s in strategies})
        done = set(zip(read_results(csv_path)["dataset"], read_results(csv_path)["strategy"]))
        engine = load_engine()
        print(f"{len(entries)} datasets x {strategies}, budget {args.budget:g}s, seed {args.seed}, "
              f"engine {engine}, {len(done)} runs already in {csv_path.name}", file=sys.stderr, flush=True)
        for meta in entries:
            todo = [s for s in strategies if (meta["name"], s) not in done]
            if todo:
                run_dataset(meta, todo, args, csv_path, engine)
    report = write_report(args.budget, args.seed)
    print(report.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
