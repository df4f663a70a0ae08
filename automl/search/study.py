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

import contextlib
import json
import time
import warnings
from typing import Any, Iterator

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, check_distribution_compatibility
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend

from automl.search.planner import TrialCost

COMPLETE, FAIL = optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL
WAITING, RUNNING = optuna.trial.TrialState.WAITING, optuna.trial.TrialState.RUNNING
# The status of a trial stopped by Ctrl-C: recorded, but its point runs again when the search resumes.
INTERRUPTED = "interrupted"
# The status of a complete trial left out of the ranking: a synthesis twin that did not beat its parent by more than
# the noise of the folds (automl/search/refine.py). Its score stays in the study for the sampler.
REJECTED = "rejected"
# Sources of rows the study records that are not points of the search space: ensembles and second-level trials
NOT_CONFIGURATIONS = ("ensemble", "stack")

HEARTBEAT_INTERVAL = 5
GRACE_PERIOD = 20
SETTINGS_ATTR = "automl_settings"
# Opening a new database from several processes at once: how often to try, and the errors that mean "lost the race"
SCHEMA_ATTEMPTS = 5
SCHEMA_RACE_SIGNS = ("already exists", "UNIQUE constraint failed", "duplicate key value")


@contextlib.contextmanager
def optuna_quiet() -> Iterator[None]:
    """Optuna's INFO lines (a study created, each trial finished) off while the search runs; the user's own
    setting is restored after (importing automl changes nothing)."""
    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(max(before, optuna.logging.WARNING))
    try:
        yield
    finally:
        optuna.logging.set_verbosity(before)


def open_storage(url: str | BaseStorage | None) -> BaseStorage | None:
    """An Optuna storage for ``url`` (``None`` means in memory; a storage object is returned as it is)."""
    if url is None or isinstance(url, BaseStorage):
        return url
    if url.startswith("journal://") or url.endswith((".log", ".journal")):
        path = url.split("://", 1)[1].lstrip("/") if url.startswith("journal://") else url
        if url.startswith("journal:///"):
            path = "/" + path
        return JournalStorage(JournalFileBackend(path))
    for attempt in range(1, SCHEMA_ATTEMPTS):
        try:
            return _rdb_storage(url)
        except Exception as error:  # noqa: BLE001 - only a lost schema-creation race is retried, the rest re-raised
            if not _lost_schema_race(error):
                raise
        time.sleep(0.1 * attempt)
    return _rdb_storage(url)  # the last attempt raises whatever it meets


def _rdb_storage(url: str) -> RDBStorage:
    """Open (and on an empty database, create) the SQLAlchemy storage at ``url``, with heartbeats."""
    engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return RDBStorage(url, engine_kwargs=engine_kwargs, heartbeat_interval=HEARTBEAT_INTERVAL,
                          grace_period=GRACE_PERIOD)


def _lost_schema_race(error: BaseException) -> bool:
    """Whether ``error`` (or what caused it) says another process created the same tables or version rows first.

    Optuna creates an empty database's schema when a storage is opened, checking then creating table by table, so
    workers opening one new database at the same moment collide ("table ... already exists", a duplicate version
    row). Opening again finds what the winner created and goes on.
    """
    current: BaseException | None = error
    while current is not None:
        if any(sign in str(current) for sign in SCHEMA_RACE_SIGNS):
            return True
        current = current.__cause__ or current.__context__
    return False


def load_study(url: str | BaseStorage, name: str, **kwargs: Any) -> optuna.Study:
    """Load an existing study from the storage at ``url``.

    Raises
    ------
    KeyError
        If the storage holds no study of that name.
    """
    storage = open_storage(url)
    assert storage is not None
    try:
        return optuna.load_study(study_name=name, storage=storage, **kwargs)
    except KeyError:
        known = [summary.study_name for summary in optuna.get_all_study_summaries(storage)]
        raise KeyError(f"no study {name!r} in the storage; it holds {known or 'no study'}") from None


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


def check_search_space(study: optuna.Study, distributions: dict[str, BaseDistribution]) -> None:
    """Raise when the study's trials recorded a parameter this search would set over other choices.

    Optuna keeps one distribution per parameter name in a study and refuses another at the first trial that sets
    it ("CategoricalDistribution does not support dynamic value space"), which stopped a resumed fit in the middle
    of its search: a study written by another engine version (a choice added to ``configs/families.yaml``), or
    joined with other families or another install (a family whose library is missing). This says so before any
    trial runs, naming the parameter.

    Parameters
    ----------
    distributions : dict
        Parameter name -> distribution, as :func:`automl.search.space.space_distributions` gives them.
    """
    recorded: dict[str, BaseDistribution] = {}
    for trial in study.get_trials(deepcopy=False):
        for name, distribution in trial.distributions.items():
            recorded.setdefault(name, distribution)
    for name, before in recorded.items():
        now = distributions.get(name)
        if now is None:
            continue  # a parameter this search never sets (a family it leaves out)
        try:
            check_distribution_compatibility(before, now)
        except ValueError:
            raise ValueError(f"study {study.study_name!r} was searched with {name!r} over {_values(before)}, and "
                             f"this search would set it over {_values(now)} (another engine version, other families "
                             "or another install). The trials of one study share one search space: use a new "
                             "study_name, or resume with the version, families and libraries that started it.") \
                from None


def _values(distribution: BaseDistribution) -> str:
    if isinstance(distribution, CategoricalDistribution):
        return str(list(distribution.choices))
    return repr(distribution)


def seconds_until(deadline_unix: float | None) -> float | None:
    """Seconds from now until a wall-clock deadline shared through the study."""
    return None if deadline_unix is None else max(0.0, deadline_unix - time.time())


# -- reading trials ---------------------------------------------------------------------------------------------
def ranked_trials(study: optuna.Study, greater_is_better: bool) -> list[optuna.trial.FrozenTrial]:
    """The study's complete trials, best first (ties by trial number); ensembles and second-level (stacked) trials
    are rows of the study, not configurations to refit, and rejected trials are not candidates: they are left
    out."""
    trials = [t for t in study.get_trials(deepcopy=False, states=(COMPLETE,))
              if t.user_attrs.get("source") not in NOT_CONFIGURATIONS and t.user_attrs.get("status") != REJECTED]
    return ranked_by_value(trials, greater_is_better)


def add_row(study: optuna.Study, value: float | None, attrs: dict[str, Any]) -> int:
    """Add a finished row that is not a point of the search space (an ensemble, a second-level trial) to the study,
    so the leaderboard shows it; its trial number."""
    study.add_trial(optuna.trial.create_trial(value=value, params={}, distributions={}, user_attrs=attrs))
    return study.get_trials(deepcopy=False)[-1].number


def ranked_by_value(trials: list[optuna.trial.FrozenTrial], greater_is_better: bool) -> list[optuna.trial.FrozenTrial]:
    """``trials`` best first (ties by trial number)."""
    sign = -1.0 if greater_is_better else 1.0
    return sorted(trials, key=lambda t: (sign * float(t.value or 0.0), t.number))


def beating(ranked: list[optuna.trial.FrozenTrial], floor: float | None, greater_is_better: bool,
            ) -> list[optuna.trial.FrozenTrial]:
    """The ranked trials that score better than ``floor`` (the constant prediction's score): a model worse than a
    constant earns no place in an ensemble, nor time kept to refit it. The best one stays when none does."""
    if floor is None:
        return ranked
    sign = 1.0 if greater_is_better else -1.0
    kept = [t for t in ranked if sign * (float(t.value or 0.0) - floor) > 0]
    return kept or ranked[:1]


def diverse_first(ranked: list[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
    """The best trial of each family first (in rank order), then the rest: ensembles gain from different
    families more than from near-copies of the best configuration."""
    seen: set[str] = set()
    heads: list[optuna.trial.FrozenTrial] = []
    tail: list[optuna.trial.FrozenTrial] = []
    for trial in ranked:
        family = str(trial.user_attrs.get("family"))
        (tail if family in seen else heads).append(trial)
        seen.add(family)
    return heads + tail


def trial_cost(trial: optuna.trial.FrozenTrial) -> TrialCost:
    """What a trial cost, as the time planner reads it (its projection when its first folds stopped it)."""
    attrs = trial.user_attrs
    seconds = max(float(attrs.get("duration") or 0.0), float(attrs.get("projected_duration") or 0.0))
    return TrialCost(family=str(attrs.get("family")), seconds=seconds, complete=trial.state == COMPLETE,
                     mean_fold_fit=attrs.get("mean_fold_fit_time"), plan=attrs.get("plan"))


def finished_costs(study: optuna.Study) -> list[TrialCost]:
    """Costs of the trials that say what a family costs: complete ones and ones stopped at their limit.

    Finished trials only: another worker may be writing a running trial's attributes right now.
    """
    return [trial_cost(t) for t in study.get_trials(deepcopy=False, states=(COMPLETE, FAIL))
            if t.user_attrs.get("duration") is not None
            and (t.state == COMPLETE or t.user_attrs.get("status") == "timeout")]


def was_evaluated(trial: optuna.trial.FrozenTrial) -> bool:
    """Whether an enqueued point ran to a result: a trial failed because its worker died (no status recorded) or
    because the user interrupted it is not, and neither is one waiting or running."""
    if trial.state == FAIL:
        return trial.user_attrs.get("status") not in (None, INTERRUPTED)
    return trial.state.is_finished()


def point_of(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """The parameters a trial was enqueued with (a waiting trial has no parameters yet), else its parameters."""
    return dict(trial.system_attrs.get("fixed_params", trial.params))


# A family whose trials failed with an error this many times, none ok, is not started again; one out-of-memory
# failure is enough (it would only fail again, and take the machine's memory with it each time).
FAILURES_BEFORE_BACKOFF = 3
_OUT_OF_MEMORY = ("MemoryError", "out of memory", "exit code -9", "exit code 137")


def failing_families(study: optuna.Study) -> dict[str, str]:
    """Families to back off from, with the reason: out of memory once, or only errors, several times."""
    errors: dict[str, list[str]] = {}
    healthy: set[str] = set()
    for trial in study.get_trials(deepcopy=False, states=(COMPLETE, FAIL)):
        family, status = trial.user_attrs.get("family"), trial.user_attrs.get("status")
        if status == "ok":
            healthy.add(str(family))
        elif status == "error":
            errors.setdefault(str(family), []).append(str(trial.user_attrs.get("error") or ""))
    out = {}
    for family, messages in errors.items():
        memory = [m for m in messages if any(sign in m for sign in _OUT_OF_MEMORY)]
        if memory:
            out[family] = f"ran out of memory ({memory[-1][:200]})"
        elif family not in healthy and len(messages) >= FAILURES_BEFORE_BACKOFF:
            out[family] = f"failed {len(messages)} times, never ok (last: {messages[-1][:200]})"
    return out
