"""Early stopping for gradient boosting inside a pipeline: hold out part of the training rows.

Works for LightGBM and CatBoost estimators (each library's own early-stopping call).

The pipeline's preprocessing has already run when the model is fitted, so the held-out rows are
transformed the same way as the rest; the search's own validation folds are never touched.
"""
from __future__ import annotations

import inspect
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone, is_classifier
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted

# Below this many training rows a 10% holdout costs more than early stopping saves: fit plainly.
MIN_ROWS = 1000


class EarlyStopping(BaseEstimator):
    """Fit a boosting estimator with early stopping on a held-out share of its training rows.

    Parameters
    ----------
    estimator : LightGBM or CatBoost classifier or regressor
        Its ``n_estimators`` (``iterations``) is the most boosting rounds.
    patience : int, default=50
        Stop after this many rounds without improvement on the held-out rows.
    validation_fraction : float, default=0.1
        Share of the training rows held out (stratified for classification).
    random_state : int or None
        Seed of the split.
    """

    def __init__(self, estimator: Any = None, patience: int = 50, validation_fraction: float = 0.1,
                 random_state: int | None = None):
        self.estimator = estimator
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.random_state = random_state

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> "EarlyStopping":
        y = np.asarray(y)
        split = self._split(len(y), y)
        estimator = clone(self.estimator)
        if split is None:
            estimator.fit(X, y, sample_weight=sample_weight)
        else:
            train, valid = split
            weights = (None, None) if sample_weight is None else (sample_weight[train], sample_weight[valid])
            fit_with_holdout = _fit_catboost if _is_catboost(estimator) else _fit_lightgbm
            fit_with_holdout(estimator, (_rows(X, train), y[train], weights[0]),
                             (_rows(X, valid), y[valid], weights[1]), self.patience)
        self.estimator_ = estimator
        self.best_iteration_ = _rounds(estimator)
        if is_classifier(estimator):
            self.classes_ = estimator.classes_
        return self

    def _split(self, n: int, y: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        if n < MIN_ROWS or self.patience <= 0:
            return None
        stratify = None
        if is_classifier(self.estimator):
            counts = np.unique(y, return_counts=True)[1]
            if counts.min() < 2:
                return None
            stratify = y
        index = np.arange(n)
        train, valid = train_test_split(index, test_size=self.validation_fraction,
                                        random_state=self.random_state, stratify=stratify)
        if stratify is not None and len(np.unique(y[train])) != len(counts):
            return None
        return train, valid

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict(X)

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict_proba(X)


Part = tuple[Any, np.ndarray, Any]


def _is_catboost(estimator: Any) -> bool:
    return type(estimator).__module__.split(".")[0] == "catboost"


def _fit_lightgbm(estimator: Any, train: Part, valid: Part, patience: int) -> None:
    import lightgbm

    (X, y, weight), (X_valid, y_valid, valid_weight) = train, valid
    estimator.fit(X, y, sample_weight=weight, eval_sample_weight=None if valid_weight is None else [valid_weight],
                  callbacks=[lightgbm.early_stopping(patience, verbose=False)],
                  **_eval_data(estimator, X_valid, y_valid))


def _fit_catboost(estimator: Any, train: Part, valid: Part, patience: int) -> None:
    from catboost import Pool

    (X, y, weight), (X_valid, y_valid, valid_weight) = train, valid
    estimator.fit(X, y, sample_weight=weight, eval_set=Pool(X_valid, y_valid, weight=valid_weight),
                  early_stopping_rounds=patience, use_best_model=True)


def _rounds(estimator: Any) -> int:
    """Boosting rounds the fitted estimator keeps (its best iteration when it stopped early)."""
    if _is_catboost(estimator):
        return int(estimator.tree_count_)
    return int(getattr(estimator, "best_iteration_", None) or estimator.n_estimators)


def _eval_data(estimator: Any, X: Any, y: np.ndarray) -> dict[str, Any]:
    """LightGBM 4.7 takes ``eval_X``/``eval_y`` and deprecates ``eval_set``; older releases only know the latter."""
    if "eval_X" in inspect.signature(estimator.fit).parameters:
        return {"eval_X": (X,), "eval_y": (y,)}
    return {"eval_set": [(X, y)]}


def _rows(X: Any, index: np.ndarray) -> Any:
    return X.iloc[index] if hasattr(X, "iloc") else X[index]
