"""Time series: tsfresh extraction chosen by budget, FRESH inside the searched pipeline, fit_series / predict_series."""
from __future__ import annotations

import pytest

pytest.importorskip("tsfresh", reason="the synthesis extra is not installed")

import numpy as np
from sklearn.base import clone

from automl import AutoML, load, save
from automl.features.timeseries import SeriesFeatures
from automl.synthesis import plan_needs
from automl.pipeline.select import RelevanceFilter
from tests.generated import sine_or_sawtooth


def test_fresh_keeps_signal_features_and_drops_noise_features():
    X, y = sine_or_sawtooth(200, seed=0)
    features = SeriesFeatures("id", "time", settings="minimal").fit_transform(X)
    assert list(features.index) == sorted(y.index) and features.shape[1] == 20  # 10 calculators x 2 signals
    train = features.index[:150]
    fresh = RelevanceFilter(task="binary").fit(features.loc[train].to_numpy(), y.loc[train].to_numpy())
    kept = features.columns[fresh.get_support()]
    assert sum(c.startswith("value__") for c in kept) >= 3
    assert sum(c.startswith("noise__") for c in kept) <= 1, list(kept)


@pytest.mark.slow
def test_fit_series_classifies_new_series_and_round_trips(tmp_path):
    X, y = sine_or_sawtooth(300, seed=1)
    budget = 14
    model = AutoML(time_budget=budget, families=["linear", "lightgbm"], random_state=0, ensemble=False)
    model.fit_series(X, y, column_id="id", column_sort="time")
    info = model.synthesis_
    assert info["method"] == "tsfresh" and info["settings"] in ("minimal", "efficient", "comprehensive")
    assert info["n_features_synthesised"] >= 20 and info["synthesis_time"] < model.fit_time_
    # extraction, worker start, search and refit all came out of the one budget
    assert model.fit_time_ <= budget * 1.05 and info["synthesis_time"] + info["search_time"] <= model.fit_time_
    assert info["synthesis_time"] <= 0.35 * budget + 1.0  # its share, plus the timing of the choice
    ok = model.leaderboard_[model.leaderboard_.status == "ok"]
    assert len(ok) and (ok.n_features_selected <= ok.n_features_synthesised).all()
    assert list(model.best_pipeline_.named_steps)[:2] == ["synthesis", "cast"]
    assert "filter" in model.best_pipeline_.named_steps  # FRESH, fitted with the rest of the pipeline

    new_X, new_y = sine_or_sawtooth(100, seed=2, first_id=5000)
    predicted = model.predict_series(new_X)
    assert list(predicted.index) == sorted(new_y.index)
    assert (predicted == new_y.loc[predicted.index]).mean() > 0.85  # chance is 0.5
    assert model.predict_proba_series(new_X).shape == (100, 2)

    loaded = load(save(model, tmp_path / "m"))
    assert np.array_equal(loaded.predict(new_X), predicted.to_numpy())
    assert clone(model).get_params() == model.get_params()


def test_series_input_errors_name_the_remedy():
    X, y = sine_or_sawtooth(10, seed=0)
    model = AutoML(time_budget=10)
    with pytest.raises(ValueError, match="no column"):
        model.fit_series(X, y, column_id="series", column_sort="time")
    with pytest.raises(ValueError, match="y has no target for 1 series"):
        model.fit_series(X, y.iloc[1:], column_id="id", column_sort="time")
    with pytest.raises(ValueError, match="must be numeric"):
        model.fit_series(X.assign(tag="a"), y, column_id="id", column_sort="time")



@pytest.mark.slow
def test_a_fit_whose_only_affordable_settings_are_minimal_records_minimal_not_none(monkeypatch):
    import automl.features.timeseries as timeseries

    # what a budget too small for Efficient settings chooses, without depending on this machine's speed
    monkeypatch.setattr(timeseries, "choose_settings", lambda X, seconds, **columns: ("minimal", 0.05))
    X, y = sine_or_sawtooth(60, seed=0, length=40)
    model = AutoML(time_budget=30, families=["linear"], search="defaults", portfolio=None, max_trials=2, cv=2,
                   ensemble=False, random_state=0).fit_series(X, y, column_id="id", column_sort="time")
    assert model.synthesis_["settings"] == "minimal" and model.synthesis_["plans"] == {"minimal": 20}
    # the model reads tsfresh Minimal features: its record says so, on every trial and for the final model
    assert set(model.leaderboard_.synthesis) == {"minimal"}
    assert model.synthesis_["plan_chosen"] == "minimal"


def test_plan_needs_searches_only_a_real_choice():
    plans = {"minimal": ["a"], "efficient": ["a", "b"]}
    assert plan_needs(plans, search=True) == {"plans": plans, "plan": "efficient"}
    assert plan_needs(plans, search=False) == {"plans": {"efficient": ["a", "b"]}, "plan": "efficient"}
    assert plan_needs({"minimal": ["a"]}, search=True) == {"plans": {"minimal": ["a"]}, "plan": "minimal"}
    assert plan_needs({}, search=True) == {}
