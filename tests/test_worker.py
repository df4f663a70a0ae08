"""A trial's result comes back from its process through a temporary file (no pickled copy of the model in
memory on either side), or through the pipe when the file cannot be written; the file never outlives the trial."""
from __future__ import annotations

import multiprocessing
import os
import pickle
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd
import pytest

from automl.data.schema import infer_schema
from automl.metrics import get_metric
from automl.models.registry import all_families
from automl.pipeline.build import TrialConfig
from automl.search.evaluate import GO, TrialResult, TrialTask
from automl.search.worker import OPENMP_WAIT_SETTINGS, TrialData, TrialProcess, _send_result, warm_up


def _trial(rows: int = 600, seconds_per_fold: float = 0.0) -> tuple[TrialTask, TrialData]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(rows, 5)), columns=[f"x{i}" for i in range(5)])
    y = (X["x0"] + rng.normal(scale=0.5, size=rows) > 0).astype(int).to_numpy()
    schema, _ = infer_schema(X)
    half = rows // 2
    params = {"n_estimators": 30}
    if seconds_per_fold:  # slow enough to be stopped: far more trees than the deadline allows
        params = {"n_estimators": 5000}
    task = TrialTask(config=TrialConfig(family=all_families()["extra_trees"], params=params), schema=schema,
                     task="binary", metric=get_metric("roc_auc", "binary"), classes=np.array([0, 1]),
                     folds=[(np.arange(half, rows), np.arange(half)), (np.arange(half), np.arange(half, rows))],
                     random_state=0, n_jobs=1, refit=True)
    return task, TrialData(X, y)


def _files(folder) -> list[str]:  # noqa: ANN001
    """The trial results' files in ``folder`` (multiprocessing keeps a folder of its own there too)."""
    return sorted(path.name for path in folder.iterdir() if path.name.startswith("automl-result-"))


def test_a_finished_trial_comes_back_through_a_file_that_is_then_removed(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    task, data = _trial()
    during: list[list[str]] = []

    def on_report(step: int, score: float, seconds: tuple[float, float]) -> str:
        during.append(_files(tmp_path))
        return GO

    result = TrialProcess().run(task, data, time.monotonic() + 120, on_report)
    assert result.status == "ok", result.error
    assert len(result.fold_scores) == 2 and all(0.5 < s <= 1 for s in result.fold_scores)
    proba = result.refit_model.predict_proba(data.X)
    assert proba.shape == (len(data.X), 2)  # the model read back from the file predicts
    assert during and all(len(names) == 1 for names in during)  # the file the child writes its result to
    assert _files(tmp_path) == []


@pytest.mark.slow  # starts processes: seconds
def test_a_trial_stopped_at_its_deadline_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    task, data = _trial(rows=4000, seconds_per_fold=1.0)
    result = TrialProcess().run(task, data, time.monotonic() + 3, lambda step, score, seconds: GO)
    assert result.status == "timeout"
    assert _files(tmp_path) == []


def test_a_poll_that_gives_a_reason_stops_the_trial_with_that_reason(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    task, data = _trial(rows=4000, seconds_per_fold=1.0)
    started, polls = time.monotonic(), []

    def on_poll() -> str | None:  # the controller's projection, reduced to "one second in, stop"
        polls.append(time.monotonic())
        return "stopped during fold 1 of 2: test" if polls[-1] - started > 1.0 else None

    result = TrialProcess().run(task, data, time.monotonic() + 120, lambda step, score, seconds: GO, on_poll)
    assert result.status == "timeout" and result.error == "stopped during fold 1 of 2: test"
    assert result.fold_scores == [] and len(polls) >= 3  # polled while the fold ran, stopped by the poll's answer
    assert _files(tmp_path) == []


@pytest.mark.parametrize("writable", [True, False])
def test_the_result_goes_through_the_pipe_when_its_file_cannot_be_written(tmp_path, writable):
    parent, child = multiprocessing.Pipe()
    result = TrialResult(status="ok", fold_scores=[0.75], oof=np.arange(6.0))
    path = tmp_path / ("result.pkl" if writable else "no-such-folder/result.pkl")
    _send_result(child, result, str(path))
    if writable:
        assert parent.recv() == ("result_file",)
        with open(path, "rb") as handle:
            back = pickle.load(handle)
    else:
        assert parent.recv() == ("result",) and not path.exists()
        back = pickle.loads(parent.recv_bytes())
    assert back.status == "ok" and back.fold_scores == [0.75] and np.array_equal(back.oof, np.arange(6.0))


def test_a_trial_comes_back_through_the_pipe_when_the_temporary_folder_takes_no_file(tmp_path, monkeypatch):
    warm_up()  # the fork server keeps its socket in the temporary folder: start it before that folder goes
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "gone"))
    task, data = _trial()
    result = TrialProcess().run(task, data, time.monotonic() + 120, lambda step, score, seconds: GO)
    assert result.status == "ok", result.error
    assert result.refit_model.predict_proba(data.X).shape == (len(data.X), 2)


_TRIAL_ENVIRONMENT = """
import os, sys
from automl.search import worker
worker._PRELOAD[:] = []  # a fork server that imports nothing: this checks its environment only
ctx = worker._get_context()
with worker._main_module_hidden():
    child = ctx.Process(target=os.system, args=("printenv GOMP_SPINCOUNT OMP_WAIT_POLICY > " + sys.argv[1],))
    child.start()
child.join()
"""


@pytest.mark.slow  # starts processes: seconds
@pytest.mark.parametrize("user_setting, seen_in_trial", [({}, ["3000"]), ({"OMP_WAIT_POLICY": "PASSIVE"}, ["PASSIVE"]),
                                                        ({"GOMP_SPINCOUNT": "0"}, ["0"])])
def test_trial_processes_spin_briefly_before_sleeping_unless_the_user_says_how_openmp_threads_wait(
        tmp_path, user_setting, seen_in_trial):
    """A trial process (forked from the fork server) spins 3,000 turns before it sleeps, or waits as the user set."""
    environ = {k: v for k, v in os.environ.items() if k not in OPENMP_WAIT_SETTINGS} | user_setting
    seen = tmp_path / "environment.txt"
    subprocess.run([sys.executable, "-c", _TRIAL_ENVIRONMENT, str(seen)], env=environ, check=True, timeout=120)
    assert seen.read_text().split() == seen_in_trial


def test_trial_processes_map_large_blocks_from_1_mb_unless_the_user_tunes_malloc():
    from automl.search.worker import worker_environment

    assert worker_environment({})["MALLOC_MMAP_THRESHOLD_"] == str(2**20)
    assert "MALLOC_MMAP_THRESHOLD_" not in worker_environment({"MALLOC_MMAP_THRESHOLD_": "65536"})
    assert "MALLOC_MMAP_THRESHOLD_" not in worker_environment({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=0"})
    # each setting is left to the user on its own: one given does not drop the other
    assert worker_environment({"GOMP_SPINCOUNT": "0"}) == {"MALLOC_MMAP_THRESHOLD_": str(2**20)}


_TRIAL_GC = """
import sys
from automl.search import worker
worker._PRELOAD[:] = ["sklearn.linear_model"]
ctx = worker._get_context()
report = ("import gc; open(%r, 'w').write(f'{gc.get_freeze_count()} {len(gc.get_objects(generation=2))}')"
          % sys.argv[1])
with worker._main_module_hidden():
    child = ctx.Process(target=exec, args=(report,))  # a builtin: the child needs nothing from this script
    child.start()
child.join()
"""


@pytest.mark.slow  # starts processes: seconds
def test_what_the_fork_server_imported_is_frozen_so_a_trial_collection_does_not_copy_its_pages(tmp_path):
    seen = tmp_path / "gc.txt"
    subprocess.run([sys.executable, "-c", _TRIAL_GC, str(seen)], check=True, timeout=120)
    frozen, oldest = (int(v) for v in seen.read_text().split())
    assert frozen > 10_000 and oldest < frozen / 10  # scikit-learn's objects sit in the permanent generation
