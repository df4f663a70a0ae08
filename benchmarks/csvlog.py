"""Result CSVs that grow one dataclass row at a time, so an interrupted benchmark keeps what it finished."""
from __future__ import annotations

import csv
import math
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import pandas as pd


def append_record(path: Path, record: Any) -> None:
    """Append the dataclass ``record`` to the CSV at ``path``, writing the header first if the file is new.

    NaN floats are written as empty fields. A file written before the record gained a field is rewritten first
    with that column added (empty on its rows), so a benchmark resumed over older results keeps one header.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists() or path.stat().st_size == 0
    names = [f.name for f in fields(record)]
    if not new:
        with path.open(newline="") as handle:
            header = next(csv.reader(handle), [])
        if header != names:
            names += [name for name in header if name not in names]  # a column the record no longer has stays
            old = pd.read_csv(path, dtype=str, keep_default_na=False)
            old.reindex(columns=names, fill_value="").to_csv(path, index=False)
    with path.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=names, restval="")
        if new:
            writer.writeheader()
        writer.writerow({k: "" if isinstance(v, float) and math.isnan(v) else v for k, v in asdict(record).items()})
        handle.flush()


def read_records(path: Path, record_type: type) -> pd.DataFrame:
    """Read a CSV written by :func:`append_record`, typed by the fields of ``record_type``.

    Numeric fields become numbers (empty fields NaN); text fields become strings (empty fields ``""``). A field
    the file has no column for (written before the record gained it) is a column of NaN or ``""``. A missing file
    gives an empty frame with the right columns.

    Returns
    -------
    pandas.DataFrame
    """
    columns = [f.name for f in fields(record_type)]
    if not path.exists():
        return pd.DataFrame(columns=columns)
    numeric = {item.name for item in fields(record_type) if item.type in ("float", "int", float, int)}
    # text read as text: an all-digit commit hash (engine 7222872) must not become the number 7222872.0
    frame = pd.read_csv(path, keep_default_na=False, na_values=[""],
                        dtype={name: str for name in columns if name not in numeric})
    for name in columns:
        if name in numeric:
            frame[name] = pd.to_numeric(frame[name], errors="coerce") if name in frame else math.nan
        else:
            frame[name] = frame[name].fillna("").astype(str) if name in frame else ""
    return frame


def drop_records(path: Path, record_type: type, columns: list[str], keys: set[tuple[Any, ...]]) -> None:
    """Rewrite the CSV at ``path`` without the rows whose values in ``columns`` form one of ``keys``."""
    frame = read_records(path, record_type)
    if frame.empty:
        return
    keep = [key not in keys for key in zip(*(frame[c] for c in columns))]
    frame[keep].to_csv(path, index=False)
