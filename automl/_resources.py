"""How many CPU cores this process may really use, and how to cap native thread pools."""
from __future__ import annotations

import os
from pathlib import Path


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
