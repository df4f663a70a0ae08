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

_FORESTS = (RandomForestClassifier, ExtraTreesClassifier, RandomForestRegressor, ExtraTreesRegressor)
_BOOSTING = (HistGradientBoostingClassifier, HistGradientBoostingRegressor)


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

    @classmethod
    def join(cls, trees: list[dict[str, np.ndarray]]) -> "FlatTrees":
        """One flat set of the ``trees`` (each a dict of per-node arrays, children as indices within the tree)."""
        offsets = np.cumsum([0] + [len(t["feature"]) for t in trees[:-1]])
        parts: dict[str, list[np.ndarray]] = {key: [] for key in ("feature", "threshold", "left", "right",
                                                                  "missing_left", "values")}
        depth = 0
        for tree, offset in zip(trees, offsets):
            for key in ("feature", "threshold", "missing_left", "values"):
                parts[key].append(tree[key])
            parts["left"].append(tree["left"] + offset)
            parts["right"].append(tree["right"] + offset)
            depth = max(depth, int(tree["depth"]))
        joined = {key: np.concatenate(value) for key, value in parts.items()}
        return cls(joined["feature"], joined["threshold"], joined["left"], joined["right"], joined["missing_left"],
                   joined["values"], offsets.astype(np.int64), depth)

    def leaf_values(self, X: np.ndarray) -> np.ndarray:
        """The answer of every tree for every row: (rows, trees, width)."""
        rows = np.arange(len(X))[:, None]
        node = np.tile(self.roots, (len(X), 1))
        for _ in range(self.depth):
            x = X[rows, self.feature[node]]
            left = np.where(np.isnan(x), self.missing_left[node], x <= self.threshold[node])
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


def compile_trees(model: Any) -> CompiledForest | CompiledBoosting | None:
    """The model as flat trees, or None when it is not a one-output forest or a boosting model with numeric splits
    only."""
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
