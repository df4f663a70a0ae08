"""Tree ensembles evaluated all trees at once, for a few rows.

scikit-learn predicts a forest tree by tree and a histogram gradient boosting model iteration by iteration: one
Python call per tree, 5-15 microseconds each, so one row through 100 boosting iterations costs ~0.8 ms and through
300 trees ~1.5 ms. :class:`FlatTrees` puts every node of every tree in flat arrays and walks all trees together,
one numpy step per level. The splits are scikit-learn's: a forest compares float32 values with its thresholds, a
boosting model float64 ones; a missing value goes where the node sends missing values. Models with categorical
splits are not compiled (:func:`compile_trees` returns None).
"""
from __future__ import annotations

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
                   joined["nan_to_zero"] if lightgbm else None, joined["zero_missing"] if lightgbm else None)

    def leaf_values(self, X: np.ndarray) -> np.ndarray:
        """The answer of every tree for every row: (rows, trees, width)."""
        rows = np.arange(len(X))[:, None]
        node = np.tile(self.roots, (len(X), 1))
        for _ in range(self.depth):
            x = X[rows, self.feature[node]]
            missing = np.isnan(x)
            if self.nan_to_zero is not None and self.zero_missing is not None:  # LightGBM's NumericalDecision
                zeroed = missing & self.nan_to_zero[node]
                x = np.where(zeroed, 0.0, x)
                missing = (missing & ~zeroed) | (self.zero_missing[node] & (x >= -_LIGHTGBM_ZERO) & (x <= _LIGHTGBM_ZERO))
            left = np.where(missing, self.missing_left[node], x <= self.threshold[node])
            node = np.where(left, self.left[node], self.right[node])
        return self.values[node]


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


@dataclass
class CompiledForest:
    """A random forest or extra trees (one output) as :class:`FlatTrees`."""

    trees: FlatTrees
    classifier: bool

    def answer(self, X: np.ndarray) -> np.ndarray | None:
        """Averaged class shares (classifier) or predictions (regressor, one column); None when a value is not
        finite (scikit-learn's checks decide what happens then)."""
        if not np.isfinite(X).all():
            return None
        X32 = np.asarray(X, dtype=np.float32).astype(np.float64)  # the trees compare float32 inputs
        leaves = self.trees.leaf_values(X32)
        return leaves.sum(axis=1) / leaves.shape[1]

    def codes(self, X: np.ndarray) -> np.ndarray | None:
        """The predicted class index of each row (scikit-learn's rule: the most probable), None as in :meth:`answer`."""
        proba = self.answer(X)
        return None if proba is None else np.argmax(proba, axis=1)


@dataclass
class CompiledBoosting:
    """A histogram gradient boosting model (numeric splits only) as :class:`FlatTrees`."""

    model: Any
    trees: FlatTrees
    per_iteration: int

    def raw(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        leaves = self.trees.leaf_values(X)[:, :, 0]  # trees in iteration order, per_iteration per iteration
        raw = leaves.reshape(len(X), -1, self.per_iteration).sum(axis=1)
        return raw + self.model._baseline_prediction

    def codes(self, X: np.ndarray) -> np.ndarray:
        """The predicted class index of each row, by scikit-learn's rule on the raw scores."""
        raw = self.raw(X)
        return (raw.ravel() > 0).astype(int) if raw.shape[1] == 1 else np.argmax(raw, axis=1)

    def answer(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities (classifier) or predictions (regressor, one column)."""
        raw = self.raw(X)
        if isinstance(self.model, HistGradientBoostingClassifier):
            return self.model._loss.predict_proba(raw)
        return self.model._loss.link.inverse(raw.ravel()).reshape(-1, 1)


def _lightgbm_tree(root: dict[str, Any]) -> dict[str, np.ndarray]:
    """One tree of LightGBM's ``dump_model`` as node arrays (numeric splits only: NotImplementedError otherwise)."""
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
                raise NotImplementedError("a categorical split")
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
class CompiledLightGBM:
    """A LightGBM model (numeric splits, the trees its ``predict`` uses) as :class:`FlatTrees`."""

    trees: FlatTrees
    per_iteration: int
    objective: str
    sigmoid: float
    classifier: bool

    def raw(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        with np.errstate(invalid="ignore"):  # LightGBM reads a dense row sparsely: a value this near 0 is 0
            X = np.where(np.abs(X) <= _LIGHTGBM_ZERO, 0.0, X)
        leaves = self.trees.leaf_values(X)[:, :, 0]
        return leaves.reshape(len(X), -1, self.per_iteration).sum(axis=1)

    def answer(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities (classifier) or predictions (regressor, one column)."""
        raw = self.raw(X)
        if self.objective == "binary":
            positive = 1.0 / (1.0 + np.exp(-self.sigmoid * raw[:, 0]))
            return np.stack([1.0 - positive, positive], axis=1)
        if self.objective == "multiclass":
            return softmax(raw, copy=False)
        return raw

    def codes(self, X: np.ndarray) -> np.ndarray:
        """The predicted class index of each row (LightGBM's rule: the most probable)."""
        return np.argmax(self.answer(X), axis=1)


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
    except NotImplementedError:
        return None
    if not trees:
        return None
    return CompiledLightGBM(FlatTrees.join(trees), int(dump["num_tree_per_iteration"]), objective,
                            float(options.get("sigmoid", 1.0)), classifier)


def compile_trees(model: Any) -> CompiledForest | CompiledBoosting | CompiledLightGBM | None:
    """The model as flat trees, or None when it is not a one-output forest, a histogram gradient boosting model
    or a LightGBM model with numeric splits only (a LightGBM early-stopping wrapper counts as its LightGBM)."""
    inner = getattr(model, "estimator_", None)
    if inner is not None and type(inner).__module__.startswith("lightgbm"):
        model = inner
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
