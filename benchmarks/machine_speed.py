"""How fast this machine is, so that rows measured on different machines are not compared as if they were not.

Machines of the same kind differ: on 2026-12-06 a new machine fitted the suite's LightGBM baselines in twice the time
the machine of the session before did (bank-marketing 0.54 s against 0.27 s, mfeat-factors 4.2 s against 2.0 s), and
the engine finished 23 % fewer trials in its 60 s on the same 33 (dataset, seed) pairs: a 60 s budget there buys
about what 30 s bought before. A peer's rows carried over from another session are then measured at another budget.

:func:`reference_seconds` times a fixed LightGBM fit on a fixed generated table (the work most trials do); the
benchmark runner records it on every row (``machine_ref_s``), and :func:`speed_mismatch` says when two systems'
rows come from machines whose references differ by more than a tolerance.
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd

REFERENCE_ROWS, REFERENCE_COLUMNS, REFERENCE_ROUNDS = 20_000, 20, 200
# References differing by more than this share are different machines (repeated readings on one quiet machine
# agree within a few per cent)
TOLERANCE = 0.25


def reference_seconds(cores: int = 2, rows: int = REFERENCE_ROWS, repeats: int = 3) -> float:
    """The median seconds of ``repeats`` fits of LightGBM (``REFERENCE_ROUNDS`` rounds, ``cores`` threads) on a fixed
    generated regression table of ``rows`` x ``REFERENCE_COLUMNS``.

    Parameters
    ----------
    cores : int
        Threads of the fit (as the benchmark gives each system).
    rows : int
        Rows of the table (smaller only in tests).
    repeats : int
        Fits timed; their median is returned.

    Returns
    -------
    float
    """
    from lightgbm import LGBMRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, REFERENCE_COLUMNS))
    y = X[:, 0] - 0.5 * X[:, 1] * X[:, 2] + np.sin(X[:, 3]) + rng.normal(scale=0.5, size=rows)
    seconds = []
    for _ in range(repeats):
        model = LGBMRegressor(n_estimators=REFERENCE_ROUNDS, num_threads=cores, random_state=0, verbose=-1)
        start = time.perf_counter()
        model.fit(X, y)
        seconds.append(time.perf_counter() - start)
    return float(np.median(seconds))


def reference_medians(frame: pd.DataFrame, systems: list[str] | None = None) -> dict[str, float | None]:
    """The median ``machine_ref_s`` of each system's rows in a result frame (``None``: none recorded), for
    ``systems`` (default: every system in the frame, in order of appearance)."""
    medians: dict[str, float | None] = {}
    for system in systems if systems is not None else list(dict.fromkeys(frame["system"])):
        rows = frame[frame["system"] == system]
        values = rows["machine_ref_s"].dropna() if "machine_ref_s" in rows else pd.Series(dtype=float)
        medians[system] = float(values.median()) if len(values) else None
    return medians


def _apart(references: list[float], tolerance: float) -> float | None:
    """The slowest over the fastest of machine ``references`` when it passes ``1 + tolerance`` (different
    machines), else ``None``."""
    ratio = max(references) / min(references)
    return ratio if ratio > 1.0 + tolerance else None


def speed_mismatch(frame: pd.DataFrame, a: str, b: str, tolerance: float = TOLERANCE) -> str | None:
    """Why the runs of systems ``a`` and ``b`` in a result frame may not be comparable for speed, or ``None``.

    The median ``machine_ref_s`` of each system's rows: a warning when either has none recorded (rows from before
    the reference existed) or when they differ by more than ``tolerance`` of the smaller.
    """
    medians = reference_medians(frame, [a, b])
    missing = [system for system, value in medians.items() if value is None]
    if missing:
        return (f"no machine reference recorded for {', '.join(f'`{s}`' for s in missing)}: the rows may come from "
                "a machine of another speed, where the same budget buys other work")
    ratio = _apart([value for value in medians.values() if value is not None], tolerance)
    if ratio is not None:
        return (f"measured on machines of different speeds: reference fit {medians[a]:.2f} s for `{a}`, "
                f"{medians[b]:.2f} s for `{b}` ({ratio:.1f}x): the same budget bought different work")
    return None


def report_warning(frame: pd.DataFrame, tolerance: float = TOLERANCE) -> str | None:
    """A warning for the run report of a result frame whose systems' rows were measured on machines of different
    speeds, or partly carry no reference (rows carried over from older runs), else ``None``."""
    medians = reference_medians(frame)
    recorded = {system: value for system, value in medians.items() if value is not None}
    missing = [system for system, value in medians.items() if value is None]
    if not recorded:
        return None  # all from before the reference existed: nothing to compare with
    parts = []
    ratio = _apart(list(recorded.values()), tolerance)
    if ratio is not None:
        listed = ", ".join(f"`{system}` {value:.2f} s" for system, value in recorded.items())
        parts.append(f"the systems' rows come from machines of different speeds (reference fit: {listed}; "
                     f"{ratio:.1f}x)")
    if missing:
        parts.append(f"the rows of {', '.join(f'`{s}`' for s in missing)} carry no machine reference (from before "
                     "it existed, maybe from another machine)")
    if not parts:
        return None
    return ("**Machine speed warning**: " + "; ".join(parts) + ". The same budget buys different work on machines "
            "of different speeds: compare those systems with care.")
