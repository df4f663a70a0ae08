"""The real-data synthesis benchmark: raw series as columns, the differences it reports, a failed run in its page."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from benchmarks.synthesis_real import differences, report, wide


def test_raw_series_are_padded_and_held_to_the_training_steps():
    readings = pd.DataFrame({"id": [2, 2, 2, 1, 1], "time": [0, 1, 2, 0, 1], "value": [5.0, 6.0, 7.0, 1.0, 2.0]})
    table = wide(readings)
    assert list(table.index) == [1, 2] and list(table.columns) == ["value_0", "value_1", "value_2"]
    assert math.isnan(table.loc[1, "value_2"])  # the shorter series is padded with NaN
    longer = pd.DataFrame({"id": [9] * 4, "time": range(4), "value": [1.0, 2.0, 3.0, 4.0]})
    held = wide(longer, ["value_0", "value_1", "value_2"])
    assert list(held.columns) == ["value_0", "value_1", "value_2"]  # steps beyond training's are dropped


def test_differences_are_searched_minus_each_other_and_a_failure_is_shown():
    table = pd.DataFrame([
        {"dataset": "d", "variant": "searched", "accuracy": 0.8, "log_loss": 0.5, "status": "ok", "error": ""},
        {"dataset": "d", "variant": "none", "accuracy": 0.7, "log_loss": 0.9, "status": "ok", "error": ""},
        {"dataset": "d", "variant": "fixed", "status": "error", "error": "MemoryError: x"}])
    diff = differences(table).set_index("metric")
    assert np.isclose(diff.loc["accuracy", "searched - none"], 0.1)
    assert np.isclose(diff.loc["log loss", "searched - none"], -0.4)
    assert math.isnan(diff.loc["accuracy", "searched - fixed"])
    page = report(table, {"d": "10 rows"}, 60, 0)
    assert "d / fixed failed: MemoryError: x" in page and "- d: 10 rows" in page
