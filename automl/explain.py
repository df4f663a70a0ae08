"""What a fitted model's predictions rest on, in the user's columns.

Three views, from the cheapest:

- :func:`native_importances`: what the models learned about their own inputs (split gain for LightGBM, impurity
  decrease for forests, CatBoost's prediction change, the size of a linear model's coefficients on standardised
  inputs), carried back through the preprocessing to the columns the user gave and averaged over an ensemble's
  members by their weights. Free: no data, no predictions.
- :func:`permutation_importances`: the drop in the search metric when one column is shuffled, on rows the user
  gives; works for every model (ensembles, kNN, synthesis from related tables), costs ``n_repeats`` predictions
  per column.
- :func:`shap_values`: per row, how much each column moved this prediction away from the average one (TreeSHAP,
  the ``explain`` extra), for a final model that is one tree-based pipeline.

A column the preprocessing splits into several features (one-hot levels, date parts, a missing-value indicator)
gets the sum of theirs; a feature computed from several columns (a ratio of two numbers, a number against its
group's mean) is shared equally among them.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline

Sources = list[tuple[str, ...]]


# -- from the model's inputs back to the user's columns ---------------------------------------------------------
def model_input_sources(pipeline: Pipeline) -> Sources:
    """For every feature the model of a fitted single pipeline (cast, preprocess, selection, model) receives,
    the input columns it is computed from."""
    steps = dict(pipeline.steps)
    preprocess = steps.get("preprocess")
    if not isinstance(preprocess, ColumnTransformer):
        raise ValueError("not a pipeline of this engine (no 'preprocess' step)")
    sources = _column_transformer_sources(preprocess)
    for name in ("filter", "select"):  # selectors keep a subset of the features, in order
        if name in steps:
            support = steps[name].get_support()
            sources = [s for s, kept in zip(sources, support) if kept]
    return sources


def _column_transformer_sources(ct: ColumnTransformer) -> Sources:
    out: Sources = []
    for name, transformer, columns in ct.transformers_:
        if transformer == "drop" or name not in ct.output_indices_:
            continue
        block = ct.output_indices_[name]
        width = block.stop - block.start
        if width == 0:
            continue
        columns = [str(c) for c in np.atleast_1d(columns)]
        out += _block_sources(transformer, columns, width)
    return out


def _block_sources(transformer: Any, columns: list[str], width: int) -> Sources:
    """Sources of the ``width`` features one part of the preprocessing makes from ``columns``."""
    if len(columns) == 1:
        return [(columns[0],)] * width
    steps = transformer.steps if isinstance(transformer, Pipeline) else [(None, transformer)]
    first = steps[0][1]
    if hasattr(first, "feature_sources"):  # the engine's own transformers say what each output reads
        sources: Sources = first.feature_sources()
        for _, step in steps[1:]:
            sources = _after(step, sources)
        if len(sources) == width:
            return sources
    else:
        named = _by_name(transformer, columns)
        if named is not None and len(named) == width:
            return named
    return [tuple(columns)] * width  # unknown layout: every feature shared by the whole block


def _after(step: Any, sources: Sources) -> Sources:
    """Sources after a step that keeps its inputs in order (scaling), or adds missing-value indicators."""
    if isinstance(step, SimpleImputer) and getattr(step, "indicator_", None) is not None:
        return sources + [sources[i] for i in step.indicator_.features_]
    return sources


def _by_name(transformer: Any, columns: list[str]) -> Sources | None:
    """Sources read from scikit-learn's output names: each name starts with the column it encodes
    (``colour_red``, ``missingindicator_age``); the longest column that fits wins."""
    try:
        names = [str(n) for n in transformer.get_feature_names_out()]
    except (AttributeError, ValueError, TypeError):
        return None
    longest_first = sorted(columns, key=len, reverse=True)
    out: Sources = []
    for name in names:
        bare = name.removeprefix("missingindicator_")
        match = next((c for c in longest_first if bare == c or bare.startswith(c + "_")), None)
        if match is None:
            return None
        out.append((match,))
    return out


def spread(values: np.ndarray, sources: Sources, columns: list[str]) -> np.ndarray:
    """Feature values (last axis: the model's features) summed into ``columns``, a feature with several sources
    shared equally among them; returns the same shape with the last axis over ``columns``."""
    index = {c: i for i, c in enumerate(columns)}
    matrix = np.zeros((len(sources), len(columns)))
    for j, owners in enumerate(sources):
        known = [index[o] for o in owners if o in index]
        if known:
            matrix[j, known] = 1.0 / len(known)
    return np.asarray(values) @ matrix


# -- importances ----------------------------------------------------------------------------------------------------
def unwrap(model: Any) -> Any:
    """The library estimator inside the engine's wrappers (label encoding, early stopping)."""
    while hasattr(model, "fitted_model"):
        model = model.fitted_model()
    return model


def model_importances(model: Any) -> np.ndarray | None:
    """A fitted model's own importances of its input features, summing to 1; ``None`` when it has none
    (kNN, neural networks, histogram gradient boosting)."""
    booster = getattr(model, "booster_", None)
    if booster is not None:  # LightGBM: total gain, not the count of splits its feature_importances_ gives
        values = np.asarray(booster.feature_importance(importance_type="gain"), dtype=float)
    elif hasattr(model, "feature_importances_"):
        values = np.asarray(model.feature_importances_, dtype=float)
    elif hasattr(model, "coef_"):  # the linear family standardises its inputs: coefficient sizes compare
        values = np.abs(np.atleast_2d(model.coef_)).mean(axis=0)
    else:
        return None
    total = values.sum()
    return values / total if np.isfinite(total) and total > 0 else None


def members(final: Pipeline) -> list[tuple[Pipeline, float]]:
    """The single pipelines of a final model with their weights (an ensemble's members, or itself with 1)."""
    from automl.pipeline.postprocess import without_postprocessing

    final = without_postprocessing(final)
    steps = dict(final.steps)
    if "ensemble" in steps:
        ensemble = steps["ensemble"]
        return list(zip(ensemble._members(), ensemble.weights or []))
    return [(final, 1.0)]


def native_importances(final: Pipeline, columns: list[str]) -> pd.Series:
    """The models' own importances carried back to ``columns`` (weighted over an ensemble's members that have
    them), summing to 1, largest first.

    Raises
    ------
    AttributeError
        When no member has importances of its own (use permutation importances).
    """
    total = np.zeros(len(columns))
    weight = 0.0
    for pipeline, w in members(final):
        if "synthesis" in dict(pipeline.steps):
            raise AttributeError("a model fitted with feature synthesis from related tables or series has no "
                                 "importances of the input columns; use permutation_importance(X, y, tables=...)")
        values = model_importances(unwrap(pipeline.steps[-1][1]))
        if values is None:
            continue
        sources = model_input_sources(pipeline)
        if len(sources) != len(values):
            continue  # a layout this mapping does not know: leave the member out rather than misattribute
        total += w * spread(values, sources, columns)
        weight += w
    if weight == 0:
        raise AttributeError("no model of the final pipeline has importances of its own (kNN, neural networks and "
                             "histogram gradient boosting do not); use permutation_importance(X, y)")
    share = total / weight
    return pd.Series(share / share.sum(), index=columns, name="importance").sort_values(ascending=False)


def permutation_importances(model: Any, X: pd.DataFrame, y: Any, *, n_repeats: int = 5,
                            random_state: int | None = None, max_rows: int | None = 10_000,
                            sample_weight: Any = None, tables: dict[str, Any] | None = None,
                            predictor: Any = None) -> pd.DataFrame:
    """The drop in ``model``'s search metric when each column of ``X`` is shuffled (scikit-learn's
    ``permutation_importance``), on at most ``max_rows`` rows drawn at random.

    ``predictor`` predicts the rows instead of ``model`` (with ``tables`` bound when given): a
    :class:`automl.model_input.FeatureModel`, to shuffle the synthesised features of a model fitted with related
    tables or on series, computed once, rather than its raw input.

    Returns
    -------
    DataFrame
        Indexed by column, largest first: ``importance`` (mean drop; greater is more important whatever the
        metric's direction), ``std`` over the repeats.
    """
    from sklearn.inspection import permutation_importance

    from automl.metrics import align_labels, checked_builtin, predict_for_metric, score_predictions
    from automl.model_input import predictor as bound_predictor

    frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X, columns=getattr(model, "feature_names_in_", None))
    labels = align_labels(model.classes_, y)
    weights = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
    if max_rows is not None and len(frame) > max_rows:
        rows = np.sort(np.random.default_rng(random_state).choice(len(frame), max_rows, replace=False))
        frame, labels = frame.iloc[rows], labels[rows]
        weights = None if weights is None else weights[rows]
    metric = checked_builtin(model.metric_)
    sign = 1.0 if metric.greater_is_better else -1.0

    predicted = predictor if predictor is not None else bound_predictor(model, tables)

    def scorer(estimator: Any, rows: pd.DataFrame, target: Any, sample_weight: Any = None) -> float:
        pred = predict_for_metric(predicted, rows, model.task_, model.classes_)
        return sign * score_predictions(metric, target, pred, sample_weight, model.classes_)

    result = permutation_importance(model, frame, labels, scoring=scorer, n_repeats=n_repeats,
                                    random_state=random_state, n_jobs=1, sample_weight=weights)
    out = pd.DataFrame({"importance": result.importances_mean, "std": result.importances_std},
                       index=pd.Index([str(c) for c in frame.columns], name="column"))
    return out.sort_values("importance", ascending=False)


# -- SHAP -----------------------------------------------------------------------------------------------------------
def shap_values(final: Pipeline, frame: pd.DataFrame, columns: list[str], classes: Any) -> pd.DataFrame:
    """TreeSHAP contributions of ``columns`` to the predictions of ``frame`` (checked input rows).

    Binary: to the raw score of ``classes[1]`` (log-odds for boosting, probability for forests); multiclass:
    columns ``(class, column)``; regression: to the predicted value. ``attrs["base_value"]`` holds the average
    output the contributions start from: a row's base value plus its contributions is the model's raw output.

    Raises
    ------
    ImportError
        Without the ``shap`` package (``pip install 'automl[explain]'``).
    ValueError
        For an ensemble, or a model that is not tree-based.
    """
    try:
        import shap
    except ImportError:
        raise ImportError("SHAP values need the 'shap' package: pip install 'automl[explain]'") from None
    pipelines = members(final)
    if len(pipelines) != 1:
        raise ValueError(f"the final model is an ensemble of {len(pipelines)} pipelines; SHAP values are computed "
                         "for one tree-based pipeline (fit with ensemble=False), or use permutation_importance")
    pipeline = pipelines[0][0]
    model = unwrap(pipeline.steps[-1][1])
    try:
        explainer = shap.TreeExplainer(model)
    except Exception as exc:  # shap raises a bare Exception for a model type it does not know
        raise ValueError(f"SHAP values are computed for tree-based models; the final model is "
                         f"{type(model).__name__} ({exc}). Use permutation_importance instead.") from None
    features = pipeline[:-1].transform(frame)
    values = np.asarray(explainer.shap_values(np.asarray(features, dtype=float), check_additivity=False))
    base = np.atleast_1d(np.asarray(explainer.expected_value, dtype=float))
    sources = model_input_sources(pipeline)
    if values.ndim == 3:  # rows x features x outputs
        if classes is not None and len(classes) == 2 and values.shape[2] == 2:
            values, base = values[:, :, 1], base[1:]
        else:
            per_class = [spread(values[:, :, k], sources, columns) for k in range(values.shape[2])]
            labels = [str(c) for c in classes] if classes is not None else list(range(values.shape[2]))
            out = pd.DataFrame(np.concatenate(per_class, axis=1), index=frame.index,
                               columns=pd.MultiIndex.from_product([labels, columns], names=["class", "column"]))
            out.attrs["base_value"] = dict(zip(labels, base.tolist()))
            return out
    out = pd.DataFrame(spread(values, sources, columns), index=frame.index, columns=columns)
    out.attrs["base_value"] = float(base[-1])
    return out
