"""ONNX export: parity with the Python pipeline per exportable family and task, loud failures otherwise."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from automl.data.schema import infer_schema
from automl.io.onnx import NotExportable, OnnxPredictor, check_parity, sample_rows, to_onnx
from automl.models.registry import all_families, get_families
from automl.pipeline.build import TrialConfig, build_pipeline
from automl.search.ensemble import WeightedEnsembleClassifier
from tests.cli import run_cli
from tests.conftest import family_cases

EXPORTABLE = [f.name for f in get_families("exportable", "binary")]


def _frame(task: str, n: int = 240, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """Numbers with missing values, a categorical with missing and rare values, a boolean."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue", "violet"], size=n, p=[0.4, 0.35, 0.23, 0.02]).astype(object)
    colour[rng.random(n) < 0.1] = None
    frame = pd.DataFrame({"a": np.where(rng.random(n) < 0.1, np.nan, a), "b": rng.normal(size=n) * 100,
                          "colour": colour, "flag": rng.random(n) < 0.5})
    signal = a + (colour == "red") + rng.normal(scale=0.3, size=n)
    if task == "regression":
        return frame, pd.Series(signal * 10 + 50, name="y")
    cut = [0.5] if task == "binary" else [-0.3, 0.6]
    names = np.array(["no", "yes"] if task == "binary" else ["low", "mid", "high"])
    return frame, pd.Series(names[np.digitize(signal, cut)], name="y")


def _fitted(family: str, task: str, encode: str | None = None, merge_rare: bool = False,
            select: str | None = None):
    frame, y = _frame(task)
    schema, frame = infer_schema(frame)
    if merge_rare:  # as the cleaning records it: the cast step makes "red" and "violet" "__rare__"
        schema.kept_categories = {"colour": ["green", "blue"]}
    preprocess = {"encode": encode} if encode else {}
    if select:
        preprocess.update(select=select, select_fraction=0.5)
    config = TrialConfig(all_families()[family], preprocess=preprocess)
    with threadpool_limits(1):  # OpenMP threads on a busy 2-core machine cost more than they gain here
        return build_pipeline(schema, config, task, 0, 1).fit(frame, y), frame


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
@pytest.mark.parametrize("family", family_cases(*[(f,) for f in EXPORTABLE]))
def test_exportable_family_matches_pipeline(family, task):
    pipeline, frame = _fitted(family, task)
    model = to_onnx(pipeline)
    rows = sample_rows(frame, pipeline.named_steps["cast"].roles)
    parity = check_parity(pipeline, model, rows)
    assert parity.ok() and parity.rows == len(rows) > len(frame.head(200))
    predicted = OnnxPredictor(model.SerializeToString()).predict(rows)
    if task == "regression":
        assert np.allclose(predicted, pipeline.predict(rows), rtol=1e-5, atol=1e-4)
    else:
        assert list(predicted) == list(pipeline.predict(rows))


@pytest.mark.parametrize("family", ["lightgbm", "random_forest"])
def test_one_hot_path_with_unseen_and_infrequent_categories(family):
    pipeline, frame = _fitted(family, "binary", encode="onehot")
    rows = frame.head(20).copy()
    rows.loc[:5, "colour"] = "never seen"
    rows.loc[6:9, "colour"] = "violet"  # rarer than the one-hot minimum frequency: the infrequent column
    assert check_parity(pipeline, to_onnx(pipeline), rows).ok()


@pytest.mark.parametrize("encode", ["ordinal", "onehot"])
def test_rare_categories_merged_by_the_cast_step_are_merged_in_the_graph(encode):
    pipeline, frame = _fitted("lightgbm", "binary", encode=encode, merge_rare=True)
    rows = frame.head(40).copy()
    rows.loc[:9, "colour"] = "violet"
    rows.loc[10:19, "colour"] = "red"  # predictive, and merged: the graph must merge it too
    rows.loc[20:24, "colour"] = "never seen"
    rows.loc[25:27, "a"] = np.inf  # the cast step makes infinity missing
    assert check_parity(pipeline, to_onnx(pipeline), rows).ok()


def test_column_names_that_are_not_identifiers():
    frame, y = _frame("binary")
    frame = frame.rename(columns={"a": "v(g)", "colour": "colour name", "b": "b-1"})
    schema, frame = infer_schema(frame)
    schema.kept_categories = {"colour name": ["green", "blue"]}
    pipeline = build_pipeline(schema, TrialConfig(all_families()["linear"]), "binary", 0, 1).fit(frame, y)
    proto = to_onnx(pipeline)
    assert "v_g_" in [i.name for i in proto.graph.input]  # skl2onnx's input names; the runner maps them
    rows = sample_rows(frame, pipeline.named_steps["cast"].roles)
    assert check_parity(pipeline, proto, rows).ok()


@pytest.mark.parametrize("select", ["f_test", "model"])
def test_feature_selection_steps_keep_the_same_columns(select):
    pipeline, frame = _fitted("linear", "multiclass", encode="onehot", select=select)
    assert not pipeline.named_steps["select"].support_.all()  # something was dropped
    rows = sample_rows(frame, pipeline.named_steps["cast"].roles)
    assert check_parity(pipeline, to_onnx(pipeline), rows).ok()


def test_ensemble_becomes_one_graph():
    members = [_fitted(name, "multiclass")[0] for name in ("linear", "lightgbm")]
    _, frame = _fitted("linear", "multiclass")
    ensemble = WeightedEnsembleClassifier.from_fitted(members, [0.3, 0.7], members[0].classes_)
    from sklearn.pipeline import Pipeline

    pipeline = Pipeline([("ensemble", ensemble)])
    proto = to_onnx(pipeline)
    assert check_parity(pipeline, proto, frame).ok()
    assert sorted(o.name for o in proto.graph.output) == ["label", "probabilities"]


def test_ensemble_of_members_at_different_opsets():
    # skl2onnx declares the lowest opset each graph needs: 16 for the linear pipeline, 18 for kNN (whose
    # ReduceSumSquare takes its axes as an input from 18); the combined graph must declare 18
    members = [_fitted(name, "binary")[0] for name in ("linear", "knn")]
    _, frame = _fitted("linear", "binary")
    from sklearn.pipeline import Pipeline

    pipeline = Pipeline([("ensemble", WeightedEnsembleClassifier.from_fitted(members, [0.5, 0.5], members[0].classes_))])
    proto = to_onnx(pipeline)
    assert {o.domain: o.version for o in proto.opset_import}[""] == 18
    assert check_parity(pipeline, proto, frame).ok()


def test_a_wrong_graph_is_refused():
    pipeline, frame = _fitted("linear", "binary")
    proto = to_onnx(pipeline)
    from onnx import numpy_helper

    weight = next(i for i in proto.graph.initializer if i.name == "w0")
    # the graph now answers 0.8 x the probabilities
    weight.CopyFrom(numpy_helper.from_array(np.array([0.8], dtype=np.float32), "w0"))
    with pytest.raises(NotExportable, match="answers differently"):
        check_parity(pipeline, proto, frame)


def test_datetime_columns_say_they_cannot_convert(mixed_frame):
    frame, y = mixed_frame
    schema, frame = infer_schema(frame)
    pipeline = build_pipeline(schema, TrialConfig(all_families()["lightgbm"]), "binary", 0, 1).fit(frame, y)
    with pytest.raises(NotExportable, match="datetime"):
        to_onnx(pipeline)


def test_exportable_families_are_the_declared_ones():
    assert "knn" not in EXPORTABLE and {"linear", "lightgbm", "random_forest"} <= set(EXPORTABLE)


@pytest.mark.slow
def test_cli_export_writes_a_checked_file(credit_model_folder, tmp_path, credit):
    out = tmp_path / "m.onnx"
    done = run_cli("export", str(credit_model_folder), "--format", "onnx", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "matches the pipeline" in done.stdout
    X, _ = credit
    from automl.io.persist import load

    assert list(OnnxPredictor(str(out)).predict(X)) == list(load(credit_model_folder).predict(X))


@pytest.mark.slow
@pytest.mark.parametrize("folder", ["relational_model_folder", "series_model_folder"])
def test_models_with_synthesised_features_are_refused_with_the_reason(folder, request, tmp_path):
    out = tmp_path / "m.onnx"  # the folders keep no sample: the reason comes before any parity check
    done = run_cli("export", str(request.getfixturevalue(folder)), "--out", str(out))
    assert done.returncode == 3 and not out.exists()
    assert "features synthesised from related tables or time series (featuretools / tsfresh) have no ONNX " \
           "converter" in done.stderr


def test_search_restricted_to_exportable_families_exports(regression_frame):
    from automl import AutoMLRegressor

    X, y = regression_frame
    model = AutoMLRegressor(time_budget=30, families="exportable", max_trials=3, search="defaults", cv=2,
                            random_state=0).fit(X, y)
    assert set(model.leaderboard_["family"]) <= set(EXPORTABLE) | {"ensemble"}
    assert check_parity(model.best_pipeline_, to_onnx(model.best_pipeline_), X).ok()


def test_labels_may_differ_only_on_ties_within_the_tolerance():
    from automl.io.onnx import _label_mismatches

    expected = np.array([[0.5, 0.5], [0.3, 0.7], [0.6, 0.4]])
    onnx_proba = np.array([[0.4999999, 0.5000001], [0.3, 0.7], [0.4, 0.6]], dtype=np.float32)
    wrong, ties = _label_mismatches(expected, onnx_proba, ["no", "yes", "no"], ["no", "yes"], 1e-5)
    assert (wrong, ties) == (1, 1)  # row 0 is a tie, row 2 a real difference
