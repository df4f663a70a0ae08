"""The data stage: profile, validation rules, recorded cleaning, held-back test set, acceptance test."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from automl import AutoML
from automl.data.checks import DataValidationError, Rule
from automl.data.clean import DUPLICATE_ROWS, CleaningOptions, clean_training_data
from automl.data.profile import profile_frame
from automl.io.persist import load, save
from tests.cli import run_cli

FAST = dict(time_budget=60, max_trials=1, families=["linear"], random_state=0, cv=2)


@st.composite
def messy_problems(draw: st.DrawFn) -> tuple[pd.DataFrame, np.ndarray, dict[str, str]]:
    """Frames with NaN, inf, constant, all-missing, id-like, duplicated columns, duplicate rows, numeric strings
    and rare categories; returns the frame, the target and what each planted column is."""
    n = draw(st.integers(20, 60))  # identifier detection needs 20 rows
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    base = rng.normal(size=n)
    frame = pd.DataFrame({"signal": base})
    planted = {}
    kinds = draw(st.lists(st.sampled_from(["nan", "inf", "constant", "empty", "id", "copy", "numstr", "rare"]),
                          min_size=1, max_size=6, unique=True))
    for kind in kinds:
        if kind == "nan":
            frame["with_nan"] = np.where(rng.random(n) < 0.3, np.nan, rng.normal(size=n))
        elif kind == "inf":
            frame["with_inf"] = np.where(np.arange(n) % 5 == 1, np.inf, rng.normal(size=n))
        elif kind == "constant":
            frame["constant"] = 3.0
        elif kind == "empty":
            frame["empty"] = np.nan
        elif kind == "id":
            frame["row_id"] = np.arange(1000, 1000 + n)
        elif kind == "copy":
            frame["signal_copy"] = frame["signal"]
        elif kind == "numstr":
            frame["numstr"] = [str(v) for v in rng.integers(0, 50, n)]
        elif kind == "rare":
            frame["category"] = ["common"] * (n - 2) + ["rare_a", "rare_b"]
        planted[kind] = kind
    y = (base > 0).astype(int)
    n_dup = draw(st.integers(0, 5))
    if n_dup and "id" not in kinds:  # an id column makes every row distinct
        frame = pd.concat([frame, frame.iloc[:n_dup]], ignore_index=True)
        y = np.concatenate([y, y[:n_dup]])
    return frame, y, planted


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problem=messy_problems(), merge_rare=st.booleans(), duplicates=st.sampled_from(DUPLICATE_ROWS))
def test_cleaning_accounts_for_every_row_and_column(problem, merge_rare, duplicates):
    frame, y, planted = problem
    options = CleaningOptions(rare_category_min_count=2 if merge_rare else 0, duplicate_rows=duplicates)
    cleaned = clean_training_data(frame, y, None, options)
    report = cleaned.report
    removed = sum(e["count"] for e in report if e["action"] == "rows removed")
    assert len(frame) - removed == len(cleaned.frame) == len(cleaned.kept_rows)  # rows in - removed = rows out
    dropped_lines = {e["column"] for e in report if e["action"] == "dropped"}
    modelled = {c.name for c in cleaned.schema.columns} - set(cleaned.schema.dropped)
    assert dropped_lines == set(cleaned.schema.dropped)  # no column dropped without a line
    assert modelled | dropped_lines == set(frame.columns) and not modelled & dropped_lines
    expected_dropped = {"constant": "constant", "empty": "empty", "id": "row_id", "copy": "signal_copy"}
    for kind, column in expected_dropped.items():
        assert (column in dropped_lines) == (kind in planted)
    if "inf" in planted:
        line = next(e for e in report if e["step"] == "inf_to_missing")
        assert line["column"] == "with_inf" and line["count"] == int(np.isinf(frame["with_inf"]).sum())
        assert not np.isinf(cleaned.frame["with_inf"]).any()
    if "numstr" in planted:
        assert any(e["step"] == "coerce_numeric_strings" and e["column"] == "numstr" for e in report)
        assert pd.api.types.is_numeric_dtype(cleaned.frame["numstr"])
    if "rare" in planted and merge_rare:
        line = next(e for e in report if e["step"] == "rare_category_min_count")
        assert line["count"] == 2 and cleaned.schema.kept_categories["category"] == ["common"]
    copies = int(pd.concat([frame, pd.Series(y, name="__y")], axis=1).duplicated().sum())
    lines = [e for e in report if e["step"] == "duplicate_rows"]
    assert sum(e["count"] for e in lines) == copies and len(lines) == (copies > 0)  # found and said, either way
    assert removed == (copies if duplicates in ("weight", "drop") else 0)
    if copies and duplicates == "weight":
        assert cleaned.copies.sum() == len(frame)  # the weights stand for every row given
    if copies and duplicates == "group":
        assert len(np.unique(cleaned.groups)) == len(frame) - copies


def test_each_cleaning_step_can_be_switched_off():
    frame = pd.DataFrame({"a": [1.0, 2.0, np.inf, 4.0, 1.0], "same": 1, "copy": [1.0, 2.0, np.inf, 4.0, 1.0]})
    y = np.array([0, 1, 0, 1, 0])
    cleaned = clean_training_data(frame, y, None, CleaningOptions(drop_constant=False, duplicate_rows="keep",
                                                                  drop_duplicate_columns=False))
    assert cleaned.schema.dropped == {} and len(cleaned.frame) == 5
    with pytest.raises(ValueError, match="unknown cleaning option"):
        CleaningOptions.from_param({"drop_everything": True})
    weighted = clean_training_data(frame, y, None, CleaningOptions(duplicate_rows="weight"))
    assert weighted.kept_rows.tolist() == [0, 1, 2, 3] and weighted.copies.tolist() == [2, 1, 1, 1]
    unweighted = clean_training_data(frame, y, None, CleaningOptions(duplicate_rows="drop"))
    assert unweighted.copies is None and len(unweighted.frame) == 4
    grouped = clean_training_data(frame, y, None, CleaningOptions(duplicate_rows="group"))
    assert len(grouped.frame) == 5 and grouped.groups[0] == grouped.groups[4] != grouped.groups[1]
    assert [e["action"] for e in grouped.report if e["step"] == "duplicate_rows"] == ["rows kept"]


def test_fit_reports_rows_columns_profile_and_acceptance():
    rng = np.random.default_rng(1)
    n = 240
    X = pd.DataFrame({"x": rng.normal(size=n), "noise": rng.normal(size=n), "empty": np.nan, "k": 5,
                      "size": rng.choice(["s", "m", "l"], n)})
    y = pd.Series(np.where(X["x"] + 0.3 * rng.normal(size=n) > 0, "yes", "no"), name="answer")
    X, y = pd.concat([X, X.head(6)], ignore_index=True), pd.concat([y, y.head(6)], ignore_index=True)
    model = AutoML(**FAST, test_size=0.25).fit(X, y)
    rows = model.row_counts_
    assert rows["input"] == len(X) == rows["test"] + rows["duplicates_removed"] + rows["search"]
    assert rows["test"] == round(0.25 * len(X))
    assert {e["column"] for e in model.cleaning_ if e["action"] == "dropped"} == {"empty", "k"}
    profile = model.profile_
    assert set(profile["columns"]) == set(X.columns) and profile["n_rows"] == len(X)
    x_stats = profile["columns"]["x"]
    assert x_stats["min"] == pytest.approx(X["x"].min()) and x_stats["mean"] == pytest.approx(X["x"].mean())
    assert profile["columns"]["empty"]["missing_pct"] == 100.0 and "dropped" in profile["columns"]["k"]
    assert dict(profile["target"]["top"]).keys() == {"yes", "no"}
    acceptance = model.acceptance_
    assert acceptance["n_test_rows"] == rows["test"] and acceptance["metric"] == "roc_auc"
    assert 0.5 < acceptance["test_score"] <= 1.0 and isinstance(acceptance["agrees"], bool)
    assert model.validation_["passed"].all()


@pytest.mark.slow
def test_duplicates_are_not_removed_across_the_test_split():
    rng = np.random.default_rng(2)
    X = pd.DataFrame({"x": np.repeat(rng.normal(size=50), 2)})  # every row twice
    y = (X["x"] > 0).astype(int)
    model = AutoML(**FAST, test_size=20, cleaning={"duplicate_rows": "weight"}).fit(X, y)
    rows = model.row_counts_
    # only pairs that both landed in the search's part count as duplicates; the test rows are untouched
    assert rows["test"] == 20 and rows["search"] + rows["duplicates_removed"] == 80
    assert 30 <= rows["duplicates_removed"] <= 40
    default = AutoML(**FAST, test_size=20).fit(X, y)  # by default copies stay as they are, counted and reported
    assert default.row_counts_["duplicates_removed"] == 0 and default.row_counts_["search"] == 80
    kept = next(e for e in default.cleaning_ if e["step"] == "duplicate_rows")
    assert kept["action"] == "rows kept" and kept["count"] == rows["duplicates_removed"]


def test_time_column_holds_back_the_latest_rows():
    n = 120
    t = pd.date_range("2024-01-01", periods=n, freq="h")
    rng = np.random.default_rng(3)
    X = pd.DataFrame({"when": t.astype(str)[::-1], "x": rng.normal(size=n)})  # given newest first
    y = X["x"] * 2 + np.arange(n)[::-1] * 0.01
    model = AutoML(**{**FAST, "cv": 3}, test_size=0.25, time_column="when").fit(X, y)
    assert model.row_counts_["test"] == 30 and model.acceptance_["n_test_rows"] == 30
    folds_n = model.leaderboard_["n_folds"].iloc[0]
    assert folds_n == 3
    with pytest.raises(ValueError, match="time_column 'nope' is not a column"):
        AutoML(**FAST, time_column="nope").fit(X, y)


def test_forward_chaining_folds_validate_on_later_rows():
    from automl.data.target import make_folds

    order = np.array([5, 3, 0, 1, 4, 2, 7, 6, 9, 8])  # row positions, oldest first
    folds = make_folds(3, np.zeros(10), False, 0, order=order)
    rank = np.argsort(order)  # each row's position in time
    for train, valid in folds:
        assert rank[train].max() < rank[valid].min()
    holdout = make_folds(0.2, np.zeros(10), False, 0, order=order)
    assert sorted(holdout[0][1]) == sorted(order[-2:])
    # "holdout" by name is the default fraction (a string has a split method: it was taken for a splitter)
    named = make_folds("holdout", np.zeros(10), False, 0, order=order)
    assert len(named) == 1 and sorted(named[0][1]) == sorted(order[-2:])


@pytest.mark.parametrize("cv,classification", [(3, True), (4, False), (0.25, True)])
def test_grouped_folds_keep_copies_together(cv, classification):
    from automl.data.target import make_folds

    groups = np.repeat(np.arange(30), 3)  # 30 rows, 3 copies each
    y = np.repeat(np.arange(30) % 2, 3)
    for train, valid in make_folds(cv, y, classification, 0, groups=groups):
        assert not set(groups[train]) & set(groups[valid]) and len(valid) % 3 == 0


RULES = """
rules:
  - {column: age, range: {min: 0, max: 120}, severity: error}
  - {column: color, allowed: [red, green], severity: warn}
  - {column: code, regex: "[A-Z]{2}[0-9]", severity: error}
  - {column: age, not_null: true}
  - {column: code, unique: true, severity: warn}
  - {column: age, dtype: integer}
min_rows: 5
"""


@pytest.fixture
def rule_data(tmp_path):
    good = pd.DataFrame({"age": [20, 30, 40, 50, 60, 70], "color": ["red", "green"] * 3,
                         "code": ["AB1", "CD2", "EF3", "GH4", "IJ5", "KL6"], "y": [0, 1, 0, 1, 0, 1]})
    bad = good.assign(age=[20, -3, 40, 500, 60, 70], code=["AB1", "bad", "EF3", "GH4", "IJ5", "KL6"],
                      color=["red", "blue", "red", "green", "red", "green"])
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    good.to_csv(tmp_path / "good.csv", index=False)
    bad.to_csv(tmp_path / "bad.csv", index=False)
    return tmp_path, good, bad


def test_yaml_rules_pass_and_fail_in_fit(rule_data):
    folder, good, bad = rule_data
    model = AutoML(**FAST, checks=str(folder / "rules.yaml")).fit(good.drop(columns="y"), good["y"])
    report = model.validation_
    assert report[report["severity"] == "error"]["passed"].all() and len(report) >= 10
    assert report[~report["passed"]]["rule"].tolist() == ["few rows"]  # 6 rows: a warning, not an error
    with pytest.raises(DataValidationError) as caught:
        AutoML(**FAST, checks=str(folder / "rules.yaml")).fit(bad.drop(columns="y"), bad["y"])
    message = str(caught.value)
    assert "2 problem(s) of severity error" in message
    assert "age: range (column 'age'): 2 rows fail" in message and "code: regex" in message
    report = caught.value.report
    warned = report[(~report["passed"]) & (report["severity"] == "warn")]
    assert warned["rule"].tolist() == ["few rows", "color: allowed"] and warned["rows_affected"].tolist() == [0, 1]


def test_callable_rules_pass_and_fail():
    X = pd.DataFrame({"a": np.arange(30.0), "b": np.tile([1.0, 2.0, 3.0], 10)})
    y = pd.Series(np.arange(30) % 2, name="label")

    def label_balanced(frame):
        share = frame["label"].mean()
        return [] if 0.3 < share < 0.7 else [f"label share {share:.2f} is unbalanced"]

    def a_below(limit):
        return lambda frame: [{"message": f"a over {limit}", "rows": int((frame["a"] > limit).sum()), "column": "a"}] \
            if (frame["a"] > limit).any() else []

    model = AutoML(**FAST, checks=[label_balanced, Rule("a small", a_below(100))]).fit(X, y)
    assert model.validation_.set_index("rule").loc[["label_balanced", "a small"], "passed"].all()
    model = AutoML(**FAST, checks=[Rule("a small", a_below(20), severity="warn")]).fit(X, y)
    failed = model.validation_[~model.validation_["passed"]]
    assert failed[["rule", "rows_affected", "column"]].values.tolist() == [["a small", 9, "a"]]
    with pytest.raises(DataValidationError, match=r"a small \(column 'a'\): a over 20"):
        AutoML(**FAST, checks=[Rule("a small", a_below(20))]).fit(X, y)

    def broken(frame):
        raise KeyError("no_such_column")

    with pytest.raises(DataValidationError, match="the rule raised KeyError"):
        AutoML(**FAST, checks=[broken]).fit(X, y)


@pytest.mark.slow
def test_cli_validate_exit_codes_and_profile(rule_data):
    folder, _, _ = rule_data
    ok = run_cli("validate", str(folder / "good.csv"), "--checks", str(folder / "rules.yaml"), "--target", "y")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    failing = run_cli("validate", str(folder / "bad.csv"), "--checks", str(folder / "rules.yaml"), "--target", "y")
    assert failing.returncode == 1 and "2 failed with severity error" in failing.stdout
    assert "age: range" in failing.stdout
    html = folder / "profile.html"
    profile = run_cli("profile", str(folder / "bad.csv"), "--target", "y", "--html", str(html))
    assert profile.returncode == 0, profile.stderr
    assert "6 rows x 3 columns" in profile.stdout and "age" in profile.stdout
    page = html.read_text()
    assert page.count("</tr>") == 4 and "None" not in page  # a header and the 3 columns


def test_predict_ignores_extra_columns_and_names_missing_ones(tmp_path):
    rng = np.random.default_rng(4)
    X = pd.DataFrame({"a": rng.normal(size=60), "b": rng.choice(["u", "v"], 60)})
    y = (X["a"] > 0).astype(int)
    model = AutoML(**FAST).fit(X, y)
    with pytest.warns(UserWarning, match=r"1 column\(s\) fit never saw, ignored: \['extra'\]"):
        assert model.predict(X.assign(extra=1.0)).shape == (60,)
    with pytest.raises(ValueError, match=r"(?s)missing:\n- b"):
        model.predict(X[["a"]].assign(extra=1.0))
    as_strings = X.assign(a=X["a"].astype(str))  # numbers given as strings are read as numbers
    np.testing.assert_array_equal(model.predict(as_strings), model.predict(X))
    unseen = X.assign(b="never seen")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an unseen category is handled quietly
        assert model.predict(unseen).shape == (60,)
    folder = save(model, tmp_path / "m")
    assert json.loads((folder / "profile.json").read_text())["columns"]["a"]["role"] == "numeric"
    loaded = load(folder)
    assert loaded.profile_ == json.loads(json.dumps(model.profile_)) and loaded.row_counts_ == model.row_counts_


def test_rare_categories_merge_at_fit_and_predict():
    rng = np.random.default_rng(5)
    colors = np.array(["red"] * 40 + ["blue"] * 40 + ["pink", "teal"])
    X = pd.DataFrame({"color": colors, "x": rng.normal(size=82)})
    y = (X["x"] > 0).astype(int)
    model = AutoML(**FAST, cleaning={"rare_category_min_count": 3}).fit(X, y)
    line = next(e for e in model.cleaning_ if e["step"] == "rare_category_min_count")
    assert line["column"] == "color" and line["count"] == 2
    cast = model.best_pipeline_.named_steps["cast"].transform(X.tail(3))
    assert cast["color"].tolist() == ["blue", "__rare__", "__rare__"]


def test_profile_bins_and_quantiles_describe_the_column():
    values = pd.Series(np.arange(1000.0) / 2)  # halves: not an identifier
    profile = profile_frame(pd.DataFrame({"v": values, "c": ["a"] * 700 + ["b"] * 300}))
    v = profile["columns"]["v"]
    assert v["quantiles"][0] == 0 and v["quantiles"][-1] == 499.5 and len(v["quantiles"]) == 101
    assert v["bins"]["edges"][0] == -np.inf and v["bins"]["edges"][-1] == np.inf
    assert sum(v["bins"]["fractions"]) == pytest.approx(1.0) and len(v["bins"]["fractions"]) == 10
    assert profile["columns"]["c"]["top"] == [["a", 0.7], ["b", 0.3]]


def test_shipped_rule_file_passes_on_the_bundled_data():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    result = run_cli("validate", str(root / "examples/data/credit-g.csv.gz"), "--checks",
                     str(root / "configs/checks/credit-g.yaml"), "--target", "class")
    assert result.returncode == 0 and "15 passed" in result.stdout, result.stdout + result.stderr


@pytest.mark.slow
def test_acceptance_test_flags_a_test_set_that_disagrees_with_validation():
    # the latest rows (held back with time_column) follow the opposite rule: validation looks good, the test
    # does not, and the user is told
    rng = np.random.default_rng(4)
    n = 400
    x = rng.normal(size=n)
    y = np.where(x > 0, "up", "down")
    y[300:] = np.where(x[300:] > 0, "down", "up")
    X = pd.DataFrame({"x": x, "day": np.arange(n)})
    with pytest.warns(UserWarning, match="acceptance test: the test score"):
        model = AutoML(time_budget=60, max_trials=2, families=["linear"], search="defaults", portfolio=None,
                       random_state=0, test_size=100, time_column="day").fit(X, pd.Series(y))
    acceptance = model.acceptance_
    assert acceptance["agrees"] is False and acceptance["n_test_rows"] == 100
    assert acceptance["validation_score"] > 0.9 and acceptance["test_score"] < 0.1
    assert abs(acceptance["difference"]) > acceptance["tolerance"]
