"""The prediction service for a model folder, without HTTP: loading the models, predicting, logging, the
traffic split. :mod:`automl.serve.app` puts it behind FastAPI (run with uvicorn or ``automl serve``).

Endpoints: ``POST /predict`` and ``POST /predict_proba`` (JSON ``{"rows": [...]}`` or a CSV body; a model fitted
with related tables or on series takes the body :mod:`automl.serve.synthesised` describes), ``GET /health``,
``GET /metadata`` (schema, input, metric, version), ``GET /monitor`` (drift against the training profile, read from
the request log). Every payload is checked against the training schema; bad input gets a 4xx answer naming the
problem. Each predicted row (or series) is logged as one JSON line. With a challenger model, a fraction of the
requests is answered by it, and the log says which model answered.
"""
from __future__ import annotations

import asyncio
import fcntl
import json
import os
import random
import threading
import time
from dataclasses import dataclass, field
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from automl.metrics import align_proba
from automl.model_input import FeatureModel, ModelInput
from automl.pipeline.fast import FAST_ROWS, FastPredictor, check_rows
from automl.serve.batch import BATCH_ROWS, Batcher, Prediction
from automl.serve.synthesised import ids_json, logged_inputs, request_input, synthesised_prediction
from automl.serve.validate import Payload, PayloadError, json_value, parse_payload, row_dicts, row_hash, validate_rows

MAX_ROWS = 10_000
MAX_BYTES = 10 * 1024 * 1024
# bodies up to this size are parsed and checked in the event loop (about 0.1 ms a row): larger ones in a thread
INLINE_BYTES = 32 * 1024


@dataclass
class ServedModel:
    """A loaded model folder with what the service needs to know about it."""

    name: str
    folder: Path
    model: Any
    version: str
    roles: dict[str, str]
    columns: list[str]
    onnx: Any = None
    features: FeatureModel | None = None  # a model fitted with related tables or on series, in two halves
    fast: Any = None  # the pipeline compiled for small batches (automl/pipeline/fast.py), when it compiles
    batcher: Batcher = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.batcher = Batcher(self.predict_rows)

    @classmethod
    def open(cls, folder: str | Path, name: str = "a", onnx: str | Path | None = None) -> "ServedModel":
        """Load ``folder``; with ``onnx``, predictions come from that export of it, run in onnxruntime."""
        from automl.io.persist import load, model_version

        folder = Path(folder)
        model = load(folder)
        schema = model.schema_
        roles = {c.name: c.role for c in schema.columns if c.name not in schema.dropped}
        columns = [str(c) for c in getattr(model, "feature_names_in_", [c.name for c in schema.columns])]
        single_threaded(model.best_pipeline_)
        served = cls(name, folder, model, model_version(folder), roles, columns)
        if served.model_input.synthesised:
            served.features = FeatureModel(model)
        elif onnx is None:
            served.fast = compiled(model, folder, columns)
        if onnx is not None:
            from automl.io.onnx import OnnxPredictor

            served.onnx = OnnxPredictor(str(onnx))
            served.onnx.session = single_threaded_session(onnx)
            if served.onnx.model_version != served.version:
                raise ValueError(f"{onnx} was exported from model version {served.onnx.model_version}, not from "
                                 f"{folder} (version {served.version}): export this model again")
        return served

    @property
    def model_input(self) -> ModelInput:
        """What the model takes: rows, rows with related tables, or long-format series."""
        return ModelInput.of(self.model)

    @property
    def classes(self) -> list[Any] | None:
        """The class labels as JSON values (None for a regression model)."""
        classes = self.model.classes_
        return None if classes is None else [json_value(c) for c in classes]

    def predict_rows(self, frame: pd.DataFrame, proba: bool) -> Prediction:
        """Labels (and probabilities when ``proba``) for validated rows, from the ONNX export when given (one run
        for both), else from the Python pipeline.

        Raises
        ------
        PayloadError
            422 when the model cannot predict the rows.
        """
        try:
            if self.onnx is not None:
                out = self.onnx.run(frame)
                labels = out["label"] if "label" in out else out["variable"].ravel()
                return Prediction(np.asarray(labels), out["probabilities"] if proba else None)
            if self.fast is not None and len(frame) <= FAST_ROWS:
                return self._predict_compiled(frame, proba)
            # probabilities only when asked: twice the work
            probabilities = np.asarray(self.model.predict_proba(frame)) if proba else None
            return Prediction(np.asarray(self.model.predict(frame)), probabilities)
        except ValueError as exc:  # e.g. a finite value so large that scaling it overflows to infinity
            raise PayloadError(422, f"the model cannot predict these rows: {exc}") from None

    def _predict_compiled(self, frame: pd.DataFrame, proba: bool) -> Prediction:
        """Labels (and probabilities) from the compiled pipeline, for rows :func:`validate_rows` checked already."""
        fast, model = self.fast, self.model
        if not proba:
            return Prediction(np.asarray(fast.predict(frame)), None)
        probabilities = align_proba(fast.predict_proba(frame), model.best_pipeline_.classes_, model.classes_)
        # an ensemble's label is its most probable class: no second pass for it
        labels = np.asarray(model.classes_)[np.argmax(probabilities, axis=1)] if fast.weights is not None \
            else np.asarray(fast.predict(frame))
        return Prediction(labels, probabilities)

    def reference(self) -> dict[str, Any] | None:
        """The prediction-drift reference of this model (computed once)."""
        if not hasattr(self, "_reference"):
            from automl.serve.monitor import prediction_reference

            self._reference = prediction_reference(self.model, self.folder)
        return self._reference

    def metadata(self) -> dict[str, Any]:
        model = self.model
        return {"name": self.name, "version": self.version, "runtime": "python" if self.onnx is None else "onnx",
                "task": model.task_, "metric": model.metric_.name,
                "greater_is_better": model.metric_.greater_is_better,
                "validation_score": json_value(model.best_score_), "family": model.best_family_,
                "classes": None if model.classes_ is None else [json_value(c) for c in model.classes_],
                "schema": [{"name": c, "role": r} for c, r in self.roles.items()], "input": asdict(self.model_input),
                "dropped_columns": dict(model.schema_.dropped)}


def compiled(model: Any, folder: Path, columns: list[str]) -> Any:
    """``model``'s final pipeline compiled for small batches (:class:`~automl.pipeline.fast.FastPredictor`), checked
    on the training sample the folder keeps; None when it keeps none or nothing compiles."""
    from automl.io.persist import load_sample

    sample = load_sample(folder)
    if sample is None:
        return None
    return FastPredictor.compile(model.best_pipeline_, check_rows(sample[0][columns]))


def single_threaded(estimator: Any, seen: set[int] | None = None) -> None:
    """Set ``n_jobs=1`` on every fitted estimator inside ``estimator`` (pipelines, wrappers, ensembles).

    A request holds a few rows: starting threads for them costs more than it saves (a forest of an ensemble
    took 130 ms per one-row request with all cores, against a few ms with one), and the server already
    answers requests concurrently.
    """
    seen = set() if seen is None else seen
    if id(estimator) in seen or not hasattr(estimator, "get_params"):
        return
    seen.add(id(estimator))
    if "n_jobs" in vars(estimator):
        estimator.n_jobs = 1
    for value in vars(estimator).values():
        for inner in value if isinstance(value, (list, tuple)) else [value]:
            candidate = inner[1] if isinstance(inner, tuple) and len(inner) >= 2 else inner
            single_threaded(candidate, seen)


def single_threaded_session(path: str | Path) -> Any:
    """An onnxruntime session of the model in ``path`` that computes on the calling thread.

    onnxruntime's default pool of one thread per core spins between runs: for one row it doubled the CPU time
    of a request (0.36 ms per run against 0.15 ms on one thread, and 3.3 ms against 1.7 ms per request on
    2 cores), time taken from the other requests.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(Path(path).read_bytes(), sess_options=options, providers=["CPUExecutionProvider"])


@dataclass
class RequestLog:
    """Appends one JSON line per predicted row to ``path`` (nothing when ``path`` is None).

    Each request's lines go out in one ``write`` on a file opened with ``O_APPEND``, under an exclusive
    ``flock``: lines of concurrent requests, from threads or from several server processes, never interleave.
    The file is opened for every request (a few microseconds), so it can be rotated while the service runs.
    """

    path: Path | None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def write(self, records: list[dict[str, Any]]) -> None:
        if self.path is None or not records:
            return
        data = "".join(json.dumps(r, default=str) + "\n" for r in records).encode("utf-8")
        with self.lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)  # releases the flock


@dataclass
class Service:
    """What the endpoints share: the models, the traffic split, the log and the limits."""

    primary: ServedModel
    challenger: ServedModel | None = None
    split: float = 0.0
    log: RequestLog = field(default_factory=lambda: RequestLog(None))
    max_rows: int = MAX_ROWS
    seed: int = 0

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._lock = threading.Lock()

    def pick(self) -> ServedModel:
        """The model that answers this request: the challenger for a ``split`` share of the requests."""
        if self.challenger is None or self.split <= 0:
            return self.primary
        with self._lock:
            draw = self._random.random()
        return self.challenger if draw < self.split else self.primary

    def answer(self, body: bytes, content_type: str, proba: bool) -> dict[str, Any]:
        """Validate, predict and log one ``/predict`` or ``/predict_proba`` request; the JSON answer."""
        started = time.perf_counter()
        payload, served = parse_payload(body, content_type), self.pick()
        if served.features is not None:
            return self.answer_synthesised(payload, proba, served, started)
        return self.answer_frame(payload.rows_alone(), proba, served, started)

    async def answer_async(self, body: bytes, content_type: str, proba: bool) -> dict[str, Any]:
        """:meth:`answer` in the event loop, for small bodies (see :meth:`answer_frame_async`); feature synthesis,
        which is dear, in a worker thread."""
        started = time.perf_counter()
        payload, served = parse_payload(body, content_type), self.pick()
        if served.features is not None:
            return await asyncio.to_thread(self.answer_synthesised, payload, proba, served, started)
        return await self.answer_frame_async(payload.rows_alone(), proba, served, started)

    def answer_synthesised(self, payload: Payload, proba: bool, served: ServedModel, started: float
                           ) -> dict[str, Any]:
        """Validate, synthesise the features, predict and log a request to a model fitted with related tables or
        on series (:mod:`automl.serve.synthesised`); the JSON answer, with the series ids for a series model.

        Raises
        ------
        PayloadError
            With the HTTP status and a message naming what is missing or unreadable.
        """
        model = served.features
        if model is None:
            raise TypeError(f"model {served.name!r} synthesises no features: answer it with answer_frame")
        self._check_proba(proba, served)
        X, tables = request_input(payload, model.input, self.max_rows)
        features, prediction = synthesised_prediction(model, X, tables, proba)
        rows, synthesised, hashes = logged_inputs(model, X, features)
        latency = (time.perf_counter() - started) * 1000
        self.log.write(_records(rows, served, prediction, latency, synthesised, hashes))
        out = _answer_json(served, prediction)
        ids = ids_json(model, X)
        return out if ids is None else {**out, "ids": ids}

    async def answer_frame_async(self, frame: pd.DataFrame, proba: bool, served: ServedModel, started: float
                                 ) -> dict[str, Any]:
        """:meth:`answer_frame` in the event loop: the checks run here, and the model call too when the model is
        cheap, or in the batching thread when it is dear, or in a worker thread for a large request. The common
        request of a few rows then makes no hop through a thread pool (each costs a GIL handover)."""
        frame = self.checked(frame, proba, served)
        if len(frame) > BATCH_ROWS:
            prediction = await asyncio.to_thread(served.batcher.predict, frame, proba)
        else:
            future = served.batcher.submit(frame, proba)
            # done already when predicted here; awaiting it anyway would cost a wake-up of the loop
            prediction = future.result() if future.done() else await asyncio.wrap_future(future)
        return self.finish(frame, served, prediction, started)

    def answer_frame(self, frame: pd.DataFrame, proba: bool, served: ServedModel,
                     started: float | None = None) -> dict[str, Any]:
        """Validate the parsed rows ``frame`` against ``served``'s schema, predict, log; the JSON answer.

        Raises
        ------
        PayloadError
            With the HTTP status and a message naming the problem (columns, rows).
        """
        started = time.perf_counter() if started is None else started
        frame = self.checked(frame, proba, served)
        return self.finish(frame, served, served.batcher.predict(frame, proba), started)

    def checked(self, frame: pd.DataFrame, proba: bool, served: ServedModel) -> pd.DataFrame:
        """The parsed rows held to ``served``'s training schema, in its column order (:func:`validate_rows`)."""
        frame = validate_rows(frame, served.roles, served.columns, self.max_rows)
        self._check_proba(proba, served)
        return frame

    @staticmethod
    def _check_proba(proba: bool, served: ServedModel) -> None:
        if proba and served.model.classes_ is None:
            raise PayloadError(400, "a regression model gives no probabilities: use /predict")

    def finish(self, frame: pd.DataFrame, served: ServedModel, prediction: Prediction, started: float
               ) -> dict[str, Any]:
        """Log the predicted rows; the JSON answer."""
        latency = (time.perf_counter() - started) * 1000
        self.log.write(_records(row_dicts(frame, list(served.roles)), served, prediction, latency))
        return _answer_json(served, prediction)


def _answer_json(served: ServedModel, prediction: Prediction) -> dict[str, Any]:
    """The answer to a prediction request: which model, its version, the predictions (and probabilities)."""
    out: dict[str, Any] = {"model": served.name, "model_version": served.version,
                           "predictions": [json_value(v) for v in prediction.labels.tolist()]}
    if prediction.probabilities is not None:
        out["classes"] = served.classes
        out["probabilities"] = np.round(prediction.probabilities, 6).tolist()
    return out


def _records(rows: list[dict[str, Any]], served: ServedModel, prediction: Prediction, latency_ms: float,
             features: list[dict[str, Any]] | None = None, hashes: list[str] | None = None) -> list[dict[str, Any]]:
    """One log line per predicted row: time, model, the row and its hash, the synthesised ``features`` (for a model
    fitted with related tables or on series), prediction, latency."""
    now = datetime.now(timezone.utc).isoformat()
    labels = prediction.labels.tolist()
    probabilities = prediction.probabilities
    latency = round(latency_ms, 3)
    records = []
    for i, row in enumerate(rows):
        record = {"time": now, "model": served.name, "model_version": served.version, "row": row,
                  "input_hash": hashes[i] if hashes is not None else row_hash(row),
                  "prediction": json_value(labels[i]), "latency_ms": latency}
        if features is not None:
            record["features"] = features[i]
        if probabilities is not None:
            record["probabilities"] = [round(float(p), 6) for p in probabilities[i]]
        records.append(record)
    return records
