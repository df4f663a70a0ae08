"""Threads at prediction time.

scikit-learn's forests predict through joblib with their ``n_jobs`` threads. For the batches a served model
sees, starting the threads costs more than they save: an ExtraTrees of 100 trees answers one row in 23 ms
with 2 threads and in 5 ms with one, 1,000 rows in 22 ms against 15 ms, and only from some 20,000 rows do
2 threads pay (44 ms against 50 ms; credit-g, 2 cores). The fitted pipeline therefore predicts with one.
"""
from __future__ import annotations

from typing import Any

from sklearn.base import BaseEstimator
from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor, RandomForestClassifier, RandomForestRegressor

FORESTS = (ExtraTreesClassifier, ExtraTreesRegressor, RandomForestClassifier, RandomForestRegressor)


def predict_single_threaded(estimator: Any) -> Any:
    """Set ``n_jobs=1`` on every fitted forest inside ``estimator`` (pipelines, wrappers, ensembles); returns it.

    Only prediction is affected: the forests are already fitted, and ``n_jobs`` is read again by a refit.
    """
    for forest in _nested(estimator, set()):
        if isinstance(forest, FORESTS):
            forest.n_jobs = 1
    return estimator


def _nested(obj: Any, seen: set[int]) -> list[Any]:
    """``obj`` and every estimator reachable through its attributes, lists and tuples (each once)."""
    if id(obj) in seen:
        return []
    seen.add(id(obj))
    if isinstance(obj, (list, tuple)):
        return [found for item in obj for found in _nested(item, seen)]
    if not isinstance(obj, BaseEstimator):
        return []
    found = [obj]
    for value in vars(obj).values():
        if isinstance(value, (BaseEstimator, list, tuple)):
            found.extend(_nested(value, seen))
    return found
