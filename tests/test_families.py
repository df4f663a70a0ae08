"""Conformance suite every declared model family runs: a new family in configs/families.yaml is checked
by the same tests as the others."""
from __future__ import annotations

import numpy as np
import optuna
import pytest
from sklearn.metrics import roc_auc_score

from automl.data.schema import infer_schema
from automl.models.registry import all_families
from automl.pipeline.build import TrialConfig, build_pipeline
from automl.search.space import in_domain, library_defaults, suggest_config
from tests.conftest import family_cases

# Preprocessing options every family declares alike (feature selection): one value per family here.
SHARED_OPTIONS = ("select", "select_fraction")
ENCODINGS = ("onehot", "ordinal", "target", "native", "mixed", "onehot_target")
CASES = [(name, task) for name, family in all_families().items()
         for task in ("binary", "multiclass", "regression") if family.supports(task)]


def _target(frame, task):  # noqa: ANN001
    x = frame["x1"].fillna(0).to_numpy()
    if task == "regression":
        return 2 * x + np.random.default_rng(0).normal(scale=0.1, size=len(x))
    if task == "binary":
        return np.where(x > 0, "yes", "no")
    return np.array(["a", "b", "c"])[np.digitize(x, [-0.5, 0.5])]


@pytest.mark.parametrize("name, task", family_cases(*CASES))
def test_family_defaults_fit_and_predict(mixed_frame, name, task):
    frame, _ = mixed_frame
    y = _target(frame, task)
    family = all_families()[name]
    schema, cast = infer_schema(frame)
    pipe = build_pipeline(schema, TrialConfig(family=family), task, random_state=0, n_jobs=1)
    weights = np.linspace(0.5, 2.0, len(y)) if family.sample_weight else None
    pipe.fit(frame, y, **({} if weights is None else {"model__sample_weight": weights}))
    predictions = pipe.predict(frame.head(7))
    assert predictions.shape == (7,)
    if task != "regression":
        proba = pipe.predict_proba(frame.head(7))
        assert proba.shape == (7, len(np.unique(y))) and np.allclose(proba.sum(axis=1), 1)
        assert (pipe.predict(frame) == y).mean() > 0.6  # it learns the signal
    else:
        assert np.corrcoef(pipe.predict(frame), y)[0, 1] > 0.6


@pytest.mark.parametrize("name, task", family_cases(*CASES))
def test_family_space_samples_valid_configs(mixed_frame, name, task):
    frame, y = mixed_frame
    family = all_families()[name]
    defaults = library_defaults(family, task)
    # the library's own defaults lie in the declared space, each under its '<family>.<param>' name
    assert all(name.startswith(f"{family.name}.") for name in defaults)
    assert all(in_domain(value, family.space_for(task)[name.split(".", 1)[1]]) for name, value in defaults.items())
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    schema, _ = infer_schema(frame)
    target = _target(frame, task)
    for _ in range(3):
        trial = study.ask()
        config = suggest_config(trial, [family], task, "search")
        assert config.family.name == name and set(config.preprocess) <= set(family.preprocess)
        assert ("select_fraction" in config.preprocess) == (config.preprocess.get("select", "none") != "none")
        build_pipeline(schema, config, task, random_state=0, n_jobs=1).fit(frame, target)
        study.tell(trial, 0.0)


def test_declarations_are_complete():
    for family in all_families().values():
        assert family.cost > 0 and family.needs["encode"] in ENCODINGS
        for param, decl in family.space.items():
            assert sum(k in decl for k in ("int", "float", "choice")) == 1, (family.name, param)


@pytest.mark.parametrize("name", family_cases(*[(n,) for n in sorted(all_families())]))
def test_every_preprocessing_choice_builds(mixed_frame, name):
    frame, y = mixed_frame
    family = all_families()[name]
    schema, _ = infer_schema(frame)
    for option, decl in family.preprocess.items():
        condition = {other: values[0] for other, values in (decl.get("when") or {}).items()}
        values = decl.get("choice", decl.get("float", []))
        if option in SHARED_OPTIONS:  # the same step for every family, each value tested in test_select.py
            values = values[-1:]
        for value in values:
            config = TrialConfig(family=family, preprocess={**condition, option: value})
            pipe = build_pipeline(schema, config, "binary", random_state=0, n_jobs=1).fit(frame, y)
            assert pipe.predict(frame.head(3)).shape == (3,)


@pytest.mark.parametrize("name", family_cases(*[(n,) for n in sorted(all_families())]))
def test_a_family_is_its_declaration_and_its_adapter(name):
    """Persistence trusts and export registers what each family's adapter declares: every trusted type names an
    importable class, so a typo cannot open the door to an unreviewed type or refuse every saved model."""
    import importlib

    from automl.io.persist import trusted_types

    family = all_families()[name]
    adapter = family.adapter_object()
    for path in adapter.trusted_types:
        module, _, cls = path.rpartition(".")
        assert hasattr(importlib.import_module(module), cls), path
        assert path in trusted_types()


def _high_cardinality(n: int = 3000, seed: int = 0):  # noqa: ANN202
    import pandas as pd

    rng = np.random.default_rng(seed)
    code = rng.integers(0, 300, size=n)
    effect = np.random.default_rng(100).normal(size=300)  # the same level effects for every sample
    frame = pd.DataFrame({"x": rng.normal(size=n), "shop": np.char.add("s", code.astype(str)).astype(object)})
    y = np.where(effect[code] + 0.3 * frame["x"] + rng.normal(scale=0.5, size=n) > 0, "yes", "no")
    return frame, y


def test_native_categories_reach_lightgbm_as_categorical_splits():
    frame, y = _high_cardinality()
    schema, _ = infer_schema(frame)
    family = all_families()["lightgbm"]
    pipe = build_pipeline(schema, TrialConfig(family=family, preprocess={"encode": "native"}), "binary",
                          random_state=0, n_jobs=1).fit(frame, y)
    booster = pipe.named_steps["model"].estimator_.estimator_.booster_
    infos = booster.dump_model()["feature_infos"]
    assert infos["Column_1"]["values"] and not infos["Column_0"]["values"]  # the shop column is a category
    assert '"decision_type": "=="' in str(booster.dump_model()["tree_info"]).replace("'", '"')
    ordinal = build_pipeline(schema, TrialConfig(family=family, preprocess={"encode": "ordinal"}), "binary",
                             random_state=0, n_jobs=1).fit(frame, y)
    new, new_y = _high_cardinality(n=4000, seed=1)

    def auc(model):  # noqa: ANN001, ANN202  the search's binary metric (accuracy at 0.5 was a near-tie)
        return roc_auc_score(new_y == "yes", model.predict_proba(new)[:, list(model.classes_).index("yes")])

    assert auc(pipe) > auc(ordinal)  # on new rows (0.809 against 0.801)


def test_mixed_encoding_splits_natively_on_few_levels_and_target_encodes_many():
    """LightGBM's default encoding: a column of more than NATIVE_MAX_LEVELS levels (shop, 300) is target-encoded,
    one of few levels (size) is split on natively; the compiled form answers the same; export offers neither
    target nor mixed encoding, and the exportable LightGBM defaults to all native."""
    from automl.models.registry import get_families
    from automl.pipeline.build import NATIVE_MAX_LEVELS
    from automl.pipeline.fast import FastPredictor, check_rows

    frame, y = _high_cardinality()
    frame["size"] = np.random.default_rng(1).choice(["s", "m", "l"], size=len(frame)).astype(object)
    schema, _ = infer_schema(frame)
    assert schema.levels == {"shop": 300, "size": 3} and 3 < NATIVE_MAX_LEVELS < 300
    family = all_families()["lightgbm"]
    assert family.needs["encode"] == "mixed"
    pipe = build_pipeline(schema, TrialConfig(family=family), "binary", random_state=0, n_jobs=1).fit(frame, y)
    parts = {name: columns for name, _, columns in pipe.named_steps["preprocess"].transformers_}
    assert parts["categorical_target"] == ["shop"] and parts["categorical"] == ["size"]
    model = pipe.named_steps["model"].estimator_
    assert model.categorical_last == 1  # only size reaches LightGBM as a category
    infos = model.estimator_.booster_.dump_model()["feature_infos"]
    assert infos["Column_2"]["values"] and not infos["Column_1"]["values"]  # x, shop (a number), size
    fast = FastPredictor.compile(pipe, check_rows(frame))
    assert fast is not None and fast.compiled == 1
    new, _ = _high_cardinality(n=50, seed=1)
    new["size"] = np.random.default_rng(2).choice(["s", "m", "l", "xl"], size=len(new)).astype(object)
    np.testing.assert_allclose(fast.predict_proba(new), pipe.predict_proba(new), rtol=1e-9, atol=1e-12)
    exportable = {f.name: f for f in get_families("exportable", "binary")}["lightgbm"]
    assert exportable.needs["encode"] == "native" and "mixed" not in exportable.preprocess["encode"]["choice"]


def test_onehot_target_encodes_few_levels_one_hot_and_target_encodes_past_the_one_hot_cap():
    """The network's default: a column of more levels than the one-hot encoder keeps (shop, 300 > 32) is
    target-encoded instead of having its levels past the cap lumped together; one of few (size) is one-hot; the
    cost model counts the columns the preprocessing makes; export does not offer it."""
    from automl.models.registry import NOT_EXPORTABLE_CHOICES
    from automl.pipeline.build import ONEHOT_MAX_CATEGORIES, build_preprocessor
    from automl.search.cost import encoded_width

    frame, y = _high_cardinality()
    frame["size"] = np.random.default_rng(1).choice(["s", "m", "l"], size=len(frame)).astype(object)
    schema, cast = infer_schema(frame)
    assert 3 < ONEHOT_MAX_CATEGORIES < schema.levels["shop"]
    assert all_families()["torch_mlp"].needs["encode"] == "onehot_target"
    three = np.array(["a", "b", "c"])[np.arange(len(y)) % 3]
    for task, classes, target in (("binary", 2, y), ("multiclass", 3, three)):
        preprocess = build_preprocessor(schema, {"encode": "onehot_target", "impute": True, "scale": True}, task, 0)
        encoded = preprocess.fit_transform(cast, target)
        parts = {name: columns for name, _, columns in preprocess.transformers_}
        assert parts["categorical_target"] == ["shop"] and parts["categorical"] == ["size"]
        one_hot = [name for name in preprocess.get_feature_names_out() if name.startswith("size")]
        assert len(one_hot) == 3  # s, m, l
        assert encoded.shape[1] == encoded_width(schema, None, "onehot_target", schema.levels, classes)
    assert "onehot_target" in NOT_EXPORTABLE_CHOICES["encode"]


def test_target_encoding_is_cross_fitted_and_not_offered_for_export():
    from automl.models.registry import get_families

    frame, y = _high_cardinality()
    schema, _ = infer_schema(frame)
    family = all_families()["random_forest"]
    pipe = build_pipeline(schema, TrialConfig(family=family, preprocess={"encode": "target"}), "binary",
                          random_state=0, n_jobs=1)
    preprocess = pipe.named_steps["preprocess"]
    fitted = preprocess.fit_transform(pipe.named_steps["cast"].fit_transform(frame), y)
    again = preprocess.transform(pipe.named_steps["cast"].transform(frame))
    assert not np.allclose(fitted, again)  # training rows were encoded out of fold
    exportable = {f.name: f for f in get_families("exportable", "binary")}
    assert all("target" not in f.preprocess.get("encode", {}).get("choice", []) for f in exportable.values())
    assert "target" in all_families()["random_forest"].preprocess["encode"]["choice"]


def test_a_family_whose_library_is_missing_is_left_out_in_one_line():
    import dataclasses

    ghost = dataclasses.replace(all_families()["lightgbm"], name="ghost", extra="ghost",
                                estimators={"classifier": "ghostlib.Model", "regressor": "ghostlib.Model"})
    assert not ghost.available() and all_families()["lightgbm"].available()
    assert ghost.missing_message() == ('ghostlib is not installed: the ghost family is left out '
                                       '(pip install "automl[ghost]")')


@pytest.mark.skipif(all_families()["catboost"].available(), reason="catboost is installed here")
def test_asking_for_a_family_whose_library_is_missing_names_the_extra():
    from automl.models.registry import get_families

    with pytest.raises(ValueError, match=r'catboost is not installed.*automl\[catboost\]'):
        get_families(["catboost"], "binary")
    assert "catboost" not in {f.name for f in get_families(None, "binary")}


def test_default_variants_follow_the_defaults_before_the_portfolio():
    """A family's declared variants of its default trial are enqueued after every family's defaults and before the
    portfolio; a variant naming a parameter the task's space lacks is left out."""
    import dataclasses

    from automl.search.strategies import Bayes

    families = all_families()
    lightgbm = dataclasses.replace(families["lightgbm"], default_variants=({"num_leaves": 7}, {"C": 0.1}))
    entry = {"family": "linear", "linear.C": 0.1}
    points = Bayes().initial_points([families["linear"], lightgbm], "binary", None, [entry], train_rows=5000)
    assert [p["family"] for p in points] == ["linear", "lightgbm", "lightgbm", "linear"]
    assert points[2] == {**points[1], "lightgbm.num_leaves": 7} != points[1]
    assert points[3] == entry
    assert library_defaults(lightgbm, "binary", 5000)["lightgbm.num_leaves"] != 7
