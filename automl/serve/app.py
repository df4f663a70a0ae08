"""The HTTP face of the prediction service (FastAPI): routes, auth, limits; the work itself is in
:mod:`automl.serve.service`."""
from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from automl.serve.service import MAX_BYTES, MAX_ROWS, RequestLog, ServedModel, Service
from automl.serve.validate import PayloadError

OPEN_PATHS = ("/health",)


def create_app(model: str | Path, token: str | None = None, log: str | Path | None = None,
               max_rows: int = MAX_ROWS, max_bytes: int = MAX_BYTES, challenger: str | Path | None = None,
               split: float = 0.0, seed: int = 0, onnx: str | Path | None = None) -> Any:
    """The FastAPI application serving the model folder ``model``.

    Parameters
    ----------
    model : str or Path
        Model folder written by ``automl fit``.
    token : str, optional
        When given, every endpoint but ``/health`` needs ``Authorization: Bearer <token>``.
    log : str or Path, optional
        JSON-lines file that receives one line per predicted row.
    max_rows, max_bytes : int
        Largest request accepted (rows, body bytes); larger ones get 413.
    challenger : str or Path, optional
        A second model folder that answers a ``split`` share of the requests (A/B test).
    split : float
        Share of requests answered by the challenger, in [0, 1].
    seed : int
        Seed of the traffic split.
    onnx : str or Path, optional
        An ONNX export of ``model`` (``automl export``): predictions come from onnxruntime, several times
        faster; validation, log and metadata stay the same.
    """
    if not 0.0 <= split <= 1.0:
        raise ValueError(f"split={split}: give the challenger's share of traffic in [0, 1]")
    service = Service(ServedModel.open(model, "a", onnx), ServedModel.open(challenger, "b") if challenger else None,
                      split, RequestLog(Path(log) if log else None), max_rows, seed)
    return build_app(service, token, max_bytes)


def check_token(header: str | None, token: str | None) -> bool:
    """Whether an ``Authorization`` header carries the bearer token (always true without a token)."""
    if token is None:
        return True
    scheme, _, value = (header or "").partition(" ")
    return scheme.lower() == "bearer" and secrets.compare_digest(value.strip().encode(), token.encode())


def build_app(service: Service, token: str | None, max_bytes: int) -> FastAPI:
    """Wire ``service`` to HTTP: auth, body limits, error answers, endpoints."""
    app = FastAPI(title="automl model service", version=service.primary.version)
    app.state.service = service

    @app.middleware("http")
    async def authorise(request: Request, call_next: Any) -> Any:
        if request.url.path not in OPEN_PATHS and not check_token(request.headers.get("authorization"), token):
            return JSONResponse({"detail": "missing or wrong bearer token"}, status_code=401,
                                headers={"WWW-Authenticate": "Bearer"})
        return await call_next(request)

    @app.exception_handler(PayloadError)
    async def refused(request: Request, exc: PayloadError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)

    @app.exception_handler(ValueError)
    async def unusable(request: Request, exc: ValueError) -> JSONResponse:
        # the model's own input checks (schema, types) raise ValueError/TypeError with the remedy
        return JSONResponse({"detail": str(exc)}, status_code=422)

    app.add_exception_handler(TypeError, unusable)  # type: ignore[arg-type]

    async def predict_route(request: Request, proba: bool) -> dict[str, Any]:
        body = await read_body(request, max_bytes)
        return await run_in_threadpool(service.answer, body, request.headers.get("content-type", ""), proba)

    @app.post("/predict")
    async def predict(request: Request) -> dict[str, Any]:
        return await predict_route(request, proba=False)

    @app.post("/predict_proba")
    async def predict_proba(request: Request) -> dict[str, Any]:
        return await predict_route(request, proba=True)

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "model_version": service.primary.version}

    @app.get("/metadata")
    def metadata() -> dict[str, Any]:
        out = service.primary.metadata()
        if service.challenger is not None:
            out["challenger"] = {**service.challenger.metadata(), "traffic_share": service.split}
        return out

    @app.get("/monitor")
    def monitor() -> dict[str, Any]:
        from automl.serve.monitor import monitor_service

        return monitor_service(service)

    return app


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed ``max_bytes``."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadError(413, f"body of {declared} bytes; at most {max_bytes} are taken")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise PayloadError(413, f"body larger than {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
