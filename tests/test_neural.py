"""The scikit-learn MLP family: a refit at a given number of epochs trains on every row, without a holdout."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from automl.models.neural import NeuralNetClassifier, NeuralNetRegressor


@parametrize_with_checks([NeuralNetClassifier(random_state=0), NeuralNetRegressor(random_state=0),
                          NeuralNetRegressor(epochs=100, random_state=0)])
@pytest.mark.slow
def test_sklearn_contract(estimator, check):  # noqa: ANN001
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the checks' own fits of few rows
        check(estimator)


def _data(rows: int = 400) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, 5))
    return X, 100.0 + 10.0 * np.sin(X[:, 0]) + 5.0 * X[:, 1] + rng.normal(scale=0.5, size=rows)


def test_early_stopping_keeps_its_best_epoch_on_its_holdout():
    X, y = _data()
    model = NeuralNetRegressor(hidden_units=16, early_stopping=True, n_iter_no_change=5, max_iter=200,
                               random_state=0).fit(X, y)
    assert model.best_epoch_ == int(np.argmax(model.validation_scores_)) + 1
    assert model.best_epoch_ <= model.n_iter_ - 5 or model.n_iter_ == 200


@pytest.mark.parametrize("cls, target", [(NeuralNetRegressor, "values"), (NeuralNetClassifier, "labels")])
def test_given_epochs_train_every_row_that_long_and_leave_the_parameters_as_given(cls, target):  # noqa: ANN001
    X, y = _data()
    y = y if target == "values" else (y > np.median(y)).astype(int)
    model = cls(hidden_units=16, early_stopping=True, n_iter_no_change=50, max_iter=200, epochs=7, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # reaching the given epochs is not a warning
        model.fit(X, y)
    assert model.n_iter_ == 7 and model.best_epoch_ == 7 and model.validation_scores_ is None
    assert model.get_params()["early_stopping"] is True and model.get_params()["max_iter"] == 200
    assert model.t_ == 7 * len(y)  # every row in every epoch: none held out


def test_networks_predict_many_rows_a_chunk_at_a_time_with_the_same_values(monkeypatch):
    """A holdout of hundreds of thousands of rows goes through the network PREDICT_CHUNK_ROWS rows at a time (all
    at once, each hidden layer held a value per row and unit): the predictions are those of one pass."""
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    from automl.models.chunked import PREDICT_CHUNK_ROWS

    rng = np.random.default_rng(0)
    X = rng.normal(size=(2 * PREDICT_CHUNK_ROWS + 17, 4))
    y = X[:, 0] - 2 * X[:, 1]
    regressor = NeuralNetRegressor(hidden_units=8, max_iter=5, random_state=0).fit(X[:500], y[:500])
    classifier = NeuralNetClassifier(hidden_units=8, max_iter=5, random_state=0).fit(X[:500], y[:500] > 0)
    one_pass = {MLPRegressor: MLPRegressor._forward_pass_fast(regressor, X),
                MLPClassifier: MLPClassifier._forward_pass_fast(classifier, X)}
    for model, library in ((regressor, MLPRegressor), (classifier, MLPClassifier)):
        passes: list[int] = []
        forward = library._forward_pass_fast

        def counted(self, rows, check_input=True, forward=forward, passes=passes):  # noqa: ANN001, ANN202
            passes.append(rows.shape[0])
            return forward(self, rows, check_input)

        monkeypatch.setattr(library, "_forward_pass_fast", counted)
        np.testing.assert_allclose(model._forward_pass_fast(X), one_pass[library])
        assert max(passes) <= PREDICT_CHUNK_ROWS and sum(passes) == len(X)
    monkeypatch.undo()
    assert np.allclose(classifier.predict_proba(X).sum(axis=1), 1.0)
