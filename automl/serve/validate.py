"""Turn a request body into a frame of rows the model can take, or a clear 4xx error.

Every problem raises :class:`PayloadError` with an HTTP status and a message naming the columns and rows,
so the service answers 4xx with that message and never 500 on bad input.
"""
from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


class PayloadError(ValueError):
    """A request the service refuses: ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


ROWS_SHAPE = 'send {"rows": [{"column": value, ...}, ...]}: a list of objects, one per row'


@dataclass
class Payload:
    """A parsed request body: ``rows`` (JSON ``"rows"`` or a bare list, or a CSV body), and what a model fitted with
    feature synthesis takes besides: related ``tables`` (``{name: rows}``) or long-format ``series``; None when
    absent. Which parts a model needs is checked against the model, not here."""

    rows: pd.DataFrame | None = None
    tables: dict[str, pd.DataFrame] | None = None
    series: pd.DataFrame | None = None
    csv: bool = False

    def rows_alone(self) -> pd.DataFrame:
        """The rows of a request to a model fitted on one table.

        Raises
        ------
        PayloadError
            422 when the body holds related tables or series, or no rows.
        """
        if self.tables is not None:
            raise PayloadError(422, 'this model was fitted on a single table: it takes no "tables"; send '
                                    '{"rows": [...]} alone')
        if self.series is not None:
            raise PayloadError(422, 'this model takes rows of one table, not "series"; ' + ROWS_SHAPE)
        if self.rows is None:
            raise PayloadError(422, ROWS_SHAPE)
        return self.rows


def parse_body(body: bytes, content_type: str) -> pd.DataFrame:
    """Rows from a JSON body (``{"rows": [{column: value}, ...]}`` or a bare list) or a CSV body, for a model
    fitted on one table (:meth:`Payload.rows_alone`)."""
    return parse_payload(body, content_type).rows_alone()


def parse_payload(body: bytes, content_type: str) -> Payload:
    """The parts of a JSON body (``rows``, ``tables``, ``series``), or the rows of a CSV body.

    Raises
    ------
    PayloadError
        400 when the body does not parse, 415 for another content type, 422 when a part is not a list of objects.
    """
    kind = (content_type or "application/json").split(";")[0].strip().lower()
    if kind in ("text/csv", "application/csv"):
        try:
            return Payload(rows=pd.read_csv(io.BytesIO(body), keep_default_na=False, na_values=[""]), csv=True)
        except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise PayloadError(400, f"the CSV body does not parse: {exc}") from exc
    if kind != "application/json":
        raise PayloadError(415, f"content type {kind!r} is not taken: send application/json or text/csv")
    try:
        payload = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(400, f"the JSON body does not parse: {exc}") from exc
    except RecursionError:
        raise PayloadError(400, "the JSON body nests too deeply: send {\"rows\": [{\"column\": value, ...}]}") from None
    if isinstance(payload, list):
        return Payload(rows=_records(payload, "rows"))
    if not isinstance(payload, dict):
        raise PayloadError(422, ROWS_SHAPE)
    parts = {key: payload.get(key) for key in ("rows", "tables", "series")}
    return Payload(rows=None if parts["rows"] is None else _records(parts["rows"], "rows"),
                   tables=None if parts["tables"] is None else _tables(parts["tables"]),
                   series=None if parts["series"] is None else _records(parts["series"], "series"))


def _records(value: Any, key: str) -> pd.DataFrame:
    """A frame from a JSON list of objects, one per row; 422 naming ``key`` otherwise."""
    if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
        raise PayloadError(422, f'send {{"{key}": [{{"column": value, ...}}, ...]}}: a list of objects, one per row')
    return pd.DataFrame.from_records(value)


def _tables(value: Any) -> dict[str, pd.DataFrame]:
    """Related tables from ``{"name": [{column: value}, ...], ...}``; 422 otherwise."""
    shape = 'send "tables": {"name": [{"column": value, ...}, ...], ...}: a list of objects per related table'
    if not isinstance(value, dict):
        raise PayloadError(422, shape)
    tables = {}
    for name, rows in value.items():
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise PayloadError(422, f"table {name!r}: {shape}")
        tables[str(name)] = pd.DataFrame.from_records(rows)
    return tables


def validate_rows(frame: pd.DataFrame, roles: dict[str, str], columns: list[str], max_rows: int) -> pd.DataFrame:
    """Check the rows against the training schema (:func:`automl.data.inputs.check_rows`, as ``predict`` does);
    return them with the training columns in order.

    Parameters
    ----------
    frame : DataFrame
        The parsed rows.
    roles : dict
        Modelled column -> role; these columns must be present and typed as in training.
    columns : list of str
        Every training column, in order (columns that the cleaning dropped may be absent).
    max_rows : int
        Most rows one request may hold.
    """
    from automl.data.inputs import InputError, check_rows

    if len(frame) == 0:
        raise PayloadError(422, "no rows: send at least one row")
    if len(frame) > max_rows:
        raise PayloadError(413, f"{len(frame)} rows in one request; at most {max_rows} are taken")
    try:
        checked = check_rows(frame, roles, allow_infinite=False).frame
    except InputError as exc:
        raise PayloadError(422, f"{exc}{'; send null for missing' if 'infinite' in str(exc) else ''}") from None
    absent = [c for c in columns if c not in checked.columns]
    out = checked.reindex(columns=columns)
    return out.astype({c: object for c in absent}) if absent else out


def json_value(value: Any) -> Any:
    """A numpy / pandas scalar as plain JSON (NaN -> None)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def row_dicts(frame: pd.DataFrame, names: list[str]) -> list[dict[str, Any]]:
    """The rows of ``frame`` as JSON objects of the columns ``names``.

    Built per column, not with ``DataFrame.to_dict``: 30 us against 700 us for one row of 20 columns.
    """
    columns = [[json_value(v) for v in frame[name].tolist()] for name in names]
    return [dict(zip(names, values)) for values in zip(*columns)]


def row_hash(row: dict[str, Any]) -> str:
    """The short hash of a logged row that labels are joined on (``input_hash``)."""
    return hashlib.sha256(json.dumps(row, sort_keys=True, default=str).encode()).hexdigest()[:16]
