"""Opt-in calibration and decision threshold, fitted on out-of-fold probabilities only."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, log_loss

from automl import AutoML, load, save
from automl.metrics import get_metric
from automl.pipeline.postprocess import PostProcessedClassifier, best_threshold

ONE = dict(time_budget=60, max_trials=1, families=["linear"], search="defaults", portfolio=None, cv=3,
           random_state=0, ensemble=False)


class _Overconfident(ClassifierMixin, BaseEstimator):
    """A fitted 'model' whose probabilities are pushed towards 0 and 1 (what calibration must undo)."""

    classes_ = np.array(["no", "yes"])

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        p = 1 / (1 + np.exp(-4 * X[:, 0]))  # true probability: 1 / (1 + exp(-X))
        return np.column_stack([1 - p, p])


def _draw(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 1))
    y = np.where(rng.random(n) < 1 / (1 + np.exp(-X[:, 0])), "yes", "no")
    return X, y


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_calibration_on_out_of_fold_probabilities_repairs_overconfidence(method):
    model = _Overconfident()
    X, y = _draw(4000, 0)
    calibrated = PostProcessedClassifier.from_out_of_fold(model, model.predict_proba(X), y, model.classes_,
                                                          method, None)
    new_X, new_y = _draw(4000, 1)
    before = log_loss(new_y, model.predict_proba(new_X), labels=model.classes_)
    after = log_loss(new_y, calibrated.predict_proba(new_X), labels=model.classes_)
    assert after < before - 0.05
    assert np.allclose(calibrated.predict_proba(new_X).sum(axis=1), 1)


def test_the_threshold_maximises_the_metric_on_the_probabilities_it_was_tuned_on():
    rng = np.random.default_rng(0)
    positive = rng.beta(1, 6, size=2000)  # a rare class: most probabilities are low
    y = np.where(rng.random(2000) < positive, "yes", "no")
    classes = np.array(["no", "yes"])
    metric = get_metric("balanced_accuracy", "binary")
    t = best_threshold(positive, y, classes, metric)
    tuned = balanced_accuracy_score(y, np.where(positive >= t, "yes", "no"))
    assert t < 0.5 and tuned > balanced_accuracy_score(y, np.where(positive >= 0.5, "yes", "no")) + 0.05
    for other in np.linspace(0.05, 0.95, 19):  # no grid point does better
        assert tuned >= balanced_accuracy_score(y, np.where(positive >= other, "yes", "no")) - 1e-9
    with pytest.raises(ValueError, match="metric of labels"):
        best_threshold(positive, y, classes, get_metric("roc_auc", "binary"))


def test_fit_refits_and_calibrates_with_its_own_cross_validation():
    X, y = _draw(600, 2)
    wrapper = PostProcessedClassifier(LogisticRegression(), "sigmoid", "balanced_accuracy").fit(X, y)
    again = clone(wrapper).fit(X, y)
    assert wrapper.threshold_ == pytest.approx(again.threshold_)
    assert set(wrapper.predict(X)) <= {"no", "yes"} and wrapper.predict_proba(X).shape == (600, 2)


def _imbalanced(n: int = 1500, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    score = frame["a"] + 0.5 * frame["b"] + rng.normal(scale=1.0, size=n)
    return frame, pd.Series(np.where(score > 2.0, "rare", "common"), name="y")


@pytest.mark.slow
def test_automl_threshold_and_calibration_are_used_by_predict_and_survive_saving(tmp_path):
    X, y = _imbalanced()
    plain = AutoML(**ONE).fit(X, y)
    tuned = AutoML(calibration="sigmoid", threshold="balanced_accuracy", **ONE).fit(X, y)
    assert plain.postprocess_ is None
    info = tuned.postprocess_
    assert info["calibration"] == "sigmoid" and info["threshold_metric"] == "balanced_accuracy"
    assert 0 < info["threshold"] < 0.5 and info["rows"] == len(X)
    new_X, new_y = _imbalanced(seed=1)
    positive = list(tuned.classes_).index("rare")
    proba = tuned.predict_proba(new_X)[:, positive]
    expected = np.where(proba >= info["threshold"], "rare", "common")
    assert (tuned.predict(new_X) == expected).all()
    assert (balanced_accuracy_score(new_y, tuned.predict(new_X))
            > balanced_accuracy_score(new_y, plain.predict(new_X)) + 0.03)
    loaded = load(save(tuned, tmp_path / "m"))
    assert loaded.postprocess_ == info
    assert (loaded.predict(new_X) == tuned.predict(new_X)).all()
    assert np.allclose(loaded.predict_proba(new_X), tuned.predict_proba(new_X))


def test_postprocessing_options_that_do_not_fit_the_task_are_refused(regression_frame, credit):
    Xr, yr = regression_frame
    with pytest.raises(ValueError, match="apply to classification"):
        AutoML(calibration="sigmoid", **ONE).fit(Xr, yr)
    X, y = credit
    with pytest.raises(ValueError, match="metric of labels"):
        AutoML(threshold="roc_auc", **ONE).fit(X, y)
    three = pd.Series(np.array(["a", "b", "c"])[np.arange(len(y)) % 3])
    with pytest.raises(ValueError, match="binary task"):
        AutoML(threshold="accuracy", **ONE).fit(X, three)


def test_a_postprocessed_model_is_not_exported_to_onnx_and_says_why():
    pytest.importorskip("skl2onnx")
    from automl.io.onnx import NotExportable, to_onnx

    X, y = _imbalanced()
    model = AutoML(threshold="balanced_accuracy", **ONE).fit(X, y)
    with pytest.raises(NotExportable, match="threshold"):
        to_onnx(model.best_pipeline_)
