"""Optuna storages and the search settings kept in a study, so workers and resumed fits can join it.

Storage URLs:

- ``None``: in memory (one process, nothing kept).
- ``sqlite:///path.db``: a file, for one process; resumable after a crash.
- ``journal:///path.log`` (or a path ending in ``.log``): Optuna's journal file, for several processes on one
  machine.
- ``postgresql://user@host/db`` (or any SQLAlchemy URL): several machines.

RDB storages run with heartbeats: a trial whose worker stops sending them is failed after
:data:`GRACE_PERIOD` seconds, so a killed worker leaves no trial "running" forever.
"""
from __future__ import annotations

import json
import time
import warnings
from typing import Any

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend

HEARTBEAT_INTERVAL = 5
GRACE_PERIOD = 20
SETTINGS_ATTR = "automl_settings"


def open_storage(url: str | None) -> BaseStorage | None:
    """An Optuna storage for ``url`` (``None`` means in memory)."""
    if url is None:
        return None
    if url.startswith("journal://") or url.endswith((".log", ".journal")):
        path = url.split("://", 1)[1].lstrip("/") if url.startswith("journal://") else url
        if url.startswith("journal:///"):
            path = "/" + path
        return JournalStorage(JournalFileBackend(path))
    engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return RDBStorage(url, engine_kwargs=engine_kwargs, heartbeat_interval=HEARTBEAT_INTERVAL,
                          grace_period=GRACE_PERIOD)


def load_study(url: str, name: str, **kwargs: Any) -> optuna.Study:
    """Load an existing study from the storage at ``url``.

    Raises
    ------
    KeyError
        If the storage holds no study of that name.
    """
    storage = open_storage(url)
    assert storage is not None
    return optuna.load_study(study_name=name, storage=storage, **kwargs)


def supports_heartbeat(study: optuna.Study) -> bool:
    from optuna.storages._heartbeat import is_heartbeat_enabled

    return is_heartbeat_enabled(study._storage)  # noqa: SLF001 - Optuna exposes no public accessor


def record_heartbeat(study: optuna.Study, trial: optuna.Trial) -> None:
    """Tell the storage this trial's worker is alive."""
    if supports_heartbeat(study):
        study._storage.record_heartbeat(trial._trial_id)  # type: ignore[attr-defined]


def fail_stale_trials(study: optuna.Study) -> None:
    """Fail trials whose worker stopped sending heartbeats (killed, crashed, network gone)."""
    if supports_heartbeat(study):
        optuna.storages.fail_stale_trials(study)


def save_settings(study: optuna.Study, settings: dict[str, Any]) -> None:
    """Keep the search settings in the study (JSON), for ``automl worker`` and ``automl refit``."""
    study.set_user_attr(SETTINGS_ATTR, json.dumps(settings, default=str))


def load_settings(study: optuna.Study) -> dict[str, Any]:
    """The settings saved by the process that started the study.

    Raises
    ------
    ValueError
        If the study was not started by ``automl fit``.
    """
    raw = study.user_attrs.get(SETTINGS_ATTR)
    if raw is None:
        raise ValueError(f"study {study.study_name!r} holds no automl settings: start it with 'automl fit' first")
    return json.loads(raw)


def seconds_until(deadline_unix: float | None) -> float | None:
    """Seconds from now until a wall-clock deadline shared through the study."""
    return None if deadline_unix is None else max(0.0, deadline_unix - time.time())
