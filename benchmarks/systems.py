"""The systems a benchmark compares, and the command that runs each one's adapter.

Our engine and the baselines run with this interpreter; each peer runs with the Python of its own virtual
environment (made by ``benchmarks/peers/setup.sh``) so its dependencies never meet ours.

A variant of a system is written ``NAME[KEY=VALUE;KEY=VALUE]``, e.g. ``automl[search=random]``: the same adapter
with these options on top of the system's own, under its own name (its own rows and report column).
"""
from __future__ import annotations

import dataclasses
import os
import re
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
    base: str = ""  # for a variant such as ``automl[search=random]``: the system it varies (``automl``)

    @property
    def base_name(self) -> str:
        """The name of the system this one varies, or its own name (peers' environments go by it)."""
        return self.base or self.name

    @property
    def uses_budget(self) -> bool:
        """Whether the system is given the time budget (baselines fit once with defaults)."""
        return self.kind != "baseline"

    @property
    def slug(self) -> str:
        """The name made safe for file names (``automl[search=random]`` -> ``automl_search=random_``)."""
        return re.sub(r"[^A-Za-z0-9_.=+-]", "_", self.name)


SYSTEMS = {s.name: s for s in (
    System("automl", "engine", "automl_adapter.py"),
    System("automl_cli", "engine", "automl_cli_adapter.py"),
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
    python = venvs_dir() / system.base_name / "bin" / "python"
    return python if python.exists() else None


def command(system: System, task_dir: Path, out_dir: Path) -> list[str] | None:
    """The command line that runs ``system`` on a prepared task (``None`` if it is not installed)."""
    python = python_for(system)
    if python is None:
        return None
    options = [arg for key, value in system.options.items() for arg in ("--option", f"{key}={value}")]
    return [str(python), str(ADAPTERS / system.adapter), "--task", str(task_dir), "--out", str(out_dir), *options]


def split_systems(text: str) -> list[str]:
    """Split a comma-separated ``--systems`` list, keeping commas inside brackets (``automl[families=["a","b"]]``).

    Returns
    -------
    list of str
        The stripped, non-empty items.

    Raises
    ------
    ValueError
        For unbalanced brackets.
    """
    items, current, depth = [], "", 0
    for char in text:
        depth += {"[": 1, "]": -1}.get(char, 0)
        if depth < 0:
            raise ValueError(f"--systems {text!r}: ']' without '['")
        if char == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += char
    if depth:
        raise ValueError(f"--systems {text!r}: '[' without ']'")
    return [item.strip() for item in [*items, current] if item.strip()]


def parse_variant(name: str) -> tuple[str, dict[str, str]]:
    """The base system and the options of ``NAME[KEY=VALUE;KEY=VALUE]`` (``NAME`` alone: no options).

    Returns
    -------
    base : str
    options : dict of str to str

    Raises
    ------
    ValueError
        If the brackets do not close the name or an option is not ``KEY=VALUE``.
    """
    base, bracket, rest = name.partition("[")
    if not bracket:
        return name.strip(), {}
    if not rest.endswith("]"):
        raise ValueError(f"system {name!r}: expected NAME[KEY=VALUE;KEY=VALUE]")
    options = {}
    for pair in filter(str.strip, rest[:-1].split(";")):
        key, equals, value = pair.partition("=")
        if not equals or not key.strip():
            raise ValueError(f"system {name!r}: option {pair!r} is not KEY=VALUE")
        options[key.strip()] = value.strip()
    return base.strip(), options


def base_of(name: str) -> str:
    """The system a name varies: ``automl`` for ``automl[search=random]`` (a plain name is its own base)."""
    return name.partition("[")[0].strip()


def variant(name: str) -> System:
    """The system named, a variant ``NAME[KEY=VALUE;...]`` of a known system included.

    Raises
    ------
    KeyError
        If the base name is not a known system.
    """
    base, options = parse_variant(name)
    if base not in SYSTEMS:
        raise KeyError(f"unknown system {base!r} in {name!r}; known: {list(SYSTEMS)}")
    if name == base:
        return SYSTEMS[base]
    known = SYSTEMS[base]
    return dataclasses.replace(known, name=name, options={**known.options, **options}, base=base)


def resolve(names: list[str], baselines: tuple[str, ...] | None = None) -> list[System]:
    """The systems named (variants included), plus the ``baselines`` (all of :data:`BASELINES` by default), in a
    stable order.

    Known systems come in the order of :data:`SYSTEMS`, each followed by its variants in the order given.

    Raises
    ------
    KeyError
        For an unknown (base) name.
    ValueError
        For a malformed variant.
    """
    baselines = BASELINES if baselines is None else baselines
    unknown = [b for b in baselines if b not in BASELINES]
    if unknown:
        raise KeyError(f"unknown baselines {unknown}; known: {list(BASELINES)}")
    wanted = {name: variant(name) for name in dict.fromkeys([*names, *baselines])}
    order = list(SYSTEMS)
    return sorted(wanted.values(), key=lambda s: (order.index(s.base_name), s.base != ""))


def child_environment(cores: int) -> dict[str, str]:
    """Our environment with the repository first on ``PYTHONPATH`` and thread pools capped at ``cores``."""
    env = dict(os.environ)
    repo = str(BENCHMARKS.parent)
    env["PYTHONPATH"] = os.pathsep.join([repo, *filter(None, [env.get("PYTHONPATH")])])
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = str(cores)
    return env
