"""Feature selection steps: chosen by the search and fitted inside each evaluation fold.

A selector sits after the preprocessing in every trial's pipeline (see :func:`automl.pipeline.build.build_pipeline`),
so it is fitted by ``pipeline.fit`` on the training rows of a fold and never sees the validation rows. The method
and the share of features kept are preprocessing options the search samples (``select`` and ``select_fraction``
in ``configs/families.yaml``).
"""
from __future__ import annotations

import warnings
from typing import Any, Callable

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.feature_selection import SelectorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from automl.pipeline.fresh import relevance

METHODS = ("none", "mutual_info", "f_test", "model", "l1")
# Features are scored on at most this many rows: mutual information and the tree model grow with the rows,
# and a ranking of features is stable well before that.
SCORE_ROWS = 2000
# Trees of the model-based scorer: few and shallow-leaved, a fraction of a second on SCORE_ROWS rows.
SCORE_TREES = 50
# Points on the lasso path for the l1 scorer.
L1_ALPHAS = 30
# FRESH: expected share of irrelevant features among those called relevant (Benjamini-Yekutieli).
FRESH_FDR = 0.05
# FRESH keeps at least this many features (the smallest p-values) when none passes the test.
FRESH_MIN_FEATURES = 5


class _MaskSelector(SelectorMixin, BaseEstimator):
    """A selector whose ``fit`` sets ``support_``, the boolean mask of the kept columns; missing values allowed."""

    support_: np.ndarray

    def _get_support_mask(self) -> np.ndarray:
        check_is_fitted(self, "support_")
        return self.support_

    def _transform(self, X: Any) -> Any:
        # every feature kept (method "none", most trials): the input itself, where selecting with an all-true mask
        # copies it (a second copy of the model's input while it fits: 300 MB for 900k rows x 46 columns)
        if self._get_support_mask().all():
            return X
        return super()._transform(X)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


class FeatureSelector(_MaskSelector):
    """Keep the best-scoring share of the features.

    Parameters
    ----------
    method : {"none", "mutual_info", "f_test", "model", "l1"}, default="none"
        How features are scored: mutual information with the target, the ANOVA / regression F statistic,
        impurity importance of a small ExtraTrees model, or how early a feature enters the lasso path
        (on the class indicators for classification). ``"none"`` keeps every feature.
    fraction : float in (0, 1], default=1.0
        Share of the features kept (at least one).
    task : {"binary", "multiclass", "regression"}, default="binary"
    random_state : int or None, default=None

    Attributes
    ----------
    support_ : ndarray of bool
        The kept features.
    scores_ : ndarray or None
        Each feature's score (higher is better); ``None`` when every feature is kept.
    n_features_in_, n_features_selected_ : int
        Features coming in and going out.

    Notes
    -----
    Missing values are allowed: they are filled with the column median for scoring only; the kept columns
    pass through unchanged.
    """

    def __init__(self, method: str = "none", fraction: float = 1.0, task: str = "binary",
                 random_state: int | None = None):
        self.method = method
        self.fraction = fraction
        self.task = task
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> "FeatureSelector":
        if self.method not in METHODS:
            raise ValueError(f"unknown selection method {self.method!r}; choose one of {METHODS}")
        if not 0.0 < float(self.fraction) <= 1.0:
            raise ValueError(f"fraction must be in (0, 1], got {self.fraction}")
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=True)
        n_features = X.shape[1]
        keep = max(1, int(np.ceil(float(self.fraction) * n_features)))
        self.scores_ = None
        if self.method == "none" or keep >= n_features:
            self.support_ = np.ones(n_features, dtype=bool)
        else:
            rows, target = _score_sample(X, np.asarray(y), self.random_state)
            self.scores_ = np.nan_to_num(_SCORERS[self.method](rows, target, self.task, self.random_state))
            self.support_ = _top(self.scores_, keep)
        self.n_features_selected_ = int(self.support_.sum())
        return self


class RelevanceFilter(_MaskSelector):
    """FRESH: keep the features whose univariate test against the target is significant (as tsfresh decides).

    Each feature gets a p-value (:func:`automl.pipeline.fresh.relevance`: Mann-Whitney U or Fisher's exact test for
    classification, Kendall's tau or Kolmogorov-Smirnov for regression); the Benjamini-Yekutieli procedure then
    controls the false discovery rate at ``fdr_level`` without assuming the tests are independent.

    Parameters
    ----------
    fdr_level : float, default=0.05
    task : {"binary", "multiclass", "regression"}, default="binary"
        Multiclass: a feature is kept when it is relevant for at least one class (one-vs-rest).

    Attributes
    ----------
    support_ : ndarray of bool
    p_values_ : ndarray
        Each feature's p-value (for multiclass, the smallest over the classes).
    fallback_ : bool
        True when no feature passed and the ``FRESH_MIN_FEATURES`` smallest p-values were kept instead.
    """

    def __init__(self, fdr_level: float = FRESH_FDR, task: str = "binary"):
        self.fdr_level = fdr_level
        self.task = task

    def fit(self, X: Any, y: Any) -> "RelevanceFilter":
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=True)
        target = np.asarray(y, dtype=np.float64) if self.task == "regression" else np.asarray(y)
        self.p_values_, self.support_ = relevance(_median_filled(X), target, self.task, self.fdr_level)
        self.fallback_ = not self.support_.any()
        if self.fallback_:
            self.support_ = _top(-np.nan_to_num(self.p_values_, nan=1.0), FRESH_MIN_FEATURES)
        self.n_features_selected_ = int(self.support_.sum())
        return self


def _top(scores: np.ndarray, keep: int) -> np.ndarray:
    """Mask of the ``keep`` highest scores (ties: the earlier feature)."""
    order = np.argsort(-scores, kind="stable")[:keep]
    mask = np.zeros(len(scores), dtype=bool)
    mask[order] = True
    return mask


def _median_filled(X: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-missing columns have no median: filled with 0
        medians = np.nan_to_num(np.nanmedian(X, axis=0))
    return np.where(np.isnan(X), medians, X)


def _score_sample(X: np.ndarray, y: np.ndarray, random_state: int | None) -> tuple[np.ndarray, np.ndarray]:
    """At most SCORE_ROWS rows, missing values filled, for scoring."""
    if len(X) > SCORE_ROWS:
        rows = np.random.default_rng(random_state).choice(len(X), SCORE_ROWS, replace=False)
        X, y = X[rows], y[rows]
    return _median_filled(X), y


def _mutual_info(X: np.ndarray, y: np.ndarray, task: str, seed: int | None) -> np.ndarray:
    from sklearn.feature_selection import mutual_info_classif, mutual_info_regression

    if task == "regression":
        return mutual_info_regression(X, y.astype(float), random_state=seed)
    return mutual_info_classif(X, y, random_state=seed)


def _f_test(X: np.ndarray, y: np.ndarray, task: str, seed: int | None) -> np.ndarray:
    from sklearn.feature_selection import f_classif, f_regression

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant features: F is undefined, scored 0
        if task == "regression":
            return f_regression(X, y.astype(float))[0]
        return f_classif(X, y)[0]


def _model(X: np.ndarray, y: np.ndarray, task: str, seed: int | None) -> np.ndarray:
    from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor

    cls = ExtraTreesRegressor if task == "regression" else ExtraTreesClassifier
    model = cls(n_estimators=SCORE_TREES, min_samples_leaf=2, max_features="sqrt", n_jobs=1, random_state=seed)
    return model.fit(X, y.astype(float) if task == "regression" else y).feature_importances_


def _l1(X: np.ndarray, y: np.ndarray, task: str, seed: int | None) -> np.ndarray:
    """Order of entry along the lasso path (earlier is better), ties broken by the final coefficient."""
    from sklearn.linear_model import lasso_path
    from sklearn.preprocessing import LabelBinarizer, StandardScaler

    Xs = StandardScaler().fit_transform(X)
    target = y.astype(float).reshape(-1, 1) if task == "regression" else LabelBinarizer().fit_transform(y)
    target = StandardScaler().fit_transform(target.astype(float))
    # the path from the smallest alpha that zeroes every coefficient down to a thousandth of it
    alpha_max = np.sqrt(((Xs.T @ target) ** 2).sum(axis=1)).max() / len(Xs)
    alphas = max(alpha_max, 1e-12) * np.logspace(0, -3, L1_ALPHAS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the smallest alphas may not converge: their order of entry still holds
        _, coefs, _ = lasso_path(Xs, target if target.shape[1] > 1 else target.ravel(), alphas=alphas)
    size = np.abs(coefs).reshape(-1, Xs.shape[1], coefs.shape[-1]).sum(axis=0)  # features x alphas
    active = size > 0
    entered = np.where(active.any(axis=1), active.argmax(axis=1), coefs.shape[-1])
    final = size[:, -1] / (size[:, -1].max() + 1e-12)
    return (coefs.shape[-1] - entered) + final


_SCORERS: dict[str, Callable[[np.ndarray, np.ndarray, str, int | None], np.ndarray]] = {
    "mutual_info": _mutual_info, "f_test": _f_test, "model": _model, "l1": _l1}


def selected_counts(pipeline: Any) -> tuple[int | None, int | None]:
    """Features a fitted pipeline builds before selection, and features its model gets.

    ``(None, None)`` for pipelines without a selection step (the constant fallback, ensembles).
    """
    steps = dict(getattr(pipeline, "named_steps", {}))
    first = steps.get("filter", steps.get("select"))
    last = steps.get("select", first)
    if first is None or last is None:
        return None, None
    return int(first.n_features_in_), int(last.n_features_selected_)
