"""The leaderboard: a view of the study, one row per trial, best first."""
from __future__ import annotations

import json
import math
from typing import Any

import optuna
import pandas as pd

# n_features_synthesised: features the pipeline built from the input (synthesis and preprocessing: what
# selection chooses from); n_features_selected: features the model got (first fold).
COLUMNS = ["rank", "trial", "family", "params", "score", "score_std", "n_folds", "fit_time",
           "predict_time_per_1k", "duration", "n_features_synthesised", "n_features_selected", "status", "error"]
STATUS_ORDER = {"ok": 0, "pruned": 1, "timeout": 2, "error": 3, "skipped": 4}


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
        "status": status,
        "error": attrs.get("error", "" if "status" in attrs else
                           "did not finish: its worker stopped (killed, crashed or lost its heartbeat)"),
        "worker": attrs.get("worker", ""),
    }


def build_leaderboard(trials: list[optuna.trial.FrozenTrial], greater_is_better: bool) -> pd.DataFrame:
    """Rows for every finished trial: ok trials by score (best first), then pruned, timeout, error.

    Running or waiting trials are left out; they have no result yet.
    """
    rows = [trial_row(t) for t in trials if t.state.is_finished()]
    frame = pd.DataFrame(rows, columns=[c for c in COLUMNS if c != "rank"] + ["worker"])
    if frame.empty:
        return frame.assign(rank=pd.Series(dtype=int))[COLUMNS + ["worker"]]
    sign = -1.0 if greater_is_better else 1.0
    frame["_status"] = frame["status"].map(STATUS_ORDER).fillna(9)
    frame["_key"] = [sign * s if s is not None and not (isinstance(s, float) and math.isnan(s)) else math.inf
                     for s in frame["score"]]
    frame["_key"] = frame["_key"].where(frame["status"] == "ok", math.inf)
    frame = frame.sort_values(["_status", "_key", "trial"], kind="stable").drop(columns=["_status", "_key"])
    frame.insert(0, "rank", range(1, len(frame) + 1))
    return frame.reset_index(drop=True)


def params_json(params: dict[str, Any]) -> str:
    """Parameters as compact JSON for the leaderboard and the study's user attributes."""
    return json.dumps(params, sort_keys=True, default=str)
