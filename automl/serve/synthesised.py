"""Serving a model fitted with feature synthesis (related tables, or long-format series).

A model fitted with related tables takes ``{"rows": [...], "tables": {"name": [...], ...}}``: the rows of its target
table and the related rows of each table it was fitted with (JSON only: a CSV body holds one table). A series model
takes ``{"series": [...]}``, one object per reading (or a CSV body of readings), and answers one prediction per series
id, sorted, with the ids in ``"ids"``.

The features are synthesised once per request (:class:`automl.model_input.FeatureModel`) and the model answers from
them. Each log line holds, besides the request's row (a target-table row, or ``{id column: id}`` for a series), the
synthesised columns the model reads (``features``): the training profile describes those, so the monitor checks
them for drift as it checks a plain model's rows, and can score them again against labels.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from automl.model_input import SERIES, TABLES, FeatureModel, ModelInput
from automl.serve.batch import Prediction
from automl.serve.validate import Payload, PayloadError, json_value, row_dicts, row_hash


def json_shape(model_input: ModelInput) -> str:
    """The body a model takes, for messages."""
    if model_input.kind == TABLES:
        tables = ", ".join(f'"{t}": [{{...}}, ...]' for t in model_input.tables)
        return f'{{"rows": [{{...}}, ...], "tables": {{{tables}}}}}'
    if model_input.kind == SERIES:
        example = ", ".join(f'"{c}": ...' for c in model_input.columns[:3])
        return f'{{"series": [{{{example}}}, ...]}} (one object per reading) or a CSV body of readings'
    return '{"rows": [{"column": value, ...}, ...]}'


def request_input(payload: Payload, model_input: ModelInput, max_rows: int
                  ) -> tuple[pd.DataFrame, dict[str, pd.DataFrame] | None]:
    """The raw input of a synthesised model in a request: the target table's rows and the related tables, or the
    readings (with None).

    Raises
    ------
    PayloadError
        422 naming what is missing or not this model's, 413 for more than ``max_rows`` rows or series.
    """
    shape = json_shape(model_input)
    if payload.csv and model_input.kind == TABLES:
        raise PayloadError(422, f"a CSV body holds no related tables: send JSON {shape}")
    try:
        model_input.check_tables(payload.tables, f"send {shape}")
    except ValueError as exc:
        raise PayloadError(422, str(exc)) from None
    if model_input.kind == SERIES:
        return _readings(payload, model_input, shape, max_rows), None
    if payload.rows is None:
        raise PayloadError(422, f"this model takes {model_input.describe()}: send {shape}")
    _check_count(len(payload.rows), "rows", max_rows)
    return _columns(payload.rows, model_input, "the rows"), payload.tables


def _readings(payload: Payload, model_input: ModelInput, shape: str, max_rows: int) -> pd.DataFrame:
    readings = payload.rows if payload.csv else payload.series
    if readings is None:
        raise PayloadError(422, f"this model predicts {model_input.describe()}: send {shape}")
    if len(readings) == 0:
        raise PayloadError(422, "no readings: send at least one series")
    readings = _columns(readings, model_input, "the readings")
    _check_count(readings[str(model_input.column_id)].nunique(), "series", max_rows)
    return readings


def _check_count(count: int, what: str, max_rows: int) -> None:
    if count == 0:
        raise PayloadError(422, f"no {what}: send at least one")
    if count > max_rows:
        raise PayloadError(413, f"{count} {what} in one request; at most {max_rows} are taken")


def _columns(frame: pd.DataFrame, model_input: ModelInput, what: str) -> pd.DataFrame:
    try:
        return model_input.check_columns(frame, what)
    except ValueError as exc:
        raise PayloadError(422, str(exc)) from None


def synthesised_prediction(model: FeatureModel, X: pd.DataFrame, tables: dict[str, pd.DataFrame] | None,
                           proba: bool) -> tuple[pd.DataFrame, Prediction]:
    """The synthesised features of a request and the model's answer from them.

    Raises
    ------
    PayloadError
        422 when the input cannot be read (a value its type cannot take, a missing series id, a repeated key).
    """
    try:
        features = model.features(X, tables, how=f"send {json_shape(model.input)}")
        probabilities = model.predict_proba(features) if proba else None
        return features, Prediction(model.predict(features), probabilities)
    except unreadable_input() as exc:
        raise PayloadError(422, f"features cannot be synthesised from this input: {exc}") from None


def unreadable_input() -> tuple[type[Exception], ...]:
    """What the synthesis raises for input it cannot read: ours (ValueError, TypeError, KeyError) and woodwork's
    type conversions (a value a column's logical type cannot hold, past the checks of the types fit learned)."""
    try:
        from woodwork.exceptions import TypeConversionError
    except ImportError:
        return ValueError, TypeError, KeyError
    return ValueError, TypeError, KeyError, TypeConversionError


def logged_inputs(model: FeatureModel, X: pd.DataFrame, features: pd.DataFrame
                  ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """Per prediction, what the log keeps: the request's row (a target-table row, or ``{id column: id}``), the
    synthesised features and the hash labels are joined on (of the row, or of the series' readings in time order)."""
    names = [str(c) for c in features.columns]
    synthesised = row_dicts(features, names)
    if model.input.kind != SERIES:
        rows = row_dicts(X, list(model.input.columns))
        return rows, synthesised, [row_hash(r) for r in rows]
    column_id = str(model.input.column_id)
    ids = model.ids(X)
    order = model.synthesis.column_sort
    by_id = {key: _readings_hash(group if order is None else group.sort_values(order, kind="stable"))
             for key, group in X.groupby(column_id, sort=False)}
    return [{column_id: json_value(i)} for i in ids], synthesised, [by_id[i] for i in ids]


def _readings_hash(readings: pd.DataFrame) -> str:
    """The hash of one series' readings (in order: a request may send them in any)."""
    return row_hash({"readings": readings.to_dict(orient="list")})


def ids_json(model: FeatureModel, X: pd.DataFrame) -> list[Any] | None:
    """The series ids of a series model's answer, in the order of its predictions (None for other models)."""
    return [json_value(i) for i in model.ids(X)] if model.input.kind == SERIES else None


def v2_refusal(model_input: ModelInput) -> str | None:
    """Why the Open Inference Protocol routes do not serve this model (None: they do)."""
    if not model_input.synthesised:
        return None
    return (f"this model takes {model_input.describe()}, which the Open Inference Protocol's one tensor per column "
            f"of one table cannot carry: POST /predict with {json_shape(model_input)}")

