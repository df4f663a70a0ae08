"""The Open Inference Protocol (KServe v2, REST) beside the service's own routes.

``GET /v2/health/live`` and ``/v2/health/ready`` (no token), ``GET /v2`` (server), ``GET /v2/models/{name}``
(metadata: one input per modelled column with its datatype, the outputs), ``GET /v2/models/{name}/ready``,
``POST /v2/models/{name}/infer`` (also under ``/versions/{version}``). The model is named after its folder.
An infer request carries one input per column (``{"name": column, "shape": [n], "datatype": "FP64", "data":
[...]}``); its rows are checked and logged as ``/predict`` checks and logs them, and the primary model answers
(no A/B split). Outputs: ``predictions`` (one per row) and, for a classifier, ``probabilities`` (``[n, k]``,
row-major, the classes in its ``parameters``).

A model fitted with related tables or on long-format series takes more than one tensor per column of one table:
its metadata and infer routes answer 422 saying so and naming the ``/predict`` body it takes.
"""
from __future__ import annotations

import json
import time
from typing import Any, Awaitable, Callable

import numpy as np
import pandas as pd
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from automl.serve.schemas import InferResponse, ModelMetadata, datatype, infer_body
from automl.serve.service import INLINE_BYTES, ServedModel, Service
from automl.serve.synthesised import v2_refusal
from automl.serve.validate import PayloadError

DATATYPES = ("BOOL", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64", "FP16", "FP32",
             "FP64", "BYTES")
OUTPUTS = ("predictions", "probabilities")


def model_name(served: ServedModel) -> str:
    """The protocol's name of a served model: its folder's name."""
    return served.folder.resolve().name


def metadata(served: ServedModel) -> dict[str, Any]:
    """``GET /v2/models/{name}``."""
    inputs = [{"name": c, "datatype": datatype(r), "shape": [-1]} for c, r in served.roles.items()]
    classes = served.classes
    label = "FP64" if classes is None else _label_datatype(np.asarray(served.model.classes_))
    outputs = [{"name": "predictions", "datatype": label, "shape": [-1]}]
    if classes is not None:
        outputs.append({"name": "probabilities", "datatype": "FP64", "shape": [-1, len(classes)]})
    return {"name": model_name(served), "versions": [served.version],
            "platform": "onnxruntime" if served.onnx is not None else "automl-python",
            "inputs": inputs, "outputs": outputs}


def parse_infer(body: bytes) -> tuple[pd.DataFrame, list[str] | None, str | None]:
    """The rows of an infer request, the outputs it asks for (None: all) and its id.

    Raises
    ------
    PayloadError
        400 when the body is not JSON, 422 when it is not a request of per-column inputs of one length.
    """
    try:
        payload = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise PayloadError(400, f"the JSON body does not parse: {str(exc)[:200]}") from None
    inputs = payload.get("inputs") if isinstance(payload, dict) else None
    if not isinstance(inputs, list) or not inputs or not all(isinstance(i, dict) for i in inputs):
        raise PayloadError(422, 'send {"inputs": [{"name": column, "shape": [rows], "datatype": "FP64", "data": '
                                '[...]}, ...]}: one input per column')
    columns: dict[str, list[Any]] = {}
    for tensor in inputs:
        name, values = _column(tensor)
        if name in columns:
            raise PayloadError(422, f"input {name!r} is given twice: send one input per column")
        columns[name] = values
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        raise PayloadError(422, f"inputs of different lengths {lengths}: every input holds one value per row")
    # rows built as /predict builds them from JSON rows, so that both read values alike
    frame = pd.DataFrame.from_records(list(zip(*columns.values())), columns=list(columns))
    return frame, _outputs(payload.get("outputs")), _request_id(payload.get("id"))


def _column(tensor: dict[str, Any]) -> tuple[str, list[Any]]:
    name, shape, kind, data = (tensor.get(k) for k in ("name", "shape", "datatype", "data"))
    if not isinstance(name, str):
        raise PayloadError(422, f"an input without a name: {str(tensor)[:100]}")
    if kind not in DATATYPES:
        raise PayloadError(422, f"input {name!r}: datatype {kind!r} is not one of {list(DATATYPES)}")
    if not isinstance(data, list):
        raise PayloadError(422, f"input {name!r}: data must be a list of values, one per row")
    if data and all(isinstance(v, list) and len(v) == 1 for v in data):
        data = [v[0] for v in data]  # [[v], [v], ...]: shape [n, 1] written nested
    if not isinstance(shape, list) or not shape or shape[0] != len(data) or any(s != 1 for s in shape[1:]):
        raise PayloadError(422, f"input {name!r}: shape {shape} does not fit {len(data)} values; send "
                                f"[{len(data)}] or [{len(data)}, 1] (one value per row)")
    return name, data


def _outputs(requested: Any) -> list[str] | None:
    if requested is None:
        return None
    names = [o.get("name") if isinstance(o, dict) else o for o in requested] if isinstance(requested, list) \
        else [requested]
    unknown = [n for n in names if n not in OUTPUTS]
    if unknown:
        raise PayloadError(422, f"outputs {unknown} are not outputs of the model: ask for {list(OUTPUTS)}")
    return [str(n) for n in names]


def _request_id(value: Any) -> str | None:
    return None if value is None else str(value)


def infer_answer(answer: dict[str, Any], served: ServedModel, wanted: list[str] | None, rid: str | None
                 ) -> dict[str, Any]:
    """The protocol's answer from the service's answer to the same rows."""
    labels = answer["predictions"]
    outputs = []
    if wanted is None or "predictions" in wanted:
        kind = "FP64" if served.classes is None else _label_datatype(np.asarray(served.model.classes_))
        outputs.append({"name": "predictions", "shape": [len(labels)], "datatype": kind, "data": labels})
    if "probabilities" in answer and (wanted is None or "probabilities" in wanted):
        classes = answer["classes"]
        outputs.append({"name": "probabilities", "shape": [len(labels), len(classes)], "datatype": "FP64",
                        "data": [p for row in answer["probabilities"] for p in row],
                        "parameters": {"classes": classes}})
    out: dict[str, Any] = {"model_name": model_name(served), "model_version": served.version, "outputs": outputs}
    if rid is not None:
        out["id"] = rid
    return out


def _label_datatype(classes: np.ndarray) -> str:
    kind = classes.dtype.kind
    return {"b": "BOOL", "i": "INT64", "u": "INT64", "f": "FP64"}.get(kind, "BYTES")


def router(service: Service, read_body: Callable[[Request], Awaitable[bytes]],
           count_rows: Callable[[str, int], None]) -> APIRouter:
    """The protocol's routes for ``service``.

    Parameters
    ----------
    service : Service
        What predicts and logs.
    read_body : callable
        ``await read_body(request)``: the body, within the service's size limit.
    count_rows : callable
        ``count_rows(model, rows)``, called for every answered request (metrics).
    """
    served = service.primary
    name = model_name(served)
    refusal = v2_refusal(served.model_input)
    routes = APIRouter(prefix="/v2", tags=["Open Inference Protocol (v2)"])

    def check(model: str, version: str | None = None) -> None:
        if model != name:
            raise PayloadError(404, f"no model {model!r} here: this server serves {name!r}")
        if version is not None and version != served.version:
            raise PayloadError(404, f"model {name!r} has version {served.version}, not {version!r}")
        if refusal is not None:
            raise PayloadError(422, refusal)

    @routes.get("/health/live", summary="Liveness (no token needed)")
    def live() -> dict[str, bool]:
        return {"live": True}

    @routes.get("/health/ready", summary="Readiness (no token needed)")
    def ready() -> dict[str, bool]:
        return {"ready": True}

    @routes.get("", summary="Server metadata")
    def server() -> dict[str, Any]:
        return {"name": "automl", "version": served.version, "extensions": []}

    @routes.get("/models/{model}", response_model=ModelMetadata, summary="Model metadata: inputs and outputs")
    def model_metadata(model: str) -> dict[str, Any]:
        check(model)
        return metadata(served)

    @routes.get("/models/{model}/ready", summary="Model readiness")
    def model_ready(model: str) -> dict[str, Any]:
        check(model)
        return {"name": name, "ready": True}

    async def infer(request: Request, model: str, version: str | None) -> JSONResponse:
        started = time.perf_counter()
        check(model, version)
        body = await read_body(request)
        if len(body) <= INLINE_BYTES:
            frame, wanted, rid = parse_infer(body)
            answer = await service.answer_frame_async(frame, _proba(served, wanted), served, started)
            answer, rows = infer_answer(answer, served, wanted, rid), len(frame)
        else:  # parsing and checking many rows would hold up every other request in the event loop
            answer, rows = await run_in_threadpool(_infer, service, served, body, started)
        count_rows(served.name, rows)
        return JSONResponse(answer)

    @routes.post("/models/{model}/infer", response_model=InferResponse, summary="Predict (one input per column)",
                 openapi_extra=infer_body("#/components/schemas/InferRequest"))
    async def infer_latest(request: Request, model: str) -> JSONResponse:
        return await infer(request, model, None)

    @routes.post("/models/{model}/versions/{version}/infer", response_model=InferResponse,
                 summary="Predict with a given version", openapi_extra=infer_body("#/components/schemas/InferRequest"))
    async def infer_version(request: Request, model: str, version: str) -> JSONResponse:
        return await infer(request, model, version)

    return routes


def _infer(service: Service, served: ServedModel, body: bytes, started: float) -> tuple[dict[str, Any], int]:
    """The protocol's answer to an infer request, and how many rows it predicted."""
    frame, wanted, rid = parse_infer(body)
    answer = service.answer_frame(frame, _proba(served, wanted), served, started)
    return infer_answer(answer, served, wanted, rid), len(frame)


def _proba(served: ServedModel, wanted: list[str] | None) -> bool:
    """Whether to compute probabilities: a classifier, and the request asks for them or for every output."""
    return served.classes is not None and (wanted is None or "probabilities" in wanted)

