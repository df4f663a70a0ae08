"""Scores and time with and without feature synthesis, on generated data with a known answer.

- related tables: customers / sessions / transactions (tests/generated.py), the target depends on the mean
  transaction amount before each customer's cutoff; DFS (``fit(..., tables=...)``) against the customers table alone.
- time series: noisy sine vs sawtooth (tests/test_timeseries.py); tsfresh + FRESH (``fit_series``) against the raw
  values pivoted to one column per time step.

Run: ``PYTHONPATH=. python benchmarks/synthesis.py [budget]``; writes ``benchmarks/results/synthesis_<budget>s.csv``.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd
from sklearn.metrics import accuracy_score, roc_auc_score

from automl import AutoML
from tests.generated import RELATIONSHIPS, customers_sessions_transactions
from tests.generated import sine_or_sawtooth


def _row(case: str, variant: str, model: AutoML, score: float, budget: float, wall: float) -> dict:
    info = getattr(model, "synthesis_", {}) or {}
    board = model.leaderboard_
    best = board[board.trial == model.best_trial_]
    return {"case": case, "variant": variant, "budget": budget, "test_score": round(score, 4),
            "fit_wall": round(wall, 2), "within_1.05x": wall <= 1.05 * budget,
            "synthesis_time": info.get("synthesis_time"), "search_time": round(model.search_time_, 2),
            "setting": info.get("plan") or info.get("settings"),
            "n_features_synthesised": info.get("n_features_synthesised"),
            "best_n_features_synthesised": best.n_features_synthesised.iloc[0] if len(best) else None,
            "best_n_features_selected": best.n_features_selected.iloc[0] if len(best) else None,
            "best_family": model.best_family_, "n_trials": len(board)}


def relational(budget: float) -> list[dict]:
    customers, sessions, transactions, y = customers_sessions_transactions(1000, seed=0)
    new, new_sessions, new_transactions, new_y = customers_sessions_transactions(300, seed=1, first_id=100_000)
    rows = []
    start = time.monotonic()
    model = AutoML(time_budget=budget, random_state=0).fit(
        customers, y, tables={"sessions": sessions, "transactions": transactions}, relationships=RELATIONSHIPS,
        cutoff_time="as_of")
    wall = time.monotonic() - start
    proba = model.predict_proba(new, tables={"sessions": new_sessions, "transactions": new_transactions})[:, 1]
    rows.append(_row("relational", "dfs", model, roc_auc_score(new_y, proba), budget, wall))
    start = time.monotonic()
    alone = AutoML(time_budget=budget, random_state=0).fit(customers, y)
    wall = time.monotonic() - start
    rows.append(_row("relational", "customers_only", alone, roc_auc_score(new_y, alone.predict_proba(new)[:, 1]),
                     budget, wall))
    return rows


def series(budget: float) -> list[dict]:
    readings, labels = sine_or_sawtooth(400, seed=0, length=100)
    new, new_labels = sine_or_sawtooth(200, seed=1, length=100, first_id=10_000)
    rows = []
    start = time.monotonic()
    model = AutoML(time_budget=budget, random_state=0).fit_series(readings, labels, column_id="id",
                                                                  column_sort="time")
    wall = time.monotonic() - start
    predicted = model.predict_series(new)
    rows.append(_row("series", "tsfresh", model, accuracy_score(new_labels.loc[predicted.index], predicted), budget,
                     wall))

    def wide(frame: pd.DataFrame) -> pd.DataFrame:
        table = frame.pivot(index="id", columns="time", values=["value", "noise"])
        table.columns = [f"{a}_{b}" for a, b in table.columns]
        return table.sort_index()

    start = time.monotonic()
    raw = AutoML(time_budget=budget, random_state=0).fit(wide(readings), labels.sort_index().to_numpy())
    wall = time.monotonic() - start
    rows.append(_row("series", "raw_values", raw, accuracy_score(new_labels.sort_index(), raw.predict(wide(new))),
                     budget, wall))
    return rows


if __name__ == "__main__":
    budget = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
    table = pd.DataFrame(relational(budget) + series(budget))
    out = Path(__file__).parent / "results" / f"synthesis_{budget:g}s.csv"
    table.to_csv(out, index=False)
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(table)
