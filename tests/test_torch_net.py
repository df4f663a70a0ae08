"""The torch network family: trained by PyTorch, predicting with NumPy, declared like every other family."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

pytest.importorskip("torch", reason="the torch_mlp family needs the torch extra")

from automl.models.registry import all_families, get_families  # noqa: E402
from automl.models.torch_net import Adam, TorchNetClassifier, TorchNetRegressor, batch_size_for  # noqa: E402
from tests.conftest import fresh_interpreter_words  # noqa: E402

WEIGHTS = "stochastic mini-batches: a weight of 2 and a repeated row are not the same batches"


@parametrize_with_checks([TorchNetClassifier(max_epochs=30, random_state=0),
                          TorchNetRegressor(max_epochs=30, random_state=0)],
                         expected_failed_checks=lambda _: {"check_sample_weight_equivalence_on_dense_data": WEIGHTS,
                                                           "check_sample_weight_equivalence_on_sparse_data": WEIGHTS})
@pytest.mark.slow
def test_sklearn_contract(estimator, check):  # noqa: ANN001
    check(estimator)


def _wave(rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 4)).astype(np.float32)
    return X, 1000.0 + 50.0 * np.sin(2 * X[:, 0]) + 30.0 * X[:, 1] * X[:, 2]


@pytest.mark.slow  # trains for seconds
def test_regressor_learns_a_nonlinear_target_on_its_scale_and_stays_in_range():
    X, y = _wave(1500)
    model = TorchNetRegressor(random_state=0, max_epochs=60, learning_rate=1e-3).fit(X[:1000], y[:1000])
    predictions = model.predict(X[1000:])
    rmse = float(np.sqrt(np.mean((predictions - y[1000:]) ** 2)))
    assert rmse < 0.5 * float(np.std(y[1000:]))  # far better than the mean
    low, high = model.target_range_
    assert low <= predictions.min() and predictions.max() <= high
    far = model.predict(np.full((3, 4), 50.0, dtype=np.float32))  # extrapolation is clipped
    assert ((far >= low) & (far <= high)).all()
    assert 1 <= model.best_epoch_ <= model.n_epochs_ <= 60


def test_fitted_state_is_numpy_only_and_predicts_the_same_after_a_copy():
    import copy

    X, y = _wave(300)
    model = TorchNetRegressor(random_state=0, max_epochs=20).fit(X, y)
    state = {k: v for k, v in vars(model).items() if k.endswith("_")}
    arrays = [a for name in ("coefs_", "intercepts_") for a in state[name]]
    assert arrays and all(type(a) is np.ndarray for a in arrays)  # no torch tensor or module kept
    assert not any(type(v).__module__.startswith("torch") for v in state.values())
    assert np.array_equal(copy.deepcopy(model).predict(X), model.predict(X))


def test_many_rows_are_predicted_in_chunks_as_one_forward_pass_would():
    from automl.models.chunked import PREDICT_CHUNK_ROWS

    X, y = _wave(300)
    model = TorchNetRegressor(random_state=0, max_epochs=5).fit(X, y)
    many = _wave(2 * PREDICT_CHUNK_ROWS + 17, seed=1)[0]  # three chunks, the last one short
    hidden = many.astype(np.float64)
    for i, (coef, intercept) in enumerate(zip(model.coefs_, model.intercepts_)):
        hidden = hidden @ coef.astype(np.float64) + intercept
        if i < len(model.coefs_) - 1:
            hidden = np.maximum(hidden, 0.0)
    chunked = model._outputs(many)
    assert chunked.shape == hidden.shape and chunked.dtype == np.float32
    np.testing.assert_allclose(chunked, hidden, rtol=1e-4, atol=1e-4)
    assert np.array_equal(model.predict(many)[-17:], model.predict(many[-17:]))  # a row's answer is its own


@pytest.mark.slow  # trains for seconds
def test_classifier_keeps_labels_and_gives_probabilities():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(600, 3))
    labels = np.where(X[:, 0] + X[:, 1] ** 2 > 1, "yes", np.where(X[:, 2] > 0, "maybe", "no"))
    model = TorchNetClassifier(random_state=0, max_epochs=100).fit(X, labels)
    assert list(model.classes_) == ["maybe", "no", "yes"]
    proba = model.predict_proba(X)
    assert proba.shape == (600, 3) and np.allclose(proba.sum(axis=1), 1.0)
    assert (model.predict(X) == labels).mean() > 0.8


@pytest.mark.slow  # trains for seconds
def test_sample_weight_decides_what_is_learned():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(400, 2))
    truth = (X[:, 0] > 0).astype(int)
    noisy = np.concatenate([truth, 1 - truth])  # the same rows twice, the second copy with the wrong label
    weights = np.concatenate([np.ones(400), np.zeros(400)])
    model = TorchNetClassifier(random_state=0, max_epochs=60).fit(np.vstack([X, X]), noisy, sample_weight=weights)
    assert (model.predict(X) == truth).mean() > 0.9
    # most batches hold only rows of weight 0: they add nothing, and nothing becomes NaN
    few = np.zeros(400)
    few[:40] = 1.0
    sparse_weights = TorchNetClassifier(random_state=0, max_epochs=20, batch_size=8).fit(X, truth, sample_weight=few)
    assert np.isfinite(sparse_weights.predict_proba(X)).all() and (sparse_weights.predict(X) == truth).mean() > 0.7
    with pytest.raises(ValueError, match="non-zero"):
        TorchNetClassifier().fit(X, truth, sample_weight=np.zeros(400))


def test_max_seconds_ends_training_within_the_first_epoch_with_a_model():
    X, y = _wave(500)
    capped = TorchNetRegressor(random_state=0, max_seconds=0.0, batch_size=50).fit(X, y)
    one_epoch = TorchNetRegressor(random_state=0, max_epochs=1, batch_size=50).fit(X, y)
    assert capped.n_epochs_ == 1 and capped.best_epoch_ == 1 and np.isfinite(capped.predict(X)).all()
    # its first batch only (a pass over millions of rows may outlast a trial), not the epoch's nine
    assert not np.allclose(capped.predict(X), one_epoch.predict(X))


@pytest.mark.parametrize("weight_decay", [0.0, 1e-3])
def test_adam_updates_weights_exactly_as_torch_optim_adam(weight_decay):  # noqa: ANN001
    """Our Adam (no torch.optim, whose optimizers import torch._dynamo) makes torch.optim.Adam's update to the bit."""
    import torch

    torch.manual_seed(0)
    ours_net = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    theirs_net = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    theirs_net.load_state_dict(ours_net.state_dict())
    initial = ours_net[0].weight.detach().clone()
    ours = Adam(torch, ours_net.parameters(), lr=1e-2, weight_decay=weight_decay)
    theirs = torch.optim.Adam(theirs_net.parameters(), lr=1e-2, weight_decay=weight_decay)
    x, t = torch.randn(64, 6), torch.randint(0, 3, (64,))
    for _ in range(30):
        for net, optimizer in ((ours_net, ours), (theirs_net, theirs)):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(net(x), t).backward()
            optimizer.step()
    assert all(torch.equal(a, b) for a, b in zip(ours_net.parameters(), theirs_net.parameters()))
    assert not torch.equal(ours_net[0].weight, initial)  # it did train


def test_a_trial_hands_the_network_its_features_in_float32_and_other_models_theirs_as_they_are():
    """The steps' float64 output is converted before the network's fit (which would copy it to float32 beside it);
    wrapped in the label encoder too, sparse or dense; a model without ``fit_dtype`` gets the array itself."""
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression

    from automl.pipeline.labels import EncodedLabelClassifier
    from automl.search.evaluate import in_fit_dtype

    X = np.random.default_rng(0).normal(size=(50, 3))
    for model in (TorchNetRegressor(), EncodedLabelClassifier(TorchNetClassifier())):
        dense = in_fit_dtype(X, model)
        assert dense.dtype == np.float32 and dense.flags.c_contiguous and np.array_equal(dense, X.astype(np.float32))
        assert in_fit_dtype(sparse.csr_matrix(X), model).dtype == np.float32
    assert in_fit_dtype(X, EncodedLabelClassifier(LogisticRegression())) is X


@pytest.mark.slow  # starts processes: seconds
def test_training_does_not_import_torch_dynamo():
    """A fit in a fresh interpreter leaves torch._dynamo (and sympy) unimported: 1.3 s and 71 MB per trial."""
    script = ("import sys, numpy as np; from automl.models.torch_net import TorchNetClassifier; "
              "X = np.random.default_rng(0).normal(size=(200, 4)); "
              "TorchNetClassifier(max_epochs=2, random_state=0).fit(X, (X[:, 0] > 0).astype(int)); "
              "print('torch._dynamo' in sys.modules, 'sympy' in sys.modules)")
    assert fresh_interpreter_words(script) == ["False", "False"]


def test_same_seed_same_network():
    X, y = _wave(400)
    first = TorchNetRegressor(random_state=3, max_epochs=15).fit(X, y).predict(X)
    again = TorchNetRegressor(random_state=3, max_epochs=15).fit(X, y).predict(X)
    assert np.array_equal(first, again)


@pytest.mark.parametrize(("rows", "requested", "expected"), [
    (500, "auto", 32), (5000, "auto", 64), (50_000, "auto", 128), (10_000_000, "auto", 512), (20, "auto", 16), (5, "auto", 5),
    (5000, 256, 256), (100, 256, 100)])
def test_batch_size_grows_with_the_rows_order_of_magnitude(rows, requested, expected):  # noqa: ANN001
    assert batch_size_for(rows, requested) == expected


def test_family_is_declared_searchable_and_left_out_without_its_library(monkeypatch):  # noqa: ANN001
    import automl.models.registry as registry

    family = all_families()["torch_mlp"]
    assert family.available() and "torch" in family.libraries()
    model = family.make("regression", {"hidden_units": 64, "layers": 2}, random_state=0, n_jobs=1)
    assert isinstance(model, TorchNetRegressor) and (model.hidden_units, model.layers) == (64, 2)
    missing = dataclasses.replace(family, requires="automl_no_such_module")
    assert not missing.available()
    assert 'pip install "automl[torch]"' in missing.missing_message()
    assert "automl_no_such_module" in missing.missing_message()
    known = registry.all_families()
    monkeypatch.setattr(registry, "all_families", lambda: {**known, "torch_mlp": missing})
    assert "torch_mlp" not in [f.name for f in get_families(None, "binary")]
    with pytest.raises(ValueError, match="was asked for"):
        get_families(["torch_mlp"], "binary")


@pytest.mark.slow
def test_automl_searches_the_family_and_the_model_survives_save_and_load(tmp_path):  # noqa: ANN001
    from automl import AutoML
    from automl.io.persist import load, save

    X, y = _wave(600)
    frame = pd.DataFrame(X, columns=list("abcd"))
    frame["group"] = np.where(X[:, 3] > 0, "p", "q")
    # no time budget: two trials run to their end whatever the machine's speed (on a slow, busy machine a 60 s budget
    # stopped the network's first trial after one fold, leaving nothing to save)
    model = AutoML(time_budget=None, families=["torch_mlp"], max_trials=2, cv=3, random_state=0).fit(frame, y)
    board = model.leaderboard_
    trials = board[board.family == "torch_mlp"]
    assert (trials.status == "ok").any(), board[["family", "status", "error"]]
    predictions = model.predict(frame.head(40))
    save(model, tmp_path / "model")
    loaded = load(tmp_path / "model")
    assert np.allclose(loaded.predict(frame.head(40)), predictions)
