"""Deep Feature Synthesis (featuretools) over a target table and the tables related to it by keys.

The transformer takes a dict ``{table name: DataFrame}`` holding the target table (one row per prediction) and
its related tables, builds a featuretools EntitySet, and returns one row of features per target row, in the
target table's order. The feature definitions are kept as featuretools JSON inside the transformer, so
``transform`` on new tables computes exactly the same features (and save / load need no side file).

Cutoff times: with ``cutoff_time`` (a datetime column of the target table), a row's features use only related
rows whose time index is at or before its cutoff. Cutoff times are floored to the finest calendar unit (hour,
day, week, month, quarter, year) that leaves at most :data:`MAX_CUTOFF_TIMES` distinct values: featuretools
computes once per distinct cutoff time (4,999 distinct ones took 63x longer than one on 500k rows), and
flooring moves a cutoff earlier, never later, so it cannot leak.
"""
from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from automl.data.schema import infer_schema

MAX_CUTOFF_TIMES = 50
CUTOFF_UNITS = ("h", "D", "W", "M", "Q", "Y")
# Plans from cheapest to richest: depth and primitives (featuretools names).
PLANS: dict[str, dict[str, Any]] = {
    "basic": {"max_depth": 2, "agg_primitives": ["count", "sum", "mean", "max", "min"], "trans_primitives": []},
    "standard": {"max_depth": 2, "agg_primitives": ["count", "sum", "mean", "max", "min", "std", "num_unique", "mode"],
                 "trans_primitives": ["month", "weekday"]},
    "rich": {"max_depth": 2, "agg_primitives": ["count", "sum", "mean", "max", "min", "std", "num_unique", "mode",
                                                "median", "skew", "percent_true", "time_since_last",
                                                "time_since_first"],
             "trans_primitives": ["month", "weekday", "hour", "is_weekend"]},
}
# The plan of the computed features of depth one (DFS depth as a searched choice; see plan_columns).
SHALLOW = "shallow"
# Target rows of the two timed samples of a plan. The difference of their times is what rows cost; the rest is
# paid once per call whatever the rows (building the EntitySet from the whole related tables, preparing each
# feature): ~0.07 s on NAFLD, where all 8,007 rows cost 0.11 s (basic) to 2.0 s (rich). Scaling one 100-row timing
# by rows counted that fixed part once per 100 rows: estimates 8-90x the real cost.
CALIBRATION_ROWS = (100, 1000)
SAFETY = 1.5
# Our column roles as woodwork logical types (passing them skips woodwork's own, slower and riskier inference:
# it tries to parse id and text columns as dates).
LOGICAL_TYPES = {"numeric": "Double", "boolean": "BooleanNullable", "categorical": "Categorical",
                 "datetime": "Datetime", "text": "NaturalLanguage", "id": "Unknown"}
# The role a value of each logical type is read with at predict time (:func:`automl.data.inputs.check_rows`); other
# types (categories, identifiers, text, a user's own) take any scalar.
READ_AS = {"Double": "numeric", "Integer": "numeric", "IntegerNullable": "numeric", "BooleanNullable": "boolean",
           "Boolean": "boolean", "Datetime": "datetime"}

Relationship = tuple[str, str, str, str]


class RelationalFeatures(TransformerMixin, BaseEstimator):
    """Features of each target row aggregated from its related tables (featuretools DFS).

    Parameters
    ----------
    target : str
        Name of the target table in the dict passed to ``fit`` / ``transform``.
    relationships : list of (parent table, parent key, child table, child key)
        The parent key is unique in the parent table; the target table's key is its index.
    cutoff_time : str or None, default=None
        Datetime column of the target table: no feature of a row uses related rows after it.
    time_index : dict of str to str, optional
        Per table, the column saying when a row happened (default: the table's only datetime column).
    logical_types : dict of str to dict, optional
        Per table, woodwork logical types overriding the inferred ones (``{"sessions": {"device": "Categorical"}}``).
    plan : {"basic", "standard", "rich"}, default="standard"
        Depth and primitives (:data:`PLANS`).

    Attributes
    ----------
    features_json_ : str
        The feature definitions (``featuretools.save_features``).
    feature_names_ : list of str
        The output columns.
    cutoff_unit_ : str or None
        Calendar unit cutoff times are floored to (``None``: exact).
    """

    def __init__(self, target: str = "target", relationships: list[Relationship] | None = None,
                 cutoff_time: str | None = None, time_index: dict[str, str] | None = None,
                 logical_types: dict[str, dict[str, str]] | None = None, plan: str = "standard"):
        self.target = target
        self.relationships = relationships
        self.cutoff_time = cutoff_time
        self.time_index = time_index
        self.logical_types = logical_types
        self.plan = plan

    def fit(self, X: dict[str, pd.DataFrame], y: Any = None) -> "RelationalFeatures":
        self.fit_transform(X, y)
        return self

    def fit_transform(self, X: dict[str, pd.DataFrame], y: Any = None, **fit_params: Any) -> pd.DataFrame:
        """Learn the table layout, run DFS and return the feature matrix (one computation)."""
        import featuretools as ft

        self._learn_layout(X)
        features = self.define_features(X)
        self.features_json_ = ft.save_features(features)
        # a plan computed on every row while its cost was timed (:func:`choose_plan`) is not computed again
        timed = self.__dict__.pop("_timed_matrices", {}).get(self._feature_key(features, X))
        frame = self._calculate(features, X) if timed is None else timed
        self.feature_names_ = [str(c) for c in frame.columns]
        return frame

    def transform(self, X: dict[str, pd.DataFrame]) -> pd.DataFrame:
        import featuretools as ft

        check_is_fitted(self, "features_json_")
        tables = self._held_to_layout(X)
        return self._calculate(ft.load_features(self.features_json_), tables).reindex(columns=self.feature_names_)

    def _held_to_layout(self, tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
        """New tables as ``fit`` saw them: each with its training columns (others dropped; an empty table keeps
        them), values read with their logical types, so a bad value is an error naming the table, column and rows
        (not one from inside woodwork), and an empty table's dates stay dates.

        Raises
        ------
        ValueError
            For a table ``fit`` did not see, a missing column or a value its type cannot read.
        """
        from automl.data.inputs import COERCE_HINT, InputError, check_rows

        if not isinstance(tables, dict):
            raise TypeError("related tables must be a dict of {name: DataFrame}")
        unknown = sorted(set(tables) - set(self.logical_types_))
        if unknown:
            raise ValueError(f"tables {unknown} were not seen in fit; the tables are {sorted(self.logical_types_)}")
        out = {}
        for name, frame in tables.items():
            types = self.logical_types_[name]
            if len(frame) == 0:
                frame = frame.reindex(columns=list(types))
            try:
                checked = check_rows(frame, {c: READ_AS.get(t, "categorical") for c, t in types.items()}).frame
            except InputError as exc:
                raise ValueError(f"table {name!r}: {str(exc).replace(COERCE_HINT, '')}") from None
            self._check_keys(name, checked)
            out[name] = checked[list(types)]
        return out

    def _check_keys(self, name: str, frame: pd.DataFrame) -> None:
        """Raise when a key of table ``name`` (its own, or its parent's) is missing on some rows: such a row
        belongs to nothing, and featuretools cannot index it."""
        keys = {key for parent, parent_key, child, child_key in self.relationships or []
                for table, key in ((parent, parent_key), (child, child_key)) if table == name}
        for key in sorted(keys):
            missing = np.flatnonzero(frame[key].isna().to_numpy())
            if len(missing):
                raise ValueError(f"table {name!r}: key {key!r} is missing on rows {missing[:10].tolist()}; every row "
                                 "needs its key")

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "feature_names_")
        return np.asarray(self.feature_names_, dtype=object)

    # -- layout --------------------------------------------------------------------------------------------
    def _learn_layout(self, tables: dict[str, pd.DataFrame]) -> None:
        """Index, time index and logical types of every table, and the cutoff unit."""
        check_tables(tables, self.target, self.relationships or [], self.cutoff_time)
        parents = {parent: key for parent, key, _, _ in self.relationships or []}
        self.index_ = {name: parents.get(name, f"_{name}_row") for name in tables}
        self.time_index_ = {name: self._time_column(name, frame) for name, frame in tables.items()}
        self.logical_types_ = {name: self._types(name, frame) for name, frame in tables.items()}
        times = self._cutoffs(tables[self.target]) if self.cutoff_time else None
        self.cutoff_unit_ = cutoff_unit(times) if times is not None else None

    def _time_column(self, name: str, frame: pd.DataFrame) -> str | None:
        chosen = self.time_index or {}
        if name in chosen:
            return chosen[name]
        if name == self.target:
            return None  # the target table's rows are the predictions; its times are cutoffs, not events
        schema, _ = infer_schema(frame)
        dates = [c.name for c in schema.columns if c.role == "datetime"]
        if len(dates) > 1 and self.cutoff_time:
            raise ValueError(f"table {name!r} has several datetime columns {dates}: say which one dates its rows "
                             f"with time_index={{{name!r}: column}}, so the cutoff time can be applied")
        if not dates and self.cutoff_time:
            warnings.warn(f"table {name!r} has no datetime column: its rows are used whatever the cutoff time "
                          f"(fine for static data; pass time_index={{{name!r}: column}} otherwise)", UserWarning,
                          stacklevel=4)
        return dates[0] if dates else None

    def _types(self, name: str, frame: pd.DataFrame) -> dict[str, str]:
        schema, _ = infer_schema(frame)
        types = {c.name: LOGICAL_TYPES[c.role] for c in schema.columns}
        keys = {k for p, pk, c, ck in self.relationships or [] for t, k in ((p, pk), (c, ck)) if t == name}
        for key in keys:  # keys are identifiers: integers stay integers, anything else is a category
            types[key] = "Integer" if pd.api.types.is_integer_dtype(frame[key]) else "Categorical"
        time_column = self.time_index_.get(name)
        if time_column:
            types[time_column] = "Datetime"
        types.update((self.logical_types or {}).get(name, {}))
        return types

    # -- computation ---------------------------------------------------------------------------------------
    def entityset(self, tables: dict[str, pd.DataFrame]) -> Any:
        """The featuretools EntitySet of ``tables`` with the layout learned in ``fit``."""
        import featuretools as ft

        check_tables(tables, self.target, self.relationships or [], self.cutoff_time)
        es = ft.EntitySet(id="automl")
        for name, frame in tables.items():
            index = self.index_[name]
            made = index not in frame.columns
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # woodwork notes on index types
                es.add_dataframe(dataframe_name=name, dataframe=frame.copy(), index=index, make_index=made,
                                 time_index=self.time_index_[name], logical_types=self.logical_types_[name])
        for parent, parent_key, child, child_key in self.relationships or []:
            es.add_relationship(parent, parent_key, child, child_key)
        return es

    def define_features(self, tables: dict[str, pd.DataFrame], plan: str | None = None) -> list[Any]:
        """DFS feature definitions for the target table (no values computed)."""
        import featuretools as ft

        settings = PLANS[plan or self.plan]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # featuretools warns about unused primitives
            features = ft.dfs(entityset=self.entityset(tables), target_dataframe_name=self.target,
                              features_only=True,
                              ignore_columns={self.target: [self.cutoff_time]} if self.cutoff_time else None,
                              **settings)
        return [f for f in features if not self._aggregates_target(f)]

    def _aggregates_target(self, feature: Any) -> bool:
        """Whether a feature aggregates over rows of the target table itself, at any step of its path: through a
        parent (the number of flights of the row's plane) or on through the target to its children (the legs of
        all flights of the row's plane). At predict time those would read the rows given then, not the training
        rows: a skew between training and serving, so they are left out."""
        from featuretools.feature_base import AggregationFeature

        chain = [feature, *feature.get_dependencies(deep=True)]
        return any(relationship.child_dataframe.ww.name == self.target
                   for f in chain if isinstance(f, AggregationFeature) for _, relationship in f.relationship_path)

    def _calculate(self, features: list[Any], tables: dict[str, pd.DataFrame], rows: Any = None) -> pd.DataFrame:
        import featuretools as ft

        whole = tables[self.target]
        target = whole if rows is None else whole.iloc[rows]
        index = self.index_[self.target]
        # a target table that is no table's parent has no key of its own: featuretools numbers its rows 0..n-1
        positions = np.arange(len(whole)) if rows is None else np.arange(len(whole))[rows]
        ids = target[index].to_numpy() if index in target.columns else positions
        if self.cutoff_time:
            cutoff: Any = pd.DataFrame({"instance_id": ids, "time": floor_times(self._cutoffs(target),
                                                                                 self.cutoff_unit_)})
            kwargs = {"cutoff_time": cutoff}
        else:
            kwargs = {"instance_ids": list(ids)}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            matrix = ft.calculate_feature_matrix(features, entityset=self.entityset(tables), n_jobs=1, verbose=False,
                                                 **kwargs)
        matrix = matrix.reindex(ids)
        matrix.index = target.index
        return matrix.replace([np.inf, -np.inf], np.nan)

    def computed(self, tables: dict[str, pd.DataFrame]) -> bool:
        """Whether :meth:`fit_transform` of ``tables`` with the current plan takes the matrix computed when the plan
        was timed on every row (:func:`choose_plan`), so the fit spends no more time on DFS."""
        kept: dict[tuple[Any, ...], pd.DataFrame] = self.__dict__.get("_timed_matrices") or {}
        return bool(kept) and self._feature_key(self.define_features(tables), tables) in kept

    def _feature_key(self, features: list[Any], tables: dict[str, pd.DataFrame]) -> tuple[Any, ...]:
        """The features' names and the target table's identity: what a kept matrix was computed of."""
        return id(tables[self.target]), *(name for f in features for name in f.get_feature_names())

    def _cutoffs(self, target: pd.DataFrame) -> pd.Series:
        return pd.to_datetime(target[self.cutoff_time], errors="coerce", format="mixed")


def plan_columns(synthesiser: RelationalFeatures, tables: dict[str, pd.DataFrame], names: list[str],
                 chosen: str) -> dict[str, list[str]]:
    """For ``none`` (the target table's own columns), :data:`SHALLOW` (the computed plan's features of depth one:
    aggregates of the related rows' own columns, no aggregate of an aggregate or of a transform) and each plan up to
    ``chosen`` (the one computed): the computed columns it makes. Cheaper plans define a subset of the richer plans'
    features, so the search chooses among them, the depth of the features included, without running DFS again. A plan
    with the same columns as a cheaper one is left out (without grandchild tables, or transform primitives, depth two
    adds nothing)."""
    order = list(PLANS)
    own = [str(c) for c in tables[synthesiser.target].columns]
    plans = {"none": [c for c in names if c in own]}
    depth: dict[str, int] = {}  # each defined feature's DFS depth
    for name in order[: order.index(chosen) + 1]:
        defined = {n: f.get_depth() for f in synthesiser.define_features(tables, name) for n in f.get_feature_names()}
        depth.update(defined)
        plans[name] = [c for c in names if c in defined]
    shallow = [c for c in plans[chosen] if depth.get(c, 0) <= 1]
    if all(set(shallow) != set(columns) for columns in plans.values()):
        plans = {"none": plans.pop("none"), SHALLOW: shallow, **plans}
    return plans


def check_tables(tables: Any, target: str, relationships: list[Relationship], cutoff_time: str | None) -> None:
    """Raise a clear error when the tables and relationships do not fit together."""
    if not isinstance(tables, dict) or not all(isinstance(t, pd.DataFrame) for t in tables.values()):
        raise TypeError("related tables must be a dict of {name: DataFrame}")
    for parent, parent_key, child, child_key in relationships:
        for table, key in ((parent, parent_key), (child, child_key)):
            if table not in tables:
                raise ValueError(f"relationship ({parent}, {parent_key}, {child}, {child_key}) names table {table!r}, "
                                 f"but the tables are {sorted(tables)}")
            if key not in tables[table].columns:
                raise ValueError(f"table {table!r} has no column {key!r} (relationship key); its columns are "
                                 f"{list(tables[table].columns)}")
        duplicated = tables[parent][parent_key].duplicated()
        if duplicated.any():
            raise ValueError(f"key {parent_key!r} of table {parent!r} repeats on {int(duplicated.sum())} rows; a parent "
                             "key must be unique (one row per key)")
    if cutoff_time is not None and cutoff_time not in tables[target].columns:
        raise ValueError(f"cutoff_time {cutoff_time!r} is not a column of the target table; its columns are "
                         f"{list(tables[target].columns)}")


def floor_times(times: pd.Series, unit: str | None) -> np.ndarray:
    """``times`` moved back to the start of their ``unit`` (hour, day, week, ...); unchanged when ``unit`` is None."""
    if unit is None:
        return times.to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # to_period drops time zones
        return times.dt.to_period(unit).dt.start_time.to_numpy()


def cutoff_unit(times: pd.Series) -> str | None:
    """The finest calendar unit that leaves at most :data:`MAX_CUTOFF_TIMES` distinct cutoff times."""
    if times.nunique() <= MAX_CUTOFF_TIMES:
        return None
    for unit in CUTOFF_UNITS:
        if pd.Series(floor_times(times, unit)).nunique() <= MAX_CUTOFF_TIMES:
            return unit
    return CUTOFF_UNITS[-1]


def choose_plan(synthesiser: RelationalFeatures, tables: dict[str, pd.DataFrame], seconds: float) -> tuple[str, float]:
    """The richest plan whose estimated DFS time fits in ``seconds``, and that estimate.

    Each plan's cost is timed (:func:`plan_seconds`), cheapest first, up to the first that does not fit (a richer plan
    computes a cheaper one's features and more: it would not fit either) or until the timing itself has spent
    ``seconds``. On a small target table each timing is the whole computation, kept for the fit
    (:meth:`RelationalFeatures.computed`), so cheapest first also wastes least. When even basic does not fit, basic
    and its estimate (the caller decides whether to go on).
    """
    start = time.perf_counter()
    synthesiser._learn_layout(tables)
    chosen: tuple[str, float] | None = None
    for name in PLANS:
        if chosen is not None and time.perf_counter() - start >= seconds:
            break
        estimate = plan_seconds(synthesiser, tables, synthesiser.define_features(tables, name))
        if estimate * SAFETY > seconds:
            return chosen or (name, estimate)
        chosen = (name, estimate)
    assert chosen is not None
    return chosen


def plan_seconds(synthesiser: RelationalFeatures, tables: dict[str, pd.DataFrame], features: list[Any]) -> float:
    """Estimated seconds to compute ``features`` on every target row: a fixed cost per call plus a cost per row,
    both from the times of two nested samples of :data:`CALIBRATION_ROWS` rows (all the rows when there are no
    more than the larger sample: then the time is the cost itself).

    Examples
    --------
    Two samples of 100 and 1,000 rows timed at 0.10 s and 0.19 s: 0.0001 s a row and 0.09 s a call, so 0.89 s for
    8,000 rows (scaling the 100-row time by rows would say 8 s).
    """
    n_rows = len(tables[synthesiser.target])
    order = np.random.default_rng(0).permutation(n_rows)
    sizes = [min(n_rows, k) for k in CALIBRATION_ROWS]
    if sizes[-1] >= n_rows:  # the time is the cost itself; the synthesiser keeps the matrix for its fit
        return _timed(synthesiser, features, tables, np.arange(n_rows), keep=True)
    small, large = (_timed(synthesiser, features, tables, np.sort(order[:k])) for k in sizes)
    return extrapolate(sizes, (small, large), n_rows)


def extrapolate(sizes: list[int], seconds: tuple[float, float], n_rows: int) -> float:
    """The time of ``n_rows`` on the line through two timed sizes (a cost per row of at least 0, a fixed cost of
    at least 0)."""
    per_row = max(seconds[1] - seconds[0], 0.0) / (sizes[1] - sizes[0])
    fixed = max(seconds[0] - per_row * sizes[0], 0.0)
    return fixed + per_row * n_rows


def _timed(synthesiser: RelationalFeatures, features: list[Any], tables: dict[str, pd.DataFrame],
           rows: np.ndarray, keep: bool = False) -> float:
    start = time.perf_counter()
    matrix = synthesiser._calculate(features, tables, rows=rows)
    seconds = time.perf_counter() - start
    if keep:  # every row: fit_transform of these features on these tables takes it instead of computing it again
        synthesiser.__dict__.setdefault("_timed_matrices", {})[synthesiser._feature_key(features, tables)] = matrix
    return seconds
