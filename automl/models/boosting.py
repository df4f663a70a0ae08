"""The gradient boosting libraries as families: early stopping inside a pipeline, and their adapters.

Early stopping holds out part of the training rows; each library has its own wrapper
(:class:`LightGBMEarlyStopping`, :class:`CatBoostEarlyStopping`), named in its family's declaration. The
pipeline's preprocessing has already run when the model is fitted, so the held-out rows are transformed the same
way as the rest; the search's own validation folds are never touched.
"""
from __future__ import annotations

import inspect
import time
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone, is_classifier
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted

from automl.models.adapters import FamilyAdapter, WrapsModel

# Below this many training rows a 10% holdout costs more than early stopping saves: fit plainly.
MIN_ROWS = 1000


class EarlyStopping(WrapsModel, BaseEstimator):
    """Fit a boosting estimator with early stopping on a held-out share of its training rows.

    The base class fits plainly; a library's subclass implements :meth:`_fit_with_holdout` and
    :meth:`_rounds`.

    Parameters
    ----------
    estimator : a boosting classifier or regressor
        Its ``n_estimators`` (``iterations``) is the most boosting rounds.
    patience : int, default=50
        Stop after this many rounds without improvement on the held-out rows.
    validation_fraction : float, default=0.1
        Share of the training rows held out (stratified for classification).
    random_state : int or None
        Seed of the split.
    categorical_last : int, default=0
        The last this many columns are category codes the library splits on natively (NaN: missing or unseen);
        a library's subclass passes them on (only LightGBM's does).
    max_seconds : float or None, default=None
        Stop adding rounds once the fit has taken this long, keeping the best rounds so far (a subclass whose
        library takes a callback per round honours it: LightGBM's); the search sets it from the trial's time.
    """

    def __init__(self, estimator: Any = None, patience: int = 50, validation_fraction: float = 0.1,
                 random_state: int | None = None, categorical_last: int = 0, max_seconds: float | None = None):
        self.estimator = estimator
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.categorical_last = categorical_last
        self.max_seconds = max_seconds

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> "EarlyStopping":
        y = np.asarray(y)
        split = self._split(len(y), y)
        estimator = clone(self.estimator)
        if split is None:
            estimator.fit(X, y, sample_weight=sample_weight, **self._category_arguments(X), **self._time_arguments())
        else:
            train, valid = split
            weights = (None, None) if sample_weight is None else (sample_weight[train], sample_weight[valid])
            self._fit_with_holdout(estimator, (_rows(X, train), y[train], weights[0]),
                                   (_rows(X, valid), y[valid], weights[1]))
        self.estimator_ = estimator
        self.best_iteration_ = self._rounds(estimator)
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

    def _fit_with_holdout(self, estimator: Any, train: "Part", valid: "Part") -> None:
        """Fit ``estimator`` on ``train``, stopping when ``valid`` stops improving (the library's own call)."""
        X, y, weight = train
        estimator.fit(X, y, sample_weight=weight)

    def _category_arguments(self, X: Any) -> dict[str, Any]:
        """Fit arguments naming the category columns, in the library's own terms (none in the base class)."""
        return {}

    def _time_arguments(self) -> dict[str, Any]:
        """Fit arguments that stop the rounds at ``max_seconds``, in the library's own terms (none in the base
        class)."""
        return {}

    def _rounds(self, estimator: Any) -> int:
        """Boosting rounds the fitted estimator keeps (its best iteration when it stopped early)."""
        return int(getattr(estimator, "best_iteration_", None) or getattr(estimator, "n_estimators", 0) or 0)

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        # one value per row, as scikit-learn answers (CatBoost answers a multiclass predict as a column)
        return np.ravel(self.estimator_.predict(X))

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict_proba(X)


Part = tuple[Any, np.ndarray, Any]


class LightGBMEarlyStopping(EarlyStopping):
    """:class:`EarlyStopping` with LightGBM's early-stopping callback (and its native categorical splits)."""

    def _fit_with_holdout(self, estimator: Any, train: Part, valid: Part) -> None:
        import lightgbm

        (X, y, weight), (X_valid, y_valid, valid_weight) = train, valid
        stopper = lightgbm.early_stopping(self.patience, verbose=False)
        estimator.fit(X, y, sample_weight=weight,
                      eval_sample_weight=None if valid_weight is None else [valid_weight],
                      **_eval_data(estimator, X_valid, y_valid), **self._category_arguments(X),
                      **self._time_arguments(stopper))

    def _category_arguments(self, X: Any) -> dict[str, Any]:
        width = X.shape[1]
        if not self.categorical_last:
            return {}
        return {"categorical_feature": list(range(width - self.categorical_last, width))}

    def _time_arguments(self, stopper: Any = None) -> dict[str, Any]:
        callbacks = [] if stopper is None else [stopper]
        if self.max_seconds is not None:
            callbacks.append(_TimeLimit(self.max_seconds, stopper))
        return {"callbacks": callbacks} if callbacks else {}


class _TimeLimit:
    """A LightGBM callback ending the rounds once ``seconds`` have passed since it was made: the model keeps the best
    round the early-stopping callback ``stopper`` saw (every round so far without one)."""

    order = 40  # after the early-stopping callback (30) has seen the round

    def __init__(self, seconds: float, stopper: Any = None):
        self.seconds, self.stopper, self.start = seconds, stopper, time.monotonic()

    def __call__(self, env: Any) -> None:
        import lightgbm

        if time.monotonic() - self.start <= self.seconds:
            return
        best = getattr(self.stopper, "best_iter", None)
        if best:  # what LightGBM's own early stopping would keep
            raise lightgbm.callback.EarlyStopException(best[0], self.stopper.best_score_list[0])
        raise lightgbm.callback.EarlyStopException(env.iteration, env.evaluation_result_list or [])


class CatBoostEarlyStopping(EarlyStopping):
    """:class:`EarlyStopping` with CatBoost's ``eval_set`` and ``early_stopping_rounds``."""

    def _fit_with_holdout(self, estimator: Any, train: Part, valid: Part) -> None:
        from catboost import Pool

        (X, y, weight), (X_valid, y_valid, valid_weight) = train, valid
        estimator.fit(X, y, sample_weight=weight, eval_set=Pool(X_valid, y_valid, weight=valid_weight),
                      early_stopping_rounds=self.patience, use_best_model=True)

    def _rounds(self, estimator: Any) -> int:
        return int(estimator.tree_count_)


class LightGBMAdapter(FamilyAdapter):
    """LightGBM: its booster and estimators are trusted; onnxmltools converts it."""

    trusted_types = ("lightgbm.basic.Booster", "lightgbm.sklearn.LGBMClassifier", "lightgbm.sklearn.LGBMRegressor",
                     "automl.models.boosting.LightGBMEarlyStopping")

    def register_onnx(self) -> None:
        from lightgbm import LGBMClassifier, LGBMRegressor
        from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm
        from skl2onnx import update_registered_converter
        from skl2onnx.common.shape_calculator import (calculate_linear_classifier_output_shapes,
                                                      calculate_linear_regressor_output_shapes)

        update_registered_converter(LGBMClassifier, "LightGbmLGBMClassifier", calculate_linear_classifier_output_shapes,
                                    convert_lightgbm, options={"nocl": [True, False], "zipmap": [True, False, "columns"]})
        update_registered_converter(LGBMRegressor, "LightGbmLGBMRegressor", calculate_linear_regressor_output_shapes,
                                    convert_lightgbm, options={"split": None})


class CatBoostAdapter(FamilyAdapter):
    """CatBoost: its estimators are trusted (their state is the model in CatBoost's own binary format, not a
    pickle, read back by its loader); its own ONNX export's tree ensemble node is put in skl2onnx's graph."""

    trusted_types = ("catboost.core.CatBoostClassifier", "catboost.core.CatBoostRegressor",
                     "automl.models.boosting.CatBoostEarlyStopping")

    def register_onnx(self) -> None:
        from catboost import CatBoostClassifier, CatBoostRegressor
        from skl2onnx import _supported_operators, update_registered_converter
        from skl2onnx.common.shape_calculator import (calculate_linear_classifier_output_shapes,
                                                      calculate_linear_regressor_output_shapes)

        if CatBoostClassifier not in _supported_operators.sklearn_classifier_list:  # so the parser declares 2 outputs
            _supported_operators.sklearn_classifier_list.append(CatBoostClassifier)
        update_registered_converter(CatBoostClassifier, "AutomlCatBoostClassifier",
                                    calculate_linear_classifier_output_shapes, _convert_catboost,
                                    options={"nocl": [True, False], "zipmap": [True, False, "columns"]})
        update_registered_converter(CatBoostRegressor, "AutomlCatBoostRegressor",
                                    calculate_linear_regressor_output_shapes, _convert_catboost)


def _convert_catboost(scope: Any, operator: Any, container: Any) -> None:
    """CatBoost exports itself as one ``TreeEnsembleClassifier`` (label, probabilities) or
    ``TreeEnsembleRegressor`` node over a single float input; that node is added here with its attributes,
    reading this operator's input and writing its outputs. (Its ZipMap is left out: skl2onnx's parser adds
    one when the options ask for it.)"""
    from catboost.utils import convert_to_onnx_object
    from onnx.helper import get_attribute_value

    exported = convert_to_onnx_object(operator.raw_operator)
    node = next(n for n in exported.graph.node if n.op_type.startswith("TreeEnsemble"))
    attributes = {a.name: get_attribute_value(a) for a in node.attribute}
    container.add_node(node.op_type, [operator.inputs[0].full_name], [o.full_name for o in operator.outputs],
                       op_domain="ai.onnx.ml", op_version=1, name=scope.get_unique_operator_name(node.op_type),
                       **attributes)


def _eval_data(estimator: Any, X: Any, y: np.ndarray) -> dict[str, Any]:
    """LightGBM 4.7 takes ``eval_X``/``eval_y`` and deprecates ``eval_set``; older releases only know the latter."""
    if "eval_X" in inspect.signature(estimator.fit).parameters:
        return {"eval_X": (X,), "eval_y": (y,)}
    return {"eval_set": [(X, y)]}


def _rows(X: Any, index: np.ndarray) -> Any:
    return X.iloc[index] if hasattr(X, "iloc") else X[index]
