"""Tree ensembles evaluated all trees at once, for a few rows.

scikit-learn predicts a forest tree by tree and a histogram gradient boosting model iteration by iteration: one
Python call per tree, 5-15 microseconds each, so one row through 100 boosting iterations costs ~0.8 ms and through
300 trees ~1.5 ms. :class:`FlatTrees` puts every node of every tree in flat arrays and walks all trees together,
one numpy step per level, and stops stepping a tree at its own depth. The splits are scikit-learn's: a forest
compares float32 values with its thresholds, a boosting model float64 ones; a missing value goes where the node sends
missing values. LightGBM's trees come from its ``dump_model``, CatBoost's symmetric trees from its JSON model
(:class:`ObliviousTrees`: a leaf is read from a row's comparison bits, no walk). Models with categorical splits are
not compiled (:func:`compile_trees` returns None). :class:`TreeBank` walks the trees of several models (an ensemble's
members, each on its own input columns) together.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.ensemble import (ExtraTreesClassifier, ExtraTreesRegressor, HistGradientBoostingClassifier,
                              HistGradientBoostingRegressor, RandomForestClassifier, RandomForestRegressor)
from sklearn.utils.extmath import softmax

_FORESTS = (RandomForestClassifier, ExtraTreesClassifier, RandomForestRegressor, ExtraTreesRegressor)
_BOOSTING = (HistGradientBoostingClassifier, HistGradientBoostingRegressor)
# LightGBM reads |x| <= this as zero (kZeroThreshold, a float32 1e-35)
_LIGHTGBM_ZERO = float(np.float32(1e-35))
# LightGBM objectives whose prediction is the raw score
_IDENTITY_OBJECTIVES = ("regression", "regression_l1", "huber", "fair", "quantile", "mape")
# CatBoost losses compiled, by the kind of answer they make of the raw scores (RMSE: the raw scores)
_CATBOOST_KINDS = {"Logloss": "binary", "MultiClass": "multiclass"}


@dataclass
class FlatTrees:
    """Nodes of several trees in flat arrays; a leaf points to itself on both sides."""

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    missing_left: np.ndarray
    values: np.ndarray  # (nodes, width): a leaf's answer
    roots: np.ndarray
    depth: int
    nan_to_zero: np.ndarray | None = None  # LightGBM: NaN read as 0 at this node (missing type None or Zero)
    zero_missing: np.ndarray | None = None  # LightGBM: 0 is the missing value at this node (missing type Zero)
    tree_depth: np.ndarray | None = None  # each tree's depth (None: all ``depth``)

    def __post_init__(self) -> None:
        # the walk goes deepest trees first and stops walking a tree at its depth: at level k it steps the first
        # active[k] trees of ``order`` (a joint walk of 30-level extra trees and 6-level boosting trees would
        # otherwise step every tree 30 times)
        depths = np.full(len(self.roots), self.depth) if self.tree_depth is None else self.tree_depth
        self._order = np.argsort(-depths, kind="stable")
        self._inverse = np.argsort(self._order)
        self._active = [int(np.sum(depths > level)) for level in range(self.depth)]
        self._children = np.stack([self.right, self.left], axis=1).ravel()  # node n's children: 2n (right), 2n + 1

    @property
    def count(self) -> int:
        return len(self.roots)

    @classmethod
    def join(cls, trees: list[dict[str, np.ndarray]]) -> "FlatTrees":
        """One flat set of the ``trees`` (each a dict of per-node arrays, children as indices within the tree)."""
        offsets = np.cumsum([0] + [len(t["feature"]) for t in trees[:-1]])
        keys = ("feature", "threshold", "missing_left", "values", "nan_to_zero", "zero_missing")
        parts: dict[str, list[np.ndarray]] = {key: [] for key in (*keys, "left", "right")}
        depth = 0
        for tree, offset in zip(trees, offsets):
            for key in keys:
                parts[key].append(tree.get(key, np.zeros(len(tree["feature"]), dtype=bool)))
            parts["left"].append(tree["left"] + offset)
            parts["right"].append(tree["right"] + offset)
            depth = max(depth, int(tree["depth"]))
        joined = {key: np.concatenate(value) for key, value in parts.items()}
        lightgbm = bool(joined["nan_to_zero"].any() or joined["zero_missing"].any())
        return cls(joined["feature"], joined["threshold"], joined["left"], joined["right"], joined["missing_left"],
                   joined["values"], offsets.astype(np.int64), depth,
                   joined["nan_to_zero"] if lightgbm else None, joined["zero_missing"] if lightgbm else None,
                   np.array([int(tree["depth"]) for tree in trees]))

    @classmethod
    def stack(cls, parts: list[tuple["FlatTrees", int]]) -> "FlatTrees":
        """The trees of several models in one set, to walk them together: ``parts`` holds each model's trees and the
        offset of its first input column in the joined input. Answers are padded with zeros to the widest."""
        width = max(trees.values.shape[1] for trees, _ in parts)
        lightgbm = any(trees.nan_to_zero is not None for trees, _ in parts)
        nodes = np.cumsum([0] + [len(trees.feature) for trees, _ in parts[:-1]])

        def flags(trees: FlatTrees, name: str) -> np.ndarray:
            value = getattr(trees, name)
            return np.zeros(len(trees.feature), dtype=bool) if value is None else value

        values = [np.pad(trees.values, ((0, 0), (0, width - trees.values.shape[1]))) for trees, _ in parts]
        return cls(np.concatenate([trees.feature + offset for trees, offset in parts]),
                   np.concatenate([trees.threshold for trees, _ in parts]),
                   np.concatenate([trees.left + n for (trees, _), n in zip(parts, nodes)]),
                   np.concatenate([trees.right + n for (trees, _), n in zip(parts, nodes)]),
                   np.concatenate([trees.missing_left for trees, _ in parts]), np.concatenate(values),
                   np.concatenate([trees.roots + n for (trees, _), n in zip(parts, nodes)]),
                   max(trees.depth for trees, _ in parts),
                   np.concatenate([flags(t, "nan_to_zero") for t, _ in parts]) if lightgbm else None,
                   np.concatenate([flags(t, "zero_missing") for t, _ in parts]) if lightgbm else None,
                   np.concatenate([np.full(t.count, t.depth) if t.tree_depth is None else t.tree_depth
                                   for t, _ in parts]))

    def leaf_values(self, X: np.ndarray) -> np.ndarray:
        """The answer of every tree for every row: (rows, trees, width)."""
        rows = np.arange(len(X))[:, None]
        node = np.tile(self.roots[self._order], (len(X), 1))
        nan_to_zero, zero_missing = self.nan_to_zero, self.zero_missing
        lightgbm = nan_to_zero is not None and zero_missing is not None
        complete = not lightgbm and not np.isnan(X).any()  # no value goes where missing ones go: fewer steps a level
        for active in self._active:
            at = node[:, :active]
            x = X[rows, self.feature[at]]
            if complete:
                left = x <= self.threshold[at]
            else:
                missing = np.isnan(x)
                if nan_to_zero is not None and zero_missing is not None:  # LightGBM's NumericalDecision
                    zeroed = missing & nan_to_zero[at]
                    x = np.where(zeroed, 0.0, x)
                    missing = (missing & ~zeroed) | (zero_missing[at] & (x >= -_LIGHTGBM_ZERO)
                                                     & (x <= _LIGHTGBM_ZERO))
                left = np.where(missing, self.missing_left[at], x <= self.threshold[at])
            node[:, :active] = self._children[2 * at + left]
        return self.values[node[:, self._inverse]]


def _sklearn_tree(estimator: Any, classifier: bool) -> dict[str, np.ndarray]:
    tree = estimator.tree_
    leaf = tree.children_left < 0
    own = np.arange(tree.node_count)
    if classifier:  # DecisionTreeClassifier.predict_proba: the first output's class shares, normalised
        values = tree.value[:, 0, :estimator.n_classes_].astype(float)
        total = values.sum(axis=1, keepdims=True)
        values = values / np.where(total == 0, 1.0, total)
    else:
        values = tree.value[:, 0, :1].astype(float)
    return {"feature": np.where(leaf, 0, tree.feature).astype(np.int64), "threshold": tree.threshold.astype(float),
            "left": np.where(leaf, own, tree.children_left).astype(np.int64),
            "right": np.where(leaf, own, tree.children_right).astype(np.int64),
            "missing_left": np.asarray(tree.missing_go_to_left, dtype=bool), "values": values,
            "depth": np.asarray(tree.max_depth)}


def _boosting_tree(predictor: Any) -> dict[str, np.ndarray]:
    nodes = predictor.nodes
    leaf = nodes["is_leaf"].astype(bool)
    own = np.arange(len(nodes))
    return {"feature": np.where(leaf, 0, nodes["feature_idx"]).astype(np.int64),
            "threshold": nodes["num_threshold"].astype(float),
            "left": np.where(leaf, own, nodes["left"]).astype(np.int64),
            "right": np.where(leaf, own, nodes["right"]).astype(np.int64),
            "missing_left": nodes["missing_go_to_left"].astype(bool),
            "values": nodes["value"].astype(float).reshape(-1, 1), "depth": np.asarray(nodes["depth"].max())}


class UnsupportedSplit(Exception):
    """A split the flat trees do not take (categorical or text): the model keeps its own predict."""


class CompiledTrees(ABC):
    """A model as trees walked together: ``prepare`` reads the input as the model compares it, the trees give their
    leaf values, ``finish`` makes the model's answer of them (a :class:`TreeBank` walks several models' trees and
    calls each ``finish`` on its own)."""

    trees: Any

    @abstractmethod
    def prepare(self, X: np.ndarray) -> np.ndarray | None:
        """The input as the trees compare it; None when the model's own checks must decide."""

    @abstractmethod
    def finish(self, leaves: np.ndarray) -> np.ndarray:
        """The answer from the trees' leaf values (rows, trees, width)."""

    def answer(self, X: np.ndarray) -> np.ndarray | None:
        """Class probabilities (classifier) or predictions (regressor, one column); None as in :meth:`prepare`."""
        prepared = self.prepare(X)
        return None if prepared is None else self.finish(self.trees.leaf_values(prepared))

    def codes(self, X: np.ndarray) -> np.ndarray | None:
        """The predicted class index of each row (the most probable), None as in :meth:`answer`."""
        proba = self.answer(X)
        return None if proba is None else np.argmax(proba, axis=1)


def _answer_of_raw(raw: np.ndarray, kind: str, slope: float = 1.0) -> np.ndarray:
    """A boosting library's answer from its raw scores: ``binary`` (a sigmoid of ``slope``), ``multiclass``
    (softmax) or the raw scores themselves."""
    if kind == "binary":
        positive = 1.0 / (1.0 + np.exp(-slope * raw[:, 0]))
        return np.stack([1.0 - positive, positive], axis=1)
    if kind == "multiclass":
        return softmax(raw, copy=False)
    return raw


@dataclass
class CompiledForest(CompiledTrees):
    """A random forest or extra trees (one output) as :class:`FlatTrees`."""

    trees: FlatTrees
    classifier: bool

    def prepare(self, X: np.ndarray) -> np.ndarray | None:
        """The input as the trees compare it (float32 values), None when a value is not finite (scikit-learn's
        checks decide what happens then)."""
        if not np.isfinite(X).all():
            return None
        return np.asarray(X, dtype=np.float32).astype(np.float64)

    def finish(self, leaves: np.ndarray) -> np.ndarray:
        """Averaged class shares (classifier) or predictions (regressor, one column)."""
        leaves = leaves[:, :, :self.trees.values.shape[1]]
        return leaves.sum(axis=1) / leaves.shape[1]


@dataclass
class CompiledBoosting(CompiledTrees):
    """A histogram gradient boosting model (numeric splits only) as :class:`FlatTrees`."""

    model: Any
    trees: FlatTrees
    per_iteration: int

    def prepare(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=np.float64)

    def raw(self, leaves: np.ndarray) -> np.ndarray:
        """The raw scores from the leaf values (trees in iteration order, per_iteration per iteration)."""
        raw = leaves[:, :, 0].reshape(len(leaves), -1, self.per_iteration).sum(axis=1)
        return raw + self.model._baseline_prediction

    def codes(self, X: np.ndarray) -> np.ndarray:
        """The predicted class index of each row, by scikit-learn's rule on the raw scores."""
        raw = self.raw(self.trees.leaf_values(self.prepare(X)))
        return (raw.ravel() > 0).astype(int) if raw.shape[1] == 1 else np.argmax(raw, axis=1)

    def finish(self, leaves: np.ndarray) -> np.ndarray:
        """Class probabilities (classifier) or predictions (regressor, one column)."""
        raw = self.raw(leaves)
        if isinstance(self.model, HistGradientBoostingClassifier):
            return self.model._loss.predict_proba(raw)
        return self.model._loss.link.inverse(raw.ravel()).reshape(-1, 1)


def _lightgbm_tree(root: dict[str, Any]) -> dict[str, np.ndarray]:
    """One tree of LightGBM's ``dump_model`` as node arrays (numeric splits only: UnsupportedSplit otherwise)."""
    nodes: list[dict[str, Any]] = []
    depth = 0
    stack: list[tuple[dict[str, Any], int, int, str]] = [(root, -1, 0, "")]  # node, parent index, depth, side
    while stack:
        node, parent, level, side = stack.pop()
        index = len(nodes)
        nodes.append(node)
        if parent >= 0:
            nodes[parent][f"_{side}"] = index
        depth = max(depth, level)
        if "leaf_value" not in node:
            if node.get("decision_type") != "<=":
                raise UnsupportedSplit("a categorical split")
            stack += [(node["right_child"], index, level + 1, "right"), (node["left_child"], index, level + 1, "left")]
    own = np.arange(len(nodes))
    leaf = np.array(["leaf_value" in n for n in nodes])
    kind = [n.get("missing_type", "None") for n in nodes]
    return {"feature": np.array([n.get("split_feature", 0) for n in nodes], dtype=np.int64),
            "threshold": np.array([float(n.get("threshold", 0.0)) for n in nodes]),
            "left": np.where(leaf, own, [n.get("_left", 0) for n in nodes]).astype(np.int64),
            "right": np.where(leaf, own, [n.get("_right", 0) for n in nodes]).astype(np.int64),
            "missing_left": np.array([bool(n.get("default_left", False)) for n in nodes]),
            "nan_to_zero": np.array([k != "NaN" for k in kind]) & ~leaf,
            "zero_missing": np.array([k == "Zero" for k in kind]) & ~leaf,
            "values": np.array([float(n.get("leaf_value", 0.0)) for n in nodes]).reshape(-1, 1),
            "depth": np.asarray(depth)}


@dataclass
class CompiledLightGBM(CompiledTrees):
    """A LightGBM model (numeric splits, the trees its ``predict`` uses) as :class:`FlatTrees`."""

    trees: FlatTrees
    per_iteration: int
    objective: str
    sigmoid: float
    classifier: bool

    def prepare(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        with np.errstate(invalid="ignore"):  # LightGBM reads a dense row sparsely: a value this near 0 is 0
            return np.where(np.abs(X) <= _LIGHTGBM_ZERO, 0.0, X)

    def finish(self, leaves: np.ndarray) -> np.ndarray:
        """Class probabilities (classifier) or predictions (regressor, one column)."""
        raw = leaves[:, :, 0].reshape(len(leaves), -1, self.per_iteration).sum(axis=1)
        return _answer_of_raw(raw, self.objective, self.sigmoid)


def _compile_lightgbm(model: Any) -> CompiledLightGBM | None:
    dump = model.booster_.dump_model()  # the best iteration when it stopped early, as its predict uses
    objective, *settings = str(dump["objective"]).split()
    options = dict(item.split(":", 1) for item in settings if ":" in item)
    classifier = hasattr(model, "classes_")
    if not ((classifier and objective in ("binary", "multiclass"))
            or (not classifier and objective in _IDENTITY_OBJECTIVES)):
        return None
    if any("leaf_coeff" in str(tree.keys()) for tree in dump["tree_info"]) or dump.get("average_output"):
        return None
    try:
        trees = [_lightgbm_tree(tree["tree_structure"]) for tree in dump["tree_info"]]
    except UnsupportedSplit:
        return None
    if not trees:
        return None
    return CompiledLightGBM(FlatTrees.join(trees), int(dump["num_tree_per_iteration"]), objective,
                            float(options.get("sigmoid", 1.0)), classifier)


@dataclass
class ObliviousTrees:
    """Symmetric trees (CatBoost's): every node of a level splits on the same feature and border, so a row's leaf
    is read from the bits of its ``depth`` comparisons, all trees at once, with no walk. Trees shallower than the
    deepest get splits that are never true (border +inf) as their highest bits."""

    feature: np.ndarray  # (trees, depth): the split of each level, the tree's first split first
    border: np.ndarray  # (trees, depth): a value above it sets the bit
    nan_true: np.ndarray  # (trees, depth): a missing value sets the bit
    values: np.ndarray  # (trees, 2 ** depth, width)

    @property
    def count(self) -> int:
        return self.feature.shape[0]

    @classmethod
    def stack(cls, parts: list[tuple["ObliviousTrees", int]]) -> "ObliviousTrees":
        """The trees of several models in one set (``parts`` as in :meth:`FlatTrees.stack`)."""
        depth = max(trees.feature.shape[1] for trees, _ in parts)
        width = max(trees.values.shape[2] for trees, _ in parts)

        def deepened(array: np.ndarray, fill: Any) -> np.ndarray:
            return np.pad(array, ((0, 0), (0, depth - array.shape[1])), constant_values=fill)

        return cls(np.concatenate([deepened(t.feature, 0) + offset for t, offset in parts]),
                   np.concatenate([deepened(t.border, np.inf) for t, _ in parts]),
                   np.concatenate([deepened(t.nan_true, False) for t, _ in parts]),
                   np.concatenate([np.pad(t.values, ((0, 0), (0, 2 ** depth - t.values.shape[1]),
                                                     (0, width - t.values.shape[2]))) for t, _ in parts]))

    def leaf_values(self, X: np.ndarray) -> np.ndarray:
        """The answer of every tree for every row: (rows, trees, width)."""
        x = X[:, self.feature]  # (rows, trees, depth)
        bits = np.where(np.isnan(x), self.nan_true, x > self.border)
        leaf = bits.astype(np.int64) @ (1 << np.arange(self.feature.shape[1]))
        return self.values[np.arange(self.count), leaf]


def _oblivious_trees(trees: list[dict[str, Any]], nan_true: dict[int, bool], width: int) -> ObliviousTrees:
    """CatBoost's symmetric trees (float splits only: UnsupportedSplit otherwise) as :class:`ObliviousTrees`;
    a leaf's index has the tree's first split as its lowest bit."""
    parts = []
    for tree in trees:
        splits = tree["splits"]
        if any(split.get("split_type") != "FloatFeature" for split in splits):
            raise UnsupportedSplit("a split on a categorical or text feature")
        features = np.array([[int(split["float_feature_index"]) for split in splits]], dtype=np.int64)
        values = np.asarray(tree["leaf_values"], dtype=float).reshape(1, 2 ** len(splits), width)
        parts.append((ObliviousTrees(features.reshape(1, -1),
                                     np.array([[float(np.float32(split["border"])) for split in splits]]),
                                     np.array([[nan_true.get(int(f), False) for f in features[0]]], dtype=bool),
                                     values), 0))
    return ObliviousTrees.stack(parts)


@dataclass
class CompiledCatBoost(CompiledTrees):
    """A CatBoost model on numeric features (Logloss, MultiClass or RMSE) as :class:`ObliviousTrees`."""

    trees: ObliviousTrees
    scale: float
    bias: np.ndarray
    loss: str

    def prepare(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=np.float32).astype(np.float64)  # CatBoost compares float32 values

    def finish(self, leaves: np.ndarray) -> np.ndarray:
        """Class probabilities (classifier) or predictions (regressor, one column)."""
        raw = self.scale * leaves[:, :, :len(self.bias)].sum(axis=1) + self.bias
        return _answer_of_raw(raw, _CATBOOST_KINDS.get(self.loss, "identity"))


def _compile_catboost(model: Any) -> CompiledCatBoost | None:
    import json
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.json"
        model.save_model(str(path), format="json")
        dump = json.loads(path.read_text())
    loss = str(dump["model_info"]["params"]["loss_function"]["type"])
    classifier = hasattr(model, "predict_proba")  # a CatBoost regressor has classes_ too
    if not ((classifier and loss in _CATBOOST_KINDS) or (not classifier and loss == "RMSE")):
        return None
    info = dump["features_info"]
    if set(info) != {"float_features"}:
        return None
    nan_true = {int(f["flat_feature_index"]): f.get("nan_value_treatment") == "AsTrue"
                for f in info["float_features"]}
    scale, bias = dump.get("scale_and_bias", [1.0, [0.0]])
    bias = np.atleast_1d(np.asarray(bias, dtype=float))
    if not dump["oblivious_trees"]:
        return None
    try:
        trees = _oblivious_trees(dump["oblivious_trees"], nan_true, len(bias))
    except UnsupportedSplit:
        return None
    return CompiledCatBoost(trees, float(scale), bias, loss)


def compile_trees(model: Any) -> CompiledTrees | None:
    """The model as flat trees, or None when it is not a one-output forest, a histogram gradient boosting model,
    a LightGBM model with numeric splits only or a CatBoost model on numeric features (a boosting library's
    early-stopping wrapper counts as its model)."""
    inner = getattr(model, "estimator_", None)
    if inner is not None and type(inner).__module__.startswith(("lightgbm", "catboost")):
        model = inner
    if type(model).__module__.startswith("catboost"):
        return _compile_catboost(model)
    if type(model).__module__.startswith("lightgbm") and hasattr(model, "booster_"):
        return _compile_lightgbm(model)
    if isinstance(model, _FORESTS) and model.n_outputs_ == 1:
        classifier = hasattr(model, "classes_")
        return CompiledForest(FlatTrees.join([_sklearn_tree(e, classifier) for e in model.estimators_]), classifier)
    if isinstance(model, _BOOSTING) and getattr(model, "_preprocessor", None) is None:
        predictors = [p for iteration in model._predictors for p in iteration]
        if not predictors or any(p.nodes["is_categorical"].any() for p in predictors):
            return None
        per_iteration = len(model._predictors[0])
        return CompiledBoosting(model, FlatTrees.join([_boosting_tree(p) for p in predictors]), per_iteration)
    return None


@dataclass
class TreeBank:
    """The trees of several compiled models walked in one pass per kind of tree, each model on its own input
    columns: a bagged ensemble's fold models and families share one walk instead of one each."""

    models: list[Any]
    groups: list[tuple[Any, list[int]]]  # the joined trees of one kind, and which models they hold
    ranges: list[tuple[int, int]]  # each model's trees within its group

    @classmethod
    def of(cls, models: list[Any], widths: list[int]) -> "TreeBank":
        """The bank of ``models`` whose inputs have ``widths`` columns."""
        kinds: dict[Any, list[int]] = {}
        for i, model in enumerate(models):
            kinds.setdefault(type(model.trees), []).append(i)
        groups, ranges = [], [(0, 0)] * len(models)
        for kind, held in kinds.items():
            columns = np.cumsum([0] + [widths[i] for i in held[:-1]])
            counts = np.cumsum([0] + [models[i].trees.count for i in held])
            groups.append((kind.stack([(models[i].trees, int(c)) for i, c in zip(held, columns)]), held))
            for i, a, b in zip(held, counts[:-1], counts[1:]):
                ranges[i] = (int(a), int(b))
        return cls(models, groups, ranges)

    def answers(self, inputs: list[np.ndarray]) -> list[np.ndarray] | None:
        """Each model's answer for its input (the same rows); None when a model refuses its input (not finite)."""
        prepared = [m.prepare(X) for m, X in zip(self.models, inputs)]
        if any(X is None for X in prepared):
            return None
        out: list[Any] = [None] * len(self.models)
        for trees, held in self.groups:
            leaves = trees.leaf_values(np.hstack([prepared[i] for i in held]))
            for i in held:
                a, b = self.ranges[i]
                out[i] = self.models[i].finish(leaves[:, a:b])
        return out
