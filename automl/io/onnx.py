"""Export a fitted pipeline to ONNX, and check that onnxruntime answers as the pipeline does.

The ONNX model takes one input per modelled column, named like the column (made a valid identifier by
skl2onnx, ``v(g)`` -> ``v_g_``; the metadata ``automl.inputs`` maps columns to inputs): ``float`` tensors of shape
``[N, 1]`` for numeric and boolean columns (NaN for missing), ``string`` tensors for categorical columns
(:data:`MISSING_TEXT` for missing). What the pipeline's ``cast`` step does in Python (parse numbers, booleans
to 0/1) is done by :func:`onnx_inputs` before the model runs. Outputs: ``label`` and ``probabilities`` (columns
in the order of the classes) for classifiers, ``variable`` for regressors.

Wrappers of ours are unwrapped before conversion (:class:`~automl.pipeline.labels.EncodedLabelClassifier`,
:class:`~automl.models.boosting.EarlyStopping`: every :class:`~automl.models.adapters.WrapsModel`), an ensemble becomes one graph that averages its members, and
class labels are mapped back inside the graph. skl2onnx converts what it can; whatever converts, the result is
only accepted when it matches the Python pipeline on sample rows (STACK.md lists converters that convert but
answer wrongly).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import is_classifier

from automl.data.schema import plain_numbers
from automl.io.onnx_converters import MISSING_TEXT, NotExportable
from automl.io.onnx_converters import register as register_converters

TARGET_OPSET = {"": 18, "ai.onnx.ml": 3}
TOLERANCE = 1e-5
NUMERIC_ROLES = ("numeric", "boolean")
TEXT_ROLES = ("categorical",)


@dataclass
class Member:
    """One pipeline of the export, unwrapped: the preprocessing and the bare model, with its weight."""

    core: Any
    roles: dict[str, str]
    weight: float
    categories: dict[str, list[str]] = field(default_factory=dict)  # rare categories merged by the cast step


# -- conversion --------------------------------------------------------------------------------------------
def to_onnx(pipeline: Any, name: str = "automl") -> Any:
    """Convert a fitted automl pipeline to an ONNX ``ModelProto``.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
        ``best_pipeline_`` of a fitted :class:`automl.AutoML` (``cast``, ``preprocess``, ``model``), or an
        ensemble pipeline of such pipelines.
    name : str
        Graph name.

    Raises
    ------
    NotExportable
        Naming the step or family that cannot be converted.
    """
    import onnx

    members, classes = _members(pipeline)
    roles, categories = members[0].roles, members[0].categories
    graphs = [_convert_member(m, members[0], i) for i, m in enumerate(members)]
    inputs = _input_names(graphs[0], roles)
    model = _combine(graphs, [m.weight for m in members], classes, roles, inputs, categories, name)
    onnx.checker.check_model(model)
    return model


def _members(pipeline: Any) -> tuple[list[Member], np.ndarray | None]:
    """Unwrap a pipeline (or an ensemble of pipelines) into bare members and the class labels."""
    steps = dict(pipeline.steps)
    if "ensemble" in steps:
        ensemble = steps["ensemble"]
        classes = getattr(ensemble, "classes_", None)
        members = []
        for member, weight in zip(ensemble._members(), ensemble.weights):
            inner, _ = _members(member)
            if classes is not None and not np.array_equal(np.asarray(member.classes_), classes):
                raise NotExportable("an ensemble member saw fewer classes than the ensemble; not exportable")
            members.append(replace(inner[0], weight=float(weight)))
        return members, classes
    if "stack" in steps:
        raise NotExportable("a stacked model (a second level over other models' predictions) has no ONNX export "
                            "here; fit with stacking=False to export")
    if "postprocess" in steps:
        raise NotExportable("calibrated probabilities or a tuned decision threshold (calibration=, threshold=) have "
                            "no ONNX converter here; fit without them to export")
    if "synthesis" in steps:
        raise NotExportable("features synthesised from related tables or time series (featuretools / tsfresh) "
                            "have no ONNX converter; export a model fitted on a flat table")
    if "preprocess" not in steps or "cast" not in steps:
        raise NotExportable(f"pipeline steps {list(steps)} are not an automl model pipeline "
                            "(a constant fallback model is not exported)")
    model = steps["model"]
    classes = getattr(model, "classes_", None)
    _check_preprocess(steps["preprocess"])
    from sklearn.pipeline import Pipeline

    # preprocessing and feature selection as they are, the model out of its wrappers
    middle = [(n, step) for n, step in pipeline.steps if n not in ("cast", "model")]
    core = Pipeline([*middle, ("model", _bare(model))])
    cast = steps["cast"]
    return [Member(core, dict(cast.roles), 1.0, dict(getattr(cast, "categories", None) or {}))], classes


def _bare(model: Any) -> Any:
    """The fitted library estimator inside our wrappers (label encoding, early stopping)."""
    from automl.models.adapters import WrapsModel

    if isinstance(model, WrapsModel):
        inner = model.fitted_model()
        classes = getattr(model, "classes_", None)
        if classes is not None and len(getattr(inner, "classes_", [])) != len(classes):
            raise NotExportable("the model saw fewer classes than the labels it answers in; not exportable")
        return _bare(inner)
    return model


def _export_problem(model: Any) -> str | None:
    """What the model's family says against exporting this fitted model, if anything."""
    from automl.models.registry import family_adapters

    return next((p for p in (a.export_problem(model) for a in family_adapters()) if p), None)


def _check_preprocess(preprocess: Any) -> None:
    from sklearn.preprocessing import TargetEncoder

    from automl.pipeline.transformers import SkewAwareScaler

    for part, transformer, _ in preprocess.transformers_:
        steps = getattr(transformer, "steps", [(None, transformer)])
        if any(isinstance(step, TargetEncoder) for _, step in steps):
            raise NotExportable("target-encoded categories (TargetEncoder) have no ONNX converter; search with "
                                "families='exportable', which leaves that encoding out")
        if any(isinstance(step, SkewAwareScaler) for _, step in steps):
            raise NotExportable("numbers scaled through their quantiles (scale='quantile') have no ONNX converter; "
                                "search with families='exportable', which leaves that scaling out")
        if part in ("frequency", "group_stats", "pairs", "primitives", "missing_count"):
            raise NotExportable(f"synthesised features ({part}) have no ONNX converter; search with "
                                "families='exportable', which leaves single-table synthesis out")
        if part == "datetime":
            raise NotExportable("datetime columns (DatetimeParts) have no ONNX converter; drop or convert them "
                                "to numbers before fit to export")
        if part.startswith("text_"):
            raise NotExportable(f"free-text column {part[5:]!r} (TF-IDF + SVD features) is not exported; "
                                "treat it as categorical or drop it before fit to export")


def _initial_types(roles: dict[str, str]) -> list[tuple[str, Any]]:
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    types = []
    for name, role in roles.items():
        if role in NUMERIC_ROLES:
            types.append((name, FloatTensorType([None, 1])))
        elif role in TEXT_ROLES:
            types.append((name, StringTensorType([None, 1])))
        else:
            raise NotExportable(f"column {name!r} has role {role!r}, which the ONNX export does not take")
    return types


def _input_names(graph: Any, roles: dict[str, str]) -> dict[str, str]:
    """Column -> graph input. skl2onnx makes names C identifiers (``v(g)`` -> ``v_g_``, a leading digit gets
    ``_``), keeping the order of the declared inputs; checked here rather than assumed."""
    import re

    names = [i.name for i in graph.graph.input]
    expected = [re.sub(r"[^\w+]", "_", c) for c in roles]
    expected = [f"_{n}" if re.match("^[0-9]", n) else n for n in expected]
    if len(names) != len(roles) or any(not n.startswith(e) for n, e in zip(names, expected)):
        raise NotExportable(f"the graph's inputs {names[:5]}... do not match the columns {list(roles)[:5]}...")
    return dict(zip(roles, names))


def _convert_member(member: Member, first: Member, index: int) -> Any:
    """One member as an ONNX graph whose internal names are prefixed, inputs shared with the others (columns
    whose rare categories are merged are read from the merged values)."""
    import onnx.compose
    from skl2onnx import convert_sklearn

    roles = first.roles
    if member.roles != roles or member.categories != first.categories:
        raise NotExportable("ensemble members use different columns; not exportable")
    model = member.core.steps[-1][1]
    problem = _export_problem(model)
    if problem:
        raise NotExportable(problem)
    register_converters()
    core = member.core
    options = {id(core.steps[-1][1]): {"zipmap": False}} if is_classifier(model) else None
    try:
        graph = convert_sklearn(core, initial_types=_initial_types(roles), target_opset=TARGET_OPSET,
                                options=options)
    except Exception as exc:  # skl2onnx raises many types: report which estimator failed
        raise NotExportable(f"{type(model).__name__} (with its preprocessing) does not convert to ONNX: "
                            f"{type(exc).__name__}: {exc}") from exc
    return onnx.compose.add_prefix(graph, f"m{index}_", rename_inputs=False)


MERGED = "__merged"
RARE = "__rare__"  # what the cast step makes of a category outside the kept ones


def _merge_nodes(categories: dict[str, list[str]], inputs: dict[str, str], graphs: list[Any]) -> list[Any]:
    """What the cast step does to columns with merged rare categories: a kept category stays, missing stays
    missing, anything else becomes the rare category. The members then read the merged values."""
    from onnx import helper

    merged = {inputs[name]: f"{inputs[name]}{MERGED}" for name in categories if name in inputs}
    for graph in graphs:
        for node in graph.graph.node:
            node.input[:] = [merged.get(n, n) for n in node.input]
    nodes = []
    for name, kept in categories.items():
        if name not in inputs:
            continue
        keys = [str(k) for k in kept] + [MISSING_TEXT]
        nodes.append(helper.make_node("LabelEncoder", [inputs[name]], [merged[inputs[name]]], domain="ai.onnx.ml",
                                      keys_strings=keys, values_strings=keys, default_string=RARE))
    return nodes


def _combine(graphs: list[Any], weights: list[float], classes: np.ndarray | None, roles: dict[str, str],
             inputs: dict[str, str], categories: dict[str, list[str]], name: str) -> Any:
    """Average the members' probabilities (or predictions) with their weights; labels from the classes."""
    from onnx import TensorProto, helper, numpy_helper

    key = "probabilities" if classes is not None else "variable"
    nodes, inits = _merge_nodes(categories, inputs, graphs), []
    for i, (graph, weight) in enumerate(zip(graphs, weights)):
        nodes += list(graph.graph.node)
        inits += list(graph.graph.initializer)
        inits.append(numpy_helper.from_array(np.array([weight], dtype=np.float32), f"w{i}"))
        nodes.append(helper.make_node("Mul", [f"m{i}_{key}", f"w{i}"], [f"weighted{i}"]))
    nodes.append(helper.make_node("Sum", [f"weighted{i}" for i in range(len(graphs))], [key]))
    outputs = [helper.make_tensor_value_info(key, TensorProto.FLOAT, [None, None if classes is not None else 1])]
    if classes is not None:
        inits.append(_classes_tensor(classes))
        nodes.append(helper.make_node("ArgMax", ["probabilities"], ["label_code"], axis=1, keepdims=0))
        nodes.append(helper.make_node("Gather", ["classes", "label_code"], ["label"], axis=0))
        outputs.insert(0, helper.make_tensor_value_info("label", inits[-1].data_type, [None]))
    first = graphs[0]
    graph = helper.make_graph(nodes, name, list(first.graph.input), outputs, inits)
    # every domain at the newest version any member needs: skl2onnx declares the lowest opset each graph
    # needs, and a member with opset-18 nodes (kNN's ReduceSumSquare takes its axes as an input from 18)
    # is invalid under a first member's 13
    opsets: dict[str, int] = {}
    for member in graphs:
        for o in member.opset_import:
            opsets[o.domain] = max(opsets.get(o.domain, 0), o.version)
    if categories:  # string LabelEncoder: ai.onnx.ml 2 or later
        opsets["ai.onnx.ml"] = max(opsets.get("ai.onnx.ml", 0), 2)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets.items()])
    model.ir_version = first.ir_version
    helper.set_model_props(model, {"automl.roles": _json(roles), "automl.inputs": _json(inputs),
                                   "automl.missing_text": MISSING_TEXT,
                                   "automl.classes": _json(None if classes is None else classes.tolist())})
    return model


def _classes_tensor(classes: np.ndarray) -> Any:
    from onnx import TensorProto, helper, numpy_helper

    if classes.dtype.kind in "iub":
        return numpy_helper.from_array(classes.astype(np.int64), "classes")
    if classes.dtype.kind == "f":
        return numpy_helper.from_array(classes.astype(np.float64), "classes")
    values = [str(c).encode() for c in classes]
    return helper.make_tensor("classes", TensorProto.STRING, [len(values)], values)  # type: ignore[arg-type]


def _json(value: Any) -> str:
    import json

    return json.dumps(value, default=str)


# -- running and checking ----------------------------------------------------------------------------------
def onnx_inputs(frame: pd.DataFrame, roles: dict[str, str], inputs: dict[str, str] | None = None
                ) -> dict[str, np.ndarray]:
    """The ONNX model's inputs for the rows of ``frame``, cast as the pipeline's ``cast`` step casts them,
    keyed by the graph's input names (``inputs``: column -> input name; the column name by default)."""
    inputs = inputs or {}
    from automl.pipeline.transformers import ColumnCaster

    feeds = {}
    for name, role in roles.items():
        column = frame[name]
        if role in NUMERIC_ROLES:
            # numbers already: what the cast step would return (it parses strings and booleans)
            plain = plain_numbers(column.dtype)
            values = column if plain else ColumnCaster({name: role}).fit(frame).transform(frame)[name]
            numbers = values.to_numpy(dtype=np.float32).reshape(-1, 1)
            feeds[inputs.get(name, name)] = np.where(np.isinf(numbers), np.float32(np.nan), numbers)  # as cast does
        else:
            texts = [MISSING_TEXT if _is_missing(v) else str(v) for v in column.to_numpy(dtype=object)]
            feeds[inputs.get(name, name)] = np.array(texts, dtype=object).reshape(-1, 1)
    return feeds


def _is_missing(value: Any) -> bool:
    return value is None or (not isinstance(value, (str, bytes)) and bool(pd.isna(value)))


class OnnxPredictor:
    """Predict with an exported ONNX model in onnxruntime, from a DataFrame of raw rows.

    Parameters
    ----------
    model : onnx.ModelProto or bytes or str
        The model, its serialised bytes, or a path to a ``.onnx`` file.
    """

    def __init__(self, model: Any):
        import onnx
        import onnxruntime as ort

        proto = onnx.load(model) if isinstance(model, str) else (
            onnx.load_from_string(model) if isinstance(model, bytes) else model)
        self.roles = json_roles(proto)
        self.inputs = _prop(proto, "automl.inputs") or {}
        self.model_version = {p.key: p.value for p in proto.metadata_props}.get("automl.model_version")
        self.session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
        self.outputs = [o.name for o in self.session.get_outputs()]

    def run(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """Every output of the model for the rows of ``frame``."""
        values = self.session.run(None, onnx_inputs(frame, self.roles, self.inputs))
        return dict(zip(self.outputs, values))

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        out = self.run(frame)
        return out["label"] if "label" in out else out["variable"].ravel()

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self.run(frame)["probabilities"]


@dataclass
class Parity:
    """How closely the ONNX model matched the pipeline on the sample rows."""

    rows: int
    max_abs_diff: float
    labels_differing: int
    ties: int = 0

    def ok(self, tolerance: float = TOLERANCE) -> bool:
        return self.max_abs_diff <= tolerance and self.labels_differing == 0


def check_parity(pipeline: Any, model: Any, frame: pd.DataFrame, tolerance: float = TOLERANCE) -> Parity:
    """Run the pipeline and the ONNX model on ``frame``; raise :class:`NotExportable` when they differ.

    Predictions (regression) and probabilities (classification) must agree within ``tolerance``, labels
    exactly, except on ties: rows where the pipeline's own probabilities of the two labels are within
    ``tolerance`` of each other (float32 rounding decides those; they are counted in ``Parity.ties``).
    """
    runner = OnnxPredictor(model)
    out = runner.run(frame)
    ties = 0
    if "probabilities" in out:
        expected = pipeline.predict_proba(frame)
        diff = float(np.max(np.abs(out["probabilities"] - expected))) if len(frame) else 0.0
        wrong, ties = _label_mismatches(expected, out["probabilities"], pipeline.predict(frame), pipeline.classes_,
                                        tolerance)
    else:
        # float32 arithmetic: relative to the scale of the predictions
        expected = np.asarray(pipeline.predict(frame), dtype=float)
        scale = max(1.0, float(np.max(np.abs(expected)))) if len(frame) else 1.0
        diff = float(np.max(np.abs(out["variable"].ravel() - expected))) / scale if len(frame) else 0.0
        wrong = 0
    parity = Parity(len(frame), diff, wrong, ties)
    if not parity.ok(tolerance):
        raise NotExportable(f"the ONNX model answers differently from the pipeline on {len(frame)} sample rows: "
                            f"max difference {diff:.3g} (tolerance {tolerance:g}), {wrong} labels differ. "
                            "Not exported; search exportable families only (families='exportable') and retry")
    return parity


def _label_mismatches(expected: np.ndarray, onnx_proba: np.ndarray, predicted: Any, classes: Any,
                      tolerance: float) -> tuple[int, int]:
    """Rows whose ONNX label differs from the pipeline's, split into real differences and ties."""
    position = {str(c): i for i, c in enumerate(classes)}
    mine = np.array([position[str(v)] for v in predicted], dtype=int)
    theirs = np.argmax(onnx_proba, axis=1)
    rows = np.arange(len(mine))
    differ = mine != theirs
    tie = np.abs(expected[rows, mine] - expected[rows, theirs]) <= tolerance
    return int(np.sum(differ & ~tie)), int(np.sum(differ & tie))


def sample_rows(frame: pd.DataFrame, roles: dict[str, str], n: int = 200, seed: int = 0) -> pd.DataFrame:
    """Rows for the parity check: a sample of ``frame`` plus, per column, copies with that column missing and,
    for categorical columns, with a category never seen in training (other paths through the pipeline)."""
    rows = frame.sample(min(n, len(frame)), random_state=seed) if len(frame) else frame
    extra = []
    for name, role in roles.items():
        if name not in rows.columns:
            continue
        for value in [None] + (["__unseen__"] if role in TEXT_ROLES else []):
            copy = rows.head(5).copy()
            copy[name] = value
            extra.append(copy)
    with warnings.catch_warnings():  # all-missing copies: pandas warns about their dtype, which the cast sets
        warnings.simplefilter("ignore", FutureWarning)
        return pd.concat([rows, *extra], ignore_index=True) if extra else rows.reset_index(drop=True)


def export_model(folder: str, out: str, data: pd.DataFrame | None = None,
                 tolerance: float = TOLERANCE) -> Parity:
    """Export the model folder ``folder`` to the ONNX file ``out``, after checking parity on sample rows.

    Parameters
    ----------
    folder : str
        Model folder written by ``automl fit`` / :func:`automl.save`.
    out : str
        Path of the ``.onnx`` file; written only when the check passes.
    data : DataFrame, optional
        Rows to check on; by default the training sample kept in the folder.
    tolerance : float
        Largest accepted difference of probabilities (classification) or of predictions relative to their
        scale (regression).

    Raises
    ------
    NotExportable
        When a step cannot convert or the ONNX model answers differently.
    """
    from pathlib import Path

    from automl.io.persist import load, load_sample, model_version

    model = load(folder)
    proto = to_onnx(model.best_pipeline_, name=f"automl_{model.best_family_}")  # what cannot convert says so first
    if data is None:
        sample = load_sample(folder)
        if sample is None:
            raise ValueError(f"{folder} keeps no training sample to check the export on: pass data (--data)")
        data = sample[0]
    roles = json_roles(proto)
    parity = check_parity(model.best_pipeline_, proto, sample_rows(data, roles), tolerance)
    helper_props = {p.key: p.value for p in proto.metadata_props}
    helper_props["automl.model_version"] = model_version(folder)
    from onnx import helper

    helper.set_model_props(proto, helper_props)
    Path(out).write_bytes(proto.SerializeToString())
    return parity


def json_roles(proto: Any) -> dict[str, str]:
    """The input columns and their roles, as recorded in an exported model."""
    return _prop(proto, "automl.roles")


def _prop(proto: Any, key: str) -> Any:
    import json

    props = {p.key: p.value for p in proto.metadata_props}
    return json.loads(props[key]) if key in props else None
