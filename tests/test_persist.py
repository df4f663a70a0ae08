"""Model folders: skops round trip, version record, untrusted types refused."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from automl import AutoML, AutoMLRegressor
from automl.io.persist import load, save
from tests.conftest import family_cases


@pytest.fixture(scope="module")
def fitted(credit):
    X, y = credit
    model = AutoML(time_budget=60, max_trials=4, families=["linear", "lightgbm", "hist_gradient_boosting",
                                                           "random_forest"], search="defaults", random_state=0,
                   cv=3).fit(X, y)
    return model, X


@pytest.mark.slow
def test_round_trip_predicts_the_same(fitted, tmp_path):
    model, X = fitted
    save(model, tmp_path / "m")
    loaded = load(tmp_path / "m")
    assert np.array_equal(loaded.predict(X), model.predict(X))
    assert np.allclose(loaded.predict_proba(X), model.predict_proba(X))
    assert list(loaded.classes_) == list(model.classes_)
    assert len(loaded.leaderboard_) == len(model.leaderboard_)
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    assert meta["versions"]["scikit-learn"] and meta["task"] == "binary"


# mlp: scikit-learn 1.9 keeps the solver's state (an AdamOptimizer, not trusted by skops) on a fitted MLP, and a
# saved MLP model could not be loaded until the family dropped it
@pytest.mark.parametrize("family", family_cases(*[(f,) for f in ["lightgbm", "hist_gradient_boosting", "random_forest",
                                                                    "extra_trees", "knn", "catboost", "linear",
                                                                    "mlp"]]))
def test_every_family_saves_and_loads(regression_frame, family, tmp_path):
    X, y = regression_frame
    model = AutoMLRegressor(time_budget=30, max_trials=1, families=[family], random_state=0, cv=2).fit(X, y)
    save(model, tmp_path / family)
    assert np.allclose(load(tmp_path / family).predict(X), model.predict(X))


def test_tampered_file_with_untrusted_type_is_refused(credit_model_folder, tmp_path):
    import shutil

    folder = Path(shutil.copytree(credit_model_folder, tmp_path / "m"))
    sio.dump(Pipeline([("run", FunctionTransformer(os.system))]), folder / "pipeline.skops")
    with pytest.raises(ValueError, match="not trusted.*system"):
        load(folder)


@pytest.mark.parametrize("task", ["binary", "regression"])
def test_a_pipeline_with_target_encoding_holds_only_trusted_types(task):
    """encode="target" keeps the TargetEncoder's fold splitter in the pipeline: a model chosen with it must load."""
    import pandas as pd

    from automl.data.schema import infer_schema
    from automl.io.persist import trusted_types
    from automl.models.registry import all_families
    from automl.pipeline.build import TrialConfig, build_pipeline

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=200), "c": rng.choice(list("abcdef"), 200)})
    y = (frame["x"] > 0).astype(int) if task == "binary" else frame["x"] * 2
    schema, frame = infer_schema(frame)
    config = TrialConfig(family=all_families()["linear"], preprocess={"encode": "target"})
    pipe = build_pipeline(schema, config, task, random_state=0, n_jobs=1).fit(frame, y)
    untrusted = sio.get_untrusted_types(data=sio.dumps(pipe))
    assert set(untrusted) <= set(trusted_types()), sorted(set(untrusted) - set(trusted_types()))
