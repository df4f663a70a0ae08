"""The compiled prediction path (automl/pipeline/fast.py) answers exactly as the pipelines it compiles."""
from __future__ import annotations

import importlib.util
import pickle

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from automl import AutoML
from automl.data.schema import infer_schema
from automl.models.registry import all_families
from automl.pipeline.build import TrialConfig, build_pipeline
from automl.pipeline.fast import CompiledMember, FastPredictor, check_rows
from automl.search.ensemble import WeightedEnsembleClassifier, WeightedEnsembleRegressor
from sklearn.base import is_classifier
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

COLOURS = ["red", "green", "blue"]
SIZES = [f"s{i}" for i in range(12)]


def _training(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "x1": rng.normal(size=n),
        "x2": np.where(rng.random(n) < 0.15, np.nan, rng.lognormal(size=n)),  # skewed: scale="quantile" maps it
        "colour": rng.choice(COLOURS + [None], size=n),
        "size": rng.choice(SIZES, size=n),  # rare levels: one-hot's "infrequent" column
        "flag": rng.random(n) < 0.5,
    })
    signal = frame["x1"].to_numpy() + (frame["colour"] == "red") - 0.5 * (frame["size"] == "s1")
    return frame, signal + rng.normal(scale=0.5, size=n)


# family, task, preprocessing options: every compiled part (passthrough, imputer + indicator, scaler, ordinal,
# one-hot with infrequent levels, target and frequency encodings) and the model shortcuts (forests and histogram
# gradient boosting as flat trees, logistic probabilities)
CASES = [
    ("linear", "binary", {}),
    ("linear", "multiclass", {"encode": "target"}),
    ("linear", "regression", {"encode": "onehot", "synthesis": "frequency"}),
    ("random_forest", "binary", {}),
    ("extra_trees", "regression", {"select": "f_test", "select_fraction": 0.5}),
    ("lightgbm", "multiclass", {}),
    ("lightgbm", "regression", {"encode": "onehot"}),
    ("lightgbm", "binary", {"encode": "native"}),  # categorical splits: its booster is called directly
    ("lightgbm", "multiclass", {"encode": "native"}),
    ("knn", "binary", {"synthesis": "pairs"}),  # pairs as arithmetic, then scaled; the neighbour search direct
    ("knn", "multiclass", {"encode": "target"}),
    ("knn", "regression", {}),
    ("hist_gradient_boosting", "regression", {"synthesis": "group_stats"}),  # a part that runs its own transform
    ("random_forest", "multiclass", {"synthesis": "pairs"}),
    ("hist_gradient_boosting", "binary", {}),
    ("hist_gradient_boosting", "multiclass", {"encode": "onehot"}),
    ("mlp", "binary", {}),  # the forward pass without input validation
    ("mlp", "multiclass", {"encode": "target"}),
    ("mlp", "regression", {}),  # and back on the target's scale
    ("linear", "regression", {"scale": "quantile"}),  # the skewed column through its quantiles
    ("mlp", "binary", {"scale": "quantile", "synthesis": "pairs"}),  # pairs, then scaled so
] + ([("catboost", "regression", {})]  # symmetric trees read from CatBoost's JSON model (the catboost extra)
     if importlib.util.find_spec("catboost") else []) \
  + ([("torch_mlp", "binary", {}), ("torch_mlp", "regression", {})]  # its NumPy forward pass (the torch extra)
     if importlib.util.find_spec("torch") else [])


def _target(signal: np.ndarray, task: str) -> np.ndarray:
    if task == "regression":
        return signal
    edges = [0.5] if task == "binary" else [-0.3, 0.5, 1.2]
    labels = np.array(["no", "yes"] if task == "binary" else ["a", "b", "c", "d"], dtype=object)
    return labels[np.digitize(signal, edges)]


@pytest.fixture(scope="module")
def fitted() -> list[tuple[str, Pipeline, pd.DataFrame]]:
    frame, signal = _training()
    schema, frame = infer_schema(frame)
    out = []
    for family, task, options in CASES:
        config = TrialConfig(family=all_families()[family], preprocess=options)
        pipe = build_pipeline(schema, config, task, random_state=0, n_jobs=1).fit(frame, _target(signal, task))
        out.append((f"{family}-{task}-{config.needs().get('encode')}-{options}", pipe, frame))
    return out


@pytest.fixture(scope="module")
def compiled(fitted) -> list[tuple[str, Pipeline, FastPredictor]]:
    return [(name, pipe, FastPredictor.compile(pipe, check_rows(train))) for name, pipe, train in fitted]


def _rows(draw_rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(draw_rows, columns=["x1", "x2", "colour", "size", "flag"])


number = st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.just(np.nan), st.just(np.inf), st.none())
category = st.one_of(st.sampled_from(COLOURS + SIZES), st.just("never-seen"), st.none())
row = st.fixed_dictionaries({"x1": number, "x2": number, "colour": category, "size": category,
                             "flag": st.one_of(st.booleans(), st.none())})


def _same_answers(pipe: Pipeline, fast: FastPredictor, X: pd.DataFrame) -> None:
    expected = pipe.predict(X)
    got = fast.predict(X)
    if is_classifier(pipe):
        np.testing.assert_array_equal(got, expected)
        np.testing.assert_allclose(fast.predict_proba(X), pipe.predict_proba(X), rtol=1e-9, atol=1e-12)
    else:
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)


def test_every_pipeline_compiles_with_its_trees(compiled):
    """Every member compiles; forests, boosting and LightGBM walk flat trees, except LightGBM on native categories
    (categorical splits are not compiled; the default, mixed, splits natively on these few levels), which calls its
    booster directly, as perceptrons run their forward pass
    and neighbours their search."""
    for name, _, fast in compiled:
        assert fast is not None and fast.compiled == 1, name
        walks_trees = any(f in name for f in ("forest", "trees", "gradient", "lightgbm", "catboost")) \
            and "-native-" not in name and "-mixed-" not in name  # mixed: these columns have few levels, all native
        assert (fast.members[0].trees is not None) == walks_trees, name
        direct = "lightgbm" in name and ("-native-" in name or "-mixed-" in name) or name.startswith(("mlp-", "knn-", "torch_mlp-"))
        assert (fast.members[0].direct is not None) == direct, name


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(row, min_size=1, max_size=5))
def test_compiled_pipelines_answer_as_the_pipelines_do(compiled, rows):
    X = _rows(rows)
    for name, pipe, fast in compiled:
        try:
            expected = pipe.predict(X)
        except ValueError:  # the pipeline refuses these rows (a model that takes no missing values): so must we
            with pytest.raises(ValueError):
                fast.predict(X)
            continue
        assert len(expected) == len(X), name
        _same_answers(pipe, fast, X)


def test_every_part_of_the_plain_pipelines_compiles(fitted):
    """Numeric and categorical parts and the numeric pairs become numpy steps; only group statistics (categorical
    keys against numbers) run their own transform."""
    for name, pipe, _ in fitted:
        member = CompiledMember.compile(pipe)
        own = [part.__name__ == "own_transform" for part in member.parts]
        assert any(own) == ("group_stats" in name), name


@pytest.mark.parametrize("task", ["binary", "regression"])
def test_an_ensemble_compiles_member_by_member(fitted, task):
    members = [pipe for name, pipe, _ in fitted if f"-{task}-" in name]
    train = fitted[0][2]
    weights = list(np.linspace(1, 2, len(members)) / np.linspace(1, 2, len(members)).sum())
    ensemble = (WeightedEnsembleRegressor.from_fitted(members, weights) if task == "regression" else
                WeightedEnsembleClassifier.from_fitted(members, weights, classes=np.array(["no", "yes"], dtype=object)))
    final = Pipeline([("ensemble", ensemble)])
    fast = FastPredictor.compile(final, check_rows(train))
    assert fast is not None and fast.compiled == len(members)
    assert len(fast.casters) == 1  # the members cast alike: one cast per request
    with_trees = [i for i, m in enumerate(fast.members) if m.trees is not None]
    assert len(with_trees) >= 2 and fast.banked == with_trees  # their trees are walked together
    X = train.sample(20, random_state=1)
    _same_answers(final, fast, X)


def test_members_that_know_different_categories_keep_their_own_codes():
    """Members share a column's category codes only when they know the same categories: fold models fitted on
    rows without some levels (as bagging gives) still encode every value as their own encoder does."""
    frame, signal = _training(400, seed=3)
    schema, frame = infer_schema(frame)
    y = _target(signal, "binary")
    members = []
    for keep in (frame["size"] != "s3", frame["colour"] != "blue", np.ones(len(frame), dtype=bool)):
        config = TrialConfig(family=all_families()["linear"], preprocess={"encode": "onehot"})
        members.append(build_pipeline(schema, config, "binary", random_state=0, n_jobs=1)
                       .fit(frame[keep], y[np.asarray(keep)]))
    ensemble = WeightedEnsembleClassifier.from_fitted(members, [0.2, 0.3, 0.5],
                                                      classes=np.array(["no", "yes"], dtype=object))
    final = Pipeline([("ensemble", ensemble)])
    fast = FastPredictor.compile(final, check_rows(frame))
    assert fast is not None and fast.compiled == 3
    _same_answers(final, fast, frame.head(40))


@pytest.mark.parametrize("family", ["linear", "lightgbm"])
def test_datetime_parts_compile_and_are_computed_once_for_all_members(family):
    """A datetime column's parts (and their imputation and scaling) are numpy steps, not the part's own transform;
    an ensemble of members reading it answers as the pipeline does, missing moments included."""
    rng = np.random.default_rng(4)
    when = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 900 * 24, 400), unit="h")
    frame = pd.DataFrame({"x": rng.normal(size=400), "when": when.where(rng.random(400) > 0.1)})
    schema, frame = infer_schema(frame)
    y = np.where(frame["x"] + (frame["when"].dt.month > 6) > 0.5, "yes", "no").astype(object)
    config = TrialConfig(family=all_families()[family], preprocess={})
    members = [build_pipeline(schema, config, "binary", random_state=seed, n_jobs=1).fit(frame, y)
               for seed in (0, 1)]
    assert all(part.__name__ == "run" for part in CompiledMember.compile(members[0]).parts)
    final = Pipeline([("ensemble", WeightedEnsembleClassifier.from_fitted(
        members, [0.5, 0.5], classes=np.array(["no", "yes"], dtype=object)))])
    fast = FastPredictor.compile(final, check_rows(frame))
    assert fast is not None and fast.compiled == 2
    for i in range(0, 400, 37):
        _same_answers(final, fast, frame.iloc[[i]])
    _same_answers(final, fast, frame.head(50))


def test_members_with_featuretools_primitives_run_that_part_as_its_own_transform_and_answer_as_the_pipeline():
    pytest.importorskip("featuretools")
    rng = np.random.default_rng(5)
    when = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 900 * 24, 300), unit="h")
    frame = pd.DataFrame({"x": rng.normal(size=300), "when": when.where(rng.random(300) > 0.1)})
    schema, frame = infer_schema(frame)
    y = np.where(frame["x"] + frame["when"].dt.dayofweek.isin([5, 6]) > 0.5, "yes", "no").astype(object)
    members = [build_pipeline(schema, TrialConfig(family=all_families()[family], preprocess={"synthesis": plan}),
                              "binary", random_state=0, n_jobs=1).fit(frame, y)
               for family, plan in (("linear", "primitives"), ("lightgbm", "primitives"), ("lightgbm", "none"))]
    assert "primitives" in members[0].named_steps["preprocess"].named_transformers_
    final = Pipeline([("ensemble", WeightedEnsembleClassifier.from_fitted(
        members, [0.4, 0.3, 0.3], classes=np.array(["no", "yes"], dtype=object)))])
    fast = FastPredictor.compile(final, check_rows(frame))
    assert fast is not None and fast.compiled == 3
    for i in range(0, 300, 29):
        _same_answers(final, fast, frame.iloc[[i]])
    _same_answers(final, fast, frame.head(50))


def test_neighbours_answer_single_rows_as_the_pipeline_does_when_distances_tie():
    """Many training rows equally distant from a query (21 yes/no columns): scikit-learn's neighbour search picks
    among such ties by its number of OpenMP threads, so the compiled call, which otherwise runs on one thread, keeps
    the caller's threads for neighbours and answers every single row as the pipeline does (kc1 showed this)."""
    rng = np.random.default_rng(0)
    half = np.repeat([0.0, 1.0], 632)
    frame = pd.DataFrame({f"b{j}": rng.permutation(half) for j in range(21)})  # scaled to exactly -1 and 1: the ties survive
    schema, frame = infer_schema(frame)
    y = np.array(["no", "yes"], dtype=object)[rng.integers(0, 2, len(frame))]
    config = TrialConfig(family=all_families()["knn"], preprocess={})
    pipe = build_pipeline(schema, config, "binary", random_state=0, n_jobs=1).fit(frame, y)
    fast = FastPredictor.compile(pipe, check_rows(frame))
    assert fast is not None and fast.threaded == [0]
    with threadpool_limits(limits=2, user_api="openmp"):  # the tests' process runs one thread (conftest.py)
        for i in rng.integers(0, len(frame), 60):
            row = frame.iloc[[i]]
            np.testing.assert_array_equal(fast.predict_proba(row), pipe.predict_proba(row), err_msg=f"row {i}")


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_catboost_symmetric_trees_answer_as_its_predict(task):
    """CatBoost's trees read from its JSON model: float32 borders, the leaf index's bit order, missing values by each
    feature's treatment (Min: not above any border; Max: above every one), several outputs, scale and bias; walked
    with other models' trees in one bank, each answers as alone."""
    catboost = pytest.importorskip("catboost", reason="CatBoost is the catboost extra")

    from automl.pipeline.fast_trees import CompiledCatBoost, TreeBank, compile_trees

    rng = np.random.default_rng(2)
    X = rng.normal(size=(500, 4))
    X[rng.random(X.shape) < 0.15] = np.nan
    signal = np.nan_to_num(X[:, 0]) + np.isnan(X[:, 1]) - 0.5 * np.nan_to_num(X[:, 2])
    models = []
    for depth, nan_mode in ((4, "Min"), (6, "Max")):
        options = {"iterations": 40, "depth": depth, "nan_mode": nan_mode, "verbose": 0, "thread_count": 1,
                   "allow_writing_files": False, "random_seed": 0}
        if task == "regression":
            models.append(catboost.CatBoostRegressor(**options).fit(X, signal))
        else:
            edges = [0.0] if task == "binary" else [-0.5, 0.5]
            models.append(catboost.CatBoostClassifier(**options).fit(X, np.digitize(signal, edges)))
    compiled = [compile_trees(m) for m in models]
    assert all(isinstance(c, CompiledCatBoost) for c in compiled)
    probe = np.vstack([X[:100], np.full((1, 4), np.nan), compiled[0].trees.border[:20, :1].repeat(4, axis=1)])
    bank = TreeBank.of(compiled, [4, 4])
    for model, alone, together in zip(models, compiled, bank.answers([probe, probe])):
        expected = model.predict(probe).reshape(-1, 1) if task == "regression" else model.predict_proba(probe)
        np.testing.assert_allclose(alone.answer(probe), expected, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(together, expected, rtol=1e-9, atol=1e-12)


def test_a_member_whose_compiled_features_differ_runs_the_ordinary_way(fitted, monkeypatch):
    """The check on compiling is the safety net: a wrong compiled step (injected here) is caught and the member
    keeps its ordinary predict, so the answers stay right."""
    import automl.pipeline.fast as fast_module

    name, pipe, train = next(case for case in fitted if case[0].startswith("linear-binary"))
    right = fast_module._imputer

    def off_by_one(imputer):
        fill = right(imputer)
        return lambda X: fill(X) + 1.0

    monkeypatch.setattr(fast_module, "_imputer", off_by_one)
    other = next(case[1] for case in fitted if case[0].startswith("lightgbm-binary"))  # imputes nothing
    ensemble = WeightedEnsembleClassifier.from_fitted([pipe, other], [0.5, 0.5],
                                                      classes=np.array(["no", "yes"], dtype=object))
    final = Pipeline([("ensemble", ensemble)])
    fast = FastPredictor.compile(final, check_rows(train))
    assert fast is not None and fast.compiled == 1 and fast.members[0] is pipe
    _same_answers(final, fast, train.head(10))


def test_a_pipeline_of_another_shape_does_not_compile(fitted):
    name, pipe, train = fitted[0]
    assert FastPredictor.compile(Pipeline([("postprocess", pipe)]), check_rows(train)) is None


@pytest.mark.slow
def test_automl_predicts_small_batches_compiled_and_still_pickles():
    frame, signal = _training(400, seed=3)
    y = _target(signal, "binary")
    model = AutoML(families=["linear", "random_forest"], search="defaults", max_trials=2, cv=2, time_budget=60,
                   random_state=0).fit(frame, y)
    rows = frame.head(3)
    first = model.predict_proba(rows)  # the first small batch goes the ordinary way
    assert model._compiled_predictor() is None
    state = dict(vars(model))
    second = model.predict_proba(rows)  # the second compiles, beside the estimator: predict changes nothing in it
    assert isinstance(model._compiled_predictor(), FastPredictor)
    assert vars(model).keys() == state.keys() and all(vars(model)[k] is v for k, v in state.items())
    np.testing.assert_allclose(second, first, rtol=1e-9)
    np.testing.assert_array_equal(model.predict(rows), model.best_pipeline_.predict(rows))
    copy = pickle.loads(pickle.dumps(model))
    assert copy._compiled_predictor() is None  # not pickled: compiled again on demand
    np.testing.assert_allclose(copy.predict_proba(rows), first, rtol=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("options", [{}, {"zero_as_missing": True}, {"use_missing": False}])
@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_lightgbm_flat_trees_follow_its_missing_value_rules(options, task):
    """LightGBM sends NaN and zeros by each node's missing type (None: NaN is 0; Zero: 0 and NaN are missing; NaN:
    NaN is missing); the flat trees answer as its predict does, also on the 'exactly at a threshold' values."""
    import lightgbm

    from automl.pipeline.fast_trees import CompiledLightGBM, compile_trees

    rng = np.random.default_rng(1)
    X = rng.normal(size=(600, 4))
    X[rng.random(X.shape) < 0.15] = np.nan
    X[rng.random(X.shape) < 0.15] = 0.0
    signal = np.nan_to_num(X[:, 0]) + np.isnan(X[:, 1]) - (X[:, 2] == 0)
    cls = lightgbm.LGBMRegressor if task == "regression" else lightgbm.LGBMClassifier
    y = signal if task == "regression" else np.digitize(signal, [0.0] if task == "binary" else [-0.5, 0.5])
    model = cls(n_estimators=30, num_leaves=15, min_child_samples=5, verbose=-1, **options).fit(X, y)
    compiled = compile_trees(model)
    assert isinstance(compiled, CompiledLightGBM)
    splits = compiled.trees.left != np.arange(len(compiled.trees.left))  # a leaf points to itself
    thresholds = compiled.trees.threshold[splits][:50]
    probe = np.vstack([X[:200], np.column_stack([thresholds] * 4), np.full((1, 4), np.nan), np.zeros((1, 4))])
    expected = model.predict(probe) if task == "regression" else model.predict_proba(probe)
    got = compiled.answer(probe)
    np.testing.assert_allclose(got[:, 0] if task == "regression" else got, expected, rtol=1e-9, atol=1e-12)
    if task != "regression":
        np.testing.assert_array_equal(model.classes_[compiled.codes(probe)], model.predict(probe))


class _ThreadsSeen:
    """A model that answers as ``inner`` does and notes how many OpenMP threads it was allowed."""

    def __init__(self, inner):
        self.inner, self.classes_, self.seen = inner, inner.classes_, []

    def predict_proba(self, X):
        from threadpoolctl import threadpool_info

        self.seen.append({i["num_threads"] for i in threadpool_info() if i["user_api"] == "openmp"})
        return self.inner.predict_proba(X)


def test_a_compiled_call_runs_openmp_on_one_thread_and_restores_the_callers_setting(fitted):
    from threadpoolctl import threadpool_info

    name, pipe, train = next(item for item in fitted if item[0].startswith("linear-binary"))
    pipe = pickle.loads(pickle.dumps(pipe))
    pipe.steps[-1][1].estimator_ = seen = _ThreadsSeen(pipe.steps[-1][1].estimator_)
    fast = FastPredictor.compile(pipe, check_rows(train))
    assert fast is not None and fast.threads is not None, name
    before = [i["num_threads"] for i in threadpool_info()]
    seen.seen.clear()
    fast.predict_proba(train.head(3))
    assert seen.seen == [{1}]
    assert [i["num_threads"] for i in threadpool_info()] == before
