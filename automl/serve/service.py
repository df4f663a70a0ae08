"""The prediction service for a model folder, without HTTP: loading the models, predicting, logging, the
traffic split. :mod:`automl.serve.app` puts it behind FastAPI (run with uvicorn or ``automl serve``).

Endpoints: ``POST /predict`` and ``POST /predict_proba`` (JSON ``{"rows": [...]}`` or a CSV body),
``GET /health``, ``GET /metadata`` (schema, metric, version), ``GET /monitor`` (drift against the training
profile, read from the request log). Every payload is checked against the training schema; bad input gets
a 4xx answer naming the problem. Each predicted row is logged as one JSON line. With a challenger model, a
fraction of the requests is answered by it, and the log says which model answered.
"""
from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from automl.serve.validate import PayloadError, json_value, parse_body, validate_rows

MAX_ROWS = 10_000
MAX_BYTES = 10 * 1024 * 1024


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
        if onnx is not None:
            from automl.io.onnx import OnnxPredictor

            served.onnx = OnnxPredictor(str(onnx))
            if served.onnx.model_version != served.version:
                raise ValueError(f"{onnx} was exported from model version {served.onnx.model_version}, not from "
                                 f"{folder} (version {served.version}): export this model again")
        return served

    @property
    def predictor(self) -> Any:
        """What predicts: the ONNX export when given, else the Python pipeline."""
        return self.onnx if self.onnx is not None else self.model

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
                "schema": [{"name": c, "role": r} for c, r in self.roles.items()],
                "dropped_columns": dict(model.schema_.dropped)}


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


@dataclass
class RequestLog:
    """Appends one JSON line per predicted row to ``path`` (nothing when ``path`` is None)."""

    path: Path | None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def write(self, records: list[dict[str, Any]]) -> None:
        if self.path is None or not records:
            return
        text = "".join(json.dumps(r, default=str) + "\n" for r in records)
        with self.lock, open(self.path, "a", encoding="utf-8") as out:
            out.write(text)


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
        """Validate, predict and log one request; the JSON answer."""
        started = time.perf_counter()
        served = self.pick()
        frame = validate_rows(parse_body(body, content_type), served.roles, served.columns, self.max_rows)
        model = served.model
        if proba and model.classes_ is None:
            raise PayloadError(400, "a regression model gives no probabilities: use /predict")
        try:
            predictions = served.predictor.predict(frame)
            probabilities = served.predictor.predict_proba(frame) if proba else None  # only when asked: 2x the work
        except ValueError as exc:  # e.g. a finite value so large that scaling it overflows to infinity
            raise PayloadError(422, f"the model cannot predict these rows: {exc}") from None
        latency = (time.perf_counter() - started) * 1000
        self.log.write(_records(frame, served, predictions, probabilities, latency))
        out: dict[str, Any] = {"model": served.name, "model_version": served.version,
                               "predictions": [json_value(v) for v in predictions]}
        if probabilities is not None:
            out["classes"] = [json_value(c) for c in model.classes_]
            out["probabilities"] = np.round(probabilities, 6).tolist()
        return out


def _records(frame: pd.DataFrame, served: ServedModel, predictions: np.ndarray, probabilities: np.ndarray | None,
             latency_ms: float) -> list[dict[str, Any]]:
    """One log line per row: time, the row and its hash, prediction, latency, model version."""
    now = datetime.now(timezone.utc).isoformat()
    rows = frame[list(served.roles)].to_dict(orient="records")
    records = []
    for i, row in enumerate(rows):
        row = {k: json_value(v) for k, v in row.items()}
        text = json.dumps(row, sort_keys=True, default=str)
        record = {"time": now, "model": served.name, "model_version": served.version, "row": row,
                  "input_hash": hashlib.sha256(text.encode()).hexdigest()[:16],
                  "prediction": json_value(predictions[i]), "latency_ms": round(latency_ms, 3)}
        if probabilities is not None:
            record["probabilities"] = [round(float(p), 6) for p in probabilities[i]]
        records.append(record)
    return records
