"""Trials that run at once: one slot per trial process the search keeps busy.

With one slot a trial runs in the caller's thread, as it always did. With several, each runs in a thread of its own
that waits on its trial process (the fitting happens in that process, so the threads hold no CPU); the controller
decides and records under its lock (:class:`automl.search.controller.SearchController`). How many slots a search gets
is the time planner's rule (:func:`automl.search.planner.parallel_slots`).
"""
from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Callable

from automl.search.worker import TrialProcess


class TrialSlots:
    """``count`` trial processes that may run at once, ``first`` among them (the controller's own runner).

    Parameters
    ----------
    first : TrialProcess
        The runner of the first slot (the controller's, which also refits).
    count : int
        Slots; 1 runs every trial inline.
    """

    def __init__(self, first: TrialProcess, count: int):
        if count < 1:
            raise ValueError(f"trial slots must be at least 1, got {count}")
        self.runners = [first, *(TrialProcess() for _ in range(count - 1))]
        self._free = list(self.runners)
        self._running: dict[Future, TrialProcess] = {}
        self._pool = ThreadPoolExecutor(count, thread_name_prefix="automl-trial") if count > 1 else None

    @property
    def running(self) -> int:
        """Trials running now."""
        return len(self._running)

    def free_runner(self) -> TrialProcess:
        """A runner with no trial: at once when a slot is free, else when the first running trial ends. The error of a
        trial's thread (a bug in recording it, not a failed trial: those are results) is raised here."""
        while not self._free:
            if not self._running:
                raise RuntimeError("every trial runner was taken and none is running: one was not given back")
            done, _ = wait(self._running, return_when=FIRST_COMPLETED)
            self._collect(done)
        return self._free.pop(0)

    def start(self, runner: TrialProcess, work: Callable[[TrialProcess], None], alone: bool = False) -> None:
        """Run ``work(runner)``: in the slot's thread, or inline (in the caller's thread, so that nothing else starts
        before it ends) with one slot or ``alone``; the caller has waited for the running trials then
        (:meth:`wait_all`)."""
        if self._pool is None or alone:
            work(runner)
            self._free.append(runner)
            return
        self._running[self._pool.submit(work, runner)] = runner

    def give_back(self, runner: TrialProcess) -> None:
        """Return a runner taken with :meth:`free_runner` that got no trial."""
        self._free.insert(0, runner)

    def wait_all(self) -> None:
        """Wait for every running trial to end (raising the first error of their threads, after all have ended)."""
        if self._running:
            done, _ = wait(self._running)
            self._collect(done)

    def close(self) -> None:
        """Wait for the running trials and release the threads (errors already raised, or being raised, by the
        caller are not raised again)."""
        if self._running:
            wait(self._running)
            for future in list(self._running):
                self._free.append(self._running.pop(future))
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def peak_bytes(self) -> int:
        """The largest trial process's peak of each slot, summed: at most what the trials running at once held."""
        return sum(runner.peak_child_bytes for runner in self.runners)

    def _collect(self, done: set[Future]) -> None:
        errors = []
        for future in done:
            self._free.append(self._running.pop(future))
            if future.exception() is not None:
                errors.append(future.exception())
        if errors:
            raise errors[0]  # type: ignore[misc]
