"""A neural network family: scikit-learn's multi-layer perceptron, searchable by width and depth.

``hidden_layer_sizes`` is a tuple, which a search space cannot declare; these subclasses take ``hidden_units`` and
``layers`` instead. The regressor standardises its target (the network's loss and initialisation assume values
near 0 and 1: a price in tens of thousands trains badly otherwise). The fitted state is scikit-learn's, so ONNX
export converts them as scikit-learn's own MLPs.

With early stopping a fit holds out a share of its rows and keeps its best epoch (``best_epoch_``); given
``epochs`` instead, it trains that many epochs on all the rows. The search refits a trial at its fold models' mean
best epoch (:mod:`automl.search.evaluate`): a refit that stopped on a holdout of its own ran anything from a third to
nearly five times its fold fits' epochs (elevators, 12,449 rows: 27 to 231 epochs against folds' 8 to 176), so its time
could not be planned, and an ensemble member's refit overran the end of the fit.
"""
from __future__ import annotations

import warnings
from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.utils.validation import _check_sample_weight, check_array, column_or_1d, validate_data

from automl.models.adapters import FamilyAdapter
from automl.models.chunked import in_chunks

def _sizes(hidden_units: int, layers: int) -> tuple[int, ...]:
    return (int(hidden_units),) * int(layers)


@contextmanager
def _epochs_fixed(model: Any) -> Iterator[None]:
    """While fitting: with ``model.epochs`` set, no early-stopping holdout and at most that many epochs (the training
    loss's own plateau rule still applies), without the warning that the cap was reached; the parameters are put
    back after."""
    if model.epochs is None:
        yield
        return
    given = model.early_stopping, model.max_iter
    model.early_stopping, model.max_iter = False, max(int(model.epochs), 1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            yield
    finally:
        model.early_stopping, model.max_iter = given


def _best_epoch(model: Any) -> int:
    """The epoch whose weights the fitted ``model`` keeps: its best on the early-stopping holdout, else its last."""
    scores = getattr(model, "validation_scores_", None)
    return int(np.argmax(scores)) + 1 if scores else int(model.n_iter_)


def _without_optimizer(model: Any) -> Any:
    """``model`` without the solver's state (Adam's moment arrays, as large as the weights), which only a
    continued ``partial_fit`` reads: a saved model stays small, and skops does not refuse to load it (scikit-learn
    1.9 keeps ``_optimizer`` after ``fit``; its type is not on skops' trusted list)."""
    if hasattr(model, "_optimizer"):
        del model._optimizer
    return model


class _Layered:
    """What both networks share: ``hidden_layer_sizes`` read from ``hidden_units`` and ``layers`` (not a parameter
    of its own, so a fit changes no public attribute and odd values fail at ``fit``, not in ``__init__``), the
    ``epochs`` refit and the ``best_epoch_`` it reads."""

    hidden_units: int
    layers: int
    epochs: int | None

    def __init__(self, hidden_units: int = 100, layers: int = 1, activation: str = "relu", alpha: float = 1e-4,
                 batch_size: Any = "auto", learning_rate_init: float = 1e-3, max_iter: int = 200,
                 early_stopping: bool = False, n_iter_no_change: int = 10, random_state: Any = None,
                 epochs: int | None = None):
        self.hidden_units = hidden_units
        self.layers = layers
        self.epochs = epochs
        super().__init__(hidden_layer_sizes=None, activation=activation, alpha=alpha,  # type: ignore[call-arg]
                         batch_size=batch_size, learning_rate_init=learning_rate_init, max_iter=max_iter,
                         early_stopping=early_stopping, n_iter_no_change=n_iter_no_change,
                         random_state=random_state)

    @property
    def hidden_layer_sizes(self) -> tuple[int, ...]:
        return _sizes(self.hidden_units, self.layers)

    @hidden_layer_sizes.setter
    def hidden_layer_sizes(self, value: Any) -> None:
        """Ignored: the sizes follow ``hidden_units`` and ``layers`` (scikit-learn's ``__init__`` sets them)."""

    def _forward_pass_fast(self, X: Any, check_input: bool = True) -> np.ndarray:
        """scikit-learn's forward pass (what ``predict`` and ``predict_proba`` read), validated once, then a chunk of
        rows at a time (:func:`automl.models.chunked.in_chunks`): all at once, each hidden layer holds a value per
        row and unit (a holdout of 300,000 rows through 512 units: 1.2 GB a layer)."""
        if check_input:
            X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False)
        forward = super()._forward_pass_fast  # type: ignore[misc]
        return in_chunks(lambda rows: forward(rows, check_input=False), X)

    def _fit_network(self, X: Any, y: Any, sample_weight: Any) -> Any:
        with _epochs_fixed(self):
            super().fit(X, y, sample_weight=sample_weight)  # type: ignore[misc]
        self.best_epoch_ = _best_epoch(self)
        return _without_optimizer(self)


class NeuralNetClassifier(_Layered, MLPClassifier):
    """:class:`~sklearn.neural_network.MLPClassifier` with ``layers`` hidden layers of ``hidden_units`` units.

    ``epochs``: when given, train at most that many epochs on all the rows, without the early-stopping holdout (a
    refit at the epochs its fold models kept); ``best_epoch_`` is the epoch the fitted weights are from.
    """

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> "NeuralNetClassifier":
        return self._fit_network(X, y, sample_weight)


class NeuralNetRegressor(_Layered, MLPRegressor):
    """:class:`~sklearn.neural_network.MLPRegressor` with ``layers`` hidden layers of ``hidden_units`` units, fitted
    on the standardised target (predictions are put back on its scale); ``epochs`` and ``best_epoch_`` as in
    :class:`NeuralNetClassifier`."""

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> "NeuralNetRegressor":
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        values = column_or_1d(check_array(y, ensure_2d=False, dtype=np.float64), warn=True)
        weights = None if sample_weight is None else _check_sample_weight(sample_weight, values)
        self.target_mean_ = float(np.average(values, weights=weights))
        self.target_scale_ = float(np.sqrt(np.average((values - self.target_mean_) ** 2, weights=weights)))
        self.target_scale_ = self.target_scale_ if self.target_scale_ > 0 else 1.0
        return self._fit_network(X, (values - self.target_mean_) / self.target_scale_, weights)

    def predict(self, X: Any) -> np.ndarray:
        return super().predict(X) * self.target_scale_ + self.target_mean_


class NeuralNetAdapter(FamilyAdapter):
    """The MLPs: our subclasses are trusted (their state is scikit-learn's: weight arrays); the classifier exports
    with scikit-learn's MLP converter, the regressor's standardised target has none."""

    trusted_types = ("automl.models.neural.NeuralNetClassifier", "automl.models.neural.NeuralNetRegressor")

    def register_onnx(self) -> None:
        from skl2onnx import _supported_operators

        names = _supported_operators.sklearn_operator_name_map
        names.setdefault(NeuralNetClassifier, "SklearnMLPClassifier")

    def export_problem(self, model: Any) -> str | None:
        if isinstance(model, NeuralNetRegressor):
            return "the neural network regressor (standardised target) has no ONNX converter"
        return None
