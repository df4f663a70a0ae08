"""A neural network family trained with PyTorch, predicting with NumPy alone.

scikit-learn's MLP has no dropout and its early stopping watches accuracy (classifier) or R^2 (regressor), not the
loss. The peers' networks that win small dense tables (AutoGluon's, issue 15) are
deeper ReLU networks with dropout, trained with Adam in small batches and stopped on the validation loss, keeping
the best epoch. This family is that network.

Training needs ``torch`` (``pip install "automl[torch]"``); the fitted estimator holds its weights as NumPy arrays
and predicts with NumPy, so loading, serving and persisting a fitted model need no torch, and skops loads it as
arrays. Regression is fitted on the standardised target and its predictions are clipped to the training targets'
range widened by 5 % (a network extrapolates linearly far outside it).
"""
from __future__ import annotations

import time
from abc import ABCMeta, abstractmethod
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from automl.models.adapters import FamilyAdapter
from automl.models.chunked import in_chunks

#: a regression's predictions may leave the training targets' range by this share of it
TARGET_RANGE_MARGIN = 0.05


def batch_size_for(rows: int, requested: Any) -> int:
    """``requested``, or for ``"auto"`` the batch that grows with the rows' order of magnitude: 2^(3 + log10 rows)
    (64 rows per batch at 1k-9k rows, 128 at 10k-99k), at most 512 and at most the rows."""
    if requested != "auto":
        return max(1, min(int(requested), rows))
    return max(1, min(int(2 ** (3 + np.floor(np.log10(max(rows, 1))))), 512, rows))


class Adam:
    """Adam with L2 weight decay, the update ``torch.optim.Adam`` makes on CPU tensors (its single-tensor path: the
    same operations in the same order, so the same weights), without ``torch.optim``: building any of its optimizers
    imports ``torch._dynamo`` and sympy, 1.3 s and 71 MB of memory in every trial process that trains the network.

    Parameters
    ----------
    torch : module
        The imported ``torch``.
    parameters : iterable of tensors
        What it updates from their ``grad``.
    lr, weight_decay, betas, eps : float
        As ``torch.optim.Adam``'s.
    """

    def __init__(self, torch: Any, parameters: Any, lr: float, weight_decay: float = 0.0,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.torch, self.lr, self.weight_decay, self.betas, self.eps = torch, lr, weight_decay, betas, eps
        self.parameters = list(parameters)
        self.moments = [(torch.zeros_like(p), torch.zeros_like(p)) for p in self.parameters]
        self.steps = 0

    def zero_grad(self) -> None:
        """Drop every parameter's gradient (``torch.optim``'s default, ``set_to_none=True``)."""
        for parameter in self.parameters:
            parameter.grad = None

    def step(self) -> None:
        """One update of every parameter that has a gradient."""
        beta1, beta2 = self.betas
        self.steps += 1
        step_size = self.lr / (1 - beta1 ** float(self.steps))
        bias_correction2_sqrt = (1 - beta2 ** float(self.steps)) ** 0.5
        with self.torch.no_grad():
            for parameter, (mean, square) in zip(self.parameters, self.moments):
                if parameter.grad is None:
                    continue
                grad = parameter.grad
                if self.weight_decay != 0:
                    grad = grad.add(parameter, alpha=self.weight_decay)
                mean.lerp_(grad, 1 - beta1)
                square.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                parameter.addcdiv_(mean, (square.sqrt() / bias_correction2_sqrt).add_(self.eps), value=-step_size)


class _TorchNet(BaseEstimator, metaclass=ABCMeta):
    """Shared fit and forward pass; :class:`TorchNetClassifier` and :class:`TorchNetRegressor` set the targets, the
    loss and the answer."""

    # what fit converts its input to: a trial hands it over in it (automl.search.evaluate.in_fit_dtype)
    fit_dtype = np.float32

    def __init__(self, hidden_units: int = 128, layers: int = 4, dropout: float = 0.1,
                 learning_rate: float = 3e-4, weight_decay: float = 1e-6, batch_size: Any = "auto",
                 max_epochs: int = 500, patience: int = 20, validation_fraction: float = 0.1,
                 max_seconds: float | None = None, n_jobs: int = 1, random_state: Any = None):
        self.hidden_units = hidden_units
        self.layers = layers
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.max_seconds = max_seconds
        self.n_jobs = n_jobs
        self.random_state = random_state

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # densified: the one-hot columns of a preprocessing arrive sparse
        return tags

    # -- what the two kinds differ in ------------------------------------------------------------------------------
    @abstractmethod
    def _targets(self, y: np.ndarray) -> tuple[np.ndarray, int]:
        """The training targets as the loss takes them (recording what prediction needs), and the output width."""

    @abstractmethod
    def _loss(self, torch: Any) -> Any:
        """The per-row loss: ``loss(outputs, targets)`` -> one value per row."""

    # -- fitting -----------------------------------------------------------------------------------------------------
    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> "_TorchNet":
        """Train on ``X``, ``y`` with early stopping on a held-out share of the rows, keeping the best epoch.

        Raises
        ------
        ImportError
            If torch is not installed (``pip install "automl[torch]"``).
        """
        try:
            import torch
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ImportError('the torch_mlp family needs torch: pip install "automl[torch]"') from exc
        start = time.monotonic()
        X, y = validate_data(self, X, y, accept_sparse=True, dtype=np.float32, reset=True,
                             y_numeric=not isinstance(self, ClassifierMixin))
        features = _dense(X)
        targets, outputs = self._targets(np.asarray(y))
        weights = _check_sample_weight(sample_weight, features, dtype=np.float32, ensure_non_negative=True)
        train, valid = self._split(len(targets), targets)
        seed = int(np.random.RandomState(self.random_state).randint(2 ** 31 - 1)) \
            if not isinstance(self.random_state, int) else self.random_state
        threads = torch.get_num_threads()
        torch.set_num_threads(max(1, int(self.n_jobs)) if self.n_jobs and self.n_jobs > 0 else threads)
        try:
            torch.manual_seed(seed)
            net = self._network(torch, features.shape[1], outputs)
            self._train(torch, net, features, targets, weights, train, valid, start, seed)
        finally:
            torch.set_num_threads(threads)
        return self

    def _split(self, rows: int, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        index = np.arange(rows)
        held = max(1, int(round(rows * self.validation_fraction)))
        if rows < 20 or held >= rows:
            return index, index
        stratify = targets if isinstance(self, ClassifierMixin) and np.bincount(targets).min() >= 2 else None
        try:
            return tuple(train_test_split(index, test_size=held, random_state=self.random_state, stratify=stratify))
        except ValueError:  # more classes than held-out rows
            return tuple(train_test_split(index, test_size=held, random_state=self.random_state))

    def _network(self, torch: Any, inputs: int, outputs: int) -> Any:
        nn, blocks, width = torch.nn, [], inputs
        for _ in range(int(self.layers)):
            blocks += [nn.Linear(width, int(self.hidden_units)), nn.ReLU()]
            if self.dropout > 0:
                blocks.append(nn.Dropout(float(self.dropout)))
            width = int(self.hidden_units)
        blocks.append(nn.Linear(width, outputs))
        return nn.Sequential(*blocks)

    def _train(self, torch: Any, net: Any, features: np.ndarray, targets: np.ndarray, weights: np.ndarray,
               train: np.ndarray, valid: np.ndarray, start: float, seed: int) -> None:
        x = torch.from_numpy(features)
        t = torch.from_numpy(targets)
        w = torch.from_numpy(weights)
        train_index = torch.from_numpy(np.asarray(train, dtype=np.int64))
        x_valid, t_valid, w_valid = x[valid], t[valid], w[valid]
        loss_of = self._loss(torch)
        optimizer = Adam(torch, net.parameters(), lr=float(self.learning_rate), weight_decay=float(self.weight_decay))
        batch = batch_size_for(len(train), self.batch_size)
        generator = torch.Generator().manual_seed(seed)
        best, best_state, best_epoch, epoch = np.inf, None, 0, 0
        deadline = np.inf if self.max_seconds is None else start + float(self.max_seconds)
        for epoch in range(1, int(self.max_epochs) + 1):
            net.train()
            order = train_index[torch.randperm(len(train_index), generator=generator)]
            for begin in range(0, len(order), batch):
                # the cap ends an epoch too: one pass over a few million rows can take longer than a trial's time
                if begin and time.monotonic() > deadline:
                    break
                rows = order[begin:begin + batch]
                optimizer.zero_grad()
                # a batch whose rows all weigh 0 adds nothing (no 0 / 0)
                loss = (loss_of(net(x[rows]), t[rows]) * w[rows]).sum() / w[rows].sum().clamp_min(1e-12)
                loss.backward()
                optimizer.step()
            net.eval()
            with torch.no_grad():
                held = float((loss_of(net(x_valid), t_valid) * w_valid).sum() / w_valid.sum().clamp_min(1e-12))
            if held < best - 1e-7 or best_state is None:
                best, best_epoch = held, epoch
                best_state = [p.detach().clone() for p in net.parameters()]
            if epoch - best_epoch >= int(self.patience):
                break
            if time.monotonic() > deadline:
                break
        assert best_state is not None  # the first epoch always sets it
        parameters = [p.numpy().astype(np.float32) for p in best_state]  # each linear layer's weight, then its bias
        self.coefs_ = [weight.T.copy() for weight in parameters[0::2]]
        self.intercepts_ = [bias.copy() for bias in parameters[1::2]]
        self.best_epoch_, self.n_epochs_, self.validation_loss_ = best_epoch, epoch, best

    # -- prediction --------------------------------------------------------------------------------------------------
    def _outputs(self, features: np.ndarray) -> np.ndarray:
        """The network's last layer for rows already validated (float32, the training columns), a chunk of rows at
        a time (:func:`automl.models.chunked.in_chunks`)."""
        return in_chunks(self._layers, features)

    def _layers(self, features: np.ndarray) -> np.ndarray:
        hidden = features
        for i, (coef, intercept) in enumerate(zip(self.coefs_, self.intercepts_)):
            hidden = hidden @ coef
            hidden += intercept
            if i < len(self.coefs_) - 1:
                np.maximum(hidden, 0.0, out=hidden)
        return hidden

    def _validated(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "coefs_")
        return _dense(validate_data(self, X, accept_sparse=True, dtype=np.float32, reset=False))

    @abstractmethod
    def answer(self, features: np.ndarray) -> np.ndarray:
        """What the model answers for rows already validated (a float32 array of the training columns), without
        checking them: probabilities for a classifier, one column of predictions for a regressor (the fast predict
        path, :mod:`automl.pipeline.fast`, calls this)."""


class TorchNetClassifier(ClassifierMixin, _TorchNet):
    """A ReLU network with dropout trained by PyTorch on the cross-entropy; predicts with NumPy.

    Parameters
    ----------
    hidden_units, layers : int, default=128, 4
        Width and number of hidden layers.
    dropout : float, default=0.1
        Dropout after each hidden layer while training.
    learning_rate, weight_decay : float, default=3e-4, 1e-6
        Adam's step size and weight decay.
    batch_size : int or "auto", default="auto"
        Rows per update; "auto" grows with the rows' order of magnitude (:func:`batch_size_for`).
    max_epochs, patience : int, default=500, 20
        Most passes over the rows; stop after ``patience`` epochs without a better held-out loss.
    validation_fraction : float, default=0.1
        Share of the rows held out (stratified) for early stopping; the best epoch's weights are kept.
    max_seconds : float or None, default=None
        Stop at the batch that passes this many seconds (the search sets it from the trial's time), keeping the
        best epoch so far (the last, partial one included).
    n_jobs : int, default=1
        Torch threads while fitting.
    random_state : int, RandomState or None
        Seed of the split, the initial weights and the batches.
    """

    def _targets(self, y: np.ndarray) -> tuple[np.ndarray, int]:
        check_classification_targets(y)
        encoder = LabelEncoder().fit(y)
        self.classes_ = encoder.classes_
        return encoder.transform(y).astype(np.int64), max(len(self.classes_), 2)

    def _loss(self, torch: Any) -> Any:
        return torch.nn.CrossEntropyLoss(reduction="none")

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (softmax of the network's outputs), columns in the order of ``classes_``."""
        return self.answer(self._validated(X))

    def answer(self, features: np.ndarray) -> np.ndarray:
        logits = self._outputs(features).astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        return probabilities[:, :len(self.classes_)] if len(self.classes_) > 1 else probabilities[:, :1]

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row."""
        probabilities = self.predict_proba(X)
        return self.classes_[np.argmax(probabilities, axis=1)]


class TorchNetRegressor(RegressorMixin, _TorchNet):
    """A ReLU network with dropout trained by PyTorch on the squared error of the standardised target; predicts
    with NumPy, clipped to the training targets' range widened by 5 %. Parameters as :class:`TorchNetClassifier`."""

    def _targets(self, y: np.ndarray) -> tuple[np.ndarray, int]:
        values = y.astype(np.float64)
        self.target_mean_ = float(values.mean())
        scale = float(values.std())
        self.target_scale_ = scale if scale > 0 else 1.0
        margin = TARGET_RANGE_MARGIN * (float(values.max()) - float(values.min()))
        self.target_range_ = (float(values.min()) - margin, float(values.max()) + margin)
        return ((values - self.target_mean_) / self.target_scale_).astype(np.float32)[:, None], 1

    def _loss(self, torch: Any) -> Any:
        mse = torch.nn.MSELoss(reduction="none")
        return lambda output, target: mse(output, target)[:, 0]

    def predict(self, X: Any) -> np.ndarray:
        """Predicted values on the target's scale."""
        return self.answer(self._validated(X))[:, 0]

    def answer(self, features: np.ndarray) -> np.ndarray:
        values = self._outputs(features).astype(np.float64) * self.target_scale_ + self.target_mean_
        return np.clip(values, *self.target_range_)


def _dense(X: Any) -> np.ndarray:
    return np.ascontiguousarray(X.toarray() if sparse.issparse(X) else X, dtype=np.float32)


class TorchNetAdapter(FamilyAdapter):
    """The torch networks: their fitted state is NumPy weight arrays (no torch object is kept), so skops loads them
    once our two classes are trusted. No ONNX converter is registered for them."""

    trusted_types = ("automl.models.torch_net.TorchNetClassifier", "automl.models.torch_net.TorchNetRegressor")

    def export_problem(self, model: Any) -> str | None:
        if isinstance(model, _TorchNet):
            return "the torch network family has no ONNX converter"
        return None
