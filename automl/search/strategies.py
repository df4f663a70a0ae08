"""Search strategies: which configurations are tried, in which order, with which sampler and pruner, and when a
strategy has nothing left to try.

A strategy first enqueues its starting points (each family's defaults, cheapest first, then the portfolio or,
for grid search, the grid); a strategy that ``samples`` then asks its Optuna sampler for more until the deadline,
one that does not is exhausted when its enqueued points are.
"""
from __future__ import annotations

import math
import warnings
from typing import Any

import optuna

from automl.models.registry import ModelFamily
from automl.search.space import grid_points, library_defaults, param_name


# successive halving keeps this share (its inverse) of the trials at each check
REDUCTION_FACTOR = 3


class Strategy:
    """One search strategy (the base class enqueues the defaults and the portfolio, then samples at random)."""

    name = "random"
    #: whether the strategy proposes configurations of its own after the enqueued ones
    samples = True

    def sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        """The Optuna sampler of the configurations after the enqueued ones."""
        return optuna.samplers.RandomSampler(seed=seed)

    def pruner(self, n_steps: int, rungs: bool = False) -> optuna.pruners.BasePruner:
        """Successive halving over a trial's ``n_steps`` steps, keeping a third: over folds, a configuration whose
        first folds rank in the bottom two thirds stops (checked after folds 2 and 4); over ``rungs`` (growing
        shares of the rows), checked at every rung but the last (:class:`RungHalving`)."""
        if n_steps < 3:
            return optuna.pruners.NopPruner()
        if rungs:
            return RungHalving(n_steps, REDUCTION_FACTOR)
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=REDUCTION_FACTOR,
                                                      min_early_stopping_rate=0)

    def initial_points(self, families: list[ModelFamily], task: str, class_weight_first: str | None,
                       portfolio: list[dict[str, Any]], train_rows: float = 0.0, bagging: bool = False
                       ) -> list[dict[str, Any]]:
        """Configurations to enqueue before sampling: each family's defaults (for ``train_rows`` training rows, in a
        fit that bags when ``bagging``),
        cheapest first (and, with ``class_weight_first``, a second default trial with that class weighting for
        families that take it: used when the classes are imbalanced); then the ``portfolio`` points, in their
        given order. Each family's ``default_variants`` (its default trial with some parameters changed) come
        after the defaults, before the portfolio."""
        defaults = {f.name: {"family": f.name, **library_defaults(f, task, train_rows, bagging)} for f in families}
        points: list[dict[str, Any]] = list(defaults.values())
        if class_weight_first:
            points += [{**defaults[f.name], param_name(f, "class_weight"): class_weight_first}
                       for f in families if f.accepts_class_weight(task)]
        points += [{**defaults[f.name], **{param_name(f, k): v for k, v in variant.items()}}
                   for f in families for variant in f.default_variants
                   if set(variant) <= set(f.space_for(task))]
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


class RungHalving(optuna.pruners.BasePruner):
    """Asynchronous successive halving with a rung at every step but the last, for trials that fit growing shares
    of the rows: a trial goes on from a step only when its score there ranks in the best ``1 / reduction_factor``
    of the scores all trials reported at that step (the best one while fewer than ``reduction_factor`` have).

    Optuna's :class:`~optuna.pruners.SuccessiveHalvingPruner` puts its rungs at steps 1, 3, 9, ...: over three
    row rungs (1/16, 1/4, all) it checks once, after the 1/4 rung, so a weak configuration costs the fits on
    1/16 and 1/4 of the rows. Here the first check comes after the 1/16 rung. A finished last step is never
    pruned: its model is whole.

    Parameters
    ----------
    n_steps : int
        Steps (rungs) of every trial.
    reduction_factor : int
        The share ``1 / reduction_factor`` of trials that go on at each rung.
    """

    def __init__(self, n_steps: int, reduction_factor: int = 3):
        self.n_steps, self.reduction_factor = n_steps, reduction_factor

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        step = trial.last_step
        if step is None or step >= self.n_steps - 1:
            return False
        value = trial.intermediate_values[step]
        if math.isnan(value):
            return True
        others = [t.intermediate_values[step] for t in study.get_trials(deepcopy=False)
                  if t.number != trial.number and step in t.intermediate_values]
        scores = sorted([v for v in others if not math.isnan(v)] + [value])
        kept = max(len(scores) // self.reduction_factor, 1)
        if study.direction == optuna.study.StudyDirection.MAXIMIZE:
            return value < scores[-kept]
        return value > scores[kept - 1]


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
                       portfolio: list[dict[str, Any]], train_rows: float = 0.0, bagging: bool = False
                       ) -> list[dict[str, Any]]:
        points = super().initial_points(families, task, class_weight_first, [], train_rows, bagging)
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
