"""Opening a study's storage: workers that open one new database at the same moment all get it."""
from __future__ import annotations

import multiprocessing
from pathlib import Path

import optuna
import pytest
import sqlalchemy.exc

from automl.search.study import _lost_schema_race, open_storage

WORKERS = 6


def _open_and_create(url: str, barrier, name: str) -> str:  # noqa: ANN001 - a manager's barrier proxy
    barrier.wait()
    try:
        storage = open_storage(url)
        optuna.create_study(study_name=name, storage=storage)
    except Exception as error:  # noqa: BLE001 - reported to the parent, which asserts there is none
        return f"{type(error).__name__}: {error}"
    return ""


@pytest.mark.slow  # starts processes: seconds
@pytest.mark.parametrize("round_", range(3))
def test_workers_opening_one_new_sqlite_file_at_once_all_get_it(tmp_path: Path, round_: int):
    url = f"sqlite:///{tmp_path}/search.db"
    context = multiprocessing.get_context("spawn")  # forking a test worker that runs threads can deadlock
    with context.Manager() as manager:
        barrier = manager.Barrier(WORKERS)
        with context.Pool(WORKERS) as pool:
            errors = pool.starmap(_open_and_create, [(url, barrier, f"s{i}") for i in range(WORKERS)])
    assert errors == [""] * WORKERS
    names = {summary.study_name for summary in optuna.get_all_study_summaries(open_storage(url))}
    assert names == {f"s{i}" for i in range(WORKERS)}


def test_only_a_lost_schema_race_counts_as_one():
    race = sqlalchemy.exc.OperationalError("CREATE TABLE trials", (), Exception("table trials already exists"))
    wrapped = RuntimeError("commit failed")
    wrapped.__cause__ = race
    assert _lost_schema_race(race)
    assert _lost_schema_race(wrapped)
    assert not _lost_schema_race(sqlalchemy.exc.OperationalError("SELECT 1", (), Exception("disk I/O error")))
    assert not _lost_schema_race(ValueError("no such database"))


def test_a_storage_that_cannot_open_fails_at_once_with_its_reason(tmp_path: Path):
    with pytest.raises(sqlalchemy.exc.OperationalError, match="unable to open database file"):
        open_storage(f"sqlite:///{tmp_path}/no/such/folder/search.db")
