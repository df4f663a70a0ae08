"""The systems a benchmark compares, and the command that runs each one's adapter.

Our engine and the baselines run with this interpreter; each peer runs with the Python of its own virtual
environment (made by ``benchmarks/peers/setup.sh``) so its dependencies never meet ours.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent
ADAPTERS = BENCHMARKS / "adapters"
REPO_AUTOML = BENCHMARKS.parent / "automl"  # the engine package every automl run must import


@dataclass(frozen=True)
class System:
    """One compared system: how to run it and what kind it is."""

    name: str
    kind: str  # "engine", "baseline" or "peer"
    adapter: str  # script in benchmarks/adapters
    options: dict[str, str] = field(default_factory=dict)

    @property
    def uses_budget(self) -> bool:
        """Whether the system is given the time budget (baselines fit once with defaults)."""
        return self.kind != "baseline"


SYSTEMS = {s.name: s for s in (
    System("automl", "engine", "automl_adapter.py"),
    System("flaml", "peer", "flaml_adapter.py"),
    System("autogluon", "peer", "autogluon_adapter.py", {"presets": "medium_quality"}),
    System("lgbm", "baseline", "baselines.py", {"model": "lgbm"}),
    System("hgb", "baseline", "baselines.py", {"model": "hgb"}),
    System("rf", "baseline", "baselines.py", {"model": "rf"}),
    System("constant", "baseline", "baselines.py", {"model": "constant"}),
)}
BASELINES = ("constant", "lgbm", "hgb", "rf")  # always run: scores fall back to constant, normalise to lgbm


def venvs_dir() -> Path:
    """Folder of the peers' virtual environments: ``$AUTOML_BENCH_VENVS`` or ``benchmarks/.venvs``."""
    override = os.environ.get("AUTOML_BENCH_VENVS")
    return Path(override).expanduser().resolve() if override else BENCHMARKS / ".venvs"


def python_for(system: System) -> Path | None:
    """The interpreter that runs ``system``, or ``None`` when the peer's environment is not installed."""
    if system.kind != "peer":
        return Path(sys.executable)
    python = venvs_dir() / system.name / "bin" / "python"
    return python if python.exists() else None


def command(system: System, task_dir: Path, out_dir: Path) -> list[str] | None:
    """The command line that runs ``system`` on a prepared task (``None`` if it is not installed)."""
    python = python_for(system)
    if python is None:
        return None
    options = [arg for key, value in system.options.items() for arg in ("--option", f"{key}={value}")]
    return [str(python), str(ADAPTERS / system.adapter), "--task", str(task_dir), "--out", str(out_dir), *options]


def resolve(names: list[str]) -> list[System]:
    """The systems named, plus the baselines that always run, in a stable order.

    Raises
    ------
    KeyError
        For an unknown name.
    """
    unknown = [n for n in names if n not in SYSTEMS]
    if unknown:
        raise KeyError(f"unknown systems {unknown}; known: {list(SYSTEMS)}")
    wanted = set(names) | set(BASELINES)
    return [s for name, s in SYSTEMS.items() if name in wanted]


def child_environment(cores: int) -> dict[str, str]:
    """Our environment with the repository first on ``PYTHONPATH`` and thread pools capped at ``cores``."""
    env = dict(os.environ)
    repo = str(BENCHMARKS.parent)
    env["PYTHONPATH"] = os.pathsep.join([repo, *filter(None, [env.get("PYTHONPATH")])])
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = str(cores)
    return env
