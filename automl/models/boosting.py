"""The gradient boosting libraries as families: early stopping inside a pipeline, and their adapters.

Early stopping holds out part of the training rows; each library has its own wrapper
(:class:`LightGBMEarlyStopping`, :class:`CatBoostEarlyStopping`), named in its family's declaration. The
pipeline's preprocessing has already run when the model is fitted, so the held-out rows are transformed the same
way as the rest.

A bagged trial (small data) may instead stop each fold model on its validation fold (``fit(validation=...)``, for a
wrapper whose ``stops_on_validation``): every training row is fitted and the stop is read on more rows. The rounds
a fold model keeps are then chosen from the *other* folds' validation curves (:func:`nested_rounds`,
:meth:`CutsRounds.keep_rounds`), so that no fold is scored on rows that chose its rounds.
"""
from __future__ import annotations

import inspect
import time
from typing import Any, Protocol

import numpy as np
from sklearn.base import BaseEstimator, clone, is_classifier
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted

from automl.models.adapters import FamilyAdapter, WrapsModel

# Below this many training rows a 10% holdout costs more than early stopping saves: fit plainly.
MIN_ROWS = 1000


class CutsRounds(Protocol):
    """What a wrapper that ``stops_on_validation`` (LightGBM's) offers after ``fit(validation=...)``: the validation
    rows' loss per round, and its rounds chosen or cut after the fit."""

    validation_curve_: np.ndarray | None

    def keep_rounds(self, rounds: int) -> Any:
        """Keep the first ``rounds`` boosting rounds of the fitted model (all it has, when fewer), dropping the rest:
        a bagged trial's fold model, cut at the rounds the other folds chose (:func:`nested_rounds`)."""

    def predict_with_rounds(self, rounds: int | None) -> Any:
        """Predict with the first ``rounds`` boosting rounds (every round: ``None``), dropping none (a fold model
        scored for the pruner before its rounds are cut)."""


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
    rounds : int or None, default=None
        Boost exactly this many rounds on every row, without a holdout (the search's refit of a bagged trial, whose
        fold models were cut at these rounds on average: :meth:`CutsRounds.keep_rounds`); its library's
        ``rounds_param``.
    """

    # the estimator's parameter of the most boosting rounds
    rounds_param = "n_estimators"

    def __init__(self, estimator: Any = None, patience: int = 50, validation_fraction: float = 0.1,
                 random_state: int | None = None, categorical_last: int = 0, max_seconds: float | None = None,
                 rounds: int | None = None):
        self.estimator = estimator
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.categorical_last = categorical_last
        self.max_seconds = max_seconds
        self.rounds = rounds

    # whether fit(validation=...) stops on the rows given and records their loss per round (validation_curve_); such a
    # wrapper also implements CutsRounds
    stops_on_validation = False

    def fit(self, X: Any, y: Any, sample_weight: Any = None, validation: "Part | None" = None) -> "EarlyStopping":
        """Fit the estimator, stopping on a held-out share of ``X``'s rows, or on ``validation`` when given.

        Parameters
        ----------
        X, y, sample_weight
            The training rows.
        validation : tuple (X, y, sample_weight), optional
            Rows to stop on instead of a held-out share (a bagged trial's validation fold, transformed as ``X``),
            for a library whose wrapper ``stops_on_validation``; their loss at each round is kept in
            ``validation_curve_``, and every round is kept until :meth:`CutsRounds.keep_rounds` cuts them. Rows of a
            class the training rows lack are left out of it.
        """
        y = np.asarray(y)
        estimator = clone(self.estimator)
        self.validation_curve_ = None
        if self.rounds:
            estimator.set_params(**{self.rounds_param: int(self.rounds)})
        stop_on = validation if self.stops_on_validation else None
        if stop_on is not None and is_classifier(estimator):
            stop_on = rows_of_known_labels(stop_on, np.unique(y))
        if stop_on is not None:
            self._fit_with_holdout(estimator, (X, y, sample_weight), stop_on, keep_every_round=True)
            self.validation_curve_ = self._curve(estimator)
            return self._fitted(estimator)
        split = self._split(len(y), y)
        if split is None:
            estimator.fit(X, y, sample_weight=sample_weight, **self._category_arguments(X), **self._time_arguments())
        else:
            train, valid = split
            weights = (None, None) if sample_weight is None else (sample_weight[train], sample_weight[valid])
            self._fit_with_holdout(estimator, (_rows(X, train), y[train], weights[0]),
                                   (_rows(X, valid), y[valid], weights[1]))
        return self._fitted(estimator)

    def _fitted(self, estimator: Any) -> "EarlyStopping":
        self.estimator_ = estimator
        self.best_iteration_ = self._rounds(estimator)
        if is_classifier(estimator):
            self.classes_ = estimator.classes_
        return self

    def _split(self, n: int, y: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        if n < MIN_ROWS or self.patience <= 0 or self.rounds:
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

    def _fit_with_holdout(self, estimator: Any, train: "Part", valid: "Part", keep_every_round: bool = False) -> None:
        """Fit ``estimator`` on ``train``, stopping when ``valid`` stops improving (the library's own call); with
        ``keep_every_round``, the rounds after the best are kept too (cut later: :meth:`CutsRounds.keep_rounds`)."""
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

    def _curve(self, estimator: Any) -> np.ndarray | None:
        """The validation rows' loss after each round of a fit that stopped on them (none in the base class)."""
        return None

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        # one value per row, as scikit-learn answers (CatBoost answers a multiclass predict as a column)
        return np.ravel(self.estimator_.predict(X))

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict_proba(X)


Part = tuple[Any, np.ndarray, Any]


class LightGBMEarlyStopping(EarlyStopping):
    """:class:`EarlyStopping` with LightGBM's early-stopping callback (and its native categorical splits); it stops on
    given validation rows and cuts its rounds after the fit (:class:`CutsRounds`)."""

    stops_on_validation = True

    def _fit_with_holdout(self, estimator: Any, train: Part, valid: Part, keep_every_round: bool = False) -> None:
        import lightgbm

        (X, y, weight), (X_valid, y_valid, valid_weight) = train, valid
        # LightGBM's own callback keeps the rounds up to the best only
        stopper = _StopKeepingRounds(self.patience) if keep_every_round else \
            lightgbm.early_stopping(self.patience, verbose=False)
        estimator.fit(X, y, sample_weight=weight,
                      eval_sample_weight=None if valid_weight is None else [valid_weight],
                      **_eval_data(estimator, X_valid, y_valid), **self._category_arguments(X),
                      **self._time_arguments(stopper, keep_every_round))

    def _curve(self, estimator: Any) -> np.ndarray | None:
        # the objective's own loss (log loss, L2): LightGBM's default metric for the objective, the only one set
        losses = next(iter(estimator.evals_result_.get("valid_0", {}).values()), None)
        return None if losses is None else np.asarray(losses, dtype=float)

    def keep_rounds(self, rounds: int) -> "LightGBMEarlyStopping":
        check_is_fitted(self, "estimator_")
        booster = self.estimator_.booster_
        rounds = int(min(max(rounds, 1), booster.current_iteration()))
        # the booster rebuilt from its first rounds: predict, the fast predictor and the ONNX export all read it
        booster.model_from_string(booster.model_to_string(num_iteration=rounds))
        return self.predict_with_rounds(None)

    def predict_with_rounds(self, rounds: int | None) -> "LightGBMEarlyStopping":
        check_is_fitted(self, "estimator_")
        booster = self.estimator_.booster_
        # what the booster's predict (and the fast predictor's dump of it) uses; 0: every round
        booster.best_iteration = 0 if rounds is None else int(min(max(rounds, 1), booster.current_iteration()))
        self.best_iteration_ = booster.best_iteration or booster.current_iteration()
        return self

    def _category_arguments(self, X: Any) -> dict[str, Any]:
        width = X.shape[1]
        if not self.categorical_last:
            return {}
        return {"categorical_feature": list(range(width - self.categorical_last, width))}

    def _time_arguments(self, stopper: Any = None, keep_every_round: bool = False) -> dict[str, Any]:
        callbacks = [] if stopper is None else [stopper]
        if self.max_seconds is not None:
            callbacks.append(_TimeLimit(self.max_seconds, None if keep_every_round else stopper))
        return {"callbacks": callbacks} if callbacks else {}


class _TimeLimit:
    """A LightGBM callback ending the rounds once ``seconds`` have passed since it was made: the model keeps the best
    round the early-stopping callback ``stopper`` saw (every round so far without one)."""

    def __init__(self, seconds: float, stopper: Any = None):
        self.seconds, self.stopper, self.start = seconds, stopper, time.monotonic()
        # after the early-stopping callback (30) has seen the round; on the instance, where LightGBM reads it (a
        # callback without one there is given a place before every other)
        self.order = 40

    def __call__(self, env: Any) -> None:
        import lightgbm

        if time.monotonic() - self.start <= self.seconds:
            return
        best = getattr(self.stopper, "best_iter", None)
        if best:  # what LightGBM's own early stopping would keep
            raise lightgbm.callback.EarlyStopException(best[0], self.stopper.best_score_list[0])
        raise lightgbm.callback.EarlyStopException(env.iteration, env.evaluation_result_list or [])


class _StopKeepingRounds:
    """A LightGBM callback ending the rounds after ``patience`` of them without a lower loss on the (first)
    validation rows, keeping every round fitted: the model is cut later where other folds' curves choose
    (:func:`nested_rounds`)."""

    def __init__(self, patience: int):
        self.patience, self.best, self.best_round = patience, np.inf, 0
        self.order = 30  # where LightGBM's own early stopping runs: after the curve is recorded (20)

    def __call__(self, env: Any) -> None:
        import lightgbm

        if not env.evaluation_result_list:
            return
        _, _, value, bigger_is_better = env.evaluation_result_list[0][:4]
        loss = -value if bigger_is_better else value
        if loss < self.best:
            self.best, self.best_round = loss, env.iteration
        elif env.iteration - self.best_round >= self.patience:
            # "best" is the last round: the booster keeps every round
            raise lightgbm.callback.EarlyStopException(env.iteration, env.evaluation_result_list)


class CatBoostEarlyStopping(EarlyStopping):
    """:class:`EarlyStopping` with CatBoost's ``eval_set`` and ``early_stopping_rounds``."""

    rounds_param = "iterations"

    def _fit_with_holdout(self, estimator: Any, train: Part, valid: Part, keep_every_round: bool = False) -> None:
        # never asked to keep every round: it does not stop on given validation rows (stops_on_validation)
        from catboost import Pool

        (X, y, weight), (X_valid, y_valid, valid_weight) = train, valid
        estimator.fit(X, y, sample_weight=weight, eval_set=Pool(X_valid, y_valid, weight=valid_weight),
                      early_stopping_rounds=self.patience, use_best_model=True, **self._time_arguments())

    def _time_arguments(self) -> dict[str, Any]:
        # CatBoost keeps the best iteration on its eval set when a callback ends the rounds (use_best_model); without
        # the cap a rung's fit ran on past it (the 1M-row 4-class table: 17.2 s on the 1/16 rung against 0.9 s)
        return {} if self.max_seconds is None else {"callbacks": [_CatBoostTimeLimit(self.max_seconds)]}

    def _rounds(self, estimator: Any) -> int:
        return int(estimator.tree_count_)


class _CatBoostTimeLimit:
    """A CatBoost callback ending the rounds once ``seconds`` have passed since it was made (after one round at
    least: the model is never empty)."""

    def __init__(self, seconds: float):
        self.seconds, self.start = seconds, time.monotonic()

    def after_iteration(self, info: Any) -> bool:
        """Whether to go on (CatBoost's protocol: ``False`` stops)."""
        return time.monotonic() - self.start < self.seconds


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


def nested_rounds(curves: list[np.ndarray | None]) -> list[int | None]:
    """For each fold with a validation curve, the round with the lowest mean loss over the *other* folds' curves
    (its own curve's best when no other fold has one); ``None`` for a fold without a curve.

    A fold that stopped early keeps its last loss for the rounds it did not fit (its loss was rising there).
    Choosing a fold model's rounds on its own validation rows would make its score optimistic
    (``benchmarks/results/bag_stopping_extra.md``); chosen on the others', the rows it is scored on had no say.
    """
    known = {k: c for k, c in enumerate(curves) if c is not None and len(c)}
    if not known:
        return [None] * len(curves)
    longest = max(len(c) for c in known.values())
    padded = {k: np.pad(c, (0, longest - len(c)), mode="edge") for k, c in known.items()}
    out: list[int | None] = []
    for k in range(len(curves)):
        others = [c for j, c in padded.items() if j != k]
        if k not in padded:
            out.append(None)
        else:
            out.append(int(np.argmin(np.mean(others, axis=0) if others else padded[k])) + 1)
    return out


def rows_of_known_labels(validation: Part, labels: np.ndarray) -> Part | None:
    """The rows of ``validation`` (X, y, sample_weight) whose label is one of ``labels`` (a classifier's training
    labels: it cannot score the others); ``None`` when none is."""
    X_valid, y_valid, weight = validation
    y_valid = np.asarray(y_valid)
    keep = np.isin(y_valid, labels)
    if keep.all():
        return X_valid, y_valid, weight
    if not keep.any():
        return None
    return _rows(X_valid, np.flatnonzero(keep)), y_valid[keep], None if weight is None else np.asarray(weight)[keep]


def _rows(X: Any, index: np.ndarray) -> Any:
    return X.iloc[index] if hasattr(X, "iloc") else X[index]
