"""Stacking: second-level trials on the columns plus the bagged trials' out-of-fold predictions."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from skops.io import dumps, get_untrusted_types

from automl import AutoML, load, save
from automl.io.persist import trusted_types
from automl.search.stack import StackedClassifier, StackedRegressor, stacked_pipeline
from automl.search.stack_columns import prediction_columns, stack_column_names, with_stack_columns

FAST = dict(search="defaults", portfolio=None, random_state=0)


def _frame(rows: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"a": rng.normal(size=rows), "b": rng.normal(size=rows), "c": rng.normal(size=rows)})


def _model() -> Pipeline:
    return Pipeline([("model", LogisticRegression())])


@pytest.mark.parametrize("classes, width", [(None, 1), (np.array(["n", "y"]), 1), (np.array([0, 1, 2]), 3)])
def test_a_trial_becomes_one_column_per_value_it_predicts(classes, width):
    names = stack_column_names(7, classes)
    assert len(names) == width and len(set(names)) == width and all("7" in n for n in names)
    pred = np.full((4, len(classes)), 1 / len(classes)) if classes is not None else np.arange(4.0)
    assert prediction_columns(pred, classes).shape == (4, width)


def test_a_user_column_named_like_a_stack_column_is_refused_with_its_name():
    X = _frame(5).rename(columns={"a": stack_column_names(3, None)[0]})
    with pytest.raises(ValueError, match="__stack_3"):
        with_stack_columns(X, [(stack_column_names(3, None), np.zeros((5, 1)))])


def test_stack_columns_are_appended_and_the_input_is_left_alone():
    X = _frame(5)
    out = with_stack_columns(X, [(["s1", "s2"], np.ones((5, 2)))])
    assert list(out.columns) == ["a", "b", "c", "s1", "s2"] and list(X.columns) == ["a", "b", "c"]
    assert (out.index == X.index).all()


def test_a_stacked_classifier_fits_from_scratch_and_its_top_reads_the_base_predictions():
    X = _frame()
    y = np.where(X["a"] + 0.5 * X["b"] > 0, "y", "n")
    classes = np.array(["n", "y"])
    names = [stack_column_names(0, classes), stack_column_names(1, classes)]
    model = StackedClassifier([_model(), Pipeline([("model", LogisticRegression(C=0.01))])], names, _model(),
                              classes, cv=3)
    fitted = clone(model).fit(X, y)
    proba = fitted.predict_proba(X)
    assert proba.shape == (len(X), 2) and np.allclose(proba.sum(axis=1), 1)
    assert fitted.top_.named_steps["model"].n_features_in_ == 3 + 2  # the columns and one per base
    assert set(fitted.predict(X)) <= set(classes)
    assert (fitted.predict(X) == y).mean() > 0.8
    assert model.get_params()["cv"] == 3 and not hasattr(model, "top_")  # clone and fit leave the original as given


def test_a_stacked_regressor_from_fitted_parts_predicts_what_its_top_predicts_on_the_stacked_rows():
    X = _frame()
    y = 2 * X["a"].to_numpy() - X["c"].to_numpy()
    base = Pipeline([("model", LinearRegression())]).fit(X[["a", "b", "c"]], y)
    names = [stack_column_names(4, None)]
    stacked = with_stack_columns(X, [(names[0], base.predict(X).reshape(-1, 1))])
    top = Pipeline([("model", LinearRegression())]).fit(stacked, y)
    pipe = stacked_pipeline([base], names, top, None, folds=5)
    np.testing.assert_allclose(pipe.predict(X), top.predict(stacked))
    assert isinstance(pipe.named_steps["stack"], StackedRegressor)


def test_a_stacked_pipeline_holds_only_trusted_types():
    X = _frame()
    y = (X["a"] > 0).astype(int).to_numpy()
    classes = np.array([0, 1])
    base = _model().fit(X, y)
    names = [stack_column_names(0, classes)]
    top = _model().fit(with_stack_columns(X, [(names[0], base.predict_proba(X)[:, 1:])]), y)
    pipe = stacked_pipeline([base], names, top, classes, folds=5)
    assert set(get_untrusted_types(data=dumps(pipe))) <= set(trusted_types())


@pytest.fixture(scope="module")
def stacked_fit(credit):
    X, y = credit
    model = AutoML(time_budget=60, families=["linear", "lightgbm", "knn"], cv=5, stacking=True, **FAST).fit(X, y)
    return model, X, y


@pytest.mark.slow
def test_the_second_level_is_scored_on_nested_features_not_on_leaking_ones(stacked_fit):
    """A linear second level over the out-of-fold predictions of the same folds scored 0.84 AUC on credit-g where
    the best first-level trial, its twin, scored 0.79 (the validation labels shaped its training features); on nested
    features it scores 0.796."""
    model, X, y = stacked_fit
    board = model.leaderboard_
    first_level = board.loc[~board["family"].isin(["stack", "ensemble"]), "score"].max()
    stacked = board.loc[board["family"] == "stack", "score"]
    assert len(stacked) and (stacked < first_level + 0.02).all()


@pytest.mark.slow
def test_second_level_trials_are_leaderboard_rows_over_first_level_trials(stacked_fit):
    model, X, y = stacked_fit
    board = model.leaderboard_
    stacked = board[board["family"] == "stack"]
    assert len(stacked) >= 1 and (stacked["status"] == "ok").all() and (stacked["n_folds"] == 5).all()
    first_level = set(board.loc[~board["family"].isin(["stack", "ensemble"]), "trial"])
    for params in stacked["params"]:
        read = json.loads(params)
        assert len(read["bases"]) >= 2 and set(read["bases"]) <= first_level
        assert read["top"] in {"linear", "lightgbm", "knn"} and read["first_level_twin"] in first_level
    assert model.predict_proba(X.head(7)).shape == (7, 2)


def _holds_a_stacked_model(model: AutoML) -> bool:
    stacked = set(model.leaderboard_.loc[model.leaderboard_["family"] == "stack", "trial"])
    if model.best_family_ == "stack":
        return True
    return any(int(n) in stacked for n in (model.best_params_ or {}).get("weights", {}))


@pytest.mark.slow
def test_a_fit_with_a_stacked_final_model_saves_loads_and_refuses_onnx(stacked_fit, tmp_path):
    from automl.io.onnx import to_onnx
    from automl.io.onnx_converters import NotExportable

    model, X, y = stacked_fit
    if not _holds_a_stacked_model(model):
        pytest.skip(f"the final model holds no stacked trial here ({model.best_family_} {model.best_params_})")
    rows = X.head(40)
    loaded = load(save(model, tmp_path / "stacked"))
    np.testing.assert_allclose(loaded.predict_proba(rows), model.predict_proba(rows))
    with pytest.raises(NotExportable, match="stacked"):
        to_onnx(model.best_pipeline_)


@pytest.mark.slow
@pytest.mark.parametrize("options", [{}, {"stacking": "auto"}, {"stacking": True, "ensemble": False}])
def test_no_stage_runs_by_default_at_auto_with_5_folds_nor_without_ensembles(credit, options):
    X, y = credit  # 1,000 rows, 60 s: 5 folds, where stacking="auto" stays off; without ensembles nothing reads it
    model = AutoML(time_budget=60, families=["linear", "lightgbm"], max_trials=2, **{**FAST, **options}).fit(X, y)
    assert "stack" not in set(model.leaderboard_["family"])
    assert model.best_family_ != "stack"
