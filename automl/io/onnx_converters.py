"""ONNX converters that skl2onnx lacks or gets wrong for our pipelines, registered on first export.

- Each model family's own converters, which its adapter registers (LightGBM, CatBoost, our kNN subclasses: see
  ``automl/models/boosting.py`` and ``automl/models/neighbors.py``).
- ``SimpleImputer(add_indicator=True)`` on numbers: skl2onnx drops the indicator columns; here the imputed
  columns are followed by one 0/1 column per feature that had missing values in training, as in scikit-learn.
- Our feature selectors (``FeatureSelector``, ``RelevanceFilter``): the kept columns (``support_``).
- ``OrdinalEncoder`` over several string inputs, with missing values and unseen categories: each column is
  coded as scikit-learn codes it (None seen in training is a category, NaN gets ``encoded_missing_value``,
  anything unseen ``unknown_value``).
- ``OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=..., max_categories=...)``: skl2onnx
  raises at run time on a category unseen in training; here an unseen category goes to the feature's
  "infrequent" column when it has one and to all zeros otherwise, as in scikit-learn.
"""
from __future__ import annotations

from typing import Any

import numpy as np


# What a missing category is fed to the graph as (string inputs cannot hold NaN).
MISSING_TEXT = ""


class NotExportable(ValueError):
    """The pipeline holds a step that has no ONNX converter, or whose conversion answers differently."""


_REGISTERED: dict[str, Any] = {}


def register() -> None:
    """Register every converter above with skl2onnx, and each declared family's own (once per process)."""
    if _REGISTERED:
        return
    from skl2onnx import update_registered_converter
    from skl2onnx.common._registration import get_converter
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

    from automl.models.registry import family_adapters
    from automl.pipeline.encoders import ArrayOrdinalEncoder
    from automl.pipeline.select import FeatureSelector, RelevanceFilter

    for adapter in family_adapters():
        adapter.register_onnx()
    _REGISTERED["imputer"] = get_converter("SklearnSimpleImputer")
    update_registered_converter(SimpleImputer, "AutomlSimpleImputer", _imputer_shape, _convert_imputer,
                                overwrite=True)
    update_registered_converter(OneHotEncoder, "AutomlOneHotEncoder", _one_hot_shape, _convert_one_hot,
                                overwrite=True)
    for encoder in (OrdinalEncoder, ArrayOrdinalEncoder):  # the same encoding (ArrayOrdinalEncoder reads faster)
        update_registered_converter(encoder, f"Automl{encoder.__name__}", _ordinal_shape, _convert_ordinal,
                                    overwrite=True)
    for selector in (FeatureSelector, RelevanceFilter):
        update_registered_converter(selector, f"Automl{selector.__name__}", _selector_shape, _convert_selector,
                                    overwrite=True)


# -- SimpleImputer with missing indicators ------------------------------------------------------------------
def _indicated(op: Any) -> list[int]:
    indicator = getattr(op, "indicator_", None)
    return [] if not op.add_indicator or indicator is None else [int(i) for i in indicator.features_]


def _columns(scope: Any, operator: Any, container: Any) -> list[str]:
    """One ``[N, 1]`` variable per feature of the operator's inputs (which may be one wide input or many)."""
    from onnx import TensorProto

    names = []
    for source in operator.inputs:
        if not _is_text(source):
            # the graph's categorical inputs are strings (ColumnCaster casts them so), so this is a broken invariant
            raise NotExportable(f"{type(operator.raw_operator).__name__} got a non-string input "
                                f"{source.full_name!r}; its ONNX converter encodes string columns only")
        width = source.type.shape[1]
        if width == 1:
            names.append(source.full_name)
            continue
        for i in range(width):
            index, column = scope.get_unique_variable_name("i"), scope.get_unique_variable_name("col")
            container.add_initializer(index, TensorProto.INT64, [1], [i])
            container.add_node("Gather", [source.full_name, index], [column], axis=1,
                               name=scope.get_unique_operator_name("Gather"))
            names.append(column)
    return names


def _is_text(variable: Any) -> bool:
    from skl2onnx.common.data_types import StringTensorType

    return isinstance(variable.type, StringTensorType)


def _imputer_shape(operator: Any) -> None:
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    op, source = operator.raw_operator, operator.inputs[0]
    rows = source.get_first_dimension()
    width = len(op.statistics_) + len(_indicated(op))
    kind = StringTensorType if _is_text(source) else FloatTensorType
    operator.outputs[0].type = kind([rows, width])


def _convert_imputer(scope: Any, operator: Any, container: Any) -> None:
    from onnx import TensorProto

    op, source, out = operator.raw_operator, operator.inputs[0], operator.outputs[0]
    if _is_text(source):
        _convert_text_imputer(scope, operator, container)
        return
    features = _indicated(op)
    imputed = scope.get_unique_variable_name("imputed") if features else out.full_name
    container.add_node("Imputer", [source.full_name], [imputed], op_domain="ai.onnx.ml",
                       name=scope.get_unique_operator_name("Imputer"),
                       imputed_value_floats=np.asarray(op.statistics_, dtype=np.float32),
                       replaced_value_float=float("nan"))
    if not features:
        return
    index = scope.get_unique_variable_name("indicated")
    container.add_initializer(index, TensorProto.INT64, [len(features)], features)
    picked, isnan, flags = (scope.get_unique_variable_name(n) for n in ("picked", "isnan", "flags"))
    container.add_node("Gather", [source.full_name, index], [picked], axis=1,
                       name=scope.get_unique_operator_name("Gather"))
    container.add_node("IsNaN", [picked], [isnan], name=scope.get_unique_operator_name("IsNaN"))
    container.add_node("Cast", [isnan], [flags], to=TensorProto.FLOAT, name=scope.get_unique_operator_name("Cast"))
    container.add_node("Concat", [imputed, flags], [out.full_name], axis=1,
                       name=scope.get_unique_operator_name("Concat"))


def _convert_text_imputer(scope: Any, operator: Any, container: Any) -> None:
    """Our categorical columns come from ColumnCaster with None for missing, which scikit-learn's imputer
    (``missing_values=np.nan``) leaves alone: then the export is the identity, and the encoder that follows
    sees the missing text where scikit-learn sees None."""
    op = operator.raw_operator
    if isinstance(op.missing_values, float) and np.isnan(op.missing_values):
        container.add_node("Identity", [operator.inputs[0].full_name], [operator.outputs[0].full_name],
                           name=scope.get_unique_operator_name("Identity"))
    else:
        _REGISTERED["imputer"](scope, operator, container)


# -- OneHotEncoder with infrequent categories ----------------------------------------------------------------
def one_hot_codes(encoder: Any, feature: int) -> tuple[list[str], list[int], int, int]:
    """For one feature of a fitted ``OneHotEncoder``: its categories, the output column of each, the column
    an unseen category goes to (-1 for none) and the feature's number of output columns."""
    shown = list(encoder._compute_transformed_categories(feature))
    infrequent = getattr(encoder, "infrequent_categories_", [None] * len(encoder.categories_))[feature]
    rare = set() if infrequent is None else {str(c) for c in infrequent}
    spare = shown.index("infrequent_sklearn") if "infrequent_sklearn" in shown else -1
    keys, columns = [], []
    for category in encoder.categories_[feature]:
        keys.append(_text_key(category))
        columns.append(spare if str(category) in rare else shown.index(category))
    return keys, columns, spare, len(shown)


def _one_hot_shape(operator: Any) -> None:
    from skl2onnx.common.data_types import FloatTensorType

    encoder = operator.raw_operator
    width = sum(one_hot_codes(encoder, i)[3] for i in range(len(encoder.categories_)))
    operator.outputs[0].type = FloatTensorType([operator.inputs[0].get_first_dimension(), width])


def _convert_one_hot(scope: Any, operator: Any, container: Any) -> None:
    from onnx import TensorProto

    encoder = operator.raw_operator
    parts = []
    for feature, column in enumerate(_columns(scope, operator, container)):
        keys, columns, spare, width = one_hot_codes(encoder, feature)
        code, hot, part, positions = (scope.get_unique_variable_name(n) for n in ("code", "hot", "onehot", "pos"))
        container.add_initializer(positions, TensorProto.INT64, [1, width], list(range(width)))
        container.add_node("LabelEncoder", [column], [code], op_domain="ai.onnx.ml", op_version=2,
                           keys_strings=keys, values_int64s=columns, default_int64=spare,
                           name=scope.get_unique_operator_name("LabelEncoder"))
        container.add_node("Equal", [code, positions], [hot], name=scope.get_unique_operator_name("Equal"))
        container.add_node("Cast", [hot], [part], to=TensorProto.FLOAT, name=scope.get_unique_operator_name("Cast"))
        parts.append(part)
    container.add_node("Concat", parts, [operator.outputs[0].full_name], axis=1,
                       name=scope.get_unique_operator_name("Concat"))


# -- OrdinalEncoder ---------------------------------------------------------------------------------------------
def _ordinal_shape(operator: Any) -> None:
    from skl2onnx.common.data_types import FloatTensorType

    width = len(operator.raw_operator.categories_)
    operator.outputs[0].type = FloatTensorType([operator.inputs[0].get_first_dimension(), width])


def _convert_ordinal(scope: Any, operator: Any, container: Any) -> None:
    """Each column through a LabelEncoder: category -> its code, the missing text -> encoded_missing_value,
    anything else -> unknown_value."""

    encoder = operator.raw_operator
    unknown = float(encoder.unknown_value) if encoder.handle_unknown == "use_encoded_value" else float("nan")
    parts = []
    for column, categories in zip(_columns(scope, operator, container), encoder.categories_):
        keys = [_text_key(c) for c in categories]
        codes = [_ordinal_code(encoder, i, c) for i, c in enumerate(categories)]
        part = scope.get_unique_variable_name("ordinal")
        container.add_node("LabelEncoder", [column], [part], op_domain="ai.onnx.ml", op_version=2,
                           keys_strings=keys, values_floats=codes, default_float=unknown,
                           name=scope.get_unique_operator_name("LabelEncoder"))
        parts.append(part)
    container.add_node("Concat", parts, [operator.outputs[0].full_name], axis=1,
                       name=scope.get_unique_operator_name("Concat"))


def _ordinal_code(encoder: Any, index: int, category: Any) -> float:
    """scikit-learn codes NaN as ``encoded_missing_value`` but None as an ordinary category."""
    if isinstance(category, float) and np.isnan(category):
        return float(encoder.encoded_missing_value)
    return float(index)


def _text_key(category: Any) -> str:
    """The ONNX string of a category: a missing one (None or NaN) is fed as the missing text."""
    missing = category is None or (isinstance(category, float) and np.isnan(category))
    return MISSING_TEXT if missing else str(category)


# -- feature selectors ----------------------------------------------------------------------------------------
def _selector_shape(operator: Any) -> None:
    from skl2onnx.common.data_types import FloatTensorType

    kept = int(np.sum(operator.raw_operator.support_))
    operator.outputs[0].type = FloatTensorType([operator.inputs[0].get_first_dimension(), kept])


def _convert_selector(scope: Any, operator: Any, container: Any) -> None:
    """The columns the selector kept (all of them: the identity)."""
    from onnx import TensorProto

    support = np.asarray(operator.raw_operator.support_, dtype=bool)
    source, out = operator.inputs[0].full_name, operator.outputs[0].full_name
    if support.all():
        container.add_node("Identity", [source], [out], name=scope.get_unique_operator_name("Identity"))
        return
    index = scope.get_unique_variable_name("kept")
    kept = [int(i) for i in np.flatnonzero(support)]
    container.add_initializer(index, TensorProto.INT64, [len(kept)], kept)
    container.add_node("Gather", [source, index], [out], axis=1, name=scope.get_unique_operator_name("Gather"))
