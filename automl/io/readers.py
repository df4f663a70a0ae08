"""Read tables from CSV (also gzipped), TSV, Parquet and ARFF files, by extension."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

# Cells read as missing. Deliberately short: a category called "None" or "NA" in a CSV is rare, an
# empty field or OpenML's "?" is the usual spelling of missing.
MISSING_MARKERS = ["", "?", "NA", "N/A", "NaN", "nan", "null", "NULL"]


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a data file into a DataFrame.

    Supported: ``.csv``, ``.tsv``, ``.txt`` (optionally ``.gz``/``.bz2``/``.zip``/``.xz``), ``.parquet``,
    ``.arff``. ARFF nominal attributes are read as strings.

    Raises
    ------
    FileNotFoundError, ValueError
        For a missing file or an unknown extension.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".gz", ".bz2", ".zip", ".xz"):
        suffixes = suffixes[:-1]
    kind = suffixes[-1] if suffixes else ""
    if kind in (".csv", ".tsv", ".txt"):
        sep = "\t" if kind == ".tsv" else ","
        try:
            return pd.read_csv(path, sep=sep, keep_default_na=False, na_values=MISSING_MARKERS, low_memory=False,
                               compression=_compression(path))  # type: ignore[arg-type]
        except (UnicodeDecodeError, pd.errors.ParserError, EOFError, OSError) as exc:
            raise ValueError(f"cannot read {path} as {kind[1:].upper()}: {type(exc).__name__}: {exc}. Is it a text "
                             "table (optionally gzip/bz2/zip/xz compressed)?") from None
        except pd.errors.EmptyDataError:
            raise ValueError(f"{path} is empty: no header and no rows") from None
    if kind in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if kind == ".arff":
        return _read_arff(path)
    raise ValueError(f"cannot read {path.name}: use .csv, .tsv, .parquet or .arff (optionally compressed)")


# The first bytes of each compressed format: a file is read by what it holds, not only by its name (a gzip file
# saved as data.csv is common).
MAGIC = {b"\x1f\x8b": "gzip", b"BZh": "bz2", b"PK\x03\x04": "zip", b"\xfd7zXZ\x00": "xz"}


def _compression(path: Path) -> str | None:
    """The compression of ``path`` from its first bytes (``None``: plain text)."""
    with open(path, "rb") as handle:
        head = handle.read(6)
    return next((kind for magic, kind in MAGIC.items() if head.startswith(magic)), None)


def _read_arff(path: Path) -> pd.DataFrame:
    import arff

    opener = _opener(path)
    with opener(path, "rt") as handle:
        data = arff.load(handle)
    names = [name for name, _ in data["attributes"]]
    frame = pd.DataFrame(data["data"], columns=names)
    for name, kind in data["attributes"]:
        if isinstance(kind, list):  # nominal
            frame[name] = frame[name].astype(object)
        elif str(kind).upper() in ("NUMERIC", "REAL", "INTEGER"):
            frame[name] = pd.to_numeric(frame[name])
    return frame


def _opener(path: Path):  # type: ignore[no-untyped-def]
    suffix = path.suffix.lower()
    if suffix == ".gz":
        import gzip
        return gzip.open
    if suffix == ".bz2":
        import bz2
        return bz2.open
    if suffix == ".xz":
        import lzma
        return lzma.open
    return open
