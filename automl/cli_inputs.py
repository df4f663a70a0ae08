"""What the commands read besides the main data file: related tables (``--table``) and series labels, shared by
the fitting commands (:mod:`automl.cli`) and the deployment ones (:mod:`automl.cli_deploy`)."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas is imported by what reads the files: `automl --help` stays fast
    import pandas as pd

TABLE_HOW = "give each with --table [NAME=]FILE (a table is named by its file name unless NAME= is given)"


def add_table_options(parser: argparse.ArgumentParser) -> None:
    """``--table [NAME=]FILE`` (repeatable) on a command's parser."""
    parser.add_argument("--table", action="append", default=[], metavar="[NAME=]FILE",
                        help="a table related to DATA (repeatable); named by its file name unless NAME= is given")


def read_tables(specs: list[str], model: Any) -> dict[str, pd.DataFrame] | None:
    """The related tables of ``--table`` options, checked against what ``model`` was fitted with (None: none)."""
    from automl.model_input import ModelInput

    tables = read_table_files(specs) if specs else None
    ModelInput.of(model).check_tables(tables, TABLE_HOW)
    return tables


def read_table_files(specs: list[str]) -> dict[str, pd.DataFrame]:
    """The tables of ``--table [NAME=]FILE`` options, by name."""
    from automl.io.readers import read_table

    tables = {}
    for spec in specs:
        name, _, path = spec.rpartition("=")
        tables[name or _table_name(path)] = read_table(path)
    return tables


def _table_name(path: str) -> str:
    """``data/sessions.csv.gz`` -> ``sessions``."""
    return Path(path).name.split(".")[0]


def series_labels(labels: pd.DataFrame, path: str, column_id: str, target: str | None) -> pd.Series:
    """One label per series from a labels file (the id column and the target), indexed by series id."""
    if column_id not in labels.columns:
        raise ValueError(f"{path} has no column {column_id!r} (the series id); its columns are {list(labels.columns)}")
    target = target or next((c for c in labels.columns if c != column_id), None)
    if target is None or target not in labels.columns:
        raise ValueError(f"{path} needs a target column besides {column_id!r} (or give --target)")
    return labels.set_index(column_id)[target]
