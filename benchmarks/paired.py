"""Two systems compared seed by seed on the same splits: is one of them worse on a dataset, or is it noise?

A result CSV of :mod:`benchmarks.run` holds, per dataset and seed, both systems' test scores on the same split and
budget. For each dataset this reports the relative difference of ``a`` against ``b`` on every seed (positive: ``a``
better, whatever the metric's direction), its mean, the seeds ``a`` wins, ties and loses (ties as in the run report:
within 0.01 %), and a verdict:

- ``a worse`` / ``a better``: worse (better) on every seed that is not a tie, and by more than a tie on the mean
  (with one seed, that seed's outcome: the ``seeds`` column says how much a verdict rests on);
- ``mixed``: wins and losses both;
- ``tie``: every seed a tie.

Across datasets: the counts of each verdict, and a Wilcoxon signed-rank test of the per-dataset mean differences.
A failed run scores as the constant predictor, as in the run report.

Usage::

    python -m benchmarks.paired RESULTS.csv --a automl --b 'automl[synthesis_plan=none]' [--out report.md]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.machine_speed import speed_mismatch
from benchmarks.markdown import to_markdown
from benchmarks.report import effective_scores
from benchmarks.scoring import GREATER_IS_BETTER, compare


def relative_gain(metric: str, score: float, baseline: float) -> float:
    """How much better ``score`` is than ``baseline``, as a share of the baseline's magnitude (positive: better)."""
    sign = 1.0 if GREATER_IS_BETTER[metric] else -1.0
    return sign * (score - baseline) / max(abs(baseline), 1e-12)


def paired_table(frame: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
    """One row per dataset: per-seed gains of ``a`` over ``b``, their mean, wins/ties/losses and the verdict."""
    scores = effective_scores(frame)
    both = scores[scores["system"].isin([a, b])].pivot_table(index=["dataset", "metric", "seed"], columns="system",
                                                              values="effective", aggfunc="first")
    if a not in both or b not in both:
        raise SystemExit(f"the CSV holds no runs of {a!r} and {b!r} on the same datasets")
    both = both.dropna(subset=[a, b])
    rows = []
    for (dataset, metric), group in both.groupby(level=["dataset", "metric"], sort=False):
        outcomes = [compare(metric, x, y) for x, y in zip(group[a], group[b])]
        gains = [relative_gain(metric, x, y) for x, y in zip(group[a], group[b])]
        mean_a, mean_b = float(group[a].mean()), float(group[b].mean())
        rows.append({"dataset": dataset, "metric": metric, "seeds": len(gains),
                     "gain_per_seed_pct": " ".join(f"{100 * g:+.2f}" for g in gains),
                     "mean_gain_pct": round(100 * float(np.mean(gains)), 3),
                     "wins": outcomes.count("beat"), "ties": outcomes.count("tie"), "losses": outcomes.count("loss"),
                     "verdict": verdict(outcomes, compare(metric, mean_a, mean_b))})
    return pd.DataFrame(rows).sort_values("mean_gain_pct", kind="stable").reset_index(drop=True)


def verdict(outcomes: list[str], on_mean: str) -> str:
    """``a worse``, ``a better``, ``mixed`` or ``tie`` from the per-seed outcomes and the outcome on the means."""
    wins, losses = outcomes.count("beat"), outcomes.count("loss")
    if wins == 0 and losses and on_mean == "loss":
        return "a worse"
    if losses == 0 and wins and on_mean == "beat":
        return "a better"
    if wins == 0 and losses == 0:
        return "tie"
    return "mixed"


def render(table: pd.DataFrame, a: str, b: str, warning: str | None = None) -> str:
    """The report: verdict counts, mean and median gains, the Wilcoxon test and the table; ``warning`` (the runs'
    machines differ in speed, :func:`benchmarks.machine_speed.speed_mismatch`) first when given."""
    from scipy.stats import wilcoxon

    counts = table["verdict"].value_counts()
    gains = table["mean_gain_pct"].to_numpy()
    nonzero = gains[gains != 0]
    p_value = float(wilcoxon(nonzero).pvalue) if len(nonzero) >= 6 else float("nan")
    lines = [f"# `{a}` against `{b}`, paired by seed", "",
             f"{len(table)} datasets; gain = relative difference of `{a}` against `{b}` on the same split "
             "(positive: better), per seed and on the mean.", "",
             *([f"**Warning**: {warning}.", ""] if warning else []),
             "- verdicts: " + ", ".join(f"{name} {int(counts.get(name, 0))}"
                                        for name in ("a better", "a worse", "mixed", "tie")),
             f"- mean of the per-dataset mean gains: {np.mean(gains):+.3f} %; median {np.median(gains):+.3f} %",
             f"- Wilcoxon signed-rank over the datasets' mean gains: p = {p_value:.3g}", "", to_markdown(table)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", type=Path)
    parser.add_argument("--a", required=True, help="the system judged")
    parser.add_argument("--b", required=True, help="the system it is compared with")
    parser.add_argument("--out", type=Path, help="markdown report (default: standard output only)")
    args = parser.parse_args(argv)
    frame = pd.read_csv(args.csv)
    text = render(paired_table(frame, args.a, args.b), args.a, args.b, speed_mismatch(frame, args.a, args.b))
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
