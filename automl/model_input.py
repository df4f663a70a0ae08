"""What a fitted model takes at predict time, and a model fitted with feature synthesis seen as two halves.

:class:`ModelInput` says whether a model takes plain rows, the rows of a target table with the tables related to it
(featuretools DFS: ``fit(X, y, tables=...)``) or long-format series (tsfresh: ``fit_series``), and which tables,
columns and series id. ``predict`` and ``automl predict | serve | monitor | report | compare`` ask it what to
require, so a missing table is the same error everywhere, phrased for the caller (``tables=``, ``--table``, JSON).

:class:`FeatureModel` splits a synthesised model into its synthesis step and the model of the synthesised features:
the production tools compute the features once, then predict from them, log them and monitor them (the training
profile describes them), and the report shuffles them for permutation importances.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Collection

import numpy as np
import pandas as pd

ROWS, TABLES, SERIES = "rows", "tables", "series"


def synthesis_step(pipeline: Any) -> Any:
    """The synthesis step in front of a fitted pipeline (featuretools or tsfresh), or None."""
    return dict(getattr(pipeline, "named_steps", {})).get("synthesis")


def _casters(pipeline: Any) -> list[Any]:
    """The cast steps of a pipeline, or of each member of an ensemble pipeline."""
    from automl.pipeline.postprocess import without_postprocessing
    from automl.pipeline.transformers import ColumnCaster

    steps = dict(getattr(without_postprocessing(pipeline), "named_steps", {}))
    if "ensemble" in steps:
        return [c for member in steps["ensemble"]._members() for c in _casters(member)]
    return [step for step in steps.values() if isinstance(step, ColumnCaster)]


def columns_read(pipeline: Any) -> list[str]:
    """Every synthesised column some part of the final model reads (the synthesiser computes only these)."""
    return sorted({name for caster in _casters(pipeline) for name in (caster.roles or {})})


def sorted_ids(X: pd.DataFrame, column_id: str) -> np.ndarray:
    """Series ids in the order tsfresh returns their features."""
    return X[column_id].drop_duplicates().sort_values().to_numpy()


def per_series(y: Any, ids: np.ndarray, column_id: str) -> pd.Series:
    """One target per series id, in the order of the sorted ids."""
    if isinstance(y, pd.DataFrame) and y.shape[1] == 1:
        y = y.iloc[:, 0]
    if isinstance(y, pd.Series) and not isinstance(y.index, pd.RangeIndex):
        unknown = pd.Index(ids).difference(y.index)
        if len(unknown):
            raise ValueError(f"y has no target for {len(unknown)} series (first ids: {list(unknown[:5])}); give one "
                             f"value per {column_id!r}, as a Series indexed by it")
        return y.loc[ids].reset_index(drop=True)
    values = pd.Series(np.asarray(y))
    if len(values) != len(ids):
        raise ValueError(f"the series frame holds {len(ids)} series ({column_id!r}) but y has {len(values)} values; "
                         "pass y as a Series indexed by the series id")
    return values


@dataclass(frozen=True)
class ModelInput:
    """What a fitted model's ``predict`` takes.

    Attributes
    ----------
    kind : {"rows", "tables", "series"}
        Plain rows; rows of the target table with its related tables; long-format series (one row per reading).
    columns : tuple of str
        The columns of ``X``: the training table's, the target table's, or the readings'.
    tables : tuple of str
        The related tables a ``"tables"`` model needs, sorted.
    target_table : str or None
        The name the relationships give the table of ``X``.
    column_id : str or None
        The series id column of a ``"series"`` model.
    """

    kind: str
    columns: tuple[str, ...] = ()
    tables: tuple[str, ...] = ()
    target_table: str | None = None
    column_id: str | None = None

    @classmethod
    def of(cls, model: Any) -> "ModelInput":
        """The input of a fitted (or loaded) :class:`automl.AutoML`."""
        synthesis = synthesis_step(model.best_pipeline_)
        names = getattr(model, "feature_names_in_", None)
        columns = tuple(str(c) for c in names) if names is not None else ()
        if synthesis is None:
            return cls(ROWS, columns)
        if hasattr(synthesis, "column_id"):
            return cls(SERIES, columns, column_id=str(synthesis.column_id))
        named = {t for r in synthesis.relationships or [] for t in (r[0], r[2])}
        return cls(TABLES, columns, tuple(sorted(named - {synthesis.target})), synthesis.target)

    @property
    def synthesised(self) -> bool:
        """Whether the model synthesises its features from related tables or series."""
        return self.kind != ROWS

    def describe(self) -> str:
        """What the model takes, in words, for messages."""
        if self.kind == TABLES:
            return f"rows of {self.target_table!r} with the related tables {list(self.tables)}"
        if self.kind == SERIES:
            return f"long-format series (one row per reading, series id {self.column_id!r})"
        return "rows of one table"

    def check_tables(self, given: Collection[str] | None, how: str) -> None:
        """Raise when the related tables given do not fit this model.

        Parameters
        ----------
        given : collection of str or None
            The names of the tables given (None: none).
        how : str
            How the caller gives tables, for the message (``"pass them as tables={name: DataFrame}"``).

        Raises
        ------
        ValueError
            When tables are missing, are not this model's, or are given to a model that takes none.
        """
        names = set(given or ())
        if self.kind != TABLES:
            if given is not None:
                raise ValueError(f"this model takes {self.describe()}: it takes no related tables, got {sorted(names)}")
            return
        expected = list(self.tables)
        if given is None or not names:
            raise ValueError(f"this model was fitted with related tables {expected}: {how}")
        missing = [t for t in expected if t not in names]
        unknown = sorted(names - set(expected))
        if missing or unknown:
            problems = ([f"missing {missing}"] if missing else []) + ([f"not this model's {unknown}"] if unknown else [])
            raise ValueError(f"related tables {' and '.join(problems)}: this model was fitted with {expected} "
                             f"(the table of X, {self.target_table!r}, is X itself); {how}")

    def check_columns(self, frame: pd.DataFrame, what: str) -> pd.DataFrame:
        """``frame`` with this model's input columns, in order (others dropped).

        Raises
        ------
        ValueError
            Naming the missing columns; ``what`` names the rows in the caller's terms (``"the readings"``).
        """
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise ValueError(f"{what} lack the columns {missing}; every row needs {list(self.columns)}")
        return frame[list(self.columns)]

    def labels_in_order(self, X: pd.DataFrame, y: Any) -> pd.Series:
        """The labels of ``X`` in the order the model predicts: one per series id, sorted, for a series model
        (``y`` a Series indexed by id); as given otherwise."""
        if self.kind == SERIES:
            return per_series(y, sorted_ids(X, str(self.column_id)), str(self.column_id))
        return pd.Series(np.asarray(y)).reset_index(drop=True)


class FeatureModel:
    """A model fitted with feature synthesis as two halves: :meth:`features` computes the synthesised columns the
    model reads, :meth:`predict` / :meth:`predict_proba` answer from them. ``predict(features(X, tables))`` equals
    ``model.predict(X, tables=tables)``.

    Parameters
    ----------
    model : AutoML
        Fitted (or loaded) with ``fit(..., tables=...)`` or ``fit_series``.

    Raises
    ------
    ValueError
        For a model fitted without feature synthesis.
    """

    def __init__(self, model: Any):
        self.input = ModelInput.of(model)
        if not self.input.synthesised:
            raise ValueError("this model synthesises no features: predict from its rows")
        pipeline = model.best_pipeline_
        self.synthesis, self.rest = pipeline.steps[0][1], pipeline[1:]
        schema = model.schema_
        self.columns = columns_read(pipeline) or [c.name for c in schema.columns if c.name not in schema.dropped]
        self.task_, self.metric_, self.classes_ = model.task_, model.metric_, model.classes_

    def features(self, X: pd.DataFrame, tables: dict[str, pd.DataFrame] | None = None,
                 how: str = "pass them as tables={name: DataFrame}") -> pd.DataFrame:
        """The synthesised columns the model reads: one row per row of ``X``, or per series id (sorted).

        Raises
        ------
        ValueError
            When columns or related tables are missing (``how`` says how to give tables), or a value cannot be read.
        """
        frame = self.input.check_columns(X, "the readings" if self.input.kind == SERIES else "the rows")
        self.input.check_tables(tables, how)
        raw = frame if self.input.kind == SERIES else {**(tables or {}), str(self.input.target_table): frame}
        return self.synthesis.transform(raw).reindex(columns=self.columns)

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        """Labels or values from synthesised features."""
        return np.asarray(self.rest.predict(features))

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        """Class probabilities from synthesised features, columns in the order of ``classes_``."""
        from automl.metrics import align_proba

        return align_proba(np.asarray(self.rest.predict_proba(features)), self.rest.classes_, self.classes_)

    def ids(self, readings: pd.DataFrame) -> np.ndarray:
        """The series ids of ``readings`` in the order of :meth:`features` (sorted)."""
        return sorted_ids(readings, str(self.input.column_id))


class WithTables:
    """A model fitted with related tables, predicting rows of ``X`` with ``tables`` bound (for scorers that call
    ``predict(X)``)."""

    def __init__(self, model: Any, tables: dict[str, pd.DataFrame]):
        self.model, self.tables, self.classes_ = model, tables, model.classes_

    def predict(self, X: Any) -> np.ndarray:
        return self.model.predict(X, tables=self.tables)

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.model.predict_proba(X, tables=self.tables)


def predictor(model: Any, tables: dict[str, pd.DataFrame] | None) -> Any:
    """What predicts rows of ``X`` for ``model``: the model with ``tables`` bound when it was fitted with related
    tables, else the model itself (a model fitted on one table ignores ``tables``, so it can be compared with one
    that reads them on the same rows)."""
    if tables and ModelInput.of(model).kind == TABLES:
        return WithTables(model, tables)
    return model
