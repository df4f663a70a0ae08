"""The ``automl`` command as a user runs it: a child process of this interpreter, for every test that calls it.

The checkout is on the child's ``PYTHONPATH`` so that a saved model may name types defined in ``tests`` (a family of
:mod:`automl.testing` registered by a test, say) and the command still loads it.
"""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _command(args: tuple[str, ...]) -> list[str]:
    return [sys.executable, "-m", "automl.cli", *args]


def _environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``automl ARGS`` to its end, its output captured as text; a hang fails the test after ``timeout`` s."""
    return subprocess.run(_command(args), capture_output=True, text=True, timeout=timeout, env=_environment())


def start_cli(*args: str, preexec_fn: Callable[[], None] | None = None) -> subprocess.Popen:
    """Start ``automl ARGS`` without waiting, its output piped as text (the caller communicates or kills it);
    ``preexec_fn`` runs in the child before the command (to start it as from a terminal, say)."""
    return subprocess.Popen(_command(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_environment(), preexec_fn=preexec_fn)
