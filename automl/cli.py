"""Command line: ``automl fit | predict | leaderboard | profile | validate | worker | refit`` (and, from
:mod:`automl.cli_deploy`, ``export | serve | monitor | compare | report``)."""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automl.cli_inputs import add_table_options, read_table_files, read_tables, series_labels

if TYPE_CHECKING:
    import pandas as pd

# Exit codes, the same for every command (listed by ``automl --help``).
EXIT_OK = 0
EXIT_RETRAIN = 1  # monitor: drift or a worse live score, retrain; validate: a rule of severity error failed
EXIT_USAGE = 2  # the command line itself is wrong (argparse)
EXIT_NOT_EXPORTABLE = 3  # export: the model has no faithful ONNX graph
EXIT_DATA = 4  # a file, a column or a value is wrong: the message says which and what to do
EXIT_NO_MODEL = 5  # fit found no model (only a constant predictor) and --allow-constant was not given
EXIT_INTERRUPTED = 130  # Ctrl-C
EXIT_CODES = f"""exit codes:
  {EXIT_OK}    done
  {EXIT_RETRAIN}    monitor: retrain (drift or a worse live score); validate: a rule of severity error failed
  {EXIT_USAGE}    usage: the command line is wrong
  {EXIT_NOT_EXPORTABLE}    export: the model has no faithful ONNX graph (nothing written)
  {EXIT_DATA}    data error: a file, column or value is wrong (the message names it)
  {EXIT_NO_MODEL}    fit found no model, only a constant predictor (nothing written; --allow-constant keeps it)
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C)"""


def _memory_limit(text: str) -> float | str | None:
    if text in ("auto", "none"):
        return None if text == "none" else text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give gigabytes, 'auto' or 'none'") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give a positive number of gigabytes")
    return value


def _parallel_trials(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of trials from 1, or 'auto'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of trials from 1, or 'auto'")
    return value


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give a positive number of seconds")
    return value


def _add_search_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--time-budget", type=_positive_seconds, default=60.0,
                        help="seconds for the whole command, counted from the start of the process: reading the "
                             "data, the fit and writing the model (default 60)")
    parser.add_argument("--metric", default=None, help="metric name (default: roc_auc / log_loss / rmse)")
    parser.add_argument("--extra-metrics", default=None, metavar="NAMES",
                        help="further metrics for the leaderboard, comma-separated (e.g. accuracy,f1_macro)")
    parser.add_argument("--calibration", choices=["sigmoid", "isotonic"], default=None,
                        help="calibrate the final model's probabilities on its out-of-fold predictions")
    parser.add_argument("--threshold", default=None, metavar="METRIC",
                        help="binary: tune the decision threshold for this label metric (e.g. balanced_accuracy)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--task", choices=["binary", "multiclass", "regression"], default=None,
                        help="override the inferred task")
    parser.add_argument("--search", choices=["bayes", "random", "grid", "defaults"], default="bayes")
    parser.add_argument("--cv", type=_cv_value, default=None,
                        help="folds (an integer from 2), a holdout fraction in (0, 1), or 'holdout'")
    parser.add_argument("--max-trials", type=int, default=None)
    parser.add_argument("--families", default=None, help="comma-separated model families to search")
    parser.add_argument("--portfolio", default="default",
                        help="configurations tried before tuning: 'default' (configs/portfolio.yaml), 'none', "
                             "or a YAML file of {family, params} entries")
    parser.add_argument("--n-jobs", type=int, default=None, help="cores (default: all this process may use)")
    parser.add_argument("--parallel-trials", type=_parallel_trials, default="auto",
                        help="trials running at once, each on its share of the cores ('auto': one per core on "
                             "small data, one at a time on larger data; 1: one after the other, repeatable)")
    parser.add_argument("--storage", default=None, help="Optuna storage URL, e.g. sqlite:///runs/study.db")
    parser.add_argument("--study", default=None, help="study name in the storage")
    parser.add_argument("--test-size", type=_test_size, default=None,
                        help="rows held back for the acceptance test: a fraction (0.2) or a count")
    parser.add_argument("--time-column", default=None,
                        help="column ordering the rows in time: latest rows tested, forward-chaining folds")
    parser.add_argument("--checks", default=None, help="YAML file of validation rules (see automl.data.checks)")
    parser.add_argument("--memory-limit", type=_memory_limit, default="auto",
                        help="gigabytes one trial may allocate ('auto': 70%% of the memory available at the start; "
                             "'none': no limit)")
    parser.add_argument("--allow-constant", action="store_true",
                        help="write the model folder even when no trial gave a model (a constant predictor); "
                             f"without it such a fit exits with code {EXIT_NO_MODEL}")


def _test_size(text: str) -> float | int:
    number = float(text)
    return int(number) if number.is_integer() and number >= 1 else number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="automl", description="AutoML under a hard time budget.",
                                     epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"automl {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    fit = sub.add_parser("fit", help="search and fit a model on a data file")
    fit.add_argument("data", help="CSV (optionally .gz), TSV, Parquet or ARFF file")
    fit.add_argument("--target", required=True, help="name of the target column")
    fit.add_argument("--out", default="model", help="folder to write the model to (default: model/)")
    add_table_options(fit)
    fit.add_argument("--relationship", action="append", default=[], metavar="PARENT.KEY=CHILD.KEY",
                     help="how two tables link, e.g. customers.customer_id=sessions.customer_id (repeatable); "
                          "the table of DATA is named by its file name")
    fit.add_argument("--cutoff-time", default=None, help="datetime column of DATA: features use no later rows")
    _add_search_options(fit)

    series = sub.add_parser("fit-series", help="extract tsfresh features from long-format series, then search")
    series.add_argument("data", help="long-format file: one row per series id and time")
    series.add_argument("--labels", required=True, help="file with one row per series: the id column and the target")
    series.add_argument("--id", required=True, help="series id column (in both files)")
    series.add_argument("--sort", default=None, help="time / order column of the series")
    series.add_argument("--target", default=None, help="target column of --labels (default: its other column)")
    series.add_argument("--out", default="model", help="folder to write the model to (default: model/)")
    _add_search_options(series)

    predict = sub.add_parser("predict", help="predict with a saved model")
    predict.add_argument("model", help="model folder written by 'automl fit'")
    predict.add_argument("data", help="data file with the training columns")
    predict.add_argument("--out", default=None, help="CSV to write (default: standard output)")
    predict.add_argument("--proba", action="store_true", help="also write class probabilities")
    predict.add_argument("--errors", choices=["raise", "coerce"], default="raise",
                         help="a value the model cannot read (a word in a numeric column): an error naming the "
                              "column and rows (raise, the default), or treated as missing with a warning (coerce)")
    add_table_options(predict)

    board = sub.add_parser("leaderboard", help="print the leaderboard of a saved model or of a study")
    board.add_argument("model", nargs="?", help="model folder written by 'automl fit'")
    board.add_argument("--storage", default=None, help="read the study in this Optuna storage instead")
    board.add_argument("--study", default=None, help="study name in the storage")
    board.add_argument("--top", type=int, default=None, help="only the best N rows")

    profile = sub.add_parser("profile", help="print per-column statistics of a data file")
    profile.add_argument("data", help="CSV (optionally .gz), TSV, Parquet or ARFF file")
    profile.add_argument("--target", default=None, help="target column, profiled with its task")
    profile.add_argument("--html", default=None, help="also write the profile as an HTML page")

    validate = sub.add_parser("validate", help="check a data file against rules; exit 1 when an error rule fails")
    validate.add_argument("data", help="CSV (optionally .gz), TSV, Parquet or ARFF file")
    validate.add_argument("--checks", default=None, help="YAML file of rules (built-in rules always run)")
    validate.add_argument("--target", default=None, help="target column (checked: present, not constant)")

    worker = sub.add_parser("worker", help="join a study started by 'automl fit --storage' and run trials")
    _add_study_options(worker)
    worker.add_argument("--time-budget", type=float, default=None,
                        help="stop earlier than the study's shared deadline")

    refit = sub.add_parser("refit", help="refit the best trial of a study and write a model folder")
    _add_study_options(refit)
    refit.add_argument("--time-budget", type=float, default=600.0, help="seconds for the refit (default 600)")
    refit.add_argument("--out", default="model", help="folder to write the model to (default: model/)")
    from automl.cli_deploy import add_commands

    add_commands(sub)
    for command in sub.choices.values():
        _add_output_options(command)
    return parser


def _version() -> str:
    from automl import __version__

    return __version__


# Commands that print a result a program may want as JSON.
JSON_COMMANDS = ("fit", "fit-series", "leaderboard", "profile", "validate")


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    """``-v`` / ``-q`` on every command (and ``--json`` where it prints a result)."""
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more output: fits print the engine's log (refits, cleaning); other commands log INFO")
    parser.add_argument("-q", "--quiet", action="store_true", help="only errors: no progress lines, no warnings")
    if parser.prog.split()[-1] in JSON_COMMANDS:
        parser.add_argument("--json", action="store_true", help="print the result as one JSON object")


# how a command is given related tables, for the messages of automl.model_input.ModelInput.check_tables
def _relationship(text: str) -> tuple[str, str, str, str]:
    try:
        parent, child = text.split("=")
        (parent_table, parent_key), (child_table, child_key) = parent.split(".", 1), child.split(".", 1)
    except ValueError:
        raise ValueError(f"--relationship {text!r}: write it as parent_table.key=child_table.key") from None
    return parent_table, parent_key, child_table, child_key


def _add_study_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", nargs="?", default=None,
                        help="data file (default: the file 'automl fit' read, as recorded in the study)")
    parser.add_argument("--target", default=None, help="target column (default: as recorded in the study)")
    parser.add_argument("--storage", required=True, help="Optuna storage URL of the study")
    parser.add_argument("--study", required=True, help="study name")


def _cv_value(text: str | None) -> Any:
    if text is None or text == "holdout":
        return text
    try:
        number = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of folds (2 or more), a holdout fraction in "
                                         "(0, 1), or 'holdout'") from None
    if number.is_integer() and number >= 2:
        return int(number)
    if 0 < number < 1:
        return number
    raise argparse.ArgumentTypeError(f"{text!r}: give a number of folds (2 or more) or a holdout fraction in (0, 1)")


def fit_budget(total: float, started: float) -> float:
    """The fit's share of the command's budget (the time planner's rule)."""
    from automl.search.planner import command_fit_seconds

    return command_fit_seconds(total, started)


def cmd_fit(args: argparse.Namespace) -> int:
    from automl.io.persist import save
    from automl.io.readers import read_table

    started = args.started
    _check_before_fit(args)
    _start_trial_server()
    frame = read_table(args.data)
    if args.target not in frame.columns:
        raise ValueError(f"no column {args.target!r} in {args.data}; columns are {list(frame.columns)}")
    y = frame.pop(args.target)
    model = _search_model(args, fit_budget(args.time_budget, started))
    if _fit_verbosity(args):  # not with -q (only errors) or --json
        print(f"automl: {len(frame)} rows x {frame.shape[1]} columns from {args.data}; target {args.target!r}; "
              f"budget {args.time_budget:g}s", file=sys.stderr)
    if args.table:
        model.fit(frame, y, tables=read_table_files(args.table), cutoff_time=args.cutoff_time,
                  relationships=[_relationship(r) for r in args.relationship])
    else:
        # recorded in the study, so that 'automl worker' on another machine can read the same file
        model.fit(frame, y, data_source={"path": str(Path(args.data).resolve()), "target": args.target})
    if _no_model(model, args):
        return EXIT_NO_MODEL
    # the training sample (export check, report, monitor) is kept when the rows alone make the model's input
    out = save(model, args.out, data=None if args.table else (frame, y))
    _print_summary(model, out, time.monotonic() - started, getattr(args, "json", False))
    return 0


def cmd_fit_series(args: argparse.Namespace) -> int:
    from automl.io.persist import save
    from automl.io.readers import read_table

    started = args.started
    _check_before_fit(args)
    _start_trial_server()
    readings = read_table(args.data)
    y = series_labels(read_table(args.labels), args.labels, args.id, args.target)
    model = _search_model(args, fit_budget(args.time_budget, started))
    print(f"automl: {readings[args.id].nunique()} series, {len(readings)} rows from {args.data}; target {y.name!r}; "
          f"budget {args.time_budget:g}s", file=sys.stderr)
    model.fit_series(readings, y, column_id=args.id, column_sort=args.sort)
    if _no_model(model, args):
        return EXIT_NO_MODEL
    out = save(model, args.out)
    _print_summary(model, out, time.monotonic() - started, getattr(args, "json", False))
    return 0


def _fit_verbosity(args: argparse.Namespace) -> int:
    """``AutoML(verbose=...)`` for a fitting command: progress lines unless ``-q``, the engine's log with ``-v``."""
    if getattr(args, "quiet", False) or getattr(args, "json", False):
        return 0
    return 1 + int(getattr(args, "verbose", 0) > 0)


def _check_before_fit(args: argparse.Namespace) -> None:
    """What can fail cheaply fails before the data is read and the budget spent: the output folder, the data
    file, the model families, the portfolio and rules files, the metric and the storage."""
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {args.out}: a file of that name exists; the model is a folder. Give another path")
    parent = out.resolve().parent
    while not parent.exists():
        parent = parent.parent
    if not os.access(parent, os.W_OK):
        raise ValueError(f"--out {args.out}: cannot create the folder here ({parent} is not writable)")
    for path in [args.data, *(spec.rpartition("=")[2] for spec in getattr(args, "table", []))]:
        if not Path(path).is_file():
            raise FileNotFoundError(f"no such file: {path}")
    if args.families:
        from automl.models.registry import all_families

        unknown = [n for n in args.families.split(",") if n not in all_families() and n != "exportable"]
        if unknown:
            raise ValueError(f"--families: unknown model families {unknown}; known: {sorted(all_families())}")
    for option, path in (("--portfolio", args.portfolio), ("--checks", args.checks)):
        if path not in (None, "default", "none") and not Path(path).is_file():
            raise FileNotFoundError(f"{option} {path}: no such file")
    if args.metric:
        from automl.metrics import check_metric_name

        check_metric_name(args.metric)
    if args.storage:
        from automl.search.study import open_storage

        open_storage(args.storage)


def _start_trial_server() -> None:
    """Trial processes import their libraries while the data is read."""
    from automl.search.worker import start_server

    start_server()


def _no_model(model: Any, args: argparse.Namespace) -> bool:
    """Whether the fit found no model and the user did not accept a constant predictor (then say why)."""
    if model.fit_status_ != "constant" or args.allow_constant:
        return False
    summary = model.fit_summary_
    print(f"error: no model was found: {summary['reason']}; {summary['remedy']}. Nothing was written to "
          f"{args.out} (--allow-constant writes the constant predictor)", file=sys.stderr)
    return True


def _search_model(args: argparse.Namespace, budget: float) -> Any:
    from automl import AutoML

    return AutoML(time_budget=budget, task=args.task, metric=args.metric, cv=_cv_value(args.cv), search=args.search,
                  max_trials=args.max_trials, n_jobs=args.n_jobs, random_state=args.seed,
                  families=args.families.split(",") if args.families else None,
                  portfolio=None if args.portfolio == "none" else args.portfolio, storage=args.storage,
                  study_name=args.study, verbose=_fit_verbosity(args), test_size=args.test_size,
                  time_column=args.time_column, checks=args.checks, memory_limit=args.memory_limit,
                  extra_metrics=args.extra_metrics.split(",") if args.extra_metrics else None,
                  calibration=args.calibration, threshold=args.threshold, parallel_trials=args.parallel_trials)


def _print_summary(model: Any, out: Path, wall: float, as_json: bool = False) -> None:
    if as_json:
        print(_json(_summary(model, out, wall)))
        return
    board = model.leaderboard_
    counts = board["status"].value_counts().to_dict()
    print(f"\ntask {model.task_}, metric {model.metric_.name} "
          f"({'higher' if model.metric_.greater_is_better else 'lower'} is better)")
    rows = model.row_counts_
    print(f"rows: {rows['input']} in = {rows['test']} held back for the test + {rows['duplicates_removed']} "
          f"duplicates removed + {rows['search']} searched")
    for entry in model.cleaning_:
        where = f"column {entry['column']!r}" if entry["column"] is not None else "rows"
        print(f"cleaning: {where} {entry['action']} ({entry['count']}): {entry['reason']}")
    for rule in model.validation_[~model.validation_["passed"]].itertuples():
        print(f"validation ({rule.severity}): {rule.rule}: {rule.message}")
    peak = getattr(model, "peak_memory_mb_", None)
    print(f"trials: {len(board)} ({', '.join(f'{k} {v}' for k, v in counts.items())}); "
          f"fit {model.fit_time_:.1f}s, wall with file reading {wall:.1f}s"
          + (f"; peak memory {peak:,.0f} MB" if peak else ""))
    synthesis = getattr(model, "synthesis_", None)
    if synthesis:
        print(f"synthesis: {synthesis['method']} {synthesis.get('plan') or synthesis.get('settings')}, "
              f"{synthesis['n_features_synthesised']} features in {synthesis['synthesis_time']:.1f}s "
              f"(search {synthesis['search_time']:.1f}s)")
    print(_format_board(board.head(10)))
    print(f"best: {model.best_family_} {model.best_params_} score {model.best_score_}")
    if model.acceptance_ is not None:
        acc = model.acceptance_
        verdict = "agrees" if acc["agrees"] else "DISAGREES" if acc["agrees"] is False else "no validation score"
        validation = "-" if acc["validation_score"] is None else f"{acc['validation_score']:.5g}"
        print(f"acceptance test on {acc['n_test_rows']} held-back rows: {acc['metric']} {acc['test_score']:.5g} vs "
              f"validation {validation} (tolerance {acc['tolerance'] or 0:.3g}): {verdict}")
    print(f"model written to {out}/")


def _summary(model: Any, out: Path, wall: float) -> dict[str, Any]:
    """What ``automl fit --json`` prints: the fit's result for a program."""
    board = model.leaderboard_
    return {"model": str(out), "task": model.task_, "task_reason": getattr(model, "task_reason_", None),
            "metric": model.metric_.name, "greater_is_better": model.metric_.greater_is_better,
            "status": model.fit_summary_, "best": {"trial": model.best_trial_, "family": model.best_family_,
                                                   "params": model.best_params_, "score": model.best_score_},
            "rows": model.row_counts_, "trials": board["status"].value_counts().to_dict(),
            "fit_time": model.fit_time_, "wall": wall, "peak_memory_mb": getattr(model, "peak_memory_mb_", None),
            "acceptance": model.acceptance_, "cleaning": model.cleaning_,
            "leaderboard": json_records(board.head(10))}


def json_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of a frame as JSON-ready dicts (NaN as null)."""
    import json

    return json.loads(frame.to_json(orient="records"))


def _json(value: Any) -> str:
    import json

    return json.dumps(value, default=str)


def _format_board(board: pd.DataFrame) -> str:
    from automl.search.leaderboard import COLUMNS

    # the further metrics (--extra-metrics) sit between score_std and the fixed columns that follow it
    extra = [c for c in board.columns if c not in COLUMNS and c not in ("worker", "finished_at")]
    shown = board[["rank", "trial", "family", "score", "score_std", *extra, "fit_time", "predict_time_per_1k",
                   "status", "params"]].copy()
    shown["params"] = shown["params"].astype(str).str.slice(0, 60)
    return shown.to_string(index=False, float_format=lambda v: f"{v:.4f}")


def cmd_predict(args: argparse.Namespace) -> int:
    import pandas as pd

    from automl.io.persist import load
    from automl.io.readers import read_table
    from automl.model_input import ModelInput

    model = load(args.model)
    frame = read_table(args.data)
    expected = [str(c) for c in getattr(model, "feature_names_in_", [])]
    if expected:
        missing = [c for c in expected if c not in frame.columns]
        if missing:
            raise ValueError(f"{args.data} lacks the training columns {missing}")
        extra = [c for c in frame.columns if c not in expected]
        if extra:
            print(f"automl: ignoring columns not used in training: {extra}", file=sys.stderr)
        frame = frame[expected]
    tables = read_tables(args.table, model)
    out = pd.DataFrame({"prediction": model.predict(frame, tables=tables, errors=args.errors)})
    column_id = ModelInput.of(model).column_id
    if column_id is not None:  # series: one prediction per id, in the order of the sorted ids
        out.insert(0, column_id, model._series_ids(frame))
    if args.proba and model.classes_ is not None:
        proba = model.predict_proba(frame, tables=tables, errors=args.errors)
        for i, label in enumerate(model.classes_):
            out[f"proba_{label}"] = proba[:, i]
    if args.out:
        out.to_csv(args.out, index=False)
        print(f"automl: {len(out)} predictions written to {args.out}", file=sys.stderr)
    else:
        out.to_csv(sys.stdout, index=False)
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    import pandas as pd

    if args.storage:

        from automl.search.leaderboard import build_leaderboard
        from automl.search.study import load_study

        study = load_study(args.storage, args.study)
        board = build_leaderboard(study.get_trials(deepcopy=False), study.direction.name == "MAXIMIZE")
    elif args.model:
        board = pd.read_csv(Path(args.model) / "leaderboard.csv", keep_default_na=False, na_values=[""])
    else:
        raise ValueError("give a model folder, or --storage and --study")
    if args.top:
        board = board.head(args.top)
    print(_json(json_records(board)) if args.json else _format_board(board))
    return 0


def _join_study(args: argparse.Namespace, seconds: float | None) -> tuple[Any, pd.DataFrame, pd.Series]:
    """An estimator that joins the study (its storage opened once), and the study's data. ``seconds``: the time
    budget; ``None`` for the study's shared deadline, or ``--time-budget`` when that comes first."""
    from automl import AutoML
    from automl.io.readers import read_table
    from automl.search.study import load_settings, load_study, open_storage, seconds_until

    storage = open_storage(args.storage)
    assert storage is not None
    settings = load_settings(load_study(storage, args.study))
    if seconds is None:
        limits = [v for v in (seconds_until(settings.get("deadline_unix")), args.time_budget) if v is not None]
        if not limits:
            raise ValueError("the study has no shared deadline: give --time-budget")
        seconds = min(limits)
    source = settings.get("data") or {}
    path, target = args.data or source.get("path"), args.target or source.get("target")
    if not path or not target:
        raise ValueError("the study records no data file: give the data file and --target")
    frame = read_table(path)
    y = frame.pop(target)
    params = {**settings["params"], "time_budget": seconds}
    model = AutoML(**params, storage=storage, study_name=args.study, verbose=_fit_verbosity(args))
    return model, frame, y


def cmd_worker(args: argparse.Namespace) -> int:
    model, frame, y = _join_study(args, None)
    model.work(frame, y)
    print(f"automl worker {model.worker_id_}: {model.worker_trials_} trials finished in study {args.study!r}")
    return 0


def cmd_refit(args: argparse.Namespace) -> int:
    from automl.io.persist import save

    started = time.monotonic()
    model, frame, y = _join_study(args, args.time_budget)
    model.refit_study(frame, y)
    out = save(model, args.out)
    _print_summary(model, out, time.monotonic() - started, getattr(args, "json", False))
    return 0


def cmd_profile(args: argparse.Namespace) -> int:
    import pandas as pd

    from automl.data.profile import profile_frame, profile_table
    from automl.data.schema import infer_task
    from automl.io.readers import read_table

    frame = read_table(args.data)
    target = _pop_target(frame, args.target, args.data)
    profile = profile_frame(frame, target=target, task=None if target is None else infer_task(target))
    if args.json:
        print(_json(profile))
        return 0
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_rows", 500):
        print(f"{profile['n_rows']} rows x {profile['n_columns']} columns from {args.data}")
        print(profile_table(profile).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        if profile["target"] is not None:
            t = profile["target"]
            print(f"target {t['name']!r} ({t['task']}): " + (", ".join(f"{v} {100 * s:.1f}%" for v, s in t["top"])
                                                        if "top" in t else f"mean {t['mean']:.4g}, std {t['std']:.4g}"))
    if args.html:
        from automl.io.profile_html import write_profile_html

        write_profile_html(profile, args.html, title=f"Profile of {Path(args.data).name}")
        print(f"profile written to {args.html}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    import pandas as pd

    from automl.data.checks import validate
    from automl.io.readers import read_table

    frame = read_table(args.data)
    target = _pop_target(frame, args.target, args.data)
    report = validate(frame, target, args.checks)
    errors = report[(~report["passed"]) & (report["severity"] == "error")]
    if args.json:
        print(_json({"checks": json_records(report), "failed_errors": len(errors)}))
        return 1 if len(errors) else 0
    with pd.option_context("display.width", 200, "display.max_colwidth", 100):
        print(report.to_string(index=False))
    print(f"{len(report)} checks: {int(report['passed'].sum())} passed, {len(errors)} failed with severity error, "
          f"{int((~report['passed']).sum()) - len(errors)} warnings")
    return 1 if len(errors) else 0


def _pop_target(frame: pd.DataFrame, target: str | None, path: str) -> pd.Series | None:
    if target is None:
        return None
    if target not in frame.columns:
        raise ValueError(f"no column {target!r} in {path}; columns are {list(frame.columns)}")
    return frame.pop(target)


COMMANDS = {"fit": cmd_fit, "fit-series": cmd_fit_series, "profile": cmd_profile, "validate": cmd_validate, "predict": cmd_predict, "leaderboard": cmd_leaderboard, "worker": cmd_worker,
            "refit": cmd_refit}


def process_started() -> float:
    """``time.monotonic()`` at the start of this process (interpreter start and imports included), read from
    ``/proc``; now, where that cannot be read."""
    now = time.monotonic()
    try:
        with open("/proc/self/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime") as handle:
            uptime = float(handle.read().split()[0])
        age = uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22 of stat: start time since boot
    except (OSError, ValueError, IndexError):
        return now
    return now - min(max(age, 0.0), 3600.0)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``automl`` console script; returns one of the exit codes in :data:`EXIT_CODES`."""
    started = process_started() if argv is None else time.monotonic()
    args = build_parser().parse_args(argv)
    args.started = started
    level = logging.ERROR if args.quiet else logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="automl: %(message)s")
    if args.quiet:
        import warnings

        warnings.simplefilter("ignore")
    from automl.cli_deploy import COMMANDS as DEPLOY

    try:
        return {**COMMANDS, **DEPLOY}[args.command](args)
    except KeyboardInterrupt:
        print("automl: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ValueError, TypeError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_DATA
    except ImportError as exc:  # an optional part that is not installed
        print(f"error: {missing_extra(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyError as exc:  # Optuna: no study of that name in the storage
        if "study" in str(exc).lower() or "record does not exist" in str(exc).lower():
            print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
            return EXIT_DATA
        raise


# The extra that installs each optional library (pip install "automl[<extra>]").
EXTRAS = {"fastapi": "serve", "uvicorn": "serve", "httpx": "serve", "skl2onnx": "export", "onnx": "export",
          "onnxruntime": "export", "onnxmltools": "export", "matplotlib": "report", "featuretools": "synthesis",
          "woodwork": "synthesis", "tsfresh": "synthesis", "catboost": "catboost", "torch": "torch", "psycopg2": "distributed",
          "shap": "explain"}


def missing_extra(exc: ImportError) -> str:
    """One line for a missing optional library: what it is for and the install command."""
    name = (exc.name or str(exc)).split(".")[0]
    extra = EXTRAS.get(name)
    if extra is None:
        return f"{name} is not installed ({exc}); install it with pip"
    return f"{name} is not installed: this command needs the '{extra}' extra: pip install \"automl[{extra}]\""


# Commands that start trial processes: when they end, the process exits without tearing the interpreter down
# (every file is written and closed, output flushed). The teardown of the fork server and of the numeric
# libraries takes 0.7-0.9 s, a sixth of a 5 s budget.
FAST_EXIT = ("fit", "fit-series", "worker", "refit")


def console() -> None:
    """The ``automl`` console script: :func:`main`, then exit (at once after the commands that fit)."""
    code = main()
    if len(sys.argv) > 1 and sys.argv[1] in FAST_EXIT:
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    console()
