"""Time series: tsfresh extraction chosen by budget, FRESH inside the searched pipeline, fit_series / predict_series."""
from __future__ import annotations

import pytest

pytest.importorskip("tsfresh", reason="the synthesis extra is not installed")

import numpy as np
from sklearn.base import clone

from automl import AutoML, load, save
from automl.features.timeseries import SeriesFeatures
from automl.features.timeseries import MAX_RAW_VALUES, plan_columns, raw_value_count
from automl.synthesis import plan_needs, plan_options
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
    # 30 s, ended by max_trials=2 sooner than a budget of 14 s ended it on a quiet machine (the test: 12 s against
    # 18 s): beside three busy loops 14 s ran no trial (importing tsfresh and timing its settings took the budget)
    budget = 30
    model = AutoML(time_budget=budget, families=["linear", "lightgbm"], random_state=0, ensemble=False, max_trials=2)
    model.fit_series(X, y, column_id="id", column_sort="time")
    info = model.synthesis_
    assert info["method"] == "tsfresh" and info["settings"] in ("minimal", "efficient", "comprehensive")
    assert info["n_features_synthesised"] >= 20 and info["synthesis_time"] < model.fit_time_
    # extraction, worker start, search and refit all came out of the one budget
    assert model.fit_time_ <= budget * 1.05 and info["synthesis_time"] + info["search_time"] <= model.fit_time_
    assert info["synthesis_time"] <= 0.35 * budget + 1.0  # its share, plus the timing of the choice
    ok = model.leaderboard_[model.leaderboard_.status == "ok"]
    assert len(ok) and (ok.n_features_selected <= ok.n_features_synthesised).all()
    steps = model.best_pipeline_.named_steps
    assert list(steps)[0] == "synthesis"
    # after the synthesis one refitted pipeline, or (small data, time left) the fold models kept as a bag; FRESH is
    # fitted with the rest of each
    after = ([list(p.named_steps) for p in steps["ensemble"].estimators] if "ensemble" in steps
             else [list(steps)[1:]])
    assert after and all(names[0] == "cast" and "filter" in names for names in after), after

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
def test_trial_processes_import_tsfresh_while_the_settings_are_chosen(monkeypatch):
    import automl.features.timeseries as timeseries
    from automl.search import worker

    # as if no fit had preloaded tsfresh in this process yet (an earlier test may have)
    monkeypatch.setattr(worker, "_PRELOAD", [m for m in worker._PRELOAD if m != "tsfresh"])
    preloaded_then = []
    choose = timeseries.choose_settings

    def recording(*args, **kwargs):  # the real choice, noting what the fork server imports meanwhile
        preloaded_then.append(list(worker._PRELOAD))
        return choose(*args, **kwargs)

    monkeypatch.setattr(timeseries, "choose_settings", recording)
    X, y = sine_or_sawtooth(40, seed=0)
    model = AutoML(time_budget=20, families=["linear"], search="defaults", portfolio=None, max_trials=1, cv=2,
                   ensemble=False, random_state=0).fit_series(X, y, column_id="id", column_sort="time")
    assert preloaded_then and "tsfresh" in preloaded_then[0]
    assert model.fit_status_ == "ok" and model.predict_series(X).shape == (40,)


@pytest.mark.slow
def test_a_fit_whose_only_affordable_settings_are_minimal_records_minimal_not_none(monkeypatch):
    import automl.features.timeseries as timeseries

    # what a budget too small for Efficient settings chooses, without depending on this machine's speed
    monkeypatch.setattr(timeseries, "choose_settings", lambda X, seconds, **columns: ("minimal", 0.05))
    X, y = sine_or_sawtooth(60, seed=0, length=40)
    model = AutoML(time_budget=30, families=["linear"], search="defaults", portfolio=None, max_trials=2, cv=2,
                   ensemble=False, random_state=0).fit_series(X, y, column_id="id", column_sort="time")
    # 2 signals: 10 Minimal calculators each, and 40 raw values each for "none"
    assert model.synthesis_["settings"] == "minimal" and model.synthesis_["plans"] == {"none": 80, "minimal": 20}
    # the model reads tsfresh Minimal features: its record says so, on every trial and for the final model
    assert set(model.leaderboard_.synthesis) == {"minimal"}
    assert model.synthesis_["plan_chosen"] == "minimal"


def test_plan_needs_searches_only_a_real_choice():
    plans = {"minimal": ["a"], "efficient": ["a", "b"]}
    assert plan_needs(plans, search=True) == {"plans": plans, "plan": "efficient"}
    assert plan_needs(plans, search=False) == {"plans": {"efficient": ["a", "b"]}, "plan": "efficient"}
    assert plan_needs({"minimal": ["a"]}, search=True) == {"plans": {"minimal": ["a"]}, "plan": "minimal"}
    assert plan_needs({}, search=True) == {}


def test_the_none_plan_of_series_is_their_last_raw_values_padded_with_nan():
    import pandas as pd

    readings = pd.DataFrame({"id": [7, 7, 7, 3, 3], "time": [2, 0, 1, 1, 0], "value": [30.0, 10.0, 20.0, 2.0, 1.0]})
    assert raw_value_count(readings, "id") == 3
    features = SeriesFeatures("id", "time", settings="minimal", raw_values=3).fit(readings)
    raw = features.transform(readings).filter(like="__raw__")
    assert list(raw.columns) == ["value__raw__lag_0", "value__raw__lag_1", "value__raw__lag_2"]
    assert raw.loc[7].tolist() == [30.0, 20.0, 10.0]  # lag 0 is the last value in time order, not in row order
    assert raw.loc[3, ["value__raw__lag_0", "value__raw__lag_1"]].tolist() == [2.0, 1.0]
    assert np.isnan(raw.loc[3, "value__raw__lag_2"])  # the shorter series lacks it
    longer = pd.DataFrame({"id": [1] * 5, "time": range(5), "value": [1.0, 2.0, 3.0, 4.0, 5.0]})
    assert features.transform(longer).filter(like="__raw__").loc[1].tolist() == [5.0, 4.0, 3.0]  # held to 3
    plans = plan_columns(features.feature_names_, "minimal")
    assert list(plans) == ["none", "minimal"] and plans["none"] == list(raw.columns)
    assert len(plans["minimal"]) == 10 and not set(plans["minimal"]) & set(plans["none"])


def test_raw_values_are_capped_and_kept_when_the_model_reads_only_them():
    X, _ = sine_or_sawtooth(4, seed=0, length=MAX_RAW_VALUES + 5)
    assert raw_value_count(X, "id") == MAX_RAW_VALUES
    X, _ = sine_or_sawtooth(6, seed=0, length=12)
    features = SeriesFeatures("id", "time", settings="minimal", raw_values=12).fit(X)
    features.keep_only(["noise__raw__lag_0", "value__raw__lag_11"])
    out = features.transform(X)
    assert out[["noise__raw__lag_0", "value__raw__lag_11"]].notna().all().all()
    assert out["value__mean"].isna().all()  # tsfresh features the model does not read are not computed


def test_trials_that_choose_the_raw_values_skip_fresh():
    needs = {"filter": "fresh", "plans": {"none": ["a"], "minimal": ["b"]}, "plan": "minimal"}
    options = plan_options(needs)
    assert options["plan"] == {"choice": ["minimal", "none"]}  # the computed plan first: the defaults use it
    assert options["filter"] == {"choice": ["none"], "when": {"plan": ["none"]}}
    assert plan_options({**needs, "filter": None}) == {"plan": {"choice": ["minimal", "none"]}}  # related tables
    assert plan_options({**needs, "plans": {"minimal": ["b"]}}) == {}  # nothing to choose


def test_a_trial_on_the_raw_values_has_no_fresh_filter_and_one_on_tsfresh_features_has():
    import dataclasses

    from automl.data.schema import infer_schema
    from automl.models.registry import get_families
    from automl.pipeline.build import build_pipeline
    from automl.search.space import config_from_params
    import pandas as pd

    needs = {"filter": "fresh", "plans": {"none": ["r"], "minimal": ["m"]}, "plan": "minimal"}
    family = get_families(["linear"], "binary")[0]
    family = dataclasses.replace(family, needs={**family.needs, **needs},
                                 preprocess={**plan_options(needs), **family.preprocess})
    schema, _ = infer_schema(pd.DataFrame({"r": [0.1, 0.2, 0.3], "m": [1.0, 2.0, 3.0]}))
    for plan, has_filter in (("none", False), ("minimal", True)):
        params = {"family": "linear", "linear.preprocess.plan": plan, "linear.preprocess.filter": "none"}
        config = config_from_params(params, [family], "binary", None, fixed_only=list(params))
        steps = build_pipeline(schema, config, "binary", 0, 1).named_steps
        assert ("filter" in steps) is has_filter, plan
