"""Run a trial in a child process that can be stopped at its deadline.

Trials run in processes forked from a forkserver that has the heavy libraries imported (so a start costs
tens of milliseconds) and that never ran OpenMP code (so forking is safe with LightGBM). The parent owns
the Optuna study: the child sends each fold's score and waits for "go on" or "prune"; the parent kills the
child when the trial's deadline passes. A child that dies (segfault, out of memory) is an error row.
"""
from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.forkserver
import os
import pickle
import sys
import threading
import time
import types
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

import cloudpickle

from automl._resources import release_free_memory
from automl.search.evaluate import TrialResult, TrialTask, evaluate
from automl.search.held_models import SpilledModel
from automl.search.planner import TERMINATE_GRACE

_PRELOAD = ["automl.search.evaluate", "automl.pipeline.build", "sklearn.ensemble", "sklearn.linear_model",
            "sklearn.neighbors", "lightgbm"]
# Imported last by the fork server, after _PRELOAD: freezes what the imports made (see automl/search/frozen.py).
_FREEZE = "automl.search.frozen"
_context: Any = None
# Held while ``__main__`` is swapped for a child's start: trials running at once start their processes from
# several threads (automl/search/slots.py), and the swap is process-wide.
_START_LOCK = threading.RLock()


# Environment of the forkserver (and so of every trial), unless the user's environment already says how OpenMP
# threads wait (any of OPENMP_WAIT_SETTINGS). Between parallel regions a thread spins GOMP_SPINCOUNT times, then
# sleeps. Sleeping at once (OMP_WAIT_POLICY=PASSIVE, the setting until stop 37) made every two-thread boosting fit
# 3-13x slower on a quiet 2-core VM, where waking a sleeping core costs more than a boosting round's work (LightGBM,
# 500 rounds on 20,000 rows: 4.4 s on 2 threads against 0.99 s on 1 and 0.76 s spinning; HistGradientBoosting 5.1 s,
# 0.50 s, 0.50 s). Spinning without end (libgomp's default, 300,000 turns) is the opposite stall when another job
# holds a core (LightGBM on 20,000 rows: 8.0 s, passive 1.3 s). 3,000 turns is within 15 % of the fastest on the
# quiet machine and 2-5x passive's time on the busy one (benchmarks/results/openmp_wait.md).
_WORKER_ENV = {"GOMP_SPINCOUNT": "3000"}
OPENMP_WAIT_SETTINGS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
# glibc's malloc serves blocks from this size up by a mapping of their own, returned to the system when freed. Its
# default threshold starts at 128 KB and rises to the largest block freed (up to 32 MB): after a trial's first
# arrays are freed, arrays of a few MB come from the heap, whose freed holes the process keeps. A fixed threshold
# lowered the peak of every family's trial on the 100k-row generated table (75k rows, 2 rungs) by 12-57 MB unique
# memory (extra trees 381 to 334, kNN 411 to 354, linear 396 to 352, random forest 355 to 315, HistGradientBoosting
# 200 to 177), same scores; 128 KB did as well with up to 30x the page faults, 1 MB with 2-5x and the same times.
_MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(2**20)}
MALLOC_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES")


def worker_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """Variables the fork server (and so every trial process) gets on top of ``environ``: how OpenMP threads wait
    and when malloc maps large blocks, each unless ``environ`` already says it."""
    added: dict[str, str] = {}
    for settings, values in ((OPENMP_WAIT_SETTINGS, _WORKER_ENV), (MALLOC_SETTINGS, _MALLOC_ENV)):
        if not any(name in environ for name in settings):
            added.update(values)
    return added


def preload(modules: list[str]) -> None:
    """Start trial processes with ``modules`` already imported (tsfresh takes seconds to import: once in the fork
    server, not once per trial). A fork server running without them is stopped; the next trial starts a new one."""
    global _context
    missing = [m for m in modules if m not in _PRELOAD]
    if not missing:
        return
    _PRELOAD.extend(missing)
    if _context is not None:
        multiprocessing.forkserver._forkserver._stop()  # type: ignore[attr-defined]  # no public way to restart
        _context = None
    _get_context()  # the server imports them now, in parallel with whatever the caller does next


def warm_up() -> None:
    """Return once the fork server is ready (it has imported its preload modules): start a child that does
    nothing and wait for it, so that time is not charged to the first trial's deadline."""
    ctx = _get_context()
    process = ctx.Process(target=_nothing, daemon=False)
    _start(process)
    process.join()
    process.close()


def _nothing() -> None:
    """The target of :func:`warm_up`'s child."""


# Longest wait for the measurement of a round trip (without a budget the deadline is infinite).
ROUND_TRIP_LIMIT = 60.0


def start_server() -> None:
    """Start the fork server now, without waiting for it: it imports its libraries while this process reads and
    prepares the data (the first trial then starts in tens of milliseconds instead of seconds)."""
    _get_context()


def _receive(conn: Any, payload: bytes) -> None:
    """The target of :meth:`TrialProcess.round_trip`: read the payload as a trial would, and answer."""
    _, data = cloudpickle.loads(payload)
    if isinstance(data, SharedData):
        data.load()
    conn.send("ok")
    conn.close()


def _get_context() -> Any:
    global _context
    if _context is None:
        ctx = multiprocessing.get_context("forkserver")
        # Replaces the default preload of __main__, so a user's script is never re-run in the server.
        ctx.set_forkserver_preload([*_PRELOAD, _FREEZE])
        added = worker_environment(os.environ)
        os.environ.update(added)
        try:
            with _main_module_hidden():
                multiprocessing.forkserver.ensure_running()
        finally:
            for key in added:
                os.environ.pop(key, None)
        _context = ctx
    return _context


def _start(process: Any) -> None:
    """Start a trial's (or a probe's) ``process`` from the fork server, then give back to the system what pickling
    its arguments (the task and data) left free in this process's heap (:func:`release_free_memory`), which the
    allocator would otherwise keep for the whole search."""
    with _main_module_hidden():
        process.start()
    release_free_memory()


@contextlib.contextmanager
def _main_module_hidden() -> Iterator[None]:
    """Start children without re-running the user's ``__main__``.

    multiprocessing makes a child import the parent's main script (so a script without an
    ``if __name__ == "__main__"`` guard would fit again in the child, and fail). Our children need nothing
    from it: the payload is cloudpickled by value. So ``__main__`` is swapped for an empty module while the
    child's start-up data is collected (one thread at a time: the swap is process-wide).
    """
    with _START_LOCK:
        saved = sys.modules["__main__"]
        blank = types.ModuleType("__main__")
        blank.__spec__ = None
        sys.modules["__main__"] = blank
        try:
            yield
        finally:
            sys.modules["__main__"] = saved


@dataclass
class TrialData:
    """The data a trial sees (pickled once per trial into the child, or shared: :func:`shared_data`)."""

    X: Any
    y: Any
    sample_weight: Any = None

    def nbytes(self) -> int:
        """Approximate size in memory (object columns counted by their pointers)."""
        frame = int(self.X.memory_usage(index=False, deep=False).sum()) if hasattr(self.X, "memory_usage") else 0
        return frame + int(getattr(self.y, "nbytes", 0)) + int(getattr(self.sample_weight, "nbytes", 0))


# Search data above this size is written once to a file that trial processes memory-map, instead of being pickled
# to each of them: 458 MB of numbers take 0.4 s to write once and 0.07 s to map per trial, against ~0.5 s and 458 MB
# more memory in every trial process when pickled.
SHARE_ABOVE_BYTES = 32 * 2**20


@dataclass
class SharedData:
    """Search data in a file (joblib format): trial processes map its number columns read-only, no copy each."""

    path: str

    def load(self) -> TrialData:
        import joblib

        return joblib.load(self.path, mmap_mode="r")


def _compact(data: TrialData) -> TrialData:
    """Text columns as pandas categories (integer codes and the distinct values): a trial process maps the codes
    instead of unpickling one string object per row (2.7 s per trial on 400k rows x 6 text columns)."""
    import pandas as pd

    X = data.X
    if not isinstance(X, pd.DataFrame):
        return data
    texts = [c for c, kind in X.dtypes.items() if kind == object]
    if not texts:
        return data
    compact = X.copy(deep=False)
    for name in texts:
        compact[name] = X[name].astype("category")
    return TrialData(compact, data.y, data.sample_weight)


@contextlib.contextmanager
def shared_data(data: TrialData) -> Iterator[TrialData | SharedData]:
    """``data`` as trial processes should receive it: itself when small, else a :class:`SharedData` file (in
    ``/dev/shm`` when it has room, so it stays in memory) removed when the search ends."""
    size = data.nbytes()
    if size < SHARE_ABOVE_BYTES:
        yield data
        return
    import joblib
    import shutil

    shm = "/dev/shm"
    folder = shm if os.path.isdir(shm) and shutil.disk_usage(shm).free > 3 * size else None
    with _temporary_file("automl-data-", ".joblib", folder) as path:
        joblib.dump(_compact(data), path)
        yield SharedData(path)


@contextlib.contextmanager
def _temporary_file(prefix: str, suffix: str, folder: str | None = None) -> Iterator[str]:
    """The path of a new empty file in ``folder`` (the temporary folder by default), removed on leaving."""
    import tempfile

    handle, path = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=folder)
    os.close(handle)
    try:
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.remove(path)


def _on_terminate(signum: int, frame: Any) -> None:
    """Stopped at the deadline: unlink the named semaphores this process made (a thread pool's queue
    holds two), so the resource tracker has nothing to warn about, and leave at once."""
    from multiprocessing import util

    util._run_finalizers(0)  # type: ignore[attr-defined]  # SemLock cleanups are at exit priority 0
    os._exit(143)


def _limit_memory(limit: int | None) -> None:
    """Cap what this process may allocate (heap and anonymous mappings: ``RLIMIT_DATA``) at ``limit`` bytes more
    than it holds now; an allocation past it fails with ``MemoryError`` instead of taking the machine's memory.
    Memory-mapped shared data is not counted."""
    if limit is None:
        return
    import resource

    from automl._resources import process_memory_bytes

    cap = process_memory_bytes("self", "VmData") + limit
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_DATA, (cap, cap))


def _child_main(conn: Any, payload: list[bytes], n_jobs: int, memory_limit: int | None = None,
                result_path: str | None = None, model_path: str | None = None) -> None:
    """The trial process. ``payload`` holds the pickled task and data, taken out of the list once read: this
    process's ``Process`` object keeps its arguments for its whole life (26 MB more through the trial when the
    data of a 100k-row table came pickled)."""
    import signal

    from threadpoolctl import threadpool_limits

    signal.signal(signal.SIGTERM, _on_terminate)
    _limit_memory(memory_limit)
    os.environ["OMP_NUM_THREADS"] = str(n_jobs)
    with threadpool_limits(limits=n_jobs):
        task, data = cloudpickle.loads(payload.pop())
        if isinstance(data, SharedData):
            data = data.load()

        def report(step: int, score: float, seconds: tuple[float, float]) -> Any:
            conn.send(("report", step, score, seconds))
            return conn.recv()

        result = evaluate(task, data.X, data.y, data.sample_weight, report)
    del data
    _send_result(conn, result, result_path, model_path)
    conn.close()


def _send_result(conn: Any, result: TrialResult, result_path: str | None, model_path: str | None = None) -> None:
    """Hand ``result`` to the parent: pickled straight into the file at ``result_path`` when there is one (a
    model's arrays are written from where they lie, with no second copy of them in memory: an extra-trees model
    of 220 MB pickled to bytes raised the process's peak by 221 MB, into a file by 0), else, or when the file
    cannot be written, as raw bytes through the pipe (raw: sent inside a tuple they would be pickled once more).
    The model goes to its own file at ``model_path`` when given (the parent gives one where it holds the models on
    disk, on rungs: it need not read them to write them again)."""
    if model_path is not None and result.refit_model is not None:
        try:
            with open(model_path, "wb") as handle:
                cloudpickle.dump(result.refit_model, handle, protocol=pickle.HIGHEST_PROTOCOL)
            result.refit_model = SpilledModel(model_path)
        except OSError:  # no room for it: it goes with the result
            pass
    if result_path is not None:
        try:
            with open(result_path, "wb") as handle:
                cloudpickle.dump(result, handle)
            conn.send(("result_file",))
            return
        except OSError:  # no room in the temporary folder: the pipe still works
            pass
    conn.send(("result",))
    conn.send_bytes(cloudpickle.dumps(result))


class TrialProcess:
    """Runs :func:`automl.search.evaluate.evaluate` in a killable child process.

    Attributes
    ----------
    peak_child_bytes : int
        The largest peak resident memory of any child so far (read about four times a second).
    """

    def __init__(self) -> None:
        self.peak_child_bytes = 0
        self._trial_peak = 0  # of the running trial's process

    def _watch_memory(self, pid: int | None) -> int:
        """The child's peak resident memory so far (0 once it is gone), counted into :attr:`peak_child_bytes`."""
        from automl._resources import process_memory_bytes

        peak = process_memory_bytes(pid, "VmHWM") if pid is not None else 0
        self.peak_child_bytes = max(self.peak_child_bytes, peak)
        return peak

    def round_trip(self, data: TrialData | SharedData, deadline_at: float) -> float | None:
        """Seconds to start a child, hand it ``data`` and hear back: what every trial and refit pays on top of its
        fits (measured once; ``None`` when it did not finish before ``deadline_at``)."""
        ctx = _get_context()
        start = time.monotonic()
        parent_conn, child_conn = ctx.Pipe()
        payload = cloudpickle.dumps((None, data))
        process = ctx.Process(target=_receive, args=(child_conn, payload), daemon=False)
        del payload  # held by the process's arguments only, which start drops
        _start(process)
        child_conn.close()
        try:
            if not parent_conn.poll(min(max(0.0, deadline_at - time.monotonic()), ROUND_TRIP_LIMIT)):
                return None
            parent_conn.recv()
            return time.monotonic() - start
        except (EOFError, OSError):
            return None
        finally:
            _stop(process)
            parent_conn.close()

    def run(self, task: TrialTask, data: TrialData | SharedData, deadline_at: float,
            on_report: Callable[[int, float, tuple[float, float]], Any],
            on_poll: Callable[[], str | None] | None = None, model_path: str | None = None) -> TrialResult:
        """Evaluate ``task`` and return its result, or a ``timeout`` result at ``deadline_at``.

        Parameters
        ----------
        task : TrialTask
        data : TrialData
        deadline_at : float
            ``time.monotonic()`` instant at which the child is killed.
        on_report : callable
            ``on_report(step, score, seconds)``: called for each fold or rung; answers what to do next (see
            :data:`automl.search.evaluate.Reporter`).
        on_poll : callable, optional
            Called about four times a second while the child works (heartbeats); when it returns a reason (a
            string), the child is stopped and the result is a ``timeout`` with that reason.
        model_path : str, optional
            Where the child writes the trial's model, if it has one (its ``refit_model`` is then a
            :class:`~automl.search.held_models.SpilledModel` of that file), instead of sending it back.
        """
        result = self._run(task, data, deadline_at, on_report, on_poll, model_path)
        result.peak_memory_mb = self._trial_peak / 2**20
        return result

    def _run(self, task: TrialTask, data: TrialData | SharedData, deadline_at: float,
             on_report: Callable[[int, float, tuple[float, float]], Any], on_poll: Callable[[], str | None] | None,
             model_path: str | None = None) -> TrialResult:
        # the child pickles its result into a file (in the temporary folder, on disk where that is on disk: not in
        # /dev/shm, where the bytes would still take memory, only not the processes'), removed afterwards
        with contextlib.ExitStack() as stack:
            try:
                result_path: str | None = stack.enter_context(_temporary_file("automl-result-", ".pkl"))
            except OSError:  # the temporary folder takes no file: the result comes through the pipe
                result_path = None
            return self._run_in_child(task, data, deadline_at, on_report, on_poll, result_path, model_path)

    def _run_in_child(self, task: TrialTask, data: TrialData | SharedData, deadline_at: float,
                      on_report: Callable[[int, float, tuple[float, float]], Any],
                      on_poll: Callable[[], str | None] | None, result_path: str | None,
                      model_path: str | None = None) -> TrialResult:
        self._trial_peak = 0
        ctx = _get_context()
        parent_conn, child_conn = ctx.Pipe()
        # Not a daemon: joblib refuses threads in daemonic processes (forests would run on one core). The payload is
        # referenced by the process's arguments only, which ``start`` drops: not held here while the trial runs.
        process = ctx.Process(target=_child_main, args=(child_conn, [cloudpickle.dumps((task, data))], task.n_jobs,
                                                        task.memory_limit, result_path, model_path), daemon=False)
        result_bytes: bytes | None = None  # when the child could not write its result to the file
        _start(process)
        child_conn.close()
        scores: list[float] = []
        try:
            while True:
                remaining = deadline_at - time.monotonic()
                if remaining <= 0:
                    return TrialResult(status="timeout", fold_scores=scores,
                                       error="stopped at its deadline (time budget)")
                reason = on_poll() if on_poll is not None else None
                if reason is not None:
                    return TrialResult(status="timeout", fold_scores=scores, error=reason)
                self._trial_peak = max(self._trial_peak, self._watch_memory(process.pid))
                if not parent_conn.poll(min(remaining, 0.25)):
                    if not process.is_alive() and not parent_conn.poll():
                        return _died(process, scores, task.memory_limit)
                    continue
                try:
                    message = parent_conn.recv()
                    if message[0] == "result_file":
                        break
                    if message[0] == "result":
                        result_bytes = parent_conn.recv_bytes()
                        break
                except (EOFError, OSError):
                    return _died(process, scores, task.memory_limit)
                scores.append(message[2])
                parent_conn.send(on_report(message[1], message[2], message[3]))
        finally:
            self._trial_peak = max(self._trial_peak, self._watch_memory(process.pid))
            _stop(process)
            parent_conn.close()
        # read after the trial process is gone: a forest's model (268 MB loaded from 137 MB) is not built in this
        # process while the trial process still holds its own copy
        if result_bytes is None and result_path is not None:  # the child wrote it into the file
            with open(result_path, "rb") as handle:
                return cloudpickle.load(handle)
        return cloudpickle.loads(result_bytes)


def _died(process: Any, scores: list[float], memory_limit: int | None = None) -> TrialResult:
    process.join(timeout=1)
    limit = "" if memory_limit is None else f"; the trial memory limit is {memory_limit / 2**30:.1f} GB"
    return TrialResult(status="error", fold_scores=scores,
                       error=f"worker process died with exit code {process.exitcode} "
                             f"(out of memory, or a crash in native code{limit})")


def _stop(process: Any) -> None:
    if process.is_alive():
        process.terminate()
        process.join(timeout=TERMINATE_GRACE)
    if process.is_alive():
        process.kill()
    process.join(timeout=5)
    process.close()
