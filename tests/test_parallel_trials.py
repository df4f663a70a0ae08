"""Trials running at once: the rule that decides how many (by the data's size), and real searches with several slots."""
from __future__ import annotations

import argparse
import threading
import time
import warnings
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.utils._param_validation import InvalidParameterError

from automl import AutoML
from automl.cli import _parallel_trials
from automl.models.registry import all_families
from automl.search.planner import MAX_AUTO_SLOTS, parallel_slots
from automl.search.slots import TrialSlots
from automl.search.worker import TrialProcess


@pytest.fixture
def table() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(3)
    X = pd.DataFrame({"a": rng.normal(size=400), "b": rng.normal(size=400), "c": rng.choice(list("uvw"), 400)})
    return X, pd.Series(np.where(X["a"] + 0.5 * X["b"] + rng.normal(scale=0.5, size=400) > 0, "yes", "no"))


def _spans(model: AutoML) -> dict[int, tuple[Any, Any, str]]:
    """Each trial that ran: when its process started and ended (the study's end time less the trial's recorded
    duration: Optuna's start time is when the trial was asked for, which may be before it waited for a slot), and
    its family."""
    return {t.number: (t.datetime_complete - timedelta(seconds=t.user_attrs["duration"]), t.datetime_complete,
                       t.user_attrs["family"])
            for t in model.study_.get_trials(deepcopy=False)
            if t.datetime_complete is not None and t.user_attrs.get("duration") is not None  # (not the ensemble)
            and t.user_attrs.get("status") != "skipped"}


def _overlapping_pairs(model: AutoML) -> int:
    """Pairs of trials, one started before the other ended."""
    spans = sorted(span[:2] for span in _spans(model).values())
    return sum(1 for i, (_, end) in enumerate(spans) for start, _ in spans[i + 1:] if start < end)


def test_auto_runs_a_trial_per_core_below_the_single_thread_rows_only():
    """"auto": on small data (where the boosting families fit on one thread) one trial per core, capped; from those
    rows on, one trial on every core; a search of families without the threshold one at a time; a number as given,
    at most the cores."""
    families = [f for f in all_families().values()]
    thresholds = [f.single_thread_below for f in families]
    smallest = min(t for t in thresholds if t > 0)
    assert parallel_slots("auto", 2, smallest - 1, thresholds) == 2
    assert parallel_slots("auto", 64, 1_000, thresholds) == MAX_AUTO_SLOTS
    assert parallel_slots("auto", 2, smallest, thresholds) == 1
    assert parallel_slots("auto", 1, 500, thresholds) == 1
    assert parallel_slots("auto", 8, 500, [0, 0]) == 1  # forests and kNN alone: threads per model
    assert parallel_slots(3, 8, 1_000_000, thresholds) == 3
    assert parallel_slots(4, 2, 500, thresholds) == 2


@pytest.mark.slow
def test_trials_run_at_once_with_two_slots_and_max_trials_holds(table):
    """Two slots on two cores: trials overlap in time, every trial is recorded once, ``max_trials`` counts the
    running ones (no overshoot), and the model predicts."""
    X, y = table
    model = AutoML(time_budget=60, families=["linear", "lightgbm", "knn"], max_trials=8, n_jobs=2,
                   parallel_trials=2, random_state=0).fit(X, y)
    board = model.leaderboard_
    assert (board["family"] != "ensemble").sum() == 8 and board["trial"].is_unique
    assert set(board["status"]) <= {"ok", "pruned", "skipped", "timeout", "rejected"}
    assert _overlapping_pairs(model) >= 1
    assert model.fit_status_ == "ok" and model.predict_proba(X.head(7)).shape == (7, 2)
    assert set(model.predict(X.head(7))) <= {"yes", "no"}


@pytest.mark.slow
def test_one_slot_runs_trials_one_after_the_other(table):
    """``parallel_trials=1`` (and more slots than cores, lowered with a warning) never overlaps two trials."""
    X, y = table
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = AutoML(time_budget=60, families=["linear", "lightgbm"], max_trials=5, n_jobs=1,
                       parallel_trials=3, random_state=0).fit(X, y)
    assert any("parallel_trials=3 is more than the 1 cores" in str(w.message) for w in caught)
    assert _overlapping_pairs(model) == 0 and (model.leaderboard_["family"] != "ensemble").sum() == 5


@pytest.mark.parametrize("value", [0, -1, "two", 1.5])
def test_bad_parallel_trials_is_refused(table, value):
    X, y = table
    with pytest.raises(InvalidParameterError, match="parallel_trials"):
        AutoML(time_budget=5, parallel_trials=value).fit(X, y)


def test_cli_parallel_trials_values():
    assert _parallel_trials("auto") == "auto" and _parallel_trials("3") == 3
    for text in ("0", "x", "-2"):
        with pytest.raises(argparse.ArgumentTypeError, match="a number of trials from 1"):
            _parallel_trials(text)


def test_slots_run_work_at_once_and_raise_a_threads_error():
    """Several slots run their work in threads at once; an error of one (a bug recording a trial, not a failed
    trial) reaches the caller when it next waits, after the others ended."""
    slots = TrialSlots(TrialProcess(), 2)
    inside, both = [], threading.Barrier(2, timeout=10)

    def work(runner: TrialProcess) -> None:
        inside.append(runner)
        both.wait()  # returns only when the two works run at the same time

    for _ in range(2):
        slots.start(slots.free_runner(), work)
    slots.wait_all()
    assert len(set(map(id, inside))) == 2 and slots.running == 0

    def broken(runner: TrialProcess) -> None:
        time.sleep(0.05)
        raise RuntimeError("recording failed")

    slots.start(slots.free_runner(), broken)
    slots.start(slots.free_runner(), lambda runner: None)
    with pytest.raises(RuntimeError, match="recording failed"):
        slots.wait_all()
    slots.close()
    one = TrialSlots(TrialProcess(), 1)
    ran = []
    one.start(one.free_runner(), ran.append)  # inline, in this thread
    assert len(ran) == 1 and one.running == 0
    with pytest.raises(ValueError, match="at least 1"):
        TrialSlots(TrialProcess(), 0)


def test_auto_memory_limit_is_shared_by_the_trials_at_once():
    from automl._resources import resolve_memory_limit

    one, two = resolve_memory_limit("auto"), resolve_memory_limit("auto", 2)
    if one is None:
        pytest.skip("this system does not say how much memory is available")
    assert two == pytest.approx(one / 2, rel=0.05)
    assert resolve_memory_limit(1.5, 4) == int(1.5 * 2**30)  # a number is per trial, as given


def test_auto_runs_trials_in_turn_without_a_time_budget(table):
    """A search bounded by ``max_trials`` alone stays repeatable with ``random_state``: "auto" runs it in turn."""
    X, y = table
    families = [all_families()[name] for name in ("linear", "lightgbm")]
    model = AutoML(time_budget=None, max_trials=4, n_jobs=2, random_state=0)
    assert model._parallel_slots(2, len(X), families) == 1
    model.set_params(time_budget=30)
    assert model._parallel_slots(2, len(X), families) == 2


@pytest.mark.slow
def test_families_that_fit_on_every_core_run_alone(table):
    """With two slots, a forest's trial (its trees split over the threads at any size) waits for the running
    trials and runs with none beside it; the one-thread families (linear, LightGBM below 10,000 rows) run side by
    side."""
    X, y = table
    model = AutoML(time_budget=60, families=["linear", "lightgbm", "random_forest"], max_trials=10, n_jobs=2,
                   parallel_trials=2, random_state=0).fit(X, y)
    spans = _spans(model)
    forests = [number for number, (_, _, family) in spans.items() if family == "random_forest"]
    assert forests and _overlapping_pairs(model) >= 1
    for forest in forests:
        start, end, _ = spans[forest]
        assert not any(other_start < end and start < other_end
                       for number, (other_start, other_end, _) in spans.items() if number != forest), \
            f"trial {forest} (random_forest) overlapped another trial"
