"""Numbers scaled for networks, linear models and neighbours: ``scale="quantile"`` sends skewed columns through their
quantiles to a normal (automl/pipeline/transformers.py), for a family that declares it; an exportable search leaves
it out."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from automl.data.schema import infer_schema
from automl.io import persist
from automl.io.onnx import NotExportable, to_onnx
from automl.models.registry import all_families, exportable_version
from automl.pipeline.build import TrialConfig, build_pipeline
from automl.pipeline.transformers import SkewAwareScaler


def _skew(values: np.ndarray) -> float:
    centred = values - values.mean()
    return float(np.mean(centred ** 3) / np.mean(centred ** 2) ** 1.5)


@parametrize_with_checks([SkewAwareScaler(), SkewAwareScaler(skew_threshold=0.0)])
def test_sklearn_contract(estimator, check):  # noqa: ANN001
    check(estimator)


def test_skewed_columns_go_through_quantiles_and_the_rest_are_standardised():
    rng = np.random.default_rng(0)
    n = 2000
    X = np.column_stack([rng.lognormal(sigma=1.5, size=n),        # long right tail
                         rng.normal(3, 2, size=n),                  # symmetric
                         (rng.random(n) < 0.05).astype(float),      # rare flag: skewed, but binary
                         np.full(n, 7.0),                           # constant
                         -rng.exponential(size=n)])                 # long left tail
    scaler = SkewAwareScaler(random_state=0).fit(X)
    np.testing.assert_array_equal(scaler.skewed_, [True, False, False, False, True])
    Z = scaler.transform(X)
    assert _skew(X[:, 0]) > 3 and abs(_skew(Z[:, 0])) < 0.1 and abs(_skew(Z[:, 4])) < 0.1
    np.testing.assert_allclose(Z[:, [1, 2, 3]], StandardScaler().fit_transform(X[:, [1, 2, 3]]))
    assert np.argsort(Z[:, 0], kind="stable").tolist() == np.argsort(X[:, 0], kind="stable").tolist()


def test_threshold_zero_sends_every_column_of_more_than_two_values():
    rng = np.random.default_rng(1)
    X = np.column_stack([rng.normal(size=500), rng.integers(0, 2, 500).astype(float), np.zeros(500)])
    np.testing.assert_array_equal(SkewAwareScaler(skew_threshold=0.0).fit(X).skewed_, [True, False, False])


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 40), st.integers(1, 5)),
                  elements=st.one_of(st.floats(-1e6, 1e6), st.just(np.nan))))
def test_any_block_of_numbers_keeps_its_shape_and_its_missing_cells(X):
    """Missing cells stay missing (the imputer before it fills them in a pipeline), every other cell is finite, and
    the same rows transform to the same values."""
    scaler = SkewAwareScaler(random_state=0).fit(X)
    Z = scaler.transform(X)
    assert Z.shape == X.shape
    np.testing.assert_array_equal(np.isnan(Z), np.isnan(X))
    assert np.isfinite(Z[~np.isnan(X)]).all()
    np.testing.assert_array_equal(scaler.transform(X[::-1]), Z[::-1])
    np.testing.assert_array_equal(scaler.transform_array(X), Z)


def _frame(n: int = 400) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"amount": rng.lognormal(sigma=2, size=n), "x": rng.normal(size=n),
                          "colour": rng.choice(["red", "blue"], size=n)})
    return frame, np.log(frame["amount"].to_numpy()) + frame["x"].to_numpy()


@pytest.mark.parametrize("family", ["linear", "mlp"])
def test_a_trial_with_quantile_scaling_maps_the_skewed_number_and_predicts(family):
    frame, y = _frame()
    schema, frame = infer_schema(frame)
    config = TrialConfig(family=all_families()[family], preprocess={"scale": "quantile"})
    pipe = build_pipeline(schema, config, "regression", random_state=0, n_jobs=1).fit(frame, y)
    numeric = pipe.named_steps["preprocess"].named_transformers_["numeric"]
    scaler = numeric.steps[-1][1]
    assert isinstance(scaler, SkewAwareScaler) and scaler.skewed_.tolist() == [True, False]
    assert pipe.predict(frame).shape == (len(frame),)


def test_the_family_default_stays_standard_scaling_and_an_unknown_scaling_is_refused():
    frame, y = _frame()
    schema, frame = infer_schema(frame)
    plain = build_pipeline(schema, TrialConfig(family=all_families()["linear"]), "regression", 0, 1).fit(frame, y)
    assert type(plain.named_steps["preprocess"].named_transformers_["numeric"].steps[-1][1]) is StandardScaler
    odd = TrialConfig(family=all_families()["linear"], preprocess={"scale": "robust"})
    with pytest.raises(ValueError, match="scale='robust'"):
        build_pipeline(schema, odd, "regression", 0, 1)


def test_a_family_that_searches_the_scaling_leaves_quantile_out_of_an_exportable_search():
    searching = dataclasses.replace(all_families()["mlp"], preprocess={
        **all_families()["mlp"].preprocess, "scale": {"choice": ["quantile", "standard"]}}, needs={
        **all_families()["mlp"].needs, "scale": "quantile"})
    exportable = exportable_version(searching)
    assert exportable.preprocess["scale"]["choice"] == ["standard"] and exportable.needs["scale"] == "standard"


def test_a_pipeline_with_quantile_scaling_saves_loads_and_refuses_onnx_with_the_reason(tmp_path):
    frame, y = _frame()
    schema, frame = infer_schema(frame)
    config = TrialConfig(family=all_families()["linear"], preprocess={"scale": "quantile"})
    pipe = build_pipeline(schema, config, "regression", random_state=0, n_jobs=1).fit(frame, y)
    import skops.io as sio

    sio.dump(pipe, tmp_path / "pipeline.skops")  # as persist.save writes a model's pipeline; loaded as persist.load
    loaded = persist._load_pipeline(tmp_path / "pipeline.skops", set(persist.trusted_types()))
    np.testing.assert_array_equal(loaded.predict(frame), pipe.predict(frame))
    with pytest.raises(NotExportable, match="scale='quantile'"):
        to_onnx(pipe)
