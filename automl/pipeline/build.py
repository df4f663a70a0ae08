"""Build a plain scikit-learn Pipeline from a schema and a trial configuration."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler, TargetEncoder

from automl.data.schema import Schema
from automl.features.primitives import TransformPrimitives, primitives_available
from automl.features.tabular import CategoryFrequencies, GroupStatistics, MissingCount, NumericPairs
from automl.models.registry import ModelFamily
from automl.pipeline.encoders import ArrayOrdinalEncoder
from automl.pipeline.labels import EncodedLabelClassifier
from automl.pipeline.select import FeatureSelector, RelevanceFilter
from automl.pipeline.transformers import ColumnCaster, DatetimeParts, SkewAwareScaler, TextFeatures

# One-hot: categories seen fewer than this many times share an "infrequent" column, at most this many
# columns per feature; keeps linear and kNN models small on high-cardinality columns.
ONEHOT_MIN_FREQUENCY = 5
ONEHOT_MAX_CATEGORIES = 32
# encode="mixed": categorical columns of more levels than this are target-encoded (cross-fitted), the rest split on
# natively. Native splits over hundreds of levels overfit: on the 400k-row generated regression table LightGBM's
# defaults scored RMSE 7.98 with every category native and 7.23 with the columns of 100 to 5,000 levels
# target-encoded. Not tuned: no table of the OpenML suite has a categorical column above it.
NATIVE_MAX_LEVELS = 64
# The ``encode`` values a family's needs may name (the cost model predicts each one's width).
ENCODINGS = ("onehot", "ordinal", "target", "native", "mixed", "onehot_target")
# The ``scale`` values: ``standard`` (also ``True``) standardises every number; ``quantile`` sends the skewed ones
# through their quantiles to a normal and standardises the rest (:class:`SkewAwareScaler`).
SCALINGS = ("standard", "quantile")
TEXT_MAX_FEATURES = 2000
TEXT_COMPONENTS = 20


@dataclass(frozen=True)
class TrialConfig:
    """What one trial fits: a family, its hyperparameters and the options around it."""

    family: ModelFamily
    params: dict[str, Any] = field(default_factory=dict)
    class_weight: str | dict | None = None
    preprocess: dict[str, Any] = field(default_factory=dict)

    def needs(self) -> dict[str, Any]:
        """The family's preprocessing needs with this trial's choices applied."""
        return {**self.family.needs, **self.preprocess}

    def describe(self) -> dict[str, Any]:
        """Parameters as shown on the leaderboard."""
        shown = dict(self.params)
        shown.update({f"preprocess.{k}": v for k, v in self.preprocess.items()})
        if self.class_weight:
            shown["class_weight"] = self.class_weight
        return shown


def build_preprocessor(schema: Schema, needs: dict[str, Any], task: str = "binary",
                       random_state: int | None = None) -> ColumnTransformer:
    """ColumnTransformer for the modelled columns of ``schema`` as a family ``needs`` them.

    With ``encode="native"`` the categorical columns come last, as ordinal codes (missing and unseen: NaN), for a
    model that splits on categories itself (:func:`native_categories`); ``encode="mixed"`` does so for the columns
    of at most :data:`NATIVE_MAX_LEVELS` levels and target-encodes the others; ``encode="onehot_target"`` one-hot
    encodes the columns of at most :data:`ONEHOT_MAX_CATEGORIES` levels and target-encodes the others.
    """
    impute, scale = bool(needs.get("impute")), _scaling(needs.get("scale"))
    strategy = needs.get("impute_strategy", "median")
    encode = needs.get("encode", "ordinal")
    parts: list[tuple[str, Any, list[str]]] = []
    numeric = schema.by_role("numeric", "boolean")
    if numeric:
        parts.append(("numeric", _numeric_steps(impute, scale, strategy, random_state), numeric))
    datetimes = schema.by_role("datetime")
    if datetimes:
        parts.append(("datetime", make_pipeline(DatetimeParts(), _numeric_steps(impute, scale, strategy,
                                                                                random_state)), datetimes))
    few, many = _native_and_encoded(schema, encode)
    for name, columns, encoding in _encoded_parts(schema, encode, many):
        parts.append((name, _categorical_steps(encoding, impute, task, random_state), columns))
    for name in schema.by_role("text"):
        parts.append((f"text_{name}", TextFeatures(TEXT_MAX_FEATURES, TEXT_COMPONENTS), [name]))
    parts += _synthesis_parts(schema, needs, task, scale, impute, strategy, random_state)
    if few:
        parts.append(("categorical", _categorical_steps("native", impute, task, random_state), few))
    return ColumnTransformer(parts, remainder="drop", sparse_threshold=0.0, verbose_feature_names_out=False)


def native_categories(schema: Schema, needs: dict[str, Any]) -> int:
    """How many of the preprocessed columns, at the end, are category codes for the model to split on natively
    (``encode="native"`` or ``"mixed"``; 0 otherwise)."""
    return len(_native_and_encoded(schema, needs.get("encode", "ordinal"))[0])


def _native_and_encoded(schema: Schema, encode: str) -> tuple[list[str], list[str]]:
    """The categorical columns the model splits on natively, and those the preprocessing encodes, for ``encode``."""
    categorical = schema.by_role("categorical")
    if encode == "mixed":
        many = [name for name in categorical if schema.levels.get(name, 0) > NATIVE_MAX_LEVELS]
        return [name for name in categorical if name not in many], many
    return (categorical, []) if encode == "native" else ([], categorical)


def _encoded_parts(schema: Schema, encode: str, columns: list[str]) -> list[tuple[str, list[str], str]]:
    """The parts that encode the categorical ``columns`` (those not split on natively) as (name, columns,
    encoding): ``mixed`` target-encodes them (its many-level ones); ``onehot_target`` one-hot encodes those of at
    most :data:`ONEHOT_MAX_CATEGORIES` levels and target-encodes the others, whose levels past the cap one-hot
    encoding would lump together; any other ``encode`` encodes them all its way."""
    if not columns:
        return []
    if encode == "mixed":
        return [("categorical_target", columns, "target")]
    if encode == "onehot_target":
        wide = [name for name in columns if schema.levels.get(name, 0) > ONEHOT_MAX_CATEGORIES]
        narrow = [name for name in columns if name not in wide]
        return [part for part in (("categorical", narrow, "onehot"), ("categorical_target", wide, "target"))
                if part[1]]
    return [("categorical", columns, encode)]


def _synthesis_parts(schema: Schema, needs: dict[str, Any], task: str = "binary", scale: str | None = None,
                     impute: bool = False, strategy: str = "median",
                     random_state: int | None = None) -> list[tuple[str, Any, list[str]]]:
    """Single-table synthesis (automl/features/tabular.py, automl/features/primitives.py) as further parts of the
    preprocessing: the searched ``synthesis`` plan (frequency, group_stats, pairs or primitives), and what a family
    asks for in its ``needs``. Numbers made here are scaled as the family scales its own, and the primitives'
    missing values imputed for those that impute."""
    parts: list[tuple[str, Any, list[str]]] = []
    plan = needs.get("synthesis", "none")
    categorical = schema.by_role("categorical")
    numbers = schema.by_role("numeric", "boolean")
    plans = synthesis_plans(schema)
    if (needs.get("frequency") and categorical) or (plan == "frequency" and plan in plans):
        parts.append(("frequency", _scaled(CategoryFrequencies(), scale, random_state), categorical))
    if plan == "group_stats" and plan in plans:
        parts.append(("group_stats", _scaled(GroupStatistics(), scale, random_state), categorical + numbers))
    if plan == "pairs" and plan in plans:
        parts.append(("pairs", _scaled(NumericPairs(task=task), scale, random_state), numbers))
    if plan == "primitives" and plan in plans:
        parts.append(("primitives", make_pipeline(TransformPrimitives(),
                                                  _numeric_steps(impute, scale, strategy, random_state)),
                      schema.by_role("datetime", "text")))
    modelled = [c.name for c in schema.columns if c.name not in schema.dropped]
    if needs.get("missing_count") and modelled:
        parts.append(("missing_count", MissingCount(), modelled))
    return parts


def synthesis_plans(schema: Schema) -> list[str]:
    """The single-table synthesis plans that build something from the modelled columns of ``schema``:
    ``frequency`` needs a categorical column, ``group_stats`` a categorical key and a number, ``pairs`` two
    numbers, ``primitives`` a datetime or text column and featuretools (on other tables a plan would give the
    pipeline of ``none`` again)."""
    categorical = schema.by_role("categorical")
    numbers = schema.by_role("numeric", "boolean")
    dates_or_texts = bool(schema.by_role("datetime", "text")) and primitives_available()
    return [plan for plan, builds in (("frequency", bool(categorical)), ("group_stats", bool(categorical and numbers)),
                                      ("pairs", len(numbers) >= 2), ("primitives", dates_or_texts)) if builds]


def _scaling(scale: Any) -> str | None:
    """A family's ``scale`` need as one of :data:`SCALINGS`, or ``None`` for no scaling (``True`` is ``standard``)."""
    if not scale:
        return None
    scaling = "standard" if scale is True else scale
    if scaling not in SCALINGS:
        raise ValueError(f"scale={scale!r}: expected one of {SCALINGS} (or true / false)")
    return scaling


def _scaler(scale: str, random_state: int | None = None) -> Any:
    return SkewAwareScaler(random_state=random_state) if scale == "quantile" else StandardScaler()


def _scaled(transformer: Any, scale: str | None, random_state: int | None = None) -> Any:
    return make_pipeline(transformer, _scaler(scale, random_state)) if scale else transformer


def _numeric_steps(impute: bool, scale: str | None, strategy: str = "median", random_state: int | None = None) -> Any:
    steps: list[Any] = []
    if impute:
        steps.append(SimpleImputer(strategy=strategy, add_indicator=True, keep_empty_features=True))
    if scale:
        steps.append(_scaler(scale, random_state))
    return make_pipeline(*steps) if steps else "passthrough"


def _categorical_steps(encode: str, impute: bool, task: str = "binary", random_state: int | None = None) -> Any:
    if encode == "target":
        # cross-fitted: fit_transform encodes each training row with statistics of the other folds (no leak),
        # transform uses all of them; unseen categories get the target mean
        target_type = {"binary": "binary", "multiclass": "multiclass"}.get(task, "continuous")
        folds = (KFold if task == "regression" else StratifiedKFold)(5, shuffle=True, random_state=random_state)
        return make_pipeline(SimpleImputer(strategy="constant", fill_value="__missing__"),
                             TargetEncoder(target_type=target_type, cv=folds))
    if encode == "native":
        return ArrayOrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan,
                                   encoded_missing_value=np.nan, dtype=np.float64)
    if encode == "onehot":
        return make_pipeline(
            SimpleImputer(strategy="constant", fill_value="__missing__"),
            OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=ONEHOT_MIN_FREQUENCY,
                          max_categories=ONEHOT_MAX_CATEGORIES, sparse_output=False))
    # Ordinal codes for trees: unseen categories at predict time map to -1 (or to NaN for models that
    # route missing values themselves), missing values likewise.
    missing = -1 if impute else np.nan
    return ArrayOrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=missing,
                               encoded_missing_value=missing, dtype=np.float64)


def build_pipeline(schema: Schema, config: TrialConfig, task: str, random_state: int | None,
                   n_jobs: int, rows: int | None = None) -> Pipeline:
    """The full pipeline of a trial: cast columns, preprocess, model.

    Parameters
    ----------
    schema : Schema
        Column roles learned from the training data.
    config : TrialConfig
        Family, hyperparameters and class weighting.
    task : str
        ``binary``, ``multiclass`` or ``regression``.
    random_state : int or None
        Seed passed to the model.
    n_jobs : int
        Threads the model may use.
    rows : int, optional
        Rows of the table searched (caps a large forest's leaves: ``large_data`` in the family); a rung or fold of
        that table passes the table's rows, so it is built as the table's model.
    """
    params = dict(config.family.default_params(task))
    params.update(config.params)
    if config.class_weight and config.family.accepts_class_weight(task):
        params["class_weight"] = config.class_weight
    model = config.family.make(task, params, random_state=random_state, n_jobs=n_jobs, rows=rows)
    needs = config.needs()
    plans = needs.get("plans")
    if plans:  # features synthesised from related tables or series: the trial's plan reads its columns only
        plan = needs.get("plan", next(iter(plans)))
        schema = schema.only(plans[plan], f"not in synthesis plan {plan!r}")
    native = native_categories(schema, needs)
    if native:
        if "categorical_last" not in model.get_params():
            raise ValueError(f"family {config.family.name!r}: encode=native needs a wrapper that takes categorical_last")
        model.set_params(categorical_last=native)  # the family's wrapper passes them to its library
    if task != "regression":
        model = EncodedLabelClassifier(model)
    roles = {c.name: c.role for c in schema.columns if c.name not in schema.dropped}
    return Pipeline([
        ("cast", ColumnCaster(roles, categories=schema.kept_categories or None)),
        ("preprocess", build_preprocessor(schema, needs, task, random_state)),
        *_selection_steps(needs, task, random_state, native=bool(native)),
        ("model", model),
    ])


def _selection_steps(needs: dict[str, Any], task: str, random_state: int | None,
                     native: bool = False) -> list[tuple[str, Any]]:
    """After the preprocessing, so selection is fitted with the rest of the pipeline, on training rows only:
    the FRESH filter when the family needs it (features synthesised from time series), then the searched
    selector (always present, ``method="none"`` keeps every feature, so feature counts are uniform). With native
    categories every column is kept: the model finds the category codes by their place at the end."""
    steps: list[tuple[str, Any]] = []
    if needs.get("filter") == "fresh" and not native:
        steps.append(("filter", RelevanceFilter(task=task)))
    method = "none" if native else needs.get("select", "none")
    selector = FeatureSelector(method=method, fraction=float(needs.get("select_fraction", 1.0)),
                               task=task, random_state=random_state)
    steps.append(("select", selector))
    return steps
