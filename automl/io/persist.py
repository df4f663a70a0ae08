"""Save a fitted model to a folder and load it back, safely (skops, not pickle).

A model folder holds:

- ``pipeline.skops``: the fitted best pipeline. Loading refuses any type outside :func:`trusted_types`
  unless the caller trusts it explicitly.
- ``model.json``: task, metric, classes, schema, cleaning, row counts, acceptance test, best trial, library
  versions (checked on load).
- ``profile.json``: the training data's profile (:mod:`automl.data.profile`); ``validation.csv``: the rules' results.
- ``leaderboard.csv``: the search's leaderboard.
- ``sample.csv`` (when ``save`` is given the data): up to :data:`SAMPLE_ROWS` training rows with the target,
  for the ONNX parity check, the report's permutation importances and ``automl compare``.
"""
from __future__ import annotations

import json
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# Types of our own pipelines that skops does not trust by default; reviewed: they hold arrays and estimator state
# and run no code on load. Each model family adds the types of its fitted models (its adapter's trusted_types,
# see automl/models/adapters.py): :func:`trusted_types`.
PIPELINE_TYPES = [
    "automl.models.boosting.EarlyStopping",  # model folders saved before each library had its own wrapper
    "automl.pipeline.encoders.ArrayOrdinalEncoder",
    "automl.pipeline.labels.EncodedLabelClassifier",
    "automl.pipeline.postprocess.PostProcessedClassifier",
    "automl.search.ensemble.WeightedEnsembleClassifier",
    "automl.search.ensemble.WeightedEnsembleRegressor",
    "automl.search.stack.StackedClassifier",
    "automl.search.stack.StackedRegressor",
    "automl.pipeline.transformers.ColumnCaster",
    "automl.pipeline.transformers.DatetimeParts",
    "automl.pipeline.transformers.SkewAwareScaler",
    "automl.pipeline.transformers.TextFeatures",
    "automl.pipeline.select.FeatureSelector",
    "automl.pipeline.select.RelevanceFilter",
    "automl.features.tabular.CategoryFrequencies",
    "automl.features.tabular.MissingCount",
    "automl.features.tabular.GroupStatistics",
    "automl.features.tabular.NumericPairs",
    "automl.features.primitives.TransformPrimitives",
    "automl.features.timeseries.SeriesFeatures",
    "automl.features.relational.RelationalFeatures",
    "numpy.dtype",
    "collections.OrderedDict",
    "sklearn.utils._bunch.Bunch",
    "builtins.slice",
    # the folds of a cross-fitted TargetEncoder (encode="target"): a number of splits, shuffle and a seed
    "sklearn.model_selection._split.KFold",
    "sklearn.model_selection._split.StratifiedKFold",
]


def trusted_types() -> list[str]:
    """Every type a model folder may hold: our pipeline steps and each declared family's model types."""
    from automl.models.registry import family_adapters

    family_types = [t for adapter in family_adapters() for t in adapter.trusted_types]
    return sorted(set(PIPELINE_TYPES) | set(family_types))


SAMPLE_ROWS = 1000
VERSIONED = ["automl", "scikit-learn", "lightgbm", "catboost", "numpy", "pandas", "skops"]


def library_versions() -> dict[str, str]:
    out = {}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def save(model: Any, path: str | Path, data: tuple[pd.DataFrame, Any] | None = None) -> Path:
    """Write a fitted :class:`automl.AutoML` to the folder ``path`` (created if needed).

    Parameters
    ----------
    model : AutoML
        Fitted.
    path : str or Path
        The folder.
    data : (DataFrame, Series), optional
        Training rows and target: a random sample of :data:`SAMPLE_ROWS` rows is kept as ``sample.csv``.

    Returns
    -------
    pathlib.Path
        The folder.
    """
    import skops.io as sio

    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    sio.dump(model.best_pipeline_, folder / "pipeline.skops")
    meta = {
        "estimator": type(model).__name__,
        "task": model.task_,
        "metric": model.metric_.name,
        "greater_is_better": model.metric_.greater_is_better,
        "classes": None if model.classes_ is None else np.asarray(model.classes_).tolist(),
        "feature_names_in": [str(c) for c in getattr(model, "feature_names_in_", [])] or None,
        "n_features_in": int(model.n_features_in_),
        "schema": [{"name": c.name, "role": c.role, "dtype": c.dtype} for c in model.schema_.columns],
        "dropped": model.schema_.dropped,
        "kept_categories": model.schema_.kept_categories,
        "levels": model.schema_.levels,
        "cleaning": model.cleaning_,
        "row_counts": getattr(model, "row_counts_", None),
        "acceptance": getattr(model, "acceptance_", None),
        "best": {"trial": model.best_trial_, "family": model.best_family_, "params": model.best_params_,
                 "score": model.best_score_},
        "fit_time": model.fit_time_,
        "synthesis": getattr(model, "synthesis_", None),
        "postprocess": getattr(model, "postprocess_", None),
        "versions": library_versions(),
    }
    if data is not None:
        meta["sample"] = _save_sample(folder, *data)
    (folder / "model.json").write_text(json.dumps(meta, indent=2, default=str))
    model.leaderboard_.to_csv(folder / "leaderboard.csv", index=False)
    if getattr(model, "profile_", None) is not None:
        (folder / "profile.json").write_text(json.dumps(model.profile_, indent=1, default=str))
    if getattr(model, "validation_", None) is not None:
        model.validation_.to_csv(folder / "validation.csv", index=False)
    return folder


def model_version(folder: str | Path) -> str:
    """A short identifier of the fitted pipeline in ``folder``: the start of its file's SHA-256."""
    import hashlib

    return hashlib.sha256((Path(folder) / "pipeline.skops").read_bytes()).hexdigest()[:12]


def _save_sample(folder: Path, X: pd.DataFrame, y: Any) -> dict[str, Any]:
    """A random sample of the training rows, the target as its last column."""
    frame = pd.DataFrame(X).reset_index(drop=True)
    target = str(getattr(y, "name", None) or "target")
    while target in frame.columns:
        target = f"_{target}"
    frame[target] = np.asarray(y)
    rows = frame.sample(min(SAMPLE_ROWS, len(frame)), random_state=0).sort_index()
    rows.to_csv(folder / "sample.csv", index=False)
    return {"file": "sample.csv", "target": target, "rows": len(rows)}


def load_sample(folder: str | Path) -> tuple[pd.DataFrame, pd.Series] | None:
    """The training sample of a model folder as ``(X, y)``, or None when it was saved without one."""
    folder = Path(folder)
    info = json.loads((folder / "model.json").read_text()).get("sample")
    if not info or not (folder / info["file"]).exists():
        return None
    frame = pd.read_csv(folder / info["file"], keep_default_na=False, na_values=[""])
    return frame, frame.pop(info["target"])


def load(path: str | Path, trusted: list[str] | None = None) -> Any:
    """Load a model folder written by :func:`save`; returns a fitted estimator that predicts.

    Parameters
    ----------
    path : str or Path
        The model folder.
    trusted : list of str, optional
        Further type names to trust, after reviewing them.

    Raises
    ------
    FileNotFoundError
        If the folder or one of its files is missing.
    ValueError
        If ``model.json`` is not the JSON :func:`save` writes, ``pipeline.skops`` is damaged (truncated, empty, not
        a skops file), a library differs by a major version, or the file holds a type that is neither in
        :func:`trusted_types` nor in ``trusted``. The message names the file.
    """
    from automl.data.schema import Column, Schema
    from automl.estimator import AutoML, AutoMLClassifier, AutoMLRegressor
    from automl.metrics import get_metric

    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"no model folder at {folder} (write one with 'automl fit --out' or automl.save)")
    meta = read_model_json(folder)
    _check_versions(meta.get("versions", {}))
    pipeline = _load_pipeline(folder / "pipeline.skops", set(trusted_types()) | set(trusted or []))
    cls = {"AutoMLClassifier": AutoMLClassifier, "AutoMLRegressor": AutoMLRegressor}.get(meta["estimator"], AutoML)
    model = cls(task=meta["task"])
    model.best_pipeline_ = pipeline
    model.task_ = meta["task"]
    model.metric_ = get_metric(meta["metric"], meta["task"]) if meta["metric"] else None
    # The pipeline keeps the labels' own dtype, which JSON would lose.
    model.classes_ = None if meta["classes"] is None else np.asarray(pipeline.classes_)
    if meta["feature_names_in"]:
        model.feature_names_in_ = np.asarray(meta["feature_names_in"], dtype=object)
    model.n_features_in_ = meta["n_features_in"]
    model.schema_ = Schema(columns=[Column(**c) for c in meta["schema"]], dropped=meta["dropped"],
                           kept_categories=meta.get("kept_categories") or {}, levels=meta.get("levels") or {})
    model.cleaning_ = meta["cleaning"]
    model.row_counts_ = meta.get("row_counts") or {}
    model.acceptance_ = meta.get("acceptance")
    if (folder / "profile.json").is_file():
        model.profile_ = json.loads((folder / "profile.json").read_text())
    if (folder / "validation.csv").is_file():
        model.validation_ = pd.read_csv(folder / "validation.csv", keep_default_na=False, na_values=[""])
    best = meta["best"]
    model.best_trial_, model.best_family_ = best["trial"], best["family"]
    model.best_params_, model.best_score_ = best["params"], best["score"]
    model.fit_time_ = meta["fit_time"]
    if meta.get("synthesis"):
        model.synthesis_ = meta["synthesis"]
    model.postprocess_ = meta.get("postprocess")
    model.leaderboard_ = pd.read_csv(folder / "leaderboard.csv", keep_default_na=False,
                                     na_values=[""])
    return model


def read_model_json(folder: Path) -> dict[str, Any]:
    """``model.json`` of a model folder, or a clear error naming the file."""
    file = folder / "model.json"
    if not file.is_file():
        raise FileNotFoundError(f"{file} is missing: {folder} is not a model folder written by 'automl fit'")
    try:
        meta = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{file} is not valid JSON ({exc}); the model folder is damaged: fit or copy it again") \
            from None
    required = {"task", "metric", "classes", "schema", "best", "n_features_in"}
    if not isinstance(meta, dict) or not required <= set(meta):
        missing = sorted(required - set(meta)) if isinstance(meta, dict) else sorted(required)
        raise ValueError(f"{file} lacks {missing}: not a model folder written by 'automl fit'")
    return meta


def _load_pipeline(file: Path, allowed: set[str]) -> Any:
    """The fitted pipeline in ``file``, refusing types outside ``allowed`` and damaged files, by name."""
    import zipfile

    import skops.io as sio

    if not file.is_file():
        raise FileNotFoundError(f"{file} is missing: the model folder is incomplete")
    try:
        untrusted = [t for t in sio.get_untrusted_types(file=file) if t not in allowed]
        if untrusted:
            raise ValueError(f"{file} holds types that are not trusted: {untrusted}. Review them and pass "
                             "trusted=[...] to load only if you trust where the file came from.")
        return sio.load(file, trusted=sorted(allowed))
    except (zipfile.BadZipFile, EOFError, KeyError, json.JSONDecodeError) as exc:
        raise ValueError(f"{file} is damaged (truncated, empty or not a skops file: {type(exc).__name__}); fit or "
                         "copy the model again") from None


# Libraries whose version decides how a saved model reads: a different major version is refused, a different
# minor one warned about. (pandas, pyarrow and skops only read and write the folder.)
CHECKED_VERSIONS = ("automl", "scikit-learn", "numpy", "lightgbm", "catboost")
REQUIRED_VERSIONS = ("automl", "scikit-learn", "numpy")  # the others matter only for a model that holds them


def _check_versions(saved: dict[str, str]) -> None:
    current = library_versions()
    for name in CHECKED_VERSIONS:
        was, now = saved.get(name), current.get(name)
        if not was or not now or "not installed" in (was, now):
            if was and was != "not installed" and now == "not installed" and name in REQUIRED_VERSIONS:
                raise ValueError(f"model saved with {name} {was}, which this environment lacks: pip install "
                                 f"{name}=={was}")
            continue
        if was != now:
            if was.split(".")[:1] != now.split(".")[:1]:
                raise ValueError(f"model saved with {name} {was}, this environment has {now}: a different major "
                                 f"version may read it wrongly. Install {name}=={was} to load it.")
            warnings.warn(f"model saved with {name} {was}, loading with {now}: check its predictions",
                          UserWarning, stacklevel=3)
