"""Which engine code a benchmark ran."""
from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def engine_revision(repo: Path = REPO) -> str:
    """Return the git commit of the checkout, with ``+dirty`` if ``automl/`` has uncommitted changes.

    The benchmarks run the ``automl`` package of this checkout, so this names the engine code a run used
    (``unknown`` outside git).

    Parameters
    ----------
    repo : pathlib.Path, optional
        The checkout; defaults to the one holding this file.

    Returns
    -------
    str
    """
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "automl"], cwd=repo,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")
