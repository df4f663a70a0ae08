"""Our engine through its command line, run exactly as a user would: ``automl fit``, then ``automl predict``.

Both are subprocesses of this adapter (the ``automl`` console script next to this interpreter, else
``python -m automl.cli``) with the repository first on ``PYTHONPATH``. The fit time is the wall time of the whole
``automl fit`` process, interpreter start and file reading included. Each prediction is an ``automl predict``
process, so the single-row latency (over :data:`LATENCY_ROWS` rows) includes starting Python and loading the
model. Adapter options become flags of ``automl fit``: ``automl_cli[search=random;cv=3]`` adds
``--search random --cv 3``, and an empty value (``quiet=``) the bare flag ``--quiet``.
"""
from __future__ import annotations

import collections
import importlib.util
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # the repository, for ``benchmarks``

from benchmarks.adapters.harness import Fitted, Task, run_adapter  # noqa: E402

LATENCY_ROWS = 3  # each single-row prediction starts a process: a few rows tell the latency
TAIL_LINES = 4  # lines of a failed command's output quoted in the error
HARNESS_FLAGS = ("--target", "--time-budget", "--seed", "--task", "--n-jobs", "--out")  # not adapter options


@dataclass
class CliModel:
    """A model folder written by ``automl fit`` and what the fit reported."""

    folder: Path
    workdir: Path
    details: dict[str, Any] = field(default_factory=dict)


def automl_command() -> list[str]:
    """The command prefix that starts the CLI: the ``automl`` script beside ``sys.executable``, else ``-m``.

    Returns
    -------
    list of str
    """
    script = Path(sys.executable).parent / "automl"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "automl.cli"]


def cli_environment() -> dict[str, str]:
    """This environment with the repository first on ``PYTHONPATH``, so the CLI runs the engine benchmarked."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    return env


def run_cli(args: list[str], cwd: Path) -> tuple[int, float, str]:
    """Run ``automl <args>``, copying its output to our standard error (the run's log).

    Returns
    -------
    exit_code : int
    wall_s : float
        Seconds from starting the process to its exit.
    tail : str
        Its last lines of output, joined with `` | ``.
    """
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    start = time.perf_counter()
    with subprocess.Popen([*automl_command(), *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, cwd=cwd, env=cli_environment()) as process:
        for line in process.stdout or []:
            sys.stderr.write(line)
            tail.append(line.rstrip())
        exit_code = process.wait()
    return exit_code, time.perf_counter() - start, " | ".join(filter(None, tail))


def fit_arguments(spec: dict[str, Any], options: dict[str, str], train_csv: Path, model_dir: Path) -> list[str]:
    """The arguments of ``automl fit`` for a task, the adapter options as further flags.

    Raises
    ------
    ValueError
        For an option that would replace a flag the benchmark sets (target, budget, seed, task, cores, output).
    """
    args = ["fit", str(train_csv), "--target", spec["target"], "--time-budget", str(spec["budget"]),
            "--seed", str(spec["seed"]), "--task", spec["task"], "--n-jobs", str(spec["cores"]),
            "--out", str(model_dir)]
    for key, value in options.items():
        flag = "--" + key.strip().replace("_", "-")
        if flag in HARNESS_FLAGS:
            raise ValueError(f"automl_cli option {key!r}: {flag} is set by the benchmark")
        args += [flag] if value == "" else [flag, value]
    return args


def read_model_folder(folder: Path) -> dict[str, Any]:
    """Details of a model folder: inferred task, best family and score, families with an ``ok`` trial.

    The ensemble is a row of the leaderboard but not a model family, so it is not counted.

    Returns
    -------
    dict
    """
    meta = json.loads((folder / "model.json").read_text())
    board = pd.read_csv(folder / "leaderboard.csv", keep_default_na=False, na_values=[""])
    ok = board.loc[(board["status"] == "ok") & (board["family"] != "ensemble"), "family"]
    best = meta.get("best") or {}
    return {"version": f"automl {(meta.get('versions') or {}).get('automl', '?')}", "inferred_task": meta.get("task"),
            "best": str(best.get("family", "")), "cv_score": best.get("score"), "metric": meta.get("metric"),
            "trials": len(board), "families_ok": int(ok.nunique())}


def fit(task: Task, workdir: Path) -> Fitted:
    """Write the training rows (target included) to ``train.csv`` and run ``automl fit`` on it.

    Raises
    ------
    RuntimeError
        If ``automl fit`` exits with an error.
    """
    train_csv, model_dir = workdir / "train.csv", workdir / "model"
    task.x_train.assign(**{task.spec["target"]: task.y_train}).to_csv(train_csv, index=False)
    exit_code, wall_s, tail = run_cli(fit_arguments(task.spec, task.options, train_csv, model_dir), workdir)
    if exit_code != 0:
        raise RuntimeError(f"automl fit exited with code {exit_code}: {tail}")
    details = {**read_model_folder(model_dir), "fit_exit_code": exit_code, "automl_path": _automl_path()}
    if task.options:
        details["options"] = json.dumps(task.options, separators=(",", ":"))
    return Fitted(CliModel(model_dir, workdir, details), fit_s=wall_s)


def _automl_path() -> str:
    """Where ``automl`` is imported from with the CLI's ``PYTHONPATH`` (the repository first, as here)."""
    spec = importlib.util.find_spec("automl")
    locations = list(spec.submodule_search_locations or []) if spec else []
    return str(Path(locations[0]).resolve()) if locations else ""


def predict(model: CliModel, x: pd.DataFrame, task: Task) -> Any:
    """Write ``x`` to a CSV, run ``automl predict`` (``--proba`` for classification) and read its output.

    Returns
    -------
    pandas.DataFrame or numpy.ndarray
        Probabilities with the class labels as columns, or the predicted values.

    Raises
    ------
    RuntimeError
        If ``automl predict`` exits with an error.
    """
    folder = model.workdir / "predict"
    folder.mkdir(exist_ok=True)
    data, out = folder / "test.csv", folder / "predictions.csv"
    x.to_csv(data, index=False)
    args = ["predict", str(model.folder), str(data), "--out", str(out)]
    if task.is_classification:
        args.append("--proba")
    exit_code, _, tail = run_cli(args, model.workdir)
    if exit_code != 0:
        raise RuntimeError(f"automl predict exited with code {exit_code}: {tail}")
    return cli_predictions(pd.read_csv(out), task.is_classification)


def cli_predictions(frame: pd.DataFrame, is_classification: bool) -> Any:
    """The harness's predictions from ``automl predict``'s file: ``proba_<label>`` columns renamed to the
    labels (classification), else the ``prediction`` column's values.

    Raises
    ------
    ValueError
        If a classifier's file has no probability column.
    """
    if not is_classification:
        return frame["prediction"].to_numpy(dtype=float)
    columns = [c for c in frame.columns if str(c).startswith("proba_")]
    if not columns:
        raise ValueError(f"no proba_<label> columns in automl predict's output: {list(frame.columns)}")
    return frame[columns].rename(columns=lambda c: str(c)[len("proba_"):])


def describe(model: CliModel) -> dict[str, Any]:
    """What ``fit`` read from the model folder, the exit code and the options."""
    return dict(model.details)


if __name__ == "__main__":
    sys.exit(run_adapter(fit, predict, describe, latency_rows=LATENCY_ROWS))
