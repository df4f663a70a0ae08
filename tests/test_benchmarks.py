"""The benchmark runner's bookkeeping: scoring rules, report tables, adapters' harness, process containment,
system variants and adapter options.

No training here except two smoke runs on a tiny synthetic suite (LightGBM; automl with the defaults only).
"""
from __future__ import annotations

import json
import math
import os
import signal
import sys
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks import datasets, report, summary, systems
from benchmarks.adapters import automl_adapter, automl_cli_adapter, harness
from benchmarks.csvlog import append_record, read_records
from benchmarks.process import Outcome, group_memory_bytes, group_rss_bytes, process_memory_bytes, run_contained
from benchmarks.run import main, with_options
from benchmarks.runs import RunRow, classify
from benchmarks.scoring import compare
from benchmarks.systems import REPO_AUTOML, parse_variant, resolve, split_systems


def _row(dataset: str, metric: str, system: str, score: float, status: str = "ok", seed: int = 0,
         fit_s: float = 1.0, budget: float = 10.0) -> RunRow:
    task = {"roc_auc": "binary", "log_loss": "multiclass", "rmse": "regression"}[metric]
    return RunRow(dataset=dataset, task=task, seed=seed, system=system, metric=metric, budget=budget, cores=2,
                  status=status, score=score if status == "ok" else math.nan, fit_s=fit_s, predict_s=0.1,
                  predict_row_ms=2.0, peak_rss_mb=100.0, version=f"{system} 1.0",
                  error="" if status == "ok" else "boom")


@pytest.fixture
def results(tmp_path: Path) -> pd.DataFrame:
    """A results CSV written and read back: an AUC dataset, a log-loss dataset, one failed automl run."""
    rows = [
        _row("auc", "roc_auc", "automl", 0.90, fit_s=10.2), _row("auc", "roc_auc", "lgbm", 0.80),
        _row("auc", "roc_auc", "flaml", 0.85, fit_s=25.0, status="overrun"),
        _row("auc", "roc_auc", "constant", 0.50),
        _row("loss", "log_loss", "automl", 0.40, status="timeout", fit_s=math.nan),
        _row("loss", "log_loss", "lgbm", 0.50), _row("loss", "log_loss", "flaml", 0.30, fit_s=9.0),
        _row("loss", "log_loss", "constant", 1.00),
    ]
    path = tmp_path / "results.csv"
    for row in rows:
        append_record(path, row)
    return read_records(path, RunRow)


def test_a_record_with_a_new_field_rewrites_an_older_file_with_one_header(tmp_path: Path) -> None:
    path = tmp_path / "results.csv"
    older = pd.DataFrame([asdict(_row("auc", "roc_auc", "flaml", 0.85))]).drop(columns=["peak_pss_mb"])
    older.assign(retired="x").to_csv(path, index=False)  # before PSS was sampled, with a column since dropped
    append_record(path, replace(_row("auc", "roc_auc", "automl", 0.90), engine="7222872"))
    frame = read_records(path, RunRow)
    assert list(frame["engine"]) == ["", "7222872"]  # a commit hash of digits stays text
    assert list(frame["system"]) == ["flaml", "automl"] and list(frame["score"]) == [0.85, 0.90]
    assert frame["peak_pss_mb"].isna().all() and list(frame["retired"].fillna("")) == ["x", ""]


def test_failed_runs_count_as_the_constant_predictor(results: pd.DataFrame) -> None:
    frame = report.effective_scores(results)
    scores = report.dataset_scores(frame)
    assert scores.at["auc", "flaml"] == 0.50  # overrun
    assert scores.at["loss", "automl"] == 1.00  # timeout
    assert scores.at["auc", "automl"] == 0.90
    assert frame["imputed"].sum() == 2


def test_normalised_score_is_zero_at_lightgbm_and_one_at_the_best(results: pd.DataFrame) -> None:
    frame = report.effective_scores(results)
    normalised = report.normalised_scores(report.dataset_scores(frame), report.dataset_metrics(frame))
    assert normalised.at["auc", "lgbm"] == 0 and normalised.at["auc", "automl"] == pytest.approx(1.0)
    assert normalised.at["loss", "flaml"] == pytest.approx(1.0)  # lower log loss is better
    assert normalised.at["loss", "automl"] == pytest.approx((1.0 - 0.5) / (0.3 - 0.5))


def test_normalised_score_is_undefined_where_lightgbm_is_best() -> None:
    scores = pd.DataFrame({"lgbm": [0.9], "automl": [0.8]}, index=["d"])
    normalised = report.normalised_scores(scores, pd.Series({"d": "roc_auc"}))
    assert normalised.isna().all().all()


def test_win_tie_loss_respects_the_metric_direction(results: pd.DataFrame) -> None:
    frame = report.effective_scores(results)
    table = report.win_tie_loss(report.dataset_scores(frame), report.dataset_metrics(frame))
    assert table.at["automl", "flaml"] == "1/0/1"
    assert table.at["flaml", "automl"] == "1/0/1"
    assert table.at["automl", "constant"] == "1/1/0"  # the timed-out run equals the constant


def test_budget_adherence_counts_overruns_and_kills(results: pd.DataFrame) -> None:
    table = report.budget_adherence(results).set_index("system")
    assert list(table.index) == ["automl", "flaml"]  # baselines take no budget
    assert table.at["automl", "over 2x or killed"] == 1 and table.at["flaml", "over 2x or killed"] == 1
    assert table.at["automl", "fit <= 1.05x budget"] == 1  # 10.2 s of 10 s
    assert table.at["flaml", "max fit/budget"] == pytest.approx(2.5)


def test_report_marks_imputed_cells_and_lists_failures(results: pd.DataFrame) -> None:
    text = summary.render(results, "t", ["a note"], suite_size=25)
    assert "| auc | roc_auc | **0.9000** | 0.5000* | 0.8000 | 0.5000 |" in text
    assert "2 datasets of the 25 in the suite" in text and "a note" in text
    assert "loss / seed 0 / automl: **timeout**" in text
    assert "ok, but **a constant predictor**" not in text


def test_report_lists_a_fit_that_ended_with_its_constant_fallback(results: pd.DataFrame) -> None:
    """An ``ok`` run whose fit found no model (the 1M-row multiclass table at 120 s, stop 57) is listed with the
    failures, not only shown as a poor score."""
    fallback = pd.DataFrame([asdict(replace(_row("big", "log_loss", "automl", 1.386),
                                            details="best=constant; fit_status=constant; trials=6"))])
    text = summary.render(pd.concat([results, fallback], ignore_index=True), "t")
    assert "- big / seed 0 / automl: ok, but **a constant predictor**" in text


@pytest.mark.parametrize(("outcome", "result", "status"), [
    (Outcome(-15, 90.0, 1.0, True), {"fit_s": 5.0}, "timeout"),
    (Outcome(1, 3.0, 1.0, False), {"status": "error", "error": "ValueError: x"}, "error"),
    (Outcome(0, 3.0, 1.0, False), {}, "error"),
    (Outcome(0, 30.0, 1.0, False), {"status": "ok", "fit_s": 21.0}, "overrun"),
    (Outcome(0, 30.0, 1.0, False), {"status": "ok", "fit_s": 10.4}, "ok"),
    (Outcome(0, 3.0, 1.0, False), {"status": "ok", "fit_s": 1.0, "info": {"automl_path": "/elsewhere/automl"}},
     "error"),
    (Outcome(0, 3.0, 1.0, False), {"status": "ok", "fit_s": 1.0, "info": {"automl_path": str(REPO_AUTOML)}}, "ok"),
])
def test_run_status(outcome: Outcome, result: dict, status: str) -> None:
    assert classify(outcome, result, budget=10.0)[0] == status


def test_baselines_always_run_and_options_merge() -> None:
    systems = with_options(resolve(["flaml"]), ["flaml:metric=x"])
    assert [s.name for s in systems] == ["flaml", "lgbm", "hgb", "rf", "constant"]
    assert systems[0].options == {"metric": "x"}
    with pytest.raises(ValueError):
        with_options(systems, ["automl:presets=x"])
    with pytest.raises(KeyError):
        resolve(["h2o"])


def test_the_command_line_chooses_the_baselines() -> None:
    from benchmarks.run import parse_args, systems_of

    chosen = [s.name for s in systems_of(parse_args(["--systems", "automl", "--baselines", "constant,lgbm"]))]
    assert chosen == ["automl", "lgbm", "constant"]
    every = [s.name for s in systems_of(parse_args(["--systems", "automl"]))]
    assert {"hgb", "rf"} <= set(every)


def test_variants_are_systems_of_their_own_with_the_options_in_brackets() -> None:
    names = split_systems("automl_cli, automl[search=defaults;portfolio=none],automl,automl[search=random]")
    assert names == ["automl_cli", "automl[search=defaults;portfolio=none]", "automl", "automl[search=random]"]
    resolved = {s.name: s for s in resolve(names)}
    assert list(resolved) == ["automl", "automl[search=defaults;portfolio=none]", "automl[search=random]",
                              "automl_cli", "lgbm", "hgb", "rf", "constant"]
    variant = resolved["automl[search=defaults;portfolio=none]"]
    assert variant.options == {"search": "defaults", "portfolio": "none"} and variant.kind == "engine"
    assert variant.adapter == "automl_adapter.py" and variant.base_name == "automl" and "[" not in variant.slug
    assert resolved["automl"].options == {} and resolved["automl_cli"].kind == "engine"
    peer = resolve(["autogluon[presets=best_quality]"])[0]
    assert peer.options == {"presets": "best_quality"} and peer.base_name == "autogluon"  # its venv: autogluon


def test_variant_parsing_keeps_brackets_and_commas_in_values_and_refuses_the_malformed() -> None:
    assert split_systems('automl[families=["lightgbm","catboost"]],flaml') == [
        'automl[families=["lightgbm","catboost"]]', "flaml"]
    assert parse_variant('automl[families=["lightgbm","catboost"]; cv=3;]') == (
        "automl", {"families": '["lightgbm","catboost"]', "cv": "3"})
    assert parse_variant("automl") == ("automl", {})
    with pytest.raises(KeyError, match="h2o"):
        resolve(["h2o[max_models=3]"])
    for malformed in ("automl[search]", "automl[search=random"):
        with pytest.raises(ValueError):
            resolve([malformed])
    with pytest.raises(ValueError):
        split_systems("automl[search=random,flaml")


def test_options_reach_a_variant_whose_name_holds_a_colon() -> None:
    name = "automl[storage=sqlite:///s.db]"
    merged = {s.name: s.options for s in with_options(resolve([name, "automl"]), [f"{name}:cv=3", "automl:cv=5"])}
    assert merged[name] == {"storage": "sqlite:///s.db", "cv": "3"} and merged["automl"] == {"cv": "5"}


def test_variants_follow_their_system_in_the_report() -> None:
    frame = pd.DataFrame({"system": ["lgbm", "automl[search=random]", "custom", "flaml", "automl"]})
    assert report.system_order(frame) == ["automl", "automl[search=random]", "flaml", "lgbm", "custom"]


def test_automl_options_are_json_when_they_parse_and_text_otherwise() -> None:
    options = {"search": "random", "cv": "3", "test_size": "0.2", "ensemble": "false", "metric": "null",
               "portfolio": "none", "families": '["lightgbm", "catboost"]', "class_weight": "balanced"}
    assert automl_adapter.automl_arguments(options, allowed=[*options, "time_budget"]) == {
        "search": "random", "cv": 3, "test_size": 0.2, "ensemble": False, "metric": None, "portfolio": None,
        "families": ["lightgbm", "catboost"], "class_weight": "balanced"}
    assert automl_adapter.option_value("search", "none") == "none"  # only portfolio=none means None
    with pytest.raises(ValueError, match="unknown automl options \\['serch'\\]"):
        automl_adapter.automl_arguments({"serch": "random"}, allowed=["search"])
    with pytest.raises(ValueError, match="set by the benchmark"):
        automl_adapter.automl_arguments({"time_budget": "5"})


def test_cli_adapter_runs_the_commands_a_user_would() -> None:
    spec = {"target": "y", "budget": 30.0, "seed": 1, "task": "binary", "cores": 2}
    args = automl_cli_adapter.fit_arguments(spec, {"search": "random", "quiet": ""}, Path("t.csv"), Path("m"))
    assert args == ["fit", "t.csv", "--target", "y", "--time-budget", "30.0", "--seed", "1", "--task", "binary",
                    "--n-jobs", "2", "--out", "m", "--search", "random", "--quiet"]
    with pytest.raises(ValueError, match="--time-budget"):
        automl_cli_adapter.fit_arguments(spec, {"time_budget": "5"}, Path("t.csv"), Path("m"))
    output = pd.DataFrame({"prediction": ["a", "b"], "proba_a": [0.9, 0.2], "proba_b": [0.1, 0.8]})
    proba = automl_cli_adapter.cli_predictions(output, is_classification=True)
    assert list(proba.columns) == ["a", "b"] and proba["b"].tolist() == [0.1, 0.8]
    values = automl_cli_adapter.cli_predictions(pd.DataFrame({"prediction": [1.5, 2.0]}), is_classification=False)
    assert values.tolist() == [1.5, 2.0]


def test_each_suite_has_its_folder_and_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AUTOML_DATASETS", raising=False)
    monkeypatch.delenv("AUTOML_DATASETS_EXTRA", raising=False)
    shared = Path(datasets.__file__).resolve().parents[2] / "shared" / "datasets"
    assert datasets.datasets_dir() == shared / "openml" and datasets.datasets_dir("extra") == shared / "extra"
    monkeypatch.setenv("AUTOML_DATASETS_EXTRA", str(tmp_path))
    assert datasets.datasets_dir("extra") == tmp_path.resolve() and datasets.datasets_dir() == shared / "openml"
    with pytest.raises(KeyError):
        datasets.datasets_dir("kaggle")


def _task_folder(folder: Path) -> Path:
    folder.mkdir()
    spec = {"dataset": "toy", "task": "binary", "target": "y", "seed": 0, "budget": 5, "cores": 1,
            "categorical_columns": ["c"]}
    (folder / "spec.json").write_text(json.dumps(spec))
    pd.DataFrame({"c": ["1", "2", "NA", "1"], "x": [0.5, 1.5, np.nan, 2.0], "y": ["a", "b", "a", "b"]}).to_csv(
        folder / "train.csv", index=False)
    pd.DataFrame({"c": ["2", ""], "x": [1.0, 3.0]}).to_csv(folder / "test.csv", index=False)
    return folder


def test_harness_writes_predictions_and_result(tmp_path: Path) -> None:
    seen = {}

    def fit(task: harness.Task, workdir: Path) -> str:
        seen["c"] = list(task.x_train["c"])
        return "model"

    def predict(model: str, x: pd.DataFrame, task: harness.Task) -> pd.DataFrame:
        return pd.DataFrame({"a": [0.25] * len(x), "b": [0.75] * len(x)})

    task_dir, out = _task_folder(tmp_path / "task"), tmp_path / "out"
    assert harness.run_adapter(fit, predict, lambda m: {"version": "toy 1"}, ["--task", str(task_dir),
                                                                              "--out", str(out)]) == 0
    assert seen["c"] == ["1", "2", "NA", "1"]  # nominal values stay text; "NA" is not missing
    assert list(pd.read_csv(out / "predictions.csv").columns) == ["proba_a", "proba_b"]
    result = json.loads((out / "result.json").read_text())
    assert result["status"] == "ok" and result["info"] == {"version": "toy 1"} and result["predict_row_ms"] >= 0


def test_harness_records_further_measurements_and_survives_their_failure(tmp_path: Path) -> None:
    def predict(model: str, x: pd.DataFrame, task: harness.Task) -> pd.DataFrame:
        return pd.DataFrame({"a": [0.5] * len(x), "b": [0.5] * len(x)})

    task_dir = _task_folder(tmp_path / "task")
    for name, measure, expected in [("ok", lambda m, t: {"onnx_row_ms": 0.5}, {"onnx_row_ms": 0.5}),
                                    ("broken", lambda m, t: 1 / 0, {"measure_error": "ZeroDivisionError: division by zero"})]:
        out = tmp_path / name
        assert harness.run_adapter(lambda t, w: "model", predict, lambda m: {"version": "toy 1"},
                                   ["--task", str(task_dir), "--out", str(out)], measure=measure) == 0
        result = json.loads((out / "result.json").read_text())
        assert result["status"] == "ok" and result["info"] == {"version": "toy 1", **expected}


def test_detail_values_reads_numbers_from_the_details_column() -> None:
    runs = pd.DataFrame({"details": ["best=ensemble; onnx_row_ms=0.52; trials=9", "onnx=not exportable: x", "",
                                     "onnx_row_ms=1e-3"]})
    values = report.detail_values(runs, "onnx_row_ms")
    assert values.iloc[0] == 0.52 and values.iloc[3] == 0.001 and values.iloc[1:3].isna().all()


def test_harness_reports_a_failing_fit(tmp_path: Path) -> None:
    def fit(task: harness.Task, workdir: Path) -> None:
        raise RuntimeError("no luck")

    task_dir, out = _task_folder(tmp_path / "task"), tmp_path / "out"
    assert harness.run_adapter(fit, lambda *a: None, None, ["--task", str(task_dir), "--out", str(out)]) == 1
    result = json.loads((out / "result.json").read_text())
    assert result["status"] == "error" and "RuntimeError: no luck" in result["error"]


@pytest.mark.slow
def test_contained_process_group_is_killed_at_the_limit(tmp_path: Path) -> None:
    child = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); " \
            "time.sleep(60)"
    outcome = run_contained([sys.executable, "-c", child], timeout=1.0, log=tmp_path / "log")
    assert outcome.timed_out and outcome.returncode != 0 and outcome.peak_rss_mb > 0
    # two processes sharing the interpreter's pages: their PSS adds up to less than their RSS
    assert 0 < outcome.peak_pss_mb < outcome.peak_rss_mb


@pytest.mark.slow  # starts processes: seconds
def test_memory_after_the_measuring_mark_does_not_count_in_the_peak(tmp_path: Path) -> None:
    """Our adapter exports to ONNX after its fit and predictions (the peers do nothing of the kind): the peak memory
    recorded stops at the mark it leaves, so the figures compare the fits."""
    mark = tmp_path / "measuring"
    child = (f"import pathlib, time; import numpy as np; time.sleep(0.6); pathlib.Path({str(mark)!r}).touch(); "
             "time.sleep(0.3); block = np.ones(40_000_000); time.sleep(0.8)")  # 320 MB after the mark
    outcome = run_contained([sys.executable, "-c", child], timeout=30.0, log=tmp_path / "log", peak_until=mark)
    assert outcome.returncode == 0 and 0 < outcome.peak_rss_mb < 200


def test_pss_splits_the_pages_a_forked_child_shares_with_its_parent() -> None:
    block = np.ones(20_000_000 // 8)  # 20 MB touched by the parent, inherited by the child
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child keeps the inherited pages mapped until told to go
        os.close(write)
        os.read(read, 1)
        os._exit(0)
    try:
        os.close(read)
        parent_rss, parent_pss = process_memory_bytes(os.getpid())
        child_rss, child_pss = process_memory_bytes(child)
        assert parent_rss > block.nbytes and child_rss > block.nbytes
        # the 20 MB count fully in each RSS, half in each PSS
        assert parent_pss < parent_rss - block.nbytes / 3 and child_pss < child_rss - block.nbytes / 3
        assert group_memory_bytes(-1) == (0, 0) and process_memory_bytes(2**22 + 1) == (0, 0)
    finally:
        os.write(write, b"x")
        os.waitpid(child, 0)


@pytest.mark.slow
def test_an_interrupted_runner_ends_the_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    child = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.alarm(1)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_contained([sys.executable, "-c", child], timeout=60.0, log=tmp_path / "log")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert group_rss_bytes(int(pid_file.read_text())) == 0


def _tiny_suite(folder: Path) -> Path:
    """A suite folder with one binary dataset of 120 rows (``toy``) and its manifest."""
    rng = np.random.default_rng(0)
    data = pd.DataFrame({"x": rng.normal(size=120), "c": rng.choice(["u", "v"], size=120)})
    data["y"] = np.where(data["x"] + rng.normal(scale=0.5, size=120) > 0, "yes", "no")
    folder.mkdir()
    data.to_csv(folder / "toy.csv.gz", index=False)
    (folder / "manifest.json").write_text(json.dumps([{"name": "toy", "file": "toy.csv.gz", "task": "binary",
                                                       "target": "y", "categorical_columns": ["c", "y"]}]))
    return folder


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Mean of empty slice")  # one system: no normalised score to take a median of
def test_smoke_run_on_a_tiny_suite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOML_DATASETS", str(_tiny_suite(tmp_path / "suite")))
    monkeypatch.setenv("AUTOML_BENCH_VENVS", str(tmp_path / "no-venvs"))
    monkeypatch.setattr(systems, "BASELINES", ("lgbm",))  # one real subprocess keeps the test short
    main(["--systems", "flaml", "--budget", "5", "--seeds", "0", "--cores", "1", "--results-dir", str(tmp_path)])
    frame = read_records(tmp_path / "bench_openml_5s.csv", RunRow).set_index("system")
    assert frame.at["lgbm", "status"] == "ok" and frame.at["lgbm", "score"] > 0.7
    assert frame.at["flaml", "status"] == "not_installed"
    assert (tmp_path / "bench_openml_5s.md").exists() and (tmp_path / "bench_openml_5s_scores.png").exists()


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Mean of empty slice")  # no LightGBM: no normalised score
def test_smoke_run_of_a_variant_on_the_extra_suite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOML_DATASETS_EXTRA", str(_tiny_suite(tmp_path / "suite")))
    monkeypatch.setenv("AUTOML_DATASETS", str(tmp_path / "not-this-one"))
    monkeypatch.setattr(systems, "BASELINES", ())  # only the variant: a few seconds
    name = "automl[search=defaults;portfolio=none]"
    # 6 s, not 3: on a loaded machine 3 s left a fit with no finished trial (a constant, AUC 0.5) now and then
    main(["--suite", "extra", "--systems", name, "--budget", "6", "--seeds", "0", "--cores", "1",
          "--results-dir", str(tmp_path)])
    row = read_records(tmp_path / "bench_extra_6s.csv", RunRow).set_index("system").loc[name]
    assert row["status"] == "ok" and row["score"] > 0.7, row["error"]
    assert 'options={"search":"defaults","portfolio":null}' in row["details"]
    assert f"| {name} |" in (tmp_path / "bench_extra_6s.md").read_text()


def test_ties_are_relative_to_the_scale_of_the_metric() -> None:
    assert compare("rmse", 0.002205, 0.002238) == "beat"  # elevators: 1.5 % better is no tie
    assert compare("rmse", 30000.0, 30002.0) == "tie"
    assert compare("roc_auc", 0.80001, 0.8) == "tie"
    assert compare("log_loss", 0.5, 0.4) == "loss"


def test_benchmark_details_count_trials_stopped_at_their_limit_and_those_that_never_scored():
    board = pd.DataFrame({"status": ["ok", "timeout", "timeout", "timeout", "skipped"], "n_folds": [5, 0, 1, 0, 0],
                          "error": [None, "stopped at its deadline (time budget)", "stopped after 1 of 5 folds: ...",
                                    "stopped during fold 1 of 5: ...", "not started: ..."]})
    assert automl_adapter._stopped(board) == {"timeouts": 3, "in_flight": 1, "killed_unscored": 1}
    # a leaderboard without fold counts: nothing claimed
    assert automl_adapter._stopped(pd.DataFrame({"status": ["ok"]})) == {}


def test_the_histogram_boosting_baseline_takes_a_category_of_more_levels_than_it_bins() -> None:
    from benchmarks.adapters import baselines

    rng = np.random.default_rng(0)
    n = 1_200
    codes = rng.integers(0, 300, n)  # 300 levels: more than HistGradientBoosting takes as categories
    x = pd.DataFrame({"code": [f"c{c}" for c in codes], "plan": rng.choice(["a", "b"], n), "num": rng.normal(size=n)})
    y = pd.Series(np.where((codes % 2 == 0) ^ (x["num"] > 0), "yes", "no"))
    spec = {"task": "binary", "seed": 0, "cores": 1, "categorical_columns": ["code", "plan"]}
    task = harness.Task(spec, x.iloc[:1_000], y.iloc[:1_000], x.iloc[1_000:])
    model = baselines.fit(replace(task, options={"model": "hgb"}), Path("."))
    encoded = model.encode(task.x_test)
    assert encoded["code"].dtype == float and encoded["plan"].dtype == "category"  # codes above 255 levels only
    proba = baselines.predict(model, task.x_test, task)
    assert proba.shape == (200, 2) and list(proba.columns) == ["no", "yes"]


def test_portfolio_entries_reads_entries_and_their_family_defaults_off_a_leaderboard():
    import json

    from benchmarks.portfolio_entries import entry_of, entry_rows

    entries = [{"family": "linear", "params": {"C": 0.1, "alpha": 10.0}},
               {"family": "extra_trees", "params": {"n_estimators": 300, "max_features": 1.0}}]
    assert entry_of("linear", {"alpha": 10.0}, entries) == 0  # the classifier's C dropped for regression
    assert entry_of("linear", {"alpha": 1.0}, entries) is None and entry_of("extra_trees", {}, entries) is None
    board = pd.DataFrame({"trial": [0, 1, 2, 3, 4], "family": ["linear", "extra_trees", "linear", "extra_trees",
                                                               "ensemble"],
                          "params": [json.dumps(p) for p in ({}, {}, {"alpha": 10.0}, {"n_estimators": 300,
                                                             "max_features": 1.0}, {})],
                          "score": [2.0, 1.0, 2.1, 0.9, 0.8], "status": ["ok"] * 5, "duration": [1.0] * 5})
    rows = entry_rows(board, entries, {"3": 1.0}, greater_is_better=False)
    assert list(rows.kind) == ["default", "default", "entry 0", "entry 1"]
    assert list(rows.weight) == [0.0, 0.0, 0.0, 1.0]
    assert list(rows.family_default_behind_pct) == [100.0, 0.0, 100.0, 0.0]  # RMSE 2.0 against the best 1.0


def test_family_rank_places_a_family_among_the_defaults_on_the_error_scale():
    from benchmarks.family_rank import rank, report

    candidates = pd.DataFrame({
        "dataset": ["auc"] * 3 + ["rmse"] * 2, "metric": ["roc_auc"] * 3 + ["rmse"] * 2,
        "greater_is_better": [True] * 3 + [False] * 2,
        "config": ["linear_defaults", "catboost_defaults", "catboost_depth8", "linear_defaults", "knn_defaults"],
        "family": ["linear", "catboost", "catboost", "linear", "knn"], "status": ["ok"] * 5,
        "score": [0.80, 0.90, 0.99, 4.0, 5.0], "duration_s": [1.0, 2.0, 9.0, 1.0, 1.0]})
    measured = pd.DataFrame({"dataset": ["auc", "rmse", "unmeasured"], "task": ["binary", "regression", "binary"],
                             "rows": [100, 200, 50], "columns": [3, 4, 2], "numeric_share": [1.0, 0.5, 1.0],
                             "score": [0.85, 3.0, 0.5], "seconds": [8.0, 3.0, 1.0]})
    table = rank(measured, candidates, "torch_mlp").set_index("dataset")
    assert list(table.index) == ["auc", "rmse"]  # a table the portfolio did not measure is not ranked
    # the entry (catboost_depth8) is not a default: 0.85 is second of three defaults, 50 % behind in 1 - AUC
    assert table.loc["auc", "rank"] == 2 and table.loc["auc", "families"] == 3
    assert table.loc["auc", "best_other"] == "catboost" and table.loc["auc", "behind_pct"] == pytest.approx(50.0)
    assert table.loc["auc", "seconds_ratio"] == pytest.approx(4.0)
    assert table.loc["rmse", "rank"] == 1 and table.loc["rmse", "behind_pct"] == pytest.approx(-25.0)
    assert "| 2 | 1 | 1 |" in report(table.reset_index(), "torch_mlp")  # two tables, best on one, within 1 % on one
    # a family ranked is not compared with its own default: without catboost, 0.85 beats linear's 0.80
    assert rank(measured, candidates, "catboost").set_index("dataset").loc["auc", "best_other"] == "linear"


def test_machine_reference_times_a_real_fit_and_tells_machines_of_other_speeds_apart():
    from benchmarks.machine_speed import reference_seconds, speed_mismatch
    from benchmarks.paired import paired_table, render

    assert 0.0 < reference_seconds(cores=1, rows=2_000, repeats=1) < 60.0
    rows = [_row("auc", "roc_auc", "a", 0.9, seed=s) for s in (0, 1)] + [
        _row("auc", "roc_auc", "b", 0.8, seed=s) for s in (0, 1)]
    frame = pd.DataFrame([asdict(r) for r in rows])
    assert "no machine reference recorded for `a`, `b`" in speed_mismatch(frame, "a", "b")
    frame["machine_ref_s"] = [1.0, 1.1, 1.05, 1.2]  # within 25 %: one machine
    assert speed_mismatch(frame, "a", "b") is None
    frame["machine_ref_s"] = [1.0, 1.0, 2.0, 2.1]  # b's rows carried over from a machine twice as slow
    warning = speed_mismatch(frame, "a", "b")
    assert warning is not None and "1.00 s for `a`, 2.05 s for `b` (2.0x)" in warning
    assert f"**Warning**: {warning}." in render(paired_table(frame, "a", "b"), "a", "b", warning)


def test_the_run_report_warns_when_its_systems_rows_come_from_machines_of_other_speeds():
    from benchmarks.machine_speed import report_warning

    rows = [_row("auc", "roc_auc", system, 0.9, seed=s) for system in ("automl", "lgbm", "peer") for s in (0, 1)]
    frame = pd.DataFrame([asdict(r) for r in rows])
    assert report_warning(frame) is None  # no row carries a reference: nothing to compare
    frame["machine_ref_s"] = [0.5, 0.52, 0.5, 0.5, 0.55, 0.6]  # one machine
    assert report_warning(frame) is None
    assert "Machine speed warning" not in summary.render(frame, "t")
    frame["machine_ref_s"] = [0.5, 0.52, 0.5, 0.5, 0.25, 0.26]  # the peer's rows carried over from a faster machine
    warning = report_warning(frame)
    assert warning is not None and "`peer` 0.26 s" in warning and "; 2.0x)" in warning
    frame.loc[frame["system"] == "peer", "machine_ref_s"] = float("nan")  # ... or from before the reference existed
    warning = report_warning(frame)
    assert warning is not None and "the rows of `peer` carry no machine reference" in warning
    assert "come from machines" not in warning
    assert warning in summary.render(frame, "t")
