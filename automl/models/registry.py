"""Model families as declarations: read from ``configs/families.yaml``, one :class:`ModelFamily` each."""
from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import logging
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from sklearn.base import BaseEstimator

from automl.models.adapters import FamilyAdapter

KINDS = ("classifier", "regressor")


def config_path(name: str) -> Path:
    """Path of a file in the project's ``configs/`` folder (installed as the ``automl.configs`` package)."""
    installed = Path(__file__).resolve().parent.parent / "configs" / name
    if installed.exists():
        return installed
    return Path(__file__).resolve().parents[2] / "configs" / name


def _per_kind(value: Any, kind: str) -> Any:
    """A declaration value may be given once, or per kind as ``{classifier: ..., regressor: ...}``."""
    if isinstance(value, dict) and value and set(value) <= set(KINDS):
        return value.get(kind)
    return value


@dataclass(frozen=True)
class ModelFamily:
    """One model family: what it is, what it needs, its defaults and its search space.

    Attributes
    ----------
    name : str
        Leaderboard name (``lightgbm``, ``random_forest``, ...).
    estimators : dict
        The estimator per kind (``classifier`` / ``regressor``): its class, or its import path (the declarations
        in ``configs/families.yaml`` use paths).
    cost : float
        Rough relative fit cost; the default portfolio runs cheapest first.
    needs : dict
        Preprocessing: ``impute`` (bool), ``encode`` (``onehot`` / ``ordinal``), ``scale`` (bool, or
        ``standard`` / ``quantile``: :data:`automl.pipeline.build.SCALINGS`).
    space : dict
        Hyperparameter declarations for tuning (see ``configs/families.yaml``).
    preprocess : dict
        Preprocessing choices the search may make for this family (they override ``needs``).
    adapter : str or None
        Import path of its :class:`~automl.models.adapters.FamilyAdapter` (trusted types, ONNX converters);
        the default adapter when ``None``.
    strength : float or dict
        Prior of how well its defaults do on large tables (about 0-1, higher first): where defaults are dear, the
        search starts with the strongest that fit in the time (:func:`automl.search.cost.first_moves`). A mapping
        gives it per task (``binary``, ``multiclass``, ``regression``) on a large table's rungs, over a ``default``
        that holds elsewhere (:meth:`strength_for`).
    extra : str or None
        The optional dependency group that installs its library (``pip install "automl[<extra>]"``), for a family
        whose library is not in the core install.
    requires : str or None
        The module the family needs when its estimators are our own classes (whose import path names ``automl``):
        the family is available only where it imports.
    bag : bool
        On small data, a trial's model is the average of its fold models instead of one refit.
    large_data : dict
        ``{"rows": n, "defaults": {...}, "leaf_budget": m}``: from ``n`` training rows, the default trial uses these
        values instead (more boosting rounds, which early stopping cuts and the trial's time caps); and every fit
        for a table of that many rows (its rungs and folds too) gives its trees at most ``m`` leaves in all
        (``max_leaf_nodes`` of ``m / n_estimators`` each, where the rows would allow more): a forest grown to single
        rows on 300,000 rows is gigabytes.
    small_data : dict
        ``{"rows": n, "defaults": {...}}``: below ``n`` training rows (a fold's), the default trial uses these values
        instead (fewer boosting rounds where too few rows are left to hold some out for early stopping).
    bagged_data : dict
        ``{"defaults": {...}}``: in a fit that bags the family's trials (small data, several folds), the default
        trial uses these values instead, and ``small_data`` does not apply (the fold models stop on their validation
        folds, and a bag fits one model per fold: fewer rounds at most than a single model's).
    stopped_data : dict
        ``{"defaults": {...}}``: where none of the rules above applies (the default trial stops on a holdout of its
        training rows), it uses these values instead: a cap of boosting rounds that early stopping should not
        reach. ``defaults`` keep a lower one for a model built without a size (a direct build), which may be too
        small to hold rows out and stop.
    capped_on_folds : bool
        Its estimator takes ``max_seconds`` and stops there with the best model so far (the network's epochs), so on
        folds too its fits share the trial's time to its limit, instead of the trial being stopped with no model
        when its folds would not end by the limit (on rungs every family's fits are capped).
    default_variants : tuple of dict
        Variants of the default trial, each tried right after the defaults of the first moves: the default trial with
        these parameters changed (each declared in ``space``). None is declared today: LightGBM's extra-trees mode was
        measured as one and not kept (``configs/families.yaml``).
    signature_defaults : bool
        Its default trial takes the tuned parameters it does not declare from its estimator's constructor
        (:func:`automl.search.space.library_defaults`). ``False`` where those are all ``None`` (the library chooses
        inside ``fit``): nothing to read, and reading them would import the library into the search's process.
    """

    name: str
    estimators: dict[str, Any]
    cost: float
    needs: dict[str, Any]
    fixed: Any = field(default_factory=dict)
    defaults: Any = field(default_factory=dict)
    space: dict[str, dict[str, Any]] = field(default_factory=dict)
    preprocess: dict[str, dict[str, Any]] = field(default_factory=dict)
    seed_param: Any = None
    threads_param: Any = None
    sample_weight: bool = True
    class_weight: Any = False
    wrapper: str | None = None
    wrapper_params: dict[str, Any] = field(default_factory=dict)
    adapter: str | None = None
    strength: float | dict[str, float] = 0.5
    extra: str | None = None
    requires: str | None = None
    bag: bool = False
    single_thread_below: int = 0
    onnx: bool = False
    large_data: dict[str, Any] = field(default_factory=dict)
    small_data: dict[str, Any] = field(default_factory=dict)
    bagged_data: dict[str, Any] = field(default_factory=dict)
    stopped_data: dict[str, Any] = field(default_factory=dict)
    capped_on_folds: bool = False
    default_variants: tuple[dict[str, Any], ...] = ()
    signature_defaults: bool = True

    def threads(self, n_rows: int, n_jobs: int) -> int:
        """Threads for a fit on ``n_rows``: one below ``single_thread_below`` rows, where fine-grained
        OpenMP parallelism costs more than it gains."""
        return 1 if n_rows < self.single_thread_below else n_jobs

    def strength_for(self, task: str) -> float:
        """The ``strength`` prior on ``task`` (its own entry in a per-task mapping, else the mapping's
        ``default``; ``task="default"`` asks for that one)."""
        if isinstance(self.strength, dict):
            return float(self.strength.get(task, self.strength.get("default", 0.5)))
        return float(self.strength)

    def supports(self, task: str) -> bool:
        """Whether the family has an estimator for ``task``."""
        return kind_of(task) in self.estimators

    def accepts_class_weight(self, task: str) -> bool:
        return bool(_per_kind(self.class_weight, kind_of(task)))

    def default_params(self, task: str) -> dict[str, Any]:
        return dict(_per_kind(self.defaults, kind_of(task)) or {})

    def size_regime(self, train_rows: float, bagging: bool = False) -> str | None:
        """``"large_data"`` or ``"small_data"`` where ``train_rows`` training rows reach the family's rule of that
        name, ``"bagged_data"`` in a fit whose trials are bags of fold models (``bagging``) where the family has that
        rule, else ``"stopped_data"`` where it has that one, else None."""
        large, small = self.large_data.get("rows"), self.small_data.get("rows")
        if large is not None and train_rows >= large:
            return "large_data"
        if bagging and self.bag and self.bagged_data:
            return "bagged_data"
        if small is not None and train_rows < small:
            return "small_data"
        return "stopped_data" if self.stopped_data else None

    def size_defaults(self, train_rows: float, bagging: bool = False) -> dict[str, Any]:
        """What the default trial sets instead of the defaults on ``train_rows`` training rows (see ``large_data``,
        ``small_data``, ``bagged_data`` and ``stopped_data``), in a fit that bags when ``bagging``."""
        regime = self.size_regime(train_rows, bagging)
        return dict(getattr(self, regime).get("defaults") or {}) if regime else {}

    def space_for(self, task: str) -> dict[str, dict[str, Any]]:
        """The hyperparameter declarations that apply to ``task``."""
        group = "classification" if kind_of(task) == "classifier" else "regression"
        return {k: v for k, v in self.space.items() if group in v.get("tasks", [group])}

    def libraries(self) -> list[str]:
        """The top-level modules the family needs: its estimators' packages and what it ``requires``."""
        found = [p.split(".")[0] for p in self.estimators.values() if isinstance(p, str)]
        return list(dict.fromkeys(found + ([self.requires] if self.requires else [])))

    def available(self) -> bool:
        """Whether the family's estimators can be imported (its optional library is installed)."""
        return all(importlib.util.find_spec(library) is not None for library in self.libraries())

    def missing_message(self) -> str:
        """One line for a family whose library is not installed."""
        libraries = self.libraries()
        library = next((name for name in libraries if importlib.util.find_spec(name) is None),
                       libraries[0] if libraries else self.name)
        hint = f'pip install "automl[{self.extra}]"' if self.extra else f"pip install {library}"
        return f"{library} is not installed: the {self.name} family is left out ({hint})"

    def adapter_object(self) -> FamilyAdapter:
        """The family's adapter (what persistence and export ask of it)."""
        return _import(self.adapter)() if self.adapter else FamilyAdapter()

    def estimator_class(self, task: str) -> Any:
        """The estimator class for ``task``.

        Raises
        ------
        ValueError
            If the family has no estimator for the task.
        """
        kind = kind_of(task)
        if kind not in self.estimators:
            raise ValueError(f"model family {self.name!r} has no {kind}")
        return _import(self.estimators[kind])

    def leaf_cap(self, params: dict[str, Any], rows: int | None) -> int | None:
        """``max_leaf_nodes`` of each tree for a fit on ``rows`` rows with ``params`` (the ``leaf_budget`` of
        ``large_data`` shared by ``n_estimators`` trees; default 100), or None when the rows cannot reach it."""
        budget, threshold = self.large_data.get("leaf_budget"), self.large_data.get("rows")
        if budget is None or threshold is None or rows is None or rows < threshold:
            return None
        per_tree = max(int(budget) // int(params.get("n_estimators", 100)), 2)
        return per_tree if rows / max(float(params.get("min_samples_leaf", 1)), 1.0) > per_tree else None

    def make(self, task: str, params: dict[str, Any], random_state: int | None, n_jobs: int,
             rows: int | None = None) -> BaseEstimator:
        """Instantiate the estimator for ``task`` with ``params`` over the fixed ones (for a fit on ``rows`` rows:
        its trees capped by the ``large_data`` leaf budget).

        Raises
        ------
        ValueError
            If the family has no estimator for the task.
        """
        kind = kind_of(task)
        cls = self.estimator_class(task)
        kwargs = dict(_per_kind(self.fixed, kind) or {})
        kwargs.update(params)
        cap = self.leaf_cap(kwargs, rows)
        if cap is not None:
            kwargs["max_leaf_nodes"] = cap
        seed_param, threads_param = _per_kind(self.seed_param, kind), _per_kind(self.threads_param, kind)
        if seed_param:
            kwargs[seed_param] = random_state
        if threads_param:
            kwargs[threads_param] = n_jobs
        model = cls(**kwargs)
        if self.wrapper:
            model = _import(self.wrapper)(estimator=model, random_state=random_state, **self.wrapper_params)
        return model


def _import(path: str | type) -> Any:
    """The class at a dotted import path (a class given itself is returned as it is)."""
    if not isinstance(path, str):
        return path
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _strength(declared: Any) -> float | dict[str, float]:
    """A declared ``strength``: a number, or a mapping of task (or ``default``) to number."""
    if isinstance(declared, dict):
        return {str(task): float(value) for task, value in declared.items()}
    return float(declared)


def kind_of(task: str) -> str:
    return "regressor" if task == "regression" else "classifier"


@lru_cache(maxsize=None)
def _load(path: str) -> dict[str, ModelFamily]:
    raw = yaml.safe_load(Path(path).read_text())
    families = {}
    for name, decl in raw.items():
        estimators = {k: decl[k] for k in KINDS if decl.get(k)}
        families[name] = ModelFamily(
            name=name, estimators=estimators, cost=float(decl["cost"]), needs=dict(decl["needs"]),
            fixed=decl.get("fixed") or {}, defaults=decl.get("defaults") or {}, space=decl.get("space") or {},
            preprocess=decl.get("preprocess") or {},
            seed_param=decl.get("seed_param"), threads_param=decl.get("threads_param"),
            sample_weight=bool(decl.get("sample_weight", True)), class_weight=decl.get("class_weight", False),
            wrapper=decl.get("wrapper"), wrapper_params=decl.get("wrapper_params") or {},
            single_thread_below=int(decl.get("single_thread_below", 0)), onnx=bool(decl.get("onnx", False)),
            adapter=decl.get("adapter"), strength=_strength(decl.get("strength", 0.5)), extra=decl.get("extra"),
            requires=decl.get("requires"), bag=bool(decl.get("bag", False)), large_data=decl.get("large_data") or {},
            small_data=decl.get("small_data") or {}, bagged_data=decl.get("bagged_data") or {},
            stopped_data=decl.get("stopped_data") or {}, capped_on_folds=bool(decl.get("capped_on_folds", False)),
            default_variants=tuple(dict(v) for v in decl.get("default_variants") or ()),
            signature_defaults=bool(decl.get("signature_defaults", True)))
    return families


# Preprocessing choices with no ONNX converter: an exportable search does not make them.
NOT_EXPORTABLE_CHOICES = {"encode": ("target", "mixed", "onehot_target"),
                          "synthesis": ("frequency", "group_stats", "pairs", "primitives"),
                          "scale": ("quantile",)}


def _expand_exportable(names: list, known: dict[str, ModelFamily]) -> list:
    """Replace the name ``exportable`` by the declared families that convert to ONNX, without the preprocessing
    choices that do not convert."""
    if "exportable" not in names:
        return names
    rest = [n for n in names if n != "exportable"]
    return rest + [exportable_version(f) for f in known.values() if f.onnx and f.name not in rest]


def exportable_version(family: ModelFamily) -> ModelFamily:
    """``family`` without the preprocessing choices that have no ONNX converter (:data:`NOT_EXPORTABLE_CHOICES`); a
    refused default in its ``needs`` becomes the first choice kept."""
    preprocess, needs = dict(family.preprocess), dict(family.needs)
    for option, refused in NOT_EXPORTABLE_CHOICES.items():
        if option in preprocess and "choice" in preprocess[option]:
            kept = [c for c in preprocess[option]["choice"] if c not in refused]
            preprocess[option] = {**preprocess[option], "choice": kept}
            if needs.get(option) in refused and kept:
                needs[option] = kept[0]
    return dataclasses.replace(family, preprocess=preprocess, needs=needs)


def family_adapters() -> list[FamilyAdapter]:
    """The adapter of every declared family whose library is installed (persistence trusts their types, export
    registers their converters)."""
    return [family.adapter_object() for family in all_families().values() if family.available()]


_WARNED: set[str] = set()


def _left_out(family: ModelFamily) -> bool:
    """Say once per process that a family is left out for want of its library; never keeps it."""
    if family.name not in _WARNED:
        _WARNED.add(family.name)
        logging.getLogger("automl").warning(family.missing_message())
    return False


def all_families() -> dict[str, ModelFamily]:
    """Every declared family by name, in declaration order."""
    return dict(_load(str(config_path("families.yaml"))))


def get_families(names: list[str | ModelFamily] | tuple[str | ModelFamily, ...] | None,
                 task: str) -> list[ModelFamily]:
    """The families to search for ``task``, cheapest first.

    Parameters
    ----------
    names : list of str or ModelFamily, or None
        Declared family names, or :class:`ModelFamily` objects of your own; ``None`` for all declared;
        ``"exportable"`` (alone or in the list) for the families declared ``onnx: true``.
    task : str

    Raises
    ------
    ValueError
        For an unknown family name, or when no named family supports the task.
    """
    known = all_families()
    if names is None:
        chosen = [f for f in known.values() if f.available() or _left_out(f)]
    else:
        if isinstance(names, (str, ModelFamily)):
            names = [names]
        installed = {n: f for n, f in known.items() if f.available()}
        names = _expand_exportable(list(names), installed)
        unknown = [n for n in names if isinstance(n, str) and n not in known]
        if unknown:
            raise ValueError(f"unknown model families {unknown}; known: {sorted(known)}")
        missing = [known[n] for n in names if isinstance(n, str) and not known[n].available()]
        if missing:
            raise ValueError("; ".join(f.missing_message().replace("is left out", "was asked for") for f in missing))
        chosen = [n if isinstance(n, ModelFamily) else known[n] for n in names]
    usable = [f for f in chosen if f.supports(task)]
    if not usable:
        raise ValueError(f"none of the families {[f.name for f in chosen]} supports a {task} task")
    return sorted(usable, key=lambda f: f.cost)
