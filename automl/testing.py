"""Estimators that misbehave on purpose, for testing that the search survives them.

They are declared as :class:`automl.models.registry.ModelFamily` objects by :func:`misbehaving_family`
and passed in ``families=``; worker processes import them from here.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

from automl.models.registry import ModelFamily


class _Misbehaving(BaseEstimator):
    def __init__(self, mode: str = "sleep", seconds: float = 3600.0, max_seconds: float | None = None,
                 wide_from: int | None = None):
        self.mode = mode
        self.seconds = seconds
        self.max_seconds = max_seconds
        self.wide_from = wide_from

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> "_Misbehaving":
        if self.wide_from is not None and np.shape(X)[1] < self.wide_from:
            pass  # misbehaves on wide input only (as a family does on thousands of synthesised features)
        elif self.mode == "sleep":  # up to its time cap, when the search gives it one
            time.sleep(self.seconds if self.max_seconds is None else min(self.seconds, self.max_seconds))
        elif self.mode == "raise":
            raise RuntimeError("this family always fails")
        elif self.mode == "memory":
            raise MemoryError("Unable to allocate 64.0 GiB for an array (a family that runs out of memory)")
        elif self.mode == "hog":  # allocates `seconds` gigabytes, for real
            self.hog_ = np.ones(int(self.seconds * 2**30 / 8))
        elif self.mode == "crash":
            import os
            os._exit(3)
        self.classes_ = np.unique(y)
        return self

    def predict(self, X: Any) -> np.ndarray:
        return np.full(len(X), self.classes_[0])

    def predict_proba(self, X: Any) -> np.ndarray:
        proba = np.zeros((len(X), len(self.classes_)))
        proba[:, 0] = 1.0
        return proba


class MisbehavingClassifier(ClassifierMixin, _Misbehaving):
    """Sleeps (``mode="sleep"``; ``max_seconds`` at most), raises (``"raise"``), raises ``MemoryError``
    (``"memory"``), allocates ``seconds`` gigabytes (``"hog"``) or kills its process (``"crash"``) in ``fit``; with
    ``wide_from``, only when ``X`` has at least that many columns."""


class MisbehavingRegressor(RegressorMixin, _Misbehaving):
    """Regression twin of :class:`MisbehavingClassifier`."""


def misbehaving_family(mode: str, seconds: float = 3600.0, cost: float = 0.0,
                       capped_on_folds: bool = False, wide_from: int | None = None) -> ModelFamily:
    """A model family whose every fit sleeps, raises or crashes; ``cost=0`` runs it first. With ``capped_on_folds``
    its fits take the search's time cap on folds too, and a sleeping fit sleeps at most that. With ``wide_from``, it
    misbehaves only on input of at least that many columns."""
    return ModelFamily(
        name=f"misbehaving_{mode}",
        estimators={"classifier": "automl.testing.MisbehavingClassifier",
                    "regressor": "automl.testing.MisbehavingRegressor"},
        cost=cost, needs={"impute": True, "encode": "ordinal", "scale": False},
        defaults={"mode": mode, "seconds": seconds, "wide_from": wide_from}, capped_on_folds=capped_on_folds)
