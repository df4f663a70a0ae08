"""automl: an AutoML engine that respects its time budget and returns a plain scikit-learn pipeline.

The public names are imported on first use, so ``import automl`` and the ``automl`` command start fast.
"""
from __future__ import annotations

from typing import Any

__all__ = ["AutoML", "AutoMLClassifier", "AutoMLRegressor", "load", "save"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in ("AutoML", "AutoMLClassifier", "AutoMLRegressor"):
        from automl import estimator

        return getattr(estimator, name)
    if name in ("load", "save"):
        from automl.io import persist

        return getattr(persist, name)
    raise AttributeError(f"module 'automl' has no attribute {name!r}")
