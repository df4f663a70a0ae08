"""Predictions for a few rows without scikit-learn's per-call overhead.

On one row, a pipeline's preprocessing (the column cast, a ColumnTransformer of imputers, scalers and encoders,
the feature selection) costs 5-12 ms, almost all of it pandas indexing, input validation and joblib dispatch,
while its model takes 0.2 ms; an ensemble of 21 bagged members took 104 ms a row. :class:`FastPredictor` compiles a
fitted final pipeline once into plain numpy steps read from the fitted transformers:

- the cast runs once per request for every member that casts alike (an ensemble's members all do);
- numeric parts (passthrough, median/mean/constant imputation with its missing indicators, standard scaling;
  the skewed columns' quantile mapping, without its input checks) become array arithmetic on the fitted
  statistics (the block of raw numbers is gathered once per request);
- categorical parts (ordinal, one-hot, target and frequency encodings, with their imputers) become one lookup
  table per column, built by running the fitted part itself on every category the part knows, on a missing value
  and on an unseen one: what it answers is what the table holds; a request's values become codes once for every
  member that knows the same categories, and each member reads its cells in one gather;
- the selection is the fitted mask; the model is called on the array as the pipeline would call it, except forests,
  histogram gradient boosting, LightGBM (numeric splits) and CatBoost (numeric features), whose trees are walked all
  at once, the trees of every such member of an ensemble in one walk per kind of tree
  (:mod:`automl.pipeline.fast_trees`), and logistic regression, whose probabilities are computed without its input
  checks.

Any other part (dates, text, group statistics, numeric pairs) runs its own ``transform`` on the cast columns.
A compiled call runs with one OpenMP thread (kNN distances, a member that runs the ordinary way): on a few rows a
team of threads costs more than it saves, and on busy cores far more (one kNN row: 0.27 ms on one thread, 22 ms
with two threads on two busy cores); the caller's own setting is restored after the call.
Each member is checked when compiled: its compiled features and answers must equal the pipeline's on the check rows,
or that member is predicted the ordinary way. Batches above :data:`FAST_ROWS` rows always go the ordinary way, where the
overhead is shared by many rows.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from scipy.special import expit
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.utils.extmath import softmax

from automl.features.tabular import NumericPairs
from automl.metrics import align_proba
from automl.models.neighbors import direct_answer as neighbours_answer
from automl.pipeline.fast_trees import CompiledTrees, TreeBank, compile_trees
from automl.pipeline.labels import EncodedLabelClassifier
from automl.pipeline.select import _MaskSelector
from automl.pipeline.transformers import ColumnCaster, DatetimeParts, SkewAwareScaler

log = logging.getLogger(__name__)

# batches up to this many rows take the compiled path
FAST_ROWS = 256
# an unseen category, for probing what an encoder does with one
_UNSEEN = "\x00automl-unseen-category\x00"



class Columns(dict):  # type: ignore[type-arg]
    """The cast columns of a batch (name -> 1-D array; a Series for datetimes), and what members compute from them
    alike (the numeric block of the same columns, a column's category codes under the same categories): bag
    members of one family differ in fitted statistics, not in these, so they share them."""

    def shared(self, key: tuple[Any, ...], compute: Callable[..., Any], *args: Any) -> Any:
        """The value kept under ``key`` (a tuple, never a column name), ``compute(*args)`` on first use."""
        value = self.get(key)
        if value is None:
            value = self[key] = compute(*args)
        return value


PartFunction = Callable[[Columns, Callable[[], pd.DataFrame]], np.ndarray]


class NotCompilable(Exception):
    """A step the compiler does not know how to run without scikit-learn (the member goes the ordinary way)."""


# -- the cast, shared by members that cast alike ----------------------------------------------------------------

def caster_key(caster: ColumnCaster) -> tuple[Any, ...]:
    """Members whose casters have equal keys cast a frame identically."""
    roles = tuple(sorted((caster.roles or {}).items()))
    kept = getattr(caster, "categories", None) or {}
    return roles, tuple(sorted((k, tuple(v)) for k, v in kept.items())), tuple(caster.columns_)


def cast_columns(caster: ColumnCaster, X: pd.DataFrame) -> Columns:
    """The cast columns of ``X`` as arrays, categorical ones with ``None`` for missing (datetimes as Series)."""
    return Columns((str(name), values) for name, values in caster.cast_columns(X).items())


# -- numeric parts ------------------------------------------------------------------------------------------------

def _numeric_function(transformer: Any, columns: list[str]) -> PartFunction:
    """Passthrough, imputation and scaling of numeric columns, as arithmetic on the fitted statistics."""
    return _arithmetic_part(("numeric", *columns), [_numeric_step(step) for step in _flat_steps(transformer)],
                            lambda cols: np.column_stack([np.asarray(cols[c], dtype=float) for c in columns]))


def _arithmetic_part(key: tuple[Any, ...], operations: list[Callable[[np.ndarray], np.ndarray]],
                     block: Callable[[Columns], np.ndarray]) -> PartFunction:
    """A compiled part: the columns' ``block`` (computed once per request under ``key``, shared by every member that
    reads the same columns), then the member's own ``operations`` (imputation, scaling) on it."""
    def run(cols: Columns, frame: Callable[[], pd.DataFrame]) -> np.ndarray:
        X = cols.shared(key, block, cols)
        for operation in operations:
            X = operation(X)
        return X

    return run


def _flat_steps(transformer: Any) -> list[Any]:
    """The steps of a transformer, pipelines inside pipelines unnested (a lone transformer is one step; a
    ``"passthrough"`` step is none)."""
    if transformer is None or transformer == "passthrough":
        return []
    if not isinstance(transformer, Pipeline):
        return [transformer]
    return [step for _, inner in transformer.steps for step in _flat_steps(inner)]


def _datetime_function(transformer: Any, columns: list[str]) -> PartFunction:
    """Datetime parts, then imputation and scaling as arithmetic: the parts are computed once per request for all
    members that read the same columns (they are the same for every fitted :class:`DatetimeParts`)."""
    steps = _flat_steps(transformer)
    if not steps or type(steps[0]) is not DatetimeParts:
        raise NotCompilable("a datetime part that does not start with DatetimeParts")
    parts = steps[0]
    return _arithmetic_part(("datetime", *columns), [_numeric_step(step) for step in steps[1:]],
                            lambda cols: parts.transform(pd.DataFrame({c: cols[c] for c in columns}))
                            .to_numpy(dtype=float))


def _numeric_step(step: Any) -> Callable[[np.ndarray], np.ndarray]:
    if type(step) is FunctionTransformer and step.func is None:  # a fitted "passthrough"
        return lambda X: X
    if type(step) is SimpleImputer:
        return _imputer(step)
    if type(step) is StandardScaler:
        mean = step.mean_ if step.with_mean else None
        scale = step.scale_ if step.with_std else None

        def scaled(X: np.ndarray) -> np.ndarray:
            if mean is not None:
                X = X - mean
            if scale is not None:
                X = X / scale
            return X

        return scaled
    if type(step) is SkewAwareScaler:
        return step.transform_array
    if type(step) is NumericPairs:
        return step.pairs_of
    raise NotCompilable(type(step).__name__)


def _imputer(imputer: SimpleImputer) -> Callable[[np.ndarray], np.ndarray]:
    missing = imputer.missing_values
    if not (isinstance(missing, float) and np.isnan(missing)) or not imputer.keep_empty_features:
        raise NotCompilable("an imputer of values other than NaN, or one that drops empty features")
    statistics = np.asarray(imputer.statistics_, dtype=float)
    indicator = getattr(imputer, "indicator_", None)
    flagged = None if indicator is None else np.asarray(indicator.features_, dtype=int)
    if indicator is not None and indicator.features != "missing-only":
        raise NotCompilable("a missing indicator on all features")

    def imputed(X: np.ndarray) -> np.ndarray:
        missing_cells = np.isnan(X)
        filled = np.where(missing_cells, statistics, X)
        if flagged is None:
            return filled
        return np.hstack([filled, missing_cells[:, flagged].astype(float)])

    return imputed


# -- categorical parts: lookup tables probed from the fitted part ---------------------------------------------

def _known_values(transformer: Any, n_columns: int) -> list[list[Any]]:
    """Per input column, the values the fitted part knows (its categories or its frequency keys)."""
    steps = [s for _, s in transformer.steps] if isinstance(transformer, Pipeline) else [transformer]
    for step in steps:
        if hasattr(step, "categories_") and len(step.categories_) == n_columns:
            return [[v for v in categories if isinstance(v, str)] for categories in step.categories_]
        frequencies = getattr(step, "frequencies_", None)
        if frequencies is not None and len(frequencies) == n_columns:
            return [list(frequencies[str(name)]) for name in step.feature_names_in_]
    raise NotCompilable(f"{type(transformer).__name__} keeps no categories to probe")


def _categorical_function(transformer: Any, columns: list[str]) -> PartFunction:
    """A per-column encoder as lookup tables: the part is run once on every value each column knows (one column
    varying at a time, the others at their first value), a missing and an unseen value; the output columns that
    move with a column's value belong to it, the others are constant. A batch's values become codes (a column's
    row in its table; shared by members that know the same values) and all owned cells are read in one gather."""
    known = _known_values(transformer, len(columns))
    probes = [values + [None, _UNSEEN] for values in known]
    base = [values[0] for values in probes]
    blocks = []
    for j, values in enumerate(probes):
        block = np.empty((len(values), len(columns)), dtype=object)
        block[:] = base
        block[:, j] = values
        blocks.append(block)
    probe_frame = pd.DataFrame(np.vstack(blocks), columns=columns, dtype=object)
    out = np.asarray(transformer.transform(probe_frame), dtype=float)
    constant = out[0].copy()
    start, claimed = 0, np.zeros(out.shape[1], dtype=bool)
    # (column, its codes' key, value -> row of its table) of the columns that own output cells
    coded: list[tuple[str, tuple[str, str, str], dict[Any, int]]] = []
    tables: list[np.ndarray] = []
    owned_columns: list[np.ndarray] = []
    first: list[int] = []
    stride: list[int] = []
    owner: list[int] = []
    for name, values in zip(columns, probes):
        rows = out[start:start + len(values)]
        start += len(values)
        owned = np.flatnonzero(~np.all(_same(rows, rows[0]), axis=0))
        if claimed[owned].any():
            raise NotCompilable("an encoder whose output columns read several input columns")
        claimed[owned] = True
        if not len(owned):
            continue
        index = {v: i for i, v in enumerate(values[:-1])}  # known values and None; unseen: the last row
        digest = hashlib.sha256(repr(values[:-2]).encode()).hexdigest()
        offset = sum(t.size for t in tables)
        first += [offset + k for k in range(len(owned))]
        stride += [len(owned)] * len(owned)
        owner += [len(coded)] * len(owned)
        coded.append((name, ("codes", name, digest), index))
        tables.append(rows[:, owned])
        owned_columns.append(owned)
    cells = np.concatenate([t.ravel() for t in tables]) if tables else np.zeros(0)
    targets = np.concatenate(owned_columns) if owned_columns else np.zeros(0, dtype=int)
    first_cell, cell_stride, cell_owner = np.array(first, dtype=np.int64), np.array(stride), np.array(owner)

    def run(cols: Columns, frame: Callable[[], pd.DataFrame]) -> np.ndarray:
        n = len(cols[columns[0]])
        X = np.tile(constant, (n, 1))
        if not coded:
            return X
        codes = np.column_stack([cols.shared(key, _codes, cols[name], index) for name, key, index in coded])
        X[:, targets] = cells[first_cell + codes[:, cell_owner] * cell_stride]
        return X

    return run


def _codes(values: Any, index: dict[Any, int]) -> np.ndarray:
    """Each value's row in a lookup table: its position in ``index``, the row after the last for an unseen one."""
    unseen = len(index)
    return np.fromiter((index.get(_key(v), unseen) for v in values), dtype=np.int64, count=len(values))


def _key(value: Any) -> Any:
    """A cast categorical value as a lookup key: text, or None when missing (NaN included)."""
    return None if value is None or (isinstance(value, float) and value != value) else value


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a == b) | (np.isnan(a) & np.isnan(b))


# -- one member pipeline ------------------------------------------------------------------------------------

def _part_function(transformer: Any, columns: list[str], schema_roles: dict[str, str]) -> PartFunction:
    """The compiled part, or the part's own transform on the cast columns when it does not compile."""
    roles = {schema_roles.get(c) for c in columns}
    try:
        if roles <= {"numeric", "boolean"}:
            return _numeric_function(transformer, columns)
        if roles == {"categorical"}:
            return _categorical_function(transformer, columns)
        if roles == {"datetime"}:
            return _datetime_function(transformer, columns)
    except NotCompilable as reason:
        log.debug("part over %s runs its own transform: %s", columns, reason)

    def own_transform(cols: Columns, frame: Callable[[], pd.DataFrame]) -> np.ndarray:
        out = transformer.transform(frame()[columns])
        return np.asarray(out.toarray() if hasattr(out, "toarray") else out, dtype=float)

    return own_transform


@dataclass
class CompiledMember:
    """One fitted pipeline (cast, ColumnTransformer, selection steps, model) as numpy steps."""

    pipeline: Pipeline
    caster: ColumnCaster
    parts: list[PartFunction]
    masks: list[np.ndarray]
    model: Any
    trees: CompiledTrees | None = None  # every tree walked at once (fast_trees.py)
    direct: Callable[[np.ndarray], np.ndarray] | None = None  # the model's answer without its wrapper's overhead
    cast_key: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        self.cast_key = caster_key(self.caster)

    @classmethod
    def compile(cls, pipeline: Pipeline) -> "CompiledMember":
        """Raises :class:`NotCompilable` when the pipeline is not cast → ColumnTransformer → selectors → model."""
        steps = [step for _, step in pipeline.steps]
        if len(steps) < 3 or not isinstance(steps[0], ColumnCaster) or not isinstance(steps[1], ColumnTransformer):
            raise NotCompilable("not a cast → preprocess → model pipeline")
        caster, preprocess, *selectors, model = steps
        if not all(isinstance(s, _MaskSelector) for s in selectors):
            raise NotCompilable("a selection step without a mask")
        if preprocess.remainder != "drop" or getattr(preprocess, "sparse_output_", False):
            raise NotCompilable("a ColumnTransformer with a remainder or sparse output")
        roles = caster.roles or {}
        parts = [_part_function(transformer, list(columns), roles)
                 for _, transformer, columns in preprocess.transformers_
                 if transformer != "drop" and len(columns) and not isinstance(columns, slice)]
        inner = model.estimator_ if isinstance(model, EncodedLabelClassifier) else model
        trees = compile_trees(inner)
        return cls(pipeline, caster, parts, [np.asarray(s.support_, dtype=bool) for s in selectors], model, trees,
                   _direct_answer(inner) if trees is None else None)

    def features(self, cols: Columns, frame: Callable[[], pd.DataFrame]) -> np.ndarray:
        """The model's input for the cast columns ``cols`` (``frame`` builds them as a frame when a part needs one)."""
        X = np.hstack([part(cols, frame) for part in self.parts])
        for mask in self.masks:
            X = X[:, mask]
        return X

    def _inner(self) -> Any:
        return self.model.estimator_ if isinstance(self.model, EncodedLabelClassifier) else self.model

    def predict_proba(self, X: np.ndarray, answer: np.ndarray | None = None) -> np.ndarray:
        """Probabilities in the order of the pipeline's ``classes_`` (``answer``: the trees' answer for ``X``, when
        a :class:`~automl.pipeline.fast_trees.TreeBank` walked them already)."""
        inner = self._inner()
        if answer is None and self.direct is not None:
            answer = self.direct(X)
        proba = answer if answer is not None else self.trees.answer(X) if self.trees is not None else None
        if proba is None:
            proba = _logistic_proba(inner, X) if type(inner) is LogisticRegression and X.dtype == np.float64 \
                else inner.predict_proba(X)
        if not isinstance(self.model, EncodedLabelClassifier):
            return proba
        seen = np.asarray(inner.classes_, dtype=int)
        if len(seen) == len(self.model.classes_):
            return proba
        full = np.zeros((proba.shape[0], len(self.model.classes_)))
        full[:, seen] = proba
        return full

    def predict(self, X: np.ndarray, answer: np.ndarray | None = None) -> np.ndarray:
        """Labels (in the pipeline's classes) or values (``answer`` as in :meth:`predict_proba`)."""
        inner = self._inner()
        if answer is None and self.direct is not None:
            answer = self.direct(X)
        if isinstance(self.model, EncodedLabelClassifier):
            codes = np.argmax(answer, axis=1) if answer is not None else \
                self.trees.codes(X) if self.trees is not None else None
            if codes is None:
                return self.model.predict(X)
            return self.model.classes_[np.asarray(inner.classes_, dtype=int)[codes]]
        values = answer if answer is not None else self.trees.answer(X) if self.trees is not None else None
        return self.model.predict(X) if values is None else values[:, 0]

    @property
    def classes_(self) -> Any:
        return self.pipeline.classes_


def _logistic_proba(model: LogisticRegression, X: np.ndarray) -> np.ndarray:
    """scikit-learn's logistic probabilities, the same operations without its input checks."""
    decision = X @ model.coef_.T + model.intercept_
    if len(model.classes_) <= 2:
        positive = expit(decision.reshape(-1))
        return np.stack([1 - positive, positive], axis=1)
    return softmax(decision, copy=False)


def _direct_answer(model: Any) -> Callable[[np.ndarray], np.ndarray] | None:
    """The model's answer (probabilities, or one column of predictions) by the library's own arithmetic without the
    checks and bookkeeping of its ``predict``, for the models that have one (LightGBM's booster, the perceptrons' and
    torch networks' forward passes, the neighbours' search); ``None`` for the others."""
    return (_lightgbm_booster(model) or _perceptron_forward(model) or _network_answer(model)
            or neighbours_answer(model))


def _network_answer(model: Any) -> Callable[[np.ndarray], np.ndarray] | None:
    """A fitted torch_mlp network: its NumPy forward pass on the compiled features, without input validation."""
    from automl.models.torch_net import TorchNetClassifier, TorchNetRegressor

    if not isinstance(model, (TorchNetClassifier, TorchNetRegressor)) or not hasattr(model, "coefs_"):
        return None
    return lambda X: model.answer(np.ascontiguousarray(X, dtype=np.float32))


def _perceptron_forward(model: Any) -> Callable[[np.ndarray], np.ndarray] | None:
    """A fitted multi-layer perceptron (scikit-learn's, or the family's subclass that standardises the target) as its
    forward pass without input validation: what its ``predict_proba`` / ``predict`` compute, the same operations."""
    if not isinstance(model, (MLPClassifier, MLPRegressor)) or not hasattr(model, "coefs_"):
        return None
    classifier = isinstance(model, MLPClassifier)
    if classifier and model._label_binarizer.y_type_ == "multilabel-indicator" or \
            not classifier and model.n_outputs_ != 1:
        return None  # neither is a family's model
    scale, mean = getattr(model, "target_scale_", None), getattr(model, "target_mean_", None)

    def answer(X: np.ndarray) -> np.ndarray:
        out = model._forward_pass_fast(X, check_input=False)
        if classifier:
            if model.n_outputs_ == 1:
                positive = out.ravel()
                return np.vstack([1 - positive, positive]).T
            return out
        values = out.ravel()
        if scale is not None:
            values = values * scale + mean
        return values.reshape(-1, 1)

    return answer


def _lightgbm_booster(model: Any) -> Callable[[np.ndarray], np.ndarray] | None:
    """A LightGBM model whose trees are not walked flat (native categorical splits) as its booster called directly,
    on one thread: what its scikit-learn ``predict`` computes, without re-reading and deep-copying its parameters on
    every call (about half of a 1 ms call on one row). Probabilities (classifier) or one column of predictions."""
    lgbm = getattr(model, "estimator_", model)
    if not type(lgbm).__module__.startswith("lightgbm") or not isinstance(getattr(lgbm, "objective_", None), str):
        return None
    booster, classifier = lgbm.booster_, hasattr(lgbm, "classes_")

    def answer(X: np.ndarray) -> np.ndarray:
        out = np.asarray(booster.predict(X, num_threads=1))
        if not classifier:
            return out.reshape(-1, 1)
        return np.column_stack([1.0 - out, out]) if out.ndim == 1 else out

    return answer


def _answers(member: Any, X: Any) -> np.ndarray:
    """What a member answers for ``X`` as numbers: probabilities (a classifier) or predictions."""
    if hasattr(member, "predict_proba") and getattr(member, "classes_", None) is not None:
        return np.asarray(member.predict_proba(X), dtype=float)
    return np.asarray(member.predict(X), dtype=float)


# -- the whole final pipeline -----------------------------------------------------------------------------

@dataclass
class FastPredictor:
    """A final pipeline (one member, or a weighted ensemble of members) compiled for small batches.

    Build it with :meth:`compile`; members that did not compile, or whose compiled features differed from the
    pipeline's on the check rows, keep their ordinary ``predict``.
    """

    pipeline: Any
    members: list[Any]
    weights: list[float] | None
    classes: Any
    casters: dict[tuple[Any, ...], ColumnCaster] = field(default_factory=dict)
    compiled: int = 0
    bank: TreeBank | None = None  # the trees of every member that has some, walked together
    banked: list[int] = field(default_factory=list)  # which members the bank holds
    threads: Any = None  # the OpenMP libraries loaded when compiled (threadpoolctl), limited to one thread per call
    own_order: list[bool] = field(default_factory=list)  # per member: its probability columns are in classes' order
    threaded: list[int] = field(default_factory=list)  # the members that keep the caller's threads (neighbour search)

    @classmethod
    def compile(cls, pipeline: Any, checks: list[pd.DataFrame]) -> "FastPredictor | None":
        """The compiled form of ``pipeline``, checked on each batch of raw input rows in ``checks``
        (:func:`check_rows`); None when nothing of it compiles."""
        steps = dict(getattr(pipeline, "steps", []))
        ensemble = steps.get("ensemble") if len(steps) == 1 else None
        if ensemble is not None and hasattr(ensemble, "_members"):
            members, weights = list(ensemble._members()), list(ensemble.weights or [])
            classes = getattr(ensemble, "classes_", None)
        elif isinstance(pipeline, Pipeline):
            members, weights, classes = [pipeline], None, getattr(pipeline, "classes_", None)
        else:
            return None
        fast = cls(pipeline, [], weights, classes)
        for member in members:
            fast.members.append(fast._checked(member, checks))
        fast.compiled = sum(isinstance(m, CompiledMember) for m in fast.members)
        fast.threaded = [i for i, m in enumerate(fast.members) if searches_neighbours(m)]
        fast.own_order = [classes is not None and getattr(m, "classes_", None) is not None
                          and len(m.classes_) == len(classes) and bool(np.array_equal(m.classes_, classes))
                          for m in fast.members]
        if fast.compiled:
            fast._bank_trees(checks)
            fast.threads = _openmp()  # after the checks: every library the members call is loaded
        return fast if fast.compiled else None

    def _one_thread(self) -> Any:
        """A context in which OpenMP code runs on one thread (the caller's setting back after it)."""
        return self.threads.limit(limits=1) if self.threads is not None else contextlib.nullcontext()

    def _bank_trees(self, checks: list[pd.DataFrame]) -> None:
        """Walk the trees of all members that have them together, when there are several and the joint walk
        answers as each member's own does on the check rows."""
        banked = [i for i, m in enumerate(self.members) if isinstance(m, CompiledMember) and m.trees is not None]
        if len(banked) < 2:
            return
        try:
            inputs = [self._features(rows) for rows in checks]
            bank = TreeBank.of([self.members[i].trees for i in banked], [inputs[0][i].shape[1] for i in banked])
            for features in inputs:
                together = bank.answers([features[i] for i in banked])
                alone = [self.members[i].trees.answer(features[i]) for i in banked]
                if together is None or not all(a is not None and np.allclose(t, a, rtol=1e-12, atol=1e-15)
                                               for t, a in zip(together, alone)):
                    raise NotCompilable("the joint walk differs from the members' own on the check rows")
        except Exception as reason:  # noqa: BLE001 - the members keep walking their own trees
            log.debug("trees not walked together: %r", reason)
            return
        self.bank, self.banked = bank, banked

    def _features(self, X: pd.DataFrame) -> dict[int, np.ndarray]:
        """The input of each compiled member for the rows ``X``, by member index (one cast per distinct caster)."""
        cast: dict[tuple[Any, ...], tuple[Columns, Callable[[], pd.DataFrame]]] = {}
        features = {}
        for i, member in enumerate(self.members):
            if isinstance(member, CompiledMember):
                if member.cast_key not in cast:
                    cast[member.cast_key] = self._cast(X, member.caster)
                features[i] = member.features(*cast[member.cast_key])
        return features

    def _checked(self, member: Any, checks: list[pd.DataFrame]) -> Any:
        try:
            compiled = CompiledMember.compile(member)
            pairs = []
            for rows in checks:
                features = compiled.features(*self._cast(rows, compiled.caster))
                pairs.append((np.asarray(member[:-1].transform(rows), dtype=float), features))
                pairs.append((_answers(member, rows), _answers(compiled, features)))
        except NotCompilable as reason:
            log.debug("member runs the ordinary way: %s", reason)
            return member
        except Exception as error:  # noqa: BLE001 - any failure of the compiled form: the ordinary way
            log.debug("member runs the ordinary way: compiling it failed (%r)", error)
            return member
        if not all(got.shape == expected.shape and np.allclose(got, expected, rtol=1e-9, atol=1e-12, equal_nan=True)
                   for expected, got in pairs):
            log.debug("member runs the ordinary way: its compiled features or answers differ on the check rows")
            return member
        self.casters.setdefault(compiled.cast_key, compiled.caster)
        return compiled

    @staticmethod
    def _cast(X: pd.DataFrame, caster: ColumnCaster) -> tuple[Columns, Callable[[], pd.DataFrame]]:
        """The rows ``X`` cast by ``caster`` as columns, and a function making them a frame (once) for the parts
        that run their own ``transform``."""
        cols = cast_columns(caster, X)
        cached: list[pd.DataFrame] = []

        def frame() -> pd.DataFrame:
            if not cached:
                cached.append(caster.transform(X))
            return cached[0]

        return cols, frame

    def _member_outputs(self, X: pd.DataFrame, proba: bool) -> list[np.ndarray]:
        """Each member's probabilities (``proba``) or predictions for ``X``: on one OpenMP thread, except the
        members that search neighbours (:func:`searches_neighbours`), which keep the caller's thread setting."""
        outputs: dict[int, np.ndarray] = {}
        with self._one_thread():
            features = self._features(X)
            answers: dict[int, np.ndarray] = {}
            if self.bank is not None:
                together = self.bank.answers([features[i] for i in self.banked])
                answers = {} if together is None else dict(zip(self.banked, together))
            for i in range(len(self.members)):
                if i not in self.threaded:
                    outputs[i] = self._member_output(i, X, features, answers.get(i), proba)
        for i in self.threaded:
            outputs[i] = self._member_output(i, X, features, None, proba)
        return [outputs[i] for i in range(len(self.members))]

    def _member_output(self, i: int, X: pd.DataFrame, features: dict[int, np.ndarray], answer: np.ndarray | None,
                       proba: bool) -> np.ndarray:
        member = self.members[i]
        if not isinstance(member, CompiledMember):
            return np.asarray(member.predict_proba(X) if proba else member.predict(X))
        return member.predict_proba(features[i], answer) if proba else member.predict(features[i], answer)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Class probabilities, as the pipeline's ``predict_proba`` gives them."""
        outputs = self._member_outputs(X, proba=True)
        if self.weights is None:
            return outputs[0]
        total = np.zeros((outputs[0].shape[0], len(self.classes)))
        for p, m, w, same in zip(outputs, self.members, self.weights, self.own_order):
            total += w * (p if same else align_proba(p, m.classes_, self.classes))
        return total

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Labels or values, as the pipeline's ``predict`` gives them."""
        if self.weights is None:
            return self._member_outputs(X, proba=False)[0]
        if self.classes is not None:
            return np.asarray(self.classes)[np.argmax(self.predict_proba(X), axis=1)]
        outputs = self._member_outputs(X, proba=False)
        return np.sum([w * np.asarray(p, dtype=float) for p, w in zip(outputs, self.weights)], axis=0)


def searches_neighbours(member: Any) -> bool:
    """Whether the member's model is a k-nearest-neighbours model. scikit-learn's neighbour search can break a tie
    between equally distant training rows differently with another number of OpenMP threads (its float distances
    then round differently), so such a member answers as the ordinary pipeline only with the caller's threads."""
    pipeline = member.pipeline if isinstance(member, CompiledMember) else member
    model = pipeline.steps[-1][1] if isinstance(pipeline, Pipeline) else pipeline
    inner = getattr(model, "estimator_", model)
    return isinstance(inner, (KNeighborsClassifier, KNeighborsRegressor))


def _openmp() -> Any:
    """A threadpoolctl controller of the OpenMP libraries loaded now (None when there are none, or threadpoolctl
    cannot read them)."""
    try:
        from threadpoolctl import ThreadpoolController

        controller = ThreadpoolController().select(user_api="openmp")
    except Exception as error:  # noqa: BLE001 - without it calls keep the caller's thread setting
        log.debug("OpenMP not limited in compiled calls: %r", error)
        return None
    return controller if controller.lib_controllers else None


def check_rows(X: pd.DataFrame, n: int = 16) -> list[pd.DataFrame]:
    """Batches to check a compiled pipeline on: the first ``n`` rows of ``X``, and a row with every value missing
    (which takes the imputers, missing indicators and missing categories)."""
    return [X.head(n), pd.DataFrame({c: pd.Series([None], dtype=object) for c in X.columns})]
