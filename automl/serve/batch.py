"""Predicting for concurrent requests together (dynamic batching), on one thread per model, when calling the model
is dear.

A fitted pipeline's ``predict`` costs about the same for one row as for thirty: on a credit-g ensemble of six
pipelines, 35 ms for 1 row and 46 ms for 32 (2 cores), spent per call in input validation and in each member's
``ColumnTransformer``, not per row. So requests of a few rows do not each call the model: they queue, and one
thread per model takes every request waiting and predicts their rows in one call. A request that arrives while
a prediction runs waits for it, then goes with the next one. Requests of more than :data:`BATCH_ROWS` rows are
predicted alone, in their own thread, so that they do not delay small ones, and so are all requests while the
model's calls take less than :data:`INLINE_SECONDS` (an ONNX export, a compiled pipeline): batching would cost them
more than it saves.

Only requests whose frames have the same columns and dtypes are predicted together: concatenating an int column
with a float one would change how a category written as a number reads. When a batch fails (a value the model
cannot take), its requests are predicted one by one, so that each gets its own answer or its own error.
"""
from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Callable, Hashable

import numpy as np
import pandas as pd

BATCH_ROWS = 64  # requests with more rows are predicted alone
MAX_BATCH_ROWS = 512  # rows in one model call
# After the first request of a batch, wait for more for a quarter of a model call (at most 10 ms): a call for
# 4 rows costs about as much as for 1, and the clients answered by the last call send again within ms. Without
# the wait, 4 clients of a 40 ms pipeline alternate batches of 1 and 3 rows (36 requests/s in-process; 59 with).
WAIT_SHARE = 0.25
MAX_WAIT_SECONDS = 0.010
# A model whose calls take less than this predicts in the request's thread: handing the rows to the batching
# thread and back costs more than it saves (ONNX, 0.2 ms a call: 520 requests/s inline against 370 batched,
# in-process, 4 threads; a compiled credit-g ensemble of 21 pipelines, 2.3 ms a call: 313-316 requests/s inline
# against 280-303 batched, automl serve with 2 processes and 4 clients on 2 cores).
INLINE_SECONDS = 0.005
IDLE_SECONDS = 30.0  # the batching thread ends after this long without requests (and starts again on demand)

_local = threading.local()


def limit_threads() -> None:
    """Let OpenMP code called from this thread (scikit-learn's histogram gradient boosting, kNN distances) use one
    thread.

    A request holds a few rows: with the default of one OpenMP thread per core, every call starts and joins a
    team of threads, and on busy cores the team waits for a core (one credit-g row through an ensemble with a
    HistGradientBoosting member: 280 ms on 2 busy cores, 36 ms on one thread). The limit applies to the calling
    thread only (OpenMP keeps it per thread), once per thread.
    """
    if getattr(_local, "limited", False):
        return
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="openmp")
    _local.limited = True


@dataclass
class Prediction:
    """What the model answered for some rows: labels or values, and class probabilities when asked."""

    labels: np.ndarray
    probabilities: np.ndarray | None = None

    def rows(self, start: int, stop: int) -> "Prediction":
        """The answer for rows ``start:stop``."""
        return Prediction(self.labels[start:stop],
                          None if self.probabilities is None else self.probabilities[start:stop])


Predict = Callable[[pd.DataFrame, bool], Prediction]


@dataclass
class _Job:
    frame: pd.DataFrame
    proba: bool
    future: Future

    @property
    def key(self) -> Hashable:
        """Jobs with the same key can be predicted in one call."""
        return self.proba, tuple(zip(self.frame.columns, map(str, self.frame.dtypes)))


class Batcher:
    """Predicts the rows of concurrent small requests in one call of ``predict``.

    Parameters
    ----------
    predict : callable
        ``predict(frame, proba) -> Prediction``; batches are predicted on one thread, large requests on
        their own.
    inline_seconds : float
        Calls cheaper than this on average are made in the caller's thread, unbatched.
    """

    def __init__(self, predict: Predict, inline_seconds: float = INLINE_SECONDS):
        self._predict = predict
        self.inline_seconds = inline_seconds
        self._queue: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._call_seconds = 0.0  # moving average of the CPU time of a call of predict

    def predict(self, frame: pd.DataFrame, proba: bool) -> Prediction:
        """The prediction for ``frame``, batched with concurrent requests when it is small and the model dear.

        Raises whatever ``predict`` raises for these rows.
        """
        return self.submit(frame, proba).result()

    def submit(self, frame: pd.DataFrame, proba: bool) -> Future:
        """:meth:`predict` as a future: queued for the batching thread when the request is small and the model's
        calls dear, else done now, in this thread (:meth:`inline`)."""
        job = _Job(frame, proba, Future())
        if self.inline(frame):
            try:
                job.future.set_result(self._timed(frame, proba))
            except Exception as exc:  # noqa: BLE001 - raised where the future's result is asked for
                job.future.set_exception(exc)
            return job.future
        self._queue.put(job)
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="automl-batch", daemon=True)
                self._thread.start()
        return job.future

    def inline(self, frame: pd.DataFrame) -> bool:
        """Whether ``frame`` is predicted in the caller's thread: a large request, or a cheap model."""
        return len(frame) > BATCH_ROWS or self._call_seconds < self.inline_seconds

    def _timed(self, frame: pd.DataFrame, proba: bool) -> Prediction:
        """``predict`` in this thread, keeping a moving average of the cost of calls of small requests: the time
        of the calling thread on a CPU, which waits for the GIL do not inflate."""
        limit_threads()
        started = time.thread_time()
        out = self._predict(frame, proba)
        if len(frame) <= BATCH_ROWS * 4:
            self._call_seconds += 0.2 * (time.thread_time() - started - self._call_seconds)
        return out

    def _run(self) -> None:
        limit_threads()
        while True:
            jobs = self._take()
            if jobs is None:
                return
            try:
                groups: dict[Hashable, list[_Job]] = {}
                for job in jobs:
                    groups.setdefault(job.key if len(jobs) > 1 else None, []).append(job)
                for group in groups.values():
                    self._answer(group)
            finally:  # no request waits forever, whatever went wrong here
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(RuntimeError("the prediction thread failed"))

    def _take(self) -> list[_Job] | None:
        """The jobs waiting (at least one, at most :data:`MAX_BATCH_ROWS` rows); None after an idle spell."""
        try:
            jobs = [self._queue.get(timeout=IDLE_SECONDS)]
        except queue.Empty:
            with self._lock:  # a request that queued before this lock is taken finds the thread still running
                if self._queue.empty():
                    self._thread = None
                    return None
            jobs = [self._queue.get()]
        rows = len(jobs[0].frame)
        deadline = time.perf_counter() + min(MAX_WAIT_SECONDS, WAIT_SHARE * self._call_seconds)
        while rows < MAX_BATCH_ROWS:
            try:
                job = self._queue.get(timeout=max(0.0, deadline - time.perf_counter()))
            except queue.Empty:
                break
            jobs.append(job)
            rows += len(job.frame)
        return jobs

    def _answer(self, jobs: list[_Job]) -> None:
        """Predict ``jobs`` in one call; on failure, one by one."""
        if len(jobs) > 1:
            try:
                together = self._timed(pd.concat([j.frame for j in jobs], ignore_index=True), jobs[0].proba)
            except Exception:  # noqa: BLE001 - each request gets its own answer or error below
                pass
            else:
                start = 0
                for job in jobs:
                    job.future.set_result(together.rows(start, start + len(job.frame)))
                    start += len(job.frame)
                return
        for job in jobs:
            try:
                job.future.set_result(self._timed(job.frame, job.proba))
            except BaseException as exc:  # noqa: BLE001 - handed to the request's thread, which raises it
                job.future.set_exception(exc)
