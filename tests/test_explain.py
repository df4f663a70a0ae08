"""Explanations in the user's columns: the models' own importances carried back through the preprocessing,
permutation importances for any model, and TreeSHAP values that add up to the model's raw output."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from automl import AutoML
from automl.data.schema import infer_schema
from automl.explain import model_input_sources
from automl.models.registry import all_families
from automl.pipeline.build import TrialConfig, build_pipeline

DEFAULTS = dict(time_budget=60, search="defaults", portfolio=None, cv=2, random_state=0)


def _signal_and_noise(n: int = 600, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """``signal`` and ``shop`` decide the label; ``noise`` and ``colour`` do not."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "signal": rng.normal(size=n),
        "noise": rng.normal(size=n),
        "shop": rng.choice(["a", "b", "c", "d"], size=n).astype(object),
        "colour": rng.choice(["red", "green", None], size=n).astype(object),
        "when": pd.date_range("2021-01-01", periods=n, freq="h"),
    })
    score = 2 * frame["signal"] + (frame["shop"] == "a") * 1.5 + rng.normal(scale=0.3, size=n)
    return frame, pd.Series(np.where(score > 0.5, "yes", "no"), name="label")


@pytest.mark.parametrize("options", [{}, {"encode": "onehot", "synthesis": "pairs"},
                                     {"encode": "onehot", "synthesis": "group_stats"},
                                     {"encode": "onehot", "synthesis": "primitives"},
                                     {"encode": "target", "synthesis": "frequency", "select": "f_test",
                                      "select_fraction": 0.5}])
@pytest.mark.parametrize("family", ["linear", "lightgbm", "random_forest"])
def test_every_model_input_is_traced_to_the_columns_it_reads(family, options):
    frame, y = _signal_and_noise(300)
    frame.loc[::7, "noise"] = np.nan  # a missing-value indicator for the imputing families
    schema, _ = infer_schema(frame)
    config = TrialConfig(family=all_families()[family], preprocess=options)
    pipe = build_pipeline(schema, config, "binary", random_state=0, n_jobs=1).fit(frame, y)
    sources = model_input_sources(pipe)
    width = pipe[:-1].transform(frame.head(3)).shape[1]
    assert len(sources) == width
    assert all(owners and set(owners) <= set(frame.columns) for owners in sources)
    if options.get("synthesis") == "pairs":
        assert any(len(owners) == 2 for owners in sources)  # a ratio reads two numbers


@pytest.mark.parametrize("families", [["lightgbm"], ["linear"], ["random_forest", "lightgbm"]])
def test_feature_importances_follow_the_signal_and_sum_to_one(families):
    X, y = _signal_and_noise()
    model = AutoML(families=families, max_trials=len(families), ensemble=len(families) > 1, **DEFAULTS).fit(X, y)
    importances = pd.Series(model.feature_importances_, index=model.feature_names_in_)
    assert importances.sum() == pytest.approx(1.0)
    assert (importances >= 0).all()
    assert "signal" in importances.nlargest(2).index and importances["signal"] > 0.3
    assert importances["signal"] > 5 * importances["noise"]


def test_a_model_without_importances_says_to_use_permutation_importance():
    X, y = _signal_and_noise()
    model = AutoML(families=["knn"], max_trials=1, **DEFAULTS).fit(X, y)
    assert not hasattr(model, "feature_importances_")
    with pytest.raises(AttributeError, match="permutation_importance"):
        model.feature_importances_  # noqa: B018
    table = model.permutation_importance(*_signal_and_noise(seed=1), random_state=0, n_repeats=3)
    assert list(table.columns) == ["importance", "std"]
    assert table.index[0] == "signal" and table.loc["signal", "importance"] > 0.1
    assert abs(table.loc["noise", "importance"]) < table.loc["signal", "importance"] / 5


def test_permutation_importance_of_a_loss_is_a_drop_and_respects_max_rows(regression_frame):
    X, y = regression_frame
    model = AutoML(families=["linear"], max_trials=1, **DEFAULTS).fit(X, y)
    table = model.permutation_importance(X, y, random_state=0, max_rows=120)
    assert table.index[0] == "a" and table.loc["a", "importance"] > 0  # RMSE rises: a positive importance
    again = model.permutation_importance(X, y, random_state=0, max_rows=120)
    pd.testing.assert_frame_equal(table, again)


def test_shap_values_add_up_to_the_raw_output_of_the_model():
    pytest.importorskip("shap")
    X, y = _signal_and_noise()
    model = AutoML(families=["lightgbm"], max_trials=1, ensemble=False, **DEFAULTS).fit(X, y)
    rows = X.head(40)
    values = model.shap_values(rows)
    assert list(values.columns) == list(model.feature_names_in_) and len(values) == 40
    positive = model.predict_proba(rows)[:, 1]
    raw = values.sum(axis=1) + values.attrs["base_value"]
    np.testing.assert_allclose(raw, np.log(positive / (1 - positive)), atol=1e-5)
    assert values["signal"].abs().mean() > values["noise"].abs().mean()


@pytest.mark.slow
def test_shap_values_refuse_an_ensemble_and_a_model_that_is_not_a_tree():
    pytest.importorskip("shap")
    X, y = _signal_and_noise()
    linear = AutoML(families=["linear"], max_trials=1, **DEFAULTS).fit(X, y)
    with pytest.raises(ValueError, match="tree-based"):
        linear.shap_values(X.head(5))
    both = AutoML(families=["linear", "lightgbm"], max_trials=2, **DEFAULTS).fit(X, y)
    if both.best_family_ == "ensemble":
        with pytest.raises(ValueError, match="ensemble of"):
            both.shap_values(X.head(5))
