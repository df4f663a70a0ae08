"""Aggregate a benchmark's result CSV: scores per dataset, wins, normalised scores, budget adherence.

Pure functions of the results (no training), so they are tested on small synthetic tables. A run that is not
``ok`` counts as the constant predictor's score on the same dataset and seed (AutoML Benchmark rule).
Scores are averaged over seeds per dataset before anything is compared.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from benchmarks.scoring import GREATER_IS_BETTER, TIE_TOLERANCE, compare
from benchmarks.systems import SYSTEMS, base_of

REFERENCE = "lgbm"  # normalised score 0
CLIP = -1.0  # summaries clip normalised scores here: near-ties with LightGBM make the scale explode
FALLBACK = "constant"  # score of a failed run
WITHIN_BUDGET = 1.05  # fit_s <= this x budget counts as within budget


def system_order(frame: pd.DataFrame) -> list[str]:
    """Systems in ``frame``: the known ones in their declared order, each followed by its variants
    (``automl[search=random]`` after ``automl``) in order of appearance, then any other."""
    present = list(dict.fromkeys(frame["system"]))
    known = list(SYSTEMS)
    rank = {name: known.index(base_of(name)) if base_of(name) in SYSTEMS else len(known) for name in present}
    return sorted(present, key=lambda name: (rank[name], name != base_of(name)))


def effective_scores(frame: pd.DataFrame) -> pd.DataFrame:
    """Add ``effective`` (the score, or the constant predictor's for a run that is not ``ok``) and ``imputed``.

    Returns
    -------
    pandas.DataFrame
        A copy of ``frame`` with the two columns.
    """
    constant = frame[(frame["system"] == FALLBACK) & (frame["status"] == "ok")]
    fallback = constant.set_index(["dataset", "seed"])["score"]
    keys = pd.MultiIndex.from_frame(frame[["dataset", "seed"]])
    ok = (frame["status"] == "ok").to_numpy()
    out = frame.copy()
    out["effective"] = np.where(ok, frame["score"], fallback.reindex(keys).to_numpy())
    out["imputed"] = ~ok
    return out


def dataset_scores(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean effective score over seeds: one row per dataset, one column per system.

    Parameters
    ----------
    frame : pandas.DataFrame
        Output of :func:`effective_scores`.

    Returns
    -------
    pandas.DataFrame
        Indexed by dataset (in order of appearance), columns in :func:`system_order`.
    """
    table = frame.pivot_table(index="dataset", columns="system", values="effective", aggfunc="mean", dropna=False)
    datasets = list(dict.fromkeys(frame["dataset"]))
    return table.reindex(index=datasets, columns=system_order(frame))


def dataset_metrics(frame: pd.DataFrame) -> pd.Series:
    """The metric of each dataset (indexed by dataset)."""
    return frame.groupby("dataset", sort=False)["metric"].first()


def best_per_dataset(scores: pd.DataFrame, metrics: pd.Series) -> pd.Series:
    """Best observed score of each dataset over all systems (max for AUC, min for losses)."""
    greater = metrics.reindex(scores.index).map(GREATER_IS_BETTER).astype(bool)
    return pd.Series(np.where(greater, scores.max(axis=1), scores.min(axis=1)), index=scores.index)


def normalised_scores(scores: pd.DataFrame, metrics: pd.Series) -> pd.DataFrame:
    """``(score - lgbm) / (best - lgbm)`` per dataset: 0 is LightGBM defaults, 1 the best observed.

    Undefined (NaN) on a dataset where LightGBM defaults are themselves the best observed, or missing.

    Returns
    -------
    pandas.DataFrame
        Same shape as ``scores``.
    """
    if REFERENCE not in scores:
        return scores * math.nan
    reference = scores[REFERENCE]
    span = best_per_dataset(scores, metrics) - reference
    span = span.where(span.abs() > TIE_TOLERANCE * reference.abs())
    return scores.sub(reference, axis=0).div(span, axis=0)


def win_tie_loss(scores: pd.DataFrame, metrics: pd.Series) -> pd.DataFrame:
    """Wins/ties/losses of each row system against each column system, over datasets where both have a score.

    Returns
    -------
    pandas.DataFrame
        Cells ``"W/T/L"``; the diagonal is empty.
    """
    systems = list(scores.columns)
    table = pd.DataFrame("", index=systems, columns=systems)
    names = [str(m) for m in metrics.reindex(scores.index)]
    for one in systems:
        for other in systems:
            if one == other:
                continue
            pairs = zip(names, scores[one].to_numpy(dtype=float), scores[other].to_numpy(dtype=float))
            outcomes = [compare(metric, a, b) for metric, a, b in pairs]
            table.at[one, other] = "/".join(str(outcomes.count(k)) for k in ("beat", "tie", "loss"))
    return table


def budget_adherence(frame: pd.DataFrame) -> pd.DataFrame:
    """Per system given a budget: runs, fit within 1.05x budget, over 2x, largest fit/budget, failures.

    Returns
    -------
    pandas.DataFrame
        One row per system that uses the budget.
    """
    lines = []
    for system in system_order(frame):
        spec = SYSTEMS.get(base_of(system))
        if spec is not None and not spec.uses_budget:
            continue
        runs = frame[(frame["system"] == system) & (frame["status"] != "not_installed")]
        ratio = runs["fit_s"] / runs["budget"]
        lines.append({"system": system, "runs": len(runs),
                      f"fit <= {WITHIN_BUDGET:g}x budget": int((ratio <= WITHIN_BUDGET).sum()),
                      "over 2x or killed": int(runs["status"].isin(["overrun", "timeout"]).sum()),
                      "max fit/budget": float(ratio.max()) if len(runs) else math.nan,
                      "median fit_s": float(runs["fit_s"].median()) if len(runs) else math.nan})
    return pd.DataFrame(lines)


def detail_values(runs: pd.DataFrame, key: str) -> pd.Series:
    """The number recorded as ``key=value`` in each run's ``details`` (NaN where it is absent)."""
    pattern = rf"(?:^|; ){key}=([-+0-9.eE]+)(?:;|$)"
    return pd.to_numeric(runs["details"].fillna("").astype(str).str.extract(pattern)[0], errors="coerce")


def system_summary(frame: pd.DataFrame, normalised: pd.DataFrame) -> pd.DataFrame:
    """Per system: mean (clipped) and median normalised score, run statuses, median times, single-row latency, peak memory.

    Returns
    -------
    pandas.DataFrame
        One row per system.
    """
    lines = []
    for system in system_order(frame):
        runs = frame[frame["system"] == system]
        ok = runs[runs["status"] == "ok"]
        statuses = runs["status"].value_counts()
        scaled = normalised[system] if system in normalised else pd.Series(dtype=float)
        lines.append({"system": system, "version": ", ".join(sorted(set(runs["version"]) - {""})),
                      f"mean normalised (clipped at {CLIP:g})": float(scaled.clip(lower=CLIP).mean()),
                      "median normalised": float(scaled.median()),
                      "runs": ", ".join(f"{status} {count}" for status, count in statuses.items()),
                      "median fit_s": float(ok["fit_s"].median()), "median predict_s": float(ok["predict_s"].median()),
                      "median 1-row ms": float(ok["predict_row_ms"].median()),
                      "median 1-row ms, ONNX": float(detail_values(ok, "onnx_row_ms").median()),
                      "max peak MB": float(ok["peak_rss_mb"].max()),
                      "max peak MB (PSS)": float(ok["peak_pss_mb"].max())})
    return pd.DataFrame(lines)
