"""The search controller: one loop under one deadline, the Optuna study as the record.

The controller asks the study for a configuration, asks the time planner (:mod:`automl.search.planner`) whether
and until when it may run, runs it in a killable worker process (on small data several at once, one per slot:
:mod:`automl.search.slots`), and writes the result back to the study. What
is tried comes from the strategy (:mod:`automl.search.strategies`); the final model from
:mod:`automl.search.refit`.
"""
from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import warnings
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterator, Mapping

import numpy as np
import optuna

from automl.data.schema import Schema
from automl.metrics import Metric, constant_score, score_out_of_fold
from automl.models.registry import ModelFamily
from automl.pipeline.build import ENCODINGS, TrialConfig
from automl.search.evaluate import GO, PRUNE, STOP, TrialResult, TrialTask
from automl.search.held_models import HeldModels, SpilledModel, in_memory
from automl.search.leaderboard import build_leaderboard, params_json
from automl.search.cost import CostModel, DataShape, capped_on_rungs, encoded_width, first_moves, second_moves
from automl.search.planner import TRIAL_SHARE, Deadline, TimePlanner, TrialCost
from automl.search.portfolio import ENTRY, behind_best, portfolio_points
from automl.search.refine import (PARENT, PARENTS, REFINEMENT, Verdict, affordable, holdout_verdict, refinable,
                                  seconds_needed, twin_groups, verdict)
from automl.search.refit import FinalModel, Refit
from automl.search.stack import run_stack_stage, stack_reserve, stacking_applies
from automl.search.space import FAMILY, config_from_params, param_name, space_distributions, suggest_config
from automl.search.strategies import Strategy, get_strategy
from automl.search.study import (HEARTBEAT_INTERVAL, INTERRUPTED, REJECTED, RUNNING, WAITING, beating,
                                 check_search_space, diverse_first, fail_stale_trials, failing_families, finished_costs,
                                 open_storage, optuna_quiet, point_of, ranked_trials, record_heartbeat, save_settings,
                                 trial_cost, was_evaluated)
from automl.search.slots import TrialSlots
from automl.search.worker import SharedData, TrialData, TrialProcess, shared_data, warm_up

log = logging.getLogger("automl")

# On large data (rungs) the search holds the holdout models of the best trials for the final ensemble (on disk,
# see HeldModels) up to this many bytes together as pickled on disk, the best always: what the final
# model may read back. A model left out is refitted if an ensemble picks it and there is time. A forest on 300k rows
# is 150 MB pickled (about twice that loaded), LightGBM's a few. (Bagged models, on smaller data, are not counted.)
HELD_MODELS_BYTES = 256 * 2**20
# The study's user attribute that marks the second moves (the left-out families' defaults) as enqueued.
SECOND_MOVES = "second_moves_enqueued"
INTERRUPTED_WHY = "interrupted (Ctrl-C); runs again when the search resumes"


@dataclass
class SearchSettings:
    """How the controller searches (from the estimator's parameters)."""

    search: str = "bayes"
    max_trials: int | None = None
    n_jobs: int = 1
    slots: int = 1  # trials running at once (automl.search.planner.parallel_slots), each on n_jobs // slots cores
    seed: int = 0
    sampler_seed: int | None = None
    class_weight: Any = None
    imbalanced: bool = False
    storage: Any = None
    study_name: str | None = None
    worker: bool = False
    ensemble: bool = True
    portfolio: list[dict[str, Any]] = field(default_factory=list)  # entries, as load_portfolio returns them
    saved: dict[str, Any] = field(default_factory=dict)


@dataclass
class Problem:
    """What is searched: the columns, the task and metric, the families, the folds and the classes.

    ``n_rows`` counts every row some fold trains or validates on (with a holdout the validation rows alone are
    a fifth of them).
    """

    schema: Schema
    task: str
    metric: Metric
    families: list[ModelFamily]
    folds: list[tuple[np.ndarray, np.ndarray]]
    classes: np.ndarray | None
    seed: int = 0
    n_jobs: int = 1
    class_weight: Any = None
    memory_limit: int | None = None  # bytes a trial process may allocate
    extra_metrics: list[Metric] = field(default_factory=list)  # further leaderboard columns (out-of-fold)
    bagging: bool = False  # a bagging family's trial model is the average of its fold models (small data)
    stacking: bool = False  # a second level over the bagged trials' nested predictions (automl/search/stack.py)

    def shape(self) -> DataShape:
        """The search's size as the cost model reads it (for every column, and for each synthesis plan's)."""
        classes = 1 if self.classes is None else len(self.classes)

        def widths(schema: Schema) -> dict[str, int]:
            return {encode: encoded_width(schema, None, encode, schema.levels, classes)
                    for encode in ENCODINGS}

        plan_widths = {plan: widths(self.schema.only(columns, "not in the plan"))
                       for plan, columns in self.plans().items()}
        return DataShape(train_rows=self.train_rows, folds=max(len(self.folds), 1), classes=classes,
                         widths=widths(self.schema), plan_widths=plan_widths, bagging=self.bags)

    def plans(self) -> dict[str, list[str]]:
        """The synthesis plans of related tables or series the trials choose from (plan -> its columns), if any."""
        return next((dict(f.needs["plans"]) for f in self.families if f.needs.get("plans")), {})

    @property
    def n_rows(self) -> int:
        if not self.folds:
            return 0
        return len(np.unique(np.concatenate([np.concatenate([t, v]) for t, v in self.folds])))

    @property
    def bags(self) -> bool:
        """Whether the trials of the bagging families are bags of their fold models (small data, several folds)."""
        return self.bagging and len(self.folds) > 1

    @property
    def train_rows(self) -> float:
        return float(np.mean([len(t) for t, _ in self.folds])) if self.folds else 1.0

    def trial_task(self, config: TrialConfig, refit: bool, cross_validate: bool = True,
                   rungs: tuple[float, ...] = (1.0,), refit_fraction: float = 1.0,
                   n_jobs: int | None = None) -> TrialTask:
        """The task a worker runs: cross-validation of ``config`` (over ``rungs`` of one holdout fold's rows), and
        a refit on all rows (``refit_fraction`` of them) when ``refit``; on ``n_jobs`` cores (default: the
        problem's, all of them)."""
        bagged = cross_validate and self.bags and config.family.bag
        cores = self.n_jobs if n_jobs is None else n_jobs
        return TrialTask(config=config, schema=self.schema, task=self.task, metric=self.metric, classes=self.classes,
                         folds=self.folds if cross_validate else [], random_state=self.seed,
                         n_jobs=config.family.threads(self.n_rows, cores), refit=refit,
                         memory_limit=self.memory_limit, rungs=rungs, refit_fraction=refit_fraction,
                         bag=bagged, stop_on_folds=bagged)

    def config_of(self, trial: optuna.trial.FrozenTrial) -> TrialConfig:
        """The configuration a finished trial evaluated, read back from its parameters."""
        return config_from_params(trial.params, self.families, self.task, self.class_weight,
                                  trial.user_attrs.get("fixed"))


def models_to_hold(candidates: list[int], sizes: Mapping[int, int], budget: int, newest: int) -> set[int]:
    """The trials whose models the search keeps: the ``candidates`` in their order (the best of each family first)
    while their ``sizes`` (bytes; unknown counts 0) add up to at most ``budget``, the first (the best trial)
    always; and ``newest``, just finished and not ranked yet, on top until the next call ranks it (counted first,
    a large newest model would push out a better-ranked one for good)."""
    keep, held = {newest}, 0
    for position, number in enumerate(candidates):
        size = sizes.get(number, 0)
        if position == 0 or held + size <= budget:
            keep.add(number)
            held += size
    return keep


@dataclass
class SearchOutcome:
    """What the search leaves behind."""

    study: optuna.Study
    final: Refit
    results: dict[int, TrialResult] = field(default_factory=dict)
    search_time: float = 0.0
    refit_time: float = 0.0


class SearchController:
    """Evaluate configurations until the deadline, then refit the best on all the data.

    Parameters
    ----------
    problem : Problem
    deadline : Deadline
        The whole fit's deadline; the refit must finish before it too.
    settings : SearchSettings
    progress : callable, optional
        Called with ``(study, frozen_trial)`` after every trial.
    """

    def __init__(self, problem: Problem, deadline: Deadline, settings: SearchSettings,
                 progress: Callable[[optuna.Study, Any], None] | None = None):
        self.problem, self.deadline, self.settings, self.progress = problem, deadline, settings, progress
        self.strategy: Strategy = get_strategy(settings.search)
        self.planner = TimePlanner(deadline, problem.n_rows, problem.train_rows, len(problem.folds),
                                   ensemble=settings.ensemble)
        self.costs = CostModel(problem.shape(), self.planner.process_overhead)
        self.runner = TrialProcess()
        self.results: dict[int, TrialResult] = {}
        self.fallback: tuple[int, Any] | None = None  # the first finished trial, refitted at once
        # one holdout, no rungs: the best trial's holdout model, the final model when its refit cannot finish
        self.holdout_best: tuple[int, Any] | None = None
        # on large data (rungs), the holdout models of the best trials: the final model needs no refit
        self.models = HeldModels()  # spilled to disk on rungs (large models), in memory for bagged ones
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"
        self.study: optuna.Study | None = None
        self.trial_data: TrialData | SharedData | None = None  # what trial processes receive (see _shipped)
        self._target: np.ndarray | None = None
        self._weights: np.ndarray | None = None
        self._score_seconds: float | None = None  # one metric evaluation on the out-of-fold rows
        self._floor: float | None = None  # a constant prediction's score on the folds (None: unknown, a scorer)
        self.stacked: list[int] = []  # the second-level trials the stack stage added (automl/search/stack.py)
        self.slots = TrialSlots(self.runner, 1)  # the search's (settings.slots of them while it runs)
        # what the search decides and records, one thread at a time (trials running at once end in their threads)
        self._lock = threading.RLock()
        self._refitting: int | None = None  # the running trial that refits the fallback model
        self._stopping: str | None = None  # why the trials still running are stopped (the search is ending)

    # -- the study -------------------------------------------------------------------------------------
    def open_study(self) -> optuna.Study:
        """Create (or, with a storage, load) the study and enqueue the starting points not yet evaluated.

        A worker only loads the study: the process that started it enqueued the starting points.
        """
        s, metric = self.settings, self.problem.metric
        storage = open_storage(s.storage)
        sampler = self.strategy.sampler(s.seed if s.sampler_seed is None else s.sampler_seed)
        pruner = self.strategy.pruner(len(self.planner.step_weights), rungs=len(self.planner.rungs) > 1)
        space = space_distributions(self.problem.families, self.problem.task, s.class_weight)
        if s.worker:
            if storage is None or s.study_name is None:
                raise ValueError("a worker joins a study: give a storage URL and a study name")
            study = optuna.load_study(study_name=s.study_name, storage=storage, sampler=sampler, pruner=pruner)
            check_search_space(study, space)
            return study
        study = optuna.create_study(storage=storage, study_name=s.study_name, load_if_exists=s.study_name is not None,
                                    direction=metric.direction, sampler=sampler, pruner=pruner)
        if study.direction.name.lower() != metric.direction:
            raise ValueError(f"study {s.study_name!r} was started to {study.direction.name.lower()} another metric; "
                             f"{metric.name} must {metric.direction}. Use a new study name.")
        check_search_space(study, space)
        if s.saved:
            save_settings(study, s.saved)
        self._enqueue_starting_points(study)
        return study

    def _enqueue_starting_points(self, study: optuna.Study) -> None:
        """Enqueue the strategy's starting points, except those a previous run of the study evaluated or left
        waiting: a point interrupted by Ctrl-C, or whose worker died, runs again."""
        s, problem = self.settings, self.problem
        fail_stale_trials(study)
        taken = {params_json(point_of(t)) for t in study.get_trials(deepcopy=False)
                 if t.user_attrs.get("source") == "enqueued" and (was_evaluated(t) or t.state in (WAITING, RUNNING))}
        # on data where the defaults are dear, the strong ones that fit go first (the first also gives the fallback
        # model) and the rest is left to the sampler; where they are cheap, every family, cheapest first, except on
        # rungs (large data), where the strong ones still go first
        families = first_moves(problem.families, self.costs, self.deadline.remaining(), TRIAL_SHARE,
                               strong_first=len(self.planner.rungs) > 1)
        portfolio = portfolio_points(s.portfolio, families, problem.task)
        points = self.strategy.initial_points(families, problem.task, self._class_weight_first(), portfolio,
                                              problem.train_rows, problem.bags)
        self._enqueue(study, points, taken, entries={params_json(p) for p in portfolio})

    def _enqueue_second_moves(self, study: optuna.Study) -> None:
        """Once, when the first moves and the portfolio have all started (the study's queue is empty): the defaults
        of the families the first moves left out that fit now (:func:`~automl.search.cost.second_moves`, by costs
        corrected by the trials that finished). After the portfolio, whose points were chosen by measurement
        (before it, on leaf_flavia_species, log loss 0.018 -> 0.027: the best model had been an extra-trees forest).
        Marked on the study, so a resumed study or another worker does not enqueue them again."""
        if study.user_attrs.get(SECOND_MOVES):
            return
        trials = study.get_trials(deepcopy=False)
        if any(t.state == WAITING for t in trials):
            return
        study.set_user_attr(SECOND_MOVES, True)
        problem, costs = self.problem, finished_costs(study)
        tried = {str(t.user_attrs.get("family") or point_of(t).get(FAMILY)) for t in trials}
        added = second_moves(problem.families, tried, lambda f: self._expected_seconds(costs, f, self._plans_of(f)[0]),
                             self._trial_deadline(study) - time.monotonic(), TRIAL_SHARE)
        taken = {params_json(point_of(t)) for t in trials if t.user_attrs.get("source") == "enqueued"}
        self._enqueue(study, self.strategy.initial_points(added, problem.task, self._class_weight_first(), [],
                                                          problem.train_rows, problem.bags), taken)

    def _class_weight_first(self) -> str | None:
        """The class weighting the defaults are tried with a second time: balanced, on imbalanced classes when the
        weighting is searched."""
        return "balanced" if self.settings.imbalanced and self.settings.class_weight == "search" else None

    @staticmethod
    def _enqueue(study: optuna.Study, points: list[dict[str, Any]], taken: set[str],
                 entries: set[str] | None = None) -> None:
        """Enqueue ``points`` in their order, except those ``taken`` (whose ``params_json`` are given); those in
        ``entries`` (``params_json``) are marked as portfolio entries."""
        for point in points:
            key = params_json(point)
            if key not in taken:
                taken.add(key)
                attrs: dict[str, Any] = {"source": "enqueued", "fixed": sorted(point)}
                if entries and key in entries:
                    attrs[ENTRY] = True
                study.enqueue_trial(point, user_attrs=attrs)

    # -- the loop --------------------------------------------------------------------------------------
    def search(self, study: optuna.Study, data: TrialData) -> None:
        """Run trials until the deadline, ``max_trials`` or the strategy's end: ``settings.slots`` of them at a time
        (:func:`~automl.search.planner.parallel_slots`; one by default on all but small data), each on its share of
        the cores. What to start is decided, and what ended recorded, under the controller's lock."""
        self._target, self._weights = data.y, data.sample_weight
        self._floor = constant_score(self.problem.metric, data.y, self.problem.folds, data.sample_weight,
                                     self.problem.classes)
        warm_up()  # the fork server started with the fit; its imports are not charged to the first trial
        self.planner.measured_overhead(self.runner.round_trip(self._shipped(data), self._trial_deadline(study)))
        self.costs.overhead = self.planner.process_overhead
        self.slots = TrialSlots(self.runner, self.settings.slots)
        skips_in_a_row = 0
        started = time.monotonic()
        try:
            while True:
                runner = self.slots.free_runner()
                with self._lock:
                    self._enqueue_second_moves(study)
                    if not self._may_start(study, running=self.slots.running):
                        break
                    fail_stale_trials(study)
                    self._refine(study, started)
                    with warnings.catch_warnings():
                        # Optuna warns that heartbeats are meant for Study.optimize; we send them ourselves
                        warnings.filterwarnings("ignore", message="Heartbeat of storage")
                        trial = study.ask()
                    fixed = trial.user_attrs.get("fixed")
                    if not self.strategy.accepts(fixed):
                        # another worker (or slot) took the last enqueued point: nothing is left to evaluate
                        trial.set_user_attr("status", "skipped")
                        trial.set_user_attr("error", "no enqueued configuration left")
                        study.tell(trial, state=optuna.trial.TrialState.FAIL)
                        break
                    config = suggest_config(trial, self.problem.families, self.problem.task,
                                            self.settings.class_weight, fixed)
                alone = self._runs_alone(config.family)
                if alone:  # it waits for the trials running now, which record themselves under the lock
                    self.slots.wait_all()
                with self._lock:
                    plan = config.needs().get("plan")
                    estimate, available = self._estimate_and_room(finished_costs(study), config.family,
                                                                  self._trial_deadline(study), plan)
                    failing = failing_families(study).get(config.family.name)
                    if failing or not self.planner.fits(estimate, available):
                        on_plan = "" if plan is None else f" on synthesis plan {plan!r}"
                        why = (f"not started: the family {failing}" if failing
                               else f"not started: estimated {estimate:.1f}s{on_plan}, {available:.1f}s available")
                        self._tell(study, trial, config, TrialResult(status="skipped", error=why), 0.0)
                        skips_in_a_row += 1
                        if self.planner.too_many_skips(skips_in_a_row):
                            break
                        self._redirect(study)
                        self.slots.give_back(runner)
                        continue
                    skips_in_a_row = 0
                    if trial.user_attrs.get(ENTRY) and self.strategy.samples:
                        why = self._entry_left_out(study, config.family.name, estimate, available)
                        if why:
                            # not a skip in a row: the queue goes on to the next point
                            self._tell(study, trial, config, TrialResult(status="skipped", error=why), 0.0)
                            self.slots.give_back(runner)
                            continue
                    work = self._run(study, trial, config, data, alone)
                self.slots.start(runner, work, alone)
            self.slots.wait_all()
        except KeyboardInterrupt:
            self._stopping = INTERRUPTED_WHY
            raise
        except BaseException as error:
            self._stopping = f"stopped: the search ended with {type(error).__name__}; runs again when it resumes"
            raise
        finally:
            self.slots.close()

    def _entry_left_out(self, study: optuna.Study, family: str, estimate: float | None, available: float) -> str:
        """Why a portfolio entry of ``family`` estimated at ``estimate`` seconds (``available`` to the trial
        deadline) is not started, or ``""``: its family's best trial so far is far behind the best one and the entry
        is dear (:meth:`TimePlanner.skips_entry`). Only a strategy that samples leaves entries out: the time goes
        to the families the first moves left out and to tuning."""
        ranked = self._ranked(study)
        own = next((t for t in ranked if t.user_attrs.get("family") == family), None)
        if own is None or own.value is None or ranked[0].value is None:
            return ""
        behind = behind_best(own.value, ranked[0].value, self.problem.metric.greater_is_better)
        if not self.planner.skips_entry(estimate, available, behind):
            return ""
        return (f"not started: a portfolio entry of {family}, whose best trial so far is {100 * (behind or 0):.0f} % "
                f"behind the best ({ranked[0].user_attrs.get('family')}), estimated {estimate:.1f}s of "
                f"{available:.1f}s left")

    def _may_start(self, study: optuna.Study, running: int = 0) -> bool:
        """Whether another trial may start, ``running`` of this search's trials running now."""
        if set(failing_families(study)) >= {f.name for f in self.problem.families}:
            return False  # every family keeps failing: more trials would fail too
        costs, options = finished_costs(study), self._options()
        cheapest = min(self._expected_seconds(costs, f, plan) for f, plan in options)
        deadline = self._trial_deadline(study)
        if not self.planner.may_start(deadline, cheapest):
            return False
        if not any(self.planner.fits(*self._estimate_and_room(costs, f, deadline, plan)) for f, plan in options):
            return False  # the families (and plans) that fit the time to the trial deadline were stopped there before
        if self.settings.max_trials is not None:
            finished = sum(1 for t in study.get_trials(deepcopy=False) if t.state.is_finished())
            if finished + running >= self.settings.max_trials:
                return False
        return not self.strategy.exhausted(study)

    def _last_allowed(self, study: optuna.Study) -> bool:
        """Whether ``max_trials`` lets no trial start after the ones started (on every worker of the study)."""
        if self.settings.max_trials is None:
            return False
        started = sum(1 for t in study.get_trials(deepcopy=False) if t.state != optuna.trial.TrialState.WAITING)
        return started >= self.settings.max_trials

    def _expected_seconds(self, costs: list[TrialCost], family: ModelFamily, plan: str | None = None) -> float:
        """What a trial of ``family`` on synthesis ``plan`` should take: the median of its finished trials on that
        plan; else, known on another plan, that scaled by the cost model's ratio of the two plans' widths; else the
        cost model's prediction for this data, corrected by the trials of other families. (ACSF1, 60 s: each family's
        default on 2,237 tsfresh features was stopped after its first fold; on the 80 raw values of the ``none``
        plan they fit, and were never tried: the search ended with a constant.)"""
        observed = self.planner.trial_estimate(costs, family.name, plan)
        if observed is not None:
            return observed
        for other in self._plans_of(family):
            seen = self.planner.trial_estimate(costs, family.name, other) if other != plan else None
            if seen is not None:
                return seen * self.costs.default_trial(family, plan) / self.costs.default_trial(family, other)
        return self.costs.estimate(family, plan)

    @staticmethod
    def _plans_of(family: ModelFamily) -> list[str | None]:
        """The synthesis plans (related tables or series) a trial of ``family`` may read, its default first;
        ``[None]`` without such plans."""
        choice = (family.preprocess.get("plan") or {}).get("choice")
        return list(choice) if choice else [family.needs.get("plan")]

    def _options(self) -> list[tuple[ModelFamily, str | None]]:
        """Every (family, synthesis plan) a trial may be: what the time rules estimate, each on its own."""
        return [(f, plan) for f in self.problem.families for plan in self._plans_of(f)]

    def _refine(self, study: optuna.Study, started: float) -> None:
        """In the search's refinement part, enqueue the synthesis twins of the leading configurations that have none
        yet and are estimated to finish in time (:mod:`automl.search.refine`). Only a strategy that samples refines
        (grid and defaults run their points), and only over enough folds to measure the noise, or on one holdout."""
        if not self.strategy.samples or not refinable(len(self.problem.folds)):
            return
        trials = study.get_trials(deepcopy=False)
        twinned, groups = twin_groups(self._ranked(study), trials, self.problem.families, self.problem.schema)
        if twinned >= PARENTS or not groups:
            return
        costs, by_name = finished_costs(study), {f.name: f for f in self.problem.families}

        def seconds_of(family: str) -> float:
            return self._expected_seconds(costs, by_name[family], self._plans_of(by_name[family])[0]) or 0.0

        finished = sum(1 for t in trials if t.state.is_finished())
        # twins run after the points waiting in the study's queue (the portfolio's, on a short budget)
        waiting = [point_of(t).get(FAMILY) for t in trials if t.state == WAITING]
        queued = sum(seconds_of(family) for family in waiting if family in by_name)
        deadline, now = self._trial_deadline(study), time.monotonic()
        need = queued + seconds_needed(groups[0], seconds_of)
        if not self.planner.refining(started, now, deadline, finished, self.settings.max_trials, need):
            return
        for parent, point in affordable(groups, seconds_of, deadline - now - queued, twinned):
            study.enqueue_trial(point, user_attrs={"source": REFINEMENT, PARENT: parent, "fixed": sorted(point)})

    def _estimate_and_room(self, costs: list[TrialCost], family: ModelFamily, trial_deadline: float,
                           plan: str | None = None) -> tuple[float, float]:
        """What a trial of ``family`` on synthesis ``plan`` starting now should take, and the seconds it may count
        on before ``trial_deadline`` (:meth:`TimePlanner.room`): it is started when the first fits in the second."""
        now = time.monotonic()
        room = self.planner.room(costs, family.name, now, trial_deadline, plan)
        expected = self._expected_seconds(costs, family, plan)
        if len(self.planner.rungs) > 1 and capped_on_rungs(family, self.problem.task):
            # on rungs its fits end at the trial's limit with their best so far (epochs, or the batches of one):
            # it costs at most that limit
            expected = min(expected, self.planner.trial_limit(now, trial_deadline) - now)
        return expected, room

    def _redirect(self, study: optuna.Study) -> None:
        """After a sampled family was too slow for the time left (or keeps failing): enqueue the next trial with
        its family (and synthesis plan, when there is a choice) fixed to one that fits and works (the best-scoring
        such pair so far, else the first that fits), its other parameters sampled as usual, so the sampler does not
        keep drawing a family or plan that cannot run."""
        if not self.strategy.samples:
            return
        costs, failing, deadline = finished_costs(study), failing_families(study), self._trial_deadline(study)
        fits = [(f, plan) for f, plan in self._options() if f.name not in failing
                and self.planner.fits(*self._estimate_and_room(costs, f, deadline, plan))]
        if not fits:
            return
        by_names = {(f.name, plan): (f, plan) for f, plan in fits}
        family, plan = next((by_names[key] for t in self._ranked(study)
                             if (key := (t.user_attrs.get("family"), t.user_attrs.get("plan"))) in by_names), fits[0])
        point: dict[str, Any] = {FAMILY: family.name}
        if len(self._plans_of(family)) > 1:
            point[param_name(family, "preprocess.plan")] = plan
        study.enqueue_trial(point, user_attrs={"source": "redirected"})

    def _run(self, study: optuna.Study, trial: optuna.Trial, config: TrialConfig, data: TrialData,
             alone: bool = False) -> Callable[[TrialProcess], None]:
        """Decide how ``trial`` runs (its limit, rows, threads, refit) and return its work: run it in the trial
        process given, then record the result under the lock. Called under the lock. A trial that runs ``alone``
        gets every core; the others their slot's share."""
        enqueued = trial.user_attrs.get("fixed") is not None
        rungs = self.planner.rungs
        start = time.monotonic()
        # the first finished trial is refitted at once as the fallback model: with trials running at once, by the
        # first started only (until it ends without one)
        refit = self.fallback is None and self._refitting is None
        limit = self.planner.trial_limit(start, self._trial_deadline(study), last=self._last_allowed(study),
                                         fallback=refit)
        if refit:
            self._refitting = trial.number
        task = self.problem.trial_task(config, refit=refit, rungs=rungs,
                                       n_jobs=self.problem.n_jobs if alone else self._trial_threads())
        if task.on_rungs:
            capped = capped_on_rungs(config.family, self.problem.task)
            task = replace(task, skip_rungs=self.planner.skipped_rungs(fallback=refit, capped=capped))
        if len(self.problem.folds) == 1 and not task.on_rungs and not task.refit:
            best = next((t.value for t in self._ranked(study) if t.value is not None), None)
            task.keep_holdout_model_beating = float(best) if best is not None else self.problem.metric.worst()
        if task.on_rungs or config.family.capped_on_folds:
            # on rungs its fits share the time to the limit, boosting's rounds capped to their share: a rung that
            # would have been killed ends with a model. Not on folds, where the projection after a fold stops a
            # trial too slow for its limit at the cost of that fold (capped on folds too, the 30 s suite changed
            # by -92 % to +41 % log loss on some tables: anneal worse, mfeat-factors better); except for a family
            # declared so (the network: on kin8nm its three folds needed 25 s of a 23 s limit, the best family
            # there, stopped with nothing)
            task = replace(task, deadline_at=limit)
        projected: list[float] = []
        exponent = self.costs.rows_exponent(config.family.name)
        # a starting point runs to its end so every family gets a score, except on rungs of a sampling search: there
        # a default whose score on a share of the rows ranks where a sampled trial's would be pruned stops too (a
        # 600 s fit on 300k rows gave random forest's default 170 s and kNN's 124 s, at 0.775 and 0.58 AUC against
        # LightGBM's 0.867, and LightGBM was tuned once)
        protected = enqueued and not (task.on_rungs and self.strategy.samples)

        steps = [start]  # when each step (fold or rung) began: the trial's start, then each report

        def on_report(step: int, score: float, seconds: tuple[float, float]) -> str:
            trial.report(score, step)
            steps.append(time.monotonic())
            # on rungs a poor score ends the trial first: a configuration that would not have finished in time is
            # pruned, not kept as a model of the rung it reached (a 600 s fit kept forests at 1/4 of the rows)
            if task.on_rungs and not protected and trial.should_prune():
                return PRUNE
            # stop a trial as soon as its steps so far show it cannot finish before its limit: on rungs it keeps
            # the model of the rung it reached (a model on a subsample), on folds it has none
            overrun = self.planner.projected_overrun(start, time.monotonic(), step + 1, limit, seconds, exponent,
                                                     task.skip_rungs)
            if overrun is not None:
                projected.append(overrun)
                return STOP
            return GO if protected or task.on_rungs or not trial.should_prune() else PRUNE

        heartbeat = _Heartbeat(study, trial)

        def on_poll() -> str | None:
            heartbeat()
            if self._stopping is not None:  # the search is ending (Ctrl-C, or an error recording another trial)
                return self._stopping
            # on folds, a fold still running shows the trial cannot finish before its limit: stopped now, not at the
            # limit (on rungs, the fits share the time to the limit themselves)
            if task.on_rungs or projected:  # (projected: its last report stopped it already)
                return None
            done = len(steps) - 1
            bound = self.planner.in_flight_overrun(start, time.monotonic(), steps[-1], done, limit)
            if bound is None:
                return None
            projected.append(bound)
            return (f"stopped during fold {done + 1} of {len(self.problem.folds)}: all of them would take at least "
                    f"{bound:.1f}s, {limit - start:.1f}s were left for it")

        def work(runner: TrialProcess) -> None:
            try:
                model_path = self.models.new_path(trial.number) if task.on_rungs else None
                result = runner.run(task, self._shipped(data), limit, on_report, on_poll=on_poll, model_path=model_path)
            except KeyboardInterrupt:  # (one slot: the trial runs in the thread Ctrl-C reaches)
                with self._lock:
                    self._refitting = None
                    self._tell(study, trial, config, TrialResult(status=INTERRUPTED, error=INTERRUPTED_WHY),
                               time.monotonic() - start)
                raise
            with self._lock:
                if self._stopping is not None and result.status != "ok":
                    result = TrialResult(status=INTERRUPTED, error=self._stopping)
                self._record(study, trial, config, result, time.monotonic() - start, limit - start, projected)

        return work

    def _record(self, study: optuna.Study, trial: optuna.Trial, config: TrialConfig, result: TrialResult,
                duration: float, allowed: float, projected: list[float]) -> None:
        """Write what trial ``trial`` gave (``allowed``: the seconds its limit left it; ``projected``: the duration
        its steps projected when that stopped it) into the study and the controller's state. Called under the
        lock."""
        if self._refitting == trial.number:
            self._refitting = None
        if projected and result.status in ("pruned", "timeout", "ok"):  # (timeout: stopped while a fold ran)
            trial.set_user_attr("projected_duration", round(projected[0], 4))  # what the family is known to cost
        if projected and result.status == "pruned":
            result.status = "timeout"
            result.error = (f"stopped after {len(result.fold_scores)} of {len(self.problem.folds)} folds: all of them "
                            f"would take about {projected[0]:.1f}s, {allowed:.1f}s were left for it")
        elif projected and result.status == "ok":  # on rungs: a model at the fidelity it reached
            result.error = (f"stopped at {result.fidelity:.3g} of the rows: the next rungs would take about "
                            f"{projected[0]:.1f}s in all, {allowed:.1f}s were left for it")
        if result.status == "ok" and trial.user_attrs.get("source") == REFINEMENT:
            judged = self._judge_twin(study, trial.user_attrs[PARENT], result)
            result.error = judged.reason
            if not judged.kept:
                result.status = REJECTED
        if result.status == "ok" and result.refit_model is not None:
            if self.fallback is None:
                self.fallback = (trial.number, in_memory(result.refit_model))
            elif result.rungs or result.bagged:
                self.models.put(trial.number, result.refit_model, spill=result.rungs)
            elif result.holdout_model:  # it beat the best so far when it was sent
                self.holdout_best = (trial.number, in_memory(result.refit_model))
            result.refit_model = None
            self._keep_best_models(study, trial.number)
        if isinstance(result.refit_model, SpilledModel):  # written by its trial process, and not kept
            result.refit_model.discard()
            result.refit_model = None
        if result.status == REJECTED:
            result.refit_model = None
        if result.status == "ok" and trial.user_attrs.get("source") == "enqueued" \
                and not self.fallback_refitted(trial.number):
            self.costs.observe(config.family.name, self.costs.default_trial(config.family, config.needs().get("plan")),
                               duration)
        self.results[trial.number] = result
        self._tell(study, trial, config, result, duration)
        self._forget_predictions(study)

    def _judge_twin(self, study: optuna.Study, parent: int, result: TrialResult) -> Verdict:
        """Whether a synthesis twin that finished ``ok`` beats trial ``parent`` by more than the noise: over the
        folds, or on one holdout fold over its rows (both trials' predictions of them, resampled together)."""
        if len(self.problem.folds) != 1:
            return verdict(study.get_trials(deepcopy=False)[parent], result.fold_scores,
                           self.problem.metric.greater_is_better)
        known = self.results.get(parent)
        if known is None or known.oof is None or result.oof is None or self._target is None:
            return Verdict(False, f"not compared with trial {parent}: its predictions are not held here")
        if known.fidelity != result.fidelity:
            return Verdict(False, f"not compared with trial {parent}: fitted on {result.fidelity:.3g} of the rows, "
                                  f"it on {known.fidelity:.3g}")
        valid = self.problem.folds[0][1]
        weights = None if self._weights is None else self._weights[valid]
        return holdout_verdict(parent, self.problem.metric, self._target[valid], known.oof[valid], result.oof[valid],
                               weights, self.problem.classes)

    def _tell(self, study: optuna.Study, trial: optuna.Trial, config: TrialConfig, result: TrialResult,
              duration: float) -> None:
        attrs = {
            "family": config.family.name, "params_json": params_json(config.describe()),
            "status": result.status, "score": result.score, "score_std": result.score_std,
            "n_folds": len(result.fold_scores), "fit_time": float(np.sum(result.fit_times)),
            "mean_fold_fit_time": result.fold_fit_time, "rounds": result.rounds,
            "predict_time_per_1k": float(np.mean(result.predict_times_per_1k))
            if result.predict_times_per_1k else None,
            "duration": round(duration, 4), "error": result.error, "worker": self.worker_id,
            "peak_memory_mb": None if result.peak_memory_mb is None else round(result.peak_memory_mb, 1),
            "n_features_synthesised": result.n_features_synthesised, "n_features_selected": result.n_features_selected,
            "fidelity": result.fidelity, "fold_scores": [float(v) for v in result.fold_scores],
            "synthesis": config.needs().get("plan") or config.needs().get("synthesis", "none"),
            "plan": config.needs().get("plan"),  # of related tables or series: what the time rules key costs by
            "synthesis_time": round(result.synthesis_time + shared_synthesis_seconds(config.needs()), 4),
            "extra_scores": self.extra_scores(result.oof) if result.status in ("ok", REJECTED) else None,
        }
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
        TrialState = optuna.trial.TrialState
        if result.status in ("ok", REJECTED):  # a rejected twin's score still informs the sampler
            study.tell(trial, result.score)
        elif result.status in ("pruned", "skipped"):
            # a skipped trial (its family estimated not to fit, or failing) is told as pruned so that TPE counts
            # its configuration among the poor ones; told as failed, TPE ignored it and drew the family again: a
            # 300 s fit on 300k rows had a skipped random-forest trial every other trial
            study.tell(trial, state=TrialState.PRUNED)
        else:
            study.tell(trial, state=TrialState.FAIL)
        if result.status == "error":
            log.warning("trial %d (%s) failed: %s", trial.number, config.family.name, result.error)
        if self.progress is not None:
            self.progress(study, study.get_trials(deepcopy=False)[trial.number])

    def extra_scores(self, oof: np.ndarray | None) -> dict[str, float | None] | None:
        """The problem's further metrics on out-of-fold predictions (None when there are none to compute)."""
        if not self.problem.extra_metrics or oof is None or self._target is None:
            return None
        return score_out_of_fold(self.problem.extra_metrics, self._target, oof, self._weights,
                                 self.problem.classes)

    @contextlib.contextmanager
    def _sharing(self, data: TrialData) -> Iterator[None]:
        """While the search runs, trial processes receive large data as a shared file (:func:`shared_data`)."""
        with shared_data(data) as self.trial_data:
            try:
                yield
            finally:
                self.trial_data = None

    def _keep_best_models(self, study: optuna.Study, number: int) -> None:
        """Hold the models of the trials an ensemble could use (the best of each family first) while together they
        take at most :data:`HELD_MODELS_BYTES` (the best always); drop the rest (an ensemble may still refit them
        if there is time). Trial ``number`` has just finished: it is not ranked yet, and is kept until the next
        one. On a 300k-row table, the forests' and kNN's models are 150 MB each."""
        if not self.models:
            return
        from automl.search.ensemble import MAX_CANDIDATES

        ranked = self._ranked(study)
        candidates = [t.number for t in diverse_first(ranked)[:MAX_CANDIDATES]]
        # bagged models (smaller data) are held in memory and not counted: the final model is often one of them
        keep = models_to_hold(candidates, self.models.spilled_bytes, HELD_MODELS_BYTES, number)
        numbers = {t.number for t in ranked}
        for held in [n for n in self.models if n not in keep and n in numbers]:
            del self.models[held]

    def _forget_predictions(self, study: optuna.Study) -> None:
        """Drop the out-of-fold predictions no final model can use: those of trials that did not finish ``ok``, and
        of ``ok`` trials out of this process's ensemble candidates (the best of each family first, as ensemble
        selection ranks them; a trial out of them never returns, later trials only push it down), the fallback's
        kept. Each is rows x classes floats: a 600 s fit on 300k rows and 4 classes kept 9.6 MB for each of its
        49 trials, and its search process grew from 700 MB to 1,090 MB."""
        from automl.search.ensemble import MAX_CANDIDATES

        own = [t for t in self._ranked(study) if t.number in self.results and self.results[t.number].oof is not None]
        keep = {t.number for t in diverse_first(own)[:MAX_CANDIDATES]}
        if self.fallback is not None:
            keep.add(self.fallback[0])
        for number, result in self.results.items():
            if result.oof is not None and (result.status != "ok" or number not in keep):
                result.oof = None

    def fallback_refitted(self, number: int) -> bool:
        """Whether trial ``number`` also refitted the fallback model (its duration holds a refit on all rows)."""
        return self.fallback is not None and self.fallback[0] == number

    def _shipped(self, data: TrialData) -> TrialData | SharedData:
        """The data as trial processes receive it (a shared file for large data, while the search runs)."""
        return self.trial_data if self.trial_data is not None else data

    def _trial_threads(self) -> int:
        """Cores of one trial running beside others: an equal share of the problem's for each slot."""
        return max(1, self.problem.n_jobs // self.settings.slots)

    def _runs_alone(self, family: ModelFamily) -> bool:
        """Whether a trial of ``family`` runs with no other beside it, on every core: with several slots, a family
        whose model fits on several threads at this size (forests, kNN, CatBoost: their trees or neighbours split
        over threads as well as trials would, and on one thread each of their trials takes about twice as long
        under the same time rules; leaf_flavia_species, 1,907 rows, 60 s: extra trees best, log loss 0.0184 one
        trial at a time or with them alone, 0.0342 with every trial on one thread). Families that fit on one thread
        here run side by side."""
        if self.settings.slots < 2 or not family.threads_param:
            return False
        return family.threads(self.problem.n_rows, self.problem.n_jobs) > 1

    def peak_trial_bytes(self) -> int:
        """The largest peak of a trial process, summed over the slots (what trials running at once held at most)."""
        return self.slots.peak_bytes()

    # -- time ------------------------------------------------------------------------------------------
    def _trial_deadline(self, study: optuna.Study, stacking: bool = True) -> float:
        """Trials must end early enough to refit the best so far (and an ensemble's likely members), and, when
        ``stacking`` and the search stacks, to run the second level first."""
        ranked = self._contenders(study)
        best_first = diverse_first(ranked) if self.settings.ensemble else ranked
        held = set(self.models) | ({self.fallback[0]} if self.fallback is not None else set())
        top = [trial_cost(t) for t in best_first]
        fitted = {i for i, t in enumerate(best_first) if t.number in held}
        reserve = self.planner.refit_reserve(top, fitted, self._selection_seconds(len(ranked)))
        if stacking and self._stacks():
            reserve += stack_reserve(self, study)
        return self.planner.trial_deadline(reserve)

    def _stacks(self) -> bool:
        """Whether this process runs the stack stage after its search (not a worker's part: it needs the models)."""
        return (self.problem.stacking and self.settings.ensemble and not self.settings.worker and not self.stacked
                and stacking_applies(self.problem))

    def _selection_seconds(self, n_trials: int) -> float:
        """Seconds ensemble selection will take (one metric evaluation is measured once)."""
        from automl.search.ensemble import MAX_CANDIDATES, ROUNDS, scoring_seconds

        if n_trials < 2:
            return 0.0
        if self._score_seconds is None:
            oof = next((r.oof for r in self.results.values() if r.oof is not None and r.status == "ok"), None)
            self._score_seconds = scoring_seconds(oof, self._target, self.problem.metric, self.problem.classes)
        return self.planner.selection_estimate(n_trials, self._score_seconds, ROUNDS, MAX_CANDIDATES)

    def _ranked(self, study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
        return ranked_trials(study, self.problem.metric.greater_is_better)

    def _contenders(self, study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
        """The ranked trials that beat a constant prediction (the best one if none does): what the final model may
        be made of, and what refit time is kept for."""
        return beating(self._ranked(study), self._floor, self.problem.metric.greater_is_better)

    # -- the whole stage -------------------------------------------------------------------------------
    def run(self, data: TrialData, search: bool = True) -> SearchOutcome:
        """Open the study, search (unless ``search=False``), refit: the whole search stage of ``fit``."""
        start = time.monotonic()
        with optuna_quiet(), self._sharing(data):
            self.study = self.open_study()
            if search:
                self.search(self.study, data)
                if self._stacks():
                    self.stacked = run_stack_stage(self, self.study, data)
            search_time = time.monotonic() - start
            final = FinalModel(self, data).build()
        return SearchOutcome(study=self.study, final=final, results=self.results, search_time=search_time,
                             refit_time=time.monotonic() - start - search_time)

    def work(self, data: TrialData) -> optuna.Study:
        """A worker's part: join the study and evaluate trials until the deadline; no refit."""
        with optuna_quiet(), self._sharing(data):
            self.study = self.open_study()
            self.search(self.study, data)
        return self.study

    def leaderboard(self) -> Any:
        assert self.study is not None, "open the study first"
        return build_leaderboard(self.study.get_trials(deepcopy=False), self.problem.metric.greater_is_better)


def shared_synthesis_seconds(needs: Mapping[str, Any]) -> float:
    """Seconds of synthesis a trial reads without paying in it: the features of related tables or series, computed
    once before the search (``needs["synthesis_seconds"]``) and shared by every trial on a plan other than ``none``
    (a cheaper plan's columns are a subset of the computed one's: the same computation made them)."""
    plan = needs.get("plan")
    return float(needs.get("synthesis_seconds") or 0.0) if plan is not None and plan != "none" else 0.0


class _Heartbeat:
    """Called while a trial runs; tells the storage every few seconds that this worker is alive."""

    def __init__(self, study: optuna.Study, trial: optuna.Trial):
        self.study, self.trial, self.last = study, trial, 0.0

    def __call__(self) -> None:
        now = time.monotonic()
        if now - self.last >= HEARTBEAT_INTERVAL:
            record_heartbeat(self.study, self.trial)
            self.last = now
