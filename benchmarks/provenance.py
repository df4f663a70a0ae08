"""Which engine code a benchmark ran."""
from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ENGINE_PATHS = ("automl", "configs")  # the engine's code and its declared search spaces


def engine_revision(repo: Path = REPO) -> str:
    """Return the last git commit that changed the engine (``automl/``, ``configs/``), ``+dirty`` if uncommitted
    changes are there.

    The benchmarks run the ``automl`` package of this checkout, so this names the engine code a run used
    (``unknown`` outside git); commits that touch only benchmarks or docs leave it unchanged.

    Parameters
    ----------
    repo : pathlib.Path, optional
        The checkout; defaults to the one holding this file.

    Returns
    -------
    str
    """
    try:
        head = subprocess.run(["git", "log", "-1", "--format=%h", "--", *ENGINE_PATHS], cwd=repo,
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", *ENGINE_PATHS], cwd=repo,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return (head or "unknown") + ("+dirty" if dirty else "")
