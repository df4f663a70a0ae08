"""What a trial will cost on *this* data, before any trial ran: the time planner's prior, corrected by every
finished trial.

Each family's default fit + predict of one fold was measured on generated tables of growing size
(``benchmarks/cost_calibration.py``) and fitted as ``seconds = c * rows^a * width^b * classes^g * exp(r)``
(``configs/cost_model.yaml``): rows the fold trains on, columns after encoding, classes (1 for regression, whose
estimator is often another one, Ridge for LogisticRegression: ``r`` applies to regression alone), and a step for a
family's ``small_data`` or ``large_data`` rule where the rows reach it (LightGBM's default trial boosts 100 rounds
below 1,500 fold rows, and above them as many as early stopping keeps: at most 1,000 when this was calibrated, at
most 10,000 since, where a table's curve goes on falling that long; a forest's leaves are capped from 50,000 rows). A
trial costs its folds plus the process overhead. Once trials finished, their durations against these predictions
give a correction (the machine, the data): the median ratio of observed to predicted.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import yaml

from automl.models.registry import ModelFamily, config_path
from automl.pipeline.build import NATIVE_MAX_LEVELS, ONEHOT_MAX_CATEGORIES

# Columns a one-hot encoded category takes at most: the one-hot encoder's cap.
ONEHOT_WIDTH = ONEHOT_MAX_CATEGORIES
TEXT_WIDTH = 20
DATE_PARTS = 5
# A family without a calibration costs like this one (scaled by its declared cost relative to it).
REFERENCE_FAMILY = "lightgbm"
# The least a rung projection lets a fit grow with its rows: boosting's calibrated exponents are 0.27-0.55, but
# a projection too low kills a trial at its limit, losing the rung model it had.
ROWS_EXPONENT_MIN = 0.6


@dataclass(frozen=True)
class DataShape:
    """The size of a search, as the cost model reads it."""

    train_rows: float
    folds: int
    classes: int
    widths: dict[str, int]  # encoding (automl.pipeline.build.ENCODINGS) -> columns after encoding
    # the same for the columns of each synthesis plan of related tables or series (a trial reads its plan's only)
    plan_widths: dict[str, dict[str, int]] = field(default_factory=dict)
    bagging: bool = False  # the bagging families' trials are bags of fold models (their size rules may differ)

    @property
    def task(self) -> str:
        """``regression`` (one class), ``binary`` or ``multiclass``, as the classes say."""
        return "regression" if self.classes <= 1 else "binary" if self.classes == 2 else "multiclass"


def encoded_width(schema: Any, frame: Any = None, encode: str = "ordinal", levels: dict[str, int] | None = None,
                  classes: int = 1) -> int:
    """Columns the preprocessing makes for ``encode`` (numbers, date parts, text components, categories)."""
    width = len(schema.by_role("numeric", "boolean")) + DATE_PARTS * len(schema.by_role("datetime"))
    width += TEXT_WIDTH * len(schema.by_role("text"))
    for name in schema.by_role("categorical"):
        count = (levels or {}).get(name)
        if count is None and frame is not None and encode in ("onehot", "mixed", "onehot_target"):
            count = int(frame[name].nunique())
        if encode == "onehot" or encode == "onehot_target" and (count or 0) <= ONEHOT_WIDTH:
            width += min(int(count or ONEHOT_WIDTH), ONEHOT_WIDTH)
        elif encode in ("target", "onehot_target") or encode == "mixed" and (count or 0) > NATIVE_MAX_LEVELS:
            width += classes if classes > 2 else 1
        else:
            width += 1
    return max(width, 1)


@lru_cache(maxsize=4)
def _priors(path: str) -> dict[str, dict[str, float]]:
    raw = yaml.safe_load(Path(path).read_text()) if Path(path).is_file() else None
    return dict(raw or {})


def priors() -> dict[str, dict[str, float]]:
    """The calibrated coefficients per family (``configs/cost_model.yaml``)."""
    return _priors(str(config_path("cost_model.yaml")))


def predicted_log_seconds(coefficients: dict[str, float], rows: Any, width: Any, classes: Any,
                          regime: Any = None) -> Any:
    """``log(seconds)`` of one default fold by a family's calibrated ``coefficients``: ``rows`` training rows,
    ``width`` encoded columns, ``classes`` (1: regression), ``regime`` the size rule the rows reach (or None). Numbers
    or arrays alike (``regime``: an array of names, "" for none)."""
    steps = sum(coefficients.get(name, 0.0) * np.equal(regime, name) for name in ("small_data", "large_data"))
    return (coefficients["log_seconds"] + coefficients["rows"] * np.log(rows) + coefficients["width"] * np.log(width)
            + coefficients["classes"] * np.log(classes) + coefficients.get("regression", 0.0) * np.equal(classes, 1)
            + steps)


class CostModel:
    """Predicted seconds of a family's default trial on this data, corrected by finished trials.

    Parameters
    ----------
    shape : DataShape
    overhead : float
        Seconds every trial pays on top of its folds (process start, data transfer).
    """

    def __init__(self, shape: DataShape, overhead: float = 0.5):
        self.shape, self.overhead = shape, overhead
        self.ratios: dict[str, list[float]] = {}

    def fold_seconds(self, family: ModelFamily, plan: str | None = None) -> float:
        """One fold of the family's defaults: fit on the fold's training rows, predict its validation rows (reading
        the columns of synthesis ``plan`` when given)."""
        table = priors()
        widths = self.shape.plan_widths.get(plan or "", self.shape.widths)
        width = widths.get(str(family.needs.get("encode", "ordinal")), 1)
        coefficients = table.get(family.name)
        scale = 1.0
        if coefficients is None:  # not calibrated: like the reference family, scaled by the declared costs
            coefficients = table.get(REFERENCE_FAMILY)
            reference = family.cost / 3.0
            scale = max(reference, 0.1)
        if coefficients is None:
            return 0.0
        log_seconds = predicted_log_seconds(coefficients, max(self.shape.train_rows, 1.0), width,
                                            max(self.shape.classes, 1), family.size_regime(self.shape.train_rows, self.shape.bagging))
        return float(np.exp(log_seconds)) * scale

    def default_trial(self, family: ModelFamily, plan: str | None = None) -> float:
        """Seconds of the family's default trial (every fold, on synthesis ``plan``) before correction."""
        return self.shape.folds * self.fold_seconds(family, plan) + self.overhead

    def observe(self, family: str, predicted: float, seconds: float) -> None:
        """A finished trial of ``family`` took ``seconds`` where ``predicted`` was expected."""
        if predicted > 0 and seconds > 0:
            self.ratios.setdefault(family, []).append(seconds / predicted)

    def correction(self, family: str | None = None) -> float:
        """Observed over predicted: the family's own median ratio, else the median over every family (1 without
        any finished trial)."""
        own = self.ratios.get(family or "", [])
        if own:
            return float(np.median(own))
        every = [r for ratios in self.ratios.values() for r in ratios]
        return float(np.median(every)) if every else 1.0

    def estimate(self, family: ModelFamily, plan: str | None = None) -> float:
        """The corrected prediction of the family's default trial (on synthesis ``plan``)."""
        return self.default_trial(family, plan) * self.correction(family.name)

    @staticmethod
    def rows_exponent(family: str) -> float:
        """How a fit of ``family`` grows with its rows (seconds ~ rows ** exponent), from the calibration, kept in
        [ROWS_EXPONENT_MIN, 1]: 1 (linear) for a family not calibrated."""
        measured = priors().get(family, {}).get("rows", 1.0)
        return float(min(max(measured, ROWS_EXPONENT_MIN), 1.0))


# Where defaults are dear, only families at least this strong start with their defaults; the others are left to the
# sampler, whose trials the rungs prune cheaply (a 400k-row table: linear's defaults took 19 s for an AUC of 0.77,
# where a LightGBM trial stopped on its first rung takes 2 s).
STRONG = 0.8
# ... but the others whose defaults fit together in this share of the first moves' time start with them, however much
# the strong ones take (mfeat-factors, 60 s: LightGBM's and histogram boosting's priors, 14 and 18 s, filled the share
# and left out linear's 3.5 s, the best single family there; a second move came too late to start). Not on rungs
# (large data), where the sampler's weak trials are pruned cheaply.
CHEAP_SHARE = 0.25


def capped_on_rungs(family: ModelFamily, task: str) -> bool:
    """Whether on rungs a trial of ``family`` goes straight to the last rung, counting as at most its share of the
    time: a family whose fits end at their cap with the best so far (``capped_on_folds``: the network) and is strong
    on ``task`` (the network on a multiclass table). A weak one climbs the rungs, where the pruner stops it cheaply:
    straight on the last rung, the network's trials on the generated 400k-row regression table took 1.19 GB each,
    the fit's peak 1.57 -> 1.95 GB RSS, for the same score."""
    return family.capped_on_folds and family.strength_for(task) >= STRONG


def first_moves(families: Iterable[ModelFamily], model: CostModel, seconds_left: float, share: float,
                strong_first: bool = False) -> list:
    """The families whose defaults start the search, in order.

    Where every family's defaults are cheap (together within ``share`` of ``seconds_left``), all of them, cheapest
    first (their declared cost order); with ``strong_first`` (large data, trials on rungs), the strong ones first,
    strongest first, then the rest cheapest first: a long budget on a large table otherwise spends its first minutes
    on weak families (600 s on 300k rows: linear, then kNN for 163 s at 0.59 AUC, before LightGBM started), and the
    pruner has no good score to stop them by. Where they are dear, the strong ones (``strength`` >= :data:`STRONG`,
    on rungs the strength declared for the data's task) whose defaults fit in ``share`` of the time, then the
    others, cheapest first, while the running total still fits, or (without ``strong_first``) while theirs fits in
    :data:`CHEAP_SHARE` of it: one dear family (a network on 2,000 rows at 60 s) no longer pushes the cheap ones
    out, nor do the strong ones. In the declared order when the strong ones leave room for the others (as when every
    family fits), strongest first otherwise; when no strong family fits, the cheapest family alone. On rungs a strong
    family whose fits end at their cap with the best so far (:func:`capped_on_rungs`) counts as at most ``share`` of
    the time: it stops there.
    """
    families = list(families)
    budget = share * seconds_left
    # on rungs a strong family whose fits stop at the trial's cap with their best so far costs at most its share
    predicted = {f.name: min(model.estimate(f), budget) if strong_first and capped_on_rungs(f, model.shape.task)
                 else model.estimate(f) for f in families}
    # a strength declared per task is a prior of large tables, where the cap binds (boosting's rounds cost a tree per
    # class): on rungs; elsewhere the family's default
    task = model.shape.task if strong_first else "default"
    strength = {f.name: f.strength_for(task) for f in families}
    strongest = sorted((f for f in families if strength[f.name] >= STRONG),
                       key=lambda f: (-strength[f.name], predicted[f.name]))
    if sum(predicted.values()) <= budget:
        return strongest + [f for f in families if f not in strongest] if strong_first else families
    chosen = [f for f in strongest if predicted[f.name] <= budget]
    if not chosen:
        return [min(families, key=lambda f: predicted[f.name])]
    left = budget - sum(predicted[f.name] for f in chosen)
    kept = 0.0 if strong_first else CHEAP_SHARE * budget
    chosen += _take_while_fits([f for f in families if f not in chosen], lambda f: predicted[f.name],
                               max(left, kept))[0]
    return chosen if left < 0 or strong_first else [f for f in families if f in chosen]


def _take_while_fits(candidates: Iterable[ModelFamily], seconds: Callable[[ModelFamily], float],
                    room: float) -> tuple[list, float]:
    """The ``candidates``, in their order, that fit in what is left of ``room`` when each is reached (one that does
    not is passed over); and the room left."""
    taken = []
    for family in candidates:
        cost = seconds(family)
        if cost <= room:
            taken.append(family)
            room -= cost
    return taken, room


def second_moves(families: Iterable[ModelFamily], tried: set[str], estimate: Callable[[ModelFamily], float],
                 seconds_left: float, share: float) -> list:
    """The families no trial has tried (``first_moves`` left them out) whose defaults fit now: cheapest first, while
    their running total by ``estimate`` (the cost model corrected by the trials that finished) stays within
    ``share`` of ``seconds_left``.

    The first moves are chosen on the uncorrected prior, before any trial: on mfeat-factors (2,000 rows, 216 columns,
    10 classes, 60 s) it put LightGBM's defaults at 14 s, which took 2 s, and the strong families' 35 s left no room
    for kNN (0.7 s), the MLP (2.7 s) or the linear model, the best single family there.
    """
    untried = sorted((f for f in families if f.name not in tried), key=estimate)
    return _take_while_fits(untried, estimate, share * seconds_left)[0]
