"""Search strategies: which configurations are tried, in which order, with which sampler and pruner."""
from __future__ import annotations

import warnings
from typing import Any

import optuna

from automl.models.registry import ModelFamily
from automl.search.space import grid_points, library_defaults, param_name

SEARCHES = ("defaults", "bayes", "random", "grid")


def make_sampler(search: str, seed: int) -> optuna.samplers.BaseSampler:
    """TPE for ``bayes`` (multivariate, grouped for the conditional space), random otherwise.

    Grid search enqueues its points (see :func:`initial_points`) and samples nothing itself.
    """
    if search not in SEARCHES:
        raise ValueError(f"search must be one of {SEARCHES}, got {search!r}")
    if search == "bayes":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, n_startup_trials=10,
                                              constant_liar=True)
    return optuna.samplers.RandomSampler(seed=seed)


def make_pruner(n_folds: int) -> optuna.pruners.BasePruner:
    """Successive halving over folds: a configuration whose first folds rank in the bottom two thirds stops."""
    if n_folds < 3:
        return optuna.pruners.NopPruner()
    return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3, min_early_stopping_rate=0)


def initial_points(search: str, families: list[ModelFamily], task: str,
                   class_weight_first: str | None, portfolio: list[dict[str, Any]] | None = None) -> list[dict]:
    """Configurations to enqueue before sampling: each family's defaults, cheapest first; then the
    ``portfolio`` points (:func:`automl.search.portfolio.portfolio_points`), in their given order, or, for
    grid search, every grid point instead.

    ``class_weight_first`` adds a second default trial with that class weighting for families that take it
    (used when the classes are imbalanced).
    """
    points: list[dict] = []
    for family in families:
        points.append({"family": family.name, **library_defaults(family, task)})
    if class_weight_first:
        for family in families:
            if family.accepts_class_weight(task):
                points.append({"family": family.name, **library_defaults(family, task),
                               param_name(family, "class_weight"): class_weight_first})
    if search != "grid":
        points.extend(portfolio or [])
        return points
    for family in families:
        points.extend({"family": family.name, **point} for point in grid_points(family, task))
    return points
