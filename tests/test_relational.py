"""Related tables: featuretools DFS before the search, the same features at predict time, cutoff times respected."""
from __future__ import annotations

import pytest

pytest.importorskip("featuretools", reason="the synthesis extra is not installed")

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from automl import AutoML, load, save
from automl.features.relational import (CALIBRATION_ROWS, MAX_CUTOFF_TIMES, RelationalFeatures, choose_plan,
                                        cutoff_unit, extrapolate, floor_times)
from tests.generated import RELATIONSHIPS, customers_sessions_transactions

SEARCH = dict(families=["lightgbm"], max_trials=3, cv=3, ensemble=False, random_state=0)


@pytest.fixture(scope="module")
def fitted():
    customers, sessions, transactions, y = customers_sessions_transactions(300, seed=0)
    model = AutoML(time_budget=40, **SEARCH).fit(customers, y, tables={"sessions": sessions,
                                                                      "transactions": transactions},
                                                 relationships=RELATIONSHIPS, cutoff_time="as_of")
    return model, customers, y


@pytest.mark.slow
def test_dfs_beats_the_target_table_alone_on_new_customers(fitted, tmp_path):
    model, customers, y = fitted
    info = model.synthesis_
    assert info["method"] == "featuretools" and info["target_table"] == "customers"
    assert info["n_features_synthesised"] > 10 and info["synthesis_time"] < model.fit_time_
    new, new_sessions, new_transactions, new_y = customers_sessions_transactions(150, seed=1, first_id=10_000)
    tables = {"sessions": new_sessions, "transactions": new_transactions}
    with_dfs = roc_auc_score(new_y, model.predict_proba(new, tables=tables)[:, 1])
    alone = AutoML(time_budget=20, **SEARCH).fit(customers, y)
    without = roc_auc_score(new_y, alone.predict_proba(new)[:, 1])
    assert with_dfs > 0.9 and with_dfs > without + 0.25, (with_dfs, without)
    assert set(model.predict(new, tables=tables)) <= {0, 1}
    loaded = load(save(model, tmp_path / "m"))  # the feature definitions travel inside the pipeline
    assert np.allclose(loaded.predict_proba(new, tables=tables), model.predict_proba(new, tables=tables))
    with pytest.raises(ValueError, match="pass them as tables"):
        model.predict(new)


@pytest.mark.slow
def test_a_transaction_after_the_cutoff_changes_no_feature(fitted):
    model, _, _ = fitted
    dfs = model.best_pipeline_.named_steps["synthesis"]
    customers, sessions, transactions, _ = customers_sessions_transactions(5, seed=3)
    tables = {"customers": customers, "sessions": sessions, "transactions": transactions}
    before = dfs.transform(tables)
    session = sessions[sessions.customer_id == customers.customer_id[0]].iloc[-1].session_id

    def with_transaction(when: pd.Timestamp) -> pd.DataFrame:
        extra = pd.DataFrame({"session_id": [session], "amount": [1e6], "time": [when]})
        return dfs.transform({**tables, "transactions": pd.concat([transactions, extra], ignore_index=True)})

    cutoff = customers.as_of[0]
    pd.testing.assert_frame_equal(with_transaction(cutoff + pd.Timedelta(hours=1)), before)
    earlier = with_transaction(pd.Timestamp(floor_times(customers.as_of.iloc[:1], dfs.cutoff_unit_)[0])
                               - pd.Timedelta(days=1))
    assert earlier.loc[0, "MAX(transactions.amount)"] == 1e6  # a transaction before the cutoff does count
    pd.testing.assert_frame_equal(earlier.iloc[1:], before.iloc[1:])


def test_many_cutoff_times_are_floored_never_moved_later():
    times = pd.Series(pd.date_range("2024-01-01", periods=1000, freq="7h"))
    unit = cutoff_unit(times)
    floored = pd.Series(floor_times(times, unit))
    assert unit is not None and floored.nunique() <= MAX_CUTOFF_TIMES and (floored <= times).all()
    assert cutoff_unit(times.iloc[:MAX_CUTOFF_TIMES]) is None  # few distinct times stay exact


def test_bad_tables_name_the_remedy():
    customers, sessions, transactions, y = customers_sessions_transactions(20, seed=0)
    tables = {"sessions": sessions, "transactions": transactions}
    with pytest.raises(ValueError, match="exactly one table"):
        AutoML(time_budget=10).fit(customers, y, tables=tables, relationships=RELATIONSHIPS[1:])
    with pytest.raises(ValueError, match="no column 'client_id'"):
        AutoML(time_budget=10).fit(customers, y, tables=tables,
                                   relationships=[("customers", "client_id", "sessions", "customer_id"),
                                                  RELATIONSHIPS[1]])
    with pytest.raises(ValueError, match="raise time_budget"):  # DFS could not fit in the budget
        AutoML(time_budget=0.01).fit(customers, y, tables=tables, relationships=RELATIONSHIPS)
    with pytest.raises(ValueError, match="repeats on"):
        RelationalFeatures("customers", RELATIONSHIPS).fit({"customers": pd.concat([customers, customers.head(2)]),
                                                            **tables})


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["lookups", "airports_twice"])
def test_x_as_the_child_of_lookup_tables(layout):
    from tests.generated import AIRPORTS_TWICE, FLIGHT_LOOKUPS, flights_with_lookups

    data = flights_with_lookups(600, seed=0)
    if layout == "lookups":
        tables, relationships = {"planes": data["planes"], "airlines": data["airlines"]}, FLIGHT_LOOKUPS
        expected = {"planes.year", "airlines.punctuality"}
    else:
        tables, relationships = {"airports": data["airports"]}, AIRPORTS_TWICE
        expected = {"airports[origin].size", "airports[dest].size"}
    model = AutoML(time_budget=60, max_trials=6, families=["lightgbm", "linear"], cv=3, random_state=0,
                   ensemble=False).fit(data["flights"], data["y"], tables=tables, relationships=relationships)
    names = set(model.best_pipeline_.named_steps["synthesis"].feature_names_)
    assert expected <= names
    # no feature aggregates the flights back through a parent: at predict time it would count the new rows only
    assert not any("COUNT(flights" in n or "(flights." in n for n in names)
    board = model.leaderboard_
    assert set(board.synthesis) <= {"none", "basic", "standard", "rich"} and len(set(board.synthesis)) >= 1
    assert model.synthesis_["plans"]["none"] == 5  # the flights table's own columns
    new = flights_with_lookups(300, seed=1)
    given = {name: new[name] for name in tables}
    proba = model.predict_proba(new["flights"], tables=given)[:, 1]
    # planes and airlines carry most of the signal, the destination's size a little
    assert roc_auc_score(new["y"], proba) > (0.75 if layout == "lookups" else 0.55)


@pytest.mark.parametrize("plan", ["basic", "standard"])
def test_x_between_a_lookup_table_and_its_own_children_gets_the_same_features_for_any_rows(plan):
    """Both layouts at once: flights (X) has a parent (planes) and children (legs). A feature of the plane that
    aggregates the legs of all its flights goes through the flights given, so at predict time it would count the
    legs of the flights in the request only: such features are left out, and a row's features are the same
    whichever other rows come with it."""
    rng = np.random.default_rng(0)
    planes = pd.DataFrame({"tailnum": ["A", "B", "C", "D"], "year": [1990, 2000, 2010, 2015]})
    flights = pd.DataFrame({"fid": np.arange(40), "tailnum": rng.choice(list("ABCD"), 40),
                            "dist": rng.integers(1, 9, 40)})
    legs = pd.DataFrame({"fid": rng.integers(0, 40, 120), "mins": rng.normal(size=120)})
    relationships = [("planes", "tailnum", "flights", "tailnum"), ("flights", "fid", "legs", "fid")]
    synthesiser = RelationalFeatures(target="flights", relationships=relationships, plan=plan)
    whole = synthesiser.fit_transform({"planes": planes, "flights": flights, "legs": legs})
    assert "planes.year" in whole.columns and "COUNT(legs)" in whole.columns
    assert not [c for c in whole.columns if c.startswith("planes.") and "legs" in c]
    for rows in (slice(0, 5), [7, 3, 31], [12]):
        served = synthesiser.transform({"planes": planes, "flights": flights.iloc[rows], "legs": legs})
        pd.testing.assert_frame_equal(served, whole.iloc[rows], check_dtype=False, check_categorical=False)


@pytest.mark.slow
def test_synthesis_plan_richest_makes_every_trial_use_the_computed_plan():
    customers, sessions, transactions, y = customers_sessions_transactions(200, seed=0)
    # a random search samples the plan on every trial but the first (with "search": none, basic, ... rich)
    model = AutoML(time_budget=40, synthesis_plan="richest", **{**SEARCH, "max_trials": 6, "search": "random"}).fit(
        customers, y, tables={"sessions": sessions, "transactions": transactions}, relationships=RELATIONSHIPS,
        cutoff_time="as_of")
    computed = model.synthesis_["plan"]
    assert computed in ("basic", "standard", "rich") and "none" in model.synthesis_["plans"]
    assert set(model.leaderboard_.synthesis) == {computed} and model.synthesis_["plan_chosen"] == computed
    assert not model.leaderboard_.params.str.contains("preprocess.plan").any()  # nothing to choose
    with pytest.raises(ValueError, match="synthesis_plan"):
        AutoML(synthesis_plan="everything").fit(customers, y)


@pytest.mark.slow
def test_a_plan_too_dear_for_every_family_gives_way_to_a_plan_that_fits():
    from automl.testing import misbehaving_family

    customers, sessions, transactions, y = customers_sessions_transactions(200, seed=0)
    # a family that sleeps an hour on 10 columns or more: on the DFS plans of 24 to 96 columns here, not on shallow's 8
    # or the target table's own 2; before, its default on the computed plan was stopped, and with it the search
    wide_only = misbehaving_family("sleep", wide_from=10)
    model = AutoML(time_budget=20, families=[wide_only], portfolio=None, max_trials=10, cv=3, ensemble=False,
                   random_state=0).fit(customers, y, tables={"sessions": sessions, "transactions": transactions},
                                       relationships=RELATIONSHIPS)
    board = model.leaderboard_
    first = board[board.trial == 0].iloc[0]
    assert first.synthesis == model.synthesis_["plan"] != "none" and first.status == "timeout"
    cheap = board.synthesis.isin(["none", "shallow"])
    assert (cheap & (board.status == "ok")).any(), board[["synthesis", "status", "error"]]
    assert model.fit_status_ == "ok" and model.synthesis_["plan_chosen"] in ("none", "shallow")
    # what a trial's features cost: DFS, computed once before the search, for the trials on its plans; none for none
    spent = model.synthesis_["choice_time"] + model.synthesis_["synthesis_time"]  # choosing the plan timed DFS
    assert first.synthesis_time == pytest.approx(spent, abs=2e-3) and spent > 0
    assert (board[board.synthesis == "none"].synthesis_time == 0).all()
    # a dear plan is not started again once its estimate does not fit; the skip names the plan
    skipped = board[board.status == "skipped"]
    assert skipped.error.str.contains("on synthesis plan").all()


def test_dfs_depth_is_a_plan_the_search_chooses_and_a_plan_adding_nothing_is_left_out():
    from automl.features.relational import SHALLOW, plan_columns

    customers, sessions, transactions, _ = customers_sessions_transactions(120, seed=0)
    tables = {"sessions": sessions, "transactions": transactions, "customers": customers}
    synthesiser = RelationalFeatures(target="customers", relationships=RELATIONSHIPS, plan="standard")
    names = [str(c) for c in synthesiser.fit_transform(tables).columns]
    plans = plan_columns(synthesiser, tables, names, "standard")
    assert list(plans) == ["none", SHALLOW, "basic", "standard"]  # cheapest first, the computed plan last
    assert set(plans[SHALLOW]) < set(plans["standard"]) and set(plans["none"]) < set(plans[SHALLOW])
    assert "MEAN(transactions.amount)" in plans[SHALLOW]  # an aggregate of a related table's own column
    assert not any("(sessions." in c and c.count("(") > 1 for c in plans[SHALLOW])  # no aggregate of an aggregate
    assert any(c.count("(") > 1 for c in plans["standard"])
    # one table without children of its own: depth two adds nothing, so no shallow plan
    only_sessions = {"sessions": sessions, "customers": customers}
    flat = RelationalFeatures(target="customers", relationships=RELATIONSHIPS[:1], plan="basic")
    flat_plans = plan_columns(flat, only_sessions, [str(c) for c in flat.fit_transform(only_sessions).columns], "basic")
    assert list(flat_plans) == ["none", "basic"]


def test_the_dfs_estimate_counts_the_fixed_cost_of_a_call_once_not_once_per_sample():
    # timed samples of 100 and 1,000 rows: 0.10 s and 0.19 s. Scaling 0.10 s by rows said 8 s for 8,000 rows.
    assert np.isclose(extrapolate([100, 1000], (0.10, 0.19), 8000), 0.09 + 0.0001 * 8000)
    assert np.isclose(extrapolate([100, 1000], (0.12, 0.11), 8000), 0.12)  # noise: no negative cost per row
    assert np.isclose(extrapolate([100, 1000], (0.0, 0.9), 1000), 1.0)  # no negative fixed cost (the slope stays)
    assert CALIBRATION_ROWS[0] < CALIBRATION_ROWS[1]


@pytest.mark.slow
def test_choose_plan_takes_the_richest_that_fits_and_basic_when_nothing_does():
    customers, sessions, transactions, y = customers_sessions_transactions(1500, seed=0)
    tables = {"sessions": sessions, "transactions": transactions, "customers": customers}
    synthesiser = RelationalFeatures(target="customers", relationships=RELATIONSHIPS)
    plan, estimate = choose_plan(synthesiser, tables, seconds=1e6)
    assert plan == "rich" and estimate > 0
    plan, estimate = choose_plan(synthesiser, tables, seconds=0.0)
    assert plan == "basic" and estimate > 0


@pytest.mark.slow
def test_a_plan_timed_on_every_row_is_not_computed_again_and_equals_a_fresh_computation():
    customers, sessions, transactions, _ = customers_sessions_transactions(60, seed=0)
    tables = {"sessions": sessions, "transactions": transactions, "customers": customers}
    synthesiser = RelationalFeatures(target="customers", relationships=RELATIONSHIPS, cutoff_time="as_of")
    assert choose_plan(synthesiser, tables, seconds=0.0)[0] == "basic"  # timed on all 60 rows, kept
    kept = list(synthesiser._timed_matrices.values())
    synthesiser.set_params(plan="basic")
    fresh = synthesiser.fit_transform({**tables, "customers": customers.copy()})  # other tables: computed, not taken
    assert len(kept) == 1 and fresh is not kept[0] and not hasattr(synthesiser, "_timed_matrices")
    pd.testing.assert_frame_equal(kept[0], fresh)  # the timed matrix is the fit's
    plan, _ = choose_plan(synthesiser, tables, seconds=1e6)
    assert plan == "rich" and len(synthesiser._timed_matrices) == 3  # every plan, cheapest first
    rich = synthesiser._timed_matrices[synthesiser._feature_key(synthesiser.define_features(tables, "rich"), tables)]
    synthesiser.set_params(plan=plan)
    assert synthesiser.computed(tables) and not synthesiser.computed({**tables, "customers": customers.copy()})
    assert synthesiser.fit_transform(tables) is rich and not hasattr(synthesiser, "_timed_matrices")
    assert not synthesiser.computed(tables)
