"""Cores come from the process's real limits; n_jobs follows scikit-learn's conventions; freed memory goes back to
the system."""
from __future__ import annotations

import os

import pytest

from automl._resources import _malloc_trim, available_cpus, resolve_n_jobs
from tests.conftest import fresh_interpreter_words


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


ANON_MB = """
from automl._resources import process_memory_bytes
def anon_mb():
    return process_memory_bytes("self", "RssAnon") / 2**20
"""


@pytest.mark.skipif(_malloc_trim() is None, reason="the C library has no malloc_trim (not glibc)")
def test_release_free_memory_returns_freed_heap_blocks():
    # 200,000 blocks of 1 KB, every hundredth kept: the freed ones lie between live ones, where the heap cannot
    # shrink from its top; the allocator keeps them until they are released
    script = ANON_MB + """
from automl._resources import release_free_memory
blocks = [bytes(1000) for _ in range(200_000)]
kept = blocks[::100]
del blocks
before = anon_mb()
release_free_memory()
print(before, anon_mb())
"""
    before, after = map(float, fresh_interpreter_words(script))
    assert before - after > 100  # of the ~200 MB freed


@pytest.mark.slow  # starts processes: seconds
@pytest.mark.skipif(_malloc_trim() is None, reason="the C library has no malloc_trim (not glibc)")
def test_sending_data_to_a_trial_leaves_no_freed_memory_held():
    # the 100k-row generated table's search data: 75,000 rows, 40 numbers and 6 text columns, text labels;
    # pickled for the child (under the size that is shared as a file instead)
    script = ANON_MB + """
import numpy as np, pandas as pd
from automl.search.worker import SHARE_ABOVE_BYTES, TrialData, TrialProcess, warm_up
rng = np.random.default_rng(0)
X = pd.DataFrame({f"x{i}": rng.normal(size=75_000) for i in range(40)})
for j in range(6):  # a string object per row, as read from a file
    X[f"t{j}"] = [f"level_{i}" for i in rng.integers(0, 5000, size=75_000)]
y = np.array([f"class_{i}" for i in rng.integers(0, 3, size=75_000)], dtype=object)
data = TrialData(X, y)
assert data.nbytes() < SHARE_ABOVE_BYTES
# freeing a block this large raises glibc's threshold for giving a block a mapping of its own (preparing the data
# does): the buffers pickling makes then come from the heap
block = bytes(30 * 2**20)
del block
warm_up()
before = anon_mb()
assert TrialProcess().round_trip(data, float("inf")) is not None
print(anon_mb() - before)
"""
    grown, = map(float, fresh_interpreter_words(script))
    assert grown < 10  # 29 MB held before the search process released it
