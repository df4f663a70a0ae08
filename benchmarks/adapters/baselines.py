"""Baseline systems with library defaults: constant predictor (class priors or mean), LightGBM, HistGradientBoosting, random forest.

Run with our environment's Python: ``python benchmarks/adapters/baselines.py --task DIR --out DIR
--option model=lgbm`` (``constant``, ``lgbm``, ``hgb`` or ``rf``). None of them uses the time budget.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository, for ``benchmarks``

from benchmarks.adapters.harness import Task, run_adapter  # noqa: E402
from benchmarks.datasets import encode_features, feature_dtypes  # noqa: E402


#: most levels HistGradientBoosting takes in a category column (its ``max_bins`` default)
HGB_MAX_CATEGORIES = 255


def make_estimator(name: str, classification: bool, seed: int, cores: int) -> Any:
    """The default estimator named ``name`` for the task.

    Raises
    ------
    ValueError
        For an unknown name.
    """
    import lightgbm
    from sklearn import dummy, ensemble

    kinds: dict[str, tuple[Any, Any, dict[str, Any]]] = {
        "constant": (dummy.DummyClassifier, dummy.DummyRegressor, {}),  # class priors / mean of train
        "lgbm": (lightgbm.LGBMClassifier, lightgbm.LGBMRegressor,
                 {"verbose": -1, "random_state": seed, "n_jobs": cores}),
        "hgb": (ensemble.HistGradientBoostingClassifier, ensemble.HistGradientBoostingRegressor,
                {"random_state": seed, "categorical_features": "from_dtype"}),
        "rf": (ensemble.RandomForestClassifier, ensemble.RandomForestRegressor,
               {"random_state": seed, "n_jobs": cores}),
    }
    if name not in kinds:
        raise ValueError(f"unknown baseline {name!r}; known: {sorted(kinds)}")
    classifier, regressor, params = kinds[name]
    return (classifier if classification else regressor)(**params)


class Baseline:
    """An encoder (category dtypes learned on train; codes for random forests) and a default model."""

    def __init__(self, name: str, task: Task):
        self.name = name
        self.dtypes = feature_dtypes(task.x_train, task.spec["categorical_columns"])
        spec = task.spec
        self.model = make_estimator(name, task.is_classification, spec["seed"], spec["cores"])

    def encode(self, x: pd.DataFrame) -> pd.DataFrame:
        """Features as the model takes them: category columns native, as their codes (unseen or missing: NaN) for
        random forests, and for HistGradientBoosting those of more than :data:`HGB_MAX_CATEGORIES` levels, which it
        refuses as categories (email_spam's ``time``, 2,893 levels; nih_grants' ``sponsor_code``, 258)."""
        encoded = encode_features(x, self.dtypes)
        as_codes = {"rf": 0, "hgb": HGB_MAX_CATEGORIES}.get(self.name)
        if as_codes is None:
            return encoded
        return encoded.apply(lambda c: c.cat.codes.replace(-1, np.nan)
                             if c.dtype == "category" and len(c.cat.categories) > as_codes else c)


def fit(task: Task, workdir: Path) -> Baseline:
    """Fit the baseline named by the ``model`` option."""
    baseline = Baseline(task.options.get("model", ""), task)
    y = task.y_train if task.is_classification else task.y_train.astype(float)
    baseline.model.fit(baseline.encode(task.x_train), y)
    return baseline


def predict(baseline: Baseline, x: pd.DataFrame, task: Task) -> Any:
    """Class probabilities (columns = the model's classes) or values."""
    encoded = baseline.encode(x)
    if task.is_classification:
        return pd.DataFrame(baseline.model.predict_proba(encoded), columns=list(baseline.model.classes_))
    return baseline.model.predict(encoded)


def describe(baseline: Baseline) -> dict[str, Any]:
    """Estimator class and library version."""
    from importlib.metadata import version

    model = type(baseline.model)
    library = {"lightgbm": "lightgbm", "sklearn": "scikit-learn"}[model.__module__.split(".")[0]]
    return {"model": model.__name__, "version": f"{library} {version(library)}"}


if __name__ == "__main__":
    sys.exit(run_adapter(fit, predict, describe))
