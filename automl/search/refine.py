"""Refinement: the leading configurations tried again with each single-table synthesis plan, kept only when the
plan pays more than the noise of the folds.

Synthesis is not a dimension the sampler draws from the first trial on: searched that way, trials spent on
synthesis variants are trials the search does not spend elsewhere, and a paired run over the suite lost on as
many datasets as it won, mostly with final models that held no synthesised feature. Here the base search is the
same as with synthesis off (a family option declared ``refine: true`` in ``configs/families.yaml`` is never
sampled), and in its last part (:meth:`automl.search.planner.TimePlanner.refining`) the best configuration of
each leading family is enqueued again with each plan that builds something on this table: a *twin*, evaluated on
the same folds with the same seed, so the difference of their fold scores is what the plan adds. A twin is kept
(it may be chosen and ensembled) when it is better on the mean of those paired differences by more than their
standard error; otherwise it is recorded as ``rejected`` with the figures, and left out of the ranking.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna

from automl.data.schema import Schema
from automl.models.registry import ModelFamily
from automl.pipeline.build import synthesis_plans
from automl.search.space import param_name
from automl.search.study import REJECTED, point_of

# The source of a twin trial (its user attribute "source"), and the attribute naming its parent trial.
REFINEMENT = "refinement"
PARENT = "parent"
# The option refined, and how many of the leading families (best configuration each) get twins.
OPTION = "synthesis"
PARENTS = 2
# A twin is compared with its parent only over this many folds or more (one holdout fold has no noise estimate).
MIN_FOLDS = 3


@dataclass(frozen=True)
class Verdict:
    """Whether a twin is kept, and why (the text goes to the leaderboard's ``error`` column)."""

    kept: bool
    reason: str


def twin_points(ranked: list[optuna.trial.FrozenTrial], trials: list[optuna.trial.FrozenTrial],
                families: list[ModelFamily], schema: Schema) -> list[tuple[int, dict[str, Any]]]:
    """The twins to enqueue now: ``(parent trial number, point)`` for the best base configuration of each of the
    :data:`PARENTS` leading families, one per refined plan that builds something on ``schema``, for parents that
    have none yet.

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
        if len(heads) == PARENTS:
            break
    points = []
    for name, parent in heads.items():
        decl = by_name[name].preprocess.get(OPTION) or {}
        if parent.number in twinned or not decl.get("refine"):
            continue
        option = param_name(by_name[name], f"preprocess.{OPTION}")
        base = point_of(parent)
        for plan in list(decl.get("choice") or [])[1:]:
            if plan in buildable:
                points.append((parent.number, {**base, option: plan}))
    return points


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
    figures = f"mean gain {gain:.4g} over trial {parent.number} on the same folds, standard error {noise:.2g}"
    if gain > noise and gain > 0:
        return Verdict(True, f"kept: {figures}")
    return Verdict(False, f"{REJECTED}: {figures}; the plan does not pay more than the noise")
