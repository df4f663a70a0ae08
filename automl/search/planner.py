"""Time: one deadline for a whole command, and every margin, share, estimate and start / skip / stop rule.

This module is the one home of time policy. The controller asks :class:`TimePlanner` whether a trial may
start, until when it may run, whether its first folds show it cannot finish, and how much time the final
refit needs; feature synthesis, the choice of folds and the CLI ask the functions at the bottom. Nothing here
starts a process or reads a study, so every rule is testable with numbers alone.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

# -- the whole fit -------------------------------------------------------------------------------------------
# Seconds kept free at the end of fit for building the leaderboard and returning.
END_MARGIN = 0.3
# Time to kill a trial's process and record it, so the refit reserve is still whole afterwards.
KILL_SLACK = 0.25
# A stopped trial's process gets this long to clean up after SIGTERM before SIGKILL.
TERMINATE_GRACE = 0.2

# -- trials --------------------------------------------------------------------------------------------------
# A trial is not started with less than this many seconds before its deadline.
MIN_TRIAL_SECONDS = 0.5
# No trial may take more than this share of the time left when it starts, so one slow or hanging
# configuration cannot starve the families after it.
TRIAL_SHARE = 0.5
# ... except, on rungs (large data), the trial that gives the fallback model (the first to start, while none has
# ended): it may take this share. On large data a boosting default's score is bounded by the rounds its time buys,
# its fits end at their cap with a model, and every trial after it gets a smaller share, so none could boost more
# rounds; a share is a limit, not a reservation, so a fit that converges (early stopping) leaves the time to the
# others. The generated 1M-row 4-class table at 120 s (600k training rows, one holdout): with half the time, LightGBM's
# default, its rounds cut by its caps, scored test log loss 1.0745 (LightGBM's own defaults on every training row:
# 1.0701); with 3/4, 1.0540 (51 rounds on the full rung); outside the search the same pipeline scores 1.054 after 50
# rounds, 1.026 after 100 and 1.015 after 200.
FALLBACK_SHARE = 0.75
# This many skipped trials in a row (each estimated not to fit) end the search: a safety net, since a skip
# redirects the next trial to a family that fits.
MAX_SKIPS_IN_A_ROW = 5
# While a trial's first fold runs, this much of its time (besides the process overhead) is taken as one-off set-up
# (importing the family's library in the trial process: torch 1.2 s here), not as fitting, when projecting how long
# its folds take (TimePlanner.in_flight_overrun).
FIRST_STEP_SETUP = 2.0

# The last share of the search (of its time, or of max_trials) refines the leading configurations: each is tried
# again with each single-table synthesis plan (automl/search/refine.py). Before it, the search is the same as with
# synthesis off.
REFINE_SHARE = 0.25
# ... or, when the leading configuration's twins are estimated to need more, that much, up to this share.
REFINE_MAX_SHARE = 0.5

# -- large data: row-subsample rungs ----------------------------------------------------------------------------
# With one holdout fold of at least RUNG_MIN_ROWS * RUNG_FACTOR training rows, a trial fits growing nested
# subsamples (a share 1 / RUNG_FACTOR of the next, the smallest at least RUNG_MIN_ROWS rows) and the pruner
# stops poor configurations on the small ones: a large table gets tens of configurations, not four.
RUNG_MIN_ROWS = 10_000
RUNG_FACTOR = 4

# -- the final refit -----------------------------------------------------------------------------------------
# Process start and data transfer added to every refit estimate, until it is measured on this data (a child
# started, handed the data, heard back: TimePlanner.measured_overhead); then that, with a margin.
REFIT_OVERHEAD = 0.5
OVERHEAD_MARGIN = 1.5
# A refit on all rows is estimated as one fold's fit scaled to the rows, times this safety factor.
REFIT_SAFETY = 1.2
# Refit time is reserved for this many of the best trials when ensembling (weights concentrate on few).
ENSEMBLE_RESERVE = 3
# ... but not for a member other than the best whose refit would take more than this share of the budget: the search
# ends once the time left is down to the reserve, and a member that dear is dropped when its refit does not fit in the
# time left at the end. fried (30,576 search rows, one holdout fold, 60 s): the torch network finished at 35 s, second
# best, its refit estimated at ~30 s; the search stopped at once, the network was dropped all the same, and the fit
# ended at 38 s.
MEMBER_RESERVE_SHARE = 0.25

# A portfolio entry is not started when its family's best trial so far is more than ENTRY_BEHIND behind the best trial
# (relative error: portfolio.behind_best) and its estimate is more than ENTRY_DEAR_SHARE of the time to the trial
# deadline: the time goes to the families the first moves left out and to tuning. Read off the extra collection at
# 60 s (stop 49, benchmarks/portfolio_entries.py): forest entries of families 12-26 % behind took 4-11 s each and
# never made the final model (hotel_daily_rate, bikeshare_hourly, gss_real_income, storm_wind_speed); a CatBoost
# entry 9.9 % behind did (storm), and cheap entries of a family far behind sometimes win (leaf_flavia_species: an
# extra-trees entry of 1-3 s, its default 196 % behind, 0.37 of the final model). A/B at 60 s (stop 50,
# ab_entries_left_out_*): the extra collection a wash (hotel_daily_rate -2.4 % / -2.1 % / +0.5 %: the freed time
# went to families of no use there), the suite +1.04 % mean, pol +21 % / +31 % / +32 % on three seeds (the torch
# network then runs).
ENTRY_BEHIND = 0.10
ENTRY_DEAR_SHARE = 0.05

# -- before the search ---------------------------------------------------------------------------------------
# Share of the time left that feature synthesis may use; the search and the refit get the rest.
SYNTHESIS_SHARE = 0.35
# When even the cheapest synthesis is estimated to need more than this share of the time left, fit stops
# with an error instead of overrunning the budget.
SYNTHESIS_LIMIT = 0.8
# Below this many seconds left when the folds are made, automatic validation uses at most FEW_FOLDS folds.
FEW_FOLDS_BELOW = 20.0
FEW_FOLDS = 3
# The budget automatic validation's rule by rows is made for; a longer one buys more folds (budget_scale)
DEFAULT_BUDGET = 60.0
# bagging="auto" keeps the fold models of a cross-validation with at least this many folds (small data)
BAG_MIN_FOLDS = 5
# stacking="auto" runs a second level over bagged trials with at least this many folds (a long budget's small data)
STACK_MIN_FOLDS = 8
# The CLI keeps this much (plus SAVE_SHARE of the budget) for writing the model folder: the skops dump of
# large forests takes a second or two.
SAVE_RESERVE = 1.0
SAVE_SHARE = 0.03
# parallel_trials="auto" runs at most this many trials at once (each trial process holds its own imported libraries,
# ~0.2 GB, and its copy of the rows it fits)
MAX_AUTO_SLOTS = 8


@dataclass
class Deadline:
    """A point in time (``time.monotonic`` clock) that nothing may run past.

    Parameters
    ----------
    seconds : float or None
        Time budget from ``start``. ``None`` means no limit (``remaining`` is infinite).
    start : float, optional
        ``time.monotonic()`` instant the budget counts from (default: now).
    """

    seconds: float | None
    start: float = field(default_factory=time.monotonic)

    @property
    def at(self) -> float:
        """Monotonic time at which the budget runs out (``inf`` without a budget)."""
        return float("inf") if self.seconds is None else self.start + self.seconds

    def elapsed(self) -> float:
        """Seconds since the deadline was set."""
        return time.monotonic() - self.start

    def remaining(self) -> float:
        """Seconds left, never negative (``inf`` without a budget)."""
        return max(0.0, self.at - time.monotonic())

    def expired(self) -> bool:
        """Whether the budget is used up."""
        return self.remaining() <= 0.0


@dataclass(frozen=True)
class TrialCost:
    """What the planner learns from one finished trial.

    Attributes
    ----------
    family : str
    seconds : float
        Its wall time; for a trial stopped because its first folds projected past its limit, that projection.
    complete : bool
        Whether it finished all its folds (``False``: it was stopped at its limit, so ``seconds`` is a lower
        bound of what the family costs).
    mean_fold_fit : float or None
        Mean seconds of one fold's fit (what a refit on all rows is estimated from).
    plan : str or None
        The synthesis plan of related tables or series whose columns it read (``None``: no such plans): a family
        costs what it costs per plan (on 2,237 tsfresh features a trial is stopped where on 80 raw values it fits).
    """

    family: str
    seconds: float
    complete: bool
    mean_fold_fit: float | None = None
    plan: str | None = None


class TimePlanner:
    """Every time rule of one search, from the fit's deadline and the size of the search data.

    Parameters
    ----------
    deadline : Deadline
        The whole fit's deadline; the final refit must finish before it too.
    n_rows : int
        Rows of the search data (every row some fold trains or validates on).
    train_rows : float
        Mean training rows of a fold.
    n_folds : int
        Folds of every trial.
    ensemble : bool
        Whether the final model may be an ensemble (then refit time is reserved for several members).
    """

    def __init__(self, deadline: Deadline, n_rows: int, train_rows: float, n_folds: int, ensemble: bool = True):
        self.deadline, self.n_rows, self.train_rows = deadline, n_rows, max(float(train_rows), 1.0)
        self.n_folds, self.ensemble = n_folds, ensemble
        self.process_overhead = REFIT_OVERHEAD
        self.rungs = rungs(self.train_rows, n_folds)
        # the relative cost of each step of a trial: its folds, or its rungs (a fit costs about its rows)
        self.step_weights = list(self.rungs) if len(self.rungs) > 1 else [1.0] * max(n_folds, 1)

    def measured_overhead(self, seconds: float | None) -> None:
        """What a child process costs on this data (start, data transfer, answer), as measured: refit estimates
        use it, with a margin, instead of the prior."""
        if seconds is not None:
            self.process_overhead = OVERHEAD_MARGIN * seconds + 0.02

    # -- until when ---------------------------------------------------------------------------------------
    def end(self) -> float:
        """The instant every refit must be done by."""
        return self.deadline.at - END_MARGIN

    def seconds_to_end(self) -> float:
        """Seconds left for refits (may be negative once the end has passed)."""
        return self.end() - time.monotonic()

    def trial_deadline(self, refit_reserve: float) -> float:
        """Trials must end early enough to refit the best so far (``refit_reserve`` seconds) before the end."""
        return self.end() - KILL_SLACK - refit_reserve

    def trial_limit(self, start: float, trial_deadline: float, last: bool = False, fallback: bool = False) -> float:
        """When a trial starting at ``start`` is stopped: its share of the time left, or the trial deadline; the
        trial deadline for the ``last`` trial the search may start (``max_trials``), whose share would be kept for
        trials that never come (``AutoML(families=["lightgbm"], max_trials=1, time_budget=120)`` on mfeat-factors:
        its one trial was stopped at 14 s of 117 s left, 59 s projected, and the fit ended with a constant). The
        ``fallback`` trial (the first, while none has ended) gets :data:`FALLBACK_SHARE` on rungs."""
        if last:
            return trial_deadline
        share = FALLBACK_SHARE if fallback and len(self.rungs) > 1 else TRIAL_SHARE
        return min(trial_deadline, start + share * (self.deadline.at - start))

    # -- whether to start -------------------------------------------------------------------------------
    def room(self, costs: Iterable[TrialCost], family: str, now: float, trial_deadline: float,
             plan: str | None = None) -> float:
        """Seconds a trial of ``family`` (on synthesis ``plan``) starting ``now`` may count on, to compare with its
        estimate.

        The time to the trial deadline; for a family stopped at its limit before on folds (on that plan), only the
        trial's own limit (:data:`TRIAL_SHARE` of the time left): its cost is known to be at least its estimate, and it would
        be stopped again with nothing to show. On rungs a stopped trial keeps a rung's model, so the deadline counts.
        (A sleeping family stopped at 4.6 s, 7.5 s projected, was started again with 7.6 s to the trial deadline,
        got its 4.2 s limit and was stopped again.)
        """
        to_deadline = trial_deadline - now
        stopped_before = any(c.family == family and c.plan == plan and not c.complete for c in costs)
        if not stopped_before or len(self.rungs) > 1:
            return to_deadline
        return min(to_deadline, self.trial_limit(now, trial_deadline) - now)

    def may_start(self, trial_deadline: float, cheapest: float | None) -> bool:
        """Whether any trial may start: enough time before the trial deadline, and the cheapest family's
        estimate (``None``: nothing known yet) fits in it."""
        available = trial_deadline - time.monotonic()
        return available >= MIN_TRIAL_SECONDS and (cheapest or 0.0) <= available

    @staticmethod
    def refining(started: float, now: float, trial_deadline: float, finished: int = 0,
                 max_trials: int | None = None, need: float = 0.0) -> bool:
        """Whether a search that started at ``started`` is in its refinement part: the last :data:`REFINE_SHARE`
        of the time until its trial deadline (or the ``need`` seconds the next twins are estimated to take, up to
        :data:`REFINE_MAX_SHARE` of it), or of ``max_trials`` (``finished`` trials done)."""
        if max_trials is not None and finished >= (1.0 - REFINE_SHARE) * max_trials:
            return True
        total = trial_deadline - started
        if not np.isfinite(total) or total <= 0:
            return False
        return trial_deadline - now <= max(REFINE_SHARE * total, min(need, REFINE_MAX_SHARE * total))

    @staticmethod
    def fits(estimate: float | None, available: float) -> bool:
        """Whether a trial estimated at ``estimate`` seconds (``None``: unknown, so tried) fits ``available``."""
        return estimate is None or estimate <= available

    @staticmethod
    def skips_entry(estimate: float | None, available: float, behind: float | None) -> bool:
        """Whether a portfolio entry estimated at ``estimate`` seconds, with ``available`` seconds to the trial
        deadline, whose family's best trial so far is ``behind`` the best trial (a share of its error; ``None``:
        unknown), is left out: both far behind and dear (:data:`ENTRY_BEHIND`, :data:`ENTRY_DEAR_SHARE`)."""
        if behind is None or estimate is None:
            return False
        return behind > ENTRY_BEHIND and estimate > ENTRY_DEAR_SHARE * available

    @staticmethod
    def too_many_skips(skips_in_a_row: int) -> bool:
        """Whether skipped trials in a row end the search."""
        return skips_in_a_row >= MAX_SKIPS_IN_A_ROW

    def skipped_rungs(self, fallback: bool, capped: bool = False) -> tuple[int, ...]:
        """The rungs (positions) a trial does not fit: for a ``capped`` family's trial (epochs that end at the
        trial's cap with the best so far: a network), every one but the last; for the ``fallback`` trial, those
        between the first and the last.

        A network's step costs the same on a share of the rows as on all of them: its rungs would split its time
        into passes that learn less for the rows they leave out (the 1M-row 4-class table at 120 s: on its 1/16 rung,
        37,500 rows for that rung's share of the trial's time, about a second, it scored 1.388 log loss, worse than
        the constant, and was pruned; on all 600,000 rows for 45 s it scored 1.024, our LightGBM's first move 1.036).
        The fallback's first rung's score is the pruner's reference for the trials after it, and its model on all the
        rows is the fit's model until one beats it; each rung in between would take time from that model's rounds (the
        1M-row 4-class table at 120 s: its 1/4 rung took 10.8 s, its full rung's LightGBM stopped at its cap after 51
        rounds in 44.5 s). A step's fits end at their time cap with a model, so a rung in between is no longer needed
        to have one."""
        if capped:
            return tuple(range(len(self.rungs) - 1))
        return tuple(range(1, len(self.rungs) - 1)) if fallback else ()

    def projected_overrun(self, start: float, now: float, folds_done: int, limit: float,
                          step_seconds: tuple[float, float] | None = None,
                          rows_exponent: float = 1.0, skipped: tuple[int, ...] = ()) -> float | None:
        """After ``folds_done`` steps (folds or rungs): the projected duration of all of them when it passes
        ``limit`` (stop the trial now), else ``None``.

        With ``step_seconds``, what the last step took in the trial process as (fitting, the rest), each step left
        costs its fit scaled by its weight to the power ``rows_exponent`` (a rung fits its share of the rows; a
        boosting fit grows more slowly than its rows: much of it is per-round work) plus the rest (the same
        validation rows each time), on top of the time spent so far. Without it, the time so far is scaled to
        every step. The steps ``skipped`` (positions) cost nothing.
        """
        if folds_done >= len(self.step_weights):
            return None
        weights = [0.0 if position in skipped else w for position, w in enumerate(self.step_weights)]
        if step_seconds is not None:
            fitting, rest = step_seconds
            last = weights[max(folds_done, 1) - 1]
            total = (now - start) + sum(fitting * (w / last) ** rows_exponent + rest
                                        for w in weights[folds_done:] if w > 0)
        else:
            total = (now - start) * sum(weights) / sum(weights[:max(folds_done, 1)])
        return total if start + total > limit else None

    def in_flight_overrun(self, start: float, now: float, step_started: float, steps_done: int, limit: float
                          ) -> float | None:
        """While step ``steps_done + 1`` runs (it started at ``step_started``): a lower bound of the whole trial's
        duration when even that passes ``limit`` (stop the trial now, before the step reports), else ``None``.

        The step in flight takes at least what it has taken so far, and so, scaled by their weights, does each step
        after it; the first step's time counts less the process overhead and :data:`FIRST_STEP_SETUP` (spent once,
        or not at all: the bound counts it nowhere). So on five folds a trial whose first fold has taken a fifth of
        its limit (plus the set-up) is stopped then, not at the limit with no score (a CatBoost default on 1,907
        rows x 32 classes ran 26.7 s of a 60 s fit and was killed with no fold done; now stopped at 7 s). A single
        step is never stopped this way: its limit is its own end.
        """
        weights = self.step_weights
        if len(weights) < 2 or steps_done >= len(weights):
            return None
        setup = self.process_overhead + FIRST_STEP_SETUP if steps_done == 0 else 0.0
        so_far = max(0.0, now - step_started - setup)
        total = (step_started - start) + so_far * sum(weights[steps_done:]) / weights[steps_done]
        return total if start + total > limit else None

    # -- what things cost ---------------------------------------------------------------------------------
    @staticmethod
    def trial_estimate(costs: Iterable[TrialCost], family: str, plan: str | None = None) -> float | None:
        """Seconds a trial of ``family`` on synthesis ``plan`` is expected to take: the median of its finished trials
        on that plan (complete ones, and ones stopped at their limit, which count with the time they had: a lower
        bound, so a family that never finishes in time is not started again and again); ``None`` when none finished
        yet."""
        seconds = [c.seconds for c in costs if c.family == family and c.plan == plan]
        return float(np.median(seconds)) if seconds else None

    def refit_estimate(self, mean_fold_fit: float | None) -> float:
        """Seconds to refit a configuration on all rows, from one fold's fit on the training rows of a fold."""
        return float(mean_fold_fit or 0.0) * (self.n_rows / self.train_rows) * REFIT_SAFETY + self.process_overhead

    @staticmethod
    def selection_estimate(n_trials: int, seconds_per_score: float | None, rounds: int, max_candidates: int) -> float:
        """Seconds ensemble selection takes: rounds x candidates x one metric evaluation."""
        if n_trials < 2 or seconds_per_score is None:
            return 0.0
        return rounds * min(n_trials, max_candidates) * seconds_per_score

    def refit_reserve(self, best_first: list[TrialCost], already_fitted: set[int] | int | None, selection: float,
                      ) -> float:
        """Time to keep for the end: refitting the best trial (or, with an ensemble, the best of the top
        families, ``ENSEMBLE_RESERVE`` of them, leaving out members other than the best whose refit would take more
        than ``MEMBER_RESERVE_SHARE`` of the budget) and the ensemble selection.

        Parameters
        ----------
        best_first : list of TrialCost
            The finished trials' costs, best first (for an ensemble: the best of each family first).
        already_fitted : set of int, int or None
            Indices in ``best_first`` of trials whose final model exists already (the fallback; on large data
            every trial's holdout model): they cost nothing.
        selection : float
            Seconds of ensemble selection (:meth:`selection_estimate`).
        """
        fitted = {already_fitted} if isinstance(already_fitted, int) else set(already_fitted or ())
        estimates = [0.0 if i in fitted else self.refit_estimate(c.mean_fold_fit) for i, c in enumerate(best_first)]
        if not self.ensemble:
            return sum(estimates[:1])
        dear = MEMBER_RESERVE_SHARE * (self.deadline.seconds or float("inf"))
        members = [e for i, e in enumerate(estimates) if i == 0 or e <= dear][:ENSEMBLE_RESERVE]
        return selection + sum(members)

    def refit_fits(self, estimate: float) -> bool:
        """Whether a refit estimated at ``estimate`` seconds can finish before the end."""
        return estimate <= self.seconds_to_end()

    def member_refit_end(self, started: float, estimate: float, after: float) -> float:
        """The instant an ensemble member's refit started at ``started`` (monotonic) is stopped: when the members
        after it are expected to need ``after`` seconds, it may run past its ``estimate`` only into the time they do
        not need. (elevators at 60 s: a network's refit estimated at 1.4 s ran to the end of the fit, and the
        LightGBM member after it, 1.1 s, never started: the final model fell back to one CatBoost.)"""
        return min(self.end(), max(started + estimate, self.end() - after))

    def affordable_members(self, costs: dict[int, float]) -> dict[int, float]:
        """The ensemble members (trial -> refit estimate) left after dropping the slowest to refit until the
        rest fit in the time to the end."""
        kept = dict(costs)
        while kept and sum(kept.values()) > self.seconds_to_end():
            del kept[max(kept, key=lambda n: kept[n])]
        return kept


def rungs(train_rows: float, n_folds: int) -> tuple[float, ...]:
    """Shares of the training rows a trial fits in turn: ``(1.0,)`` unless one holdout fold trains on enough rows
    for several (see :data:`RUNG_MIN_ROWS`)."""
    if n_folds != 1:
        return (1.0,)
    shares = [1.0]
    while train_rows * shares[0] / RUNG_FACTOR >= RUNG_MIN_ROWS:
        shares.insert(0, shares[0] / RUNG_FACTOR)
    return tuple(shares)


# -- before and around the search ------------------------------------------------------------------------------
def synthesis_seconds(deadline: Deadline) -> float:
    """Seconds feature synthesis may take (its share of the time left)."""
    return SYNTHESIS_SHARE * deadline.remaining()


def check_synthesis_affordable(estimate: float, deadline: Deadline, what: str, done: bool = False) -> None:
    """Raise a ``ValueError`` naming the budget that would do when even the cheapest synthesis does not fit, or
    (``done``: it was computed while its cost was measured) when it has left no time for the search."""
    left = max(deadline.remaining(), 0.0)
    if done and left <= 0:
        raise ValueError(f"{what} took {estimate:.1f}s and, with choosing it, used up the time budget; raise "
                         f"time_budget to at least {math.ceil(3 * deadline.elapsed())}s, or pass fewer rows")
    if not done and estimate > SYNTHESIS_LIMIT * left:
        raise ValueError(f"{what} is estimated to take {estimate:.0f}s, more than the {left:.0f}s left of the time "
                         f"budget; raise time_budget to at least {3 * estimate:.0f}s, or pass fewer rows")


def budget_scale(budget: float | None) -> float:
    """The fit's time budget over the default one (:data:`DEFAULT_BUDGET`), which automatic validation grows its
    folds with (:func:`automl.data.target.automatic_cv`); 1 without a time budget."""
    return 1.0 if budget is None else budget / DEFAULT_BUDGET


def fold_cap(seconds_left: float | None) -> int | None:
    """Most folds automatic validation may use with ``seconds_left`` (``None``: no cap)."""
    if seconds_left is not None and seconds_left < FEW_FOLDS_BELOW:
        return FEW_FOLDS
    return None


def command_fit_seconds(total: float, started: float) -> float:
    """The fit's share of a command's budget of ``total`` seconds started at ``started`` (monotonic): what is left
    after reading the data, less the time to save the model.

    Raises
    ------
    ValueError
        When nothing is left.
    """
    left = total - (time.monotonic() - started) - SAVE_RESERVE - SAVE_SHARE * total
    if left <= 0:
        raise ValueError(f"--time-budget {total:g}s is used up by reading the data; give more time")
    return left


def parallel_slots(setting: int | str, n_jobs: int, n_rows: int, single_thread_below: Iterable[int]) -> int:
    """How many trials of a search run at once, each on ``n_jobs // slots`` cores.

    ``setting`` is ``AutoML(parallel_trials=...)``: a number is taken as given, at most ``n_jobs`` (a slot needs a
    core). ``"auto"`` decides by the data's size: below the smallest ``single_thread_below`` of the searched families
    (rows where boosting fits on one thread, because OpenMP's overhead costs more than a second thread gains), one
    trial per core, at most :data:`MAX_AUTO_SLOTS`; from there, one trial on every core (LightGBM, 500 rounds on
    20,000 rows: 0.76 s on two threads, 0.99 s on one). Families without the threshold (forests, kNN) say nothing
    for small data, so a search of those alone runs one trial at a time; beside the others, their trials run alone
    (:meth:`~automl.search.controller.SearchController._runs_alone`).
    """
    if setting != "auto":
        return max(1, min(int(setting), n_jobs))
    thresholds = [rows for rows in single_thread_below if rows > 0]
    if not thresholds or n_rows >= min(thresholds):
        return 1
    return max(1, min(n_jobs, MAX_AUTO_SLOTS))
