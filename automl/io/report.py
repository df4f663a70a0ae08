"""One self-contained HTML report of a model folder: leaderboard, score vs time of the search, permutation
importances, SHAP values (one tree-based pipeline, the explain extra) and the models' own importances, confusion
matrix or residuals, the data profile and the cleaning report.

Plots are drawn with matplotlib and inlined as base64 PNGs, so the file opens anywhere without its folder.
Importances and the confusion matrix / residuals are computed on labelled rows passed in (held-out rows,
best) or else on the training sample kept in the model folder (optimistic: the model has seen those rows).

For a model fitted with related tables or on series (whose folder keeps no sample: the rows alone are not its
input), the labelled rows come with their related tables, or are readings with one label per series; the features
are synthesised once and the permutation importances shuffle them, the columns the model reads.
"""
from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

N_REPEATS = 5
SHAP_ROWS = 200  # rows the report computes SHAP values on
TOP_TRIALS = 25

STYLE = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}
th{background:#f3f3f3}h2{margin-top:1.6em;border-bottom:1px solid #ddd}.note{color:#666;font-size:13px}"""


def build_report(folder: str | Path, data: tuple[pd.DataFrame, pd.Series] | None = None,
                 random_state: int = 0, tables: dict[str, pd.DataFrame] | None = None) -> str:
    """The HTML text of the report of the model folder ``folder``.

    Parameters
    ----------
    folder : str or Path
        Model folder written by ``automl fit``.
    data : (DataFrame, Series), optional
        Labelled rows for the importances and the error plots; the folder's training sample otherwise. For a model
        fitted on series: the readings, and the labels as a Series indexed by series id.
    random_state : int
        Seed of the permutations.
    tables : dict of str to DataFrame, optional
        The related tables of ``data``'s rows, for a model fitted with related tables.
    """
    from automl.io.persist import load, load_sample

    model = load(folder)
    source = "the labelled rows given"
    if data is None:
        data = load_sample(folder)
        source = "the training sample kept with the model (optimistic: the model was fitted on these rows)"
    sections = [_summary(model), _leaderboard(model.leaderboard_), _search_plot(model)]
    if data is not None:
        scored = Scored.of(model, *data, tables)
        sections += [_importances(model, scored, random_state, source), _shap(model, scored, source),
                     _errors(model, scored, source)]
    else:
        sections.append("<h2>Importances and errors</h2><p class=note>No labelled rows: pass data to the "
                        "report, or save the model with its training sample.</p>")
    sections.append(_native_importances(model))
    sections += [_profile(model), _cleaning(model)]
    title = f"automl model report: {html.escape(str(model.best_family_))} ({html.escape(model.task_)})"
    return (f"<!doctype html><html><head><meta charset=utf-8><title>{title}</title><style>{STYLE}</style>"
            f"</head><body><h1>{title}</h1>{''.join(sections)}</body></html>")


def write_report(folder: str | Path, out: str | Path, data: tuple[pd.DataFrame, pd.Series] | None = None,
                 tables: dict[str, pd.DataFrame] | None = None) -> Path:
    """Write :func:`build_report` to ``out``; returns the path."""
    path = Path(out)
    path.write_text(build_report(folder, data, tables=tables), encoding="utf-8")
    return path


@dataclass
class Scored:
    """What the importances and error plots score: what predicts, the rows it reads, their labels, and what a
    column of those rows is (the model and its input columns; or, for a model fitted with related tables or on
    series, its :class:`~automl.model_input.FeatureModel` and the synthesised features, computed once)."""

    predictor: Any
    rows: pd.DataFrame
    labels: pd.Series
    column: str

    @classmethod
    def of(cls, model: Any, X: pd.DataFrame, y: Any, tables: dict[str, pd.DataFrame] | None) -> "Scored":
        from automl.model_input import FeatureModel, ModelInput

        model_input = ModelInput.of(model)
        how = "pass them with the labelled rows (automl report --table)"
        model_input.check_tables(tables, how)
        if not model_input.synthesised:
            return cls(model, X, pd.Series(y), "column")
        features = FeatureModel(model)
        return cls(features, features.features(X, tables, how), model_input.labels_in_order(X, y),
                   "synthesised feature")


# -- sections ------------------------------------------------------------------------------------------------
def _summary(model: Any) -> str:
    facts = {"task": model.task_, "metric": f"{model.metric_.name} "
             f"({'higher' if model.metric_.greater_is_better else 'lower'} is better)",
             "best": f"{model.best_family_} (trial {model.best_trial_})", "validation score": model.best_score_,
             "fit time (s)": model.fit_time_, "trials": len(model.leaderboard_)}
    acceptance = getattr(model, "acceptance_", None)
    if acceptance:
        facts["held-out test"] = acceptance
    return "<h2>Summary</h2>" + _table(pd.DataFrame({"": list(facts), "value": [str(v) for v in facts.values()]}))


def _leaderboard(board: pd.DataFrame) -> str:
    shown = board.drop(columns=[c for c in ("worker", "error") if c in board.columns]).head(TOP_TRIALS).copy()
    shown["params"] = shown["params"].astype(str).str.slice(0, 80)
    return f"<h2>Leaderboard</h2><p class=note>best {TOP_TRIALS} of {len(board)} trials</p>" + _table(shown)


def _search_plot(model: Any) -> str:
    plt = _pyplot()

    board = model.leaderboard_
    ok = board[(board["status"] == "ok") & board["score"].notna()]
    if "finished_at" in ok.columns and ok["finished_at"].notna().any():
        ok, x, label = ok[ok["finished_at"].notna()].sort_values("finished_at"), "finished_at", "seconds"
    else:
        ok, x, label = ok.sort_values("trial"), "trial", "trial"
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for family, rows in ok.groupby("family"):
        ax.scatter(rows[x], rows["score"], label=family, s=18)
    best = ok["score"].cummax() if model.metric_.greater_is_better else ok["score"].cummin()
    ax.step(ok[x], best, where="post", color="black", linewidth=1, label="best so far")
    ax.set_xlabel(f"{label} since the search started" if label == "seconds" else label)
    ax.set_ylabel(model.metric_.name)
    ax.legend(fontsize=7, loc="best")
    return "<h2>Score vs time of the search</h2>" + _png(fig)


def _importances(model: Any, scored: Scored, random_state: int, source: str) -> str:
    from automl.explain import permutation_importances

    plt = _pyplot()
    table = permutation_importances(model, scored.rows, scored.labels, n_repeats=N_REPEATS,
                                    random_state=random_state, max_rows=None, predictor=scored.predictor)
    top = table.head(25)
    fig, ax = plt.subplots(figsize=(7, 0.25 * len(top) + 1))
    ax.barh(list(top.index)[::-1], top["importance"].to_numpy()[::-1], xerr=top["std"].to_numpy()[::-1],
            color="#4a7ab5")
    ax.set_xlabel(f"drop in {model.metric_.name} when the {scored.column} is shuffled")
    return (f"<h2>Permutation importances</h2><p class=note>{N_REPEATS} shuffles per {scored.column} on "
            f"{len(scored.rows)} rows of {html.escape(source)}</p>" + _png(fig))


def _shap(model: Any, scored: Scored, source: str) -> str:
    """Mean absolute SHAP value per input column (TreeSHAP, the ``explain`` extra) on up to :data:`SHAP_ROWS` rows,
    or why there are none (no shap, an ensemble, a model that is not tree-based, synthesised features)."""
    title = "<h2>SHAP values</h2>"
    if scored.predictor is not model:
        return title + "<p class=note>Not computed for a model with synthesised features.</p>"
    rows = scored.rows.head(SHAP_ROWS)
    try:
        values = model.shap_values(rows)
    except (ImportError, ValueError) as exc:
        return title + f"<p class=note>Not computed: {html.escape(str(exc))}</p>"
    size = values.abs().mean()
    if isinstance(values.columns, pd.MultiIndex):  # multiclass: summed over the classes
        size = size.groupby(level="column").sum()
    top = size.sort_values(ascending=False).head(25)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 0.25 * len(top) + 1))
    ax.barh(list(top.index)[::-1], top.to_numpy()[::-1], color="#b5714a")
    ax.set_xlabel("mean |SHAP value| (contribution to the raw output)")
    return (title + f"<p class=note>TreeSHAP on {len(rows)} rows of {html.escape(source)}: how far each column moves "
            "a prediction from the average one, on average.</p>" + _png(fig))


def _native_importances(model: Any) -> str:
    """The models' own importances (no data needed), or why there are none."""
    try:
        values = pd.Series(model.feature_importances_, index=[str(c) for c in model.feature_names_in_])
    except AttributeError as exc:
        return f"<h2>The models' own importances</h2><p class=note>{html.escape(str(exc))}</p>"
    top = values.sort_values(ascending=False).head(25)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 0.25 * len(top) + 1))
    ax.barh(list(top.index)[::-1], top.to_numpy()[::-1], color="#7a9a4a")
    ax.set_xlabel("share of importance (split gain, impurity decrease or coefficient size)")
    return ("<h2>The models' own importances</h2><p class=note>What the fitted models rely on, carried back to the "
            "input columns (automl.explain); biased towards columns with many distinct values, so read it with "
            "the permutation importances above.</p>" + _png(fig))


def _errors(model: Any, scored: Scored, source: str) -> str:
    plt = _pyplot()

    from automl.metrics import align_labels

    labels = align_labels(model.classes_, scored.labels)
    predicted = scored.predictor.predict(scored.rows)
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    if model.classes_ is not None:
        from sklearn.metrics import ConfusionMatrixDisplay

        ConfusionMatrixDisplay.from_predictions(labels, predicted, labels=model.classes_, ax=ax, colorbar=False)
        title = "Confusion matrix"
    else:
        ax.scatter(predicted, labels - predicted, s=8, alpha=0.6)
        ax.axhline(0, color="black", linewidth=1)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true - predicted")
        title = "Residuals"
    return f"<h2>{title}</h2><p class=note>on {len(scored.rows)} rows of {html.escape(source)}</p>" + _png(fig)


def _profile(model: Any) -> str:
    profile = getattr(model, "profile_", None)
    if not profile:
        return "<h2>Data profile</h2><p class=note>no profile.json in the model folder</p>"
    from automl.data.profile import profile_table

    return (f"<h2>Data profile</h2><p class=note>{profile['n_rows']} training rows, {profile['n_columns']} "
            "columns</p>" + _table(profile_table(profile)))


def _cleaning(model: Any) -> str:
    entries = pd.DataFrame(model.cleaning_ or [], columns=["column", "action", "reason"])
    body = _table(entries) if len(entries) else "<p class=note>nothing was removed or changed</p>"
    validation = getattr(model, "validation_", None)
    if validation is not None and len(validation):
        body += "<h3>Validation rules</h3>" + _table(validation)
    return "<h2>Cleaning report</h2>" + body


# -- helpers -------------------------------------------------------------------------------------------------
def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, na_rep="", float_format=lambda v: f"{v:.4g}", border=0)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> str:
    plt = _pyplot()

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return f'<img alt="plot" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'
