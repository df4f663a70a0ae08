"""The hard budget: trials that hang, fail or crash are leaderboard rows and fit returns in time."""
from __future__ import annotations

import pytest

from automl import AutoML
from automl.testing import misbehaving_family


def test_hanging_trial_is_stopped_and_recorded(credit):
    X, y = credit
    budget = 8
    model = AutoML(time_budget=budget, families=[misbehaving_family("sleep"), "linear"], search="defaults", portfolio=None,
                   random_state=0, cv=3).fit(X, y)
    board = model.leaderboard_
    hung = board[board.family == "misbehaving_sleep"]
    assert hung.status.tolist() == ["timeout"]
    assert "deadline" in hung.error.iloc[0]
    # the hanging family ran first (cost 0) but could take only half the budget: linear ran after it
    assert model.best_family_ == "linear" and not model.fallback_used_
    assert model.predict(X.head(3)).shape == (3,)
    # fit returned: its own clock says within the budget plus the small end margin
    assert model.fit_time_ <= budget * 1.05 + 1


def test_failing_and_crashing_families_are_error_rows(credit):
    X, y = credit
    families = [misbehaving_family("raise"), misbehaving_family("crash"), "linear"]
    model = AutoML(time_budget=60, families=families, search="defaults", portfolio=None, random_state=0, cv=3).fit(X, y)
    board = model.leaderboard_.set_index("family")
    assert board.loc["misbehaving_raise", "status"] == "error"
    assert "this family always fails" in board.loc["misbehaving_raise", "error"]
    assert board.loc["misbehaving_crash", "status"] == "error"
    assert "exit code 3" in board.loc["misbehaving_crash", "error"]
    assert board.loc["linear", "status"] == "ok" and model.best_family_ == "linear"


def test_no_finished_trial_falls_back_to_constant_predictor(credit):
    X, y = credit
    with pytest.warns(UserWarning, match="constant predictor"):
        model = AutoML(time_budget=3, families=[misbehaving_family("sleep")], random_state=0).fit(X, y)
    assert model.best_family_ == "constant"
    assert set(model.predict(X.head())) <= {"good", "bad"}
    assert model.predict_proba(X.head()).shape == (5, 2)


def test_a_family_that_times_out_is_not_started_again(credit):
    X, y = credit
    model = AutoML(time_budget=12, families=[misbehaving_family("sleep"), "linear"], search="random",
                   random_state=0, cv=3, ensemble=False).fit(X, y)
    board = model.leaderboard_
    hung = board[board.family == "misbehaving_sleep"]
    assert (hung.status == "timeout").sum() == 1  # once; later samples of it are skipped, not run
    assert (board.family == "linear").sum() >= 2  # the time went to the family that finishes
