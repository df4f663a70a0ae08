"""automl: an AutoML engine that respects its time budget and returns a plain scikit-learn pipeline."""
from __future__ import annotations

from automl.estimator import AutoML, AutoMLClassifier, AutoMLRegressor

__all__ = ["AutoML", "AutoMLClassifier", "AutoMLRegressor"]
__version__ = "0.1.0"
