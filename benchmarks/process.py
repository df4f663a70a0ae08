"""Run a command in its own process group: a hard time limit, peak memory of the whole group, a log file.

A benchmark run may start worker processes (our engine's trial workers, AutoGluon's or FLAML's), so the
command gets a new session; memory is sampled over every process in that group two ways, and at the time limit
the whole group is terminated, then killed. Linux only (reads ``/proc``).

- summed RSS: each process's resident pages, added up. A page that several processes share (a forked worker's
  libraries and the data it inherited) is counted once per process, so a tree of processes is overstated;
- summed PSS (proportional set size): a shared page is split among the processes that map it, so the sum is the
  memory the tree actually occupies. For one process the two agree up to the libraries it shares with others.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SAMPLE_SECONDS = 0.25
GRACE_SECONDS = 5.0
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Outcome:
    """How a contained command ended."""

    returncode: int | None
    wall_s: float
    peak_rss_mb: float
    timed_out: bool
    peak_pss_mb: float = float("nan")


def group_pids(pgid: int) -> list[int]:
    """The live processes of process group ``pgid``."""
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        # after the ``(comm)`` field: state, ppid, pgrp, ...
        if int(fields[2]) == pgid:
            pids.append(int(entry.name))
    return pids


def process_memory_bytes(pid: int) -> tuple[int, int]:
    """Resident and proportional set size of process ``pid`` in bytes (0, 0 when it has ended)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return 0, 0
    sizes = {line.split(b":")[0]: int(line.split()[1]) * 1024 for line in lines if line.endswith(b" kB")}
    return sizes.get(b"Rss", 0), sizes.get(b"Pss", 0)


def group_memory_bytes(pgid: int) -> tuple[int, int]:
    """Summed RSS and summed PSS of the live processes in process group ``pgid`` (0, 0 when none is left)."""
    rss = pss = 0
    for pid in group_pids(pgid):
        one_rss, one_pss = process_memory_bytes(pid)
        rss, pss = rss + one_rss, pss + one_pss
    return rss, pss


def group_rss_bytes(pgid: int) -> int:
    """Summed resident memory of the live processes in process group ``pgid``.

    Returns
    -------
    int
        Bytes (0 when the group has no process left).
    """
    return group_memory_bytes(pgid)[0]


def cpu_pinning(cores: int) -> list[int] | None:
    """The first ``cores`` CPUs this process may use, or ``None`` when it may use no more than that."""
    usable = sorted(os.sched_getaffinity(0))
    return usable[:cores] if len(usable) > cores else None


def run_contained(command: list[str], timeout: float, log: Path, env: dict[str, str] | None = None,
                  cores: int | None = None, peak_until: Path | None = None) -> Outcome:
    """Run ``command`` until it exits or ``timeout`` seconds pass, sampling its group's memory.

    Parameters
    ----------
    command : list of str
        The program and its arguments.
    timeout : float
        Wall seconds before the group gets SIGTERM (and SIGKILL :data:`GRACE_SECONDS` later).
    log : pathlib.Path
        Receives standard output and standard error.
    env : dict, optional
        Environment of the command (default: ours).
    cores : int, optional
        Pin the command to this many CPUs when more are usable.
    peak_until : pathlib.Path, optional
        A file the command creates when what follows should not count in the peaks (an adapter's extra
        measurements after its fit and predictions, such as our ONNX export): sampling for the peaks stops once it
        exists.

    Returns
    -------
    Outcome
    """
    pinned = cpu_pinning(cores) if cores else None
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        start = time.monotonic()
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                preexec_fn=(lambda: os.sched_setaffinity(0, pinned)) if pinned else None)
        (peak_rss, peak_pss), timed_out = _watch(proc, start + timeout, peak_until)
        wall = time.monotonic() - start
    return Outcome(proc.returncode, wall, peak_rss / 2**20, timed_out, peak_pss / 2**20)


def _watch(proc: subprocess.Popen, deadline: float, peak_until: Path | None = None
           ) -> tuple[tuple[int, int], bool]:
    """Sample the group's memory until ``proc`` exits, ``deadline`` or the file ``peak_until`` appears (then only
    wait); then end whatever is left of the group. Returns the peaks of summed RSS and of summed PSS (each at its own
    moment) and whether the deadline came.

    The group runs in its own session, so Ctrl-C does not reach it: an interrupt (or any exception) while
    watching ends the group before it propagates, so no run is left behind.
    """
    peak_rss = peak_pss = 0
    timed_out = False
    try:
        while proc.poll() is None:
            if peak_until is None or not peak_until.exists():
                rss, pss = group_memory_bytes(proc.pid)
                peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
            if time.monotonic() >= deadline:
                timed_out = True
                break
            time.sleep(SAMPLE_SECONDS)
    finally:
        _end_group(proc)
    return (peak_rss, peak_pss), timed_out


def _end_group(proc: subprocess.Popen) -> None:
    """SIGTERM the process group, wait up to :data:`GRACE_SECONDS`, then SIGKILL what is left."""
    for sig, wait in ((signal.SIGTERM, GRACE_SECONDS), (signal.SIGKILL, GRACE_SECONDS)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break  # nothing left in the group
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        if not group_rss_bytes(proc.pid):
            break
    proc.wait()
