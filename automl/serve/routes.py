"""The FastAPI routes of the prediction service; the work itself is in :mod:`automl.serve.app`."""
from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from automl.serve.app import Service, check_token
from automl.serve.validate import PayloadError

OPEN_PATHS = ("/health",)


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
