"""Our engine: ``automl.AutoML`` with the task's budget, seed and cores (run with our environment's Python).

Adapter options are further ``AutoML`` arguments (``automl[search=random;cv=3]``), see :func:`automl_arguments`.
``automl[portfolio=leave_out]`` fits each dataset with the portfolio chosen on the training collection without it
(:func:`benchmarks.portfolio.portfolio_without`): the honest figure on the collection's own datasets.
"""
from __future__ import annotations

import inspect
import json
import sys
from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository, for ``benchmarks``

from benchmarks.adapters.harness import Fitted, Task, run_adapter, single_row_latency_ms  # noqa: E402

HARNESS_ARGUMENTS = ("time_budget", "random_state", "n_jobs")  # from --budget, --seeds and --cores only
LEAVE_OUT = "leave_out"  # portfolio=leave_out: the portfolio chosen without the dataset being fitted
NONE_WORDS = {"portfolio": "none"}  # option values that mean None (as in the CLI's --portfolio none)


def option_value(key: str, text: str) -> Any:
    """The Python value of one adapter option: JSON when it parses (numbers, true/false, null, lists), else text.

    Parameters
    ----------
    key : str
        The ``AutoML`` argument (``portfolio=none`` means None).
    text : str
        The value as written.

    Returns
    -------
    Any
    """
    if NONE_WORDS.get(key) == text.strip().lower():
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def automl_arguments(options: dict[str, str], allowed: Collection[str] | None = None) -> dict[str, Any]:
    """``AutoML`` keyword arguments from adapter options (values parsed by :func:`option_value`).

    Parameters
    ----------
    options : dict of str to str
        ``KEY=VALUE`` adapter options.
    allowed : collection of str, optional
        The ``AutoML`` parameter names; unknown keys are refused when given.

    Returns
    -------
    dict

    Raises
    ------
    ValueError
        For a key that is not an ``AutoML`` parameter, or one the harness sets (budget, seed, cores).
    """
    reserved = sorted(set(options) & set(HARNESS_ARGUMENTS))
    if reserved:
        raise ValueError(f"automl options {reserved} are set by the benchmark (--budget, --seeds, --cores)")
    unknown = sorted(set(options) - set(allowed)) if allowed is not None else []
    if unknown:
        settable = sorted(set(allowed or []) - set(HARNESS_ARGUMENTS))
        raise ValueError(f"unknown automl options {unknown}; the options are AutoML's arguments {settable}")
    return {key: option_value(key, text) for key, text in options.items()}


def fit(task: Task, workdir: Path) -> Fitted:
    """Fit ``AutoML(time_budget=budget, task=task, random_state=seed, n_jobs=cores, **options)``; the metric is
    the default unless an option sets it. The options are recorded with the details."""
    from automl import AutoML

    spec = task.spec
    arguments = automl_arguments(task.options, inspect.signature(AutoML).parameters)
    info = {"options": json.dumps(arguments, separators=(",", ":"))} if arguments else {}
    if arguments.get("portfolio") == LEAVE_OUT:
        from benchmarks.portfolio import portfolio_without

        arguments["portfolio"] = portfolio_without(spec["dataset"])
    model = AutoML(**{"time_budget": spec["budget"], "task": spec["task"], "random_state": spec["seed"],
                      "n_jobs": spec["cores"], **arguments})
    return Fitted(model.fit(task.x_train, task.y_train), info=info)


def predict(model: Any, x: pd.DataFrame, task: Task) -> Any:
    """Class probabilities (columns = ``model.classes_``) or values."""
    if task.is_classification:
        return pd.DataFrame(model.predict_proba(x), columns=list(model.classes_))
    return model.predict(x)


def describe(model: Any) -> dict[str, Any]:
    """Best family, CV score, trial counts and where the ``automl`` package was imported from."""
    import automl

    board = model.leaderboard_
    return {"version": f"automl {automl.__version__}", "best": str(getattr(model, "best_family_", "")),
            "cv_score": float("nan" if getattr(model, "best_score_", None) is None else model.best_score_),
            "fit_status": getattr(model, "fit_status_", ""), "metric": model.metric_.name, "trials": len(board),
            "trials_ok": int((board["status"] == "ok").sum()) if "status" in board else None,
            **_stopped(board),
            **_synthesis(model, board), **_memory(model, board), **_stacking(model, board),
            "automl_path": str(Path(automl.__file__).resolve().parent)}


def _stopped(board: pd.DataFrame) -> dict[str, Any]:
    """Trials stopped at their limit (``timeouts``); of them, those stopped while a fold ran because it showed the
    trial could not finish (``in_flight``), and those killed at the limit before any fold or rung finished
    (``killed_unscored``: the whole limit spent for nothing)."""
    if "status" not in board or "n_folds" not in board:
        return {}
    stopped = board["status"] == "timeout"
    errors = board["error"] if "error" in board else pd.Series("", index=board.index)
    in_flight = stopped & errors.fillna("").astype(str).str.startswith("stopped during fold")
    return {"timeouts": int(stopped.sum()), "in_flight": int(in_flight.sum()),
            "killed_unscored": int((stopped & ~in_flight & (board["n_folds"] == 0)).sum())}


def _memory(model: Any, board: pd.DataFrame) -> dict[str, Any]:
    """The fit's own account of its memory: ``peak_memory_mb_`` (the search process's peak plus the largest
    trial's) and the trial whose process peaked highest (its family and MB), from the leaderboard."""
    out: dict[str, Any] = {}
    if getattr(model, "peak_memory_mb_", None) is not None:
        out["peak_memory_mb"] = round(float(model.peak_memory_mb_))
    peaks = board["peak_memory_mb"].dropna() if "peak_memory_mb" in board else pd.Series(dtype=float)
    if len(peaks):
        largest = board.loc[peaks.idxmax()]
        out["largest_trial"] = f"{largest['family']} {float(largest['peak_memory_mb']):.0f}MB " \
                               f"at {float(largest['fidelity']):.3g} of the rows"
    return out


def _synthesis(model: Any, board: pd.DataFrame) -> dict[str, Any]:
    """The single-table synthesis of the search: the plans the final model uses (its leaderboard row's ``synthesis``)
    and the refinement twins tried and kept (``automl/search/refine.py``); empty for a leaderboard without them."""
    if "synthesis" not in board or "trial" not in board:
        return {}
    tried = board[(board["synthesis"] != "none") & ~board.get("family").isin(["ensemble", "stack"])]
    twins = tried[tried["status"].isin(["ok", "rejected"])]
    best = board.loc[board["trial"] == getattr(model, "best_trial_", None), "synthesis"]
    return {"synthesis": str(best.iloc[0]) if len(best) else "", "twins_tried": len(tried), "twins": len(twins),
            "twins_kept": int((twins["status"] == "ok").sum())}


def _stacking(model: Any, board: pd.DataFrame) -> dict[str, Any]:
    """The second-level trials (``automl/search/stack.py``): how many ran, and the final model's weight on them
    (1 when one of them is the final model)."""
    if "family" not in board or not (board["family"] == "stack").any():
        return {}
    stacked = {int(n) for n in board.loc[board["family"] == "stack", "trial"]}
    params = getattr(model, "best_params_", {}) or {}
    if getattr(model, "best_family_", None) == "stack":
        weight = 1.0
    else:
        weight = sum(float(w) for n, w in params.get("weights", {}).items() if int(n) in stacked)
    return {"stacked": len(stacked), "stack_weight": round(weight, 3)}


def measure(model: Any, task: Task) -> dict[str, Any]:
    """The chosen pipeline compiled to ONNX (``automl export``): export seconds and single-row latency in
    onnxruntime, measured like the Python predict's (median over single test rows)."""
    import time

    from automl.io.onnx import NotExportable, OnnxPredictor, to_onnx

    start = time.perf_counter()
    try:
        proto = to_onnx(model.best_pipeline_)
    except NotExportable as exc:
        return {"onnx": f"not exportable: {exc}"[:200]}
    export_s = time.perf_counter() - start
    session = OnnxPredictor(proto)
    onnx_predict = session.predict_proba if task.is_classification else session.predict
    rows = task.x_test.head(200)
    difference = np.abs(np.asarray(onnx_predict(rows), dtype=float)
                        - np.asarray(predict(model, rows, task), dtype=float).reshape(len(rows), -1).squeeze())
    return {"onnx_export_s": round(export_s, 2), "onnx_max_diff": float(difference.max()),
            "onnx_row_ms": single_row_latency_ms(lambda _, x, __: onnx_predict(x), None, task)}


if __name__ == "__main__":
    sys.exit(run_adapter(fit, predict, describe, measure=measure))
