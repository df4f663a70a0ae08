"""The HTTP face of the prediction service (FastAPI): routes, auth, limits, metrics; the work itself is in
:mod:`automl.serve.service`, the Open Inference Protocol routes in :mod:`automl.serve.v2`.

``/health``, ``/metrics`` and ``/v2/health/{live,ready}`` need no token (probes and scrapers); every other route
does when the service has one.
"""
from __future__ import annotations

import secrets
import socket
import time
from pathlib import Path
from typing import Any, Callable

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool
from starlette.routing import Match, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from automl.serve import v2
from automl.serve.metrics import DriftGauge, Metrics, gauge
from automl.serve.schemas import Health, InferRequest, Predictions, Probabilities, request_schemas, row_schema
from automl.serve.service import INLINE_BYTES, MAX_BYTES, MAX_ROWS, RequestLog, ServedModel, Service
from automl.serve.validate import PayloadError

OPEN_PATHS = frozenset({"/health", "/metrics", "/v2/health/live", "/v2/health/ready"})
PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def create_app(model: str | Path, token: str | None = None, log: str | Path | None = None,
               max_rows: int = MAX_ROWS, max_bytes: int = MAX_BYTES, challenger: str | Path | None = None,
               split: float = 0.0, seed: int = 0, onnx: str | Path | None = None,
               metrics_share: str | Path | None = None) -> FastAPI:
    """The FastAPI application serving the model folder ``model``.

    Parameters
    ----------
    model : str or Path
        Model folder written by ``automl fit``.
    token : str, optional
        When given, every endpoint but ``/health``, ``/metrics`` and ``/v2/health/*`` needs
        ``Authorization: Bearer <token>``.
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
    metrics_share : str or Path, optional
        Folder shared by the processes of one service, so that ``/metrics`` counts all of their requests.

    Returns
    -------
    FastAPI
        The application (``app.state.service`` holds the :class:`~automl.serve.service.Service`).
    """
    if not 0.0 <= split <= 1.0:
        raise ValueError(f"split={split}: give the challenger's share of traffic in [0, 1]")
    primary = ServedModel.open(model, "a", onnx)
    second = ServedModel.open(challenger, "b") if challenger else None
    if second is not None:
        check_same_input(primary, second)
    service = Service(primary, second, split, RequestLog(Path(log) if log else None), max_rows, seed)
    return build_app(service, token, max_bytes, Metrics(Path(metrics_share) if metrics_share else None))


def check_same_input(primary: ServedModel, challenger: ServedModel) -> None:
    """Refuse an A/B test of models that take different request bodies (rows, rows with tables, series): a
    request is drawn for either."""
    a, b = primary.model_input, challenger.model_input
    if (a.kind, a.tables, a.column_id) != (b.kind, b.tables, b.column_id):
        raise ValueError(f"the model takes {a.describe()}, the challenger {b.describe()}: an A/B test needs models "
                         "that take the same request body")


def check_token(header: str | None, token: str | None) -> bool:
    """Whether an ``Authorization`` header carries the bearer token (always true without a token)."""
    if token is None:
        return True
    scheme, _, value = (header or "").partition(" ")
    return scheme.lower() == "bearer" and secrets.compare_digest(value.strip().encode(), token.encode())


def build_app(service: Service, token: str | None, max_bytes: int, metrics: Metrics | None = None) -> FastAPI:
    """Wire ``service`` to HTTP: auth, body limits, error answers, endpoints, metrics."""
    app = FastAPI(title="automl model service", version=service.primary.version,
                  description="Predictions of an automl model folder. Send rows as JSON or CSV to /predict, or "
                              "per-column tensors to the Open Inference Protocol routes under /v2.")
    app.state.service = service
    app.state.metrics = metrics = metrics if metrics is not None else Metrics()
    _error_answers(app)

    async def body_of(request: Request) -> bytes:
        return await read_body(request, max_bytes)

    components, body = _request_schemas(service.primary)
    _prediction_routes(app, service, metrics, body_of, body)
    _information_routes(app, service, metrics)
    app.include_router(v2.router(service, body_of, metrics.count_rows))
    app.openapi = _openapi(app, components, token is not None)  # type: ignore[method-assign]
    app.add_middleware(Gate, token=token, metrics=metrics, router=app.router)
    return app


def _error_answers(app: FastAPI) -> None:
    @app.exception_handler(PayloadError)
    async def refused(request: Request, exc: PayloadError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)

    @app.exception_handler(ValueError)
    async def unusable(request: Request, exc: ValueError) -> JSONResponse:
        # the model's own input checks (schema, types) raise ValueError/TypeError with the remedy
        return JSONResponse({"detail": str(exc)}, status_code=422)

    app.add_exception_handler(TypeError, unusable)  # type: ignore[arg-type]


def _request_schemas(served: ServedModel) -> tuple[dict[str, Any], dict[str, Any]]:
    """The schema components of ``served``'s request body and the prediction routes' ``openapi_extra``."""
    row = row_schema(served.roles, served.columns, dict(served.model.schema_.dropped))
    synthesis = served.features.synthesis if served.features is not None else None
    return request_schemas(served.model_input, row, synthesis)


def _prediction_routes(app: FastAPI, service: Service, metrics: Metrics, body_of: Callable[[Request], Any],
                       body: dict[str, Any]) -> None:
    async def predict_route(request: Request, proba: bool) -> JSONResponse:
        body = await body_of(request)
        kind = request.headers.get("content-type", "")
        if len(body) <= INLINE_BYTES:
            answer = await service.answer_async(body, kind, proba)
        else:  # parsing and checking many rows would hold up every other request in the event loop
            answer = await run_in_threadpool(service.answer, body, kind, proba)
        metrics.count_rows(answer["model"], len(answer["predictions"]))
        return JSONResponse(answer)

    @app.post("/predict", response_model=Predictions, openapi_extra=body, summary="Predict rows (JSON or CSV)")
    async def predict(request: Request) -> JSONResponse:
        return await predict_route(request, proba=False)

    @app.post("/predict_proba", response_model=Probabilities, openapi_extra=body,
              summary="Class probabilities of rows (JSON or CSV)")
    async def predict_proba(request: Request) -> JSONResponse:
        return await predict_route(request, proba=True)


def _information_routes(app: FastAPI, service: Service, metrics: Metrics) -> None:
    from automl.serve.monitor import monitor_service

    drift = DriftGauge(lambda: monitor_service(service))

    @app.get("/health", response_model=Health, summary="Liveness (no token needed)")
    def health() -> dict[str, Any]:
        return {"status": "ok", "model_version": service.primary.version}

    @app.get("/metadata", summary="Schema, metric, validation score and version of the model(s)")
    def metadata() -> dict[str, Any]:
        out = service.primary.metadata()
        if service.challenger is not None:
            out["challenger"] = {**service.challenger.metadata(), "traffic_share": service.split}
        return out

    @app.get("/monitor", summary="Drift of the logged rows against the training data")
    def monitor() -> dict[str, Any]:
        return monitor_service(service)

    @app.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics (no token needed)")
    async def prometheus() -> PlainTextResponse:
        models = [m for m in (service.primary, service.challenger) if m is not None]
        info = gauge("automl_model_info", "The served models (value 1).",
                     [({"model": m.name, "version": m.version, "runtime": "python" if m.onnx is None else "onnx"},
                       1.0) for m in models])
        lines = await run_in_threadpool(drift.lines)  # reads the request log when its verdict is stale
        return PlainTextResponse(metrics.render(info + lines), media_type=PROMETHEUS_TYPE)


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


class Gate:
    """Checks the bearer token and counts every request (route, status, latency), as plain ASGI middleware:
    Starlette's ``BaseHTTPMiddleware`` costs a task and a stream per request.

    Parameters
    ----------
    app : ASGI application
        What answers the requests let through.
    token : str, optional
        The bearer token (None: no check).
    metrics : Metrics
        Where requests are counted.
    router : Router
        The application's routes, to name the route of a request refused before routing.
    """

    def __init__(self, app: ASGIApp, token: str | None, metrics: Metrics, router: Router):
        self.app, self.token, self.metrics, self.router = app, token, metrics, router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            if scope["path"] in OPEN_PATHS or check_token(_header(scope, b"authorization"), self.token):
                await self.app(scope, receive, sending)
            else:
                refusal = JSONResponse({"detail": "missing or wrong bearer token"}, status_code=401,
                                       headers={"WWW-Authenticate": "Bearer"})
                await refusal(scope, receive, sending)
        finally:
            self.metrics.observe(self._route(scope), scope["method"], status, time.perf_counter() - started)

    def _route(self, scope: Scope) -> str:
        """The route's path template (``/v2/models/{model}/infer``): few distinct values, unlike paths."""
        route = scope.get("route")
        if route is None:
            route = next((r for r in self.router.routes if r.matches(scope)[0] == Match.FULL), None)
        return getattr(route, "path", None) or "unmatched"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def _openapi(app: FastAPI, request: dict[str, Any], with_token: bool) -> Callable[[], dict[str, Any]]:
    """``app.openapi``: FastAPI's schema plus the schemas of the request body (``request``: the row schema of the
    training columns, or those of a synthesised model's tables or readings), the infer request and, with a token,
    the bearer scheme."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(request)
        infer = InferRequest.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(infer.pop("$defs", {}))
        components["InferRequest"] = infer
        if with_token:
            schema["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
            for path, operations in schema["paths"].items():
                for operation in operations.values():
                    operation["security"] = [] if path in OPEN_PATHS else [{"bearer": []}]
        app.openapi_schema = schema
        return schema

    return openapi


SERVE_ENV = "AUTOML_SERVE_OPTIONS"


def app_from_environment() -> FastAPI:
    """The application of one worker process of ``automl serve --workers N``: :func:`create_app` with the options
    in ``$AUTOML_SERVE_OPTIONS`` (JSON)."""
    import json
    import os

    return create_app(**json.loads(os.environ[SERVE_ENV]))


def serve_workers(options: dict[str, Any], workers: int, host: str, port: int) -> None:
    """Serve with ``workers`` uvicorn processes on one socket, until interrupted.

    Each process loads the model (memory times ``workers``); they append to the same request log (one write per
    request under a lock, so lines never interleave) and add up their counts for ``/metrics`` through a
    temporary folder. Each process draws its own A/B split with the same seed.
    """
    import json
    import os
    import shutil
    import tempfile

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    share = tempfile.mkdtemp(prefix="automl-serve-metrics-")
    os.environ[SERVE_ENV] = json.dumps({**options, "metrics_share": share}, default=str)
    config = uvicorn.Config("automl.serve.app:app_from_environment", factory=True, workers=workers, host=host,
                            port=port, log_level="warning")
    try:
        try:
            sock = listening_socket(host, port, config.backlog)
        except OSError as exc:  # as uvicorn does with one process: a message, no traceback
            raise SystemExit(f"error: cannot listen on {host}:{port}: {exc}") from None
        Multiprocess(config, sockets=[sock]).run()
    finally:
        shutil.rmtree(share, ignore_errors=True)


def listening_socket(host: str, port: int, backlog: int) -> socket.socket:
    """A TCP socket listening on ``host:port``, for worker processes to share.

    Made with ``proto=IPPROTO_TCP``: the connections it accepts inherit it, and asyncio sets ``TCP_NODELAY``
    only on sockets that say TCP. uvicorn's own ``--workers`` socket leaves it 0 (uvicorn issue #3149), and
    then every keep-alive request waits for the client's delayed ACK: 44 ms for ``/health``, measured.
    """
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                         proto=socket.IPPROTO_TCP)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock
