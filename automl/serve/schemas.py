"""What the service's requests and answers look like, for ``/docs`` and ``/openapi.json``.

The prediction routes read their bodies themselves (a CSV body has no JSON schema, and the payload checks give
messages that name the column and rows), so the request schemas are declared, not parsed: :func:`row_schema`
builds a row's schema from the training schema, one property per training column with the JSON type of its role;
:func:`request_schemas` picks the body a model takes (rows; rows with related tables, each table's rows described
from the types fit learned; long-format readings). Answers are declared as pydantic models.
"""
from __future__ import annotations

import re
from typing import Any, Optional, Union

from pydantic import BaseModel, Field, StrictBool, StrictInt

# JSON types a column of each role takes (null: missing); check_rows also reads numbers and booleans in text
ROLE_TYPES = {"numeric": "number", "boolean": "boolean", "categorical": "string", "text": "string",
              "datetime": "string"}
# tensor datatype of the Open Inference Protocol for each role
ROLE_DATATYPES = {"numeric": "FP64", "boolean": "BOOL"}

Label = Union[StrictBool, StrictInt, float, str, None]


class Predictions(BaseModel):
    """The answer of ``POST /predict``."""

    model: str = Field(description="which model answered: 'a', or 'b' for the challenger of an A/B test")
    model_version: str = Field(description="hash of the model's pipeline file")
    predictions: list[Label] = Field(description="one label (classification) or value (regression) per row, or "
                                                 "per series for a model fitted on series")
    ids: Optional[list[Label]] = Field(default=None, description="a model fitted on series: the series id of each "
                                                                 "prediction, in the same order (sorted)")


class Probabilities(Predictions):
    """The answer of ``POST /predict_proba``."""

    classes: list[Label] = Field(description="the class labels, in the order of each row's probabilities")
    probabilities: list[list[float]] = Field(description="per row, the probability of each class (6 decimals)")


class Health(BaseModel):
    status: str
    model_version: str


class TensorMetadata(BaseModel):
    """An input or output of the model, as the Open Inference Protocol describes it."""

    name: str
    datatype: str = Field(description="FP64, BOOL, INT64 or BYTES (text)")
    shape: list[int] = Field(description="-1: any number of rows")


class ModelMetadata(BaseModel):
    """``GET /v2/models/{name}``: one input per modelled column, the outputs."""

    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


class InferInput(BaseModel):
    """One column of the rows: ``data`` holds its value in every row (``null`` for missing)."""

    name: str = Field(description="a training column")
    shape: list[int] = Field(description="[rows] or [rows, 1]")
    datatype: str = Field(description="FP64, FP32, INT64, INT32, BOOL or BYTES")
    data: list[Any]
    parameters: Optional[dict[str, Any]] = None


class RequestedOutput(BaseModel):
    name: str = Field(description="predictions or probabilities")


class InferRequest(BaseModel):
    """``POST /v2/models/{name}/infer``: one input per modelled column, all of the same length."""

    id: Optional[str] = None
    inputs: list[InferInput]
    outputs: Optional[list[RequestedOutput]] = Field(
        default=None, description="outputs wanted (default: every output of the model)")
    parameters: Optional[dict[str, Any]] = None


class InferOutput(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    data: list[Any] = Field(description="row-major, flattened")
    parameters: Optional[dict[str, Any]] = None


class InferResponse(BaseModel):
    model_name: str
    model_version: str
    id: Optional[str] = None
    outputs: list[InferOutput]


def column_schema(role: str) -> dict[str, Any]:
    """The JSON schema of one cell of a column of ``role`` (null for missing)."""
    kind = ROLE_TYPES.get(role)
    if kind is None:
        return {"description": f"{role} column"}
    return {"anyOf": [{"type": kind}, {"type": "null"}], "description": f"{role} column"}


def row_schema(roles: dict[str, str], columns: list[str], dropped: dict[str, Any] | None = None
               ) -> dict[str, Any]:
    """The JSON schema of one row: a property per training column; the modelled ones are required.

    Parameters
    ----------
    roles : dict
        Modelled column -> role.
    columns : list of str
        Every training column, in order.
    dropped : dict, optional
        Columns the cleaning dropped -> why; they may be sent and are ignored.
    """
    properties = {}
    for name in columns:
        if name in roles:
            properties[name] = column_schema(roles[name])
        else:
            reason = (dropped or {}).get(name)
            properties[name] = {"description": f"not modelled ({reason or 'dropped'}): may be left out"}
    return {"title": "Row", "type": "object", "properties": properties, "required": list(roles),
            "additionalProperties": True,
            "description": "one row: a value per training column; columns the model never saw are ignored"}


def rows_body(row_ref: str) -> dict[str, Any]:
    """``openapi_extra`` of the prediction routes: a JSON body of rows, or CSV."""
    return _list_or_csv_body("rows", row_ref, "CSV with a header line naming the training columns")


def _list_or_csv_body(key: str, item_ref: str, csv_description: str) -> dict[str, Any]:
    """A request body ``{key: [items...]}`` (at least one) as JSON, or a CSV of the items."""
    body = {"type": "object", "required": [key],
            "properties": {key: {"type": "array", "items": {"$ref": item_ref}, "minItems": 1}}}
    csv_body = {"type": "string", "description": csv_description}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": body},
                                                          "text/csv": {"schema": csv_body}}}}


def infer_body(request_ref: str) -> dict[str, Any]:
    """``openapi_extra`` of the Open Inference Protocol's infer route."""
    return {"requestBody": {"required": True,
                            "content": {"application/json": {"schema": {"$ref": request_ref}}}}}


def datatype(role: str) -> str:
    """The Open Inference Protocol datatype of a column of ``role``."""
    return ROLE_DATATYPES.get(role, "BYTES")


def request_schemas(model_input: Any, row: dict[str, Any], synthesis: Any = None
                    ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The schema components and the prediction routes' ``openapi_extra`` of a model's request body.

    Parameters
    ----------
    model_input : automl.model_input.ModelInput
        What the model takes.
    row : dict
        The schema of a row of a model fitted on one table (:func:`row_schema`).
    synthesis : RelationalFeatures or SeriesFeatures, optional
        The synthesis step of a model fitted with related tables or on series.
    """
    from automl.model_input import SERIES, TABLES

    if model_input.kind == TABLES:
        types = synthesis.logical_types_
        components = {"Row": table_schema(f"a row of {model_input.target_table!r}", types[model_input.target_table])}
        refs = {}
        for name in model_input.tables:
            key = "Table_" + re.sub(r"[^A-Za-z0-9._-]", "_", name)
            components[key] = table_schema(f"a row of the related table {name!r}", types[name])
            refs[name] = f"#/components/schemas/{key}"
        return components, tables_body("#/components/schemas/Row", refs)
    if model_input.kind == SERIES:
        return {"Reading": reading_schema(model_input.columns, synthesis)}, series_body("#/components/schemas/Reading")
    return {"Row": row}, rows_body("#/components/schemas/Row")


def table_schema(description: str, types: dict[str, str]) -> dict[str, Any]:
    """The JSON schema of a row of a table fitted with feature synthesis, from the woodwork logical types fit
    learned (one property per column, every one required)."""
    from automl.features.relational import READ_AS

    properties = {name: {**column_schema(READ_AS.get(kind, "categorical")), "description": f"{kind} column"}
                  for name, kind in types.items()}
    return {"type": "object", "properties": properties, "required": list(types), "additionalProperties": True,
            "description": f"{description}; columns fit never saw are ignored; dates as ISO 8601 text"}


def reading_schema(columns: tuple[str, ...], synthesis: Any) -> dict[str, Any]:
    """The JSON schema of one reading of a long-format series: its series id, its order (time) and its values."""
    roles = {synthesis.column_id: {"anyOf": [{"type": "string"}, {"type": "integer"}],
                                   "description": "series id: the readings of one series share it"}}
    if synthesis.column_sort is not None:
        roles[synthesis.column_sort] = {"anyOf": [{"type": "number"}, {"type": "string"}],
                                        "description": "order of the readings within a series (a number or a date)"}
    if synthesis.column_kind is not None:
        roles[synthesis.column_kind] = {"type": "string", "description": "which signal the value belongs to"}
    properties = {c: roles.get(c, {"type": "number", "description": "a signal's value"}) for c in columns}
    return {"type": "object", "properties": properties, "required": list(columns), "additionalProperties": True,
            "description": "one reading of a series"}


def tables_body(row_ref: str, table_refs: dict[str, str]) -> dict[str, Any]:
    """``openapi_extra`` of the prediction routes of a model fitted with related tables: JSON only."""
    tables = {"type": "object", "required": list(table_refs),
              "properties": {name: {"type": "array", "items": {"$ref": ref}} for name, ref in table_refs.items()},
              "description": "the rows of each related table that the rows refer to (an empty list: none)"}
    body = {"type": "object", "required": ["rows", "tables"],
            "properties": {"rows": {"type": "array", "items": {"$ref": row_ref}, "minItems": 1}, "tables": tables}}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": body}}}}


def series_body(reading_ref: str) -> dict[str, Any]:
    """``openapi_extra`` of the prediction routes of a model fitted on series: readings as JSON, or CSV."""
    return _list_or_csv_body("series", reading_ref, "CSV of readings with a header line naming their columns")
