"""Generated tables for the scale benchmark: the shape of the issue's 400k-row table at any size and task.

40 numeric columns (a few informative, with interactions), 6 categorical columns of 5 to 5,000 levels (one of
1,000 levels carries a per-level effect), 5 % of the cells missing. Deterministic for a seed. Written to CSV once
per (rows, task, seed) under ``benchmarks/.data/`` (git-ignored) so every system reads the same file.

``python -m benchmarks.generated --rows 100000,400000,1000000 --tasks binary,multiclass,regression [--wide]`` writes
the tables and a manifest to ``benchmarks/.data/generated/``: the ``generated`` suite of ``benchmarks.run``
(each run splits a table 75/25, so a 400,000-row table trains on 300,000 rows). ``--wide`` adds a 1,000,000-row
table of 100 columns (94 numeric).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

DATA_DIR = Path(__file__).resolve().parent / ".data"
LEVELS = (5, 20, 100, 1_000, 2_000, 5_000)
SIGNAL_COLUMN = "cat_1000"


def make_table(rows: int, task: str, seed: int = 0, numeric: int = 40,
               classes: int = 4) -> tuple[pd.DataFrame, pd.Series]:
    """``X`` and ``y`` of a generated table.

    Parameters
    ----------
    rows : int
    task : {"binary", "multiclass", "regression"}
    seed : int
    numeric : int
        Numeric columns.
    classes : int
        Classes of a multiclass target (equally frequent, cut from the signal's quantiles; at most 26).
    """
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(rows, numeric)).astype(np.float64), columns=[f"num_{i}" for i in range(numeric)])
    effects = {}
    for levels in LEVELS:
        codes = rng.integers(0, levels, size=rows)
        X[f"cat_{levels}"] = np.char.add("L", codes.astype(str)).astype(object)
        effects[levels] = codes
    level_effect = np.random.default_rng(seed + 1).normal(scale=0.8, size=1_000)
    signal = (0.8 * X["num_0"] - 0.6 * X["num_1"] + 0.5 * X["num_2"] * X["num_3"] + 0.4 * np.sin(2 * X["num_4"])
              + 0.3 * (X["num_5"] > 0.5) + level_effect[effects[1_000]]).to_numpy()
    noise = rng.normal(scale=1.0, size=rows)
    missing = rng.random(size=X.shape) < 0.05
    X = X.mask(missing)
    if task == "regression":
        y = pd.Series(signal * 10 + 5 * noise, name="target")
    elif task == "binary":
        y = pd.Series(np.where(signal + noise > 0.3, "yes", "no"), name="target")
    else:
        cuts = np.quantile(signal + noise, np.linspace(0.0, 1.0, classes + 1)[1:-1])
        labels = np.array([chr(ord("a") + k) for k in range(classes)])
        y = pd.Series(labels[np.digitize(signal + noise, cuts)], name="target")
    return X, y


def table_file(rows: int, task: str, seed: int = 0) -> Path:
    """The CSV of a generated table (written on first use), target column ``target`` last."""
    path = DATA_DIR / f"generated_{task}_{rows}_seed{seed}.csv.gz"
    if not path.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        X, y = make_table(rows, task, seed)
        X.assign(target=y).to_csv(path, index=False, compression={"method": "gzip", "compresslevel": 1})
    return path


SUITE_DIR = DATA_DIR / "generated"


def write_suite(sizes: list[int], tasks: list[str], wide: bool = False) -> Path:
    """Write each (size, task) table and the manifest of the ``generated`` suite; returns the folder."""
    import json

    SUITE_DIR.mkdir(parents=True, exist_ok=True)
    shapes = [(rows, task, 40) for rows in sizes for task in tasks] + ([(1_000_000, "binary", 94)] if wide else [])
    manifest = []
    for rows, task, numeric in shapes:
        name = f"gen_{task}_{rows // 1000}k" + ("_wide" if numeric != 40 else "")
        path = SUITE_DIR / f"{name}.csv.gz"
        if not path.exists():
            X, y = make_table(rows, task, seed=0, numeric=numeric)
            X.assign(target=y).to_csv(path, index=False, compression={"method": "gzip", "compresslevel": 1})
        manifest.append({"name": name, "file": path.name, "task": task, "target": "target", "rows": rows,
                         "columns": numeric + len(LEVELS) + 1,
                         "categorical_columns": [f"cat_{n}" for n in LEVELS] + ([] if task == "regression" else
                                                                                 ["target"])})
    (SUITE_DIR / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return SUITE_DIR


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="write the generated scale suite")
    parser.add_argument("--rows", default="100000,400000,1000000")
    parser.add_argument("--tasks", default="binary,multiclass,regression")
    parser.add_argument("--wide", action="store_true")
    args = parser.parse_args()
    print(write_suite([int(r) for r in args.rows.split(",")], args.tasks.split(","), args.wide))
