"""Reuse a supervised pipeline step fitted by an earlier trial of the same fit.

The FRESH filter after tsfresh (:class:`automl.pipeline.select.RelevanceFilter`) runs one statistical test per
feature and class: seconds per fold on a few hundred features, in every fold of every trial. It is supervised, so it
must be fitted on each fold's training rows only; but given the same input (the preprocessed training rows of a
fold, their targets and the filter's parameters) it returns the same result in every trial. A trial fitting a
pipeline with such a step fits the steps before it, then looks the step up in a cache on disk (trials run in
processes of their own) keyed by a hash of exactly that input, and fits it only on a miss. Different folds, plans
or preprocessing give different input, so a hit is never another fold's filter: no leak.

:func:`automl.synthesis.SynthesisMixin.fit_series` opens the cache for one fit (a temporary folder, removed when the
fit ends) and names it in the trials' needs under :data:`STEP_CACHE`; :func:`automl.search.evaluate.fit_pipeline`
fits through :func:`fit_reusing_step` when it is set.
"""
from __future__ import annotations

import contextlib
import shutil
import tempfile
from typing import Any, Iterator

import joblib
from sklearn.base import clone
from sklearn.pipeline import Pipeline

# The trials' needs key naming the cache folder of the fit.
STEP_CACHE = "step_cache"
# The step reused: the FRESH filter (automl/pipeline/build.py names it so).
CACHED_STEP = "filter"


@contextlib.contextmanager
def step_cache() -> Iterator[str]:
    """A private temporary folder for the fitted steps of one fit, removed with everything in it on exit.

    Yields
    ------
    str
        The folder's path, for the trials' needs (``{STEP_CACHE: path}``).
    """
    location = tempfile.mkdtemp(prefix="automl-steps-")
    try:
        yield location
    finally:
        shutil.rmtree(location, ignore_errors=True)


def fit_step(step: Any, X: Any, y: Any) -> Any:
    """A fitted copy of ``step`` (what the cache stores; the unfitted ``step``, ``X`` and ``y`` are its key)."""
    return clone(step).fit(X, y)


def fit_reusing_step(pipe: Pipeline, X: Any, y: Any, fit_params: dict[str, Any], location: str,
                     name: str = CACHED_STEP) -> Pipeline:
    """Fit ``pipe`` as ``pipe.fit(X, y, **fit_params)`` does, taking its step ``name`` from the cache at
    ``location`` when an earlier fit gave that step the same input.

    Parameters
    ----------
    pipe : Pipeline
        Unfitted; ``name`` is one of its steps, not the last; ``fit_params`` go to steps after it.
    X, y
        The training rows and their targets.
    fit_params : dict
        Routed as ``Pipeline.fit`` routes them (``{"model__sample_weight": w}``).
    location : str
        The cache folder (:func:`step_cache`).
    name : str, default="filter"

    Returns
    -------
    Pipeline
        ``pipe``, fitted; the step ``name`` is a fitted step of the same class and parameters.
    """
    names = [n for n, _ in pipe.steps]
    index = names.index(name)
    head, tail = pipe[:index], pipe[index + 1:]
    Xt = head.fit_transform(X, y) if index else X
    cached = joblib.Memory(location, verbose=0).cache(fit_step)
    fitted = cached(pipe.steps[index][1], Xt, y)
    tail.fit(fitted.transform(Xt), y, **fit_params)
    pipe.steps = [*head.steps, (name, fitted), *tail.steps]  # the parts fitted, as Pipeline.fit leaves them
    return pipe
