"""Choose the portfolio (``configs/portfolio.yaml``) by measurement on the training collection, not the suite.

The datasets are those of ``--suite``: by default ``extra``, the 36 flat tables of the training collection
(``shared/datasets/extra``, see :mod:`benchmarks.datasets`), which the benchmark does not report on; the
OpenML suite the benchmark reports on (``--suite openml``) is only there to compare. For each dataset: the
training rows of the benchmark's seed-0 split (the test rows are never touched), at most ``--max-rows`` of
them, are cross-validated (3 folds) with every family's defaults and every candidate below, through the
engine itself (``AutoML(search="defaults", portfolio=CANDIDATES)``). A candidate's gain on a dataset is how
much of the gap between the best family default and the best configuration measured it closes (0 = no better
than the defaults, 1 = the best); greedy forward selection then adds the candidate with the largest mean gain
over the datasets, given the ones already chosen, while that mean grows by at least ``--min-gain``.

The in-sample mean gain flatters the portfolio: it is measured on the datasets it was chosen on. The honest
figure is leave-one-dataset-out: for each dataset, the selection is rerun on the others and the portfolio it
picks is scored on the held-out dataset; the mean of those gains is what to expect on a new dataset.

Usage::

    python -m benchmarks.portfolio [--suite extra] [--datasets telco_churn,ames_housing] [--max-rows 2000]
        [--min-gain 0.03] [--report-only] [--write-config] [--note TEXT]

A stopped run resumes: datasets already in the CSV (same suite, ``--max-rows`` and ``--seed``) are not measured
again. ``--write-config`` writes ``configs/portfolio.yaml`` from the selection; it is refused with
``--suite openml``, the suite the benchmark reports on.

Results (``--suite extra``; other suites add ``_<suite>`` to the names): ``benchmarks/results/
portfolio_candidates.csv`` (one row per dataset x configuration; one ``status=failed`` row for a dataset that
could not be measured) and ``portfolio_selection.md`` (the chosen entries, in the order chosen, with their gains
and median times; the leave-one-dataset-out estimate per dataset).
"""
from __future__ import annotations

import argparse
import datetime
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from benchmarks.datasets import SUITES, datasets_dir, load_manifest, select, training_rows
from benchmarks.markdown import to_markdown

RESULTS = Path(__file__).resolve().parent / "results"
CONFIG = Path(__file__).resolve().parents[1] / "configs" / "portfolio.yaml"
TABULAR_TASKS = ("binary", "multiclass", "regression")  # the collection's relational and series sets are not

# Candidates: named after what they change from the library defaults. Drawn from configurations that
# do well across tabular benchmarks (AutoGluon's larger LightGBM, regularised slow-learning boosting,
# more and wider trees for the forests, deeper CatBoost, a wider and a regularised network); the
# measurement decides which of them earn a place. Every one must lie in its family's declared space.
CANDIDATES: dict[str, dict[str, Any]] = {
    "lightgbm_large": {"family": "lightgbm", "params": {
        "learning_rate": 0.03, "num_leaves": 128, "min_child_samples": 3, "colsample_bytree": 0.9,
        "n_estimators": 1000}},
    "lightgbm_regularised": {"family": "lightgbm", "params": {
        "learning_rate": 0.05, "num_leaves": 31, "min_child_samples": 20, "colsample_bytree": 0.5,
        "subsample": 0.8, "subsample_freq": 1, "reg_lambda": 1.0, "n_estimators": 1000}},
    "lightgbm_shallow": {"family": "lightgbm", "params": {
        "learning_rate": 0.05, "num_leaves": 7, "min_child_samples": 10, "n_estimators": 1000}},
    "hist_gradient_boosting_slow": {"family": "hist_gradient_boosting", "params": {
        "learning_rate": 0.05, "max_iter": 500, "max_leaf_nodes": 63, "min_samples_leaf": 10}},
    "catboost_depth8": {"family": "catboost", "params": {"depth": 8, "learning_rate": 0.05, "iterations": 1000}},
    "catboost_shallow_regularised": {"family": "catboost", "params": {
        "depth": 4, "learning_rate": 0.1, "l2_leaf_reg": 10.0}},
    "extra_trees_300_half": {"family": "extra_trees", "params": {"n_estimators": 300, "max_features": 0.5}},
    "extra_trees_300_all": {"family": "extra_trees", "params": {"n_estimators": 300, "max_features": 1.0}},
    "random_forest_300_half": {"family": "random_forest", "params": {"n_estimators": 300, "max_features": 0.5}},
    "linear_strong_penalty": {"family": "linear", "params": {"C": 0.1, "alpha": 10.0}},
    "knn_15_distance": {"family": "knn", "params": {"n_neighbors": 15, "weights": "distance"}},
    "mlp_256x2": {"family": "mlp", "params": {"hidden_units": 256, "layers": 2}},
    "mlp_128_regularised": {"family": "mlp", "params": {"hidden_units": 128, "layers": 1, "alpha": 0.01}},
}


def measure(meta: dict[str, Any], root: Path, max_rows: int, seed: int) -> pd.DataFrame:
    """Cross-validated score and time of every family default and candidate on one dataset's training rows."""
    from automl import AutoML

    train = training_rows(meta, root, seed, max_rows)
    X, y = train.drop(columns=[meta["target"]]), train[meta["target"]]
    entries = list(CANDIDATES.values())
    model = AutoML(time_budget=None, task=meta["task"], search="defaults", portfolio=entries, cv=3,
                   max_trials=len(entries) + 12, class_weight=None, ensemble=False, random_state=seed, n_jobs=2)
    start = time.monotonic()
    model.fit(X, y)
    board = model.leaderboard_
    rows = []
    for trial in model.study_.trials:
        family = trial.params.get("family")
        name = _candidate_name(trial.params) or f"{family}_defaults"
        match = board[board["trial"] == trial.number]
        rows.append({"dataset": meta["name"], "task": meta["task"], "metric": model.metric_.name,
                     "greater_is_better": model.metric_.greater_is_better, "config": name, "family": family,
                     "status": match["status"].iloc[0] if len(match) else "missing",
                     "score": trial.value, "duration_s": trial.user_attrs.get("duration"),
                     "rows": len(train), "error": ""})
    print(f"{meta['name']}: {len(rows)} configurations in {time.monotonic() - start:.0f}s", file=sys.stderr, flush=True)
    return pd.DataFrame(rows)


def measure_all(entries: list[dict[str, Any]], root: Path, args: argparse.Namespace, csv: Path) -> None:
    """Measure every dataset not yet in ``csv``, rewriting it after each; a dataset that fails is one ``failed`` row.

    Parameters
    ----------
    entries : list of dict
        Manifest entries of the datasets to measure.
    root : pathlib.Path
        The suite's dataset folder.
    args : argparse.Namespace
        ``max_rows`` and ``seed`` of the measurement.
    csv : pathlib.Path
        Results file; the rows it already holds for this suite, ``max_rows`` and ``seed`` are kept, and those
        datasets are not measured again (a stopped run resumes). A dataset that failed is tried again.
    """
    done = previous_results(csv, {m["name"] for m in load_manifest(root)}, args.max_rows, args.seed)
    frames = [done] if len(done) else []
    skip = set(done.loc[done["status"] != "failed", "dataset"]) if len(done) else set()
    if skip:
        print(f"resuming: {len(skip)} datasets already in {csv.name}", file=sys.stderr, flush=True)
    frames = [f[~f["dataset"].isin({m["name"] for m in entries} - skip)] for f in frames]
    for meta in entries:
        if meta["name"] in skip:
            continue
        try:
            frame = measure(meta, root, args.max_rows, args.seed)
        except Exception as error:  # noqa: BLE001 - one dataset's failure is recorded, the others still run
            message = f"{type(error).__name__}: {error}".splitlines()[0][:300]
            print(f"{meta['name']}: failed: {message}", file=sys.stderr, flush=True)
            frame = pd.DataFrame([{"dataset": meta["name"], "task": meta["task"], "config": "",
                                   "status": "failed", "error": message}])
        frames.append(frame.assign(max_rows=args.max_rows, seed=args.seed))
        pd.concat(frames).to_csv(csv, index=False)


def previous_results(csv: Path, names: set[str], max_rows: int, seed: int) -> pd.DataFrame:
    """The rows of an earlier run in ``csv`` that a resumed run keeps: datasets in ``names``, same settings.

    Parameters
    ----------
    csv : pathlib.Path
        Results file (need not exist).
    names : set of str
        The suite's dataset names; rows of other datasets (another suite's) are dropped.
    max_rows, seed : int
        The run's settings; rows measured with others are dropped.

    Returns
    -------
    pandas.DataFrame
        The kept rows (empty when there are none).
    """
    if not csv.is_file():
        return pd.DataFrame()
    old = read_results(csv)
    if "max_rows" not in old.columns or "seed" not in old.columns:
        return pd.DataFrame()
    keep = old["dataset"].isin(names) & (old["max_rows"] == max_rows) & (old["seed"] == seed)
    return old[keep]


def read_results(csv: Path) -> pd.DataFrame:
    """Read a results CSV (missing values only where a field is empty)."""
    return pd.read_csv(csv, keep_default_na=False, na_values=[""])


def _candidate_name(params: dict[str, Any]) -> str | None:
    """The candidate a trial evaluated: same family, and every parameter it set is the candidate's (an entry
    lists parameters of both tasks, C and alpha; a family's defaults set more parameters than any entry)."""
    family = params.get("family")
    values = {k.split(".", 1)[1]: v for k, v in params.items() if k != "family"}
    for name, entry in CANDIDATES.items():
        if entry["family"] == family and values and len(values) <= len(entry["params"]) and all(
                entry["params"].get(k) == v for k, v in values.items()):
            return name
    return None


def gains(results: pd.DataFrame) -> pd.DataFrame:
    """Per dataset and configuration: the share of the gap between the best default and the best
    configuration that the configuration closes (clipped to [0, 1]); datasets with no gap are left out."""
    ok = _signed(results)
    out = []
    for dataset, group in ok.groupby("dataset"):
        defaults = group[group["config"].str.endswith("_defaults")]["signed"].max()
        best = group["signed"].max()
        if not np.isfinite(defaults) or best - defaults <= 1e-12:
            continue
        share = ((group["signed"] - defaults) / (best - defaults)).clip(0, 1)
        out.append(pd.DataFrame({"dataset": dataset, "config": group["config"], "gain": share}))
    table = pd.concat(out) if out else pd.DataFrame(columns=["dataset", "config", "gain"])
    return table.pivot_table(index="dataset", columns="config", values="gain", aggfunc="max").fillna(0.0)


def _signed(results: pd.DataFrame) -> pd.DataFrame:
    """The ``ok`` rows with ``signed``: the score, negated where smaller is better (so larger is better)."""
    ok = results[results["status"] == "ok"].copy()
    greater = ok["greater_is_better"].astype(str).str.lower() == "true"  # bool, or text from a CSV with failures
    ok["signed"] = np.where(greater, ok["score"], -ok["score"])
    return ok


def greedy(table: pd.DataFrame, n_datasets: int, min_gain: float) -> list[tuple[str, float]]:
    """Forward selection of candidates by mean gain over all ``n_datasets`` (datasets with no gap count 0)."""
    candidates = [c for c in table.columns if c in CANDIDATES] if n_datasets > 0 else []
    chosen: list[tuple[str, float]] = []
    covered = pd.Series(0.0, index=table.index)
    while candidates:
        means = {c: float(np.maximum(covered, table[c]).sum() / n_datasets) for c in candidates}
        pick = max(means, key=lambda c: means[c])
        current = float(covered.sum() / n_datasets)
        if means[pick] - current < min_gain:
            break
        chosen.append((pick, means[pick]))
        covered = np.maximum(covered, table[pick])
        candidates.remove(pick)
    return chosen


def portfolio_gain(table: pd.DataFrame, dataset: str, names: list[str]) -> float:
    """The gain a portfolio achieves on one dataset: its best entry's (0 where the defaults were best)."""
    if dataset not in table.index or not names:
        return 0.0
    return float(table.loc[dataset, names].max())


def leave_one_out(table: pd.DataFrame, datasets: list[str], min_gain: float) -> pd.DataFrame:
    """For each dataset, the portfolio greedy selection picks on the others and the gain it achieves on it."""
    rows = []
    for held_out in datasets:
        chosen = [name for name, _ in greedy(table.drop(index=held_out, errors="ignore"), len(datasets) - 1,
                                             min_gain)]
        rows.append({"dataset": held_out, "gain_held_out": portfolio_gain(table, held_out, chosen),
                     "chosen": chosen})
    return pd.DataFrame(rows)


@dataclass
class Selection:
    """The portfolio chosen on the measured datasets and its leave-one-dataset-out estimate.

    Attributes
    ----------
    datasets : list of str
        The datasets measured without failure (the mean gains are over all of them).
    table : pandas.DataFrame
        :func:`gains`: dataset x configuration.
    chosen : list of (str, float)
        The entries in the order greedy selection added them, with the mean gain of the portfolio so far.
    times : pandas.Series
        Median trial seconds (3 folds) per configuration.
    lodo : pandas.DataFrame
        :func:`leave_one_out`, with ``gain_in_sample``: the held-out dataset's gain under the portfolio
        chosen on all datasets.
    longest : pandas.Series
        Longest trial seconds per configuration.
    """

    datasets: list[str]
    table: pd.DataFrame
    chosen: list[tuple[str, float]]
    times: pd.Series
    lodo: pd.DataFrame
    longest: pd.Series

    @property
    def names(self) -> list[str]:
        """The chosen entries' names, in the order chosen."""
        return [name for name, _ in self.chosen]

    @property
    def in_sample(self) -> float:
        """Mean gain of the portfolio on the datasets it was chosen on (flattering)."""
        return self.chosen[-1][1] if self.chosen else 0.0

    @property
    def held_out(self) -> float:
        """Mean leave-one-dataset-out gain: what to expect on a dataset not selected on."""
        return float(self.lodo["gain_held_out"].mean()) if len(self.lodo) else 0.0


def choose(results: pd.DataFrame, min_gain: float) -> Selection:
    """Greedy selection on every dataset measured without failure, and its leave-one-dataset-out estimate.

    Parameters
    ----------
    results : pandas.DataFrame
        The measurements (:func:`measure` rows; ``status="failed"`` rows are left out).
    min_gain : float
        Smallest rise in mean gain for which an entry is added.

    Returns
    -------
    Selection
    """
    measured = results[results["status"] != "failed"]
    datasets = sorted(measured["dataset"].unique())
    table = gains(measured)
    chosen = greedy(table, len(datasets), min_gain)
    lodo = leave_one_out(table, datasets, min_gain)
    lodo["gain_in_sample"] = [portfolio_gain(table, d, [n for n, _ in chosen]) for d in lodo["dataset"]]
    durations = measured.groupby("config")["duration_s"]
    return Selection(datasets, table, chosen, durations.median(), lodo, durations.max())


def command(args: argparse.Namespace) -> str:
    """The command line that reproduces the measurement (``--datasets`` only when a subset was named)."""
    parts = ["python -m benchmarks.portfolio", f"--suite {args.suite}", f"--max-rows {args.max_rows}"]
    if args.min_gain != 0.03:
        parts.append(f"--min-gain {args.min_gain}")
    if args.seed != 0:
        parts.append(f"--seed {args.seed}")
    if args.datasets:
        parts.append("--datasets <the datasets below>")
    return " ".join(parts)


def _provenance(suite: str) -> str:
    if suite == "extra":
        return ("Chosen on the training collection `extra` (`shared/datasets/extra`, flat tables only), not on the "
                "OpenML suite the benchmark reports on; `configs/portfolio.yaml` is written from this selection.")
    return (f"Chosen on the `{suite}` suite. If the benchmark reports on these datasets, this selection is for "
            "comparison only: its in-sample gain flatters it, and it must not become `configs/portfolio.yaml`.")


def report(results: pd.DataFrame, args: argparse.Namespace, selection: Selection) -> str:
    """The selection, each candidate alone, the leave-one-dataset-out estimate and the datasets, as markdown."""
    sel, n = selection, len(selection.datasets)
    lines = [f"# Portfolio selection: suite {args.suite}, {n} datasets, at most {args.max_rows} training rows, "
             f"3-fold CV, seed {args.seed}", "", _provenance(args.suite), "",
             f"`{command(args)}` chose {', '.join(sel.names) or 'nothing'}. Mean gain in sample (on the datasets it "
             f"was chosen on) {sel.in_sample:.3f}; **leave one dataset out {sel.held_out:.3f}** (each dataset scored by "
             "the portfolio chosen on the others: the estimate for a new dataset).", ""]
    if args.note:
        lines += [args.note, ""]
    lines += ["Gain: the share of the gap between the best family default and the best configuration measured "
              "that a configuration closes, averaged over all datasets (0 where the defaults were already best).", "",
              "| order | configuration | mean gain of the portfolio so far (in sample) | median trial s | "
              "longest trial s |", "|---|---|---|---|---|"]
    lines += [f"| {i + 1} | {name} | {gain:.3f} | {sel.times.get(name, float('nan')):.1f} | "
              f"{sel.longest.get(name, float('nan')):.0f} |" for i, (name, gain) in enumerate(sel.chosen)]
    lines += ["", *_alone_lines(sel.table, n, sel.times), "", *_lodo_lines(sel.lodo, results, sel.names, sel.table.index), "",
              *_dataset_lines(results, args), "", *_failure_lines(results)]
    return "\n".join(lines).rstrip() + "\n"


def _alone_lines(table: pd.DataFrame, n_datasets: int, times: pd.Series) -> list[str]:
    lines = ["## Gain of each configuration alone (mean over datasets)", "",
             "| configuration | mean gain | datasets where best | median trial s |", "|---|---|---|---|"]
    alone = (table.sum() / n_datasets).sort_values(ascending=False)
    for name, gain in alone.items():
        lines.append(f"| {name} | {gain:.3f} | {int((table[name] >= 0.999).sum())} | {times.get(name, float('nan')):.1f} |")
    return lines


def _lodo_lines(lodo: pd.DataFrame, measured: pd.DataFrame, names: list[str], gapped: pd.Index) -> list[str]:
    """The leave-one-dataset-out section; ``gapped``: the datasets where some candidate beat every default."""
    tasks = measured.drop_duplicates("dataset").set_index("dataset")["task"]
    picked = pd.Series([name for chosen in lodo["chosen"] for name in chosen]).value_counts()
    shown = pd.DataFrame({
        "held-out dataset": lodo["dataset"], "task": lodo["dataset"].map(tasks),
        "a candidate beat the defaults": np.where(lodo["dataset"].isin(gapped), "yes", "no"),
        "gain, chosen without it": lodo["gain_held_out"], "gain, chosen with it": lodo["gain_in_sample"],
        "selection without it differs by": [_difference(chosen, names) for chosen in lodo["chosen"]]})
    some = lodo[lodo["dataset"].isin(gapped)]
    return ["## Leave one dataset out", "",
            f"Mean gain on the held-out dataset {lodo['gain_held_out'].mean():.3f} (median "
            f"{lodo['gain_held_out'].median():.3f}); the same datasets scored by the portfolio chosen on all of "
            f"them: {lodo['gain_in_sample'].mean():.3f}. A dataset where a family default was best counts 0 in both; "
            f"over the {len(some)} where a candidate beat the defaults: {some['gain_held_out'].mean():.3f} held out, "
            f"{some['gain_in_sample'].mean():.3f} in sample. Times each candidate was chosen in the "
            f"{len(lodo)} selections: " + ", ".join(f"{k} {v}" for k, v in picked.items()) + ".", "",
            to_markdown(shown, {"gain, chosen without it": ".3f", "gain, chosen with it": ".3f"})]


def _difference(chosen: list[str], names: list[str]) -> str:
    added = [f"+{c}" for c in chosen if c not in names]
    dropped = [f"-{c}" for c in names if c not in chosen]
    return " ".join(added + dropped) or "same"


def _failure_lines(results: pd.DataFrame) -> list[str]:
    failed = results[results["status"] == "failed"]
    if failed.empty:
        return ["No dataset failed."]
    return ["## Datasets that failed (left out of the selection)", "",
            *[f"- {row.dataset}: {row.error}" for row in failed.itertuples()]]


def _dataset_lines(results: pd.DataFrame, args: argparse.Namespace) -> list[str]:
    """Per dataset: rows, summed trial time and the best configuration; the suite's tables not measured."""
    ok = _signed(results)
    best = ok.loc[ok.groupby("dataset")["signed"].idxmax(), ["dataset", "config"]].set_index("dataset")["config"]
    shown = ok.groupby("dataset").agg(task=("task", "first"), rows=("rows", "max"), trials=("config", "size"),
                                      trial_s=("duration_s", "sum")).reset_index()
    shown["best configuration"] = shown["dataset"].map(best)
    lines = ["## Datasets measured", "",
             f"{len(shown)} datasets, {shown['trial_s'].sum() / 60:.0f} minutes of trials in all.", "",
             to_markdown(shown.rename(columns={"trial_s": "trials s"}), {"trials s": ".0f"})]
    missing = _not_measured(results, args.suite)
    if missing:
        lines += ["", f"Flat tables of the suite not measured ({len(missing)}): {', '.join(missing)}."]
    return lines


def _not_measured(results: pd.DataFrame, suite: str) -> list[str]:
    try:
        manifest = load_manifest(datasets_dir(suite))
    except (OSError, KeyError):  # the suite's folder is not on this machine: nothing to list
        return []
    return sorted({m["name"] for m in manifest if m["task"] in TABULAR_TASKS} - set(results["dataset"]))


def portfolio_without(dataset: str, csv: Path = RESULTS / "portfolio_candidates.csv",
                      min_gain: float = 0.03) -> list[dict[str, Any]]:
    """The portfolio the selection picks on the measured collection without ``dataset``, cheapest first, as
    ``AutoML(portfolio=...)`` takes it: what a benchmark reports on a training-collection dataset, so that no entry
    was chosen on the data it is scored on. A dataset the collection does not hold gets the shipped selection.

    Parameters
    ----------
    dataset : str
        The dataset to leave out.
    csv : pathlib.Path
        The measurements (:func:`measure_all`).
    min_gain : float
        As for :func:`choose` (the shipped portfolio's 0.03).

    Returns
    -------
    list of dict
        ``{"family", "params"}`` entries.
    """
    results = read_results(csv)
    results = results[(results["status"] != "failed") & (results["dataset"] != dataset)]
    table = gains(results)
    names = [name for name, _ in greedy(table, results["dataset"].nunique(), min_gain)]
    times = results.groupby("config")["duration_s"].median()
    return [CANDIDATES[name] for name in sorted(names, key=lambda name: times.get(name, float("inf")))]


def portfolio_yaml(selection: Selection, args: argparse.Namespace, today: str) -> str:
    """``configs/portfolio.yaml`` for the chosen entries, cheapest first, with a header saying how they were chosen.

    Parameters
    ----------
    selection : Selection
        The chosen entries and their gains.
    args : argparse.Namespace
        The run's settings (for the command in the header).
    today : str
        Date of the selection, ``YYYY-MM-DD``.

    Returns
    -------
    str
        YAML text: a list of ``{family, params}`` entries that :func:`automl.search.portfolio.load_portfolio` reads.
    """
    sel = selection
    order = sorted(sel.names, key=lambda name: sel.times.get(name, float("inf")))
    left_out = [c for c in CANDIDATES if c not in sel.names]
    paragraphs = [
        "The portfolio: configurations tried after each family's defaults (configs/families.yaml) and before any "
        "tuning, cheapest first. Parameters not named keep the library's defaults; an entry may name parameters of "
        "both tasks (C for classification, alpha for regression); each must be declared in the family's space.",
        "Chosen on the training collection extra (shared/datasets/extra), never on the OpenML suite the benchmark "
        f"reports on, by `{command(args)}` on {today} (benchmarks/results/portfolio_selection.md): the family "
        f"defaults and {len(CANDIDATES)} candidates cross-validated (3 folds) on the training rows of "
        f"{len(sel.datasets)} flat tables (seed-{args.seed} split, at most {args.max_rows} rows each). Greedy forward "
        "selection by the mean share of the gap between the best default and the best configuration an entry "
        f"closes, each adding at least {args.min_gain}: {sel.in_sample:.2f} in sample; leave one dataset out "
        f"(chosen on the others, scored on it) {sel.held_out:.2f}, the figure to expect on a new dataset. "
        f"Left out: {', '.join(left_out) or 'nothing'}.",
    ]
    lines = [f"# {line}".rstrip() for text in paragraphs for line in [*textwrap.wrap(text, 106), ""]]
    lines += ["# median trial s (3 folds; longest in brackets) and in-sample mean gain of the portfolio so far, "
              "in the order chosen:"]
    lines += [f"#   {name} {sel.times.get(name, float('nan')):.1f} s ({sel.longest.get(name, float('nan')):.0f} s) "
              f"{gain:.3f}" for name, gain in sel.chosen]
    lines.append("")
    for name in order:
        entry = CANDIDATES[name]
        params = yaml.safe_dump(entry["params"], default_flow_style=True, sort_keys=False, width=10_000).strip()
        lines += [f"- family: {entry['family']}  # {name}", f"  params: {params}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Measure (resuming), choose, report; with ``--write-config``, write ``configs/portfolio.yaml``."""
    args = _parser().parse_args(argv)
    if args.write_config and args.suite == "openml":
        raise SystemExit("--write-config chooses the shipped portfolio: not on the suite the benchmark reports on")
    suffix = "" if args.suite == "extra" else f"_{args.suite}"
    csv = args.results_dir / f"portfolio_candidates{suffix}.csv"
    if not args.report_only:
        root = datasets_dir(args.suite)
        entries = [m for m in select(load_manifest(root), [n for n in args.datasets.split(",") if n])
                   if m["task"] in TABULAR_TASKS]
        measure_all(entries, root, args, csv)
    results = read_results(csv)
    selection = choose(results, args.min_gain)
    text = report(results, args, selection)
    (args.results_dir / f"portfolio_selection{suffix}.md").write_text(text)
    print(text)
    if args.write_config:
        CONFIG.write_text(portfolio_yaml(selection, args, datetime.date.today().isoformat()))
        print(f"wrote {CONFIG}", file=sys.stderr)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--suite", default="extra", choices=SUITES,
                        help="datasets to choose on (default: extra, the training collection)")
    parser.add_argument("--datasets", default="", help="comma-separated names, measured in that order "
                                                       "(default: the suite's flat tables)")
    parser.add_argument("--max-rows", type=int, default=2000)
    parser.add_argument("--min-gain", type=float, default=0.03)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    parser.add_argument("--report-only", action="store_true", help="only redo the selection from the CSV")
    parser.add_argument("--write-config", action="store_true",
                        help="write configs/portfolio.yaml from the selection (not allowed with --suite openml)")
    parser.add_argument("--note", default="", help="a paragraph for the report (e.g. why a subset was measured)")
    return parser


if __name__ == "__main__":
    sys.exit(main())
