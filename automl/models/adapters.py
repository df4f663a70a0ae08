"""What a model family needs beyond its declaration, in one class the declaration names (``adapter:``).

A family is its declaration in ``configs/families.yaml`` plus, where needed, an adapter: the types its fitted
models hold that loading a model folder must trust (skops refuses anything else), the ONNX converters it brings,
and whether a fitted model of it can be exported. Persistence and export ask every declared family's adapter;
nothing else names a family. Its early stopping and label quirks live in its ``wrapper`` (see
:mod:`automl.models.boosting`), which the adapter trusts too.
"""
from __future__ import annotations

from typing import Any

import numpy as np


class FamilyAdapter:
    """The default: a scikit-learn estimator whose fitted state skops trusts as it is, exported by skl2onnx."""

    #: type names (``module.Class``) inside a fitted model of the family that skops must be told to trust;
    #: each one reviewed: it holds arrays, trees or estimator state and runs no code on load
    trusted_types: tuple[str, ...] = ()

    def register_onnx(self) -> None:
        """Register with skl2onnx the converters the family's estimators need (called once per process)."""

    def export_problem(self, model: Any) -> str | None:
        """Why a fitted model of the family cannot be exported to ONNX, or ``None`` when it can."""
        return None

    def label_params(self, y: np.ndarray, task: str) -> dict[str, Any]:
        """Parameters of the model that the training labels of one fit call for (none by default)."""
        return {}


class WrapsModel:
    """A wrapper of ours around a library estimator (label encoding, early stopping): the ONNX export converts the
    fitted model inside it (:meth:`fitted_model`)."""

    def fitted_model(self) -> Any:
        """The fitted estimator inside the wrapper."""
        return self.estimator_  # type: ignore[attr-defined]


class ForestAdapter(FamilyAdapter):
    """scikit-learn's random forests and extra trees."""

    trusted_types = ("sklearn.tree._tree.Tree",)


class HistGradientBoostingAdapter(FamilyAdapter):
    """scikit-learn's histogram gradient boosting."""

    trusted_types = ("sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
                     "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper")

    def label_params(self, y: np.ndarray, task: str) -> dict[str, Any]:
        """Early stopping without its stratified validation split when a class has a single training row: the
        split cannot stratify it and the fit fails (a long-tailed multiclass table's rare classes, in some
        folds); the fit then stops on its training loss instead."""
        if task == "regression" or len(y) == 0:
            return {}
        return {"validation_fraction": None} if np.unique(y, return_counts=True)[1].min() < 2 else {}
