"""Issue 14's targets, checked run by run on result CSVs of the generated (scale) suite.

For every (dataset, seed, budget) where ``automl`` ran, one row: its score and the gain over the best peer
(FLAML, AutoGluon), over LightGBM's defaults and over the constant predictor; its fit wall against the budget; its
peak memory against FLAML's (RSS and, where sampled, PSS); the trials it ran; and a verdict per target:

- ``lgbm``: not worse than LightGBM's defaults (a tie counts);
- ``peer``: within 0.5 % of the best peer below a 600 s budget, ahead of it from 600 s;
- ``memory``: peak PSS at most 1.5x FLAML's (RSS where PSS was not sampled: ``memory_basis`` says which);
- ``wall``: fit at most 1.05x the budget;
- ``model``: the run is ``ok`` and beats the constant predictor.

A target with nothing to compare against (no peer or no LightGBM row) is empty, not a pass. Rows of several CSVs are
merged, a later file's row replacing an earlier one of the same (dataset, seed, budget, system): give the peers'
CSV first and an automl rerun after it.

Usage::

    python -m benchmarks.scale_targets bench_generated_120s.csv bench_generated_120s_rerun.csv [--out targets.md]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.markdown import to_markdown
from benchmarks.paired import relative_gain
from benchmarks.report import FALLBACK, detail_values, effective_scores
from benchmarks.scoring import GREATER_IS_BETTER, compare

PEERS = ("flaml", "autogluon")
PEER_MARGIN = 0.005  # within 0.5 % of the best peer below LONG_BUDGET
LONG_BUDGET = 600.0  # from this budget on, ahead of the best peer
MEMORY_RATIO = 1.5  # of FLAML's peak
WALL_RATIO = 1.05  # of the budget
KEY = ["dataset", "seed", "budget", "system"]


def merged_runs(paths: list[Path]) -> pd.DataFrame:
    """The rows of ``paths``, a later file's row replacing an earlier one with the same (dataset, seed, budget,
    system); ``source`` names the file each row came from."""
    frames = [pd.read_csv(path).assign(source=path.name) for path in paths]
    merged = pd.concat(frames, ignore_index=True)
    merged["budget"] = merged["budget"].astype(float)
    return merged.drop_duplicates(KEY, keep="last").reset_index(drop=True)


def target_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per automl run: the figures and the verdicts of the module docstring."""
    # a failed run scores as the constant predictor of its own budget's runs
    scored = pd.concat([effective_scores(group) for _, group in runs.groupby("budget", sort=False)])
    rows = []
    for (dataset, seed, budget), group in scored.groupby(["dataset", "seed", "budget"], sort=False):
        by_system = group.set_index("system")
        if "automl" not in by_system.index:
            continue
        ours = by_system.loc["automl"]
        metric = str(ours["metric"])
        rows.append({"dataset": dataset, "seed": seed, "budget": budget, "metric": metric,
                     "automl": ours["effective"], **_peer_figures(by_system, metric, budget),
                     **_baseline_figures(by_system, metric, ours), **_run_figures(by_system, budget),
                     "source": ours["source"]})
    return pd.DataFrame(rows)


def _peer_figures(by_system: pd.DataFrame, metric: str, budget: float) -> dict[str, object]:
    peers = by_system.loc[[name for name in PEERS if name in by_system.index]]
    if peers.empty:
        return {"best_peer": "", "peer_score": np.nan, "gain_over_peer_pct": np.nan, "peer": ""}
    best = peers["effective"].sort_values(ascending=not GREATER_IS_BETTER[metric]).index[0]
    gain = relative_gain(metric, by_system.loc["automl", "effective"], peers.loc[best, "effective"])
    passed = gain > 0 if budget >= LONG_BUDGET else gain >= -PEER_MARGIN
    return {"best_peer": best, "peer_score": peers.loc[best, "effective"], "gain_over_peer_pct": 100 * gain,
            "peer": _verdict(passed)}


def _baseline_figures(by_system: pd.DataFrame, metric: str, ours: pd.Series) -> dict[str, object]:
    figures: dict[str, object] = {"gain_over_lgbm_pct": np.nan, "lgbm": "", "model": ""}
    if "lgbm" in by_system.index:
        lgbm = by_system.loc["lgbm", "effective"]
        figures["gain_over_lgbm_pct"] = 100 * relative_gain(metric, ours["effective"], lgbm)
        figures["lgbm"] = _verdict(compare(metric, ours["effective"], lgbm) != "loss")
    if FALLBACK in by_system.index:
        beats = compare(metric, ours["effective"], by_system.loc[FALLBACK, "effective"]) == "beat"
        figures["model"] = _verdict(ours["status"] == "ok" and beats)
    return figures


def _run_figures(by_system: pd.DataFrame, budget: float) -> dict[str, object]:
    ours = by_system.loc["automl"]
    wall = float(ours["fit_s"]) / budget
    figures: dict[str, object] = {"fit_s": float(ours["fit_s"]), "wall_x_budget": wall,
                                  "wall": _verdict(wall <= WALL_RATIO),
                                  "trials": detail_values(by_system.loc[["automl"]], "trials").iloc[0],
                                  "peak_rss_mb": float(ours["peak_rss_mb"]),
                                  "peak_pss_mb": float(ours.get("peak_pss_mb", np.nan))}
    figures.update({"rss_x_flaml": np.nan, "pss_x_flaml": np.nan, "memory_basis": "", "memory": ""})
    if "flaml" in by_system.index:
        flaml = by_system.loc["flaml"]
        figures["rss_x_flaml"] = float(ours["peak_rss_mb"]) / float(flaml["peak_rss_mb"])
        figures["pss_x_flaml"] = float(ours.get("peak_pss_mb", np.nan)) / float(flaml.get("peak_pss_mb", np.nan))
        basis = "pss" if np.isfinite(figures["pss_x_flaml"]) else "rss"
        figures["memory_basis"] = basis
        figures["memory"] = _verdict(figures[f"{basis}_x_flaml"] <= MEMORY_RATIO)
    return figures


def _verdict(passed: bool) -> str:
    return "yes" if passed else "NO"


def render(table: pd.DataFrame, paths: list[Path]) -> str:
    """The markdown report: how many runs meet each target, then the table."""
    lines = ["# Issue 14's targets, run by run", "",
             f"From {', '.join(f'`{p.name}`' for p in paths)} (a later file's row replaces an earlier one of the "
             "same dataset, seed, budget and system). Gains are relative, positive when automl is better; "
             f"`peer`: within {100 * PEER_MARGIN:g} % of the best peer below {LONG_BUDGET:g} s, ahead from there; "
             f"`memory`: peak at most {MEMORY_RATIO:g}x FLAML's (PSS, or RSS where PSS was not sampled); "
             f"`wall`: fit at most {WALL_RATIO:g}x the budget; `model`: ok and better than the constant predictor.",
             ""]
    for target in ("lgbm", "peer", "memory", "wall", "model"):
        judged = table[target][table[target] != ""]
        lines.append(f"- `{target}`: {int((judged == 'yes').sum())} of {len(judged)} runs meet it")
    formats = {"automl": ".4g", "peer_score": ".4g", "gain_over_peer_pct": "+.2f", "gain_over_lgbm_pct": "+.2f",
               "fit_s": ".0f", "wall_x_budget": ".3f", "trials": ".0f", "peak_rss_mb": ".0f", "peak_pss_mb": ".0f",
               "rss_x_flaml": ".2f", "pss_x_flaml": ".2f", "budget": ".0f"}
    lines += ["", to_markdown(table, formats=formats), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", nargs="+", type=Path, help="result CSVs of benchmarks.run, peers' first")
    parser.add_argument("--out", type=Path, help="write the report here (default: print it)")
    args = parser.parse_args(argv)
    table = target_table(merged_runs(args.csv))
    if table.empty:
        raise SystemExit("no automl run in the given CSVs")
    text = render(table, args.csv)
    if args.out:
        args.out.write_text(text)
    else:
        print(text)


if __name__ == "__main__":
    main()
