"""Models and predictions held for the end of the search: in memory, or spilled to a temporary folder."""
from __future__ import annotations

import gc
import os

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import cloudpickle

from automl.search.held_models import HeldModels, SpilledModel, in_memory


def _model(seed: int) -> LogisticRegression:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(60, 3))
    return LogisticRegression().fit(X, X[:, 0] > 0)


def test_spilled_models_are_read_back_and_removed_with_the_store():
    store = HeldModels()
    store[1] = kept = _model(1)
    store.put(2, _model(2), spill=True)
    assert set(store) == {1, 2} and len(store) == 2 and 2 in store and 3 not in store
    assert store[1] is kept  # not copied
    read = store[2]
    assert np.array_equal(read.coef_, _model(2).coef_)
    folder = os.path.dirname(store._spilled[2])
    (name,) = os.listdir(folder)
    assert name.startswith("trial-2-") and name.endswith(".pkl")
    # the bytes of each spilled model's file (what the search counts against its cap); in-memory ones are not
    assert dict(store.spilled_bytes) == {2: os.path.getsize(os.path.join(folder, name))}
    store.put(2, _model(3), spill=True)  # a trial's model replaced
    assert np.array_equal(store[2].coef_, _model(3).coef_)
    del store[2]
    assert os.listdir(folder) == [] and set(store) == {1} and not store.spilled_bytes
    store.put(4, _model(4), spill=True)
    del store
    gc.collect()
    assert not os.path.exists(folder)


def test_a_model_its_trial_process_wrote_is_held_where_it_lies_or_read_once():
    """A :class:`SpilledModel` in the store's folder is held by its path (not read, not written again); one held in
    memory, or taken by ``in_memory``, is read and its file removed; ``discard`` removes a model not kept."""
    store = HeldModels()
    path = store.new_path(5)
    assert not os.path.exists(path) and os.path.basename(path).startswith("trial-5-")
    with open(path, "wb") as f:
        cloudpickle.dump(_model(5), f)
    stamp = os.stat(path).st_mtime_ns
    store.put(5, SpilledModel(path), spill=True)
    assert store._spilled[5] == path and os.listdir(os.path.dirname(path)) == [os.path.basename(path)]
    assert os.stat(path).st_mtime_ns == stamp and np.array_equal(store[5].coef_, _model(5).coef_)
    second = store.new_path(6)
    assert second != store.new_path(6)  # every name is new
    with open(second, "wb") as f:
        cloudpickle.dump(_model(6), f)
    store.put(6, SpilledModel(second), spill=False)  # held in memory: read, its file gone
    assert not os.path.exists(second) and np.array_equal(store[6].coef_, _model(6).coef_)
    third = store.new_path(7)
    with open(third, "wb") as f:
        cloudpickle.dump(_model(7), f)
    assert np.array_equal(in_memory(SpilledModel(third)).coef_, _model(7).coef_) and not os.path.exists(third)
    fourth = store.new_path(8)
    with open(fourth, "wb") as f:
        cloudpickle.dump(_model(8), f)
    SpilledModel(fourth).discard()
    assert not os.path.exists(fourth)
    assert in_memory(store[5]) is not None and in_memory("as it is") == "as it is"


def test_on_rungs_the_held_models_are_spilled_and_the_final_model_reads_them(credit, monkeypatch):
    from automl import AutoML
    from automl.search import planner

    monkeypatch.setattr(planner, "RUNG_MIN_ROWS", 50)  # credit-g's 800 holdout training rows climb three rungs
    puts: list[bool] = []
    folders: list[str] = []
    files: list[bool] = []
    put = HeldModels.put

    def spy(self: HeldModels, number: int, model: object, spill: bool) -> None:
        puts.append(spill and isinstance(model, SpilledModel))  # written by its trial process, held where it lies
        put(self, number, model, spill)
        folders.append(self._folder)
        files.append(len(os.listdir(self._folder)) == len(self._spilled))

    monkeypatch.setattr(HeldModels, "put", spy)
    X, y = credit
    model = AutoML(time_budget=None, max_trials=3, search="defaults",
                   families=["lightgbm", "linear", "hist_gradient_boosting"],
                   cv="holdout", portfolio=None, random_state=0).fit(X, y)
    assert puts and all(puts)  # the first finished trial is the fallback; the later ones are held, on disk
    assert all(files)  # every file in the folder is a held model: none written twice, none left behind
    board = model.leaderboard_
    assert (board.loc[board.family != "ensemble", "status"] == "ok").all()
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), 2) and np.allclose(proba.sum(axis=1), 1.0)
    assert model.best_family_ == "ensemble"  # its members beside the fallback were read back from disk
    gc.collect()
    assert folders and not os.path.exists(folders[-1])  # the spill folder went with the search


@pytest.mark.slow
def test_the_search_keeps_out_of_fold_predictions_only_for_its_ensemble_candidates(credit, monkeypatch):
    """Out-of-fold predictions are rows x classes floats per trial: kept for the trials ensemble selection can
    pick (and the fallback), dropped for the rest and for trials that did not finish ok."""
    from automl import AutoML
    from automl.search import ensemble
    from automl.search.controller import SearchController

    monkeypatch.setattr(ensemble, "MAX_CANDIDATES", 3)  # what the search reads (fewer than the ok trials)
    outcomes = []
    run = SearchController.run

    def spy(self: SearchController, *args: object, **kwargs: object) -> object:
        outcomes.append(run(self, *args, **kwargs))
        return outcomes[-1]

    monkeypatch.setattr(SearchController, "run", spy)
    X, y = credit
    model = AutoML(time_budget=None, max_trials=14, search="random", families=["linear"], cv=3,
                   random_state=0).fit(X, y)
    results = outcomes[0].results
    ok = [n for n, r in results.items() if r.status == "ok"]
    assert len(ok) > 3 + 1  # more than can be kept
    kept = {n for n, r in results.items() if r.oof is not None}
    assert kept <= set(ok) and 3 <= len(kept) <= 3 + 1
    board = model.leaderboard_
    best = board[(board.status == "ok") & (board.family != "ensemble")].trial.iloc[0]
    assert best in kept  # the best trial's predictions are still there for the final model
    assert model.predict_proba(X.head(5)).shape == (5, 2)
