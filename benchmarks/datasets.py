"""Load the offline benchmark datasets and split them the same way for every benchmark.

The data lives next to the repository in ``shared/datasets/<suite>`` (see the README there): the suite
``openml`` (25 OpenML datasets) or ``extra`` (36 datasets exported from PyPI wheels), with the same manifest
fields. The environment variable ``AUTOML_DATASETS`` (openml) or ``AUTOML_DATASETS_EXTRA`` (extra) points to
another folder. Nothing is ever downloaded.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

CLASSIFICATION_TASKS = ("binary", "multiclass")
SUITE_VARIABLES = {"openml": "AUTOML_DATASETS", "extra": "AUTOML_DATASETS_EXTRA",  # folder overrides
                   "generated": "AUTOML_DATASETS_GENERATED"}
SUITES = tuple(SUITE_VARIABLES)


def datasets_dir(suite: str = "openml") -> Path:
    """Return the folder holding a suite's CSV files and ``manifest.json``.

    Parameters
    ----------
    suite : {"openml", "extra"}, default "openml"
        The dataset suite.

    Returns
    -------
    pathlib.Path
        ``$AUTOML_DATASETS`` (openml) or ``$AUTOML_DATASETS_EXTRA`` (extra) if set, else
        ``<repo>/../shared/datasets/<suite>``.

    Raises
    ------
    KeyError
        For an unknown suite.
    """
    if suite not in SUITE_VARIABLES:
        raise KeyError(f"unknown dataset suite {suite!r}; known: {list(SUITES)}")
    override = os.environ.get(SUITE_VARIABLES[suite])
    if override:
        return Path(override).expanduser().resolve()
    if suite == "generated":  # written by python -m benchmarks.generated
        return Path(__file__).resolve().parent / ".data" / "generated"
    return Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / suite


def load_manifest(root: Path | None = None) -> list[dict[str, Any]]:
    """Read the manifest: one dict per dataset.

    Parameters
    ----------
    root : pathlib.Path, optional
        Dataset folder; defaults to :func:`datasets_dir`.

    Returns
    -------
    list of dict
        Entries with at least ``name``, ``file``, ``task``, ``target`` and ``categorical_columns``.
    """
    root = datasets_dir() if root is None else root
    path = root / "manifest.json"
    if not path.exists():
        variables = " or ".join(SUITE_VARIABLES.values())
        raise FileNotFoundError(f"no manifest at {path}; set {variables} to the dataset folder")
    return json.loads(path.read_text())


def select(manifest: list[dict[str, Any]], names: list[str] | None) -> list[dict[str, Any]]:
    """Keep the manifest entries named in ``names`` (all of them if ``names`` is empty), in that order.

    Raises
    ------
    KeyError
        If a name is not in the manifest.
    """
    if not names:
        return list(manifest)
    by_name = {entry["name"]: entry for entry in manifest}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise KeyError(f"unknown datasets {unknown}; known: {sorted(by_name)}")
    return [by_name[n] for n in names]


def load_frame(meta: dict[str, Any], root: Path | None = None) -> pd.DataFrame:
    """Read one dataset as the README prescribes: nominal columns as text, only empty fields missing.

    Parameters
    ----------
    meta : dict
        Manifest entry.
    root : pathlib.Path, optional
        Dataset folder; defaults to :func:`datasets_dir`.

    Returns
    -------
    pandas.DataFrame
        All columns, target included.
    """
    root = datasets_dir() if root is None else root
    dtype = {c: str for c in meta["categorical_columns"]}
    return pd.read_csv(root / meta["file"], dtype=dtype, keep_default_na=False, na_values=[""])


def split_frame(frame: pd.DataFrame, meta: dict[str, Any], seed: int,
                test_size: float = 0.25) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split into train and test rows, stratified on the target for classification.

    Parameters
    ----------
    frame : pandas.DataFrame
        The dataset, target included.
    meta : dict
        Manifest entry (``task``, ``target``).
    seed : int
        ``random_state`` of the split.
    test_size : float, default 0.25
        Fraction of rows held out.

    Returns
    -------
    train, test : pandas.DataFrame
        Both still hold the target column.
    """
    stratify = frame[meta["target"]] if meta["task"] in CLASSIFICATION_TASKS else None
    train, test = train_test_split(frame, test_size=test_size, random_state=seed, stratify=stratify)
    return train, test


def training_rows(meta: dict[str, Any], root: Path | None, seed: int, max_rows: int) -> pd.DataFrame:
    """The training rows of the benchmark's split for ``seed`` (its test rows are never read), at most ``max_rows``
    of them: a sample with ``random_state=seed`` where there are more.

    Parameters
    ----------
    meta : dict
        Manifest entry.
    root : pathlib.Path or None
        Dataset folder; defaults to :func:`datasets_dir`.
    seed : int
        ``random_state`` of the split and of the sample.
    max_rows : int
        Rows kept at most.
    """
    train, _ = split_frame(load_frame(meta, root), meta, seed)
    return train.sample(max_rows, random_state=seed) if len(train) > max_rows else train


def feature_dtypes(train: pd.DataFrame, categorical: list[str]) -> dict[str, Any]:
    """Learn the feature dtypes for LightGBM-style encoding: nominal columns as ``category``, the rest float.

    Parameters
    ----------
    train : pandas.DataFrame
        Training feature columns.
    categorical : list of str
        Nominal column names (others are numeric).

    Returns
    -------
    dict
        Column name -> ``pandas.CategoricalDtype`` (levels seen in ``train``, sorted) or ``numpy.float64``.
    """
    return {column: pd.CategoricalDtype(sorted(train[column].dropna().unique())) if column in categorical
            else np.float64 for column in train.columns}


def encode_features(frame: pd.DataFrame, dtypes: dict[str, Any]) -> pd.DataFrame:
    """Cast ``frame`` to the dtypes from :func:`feature_dtypes` (unseen levels become missing).

    Returns
    -------
    pandas.DataFrame
        An encoded copy; missing values stay NaN for native handling.
    """
    return frame.astype(dtypes)


def lightgbm_frames(train: pd.DataFrame, test: pd.DataFrame,
                    categorical: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Encode features for LightGBM: nominal columns as ``category``, the rest as float.

    Categories are learned on ``train``; ``test`` is cast to the same categories (unseen levels
    become missing). Missing values stay NaN for LightGBM's native handling.

    Parameters
    ----------
    train, test : pandas.DataFrame
        Feature columns only.
    categorical : list of str
        Nominal column names (others are numeric).

    Returns
    -------
    train, test : pandas.DataFrame
        Encoded copies.
    """
    dtypes = feature_dtypes(train, categorical)
    return encode_features(train, dtypes), encode_features(test, dtypes)
