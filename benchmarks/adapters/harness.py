"""What every system adapter shares: read a prepared task, time fit and predict, write the outputs.

An adapter is a script run as ``<python> <adapter>.py --task DIR --out DIR [--option KEY=VALUE ...]`` with the
Python of the system's environment, so this module needs only the standard library, numpy and pandas (a peer's
virtual environment has those, and not our package). The adapter supplies ``fit(task, workdir)`` returning a
model (or a :class:`Fitted` with the model, its own fit time and details), ``predict(model, x, task)``
returning class probabilities as a DataFrame whose columns are the model's class labels (classification) or a
vector of values (regression), and optionally ``describe(model)``.

The task folder holds ``spec.json`` (dataset, task, target, categorical columns, budget, seed, cores),
``train.csv`` (features and target) and ``test.csv`` (features only). The adapter writes ``predictions.csv``
(``proba_<label>`` columns or ``prediction``) and ``result.json`` (times in seconds, single-row latency in
milliseconds, the system's version and details, or the error). ``result.json`` is written as soon as ``fit``
returns, so a run killed while predicting still reports its fit time.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

LATENCY_ROWS = 20  # single-row predictions timed (after one warm-up call); the median is reported
# Created in the output folder when an adapter's extra measurements start (benchmarks/runs.py stops the peak there).
MEASURING = "measuring"


@dataclass
class Task:
    """A prepared benchmark task as an adapter sees it."""

    spec: dict[str, Any]
    x_train: pd.DataFrame
    y_train: pd.Series
    x_test: pd.DataFrame
    options: dict[str, str] = field(default_factory=dict)

    @property
    def is_classification(self) -> bool:
        """Whether the task is binary or multiclass classification."""
        return self.spec["task"] != "regression"


@dataclass
class Fitted:
    """What ``fit`` may return instead of the bare model.

    ``fit_s`` replaces the time measured around ``fit`` (e.g. the wall time of the one subprocess that fits,
    without the adapter's preparations) and ``info`` is recorded with the details.
    """

    model: Any
    fit_s: float | None = None
    info: dict[str, Any] = field(default_factory=dict)


def read_task(folder: Path, options: dict[str, str] | None = None) -> Task:
    """Read ``spec.json``, ``train.csv`` and ``test.csv`` of a task folder.

    Nominal columns (and a class target) are read as text, and only empty fields count as missing, so every
    system sees the same values the benchmark scores against.

    Parameters
    ----------
    folder : pathlib.Path
        The task folder.
    options : dict, optional
        Adapter options from the command line.

    Returns
    -------
    Task
    """
    spec = json.loads((folder / "spec.json").read_text())
    text_columns = set(spec["categorical_columns"])
    if spec["task"] != "regression":
        text_columns.add(spec["target"])
    train = _read_csv(folder / "train.csv", text_columns)
    test = _read_csv(folder / "test.csv", text_columns)
    target = spec["target"]
    return Task(spec, train.drop(columns=target), train[target], test, dict(options or {}))


def _read_csv(path: Path, text_columns: set[str]) -> pd.DataFrame:
    header = pd.read_csv(path, nrows=0).columns
    dtype: dict[Any, Any] = {c: str for c in header if c in text_columns}
    return pd.read_csv(path, dtype=dtype, keep_default_na=False, na_values=[""])


def prediction_frame(predicted: Any, task: Task) -> pd.DataFrame:
    """Turn a model's output into the prediction file's columns.

    Returns
    -------
    pandas.DataFrame
        ``proba_<label>`` columns (classification) or one ``prediction`` column (regression).
    """
    if task.is_classification:
        proba = pd.DataFrame(predicted)
        proba.columns = [f"proba_{label}" for label in proba.columns]
        return proba.reset_index(drop=True)
    return pd.DataFrame({"prediction": np.asarray(predicted, dtype=float).ravel()})


def single_row_latency_ms(predict: Callable[..., Any], model: Any, task: Task, rows: int = LATENCY_ROWS) -> float:
    """Median milliseconds of ``predict`` on one test row, over up to ``rows`` rows.

    Returns
    -------
    float
        NaN when no row is timed.
    """
    rows = min(rows, len(task.x_test))
    if rows == 0:
        return float("nan")
    predict(model, task.x_test.iloc[[0]], task)  # warm-up: lazy imports and caches are not latency
    times = []
    for i in range(rows):
        start = time.perf_counter()
        predict(model, task.x_test.iloc[[i]], task)
        times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times)


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    path.write_text(json.dumps(payload, indent=1, default=str))


def run_adapter(fit: Callable[[Task, Path], Any], predict: Callable[[Any, pd.DataFrame, Task], Any],
                describe: Callable[[Any], dict[str, Any]] | None = None, argv: list[str] | None = None,
                measure: Callable[[Any, Task], dict[str, Any]] | None = None, latency_rows: int = LATENCY_ROWS) -> int:
    """Run one adapter end to end; the entry point of every adapter script.

    Parameters
    ----------
    fit : callable
        ``fit(task, workdir) -> model`` or :class:`Fitted`; ``workdir`` is a scratch folder inside the output
        folder.
    predict : callable
        ``predict(model, x, task)`` -> probabilities (DataFrame, columns = class labels) or values.
    describe : callable, optional
        ``describe(model) -> dict`` of details to record (version, best model, ...).
    argv : list of str, optional
        Command line (default ``sys.argv[1:]``).
    measure : callable, optional
        ``measure(model, task) -> dict`` of further measurements, run after everything else and recorded
        with the details (ours: ONNX export time and single-row latency in onnxruntime); the file
        :data:`MEASURING` in the output folder marks its start, after which memory no longer counts in the run's
        peak (the peers have no such step).
    latency_rows : int, default :data:`LATENCY_ROWS`
        Test rows predicted one at a time for the single-row latency (fewer for slow predictors, 0: none).

    Returns
    -------
    int
        Process exit code: 0 on success, 1 if anything failed (the error is in ``result.json``).
    """
    args = _parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"status": "started"}
    try:
        task = read_task(Path(args.task), dict(o.split("=", 1) for o in args.option))
        model = _fit_and_predict(fit, predict, describe, task, out, result, latency_rows)
        if measure is not None:
            (out / MEASURING).touch()  # the peak memory recorded is the fit's and the predictions', as the peers'
            result["info"].update(measure_safely(measure, model, task))
        result["status"] = "ok"
    except BaseException as exc:  # noqa: BLE001 - reported, then the process exits non-zero
        result.update(status="error", error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
        print(result["traceback"], file=sys.stderr)
    _write_json(out / "result.json", result)
    return 0 if result["status"] == "ok" else 1


def _fit_and_predict(fit: Callable[..., Any], predict: Callable[..., Any],
                     describe: Callable[[Any], dict[str, Any]] | None, task: Task, out: Path,
                     result: dict[str, Any], latency_rows: int) -> Any:
    workdir = out / "work"
    workdir.mkdir(exist_ok=True)
    start = time.perf_counter()
    fitted = fit(task, workdir)
    elapsed = time.perf_counter() - start
    fitted = fitted if isinstance(fitted, Fitted) else Fitted(fitted)
    model = fitted.model
    result["fit_s"] = elapsed if fitted.fit_s is None else fitted.fit_s
    _write_json(out / "result.json", result)  # the fit time survives a kill during predict
    start = time.perf_counter()
    predicted = predict(model, task.x_test, task)
    result["predict_s"] = time.perf_counter() - start
    prediction_frame(predicted, task).to_csv(out / "predictions.csv", index=False)
    result["predict_row_ms"] = single_row_latency_ms(predict, model, task, latency_rows)
    result["info"] = {**fitted.info, **(describe(model) if describe else {})}
    return model


def measure_safely(measure: Callable[[Any, Task], dict[str, Any]], model: Any, task: Task) -> dict[str, Any]:
    """``measure(model, task)``; a failure is recorded as ``measure_error`` and does not fail the run."""
    try:
        return measure(model, task)
    except Exception as exc:  # noqa: BLE001 - a measurement after the run, not the run
        return {"measure_error": f"{type(exc).__name__}: {exc}"[:300]}


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Fit and predict one benchmark task with one system.")
    parser.add_argument("--task", required=True, help="task folder (spec.json, train.csv, test.csv)")
    parser.add_argument("--out", required=True, help="output folder (predictions.csv, result.json)")
    parser.add_argument("--option", action="append", default=[], help="KEY=VALUE adapter option (repeatable)")
    return parser.parse_args(argv)
