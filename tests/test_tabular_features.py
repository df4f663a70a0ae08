"""Single-table synthesis steps: fitted on training rows, saved and loaded with the rest of a pipeline."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from automl.features.tabular import CategoryFrequencies, GroupStatistics, MissingCount, NumericPairs
from automl.io.persist import trusted_types


@pytest.mark.parametrize("step", [GroupStatistics(), NumericPairs(task="binary"), CategoryFrequencies(),
                                  MissingCount()], ids=lambda s: type(s).__name__)
def test_a_fitted_synthesis_step_saves_and_loads_with_the_same_output(step, credit, tmp_path):
    from skops.io import dump, load

    X, y = credit
    X = X.copy()
    X.loc[X.index[:30], "credit_amount"] = np.nan
    labels = (y == "good").astype(int).to_numpy()
    if isinstance(step, NumericPairs):  # it reads the numbers only (the pipeline gives it those)
        X = X.select_dtypes("number")
    step.fit(X, labels)
    before = np.asarray(step.transform(X.head(40)), dtype=float)
    dump(step, tmp_path / "step.skops")  # a dict keyed by tuples (GroupStatistics once had one) cannot be saved
    loaded = load(tmp_path / "step.skops", trusted=trusted_types())
    np.testing.assert_allclose(np.asarray(loaded.transform(X.head(40)), dtype=float), before)
    assert before.shape[0] == 40 and before.shape[1] > 0


def test_group_statistics_are_computed_on_the_training_rows_only(credit):
    X, _ = credit
    step = GroupStatistics().fit(X.head(500))
    key, value = step.keys_[0], step.values_[0]
    group = X.head(500)[key].iloc[0]
    members = X.head(500)[X.head(500)[key] == group][value]
    assert step.means_[key][value][str(group)] == pytest.approx(members.mean())


def test_numeric_pairs_fill_a_missing_number_with_the_training_median_whatever_the_batch():
    """A row's features may not depend on the other rows of its batch (train/serve skew): a missing number is the
    training median, alone or among others."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(loc=5, size=200)})
    y = (X["a"] + X["b"] > 5).astype(int)
    pairs = NumericPairs(task="binary").fit(X, y)
    batch = pd.DataFrame({"a": [np.nan, 10.0, 20.0], "b": [1.0, 100.0, 200.0]})
    alone = pairs.transform(batch.head(1))
    np.testing.assert_array_equal(alone, pairs.transform(batch)[:1])
    assert not np.isnan(alone).any()
    np.testing.assert_allclose(pairs.medians_, X.median().to_numpy())


@pytest.mark.slow
@pytest.mark.parametrize("plan", ["search", "none"])
def test_synthesis_plan_none_switches_single_table_synthesis_off(plan):
    """``synthesis_plan="none"`` fixes every trial's single-table synthesis to none; the default tries the plans on
    the leading configurations (automl/search/refine.py)."""
    from automl import AutoML

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300), "c": rng.choice(list("xyz"), 300)})
    y = (X["a"] + X["b"] > 0).astype(int)
    model = AutoML(time_budget=20, families=["linear"], search="random", max_trials=12, cv=3, random_state=0,
                   synthesis_plan=plan).fit(X, y)
    chosen = set(model.leaderboard_["synthesis"])
    assert chosen == {"none"} if plan == "none" else len(chosen) > 1
