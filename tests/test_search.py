"""Search strategies over the joint space: portfolio first, then TPE / random / grid; pruning; journals."""
from __future__ import annotations

import json
import re

import numpy as np
import optuna
import pandas as pd
import pytest

from automl import AutoML
from automl.models.registry import all_families
from automl.search.space import grid_points, in_domain, library_defaults
from automl.search.portfolio import load_portfolio, portfolio_points
from automl.search.strategies import Bayes, Defaults, Grid, Random, RungHalving, get_strategy
from tests.conftest import fresh_interpreter_words


@pytest.fixture
def small() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=150), "b": rng.normal(size=150), "c": rng.choice(["u", "v"], 150)})
    return X, pd.Series(np.where(X["a"] - X["b"] > 0, "p", "n"))


def test_portfolio_points_are_library_defaults():
    lightgbm = all_families()["lightgbm"]
    defaults = library_defaults(lightgbm, "binary")
    assert defaults["lightgbm.num_leaves"] == 31  # LightGBM's own; learning_rate is the family's (configs)
    installed = [f for f in all_families().values() if f.available()]
    points = Bayes().initial_points(installed, "binary", None, [])
    assert [p["family"] for p in points] == [f.name for f in installed]  # one default point per family
    assert defaults["lightgbm.learning_rate"] == 0.05 and defaults["lightgbm.n_estimators"] == 100  # no rows: small


def test_lightgbm_default_trial_depends_on_the_rows():
    """LightGBM's default trial boosts at 0.05 for up to 10,000 rounds (early stopping cuts them); below its
    small_data rows, where no holdout is reliable, 100 rounds at 0.05; from its large_data rows, 1,000 rounds at
    LightGBM's 0.1 (early stopping and the trial's time cut them); in a fit that bags, up to 1,000 rounds whatever
    the rows, as a model built without a size. Each point stays inside the declared space."""
    lightgbm = all_families()["lightgbm"]
    small, large = lightgbm.small_data["rows"], lightgbm.large_data["rows"]
    below = library_defaults(lightgbm, "regression", small - 1)
    assert (below["lightgbm.n_estimators"], below["lightgbm.learning_rate"]) == (100, 0.05)
    between = library_defaults(lightgbm, "binary", small)
    assert (between["lightgbm.n_estimators"], between["lightgbm.learning_rate"]) == (10000, 0.05)
    points = Bayes().initial_points([lightgbm], "regression", None, [], train_rows=large)
    assert (points[0]["lightgbm.n_estimators"], points[0]["lightgbm.learning_rate"]) == (1000, 0.1)
    # in a fit that bags, each fold model stops on its validation fold: the bagged rule replaces the small-data one
    for rows in (small - 1, small + 1):
        bagged = Bayes().initial_points([lightgbm], "binary", None, [], train_rows=rows, bagging=True)
        assert bagged[0]["lightgbm.n_estimators"] == 1000 and lightgbm.size_regime(rows, bagging=True) == "bagged_data"
    assert lightgbm.size_regime(large, bagging=True) == "large_data"
    # a model built without a size (no rule: it may be too small to stop) keeps the defaults' 1,000
    assert lightgbm.default_params("binary")["n_estimators"] == 1000 and lightgbm.size_regime(small) == "stopped_data"
    assert points[0]["lightgbm.num_leaves"] == 31  # the other defaults as they were
    for point in (below, between, points[0], bagged[0]):
        for name, value in point.items():
            if name.startswith("lightgbm."):
                assert in_domain(value, lightgbm.space_for("regression")[name.split(".", 1)[1]]), name


def test_mlp_default_trial_differs_by_task():
    """The network's default trial is two layers of 128 units in batches of 128 for classification (the library's
    one layer of 100 stopped before learning on imbalanced tables) and the library's own for regression."""
    mlp = all_families()["mlp"]
    classifier = library_defaults(mlp, "binary", 5000)
    assert (classifier["mlp.hidden_units"], classifier["mlp.layers"], classifier["mlp.batch_size"]) == (128, 2, 128)
    regressor = library_defaults(mlp, "regression", 5000)
    assert (regressor["mlp.hidden_units"], regressor["mlp.layers"], regressor["mlp.batch_size"]) == (100, 1, "auto")
    model = mlp.make("multiclass", mlp.default_params("multiclass"), random_state=0, n_jobs=1)
    assert model.hidden_layer_sizes == (128, 128)


def test_families_that_skip_signature_defaults_lose_nothing_and_import_nothing():
    """A family declared ``signature_defaults: false`` (CatBoost) has no default in its constructor for any tuned
    parameter (all ``None``: the library chooses in ``fit``), so not reading them loses nothing; and its default
    point is built without importing the library into the search's process (a fresh interpreter checks)."""
    import inspect

    skipping = [f for f in all_families().values() if not f.signature_defaults]
    assert [f.name for f in skipping] == ["catboost"]
    for family in (f for f in skipping if f.available()):
        for task in ("binary", "regression"):
            parameters = inspect.signature(family.estimator_class(task).__init__).parameters
            assert all(parameters[p].default is None for p in family.space_for(task) if p in parameters)
    script = ("import sys; from automl.models.registry import all_families; "
              "from automl.search.space import library_defaults; "
              "print(library_defaults(all_families()['catboost'], 'multiclass', 80000)); "
              "print('catboost' in sys.modules)")
    assert fresh_interpreter_words(script) == ["{}", "False"]


@pytest.mark.parametrize("family", ["random_forest", "extra_trees"])
def test_large_forests_share_a_leaf_budget_and_small_ones_grow_as_before(family):
    """From the large_data rows on, a forest's trees share its leaf budget (more trees, fewer leaves each) where the
    rows would allow more leaves; below those rows, or where the rows cannot reach the cap, nothing is set."""
    forest = all_families()[family]
    rows, budget = forest.large_data["rows"], forest.large_data["leaf_budget"]
    assert forest.make("binary", {}, 0, 1, rows=rows - 1).max_leaf_nodes is None
    assert forest.make("binary", {}, 0, 1).max_leaf_nodes is None  # rows unknown: as the library grows it
    assert forest.make("binary", {}, 0, 1, rows=rows).max_leaf_nodes == budget // 100  # library's 100 trees
    assert forest.make("regression", {"n_estimators": 400}, 0, 1, rows=rows).max_leaf_nodes == budget // 400
    leaves = budget // 100
    assert forest.make("binary", {"min_samples_leaf": rows // leaves + 1}, 0, 1, rows=rows).max_leaf_nodes is None


def test_grid_enqueues_every_combination():
    knn = all_families()["knn"]
    grid = grid_points(knn, "binary")
    assert len(grid) == 3 * 2 * 2  # n_neighbors x weights x p
    points = Grid().initial_points([knn], "binary", None, [{"family": "knn", "knn.n_neighbors": 15}])
    assert len(points) == 1 + len(grid)  # the defaults, then the grid instead of the portfolio


def test_samplers_and_pruner():
    assert isinstance(get_strategy("bayes").sampler(0), optuna.samplers.TPESampler)
    assert isinstance(get_strategy("random").sampler(0), optuna.samplers.RandomSampler)
    assert isinstance(Bayes().pruner(5), optuna.pruners.SuccessiveHalvingPruner)
    assert isinstance(Bayes().pruner(1), optuna.pruners.NopPruner)  # holdout: nothing to halve over
    assert isinstance(Bayes().pruner(3, rungs=True), RungHalving)
    with pytest.raises(ValueError, match="search must be one of"):
        get_strategy("annealing")


def test_strategies_own_their_end():
    study = optuna.create_study()
    assert not Bayes().exhausted(study) and not Random().exhausted(study)  # samplers never run out
    assert Defaults().exhausted(study) and Grid().exhausted(study)  # nothing enqueued: nothing to do
    study.enqueue_trial({"x": 1.0})
    assert not Defaults().exhausted(study)
    assert Defaults().accepts(["family"]) and not Defaults().accepts(None)  # only enqueued points run
    assert Bayes().accepts(None)


@pytest.mark.slow
@pytest.mark.parametrize("search", ["bayes", "random", "grid"])
def test_strategies_tune_after_the_portfolio(small, search):
    X, y = small
    model = AutoML(time_budget=None, max_trials=9, search=search, families=["linear", "knn"], random_state=0,
                   cv=3, ensemble=False).fit(X, y)
    board = model.leaderboard_.sort_values("trial")
    assert len(board) == 9
    assert board.family.tolist()[:2] == ["linear", "knn"]  # defaults first, cheapest first
    tuned = [json.loads(p) for p in board.params.tolist()[2:]]
    assert any(p != json.loads(board.params.iloc[0]) and p != json.loads(board.params.iloc[1]) for p in tuned)
    attrs = model.study_.trials[0].user_attrs
    assert {"family", "status", "fit_time", "score", "duration"} <= set(attrs)  # readable in optuna-dashboard


@pytest.mark.slow
def test_defaults_search_stops_after_the_portfolio(small):
    X, y = small
    model = AutoML(time_budget=60, search="defaults", families=["linear", "knn"], random_state=0, cv=3,
                   ensemble=False).fit(X, y)
    # the two families' defaults, then the built-in portfolio's linear and kNN entries, and nothing more
    entries = [e for e in load_portfolio("default") if e["family"] in ("linear", "knn")]
    assert len(model.leaderboard_) == 2 + len(entries) and model.fit_time_ < 60
    assert len(AutoML(time_budget=60, search="defaults", families=["linear", "knn"], portfolio=None, random_state=0,
                      cv=3, ensemble=False).fit(X, y).leaderboard_) == 2


@pytest.mark.slow
def test_pruning_stops_poor_configurations(small):
    X, y = small
    model = AutoML(time_budget=None, max_trials=20, search="random", families=["knn"], random_state=1, cv=5,
                   ensemble=False).fit(X, y)
    pruned = model.leaderboard_[model.leaderboard_.status == "pruned"]
    assert len(pruned) > 0 and (pruned.n_folds < 5).all()


@pytest.mark.slow
def test_on_rungs_a_weak_default_is_pruned_as_a_sampled_trial_would_be(credit, monkeypatch):
    from automl.search import planner
    from automl.testing import misbehaving_family

    monkeypatch.setattr(planner, "RUNG_MIN_ROWS", 50)  # credit-g's 800 holdout training rows: rungs of 50, 200, 800
    X, y = credit
    constant = misbehaving_family("sleep", seconds=0.0)  # answers one class: ROC AUC 0.5
    common = dict(time_budget=None, max_trials=2, families=["lightgbm", constant], cv="holdout", portfolio=None,
                  ensemble=False, random_state=0)
    sampled = AutoML(search="random", **common).fit(X, y).leaderboard_.set_index("family")
    assert sampled.loc["lightgbm", "status"] == "ok" and sampled.loc["lightgbm", "fidelity"] == 1.0
    assert sampled.loc["misbehaving_sleep", "status"] == "pruned"
    assert sampled.loc["misbehaving_sleep", "fidelity"] == 50 / 800  # at its first rung
    # a search of the defaults alone runs each to its end, rungs or not
    defaults = AutoML(search="defaults", **common).fit(X, y).leaderboard_.set_index("family")
    assert (defaults.status == "ok").all() and (defaults.fidelity == 1.0).all()


def _climb(study: optuna.Study, scores: list[float]) -> list[bool]:
    """A trial of ``study`` reporting ``scores`` on its rungs in turn: the pruner's verdict after each (the trial
    goes on regardless) - then it is told its last score."""
    trial = study.ask()
    verdicts = []
    for step, score in enumerate(scores):
        trial.report(score, step)
        verdicts.append(trial.should_prune())
    study.tell(trial, scores[-1])
    return verdicts


@pytest.mark.parametrize("direction, sign", [("maximize", 1.0), ("minimize", -1.0)])
def test_rung_halving_checks_every_rung_but_the_last(direction, sign):
    study = optuna.create_study(direction=direction, pruner=RungHalving(n_steps=3))
    better = lambda *scores: [sign * s for s in scores]  # noqa: E731 - scores as "higher is better"
    assert _climb(study, better(0.80, 0.85, 0.90)) == [False, False, False]  # alone: always the best
    assert _climb(study, better(0.70, 0.95, 0.95)) == [True, False, False]   # worse at the first rung
    assert _climb(study, better(0.82, 0.90, 0.10)) == [False, True, False]   # at the second; the last never
    # with six scores at a rung the best two go on (a third of them)
    for first in (0.60, 0.61, 0.62):
        _climb(study, better(first))
    assert _climb(study, better(0.805))[0] is False  # second best of 0.60-0.82 at the first rung
    assert _climb(study, better(0.79))[0] is True
    assert _climb(study, [float("nan")])[0] is True


def test_on_rungs_a_weak_trial_that_would_not_finish_is_pruned_not_kept_at_its_rung(credit, monkeypatch):
    from automl.search import planner
    from automl.testing import misbehaving_family

    monkeypatch.setattr(planner, "RUNG_MIN_ROWS", 50)
    X, y = credit
    # a constant that sleeps 2 s a fit: after its first rung the next two project past its limit (its fits are
    # taken to grow with the rows), so it would stop there and be kept, a constant model, as "ok"
    constant = misbehaving_family("sleep", seconds=2.0)
    board = AutoML(time_budget=10, max_trials=2, families=["lightgbm", constant], cv="holdout", portfolio=None,
                   ensemble=False, random_state=0).fit(X, y).leaderboard_.set_index("family")
    assert board.loc["lightgbm", "status"] == "ok"
    assert board.loc["misbehaving_sleep", "status"] == "pruned"
    assert board.loc["misbehaving_sleep", "fidelity"] == 50 / 800


@pytest.mark.slow
def test_journal_storage_resumes(small, tmp_path):
    X, y = small
    url = f"journal:///{tmp_path}/study.log"
    first = AutoML(time_budget=None, max_trials=3, storage=url, study_name="s", families=["linear", "knn"],
                   random_state=0, cv=3, ensemble=False).fit(X, y)
    again = AutoML(time_budget=None, max_trials=6, storage=url, study_name="s", families=["linear", "knn"],
                   random_state=0, cv=3, ensemble=False).fit(X, y)
    before = first.leaderboard_.set_index("trial").score
    after = again.leaderboard_.set_index("trial").score
    assert set(before.index) <= set(after.index) and len(after) == 6
    assert np.allclose(before, after[before.index])


@pytest.mark.slow
def test_resume_after_an_ensemble_refits_a_configuration(small, tmp_path):
    X, y = small
    url = f"sqlite:///{tmp_path}/s.db"
    params = dict(time_budget=None, storage=url, study_name="s", families=["linear", "knn"], random_state=0, cv=3)
    AutoML(max_trials=4, **params).fit(X, y)
    again = AutoML(max_trials=6, **params).fit(X, y)  # the study now holds an ensemble row as well
    assert again.best_family_ in ("linear", "knn", "ensemble")
    assert again.predict(X).shape == (len(X),)


def test_portfolio_entries_follow_the_defaults_and_are_checked():
    families = [all_families()[n] for n in ("linear", "lightgbm")]
    entries = [{"family": "lightgbm", "params": {"num_leaves": 7, "learning_rate": 0.05}},
               {"family": "linear", "params": {"C": 0.1, "alpha": 10.0}},
               {"family": "random_forest", "params": {"n_estimators": 300}}]  # family not searched: left out
    points = Bayes().initial_points(families, "binary", None, portfolio_points(entries, families, "binary"))
    assert [p["family"] for p in points] == ["linear", "lightgbm", "lightgbm", "linear"]
    assert points[2] == {"family": "lightgbm", "lightgbm.num_leaves": 7, "lightgbm.learning_rate": 0.05}
    assert points[3] == {"family": "linear", "linear.C": 0.1}  # alpha is the regression penalty
    assert portfolio_points(entries, families, "regression")[1] == {"family": "linear", "linear.alpha": 10.0}
    with pytest.raises(ValueError, match=r"entry 0 \(lightgbm\): num_leaves=1000 is outside"):
        portfolio_points([{"family": "lightgbm", "params": {"num_leaves": 1000}}], families, "binary")
    with pytest.raises(ValueError, match=r"entry 0 \(lightgbm\): max_depth is not in the family's declared space"):
        portfolio_points([{"family": "lightgbm", "params": {"max_depth": 3}}], families, "binary")
    with pytest.raises(ValueError, match="entry 0: unknown family 'lightgmb'"):
        portfolio_points([{"family": "lightgmb", "params": {}}], families, "binary")
    with pytest.raises(ValueError, match="needs a 'family'"):
        portfolio_points([{"params": {"C": 1.0}}], families, "binary")


def test_builtin_portfolio_is_valid_for_every_task():
    families = list(all_families().values())
    entries = load_portfolio("default")
    assert entries, "configs/portfolio.yaml lists the measured configurations"
    for task in ("binary", "multiclass", "regression"):
        points = portfolio_points(entries, families, task)
        assert all(len(p) > 1 for p in points)  # every entry sets something beyond its family
    assert load_portfolio(None) == []
    with pytest.raises(ValueError, match="'no-such.yaml' is not a file"):
        load_portfolio("no-such.yaml")


@pytest.mark.slow
def test_fit_evaluates_the_portfolio_before_tuning(small):
    X, y = small
    entries = [{"family": "knn", "params": {"n_neighbors": 15, "weights": "distance"}}]
    model = AutoML(time_budget=None, max_trials=4, search="random", families=["linear", "knn"], portfolio=entries,
                   random_state=0, cv=3, ensemble=False).fit(X, y)
    board = model.leaderboard_.sort_values("trial")
    assert board.family.tolist()[:3] == ["linear", "knn", "knn"]
    assert json.loads(board.params.iloc[2]) == {"n_neighbors": 15, "weights": "distance"}
    assert board.status.tolist()[2] == "ok"


def test_held_models_stay_within_their_bytes_the_best_and_the_newest_always():
    from automl.search.controller import models_to_hold

    mb = 2**20
    sizes = {0: 2 * mb, 1: 150 * mb, 2: 150 * mb, 3: 1 * mb, 4: 300 * mb, 9: 100 * mb}
    # the best (0), then what fits in 256 MB: 1 (150) fits, 2 does not, 3 does; the newest (9, not ranked yet) on
    # top, not pushing a ranked one out
    assert models_to_hold([0, 1, 2, 3], sizes, 256 * mb, newest=9) == {9, 0, 1, 3}
    assert models_to_hold([0, 1, 2, 9], sizes, 256 * mb, newest=5) == {5, 0, 1, 9}  # ranked: 9 fits after 1
    assert models_to_hold([4, 0, 3], sizes, 256 * mb, newest=9) == {9, 4}  # the best even over the budget, alone
    assert models_to_hold([0, 1, 2], {}, 256 * mb, newest=9) == {9, 0, 1, 2}  # sizes unknown: nothing is dropped


def test_second_moves_follow_the_first_moves_and_the_portfolio_once_with_the_left_out_defaults():
    """The first moves leave out every family but the strong one (the others predicted too dear); once it and its
    portfolio point started, the left-out defaults that fit by the corrected costs are enqueued, once."""
    from automl.data.schema import infer_schema
    from automl.metrics import get_metric
    from automl.models.registry import get_families
    from automl.search.controller import SECOND_MOVES, Problem, SearchController, SearchSettings
    from automl.search.planner import Deadline
    from automl.search.study import WAITING, point_of

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(400, 5)), columns=list("abcde"))
    schema, _ = infer_schema(frame)
    problem = Problem(schema=schema, task="binary", metric=get_metric(None, "binary"),
                      families=get_families(["lightgbm", "knn", "linear"], "binary"),
                      folds=[(np.arange(80, 400), np.arange(0, 80))], classes=np.array([0, 1]))
    portfolio = [{"family": "lightgbm", "params": {"num_leaves": 7}}, {"family": "knn", "params": {"n_neighbors": 15}}]
    controller = SearchController(problem, Deadline(600), SearchSettings(portfolio=portfolio))
    costs, families = controller.costs, {f.name: f for f in problem.families}
    # the first moves: the strong family alone, the weak ones predicted far dearer than the time; its portfolio point
    costs.ratios = {"lightgbm": [1.0], "knn": [1e6], "linear": [1e6]}
    study = optuna.create_study(direction="maximize")
    controller._enqueue_starting_points(study)
    first = [point_of(t) for t in study.get_trials(deepcopy=False)]
    assert [p["family"] for p in first] == ["lightgbm", "lightgbm"] and first[1]["lightgbm.num_leaves"] == 7
    for _ in first:
        controller._enqueue_second_moves(study)  # points still wait: nothing yet
        assert len(study.get_trials(deepcopy=False)) == len(first)
        trial = study.ask()
        trial.set_user_attr("family", "lightgbm")
        study.tell(trial, 0.8)
    costs.ratios = {"lightgbm": [1.0]}  # measured: the others are cheap after all
    controller._enqueue_second_moves(study)
    waiting = [point_of(t) for t in study.get_trials(deepcopy=False) if t.state == WAITING]
    # the left-out families' defaults (they fit in 600 s), cheapest first; no portfolio point of theirs
    assert [p["family"] for p in waiting] == sorted(["knn", "linear"], key=lambda n: costs.estimate(families[n]))
    assert all(p.get("knn.n_neighbors") != 15 for p in waiting)
    assert study.user_attrs[SECOND_MOVES]
    controller._enqueue_second_moves(study)  # once only
    assert len([t for t in study.get_trials(deepcopy=False) if t.state == WAITING]) == len(waiting)


def _study_written_by_another_space(url: str, distributions: dict) -> None:
    """A study as an earlier search left it: one finished trial that set ``distributions``'s parameters."""
    from optuna.distributions import CategoricalDistribution

    study = optuna.create_study(storage=url, study_name="s", direction="maximize")
    params = {name: d.choices[0] for name, d in distributions.items() if isinstance(d, CategoricalDistribution)}
    study.add_trial(optuna.trial.create_trial(value=0.7, params=params, distributions=distributions))


@pytest.mark.parametrize("recorded, named", [
    # another engine version: the synthesis choices before "primitives" was added
    ({"family": ["linear", "knn"], "linear.preprocess.synthesis": ["none", "frequency", "group_stats", "pairs"]},
     "'linear.preprocess.synthesis' over ['none', 'frequency', 'group_stats', 'pairs']"),
    # other families (or a library missing on the machine that resumes)
    ({"family": ["linear", "knn", "lightgbm"]}, "'family' over ['linear', 'knn', 'lightgbm']"),
])
def test_resuming_a_study_of_another_search_space_says_which_parameter(small, tmp_path, recorded, named):
    from optuna.distributions import CategoricalDistribution

    X, y = small
    url = f"sqlite:///{tmp_path}/s.db"
    _study_written_by_another_space(url, {n: CategoricalDistribution(c) for n, c in recorded.items()})
    with pytest.raises(ValueError, match=r"study 's' was searched with " + re.escape(named) + ".*use a new study_name"):
        AutoML(time_budget=None, max_trials=2, storage=url, study_name="s", families=["linear", "knn"], cv=3,
               random_state=0).fit(X, y)
    study = optuna.load_study(study_name="s", storage=url)
    assert len(study.trials) == 1  # stopped before any trial ran


def test_the_declared_space_is_what_trials_record(small):
    from automl.models.registry import get_families
    from automl.search.space import space_distributions

    X, y = small
    model = AutoML(time_budget=None, max_trials=4, families=["linear", "knn"], search="random", portfolio=None,
                   cv=3, random_state=0, ensemble=False).fit(X, y)
    space = space_distributions(get_families(["linear", "knn"], model.task_), model.task_, None)
    recorded = {name: d for t in model.study_.trials for name, d in t.distributions.items()}
    assert recorded and all(space[name] == d for name, d in recorded.items())


def test_a_dear_portfolio_entry_of_a_family_far_behind_is_left_out_with_its_reason():
    """Portfolio entries are marked on the study; one whose family's best trial is far behind the best and whose
    estimate is a large share of the time left is not started (a cheap one, or one of a family near the best, is)."""
    from automl.data.schema import infer_schema
    from automl.metrics import get_metric
    from automl.models.registry import get_families
    from automl.search.controller import Problem, SearchController, SearchSettings
    from automl.search.planner import Deadline
    from automl.search.portfolio import ENTRY

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(400, 5)), columns=list("abcde"))
    schema, _ = infer_schema(frame)
    problem = Problem(schema=schema, task="binary", metric=get_metric(None, "binary"),
                      families=get_families(["lightgbm", "knn"], "binary"),
                      folds=[(np.arange(80, 400), np.arange(0, 80))], classes=np.array([0, 1]))
    portfolio = [{"family": "knn", "params": {"n_neighbors": 15}}, {"family": "lightgbm", "params": {"num_leaves": 7}}]
    controller = SearchController(problem, Deadline(600), SearchSettings(portfolio=portfolio))
    study = optuna.create_study(direction="maximize")
    controller._enqueue_starting_points(study)
    marked = [bool(t.user_attrs.get(ENTRY)) for t in study.get_trials(deepcopy=False)]
    assert marked == [False, False, True, True]  # the two defaults, then the two entries
    for family, auc in (("lightgbm", 0.90), ("knn", 0.85)):  # knn: 0.15 error against 0.10, 50 % behind
        trial = study.ask()
        trial.set_user_attr("family", family)
        study.tell(trial, auc)
    why = controller._entry_left_out(study, "knn", estimate=5.0, available=30.0)
    assert "portfolio entry of knn" in why and "50 % behind the best (lightgbm)" in why and "5.0s of 30.0s" in why
    assert controller._entry_left_out(study, "knn", estimate=0.5, available=30.0) == ""  # cheap: tried
    assert controller._entry_left_out(study, "lightgbm", estimate=5.0, available=30.0) == ""  # the best family
    assert controller._entry_left_out(study, "linear", estimate=5.0, available=30.0) == ""  # nothing known of it
