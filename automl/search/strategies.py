"""Search strategies: which configurations are tried, in which order, with which sampler and pruner, and when a
strategy has nothing left to try.

A strategy first enqueues its starting points (each family's defaults, cheapest first, then the portfolio or,
for grid search, the grid); a strategy that ``samples`` then asks its Optuna sampler for more until the deadline,
one that does not is exhausted when its enqueued points are.
"""
from __future__ import annotations

import warnings
from typing import Any

import optuna

from automl.models.registry import ModelFamily
from automl.search.space import grid_points, library_defaults, param_name


class Strategy:
    """One search strategy (the base class enqueues the defaults and the portfolio, then samples at random)."""

    name = "random"
    #: whether the strategy proposes configurations of its own after the enqueued ones
    samples = True

    def sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        """The Optuna sampler of the configurations after the enqueued ones."""
        return optuna.samplers.RandomSampler(seed=seed)

    def pruner(self, n_folds: int) -> optuna.pruners.BasePruner:
        """Successive halving over folds: a configuration whose first folds rank in the bottom two thirds stops."""
        if n_folds < 3:
            return optuna.pruners.NopPruner()
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3, min_early_stopping_rate=0)

    def initial_points(self, families: list[ModelFamily], task: str, class_weight_first: str | None,
                       portfolio: list[dict[str, Any]], train_rows: float = 0.0) -> list[dict[str, Any]]:
        """Configurations to enqueue before sampling: each family's defaults (for ``train_rows`` training rows),
        cheapest first (and, with ``class_weight_first``, a second default trial with that class weighting for
        families that take it: used when the classes are imbalanced); then the ``portfolio`` points, in their
        given order."""
        points: list[dict[str, Any]] = [{"family": f.name, **library_defaults(f, task, train_rows)} for f in families]
        if class_weight_first:
            points += [{"family": f.name, **library_defaults(f, task, train_rows),
                        param_name(f, "class_weight"): class_weight_first}
                       for f in families if f.accepts_class_weight(task)]
        return points + list(portfolio)

    def exhausted(self, study: optuna.Study) -> bool:
        """Whether nothing is left to try (never, for a strategy that samples)."""
        if self.samples:
            return False
        return not study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,))

    def accepts(self, fixed: list[str] | None) -> bool:
        """Whether a trial the study handed out is one to run: one that does not sample runs enqueued points only
        (``fixed`` is None when another worker took the last one and the sampler made this one up)."""
        return self.samples or fixed is not None


class Random(Strategy):
    """Random search after the defaults and the portfolio."""


class Bayes(Strategy):
    """TPE after the defaults and the portfolio (multivariate, grouped for the conditional space)."""

    name = "bayes"

    def sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, n_startup_trials=10,
                                              constant_liar=True)


class Defaults(Strategy):
    """The defaults and the portfolio only: no tuning."""

    name = "defaults"
    samples = False


class Grid(Strategy):
    """Every grid point of every family (declared as ``grid`` in ``configs/families.yaml``) after the defaults,
    instead of the portfolio."""

    name = "grid"
    samples = False

    def initial_points(self, families: list[ModelFamily], task: str, class_weight_first: str | None,
                       portfolio: list[dict[str, Any]], train_rows: float = 0.0) -> list[dict[str, Any]]:
        points = super().initial_points(families, task, class_weight_first, [], train_rows)
        return points + [{"family": f.name, **point} for f in families for point in grid_points(f, task)]


STRATEGIES: dict[str, type[Strategy]] = {s.name: s for s in (Bayes, Random, Grid, Defaults)}
SEARCHES = tuple(STRATEGIES)


def get_strategy(name: str) -> Strategy:
    """The strategy called ``name`` (one of :data:`SEARCHES`).

    Raises
    ------
    ValueError
        For an unknown name.
    """
    if name not in STRATEGIES:
        raise ValueError(f"search must be one of {SEARCHES}, got {name!r}")
    return STRATEGIES[name]()
