"""The leaderboard: a view of the study, one row per trial, best first."""
from __future__ import annotations

import json
import math
from typing import Any

import optuna
import pandas as pd

# n_features_synthesised: features the pipeline built from the input (synthesis and preprocessing: what
# selection chooses from); n_features_selected: features the model got (first fold); synthesis: the trial's
# synthesis plan; synthesis_time: what its synthesised features cost: fitted in the trial on each fold's training
# rows (single-table plans, summed over folds), plus, for a plan of related tables or series other than "none", the
# one-off choice and computation before the search that every trial on such a plan shares (not to be summed);
# peak_memory_mb: the trial process's peak resident memory (sampled four times a second).
COLUMNS = ["rank", "trial", "family", "params", "score", "score_std", "n_folds", "fit_time",
           "predict_time_per_1k", "duration", "n_features_synthesised", "n_features_selected", "status", "error",
           "fidelity", "synthesis", "synthesis_time", "peak_memory_mb"]
# rejected: a complete synthesis twin that did not beat its parent by more than the noise (automl/search/refine.py)
STATUS_ORDER = {"ok": 0, "rejected": 1, "pruned": 2, "timeout": 3, "error": 4, "interrupted": 5, "skipped": 6}


def trial_row(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """One leaderboard row from a finished trial's user attributes."""
    attrs = trial.user_attrs
    status = attrs.get("status") or {"COMPLETE": "ok", "PRUNED": "pruned"}.get(trial.state.name, "error")
    return {
        "trial": trial.number,
        "family": attrs.get("family", trial.params.get("family")),
        "params": attrs.get("params_json", "{}"),
        "score": attrs.get("score"),
        "score_std": attrs.get("score_std"),
        "n_folds": attrs.get("n_folds", 0),
        "fit_time": attrs.get("fit_time"),
        "predict_time_per_1k": attrs.get("predict_time_per_1k"),
        "duration": attrs.get("duration"),
        "n_features_synthesised": attrs.get("n_features_synthesised"),
        "n_features_selected": attrs.get("n_features_selected"),
        "fidelity": attrs.get("fidelity", 1.0),
        "synthesis": attrs.get("synthesis", "none"),
        "synthesis_time": attrs.get("synthesis_time"),
        "peak_memory_mb": attrs.get("peak_memory_mb"),
        "status": status,
        "error": attrs.get("error", "" if "status" in attrs else
                           "did not finish: its worker stopped (killed, crashed or lost its heartbeat)"),
        "worker": attrs.get("worker", ""),
    }


def build_leaderboard(trials: list[optuna.trial.FrozenTrial], greater_is_better: bool) -> pd.DataFrame:
    """Rows for every finished trial: ok trials by score (best first), then pruned, timeout, error.

    Running or waiting trials are left out; they have no result yet.
    """
    finished = [t for t in trials if t.state.is_finished()]
    starts = [t.datetime_start for t in trials if t.datetime_start is not None]
    first = min(starts) if starts else None
    extra = _extra_metric_names(finished)
    rows = [{**trial_row(t), **_extra_scores(t, extra), "finished_at": _seconds_since(t, first)} for t in finished]
    columns = COLUMNS[:COLUMNS.index("score_std") + 1] + extra + COLUMNS[COLUMNS.index("score_std") + 1:]
    frame = pd.DataFrame(rows, columns=[c for c in columns if c != "rank"] + ["worker", "finished_at"])
    if frame.empty:
        return frame.assign(rank=pd.Series(dtype=int))[columns + ["worker", "finished_at"]]
    sign = -1.0 if greater_is_better else 1.0
    frame["_status"] = frame["status"].map(STATUS_ORDER).fillna(9)
    frame["_key"] = [sign * s if s is not None and not (isinstance(s, float) and math.isnan(s)) else math.inf
                     for s in frame["score"]]
    frame["_key"] = frame["_key"].where(frame["status"] == "ok", math.inf)
    frame = frame.sort_values(["_status", "_key", "trial"], kind="stable").drop(columns=["_status", "_key"])
    frame.insert(0, "rank", range(1, len(frame) + 1))
    return frame.reset_index(drop=True)


def _extra_metric_names(trials: list[optuna.trial.FrozenTrial]) -> list[str]:
    """The further metrics some trial was scored with (``AutoML(extra_metrics=...)``), in their given order."""
    names: list[str] = []
    for trial in trials:
        for name in trial.user_attrs.get("extra_scores") or {}:
            if name not in names and name not in COLUMNS:
                names.append(name)
    return names


def _extra_scores(trial: optuna.trial.FrozenTrial, names: list[str]) -> dict[str, Any]:
    scores = trial.user_attrs.get("extra_scores") or {}
    return {name: scores.get(name) for name in names}


def _seconds_since(trial: optuna.trial.FrozenTrial, first: Any) -> float | None:
    """When the trial finished, in seconds since the first trial started (the report plots score vs time)."""
    if trial.datetime_complete is None or first is None:
        return None
    return round((trial.datetime_complete - first).total_seconds(), 3)


def params_json(params: dict[str, Any]) -> str:
    """Parameters as compact JSON for the leaderboard and the study's user attributes."""
    return json.dumps(params, sort_keys=True, default=str)


def why_no_model(board: pd.DataFrame) -> tuple[str, str]:
    """Why a search found no model: what became of its trials (each failing family's first error), and the remedy.

    Returns
    -------
    reason : str
    remedy : str
    """
    if board.empty:
        return "no trial ran (the budget ended before the first trial could start)", \
            "raise time_budget, or pass fewer rows or columns"
    counts = board["status"].value_counts().to_dict()
    parts = []
    errors = board[board["status"] == "error"]
    if len(errors):
        first = errors.groupby("family", sort=False)["error"].first()
        shown = "; ".join(f"{family}: {str(message)[:160]}" for family, message in first.items())
        parts.append(f"{len(errors)} trial(s) failed with an error ({shown})")
    for status, words in (("timeout", "stopped at their time limit"), ("skipped", "were not started: too slow for "
                          "the time left"), ("pruned", "were pruned")):
        if counts.get(status):
            parts.append(f"{counts[status]} {words}")
    slow = sum(counts.get(s, 0) for s in ("timeout", "skipped"))
    remedy = ("raise time_budget, or pass fewer rows or columns" if slow or not len(errors)
              else "every trial failed: fix the errors above (leaderboard_['error'] has each one)")
    return "; ".join(parts), remedy
