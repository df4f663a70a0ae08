"""Command line, production side: ``automl export | serve | monitor | compare | report``.

Kept apart from :mod:`automl.cli` (fit, predict, search) so each file has one job; :func:`add_commands`
adds the sub-commands to its parser and :data:`COMMANDS` maps them to their functions.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any


def add_commands(sub: Any) -> None:
    """Add the production sub-commands to the ``automl`` parser's sub-parsers."""
    export = sub.add_parser("export", help="export a model folder to ONNX (parity-checked in onnxruntime)")
    export.add_argument("model", help="model folder written by 'automl fit'")
    export.add_argument("--format", choices=["onnx"], default="onnx")
    export.add_argument("--out", default="model.onnx", help="file to write (default model.onnx)")
    export.add_argument("--data", default=None,
                        help="rows to check parity on (default: the training sample kept in the folder)")
    export.add_argument("--tolerance", type=float, default=1e-5)


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


COMMANDS = {"export": cmd_export}
