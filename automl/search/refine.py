"""Refinement: the leading configurations tried again with each single-table synthesis plan, kept only when the
plan pays more than the noise of the folds.

Synthesis is not a dimension the sampler draws from the first trial on: searched that way, trials spent on
synthesis variants are trials the search does not spend elsewhere, and a paired run over the suite lost on as
many datasets as it won, mostly with final models that held no synthesised feature. Here the base search is the
same as with synthesis off (a family option declared ``refine: true`` in ``configs/families.yaml`` is never
sampled), and in its last part (:meth:`automl.search.planner.TimePlanner.refining`: a quarter of the search, more
when the leading configuration's twins need it) the best configuration of each of the :data:`PARENTS` leading
families is enqueued again with each plan that builds something on this table: a *twin*, evaluated on the same
folds with the same seed, so the difference of their fold scores is what the plan adds. Only twins estimated to
finish in the time left are enqueued (a family whose twins do not fit gives way to the next). A twin is kept (it
may be chosen and ensembled) when it is better on the mean of those paired differences by more than their
standard error; otherwise it is recorded as ``rejected`` with the figures, and left out of the ranking. On one holdout
fold (larger tables) the noise comes from the validation rows instead: the twin's and its parent's predictions of the
same rows, resampled together (:func:`holdout_verdict`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import optuna

from automl.data.schema import Schema
from automl.metrics import Metric, bootstrap, score_predictions
from automl.models.registry import ModelFamily
from automl.pipeline.build import synthesis_plans
from automl.search.planner import TRIAL_SHARE
from automl.search.space import param_name
from automl.search.study import REJECTED, point_of

# The source of a twin trial (its user attribute "source"), and the attribute naming its parent trial.
REFINEMENT = "refinement"
PARENT = "parent"
# The option refined, and how many of the leading families (best configuration each) get twins.
OPTION = "synthesis"
PARENTS = 2
# A twin is compared with its parent over this many folds or more, or on one holdout fold (by resampling its rows).
MIN_FOLDS = 3
# Resamples of the holdout rows that measure the noise of a twin's gain there, and the most rows each holds (the
# standard error of a gain shrinks as one over the square root of the rows: it is scaled back to all of them).
BOOTSTRAP_ROUNDS = 100
BOOTSTRAP_ROWS = 20_000
BOOTSTRAP_SEED = 0
# A twin is estimated at this many times its family's trials (it builds more features; sick, 30 s: a 1.4 s
# HistGradientBoosting configuration took 2.1 s with frequency encoding).
TWIN_COST = 1.5


@dataclass(frozen=True)
class Verdict:
    """Whether a twin is kept, and why (the text goes to the leaderboard's ``error`` column)."""

    kept: bool
    reason: str


@dataclass(frozen=True)
class Twins:
    """The twins of one parent: its trial number, its family, and one point per refined plan."""

    parent: int
    family: str
    points: list[dict[str, Any]]


def twin_groups(ranked: list[optuna.trial.FrozenTrial], trials: list[optuna.trial.FrozenTrial],
                families: list[ModelFamily], schema: Schema) -> tuple[int, list[Twins]]:
    """How many parents have twins already, and the twins of every other possible parent, best first: the best base
    configuration of each family (one twin per refined plan that builds something on ``schema``).

    Parameters
    ----------
    ranked : list of FrozenTrial
        The kept complete trials, best first.
    trials : list of FrozenTrial
        Every trial of the study (to see which parents have twins already).
    """
    by_name = {f.name: f for f in families}
    buildable = set(synthesis_plans(schema))
    twinned = {t.user_attrs.get(PARENT) for t in trials if t.user_attrs.get("source") == REFINEMENT}
    heads: dict[str, optuna.trial.FrozenTrial] = {}
    for trial in ranked:
        family = by_name.get(str(trial.user_attrs.get("family")))
        if family is not None and family.name not in heads and trial.user_attrs.get("source") != REFINEMENT:
            heads[family.name] = trial
    groups = []
    for name, parent in heads.items():
        decl = by_name[name].preprocess.get(OPTION) or {}
        if parent.number in twinned or not decl.get("refine"):
            continue
        option = param_name(by_name[name], f"preprocess.{OPTION}")
        base = point_of(parent)
        points = [{**base, option: plan} for plan in list(decl.get("choice") or [])[1:] if plan in buildable]
        if points:
            groups.append(Twins(parent.number, name, points))
    return len(twinned - {None}), groups


def affordable(groups: list[Twins], seconds_of: Callable[[str], float], left: float,
               twinned: int) -> list[tuple[int, dict[str, Any]]]:
    """The twins to enqueue now, as ``(parent, point)``: for parents in rank order, until :data:`PARENTS` have twins,
    as many of a parent's twins as are estimated to finish in the ``left`` seconds (a twin costs what its family's
    trials do, ``seconds_of(family)``; each parent's take comes off what the next may use). A parent none of whose
    twins fits is passed over for the next, cheaper family."""
    chosen: list[tuple[int, dict[str, Any]]] = []
    for group in groups:
        if twinned >= PARENTS:
            break
        each = twin_seconds(group, seconds_of)
        count = len(group.points) if each == 0.0 or np.isinf(left) else min(len(group.points), int(left // each))
        if count == 0:
            continue
        chosen += [(group.parent, point) for point in group.points[:count]]
        left -= count * each
        twinned += 1
    return chosen


def seconds_needed(group: Twins, seconds_of: Callable[[str], float]) -> float:
    """The time left at which refining ``group`` should be decided: enough for its twins after the trial that may
    start just before, which may take up to its share of what is left (:data:`~automl.search.planner.TRIAL_SHARE`;
    sick at 30 s: an 8 s extra-trees trial started with 13.5 s left, leaving 5 s for 6 s of twins)."""
    return len(group.points) * twin_seconds(group, seconds_of) / (1.0 - TRIAL_SHARE)


def twin_seconds(group: Twins, seconds_of: Callable[[str], float]) -> float:
    """What one twin of ``group`` is estimated to take: :data:`TWIN_COST` times its family's trials."""
    return TWIN_COST * max(float(seconds_of(group.family)), 0.0)


def verdict(parent: optuna.trial.FrozenTrial, twin_scores: list[float], greater_is_better: bool) -> Verdict:
    """Whether a twin with fold scores ``twin_scores`` beats ``parent`` on the same folds by more than the noise:
    the mean of the paired differences above their standard error (and above zero)."""
    parent_scores = parent.user_attrs.get("fold_scores") or []
    if len(parent_scores) != len(twin_scores) or len(twin_scores) < MIN_FOLDS:
        return Verdict(False, f"not compared with trial {parent.number}: {len(twin_scores)} fold scores against "
                              f"{len(parent_scores)}")
    sign = 1.0 if greater_is_better else -1.0
    gains = sign * (np.asarray(twin_scores, dtype=float) - np.asarray(parent_scores, dtype=float))
    gain, noise = float(np.mean(gains)), float(np.std(gains, ddof=1) / np.sqrt(len(gains)))
    return _judged(gain, noise, f"mean gain {gain:.4g} over trial {parent.number} on the same folds, standard error "
                                f"{noise:.2g}")


def _judged(gain: float, noise: float, figures: str) -> Verdict:
    """Kept when ``gain`` is above zero and above its standard error ``noise``; ``figures`` say both."""
    if gain > noise and gain > 0:
        return Verdict(True, f"kept: {figures}")
    return Verdict(False, f"{REJECTED}: {figures}; the plan does not pay more than the noise")


def refinable(n_folds: int) -> bool:
    """Whether twins can be judged on ``n_folds`` folds: over :data:`MIN_FOLDS` or more, or one holdout."""
    return n_folds == 1 or n_folds >= MIN_FOLDS


def holdout_verdict(parent: int, metric: Metric, y: np.ndarray, parent_pred: np.ndarray, twin_pred: np.ndarray,
                    sample_weight: np.ndarray | None = None, classes: np.ndarray | None = None) -> Verdict:
    """Whether a twin beats trial ``parent`` on the one holdout fold by more than the noise of its rows: the gain on
    all of them (``y``, with both trials' predictions of the same rows) above the standard deviation of the gain over
    :data:`BOOTSTRAP_ROUNDS` resamples of the rows drawn for both at once (and above zero)."""
    if metric.func is None:
        return Verdict(False, f"not compared with trial {parent}: a scorer needs the models, not their predictions")
    sign = 1.0 if metric.greater_is_better else -1.0

    def gain(rows: np.ndarray) -> float:
        weights = None if sample_weight is None else sample_weight[rows]
        return sign * (score_predictions(metric, y[rows], twin_pred[rows], weights, classes)
                       - score_predictions(metric, y[rows], parent_pred[rows], weights, classes))

    rng = np.random.default_rng(BOOTSTRAP_SEED)
    subset = np.sort(rng.choice(len(y), BOOTSTRAP_ROWS, replace=False)) if len(y) > BOOTSTRAP_ROWS else np.arange(len(y))
    resampled = bootstrap(lambda rows: gain(subset[rows]), len(subset), BOOTSTRAP_ROUNDS, BOOTSTRAP_SEED)
    total = gain(np.arange(len(y)))
    noise = (float(np.std(resampled, ddof=1) * np.sqrt(len(subset) / len(y))) if len(resampled) > 1
             else float("inf"))
    return _judged(total, noise, f"gain {total:.4g} over trial {parent} on the same holdout rows, standard error "
                                 f"{noise:.2g} ({len(resampled)} resamples of them)")
