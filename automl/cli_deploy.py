"""Command line, production side: ``automl export | serve | monitor | compare | report``.

Kept apart from :mod:`automl.cli` (fit, predict, search) so each file has one job; :func:`add_commands`
adds the sub-commands to its parser and :data:`COMMANDS` maps them to their functions.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

# `automl serve`'s processes when --workers is not given: one per usable core, at most this many (on 2 cores, 2
# processes answered 387 single-row requests/s at p99 19 ms against one's 217/s at 34 ms: README, serve_load.md)
MAX_DEFAULT_WORKERS = 4


def add_commands(sub: Any) -> None:
    """Add the production sub-commands to the ``automl`` parser's sub-parsers."""
    export = sub.add_parser("export", help="export a model folder to ONNX (parity-checked in onnxruntime)")
    export.add_argument("model", help="model folder written by 'automl fit'")
    export.add_argument("--format", choices=["onnx"], default="onnx")
    export.add_argument("--out", default="model.onnx", help="file to write (default model.onnx)")
    export.add_argument("--data", default=None,
                        help="rows to check parity on (default: the training sample kept in the folder)")
    export.add_argument("--tolerance", type=float, default=1e-5)

    serve = sub.add_parser("serve", help="serve a model folder over HTTP (FastAPI + uvicorn)")
    serve.add_argument("model", help="model folder written by 'automl fit'")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--token", default=None, help="require 'Authorization: Bearer TOKEN' (also $AUTOML_TOKEN)")
    serve.add_argument("--log", default=None, help="JSON-lines file receiving one line per predicted row")
    serve.add_argument("--max-rows", type=int, default=10_000, help="most rows per request (default 10000)")
    serve.add_argument("--max-bytes", type=int, default=10 * 1024 * 1024, help="largest body (default 10 MB)")
    serve.add_argument("--challenger", default=None, help="second model folder for an A/B test")
    serve.add_argument("--split", type=float, default=0.0, help="share of requests the challenger answers")
    serve.add_argument("--onnx", default=None, help="predict with this ONNX export of the model (onnxruntime)")
    serve.add_argument("--workers", type=int, default=None,
                       help="server processes, each with its own copy of the model (default: one per usable core, "
                            f"at most {MAX_DEFAULT_WORKERS}); they share the port, the request log and /metrics")

    monitor = sub.add_parser("monitor", help="drift of logged requests against the training profile; "
                                             "exit code 1 means retrain")
    monitor.add_argument("model", help="model folder written by 'automl fit'")
    monitor.add_argument("--log", required=True, help="request log written by 'automl serve --log'")
    monitor.add_argument("--labels", default=None, help="CSV of true labels: an input_hash column and the label, "
                                                        "a series model's id column and the label, or one label per "
                                                        "logged row in order")
    monitor.add_argument("--json", action="store_true", help="print the whole report as JSON")

    compare = sub.add_parser("compare", help="A/B: two models on the same labelled rows, with a paired "
                                             "bootstrap confidence interval on the metric")
    compare.add_argument("model_a", help="model folder A")
    compare.add_argument("model_b", help="model folder B")
    compare.add_argument("data", help="labelled rows (CSV, Parquet, ARFF) used to train neither model; for models "
                                      "fitted on series, their readings")
    compare.add_argument("--target", default=None, help="label column (of --labels for series)")
    _add_labelled_options(compare)
    compare.add_argument("--metric", default=None, help="built-in metric (default: model A's)")
    compare.add_argument("--n-boot", type=int, default=1000, help="bootstrap rounds (default 1000)")
    compare.add_argument("--seed", type=int, default=0)
    compare.add_argument("--json", action="store_true")

    report = sub.add_parser("report", help="one self-contained HTML report of a model folder")
    report.add_argument("model", help="model folder written by 'automl fit'")
    report.add_argument("--out", default="report.html")
    report.add_argument("--data", default=None, help="labelled held-out rows for importances and errors "
                                                     "(default: the training sample kept in the folder)")
    report.add_argument("--target", default=None, help="label column of --data (of --labels for series)")
    _add_labelled_options(report)


def _add_labelled_options(parser: argparse.ArgumentParser) -> None:
    """What labelled data is besides rows, for models fitted with related tables or on series."""
    parser.add_argument("--table", action="append", default=[], metavar="[NAME=]FILE",
                        help="a table related to the labelled rows, for a model fitted with related tables "
                             "(repeatable); named by its file name unless NAME= is given")
    parser.add_argument("--labels", default=None,
                        help="for a model fitted on series: a file with one row per series, its id column and the "
                             "label (the data file holds the readings)")


def read_labelled(path: str, args: argparse.Namespace, model: Any) -> tuple[Any, Any, Any]:
    """The labelled data of ``path`` for ``model``: rows and their labels (``--target``) with the related tables of
    ``--table``, or readings and one label per series (``--labels``, indexed by series id)."""
    from automl.cli_inputs import read_tables, series_labels
    from automl.io.readers import read_table
    from automl.model_input import SERIES, ModelInput

    frame, model_input = read_table(path), ModelInput.of(model)
    if model_input.kind == SERIES:
        if not args.labels:
            raise ValueError(f"this model was fitted on series: give their labels with --labels FILE (one row per "
                             f"series: {model_input.column_id!r} and the label)")
        return frame, series_labels(read_table(args.labels), args.labels, str(model_input.column_id),
                                    args.target), None
    if args.labels:
        raise ValueError("--labels is for a model fitted on series (automl fit-series): give the label column of "
                         f"{path} with --target")
    if not args.target or args.target not in frame.columns:
        raise ValueError(f"give --target, a column of {path}: {list(frame.columns)}")
    y = frame.pop(args.target)
    return frame, y, read_tables(args.table, model)


def cmd_export(args: argparse.Namespace) -> int:
    from automl.io.onnx import NotExportable, export_model
    from automl.io.readers import read_table

    data = read_table(args.data) if args.data else None
    try:
        parity = export_model(args.model, args.out, data=data, tolerance=args.tolerance)
    except NotExportable as exc:
        print(f"error: not exported: {exc}", file=sys.stderr)
        return 3
    print(f"model written to {args.out}: onnxruntime matches the pipeline on {parity.rows} rows "
          f"(max difference {parity.max_abs_diff:.2g}, tolerance {args.tolerance:g})")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import os

    from automl.serve.app import create_app, serve_workers

    from automl._resources import available_cpus

    workers = min(available_cpus(), MAX_DEFAULT_WORKERS) if args.workers is None else args.workers
    if workers < 1:
        raise ValueError(f"--workers {workers}: give at least one server process")
    token = args.token or os.environ.get("AUTOML_TOKEN")
    options = dict(model=args.model, token=token, log=args.log, max_rows=args.max_rows, max_bytes=args.max_bytes,
                   challenger=args.challenger, split=args.split, onnx=args.onnx)
    app = create_app(**options)  # also checks the folders before any worker starts
    print(f"automl: serving {args.model} (version {app.state.service.primary.version}) on "
          f"http://{args.host}:{args.port}{' with a bearer token' if token else ''}"
          f"{f' in {workers} processes' if workers > 1 else ''}", file=sys.stderr)
    if workers == 1:
        import uvicorn

        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    else:
        del app
        serve_workers(options, workers, args.host, args.port)
    return 0


def cmd_monitor(args: argparse.Namespace) -> int:
    import json

    from automl.io.persist import load
    from automl.io.readers import read_table
    from automl.model_input import ModelInput
    from automl.serve.monitor import labels_for, monitor_report, prediction_reference, read_log

    model = load(args.model)
    records = read_log(args.log, model="a")
    key = ModelInput.of(model).column_id  # a series model's labels may be joined on its id
    labels = labels_for(records, read_table(args.labels), key) if args.labels else None
    report = monitor_report(model, records, labels, reference=prediction_reference(model, args.model))
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        print(format_monitor(report))
    return 1 if report["retrain"] else 0


def format_monitor(report: dict[str, Any]) -> str:
    """The monitor report as a table per feature and a verdict line."""
    import pandas as pd

    table = pd.DataFrame([{"column": n, "role": d["role"], "n": d["n"], "psi": d["psi"],
                           "ks_stat": d["ks_statistic"], "ks_p": d["ks_pvalue"], "drifted": d["drifted"]}
                          for n, d in report["features"].items()])
    lines = [f"{report['rows']} logged rows", table.to_string(index=False, float_format=lambda v: f"{v:.4g}")]
    predicted, score = report["predictions"], report["score"]
    if predicted:
        lines.append(f"predictions vs {predicted['reference']}: PSI {predicted['psi'] or 0:.4f}")
    if score:
        lines.append(f"score: live {score['metric']} {score['live']:.4f} vs validation {score['validation']:.4f}")
    verdict = "RETRAIN: " + "; ".join(report["reasons"]) if report["retrain"] else "no drift beyond the thresholds"
    return "\n".join(lines + [verdict])


def cmd_compare(args: argparse.Namespace) -> int:
    import json

    from automl.io.persist import load
    from automl.model_input import ModelInput
    from automl.serve.compare import comparable_input, compare_models

    model_a, model_b = load(args.model_a), load(args.model_b)
    comparable_input(model_a, model_b)
    # the data is read for the model that synthesises features, if either does (the other reads the rows alone)
    reader = model_b if ModelInput.of(model_b).synthesised and not ModelInput.of(model_a).synthesised else model_a
    frame, y, tables = read_labelled(args.data, args, reader)
    result = compare_models(model_a, model_b, frame, y, metric=args.metric, n_boot=args.n_boot,
                            random_state=args.seed, tables=tables)
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
        return 0
    print(f"{result.rows} rows, metric {result.metric} ({'higher' if result.greater_is_better else 'lower'} "
          f"is better)\nA {args.model_a}: {result.score_a:.4f}\nB {args.model_b}: {result.score_b:.4f}\n"
          f"B - A: {result.difference:+.4f}, {result.confidence:.0%} paired bootstrap interval "
          f"[{result.ci_low:+.4f}, {result.ci_high:+.4f}] ({result.n_boot} resamples)\n{result.verdict}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from automl.io.persist import load
    from automl.io.report import write_report

    data = tables = None
    if args.data:
        frame, y, tables = read_labelled(args.data, args, load(args.model))
        data = (frame, y)
    elif args.table or args.labels:
        raise ValueError("--table and --labels describe --data: give the labelled rows with --data FILE")
    path = write_report(args.model, args.out, data, tables)
    print(f"report written to {path} ({path.stat().st_size // 1024} kB)")
    return 0


COMMANDS = {"export": cmd_export, "serve": cmd_serve, "monitor": cmd_monitor, "compare": cmd_compare,
            "report": cmd_report}
