"""PNG plots of a benchmark: normalised score per dataset, and score against fit time (matplotlib)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks import report
from benchmarks.report import CLIP  # normalised scores below this are drawn at the edge



def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def plot_scores_per_dataset(normalised: pd.DataFrame, path: Path) -> Path:
    """One row per dataset, one marker per system at its normalised score (clipped at :data:`CLIP`).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(normalised) + 1.8))
    rows = np.arange(len(normalised))
    for i, system in enumerate(normalised.columns):
        offset = (i - (len(normalised.columns) - 1) / 2) * 0.08
        ax.scatter(normalised[system].clip(lower=CLIP), rows + offset, label=system, s=28)
    ax.set_yticks(rows, normalised.index)
    ax.invert_yaxis()
    ax.axvline(0, color="grey", lw=0.8, ls="--")
    ax.axvline(1, color="grey", lw=0.8, ls=":")
    ax.set_xlabel(f"normalised score (0 = LightGBM defaults, 1 = best observed; clipped at {CLIP:g})")
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_score_vs_time(frame: pd.DataFrame, normalised: pd.DataFrame, path: Path) -> Path:
    """Mean normalised score against median fit time, one labelled point per system (log time axis).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for system in normalised.columns:
        runs = frame[(frame["system"] == system) & (frame["status"] == "ok")]
        seconds, mean = float(runs["fit_s"].median()), float(normalised[system].clip(lower=CLIP).mean())
        if np.isfinite(seconds) and np.isfinite(mean):
            ax.scatter(max(seconds, 1e-3), mean, s=40)
            ax.annotate(system, (max(seconds, 1e-3), mean), textcoords="offset points", xytext=(5, 4), fontsize=9)
    ax.set_xscale("log")
    ax.set_xlabel("median fit wall time per run (s, log scale)")
    ax.set_ylabel(f"mean normalised score (clipped at {CLIP:g})")
    ax.axhline(0, color="grey", lw=0.8, ls="--")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_plots(frame: pd.DataFrame, stem: Path) -> dict[str, Path]:
    """Write ``<stem>_scores.png`` and ``<stem>_score_vs_time.png`` from a result table.

    Returns
    -------
    dict
        Caption -> written file.
    """
    frame = report.effective_scores(frame)
    normalised = report.normalised_scores(report.dataset_scores(frame), report.dataset_metrics(frame))
    per_dataset = stem.with_name(stem.name + "_scores.png")
    vs_time = stem.with_name(stem.name + "_score_vs_time.png")
    return {"normalised score per dataset": plot_scores_per_dataset(normalised, per_dataset),
            "score vs fit time": plot_score_vs_time(frame, normalised, vs_time)}
