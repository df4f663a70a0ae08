"""No silent wrong answers: every case of the reliability issue, held by a test.

Predict-time values the model cannot read, a fit that finds no model, interrupted and failing trials, damaged model
folders and bad command lines each get a clear error (or a documented repair), never a quiet wrong result.
"""
from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from automl import AutoML
from automl.cli import EXIT_DATA, EXIT_INTERRUPTED, EXIT_NO_MODEL, EXIT_USAGE, main
from automl.data.clean import _unique_rows
from automl.data.profile import numeric_profiles, profile_column
from automl.data.schema import Column, find_uninformative
from automl.io.persist import load, save
from automl.testing import misbehaving_family
from tests.cli import run_cli, start_cli

ROOT = Path(__file__).resolve().parents[1]
FAST = dict(time_budget=60, max_trials=2, families=["linear"], search="defaults", portfolio=None, cv=3,
            random_state=0)


@pytest.fixture(scope="module")
def flagged():
    """A model whose prediction depends on a boolean column, and rows to predict."""
    rng = np.random.default_rng(0)
    n = 300
    X = pd.DataFrame({"flag": rng.random(n) < 0.5, "amount": rng.normal(size=n),
                      "when": pd.date_range("2024-01-01", periods=n, freq="D")})
    y = pd.Series(np.where(X["flag"] ^ (rng.random(n) < 0.1), "yes", "no"))
    return AutoML(**FAST).fit(X, y), X


# -- 1. predict reads what training read, or says it cannot ------------------------------------------------------
@pytest.mark.slow
def test_booleans_given_as_words_predict_as_the_booleans(flagged):
    model, X = flagged
    rows = X.head(24)
    words = rows.assign(flag=rows["flag"].map({True: "yes", False: "no"}))
    texts = rows.assign(flag=rows["flag"].map({True: "True", False: "False"}))
    digits = rows.assign(flag=rows["flag"].map({True: "1", False: "0"}))
    expected = model.predict_proba(rows)
    for variant in (words, texts, digits):  # bool("False") is True; these must read as False
        assert np.allclose(model.predict_proba(variant), expected)


@pytest.mark.slow
def test_unreadable_values_are_errors_naming_column_and_rows_unless_coerced(flagged):
    model, X = flagged
    rows = X.head(6).astype({"amount": object, "flag": object, "when": object})
    bad_number = rows.copy()
    bad_number.loc[3, "amount"] = "lots"
    with pytest.raises(ValueError, match=r"column 'amount' is numeric: rows \[3\] hold 'lots'"):
        model.predict(bad_number)
    with pytest.warns(UserWarning, match=r"treated as missing \(1 in 'amount'\)"):
        assert model.predict(bad_number, errors="coerce").shape == (6,)
    bad_flag = rows.copy()
    bad_flag.loc[[1, 4], "flag"] = "maybe"
    with pytest.raises(ValueError, match=r"column 'flag' is boolean: rows \[1, 4\]"):
        model.predict_proba(bad_flag)
    bad_date = rows.copy()
    bad_date.loc[0, "when"] = "yesterday-ish"
    with pytest.raises(ValueError, match=r"column 'when' is datetime: rows \[0\]"):
        model.predict(bad_date)


@pytest.mark.slow
def test_an_array_given_to_a_model_fitted_on_a_frame_is_a_clear_error(flagged):
    model, X = flagged
    with pytest.raises(ValueError, match="fitted on a DataFrame with columns"):
        model.predict(X.head(3).to_numpy())


@pytest.mark.slow
def test_cli_predict_refuses_unreadable_values_and_coerces_on_request(flagged, tmp_path, capsys):
    model, X = flagged
    folder = save(model, tmp_path / "m")
    rows = X.head(5).astype({"amount": object})
    rows.loc[2, "amount"] = "n/a yet"
    rows.to_csv(tmp_path / "rows.csv", index=False)
    assert main(["predict", str(folder), str(tmp_path / "rows.csv")]) == EXIT_DATA
    assert "column 'amount' is numeric: rows [2]" in capsys.readouterr().err
    assert main(["predict", str(folder), str(tmp_path / "rows.csv"), "--errors", "coerce",
                 "--out", str(tmp_path / "p.csv")]) == 0
    assert len(pd.read_csv(tmp_path / "p.csv")) == 5


# -- 2. a fit that finds no model says so ------------------------------------------------------------------------
@pytest.mark.slow
def test_when_every_family_fails_the_fit_says_which_and_why(credit):
    X, y = credit
    families = [misbehaving_family("raise"), misbehaving_family("crash")]
    with pytest.warns(UserWarning, match="no model was found: 2 trial.*this family always fails.*fix the errors"):
        model = AutoML(time_budget=30, families=families, search="defaults", portfolio=None, cv=2,
                       random_state=0).fit(X, y)
    assert model.fit_status_ == "constant" and model.best_family_ == "constant"
    summary = model.fit_summary_
    assert summary["status"] == "constant" and summary["trials"] == {"error": 2}
    assert "misbehaving_raise: RuntimeError" in summary["reason"] and "exit code 3" in summary["reason"]


@pytest.mark.slow
def test_a_successful_fit_reports_its_status(credit):
    X, y = credit
    model = AutoML(**FAST).fit(X, y)
    assert model.fit_status_ == "ok" and model.fit_summary_["trials"]["ok"] >= 1


@pytest.mark.slow
def test_cli_exits_non_zero_and_writes_nothing_without_a_model(tmp_path):
    data = tmp_path / "two.csv"
    pd.DataFrame({"x": [1.0, 2.0], "y": ["a", "b"]}).to_csv(data, index=False)
    out = tmp_path / "model"
    fit = ("fit", str(data), "--target", "y", "--time-budget", "20", "--out", str(out), "--quiet", "--max-trials", "4")
    refused = run_cli(*fit)
    assert refused.returncode == EXIT_NO_MODEL, refused.stderr
    assert "no model was found" in refused.stderr and not out.exists()
    accepted = run_cli(*fit, "--allow-constant")
    assert accepted.returncode == 0, accepted.stderr
    assert json.loads((out / "model.json").read_text())["best"]["family"] == "constant"


# -- 3. data preparation: the block-wise paths answer as the column-by-column definitions ------------------------
numeric_values = st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.just(np.nan), st.just(np.inf),
                           st.just(-np.inf), st.sampled_from([0.0, -0.0, 1.0, 2.0]))


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 40).flatmap(lambda n: st.lists(st.lists(numeric_values, min_size=n, max_size=n),
                                                     min_size=1, max_size=6)))
def test_profile_of_numbers_is_the_same_block_wise(columns):
    frame = pd.DataFrame({f"c{i}": values for i, values in enumerate(columns)})
    bulk = numeric_profiles(frame, list(frame.columns), None)
    for name in frame.columns:
        one = profile_column(frame[name], "numeric")
        assert set(bulk[name]) == set(one)
        for key, value in one.items():
            got = bulk[name][key]
            if key == "bins" and value:
                assert np.allclose(got["edges"], value["edges"]) and np.allclose(got["fractions"], value["fractions"])
            elif isinstance(value, float):
                assert got == pytest.approx(value, rel=1e-9, abs=1e-9), key
            elif isinstance(value, list) and value:
                assert np.allclose(got, value), key
            else:
                assert got == value, key


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 30).flatmap(lambda n: st.tuples(
    st.lists(st.sampled_from([0.0, -0.0, 1.0, np.nan]), min_size=n, max_size=n),
    st.lists(st.sampled_from(["a", "b", None]), min_size=n, max_size=n),
    st.lists(st.integers(0, 1), min_size=n, max_size=n))))
def test_duplicate_rows_are_found_exactly_as_pandas_finds_them(rows):
    numbers, texts, target = rows
    frame = pd.DataFrame({"n": numbers, "t": texts})
    keyed = frame.assign(y=target)
    kept, copies, groups = _unique_rows(frame, np.asarray(target), None)
    assert kept.tolist() == np.flatnonzero(~keyed.duplicated().to_numpy()).tolist()
    assert copies.sum() == len(frame)
    reference = keyed.groupby(list(keyed.columns), dropna=False, sort=False).ngroup().to_numpy()
    assert len(set(zip(groups, reference))) == len(set(reference)) == len(set(groups))


def test_constant_and_empty_numeric_columns_are_found_block_wise():
    frame = pd.DataFrame({"same": [2.0] * 30, "empty": [np.nan] * 30, "some": [np.nan] * 29 + [1.0],
                          "varies": np.arange(30.0)})
    dropped = find_uninformative(frame, [Column(c, "numeric", "float64") for c in frame.columns])
    assert dropped == {"same": "constant (every value is 2.0)", "empty": "all values missing"}


def test_fitting_never_changes_the_users_frame():
    X = pd.DataFrame({"a": [1.0, np.inf, 3.0, 4.0] * 10, "b": ["1", "2", "3", "4"] * 10, "c": np.arange(40) % 7})
    before = X.copy()
    AutoML(**FAST).fit(X, pd.Series([0, 1] * 20))
    pd.testing.assert_frame_equal(X, before)


# -- 4. cheap checks first, interrupted work resumed, failing families backed off --------------------------------
def test_cli_checks_cheap_things_before_reading_the_data(tmp_path, capsys):
    data = ROOT / "examples" / "data" / "credit-g.csv.gz"
    (tmp_path / "taken").write_text("a file")
    cases = [
        (["--out", str(tmp_path / "taken")], "a file of that name exists"),
        (["--families", "linear,xgb"], "unknown model families ['xgb']"),
        (["--metric", "accuracyy"], "unknown metric 'accuracyy'"),
        (["--portfolio", str(tmp_path / "none.yaml")], "no such file"),
    ]
    for extra, message in cases:
        args = ["fit", str(data), "--target", "class", "--time-budget", "30", "--out", str(tmp_path / "m"), *extra]
        assert main(args) == EXIT_DATA and message in capsys.readouterr().err
        assert not (tmp_path / "m").exists()  # refused before any fit


@pytest.mark.slow
def test_an_interrupted_portfolio_point_runs_again_on_resume(credit, tmp_path):
    X, y = credit
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    params = dict(families=["linear", "knn"], search="defaults", portfolio=None, cv=2, random_state=0,
                  storage=storage, study_name="s", ensemble=False)
    AutoML(time_budget=None, max_trials=1, **params).fit(X, y)  # linear's defaults run; knn's wait
    study = optuna.load_study(study_name="s", storage=storage)
    waiting = study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert len(waiting) == 1
    # what Ctrl-C during knn's trial leaves behind: the trial told as interrupted
    trial = study.ask()
    trial.set_user_attr("status", "interrupted")
    trial.set_user_attr("family", "knn")
    study.tell(trial, state=optuna.trial.TrialState.FAIL)
    resumed = AutoML(time_budget=None, max_trials=6, **params).fit(X, y)
    board = resumed.leaderboard_
    assert (board[board.family == "knn"].status == "ok").sum() == 1  # knn's defaults ran after all
    assert (board.status == "interrupted").sum() == 1


@pytest.mark.slow
def test_a_family_out_of_memory_is_not_picked_again(credit):
    X, y = credit
    model = AutoML(time_budget=None, max_trials=12, families=[misbehaving_family("memory"), "linear"],
                   search="random", portfolio=None, cv=2, random_state=0, ensemble=False).fit(X, y)
    board = model.leaderboard_
    memory = board[board.family == "misbehaving_memory"]
    assert (memory.status == "error").sum() == 1 and "MemoryError" in memory.error.iloc[0]
    skipped = memory[memory.status == "skipped"]
    assert skipped.empty or skipped.error.str.contains("ran out of memory").all()
    assert (board[board.family == "linear"].status == "ok").sum() >= 3


def test_a_trial_over_its_memory_limit_is_an_error_row_and_the_search_goes_on(credit):
    X, y = credit
    model = AutoML(time_budget=60, families=[misbehaving_family("hog", seconds=3.0), "linear"], search="defaults",
                   portfolio=None, cv=2, random_state=0, memory_limit=0.5).fit(X, y)
    board = model.leaderboard_.set_index("family")
    assert board.loc["misbehaving_hog", "status"] == "error"
    assert "MemoryError" in board.loc["misbehaving_hog", "error"]
    assert "memory limit of 0.5 GB" in board.loc["misbehaving_hog", "error"]
    assert board.loc["linear", "status"] == "ok" and model.fit_status_ == "ok"
    assert model.peak_memory_mb_ > 100  # this process and its trials, reported


# -- 5. damaged files and bad command lines: clear messages ------------------------------------------------------
@pytest.mark.parametrize("damage", ["truncate", "empty", "json", "numpy_major"])
def test_a_damaged_model_folder_is_a_clear_error_naming_the_file(credit_model_folder, tmp_path, damage):
    folder = Path(shutil.copytree(credit_model_folder, tmp_path / "m"))
    skops = folder / "pipeline.skops"
    if damage == "truncate":
        skops.write_bytes(skops.read_bytes()[:500])
        match = "pipeline.skops is damaged"
    elif damage == "empty":
        skops.write_bytes(b"")
        match = "pipeline.skops is damaged"
    elif damage == "json":
        (folder / "model.json").write_text("{not json")
        match = "model.json is not valid JSON"
    else:
        meta = json.loads((folder / "model.json").read_text())
        meta["versions"]["numpy"] = "1.0.0"
        (folder / "model.json").write_text(json.dumps(meta))
        match = "model saved with numpy 1.0.0"
    with pytest.raises(ValueError, match=match):
        load(folder)


def test_a_gzip_file_named_csv_is_read(tmp_path, credit):
    shutil.copy(ROOT / "examples" / "data" / "credit-g.csv.gz", tmp_path / "data.csv")
    from automl.io.readers import read_table

    assert read_table(tmp_path / "data.csv").shape == (1000, 21)


@pytest.mark.parametrize("flag, value, message", [("--cv", "abc", "give a number of folds"),
                                                   ("--time-budget", "0", "give a positive number of seconds"),
                                                   ("--cv", "1", "give a number of folds")])
def test_bad_options_are_usage_errors(tmp_path, capsys, flag, value, message):
    data = ROOT / "examples" / "data" / "credit-g.csv.gz"
    with pytest.raises(SystemExit) as stopped:
        main(["fit", str(data), "--target", "class", flag, value, "--out", str(tmp_path / "m")])
    assert stopped.value.code == EXIT_USAGE and message in capsys.readouterr().err


def test_a_deeply_nested_json_body_is_a_400_not_a_500():
    from automl.serve.validate import PayloadError, parse_body

    with pytest.raises(PayloadError) as refused:
        parse_body(b"[" * 100_000 + b"]" * 100_000, "application/json")
    assert refused.value.status == 400 and "nests too deeply" in str(refused.value)


@pytest.mark.slow
def test_ctrl_c_during_a_fit_exits_130_without_a_traceback(tmp_path):
    data = ROOT / "examples" / "data" / "credit-g.csv.gz"
    def as_from_a_terminal() -> None:
        # a process inherits an ignored or blocked SIGINT from whatever started the test run (a background job of
        # a non-interactive shell ignores it), and Python then never raises KeyboardInterrupt: the fit would run to
        # its end. A user's Ctrl-C comes to a process started from a terminal, with SIGINT as the default.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})

    process = start_cli("fit", str(data), "--target", "class", "--time-budget", "60", "--out", str(tmp_path / "m"),
                        preexec_fn=as_from_a_terminal)
    # after the first trial's line: the search is running
    seen: list[str] = []
    while not seen or ("trial" not in seen[-1] and seen[-1]):
        seen.append(process.stderr.readline())
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=60)
    err = "".join(seen) + rest
    assert process.returncode == EXIT_INTERRUPTED, err
    assert "Traceback" not in err and "interrupted" in err
    assert not (tmp_path / "m").exists()


def test_exit_codes_are_documented_in_help(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for code in (EXIT_DATA, EXIT_NO_MODEL, EXIT_INTERRUPTED):
        assert f"  {code} " in text
