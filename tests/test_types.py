"""The package type-checks (CONVENTIONS: full type hints, checked in CI)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("mypy") is None, reason="mypy not installed (pip install -e '.[test]')")
def test_mypy_is_clean():
    result = subprocess.run([sys.executable, "-m", "mypy", "automl"], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout[-3000:]
