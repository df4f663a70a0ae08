"""Cleaning on real OpenML datasets with known defects (../shared/datasets/openml)."""
from __future__ import annotations

import pytest

from automl import AutoML
from benchmarks.datasets import datasets_dir, load_frame, load_manifest, select

# What the data holds: sick an all-missing column (TBG) and a constant one, anneal a constant and six
# all-missing ones, pol 22 constant columns.
EXPECTED_DROPPED = {
    "sick": {"TBG": "all values missing", "TBG_measured": "constant"},
    "anneal": {"product-type": "constant", **{c: "all values missing" for c in ("m", "marvi", "corr", "jurofm", "s",
                                                                                 "p")}},
    "pol": {f"f{i}": "constant" for i in (1, 2, 3, 4, 10, 11, 12, *range(34, 49))},
}

pytestmark = pytest.mark.skipif(not (datasets_dir() / "manifest.json").is_file(),
                                reason=f"the shared OpenML datasets are not at {datasets_dir()}")


@pytest.mark.parametrize("name", sorted(EXPECTED_DROPPED))
def test_fit_succeeds_and_cleaning_lists_exactly_the_defective_columns(name):
    meta = select(load_manifest(), [name])[0]
    frame = load_frame(meta)
    y = frame.pop(meta["target"])
    model = AutoML(time_budget=60, max_trials=1, families=["linear"], cv=2, random_state=0,
                   task=meta["task"]).fit(frame, y)
    dropped = {e["column"]: e["reason"] for e in model.cleaning_ if e["action"] == "dropped"}
    assert dropped.keys() == EXPECTED_DROPPED[name].keys()
    assert all(dropped[c].startswith(reason) for c, reason in EXPECTED_DROPPED[name].items())
    assert model.leaderboard_["status"].iloc[0] == "ok"
    rows = model.row_counts_
    assert rows["input"] == len(frame) == rows["search"] + rows["duplicates_removed"]
    assert model.predict(frame.head(5)).shape == (5,)
