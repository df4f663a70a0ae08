"""The joint, conditional search space: family first, then that family's hyperparameters.

Parameter names in the Optuna study are ``family`` and ``<family>.<param>``, so the study reads plainly
in optuna-dashboard and a family's parameters are only sampled when that family is chosen.
"""
from __future__ import annotations

import inspect
import itertools
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from automl.models.registry import ModelFamily
from automl.pipeline.build import TrialConfig

FAMILY = "family"
CLASS_WEIGHT = "class_weight"
NO_WEIGHT = "none"


def param_name(family: ModelFamily, param: str) -> str:
    return f"{family.name}.{param}"


def class_weight_choices(family: ModelFamily, task: str, option: Any) -> list[str]:
    """Class weighting the search may choose for a family: ``option`` is None, 'balanced' or 'search'
    (a dict of weights is not searched: see :func:`suggest_config`)."""
    if task == "regression" or not family.accepts_class_weight(task) or option is None or isinstance(option, dict):
        return []
    return [NO_WEIGHT, "balanced"] if option == "search" else [str(option)]


def suggest_config(trial: optuna.trial.BaseTrial, families: list[ModelFamily], task: str,
                   class_weight: Any, fixed_only: list[str] | None = None) -> TrialConfig:
    """Sample a :class:`TrialConfig` from ``trial``.

    Parameters
    ----------
    fixed_only : list of str, optional
        For a portfolio trial: suggest only these parameter names (which were enqueued with fixed
        values) and leave the rest at the library's defaults.
    """
    by_name = {f.name: f for f in families}
    family = by_name[trial.suggest_categorical(FAMILY, list(by_name))]
    params: dict[str, Any] = {}
    for param, decl in family.space_for(task).items():
        name = param_name(family, param)
        if fixed_only is not None and name not in fixed_only:
            continue
        params[param] = _suggest(trial, name, decl)
    preprocess: dict[str, Any] = {}
    for option, decl in family.preprocess.items():
        name = param_name(family, f"preprocess.{option}")
        if decl.get("refine") and name not in (fixed_only or ()):
            continue  # tried on the leading configurations by the controller, never sampled (see refine.py)
        if (fixed_only is None or name in fixed_only) and applies(decl, {**family.needs, **preprocess}):
            preprocess[option] = _suggest(trial, name, decl)
    weighting: Any = class_weight if isinstance(class_weight, dict) else None
    choices = class_weight_choices(family, task, class_weight)
    if choices:
        name = param_name(family, CLASS_WEIGHT)
        chosen = (trial.suggest_categorical(name, choices)
                  if fixed_only is None or name in fixed_only else choices[0])
        weighting = None if chosen == NO_WEIGHT else chosen
    return TrialConfig(family=family, params=params, class_weight=weighting, preprocess=preprocess)


def config_from_params(params: dict[str, Any], families: list[ModelFamily], task: str, class_weight: Any,
                       fixed_only: list[str] | None = None) -> TrialConfig:
    """The :class:`TrialConfig` a finished trial evaluated, from its study parameters (the inverse of
    :func:`suggest_config`: the same rules replayed on the recorded values)."""
    return suggest_config(optuna.trial.FixedTrial(params), families, task, class_weight, fixed_only)


def applies(decl: dict[str, Any], chosen: dict[str, Any]) -> bool:
    """Whether a conditional option is sampled: ``when: {other: [values]}`` needs ``other`` to have one of the
    values (``select_fraction`` only when a selection method is chosen)."""
    return all(chosen.get(other) in values for other, values in (decl.get("when") or {}).items())


def _suggest(trial: optuna.trial.BaseTrial, name: str, decl: dict[str, Any]) -> Any:
    distribution = _distribution(name, decl)
    if isinstance(distribution, IntDistribution):
        return trial.suggest_int(name, distribution.low, distribution.high, log=distribution.log)
    if isinstance(distribution, FloatDistribution):
        return trial.suggest_float(name, distribution.low, distribution.high, log=distribution.log)
    assert isinstance(distribution, CategoricalDistribution)
    return trial.suggest_categorical(name, list(distribution.choices))


def _distribution(name: str, decl: dict[str, Any]) -> BaseDistribution:
    """The Optuna distribution of a declared entry (``int``, ``float`` or ``choice``)."""
    if "int" in decl:
        low, high = decl["int"]
        return IntDistribution(int(low), int(high), log=bool(decl.get("log")))
    if "float" in decl:
        low, high = decl["float"]
        return FloatDistribution(float(low), float(high), log=bool(decl.get("log")))
    if "choice" in decl:
        return CategoricalDistribution(list(decl["choice"]))
    raise ValueError(f"search space entry {name!r} needs one of int / float / choice, got {sorted(decl)}")


def space_distributions(families: list[ModelFamily], task: str, class_weight: Any) -> dict[str, BaseDistribution]:
    """Every parameter :func:`suggest_config` may set, with the distribution the study records for it (a study
    holds one distribution per parameter name: :func:`automl.search.study.check_search_space`)."""
    out: dict[str, BaseDistribution] = {FAMILY: CategoricalDistribution([f.name for f in families])}
    for family in families:
        for param, decl in family.space_for(task).items():
            name = param_name(family, param)
            out[name] = _distribution(name, decl)
        for option, decl in family.preprocess.items():
            name = param_name(family, f"preprocess.{option}")
            out[name] = _distribution(name, decl)
        choices = class_weight_choices(family, task, class_weight)
        if choices:
            out[param_name(family, CLASS_WEIGHT)] = CategoricalDistribution(choices)
    return out


def in_domain(value: Any, decl: dict[str, Any]) -> bool:
    """Whether ``value`` lies in the declared range or choices."""
    if "choice" in decl:
        return value in decl["choice"]
    key = "int" if "int" in decl else "float"
    low, high = decl[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return (key == "float" or float(value).is_integer()) and low <= value <= high


def library_defaults(family: ModelFamily, task: str, train_rows: float = 0.0, bagging: bool = False
                     ) -> dict[str, Any]:
    """The estimator's own default values of the family's tunable parameters, where they lie in the space (on
    ``train_rows`` training rows, the defaults of the family's size rule there over them, ``large_data``,
    ``small_data``, ``bagged_data`` or ``stopped_data``; ``bagging``: the fit's trials are bags of fold models).

    These are enqueued as the portfolio trial of the family, so the sampler starts from the defaults.
    """
    parameters = inspect.signature(family.estimator_class(task).__init__).parameters \
        if family.signature_defaults else {}
    declared = {**family.default_params(task), **family.size_defaults(train_rows, bagging)}
    out = {}
    for param, decl in family.space_for(task).items():
        value = declared.get(param, parameters[param].default if param in parameters else inspect.Parameter.empty)
        if value is not inspect.Parameter.empty and in_domain(value, decl):
            out[param_name(family, param)] = value
    return out


def grid_points(family: ModelFamily, task: str) -> list[dict[str, Any]]:
    """Every combination of the family's declared ``grid`` values (choices count as a grid)."""
    axes = []
    for param, decl in family.space_for(task).items():
        values = decl.get("grid", decl.get("choice"))
        if values:
            axes.append([(param_name(family, param), v) for v in values])
    return [dict(combo) for combo in itertools.product(*axes)]
