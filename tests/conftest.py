from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Callable

# OpenMP threads that spin while they wait turn a busy machine into a stall (HistGradientBoosting on 2 busy cores:
# seconds instead of tenths), and the tests keep both cores busy (two xdist workers): here threads sleep at once. The
# engine's trial processes take this setting when it is set (a quiet machine's fits spin briefly first:
# automl/search/worker.py). Set before any library starts its OpenMP runtime.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def one_openmp_thread_in_process():
    """Models fitted in the test process itself (not in trial processes, which set their own limits) use one
    OpenMP thread: on the tests' tiny frames starting threads costs more than it saves."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="openmp"):
        yield


ROOT = Path(__file__).resolve().parents[1]
# Families this dear to fit (their declared cost: the forests, the networks, CatBoost) run their conformance cases
# in the full suite only, so `pytest -m "not slow"` stays under a minute.
SLOW_FAMILY_COST = 4


def fresh_interpreter_words(script: str) -> list[str]:
    """What ``script`` prints, split into words, run in a new Python interpreter (so that the imports it checks
    start from nothing)."""
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()


def family_cases(*cases: tuple) -> list:
    """``pytest.param`` per case whose first value is a family name: the dear families' cases marked slow, the
    families whose optional library is not installed skipped with the reason."""
    from automl.models.registry import all_families

    families = all_families()
    out = []
    for case in cases:
        family = families.get(case[0])
        marks = []
        if family is not None and family.cost >= SLOW_FAMILY_COST:
            marks.append(pytest.mark.slow)
        if family is not None and not family.available():
            marks.append(pytest.mark.skip(reason=family.missing_message()))
        out.append(pytest.param(*case, marks=marks))
    return out
CREDIT = ROOT / "examples" / "data" / "credit-g.csv.gz"


@pytest.fixture(scope="session")
def credit() -> tuple[pd.DataFrame, pd.Series]:
    """credit-g (OpenML 31), shipped in the repo: 1000 rows, 13 categorical and 7 numeric columns."""
    frame = pd.read_csv(CREDIT, keep_default_na=False, na_values=[""])
    y = frame.pop("class")
    return frame, y


@pytest.fixture
def mixed_frame() -> tuple[pd.DataFrame, pd.Series]:
    """200 rows with numeric, categorical (with missing), boolean and datetime columns; binary string target."""
    rng = np.random.default_rng(0)
    n = 200
    x1 = rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue", None], size=n)
    frame = pd.DataFrame({
        "x1": x1,
        "x2": np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)),
        "colour": colour,
        "flag": rng.random(n) < 0.5,
        "when": pd.date_range("2020-01-01", periods=n, freq="D"),
    })
    y = pd.Series(np.where(x1 + (colour == "red") + rng.normal(scale=0.5, size=n) > 0.5, "yes", "no"), name="y")
    return frame, y


@pytest.fixture
def regression_frame() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(1)
    n = 200
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n),
                          "c": rng.choice(["u", "v", "w"], size=n)})
    y = pd.Series(3 * frame["a"] - frame["b"] + (frame["c"] == "u") + rng.normal(scale=0.1, size=n), name="t")
    return frame, y


def saved_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], Path]) -> Path:
    """The folder ``build(folder)`` saves a model into, built once for the whole run: with pytest-xdist the workers
    share one base directory, and the first to take the lock builds while the others wait, then read (a model
    fitted once, not once per worker). Tests copy a folder before damaging it."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    base = tmp_path_factory.getbasetemp()
    root = base.parent if worker else base
    folder, done = root / "shared_models" / name, root / "shared_models" / f"{name}.done"
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not done.exists():
                build(folder)
                done.touch()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return folder


@pytest.fixture(scope="session")
def credit_model_folder(credit, tmp_path_factory):
    """A small credit-g model (linear + LightGBM, exportable), saved with its training sample."""
    def build(folder: Path) -> Path:
        from automl import AutoML
        from automl.io.persist import save

        X, y = credit
        model = AutoML(time_budget=60, max_trials=2, families=["linear", "lightgbm"], search="defaults", cv=2,
                       random_state=0, ensemble=False).fit(X, y)
        return save(model, folder, data=(X, y))

    return saved_once(tmp_path_factory, "credit", build)


# A search that fits a synthesised model in a few seconds: LightGBM's defaults, 3 folds.
SYNTHESIS_SEARCH = dict(time_budget=20, families=["lightgbm"], search="defaults", max_trials=2, cv=3, ensemble=False,
                        random_state=0)


@pytest.fixture(scope="session")
def relational_model_folder(tmp_path_factory):
    """A model fitted with related tables (150 customers -> sessions -> transactions, DFS with cutoff times), saved.
    New customers: ``customers_sessions_transactions(n, seed=1, first_id=10_000)``."""
    pytest.importorskip("featuretools", reason="the synthesis extra is not installed")

    def build(folder: Path) -> Path:
        from automl import AutoML
        from automl.io.persist import save
        from tests.generated import RELATIONSHIPS, customers_sessions_transactions

        customers, sessions, transactions, y = customers_sessions_transactions(150, seed=0)
        model = AutoML(**SYNTHESIS_SEARCH).fit(customers, y, tables={"sessions": sessions,
                                                                     "transactions": transactions},
                                               relationships=RELATIONSHIPS, cutoff_time="as_of")
        return save(model, folder)

    return saved_once(tmp_path_factory, "relational", build)


@pytest.fixture(scope="session")
def series_model_folder(tmp_path_factory):
    """A model fitted on 80 long-format series (sine or sawtooth, tsfresh), saved. New series:
    ``sine_or_sawtooth(n, seed=2, first_id=5000)``."""
    pytest.importorskip("tsfresh", reason="the synthesis extra is not installed")

    def build(folder: Path) -> Path:
        from automl import AutoML
        from automl.io.persist import save
        from tests.generated import sine_or_sawtooth

        readings, labels = sine_or_sawtooth(80, seed=0)
        model = AutoML(**SYNTHESIS_SEARCH).fit_series(readings, labels, column_id="id", column_sort="time")
        return save(model, folder)

    return saved_once(tmp_path_factory, "series", build)
