"""Turn a request body into a frame of rows the model can take, or a clear 4xx error.

Every problem raises :class:`PayloadError` with an HTTP status and a message naming the columns and rows,
so the service answers 4xx with that message and never 500 on bad input.
"""
from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pandas as pd


class PayloadError(ValueError):
    """A request the service refuses: ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def parse_body(body: bytes, content_type: str) -> pd.DataFrame:
    """Rows from a JSON body (``{"rows": [{column: value}, ...]}`` or a bare list) or a CSV body."""
    kind = (content_type or "application/json").split(";")[0].strip().lower()
    if kind in ("text/csv", "application/csv"):
        try:
            return pd.read_csv(io.BytesIO(body), keep_default_na=False, na_values=[""])
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
    rows = payload.get("rows") if isinstance(payload, dict) else payload
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise PayloadError(422, 'send {"rows": [{"column": value, ...}, ...]}: a list of objects, one per row')
    return pd.DataFrame.from_records(rows)


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
