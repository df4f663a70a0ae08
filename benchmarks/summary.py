"""The markdown report of a benchmark's result CSV (tables from :mod:`benchmarks.report`)."""
from __future__ import annotations

import math
from typing import Any

import pandas as pd

from benchmarks import report
from benchmarks.machine_speed import report_warning
from benchmarks.markdown import to_markdown
from benchmarks.scoring import TIE_TOLERANCE

SUMMARY_FORMATS = {f"mean normalised (clipped at {report.CLIP:g})": ".3f", "median normalised": ".3f", "median predict_s": ".3f", "median 1-row ms": ".1f",
                   "median 1-row ms, ONNX": ".2f", "max peak MB": ".0f",
                   "max peak MB (PSS)": ".0f"}
RUN_FORMATS = {"predict_s": ".3f", "1-row ms": ".1f", "peak MB (RSS)": ".0f", "peak MB (PSS)": ".0f",
               "load": ".1f"}


def format_score(value: float) -> str:
    """A score with 4 decimals (1 from 1000 up, 4 significant digits below 0.1); empty for NaN."""
    if not math.isfinite(value):
        return ""
    if abs(value) >= 1000:
        return f"{value:.1f}"
    return f"{value:.4g}" if abs(value) < 0.1 else f"{value:.4f}"


def score_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Dataset x system scores as text: the best in bold, ``*`` where a failed run counted as constant."""
    scores = report.dataset_scores(frame)
    imputed = frame.pivot_table(index="dataset", columns="system", values="imputed", aggfunc="any")
    imputed = imputed.reindex(index=scores.index, columns=scores.columns).fillna(False).astype(bool)
    cells = scores.apply(lambda column: column.map(format_score))
    cells = cells.where(~imputed, cells + "*")
    best = scores.eq(report.best_per_dataset(scores, report.dataset_metrics(frame)), axis=0)
    cells = cells.where(~best, "**" + cells + "**")
    cells.insert(0, "metric", report.dataset_metrics(frame).reindex(scores.index))
    return cells.reset_index()


def normalised_table(normalised: pd.DataFrame) -> pd.DataFrame:
    """Normalised scores per dataset, closed by a mean (clipped at :data:`report.CLIP`) and a median row."""
    summaries = pd.DataFrame({f"**mean (clipped at {report.CLIP:g})**": normalised.clip(lower=report.CLIP).mean(),
                              "**median**": normalised.median()}).T
    table = pd.concat([normalised, summaries])
    return table.map(lambda v: f"{v + 0.0:.3f}" if math.isfinite(v) else "").rename_axis("dataset").reset_index()


def budget_section(frame: pd.DataFrame) -> str:
    """The budget adherence table, or a sentence when no system given the budget ran."""
    table = report.budget_adherence(frame)
    if table.empty:
        return "No system that takes the budget ran."
    return to_markdown(table, {"max fit/budget": ".2f"})


def run_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Every run of the systems given the budget: status, score, times, memory, load and what it chose."""
    budgeted = [name for name in report.system_order(frame) if name in set(report.budget_adherence(frame)["system"])]
    runs = frame[frame["system"].isin(budgeted)]
    columns = ["dataset", "seed", "system", "status", "score", "fit_s", "predict_s", "predict_row_ms",
               "peak_rss_mb", "peak_pss_mb", "load_1m", "details"]
    return runs[columns].rename(columns={"predict_row_ms": "1-row ms", "peak_rss_mb": "peak MB (RSS)",
                                "peak_pss_mb": "peak MB (PSS)", "load_1m": "load"})


def failure_lines(frame: pd.DataFrame) -> list[str]:
    """One bullet per run that is not ``ok``, and per ``ok`` run of automl whose fit ended with its constant
    fallback (``fit_status=constant`` in its details: no trial gave a model; its score is the class priors' or the
    mean's, a failure that a score table alone shows as a poor score)."""
    bad = frame[frame["status"] != "ok"]
    lines = [f"- {r['dataset']} / seed {r['seed']} / {r['system']}: **{r['status']}**: `{r['error']}`"
             for r in bad.to_dict("records")]
    details = frame["details"].fillna("").astype(str) if "details" in frame else pd.Series("", index=frame.index)
    constant = frame[(frame["status"] == "ok") & details.str.contains(r"(?:^|; )fit_status=constant(?:;|$)")]
    return lines + [f"- {r['dataset']} / seed {r['seed']} / {r['system']}: ok, but **a constant predictor** (no trial "
                    f"gave a model: `{r['details']}`)" for r in constant.to_dict("records")]


def header(frame: pd.DataFrame, title: str, notes: list[str], suite_size: int | None) -> str:
    """Title and the paragraph that says what was run and how to read it."""
    datasets = list(dict.fromkeys(frame["dataset"]))
    seeds = sorted(set(int(s) for s in frame["seed"]))
    of_suite = f" of the {suite_size} in the suite" if suite_size else ""
    engines = sorted(set(frame["engine"]) - {""})
    lines = [f"# {title}", "",
             f"{len(datasets)} datasets{of_suite} ({', '.join(datasets)}); seeds {', '.join(map(str, seeds))}; "
             f"budget {_budgets(frame)} s; {_cores(frame)} cores per run; engine revision "
             f"{', '.join(engines) or 'n/a'} (last commit that changed `automl/` or `configs/` in "
             "the checkout that ran; `+dirty`: uncommitted changes there).", "",
             "Test metric per task: ROC AUC (binary, higher is better), log loss (multiclass) and RMSE "
             "(regression), lower is better; every system gets the same 75/25 split per seed. A run that fails, "
             f"is killed, or fits for more than 2x the budget counts as the constant predictor's score (`*`). "
             f"Ties: relative difference within {TIE_TOLERANCE:g}. Baselines (constant, LightGBM, HistGradientBoosting, random "
             "forest) use library defaults and ignore the budget.", ""]
    return "\n".join(lines + [f"{note}\n" for note in notes])


def _budgets(frame: pd.DataFrame) -> str:
    return ", ".join(f"{b:g}" for b in sorted(set(frame["budget"].dropna())))


def _cores(frame: pd.DataFrame) -> str:
    return ", ".join(str(int(c)) for c in sorted(set(frame["cores"].dropna())))


def render(frame: pd.DataFrame, title: str, notes: list[str] | None = None, suite_size: int | None = None,
           plots: dict[str, str] | None = None) -> str:
    """The whole markdown report of a result table.

    Parameters
    ----------
    frame : pandas.DataFrame
        Rows of the result CSV.
    title : str
        First heading.
    notes : list of str, optional
        Paragraphs added under the header (machine load, subset, ...).
    suite_size : int, optional
        Number of datasets in the suite, to say what share was run.
    plots : dict, optional
        Caption -> relative path of a PNG to link.

    Returns
    -------
    str
    """
    frame = report.effective_scores(frame)
    scores, metrics = report.dataset_scores(frame), report.dataset_metrics(frame)
    normalised = report.normalised_scores(scores, metrics)
    sections: list[tuple[str, Any]] = [
        ("Scores (mean over seeds)", to_markdown(score_table(frame))),
        ("Normalised score (0 = LightGBM defaults, 1 = best observed; empty where LightGBM is the best)",
         to_markdown(normalised_table(normalised))),
        ("Wins / ties / losses of the row system against the column system (datasets)",
         to_markdown(report.win_tie_loss(scores, metrics).rename_axis("system").reset_index())),
        ("Systems", to_markdown(report.system_summary(frame, normalised), SUMMARY_FORMATS)),
        ("Budget adherence (fit wall time of the systems given the budget)", budget_section(frame)),
        ("Runs of the systems given the budget", to_markdown(run_table(frame), RUN_FORMATS)),
    ]
    warning = report_warning(frame)
    text = header(frame, title, [*(notes or []), *([warning] if warning else [])], suite_size)
    text += "".join(f"\n## {name}\n\n{body}\n" for name, body in sections)
    if plots:
        text += "\n## Plots\n\n" + "".join(f"![{caption}]({path})\n" for caption, path in plots.items())
    failures = failure_lines(frame)
    return text + ("\n## Runs that are not ok, or ended with a constant predictor\n\n" + "\n".join(failures) + "\n" if failures else "")
