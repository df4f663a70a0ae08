"""Cores come from the process's real limits; n_jobs follows scikit-learn's conventions."""
from __future__ import annotations

import os

import pytest

from automl._resources import available_cpus, resolve_n_jobs


def test_available_cpus_respects_affinity():
    assert available_cpus() <= len(os.sched_getaffinity(0))
    before = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {sorted(before)[0]})
        assert available_cpus() == 1
    finally:
        os.sched_setaffinity(0, before)


def test_resolve_n_jobs():
    cpus = available_cpus()
    assert resolve_n_jobs(None) == cpus
    assert resolve_n_jobs(-1) == cpus
    assert resolve_n_jobs(1) == 1
    assert resolve_n_jobs(10_000) == cpus  # never more than the machine gives
    with pytest.raises(ValueError, match="n_jobs=0"):
        resolve_n_jobs(0)
