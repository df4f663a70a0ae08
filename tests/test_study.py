"""The study is the record: resume after kill -9 (SQLite), many workers on one study (PostgreSQL)."""
from __future__ import annotations

import json
import os
import signal
import time
from datetime import datetime
from pathlib import Path

import optuna
import pytest

from automl import AutoML
from automl.search.study import load_settings, open_storage
from tests.cli import start_cli
from tests.conftest import CREDIT
from tests.services import postgres_server, postgres_unavailable_reason

pytestmark = pytest.mark.slow


def _finished(url: str, study: str) -> list[optuna.trial.FrozenTrial]:
    try:
        loaded = optuna.load_study(study_name=study, storage=open_storage(url))
    except KeyError:  # not created yet
        return []
    return [t for t in loaded.get_trials(deepcopy=False) if t.state.is_finished()]


def _wait_for(condition, timeout: float) -> None:  # noqa: ANN001
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError("condition not reached in time")


def test_kill_9_then_resume_keeps_every_finished_trial(tmp_path: Path, credit):
    url = f"sqlite:///{tmp_path}/search.db"
    fit = start_cli("fit", str(CREDIT), "--target", "class", "--time-budget", "120", "--storage", url,
                    "--study", "credit", "--out", str(tmp_path / "m"), "--quiet", "--n-jobs", "1")
    try:
        _wait_for(lambda: len(_finished(url, "credit")) >= 4, timeout=90)
    finally:
        os.kill(fit.pid, signal.SIGKILL)
        fit.communicate()
    before = {t.number: (t.state, t.value) for t in _finished(url, "credit")}
    assert len(before) >= 4

    X, y = credit
    model = AutoML(time_budget=9, storage=url, study_name="credit", random_state=0, n_jobs=1).fit(X, y)
    board = model.leaderboard_.set_index("trial")
    for number, (state, value) in before.items():
        assert number in board.index  # no finished trial lost
        if state == optuna.trial.TrialState.COMPLETE:
            assert board.loc[number, "score"] == pytest.approx(value)
    study = optuna.load_study(study_name="credit", storage=open_storage(url))
    portfolio = [json.dumps(t.params, sort_keys=True) for t in study.get_trials(deepcopy=False)
                 if t.user_attrs.get("source") == "enqueued" and "status" in t.user_attrs]
    assert len(portfolio) == len(set(portfolio))  # none repeated
    assert len(board) > len(before)  # and the search went on


@pytest.mark.skipif(postgres_unavailable_reason() is not None, reason=str(postgres_unavailable_reason()))
def test_workers_share_one_postgres_study_and_survive_a_killed_worker(tmp_path: Path):
    with postgres_server() as url:
        starter = start_cli("fit", str(CREDIT), "--target", "class", "--time-budget", "32", "--storage", url,
                            "--study", "shared", "--out", str(tmp_path / "m"), "--quiet", "--n-jobs", "1")

        def settings_saved() -> bool:
            try:
                return bool(load_settings(optuna.load_study(study_name="shared", storage=open_storage(url))))
            except (KeyError, ValueError):
                return False

        _wait_for(settings_saved, timeout=30)
        doomed = start_cli("worker", "--storage", url, "--study", "shared", "--quiet")
        survivor = start_cli("worker", "--storage", url, "--study", "shared", "--quiet")
        doomed_id = f"{os.uname().nodename}:{doomed.pid}"
        _wait_for(lambda: any(t.user_attrs.get("worker") == doomed_id for t in _finished(url, "shared")), 40)
        os.kill(doomed.pid, signal.SIGKILL)
        killed_at = datetime.now()
        doomed.communicate()
        out, err = starter.communicate(timeout=120)
        assert starter.returncode == 0, err
        survivor_out, survivor_err = survivor.communicate(timeout=120)
        assert survivor.returncode == 0, survivor_err
        assert "trials finished" in survivor_out

        trials = _finished(url, "shared")
        workers = {t.user_attrs.get("worker") for t in trials}
        starter_id = f"{os.uname().nodename}:{starter.pid}"
        survivor_id = f"{os.uname().nodename}:{survivor.pid}"
        assert {starter_id, survivor_id, doomed_id} <= workers  # trials from each process
        assert any(t.datetime_complete and t.datetime_complete > killed_at for t in trials)  # search went on
        assert (tmp_path / "m" / "pipeline.skops").exists()  # the starter refitted once and saved
