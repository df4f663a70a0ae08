"""How many CPU cores and how much memory this process may really use, and how to give memory back."""
from __future__ import annotations

import ctypes
import functools
import os
from pathlib import Path
from typing import Callable


def _cgroup_cpu_limit() -> float | None:
    """CPU quota from cgroups v2 (``cpu.max``) or v1 (``cfs_quota_us``), or ``None`` if unlimited."""
    v2 = Path("/sys/fs/cgroup/cpu.max")
    try:
        if v2.exists():
            quota, period = v2.read_text().split()[:2]
            return None if quota == "max" else int(quota) / int(period)
        quota_file = Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
        period_file = Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us")
        if quota_file.exists() and period_file.exists():
            microseconds = int(quota_file.read_text())
            return None if microseconds <= 0 else microseconds / int(period_file.read_text())
    except (OSError, ValueError):
        return None
    return None


def available_cpus() -> int:
    """Cores this process may use: CPU affinity, further limited by a cgroup quota."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        count = os.cpu_count() or 1
    quota = _cgroup_cpu_limit()
    if quota is not None:
        count = min(count, max(1, int(quota)))
    return max(1, count)


def resolve_n_jobs(n_jobs: int | None) -> int:
    """Turn scikit-learn style ``n_jobs`` (None, -1, -2, k) into a positive core count."""
    cpus = available_cpus()
    if n_jobs is None:
        return cpus
    if n_jobs < 0:
        return max(1, cpus + 1 + n_jobs)
    if n_jobs == 0:
        raise ValueError("n_jobs=0 is not a number of cores; use None (all cores), -1, or a positive count.")
    return min(n_jobs, cpus)


# Share of the memory available when a fit starts that one trial may use ("auto" memory limit).
TRIAL_MEMORY_SHARE = 0.7


def available_memory_bytes() -> int | None:
    """Memory available to new allocations: ``MemAvailable`` of ``/proc/meminfo``, capped by a cgroup limit."""
    try:
        fields = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines() if ":" in line)
        available = int(fields["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return None
    for limit_file in (Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory/memory.limit_in_bytes")):
        try:
            text = limit_file.read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            available = min(available, int(text))
    return available


def resolve_memory_limit(memory_limit: float | str | None, at_once: int = 1) -> int | None:
    """Bytes one trial may allocate: ``"auto"`` is :data:`TRIAL_MEMORY_SHARE` of the memory available now, shared
    by the ``at_once`` trials that run at the same time; a number is gigabytes, ``None`` no limit."""
    if memory_limit is None:
        return None
    if memory_limit == "auto":
        available = available_memory_bytes()
        return None if available is None else int(TRIAL_MEMORY_SHARE * available / at_once)
    return int(float(memory_limit) * 2**30)


def process_memory_bytes(pid: int | str = "self", field: str = "VmRSS") -> int:
    """A ``/proc/<pid>/status`` memory field in bytes (``VmRSS``, ``VmHWM`` peak RSS, ``VmData``); 0 if unknown."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or ``None`` where the C library has none (musl, macOS, Windows)."""
    try:
        return ctypes.CDLL(None).malloc_trim  # type: ignore[no-any-return]
    except (AttributeError, OSError, TypeError):
        return None


def release_free_memory() -> None:
    """Return to the system the memory the C allocator holds free in this process (glibc's ``malloc_trim``).

    Blocks under glibc's threshold for a mapping of their own come from the heap, and once freed between live blocks
    they stay there for reuse: in the search of the 100k-row generated table the search process held 57 MB of such
    free memory (224 MB of its own, 167 MB after the trim), left by pickling each trial's data. Nothing happens
    where there is no ``malloc_trim``."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
