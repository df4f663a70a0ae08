"""benchmarks/scale_targets.py: issue 14's targets read off result CSVs (no training here)."""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from benchmarks.scale_targets import main, merged_runs, target_table


def _run(system: str, score: float, *, dataset: str = "gen_binary_400k", metric: str = "roc_auc",
         budget: float = 120.0, fit_s: float = 100.0, rss: float = 1000.0, pss: float = math.nan,
         status: str = "ok", trials: int | None = None) -> dict[str, object]:
    return {"dataset": dataset, "task": {"roc_auc": "binary", "rmse": "regression"}[metric], "seed": 0,
            "system": system, "metric": metric, "budget": budget, "cores": 2, "status": status,
            "score": score if status == "ok" else math.nan, "fit_s": fit_s, "peak_rss_mb": rss, "peak_pss_mb": pss,
            "details": f"best=lightgbm; trials={trials}" if trials is not None else ""}


def _write(path: Path, rows: list[dict[str, object]]) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_a_later_file_replaces_the_automl_row_and_targets_are_judged(tmp_path: Path) -> None:
    peers = _write(tmp_path / "peers.csv", [
        _run("automl", 0.70, trials=3), _run("flaml", 0.795, rss=800.0, pss=700.0),
        _run("autogluon", 0.802, rss=2000.0), _run("lgbm", 0.79), _run("constant", 0.5)])
    rerun = _write(tmp_path / "rerun.csv", [_run("automl", 0.8, fit_s=125.0, rss=1300.0, pss=1050.0, trials=28)])
    row = target_table(merged_runs([peers, rerun])).iloc[0]
    assert row["automl"] == pytest.approx(0.8) and row["source"] == "rerun.csv" and row["trials"] == 28
    assert row["best_peer"] == "autogluon"
    assert row["gain_over_peer_pct"] == pytest.approx(100 * (0.8 - 0.802) / 0.802)
    assert row["peer"] == "yes"  # -0.25 %: within 0.5 % below 600 s
    assert row["lgbm"] == "yes" and row["model"] == "yes" and row["wall"] == "yes"  # 125 s of 120: 1.04x
    assert row["memory_basis"] == "pss" and row["pss_x_flaml"] == pytest.approx(1.5) and row["memory"] == "yes"
    assert row["rss_x_flaml"] == pytest.approx(1300 / 800)


def test_long_budgets_need_a_lead_and_lower_is_better_for_rmse(tmp_path: Path) -> None:
    rows = [_run(system, score, dataset="gen_regression_4000k", metric="rmse", budget=600.0, fit_s=640.0, rss=rss)
            for system, score, rss in [("automl", 6.2, 1600.0), ("flaml", 7.7, 1000.0), ("autogluon", 6.2, 1000.0),
                                       ("lgbm", 7.8, 500.0), ("constant", 14.9, 100.0)]]
    row = target_table(merged_runs([_write(tmp_path / "r.csv", rows)])).iloc[0]
    assert row["best_peer"] == "autogluon" and row["peer"] == "NO"  # a tie is not ahead at 600 s
    assert row["gain_over_lgbm_pct"] == pytest.approx(100 * (7.8 - 6.2) / 7.8)
    assert row["wall"] == "NO"  # 640 s of 600: 1.07x
    assert row["memory_basis"] == "rss" and row["memory"] == "NO"  # no PSS sampled: 1.6x in RSS


def test_a_failed_fit_is_the_constant_and_fails_every_score_target(tmp_path: Path) -> None:
    rows = [_run("automl", math.nan, status="timeout"), _run("flaml", 0.8), _run("lgbm", 0.79),
            _run("constant", 0.5)]
    row = target_table(merged_runs([_write(tmp_path / "r.csv", rows)])).iloc[0]
    assert row["automl"] == 0.5 and row["model"] == "NO" and row["lgbm"] == "NO" and row["peer"] == "NO"


def test_runs_of_several_budgets_are_judged_apart(tmp_path: Path) -> None:
    rows = [_run("automl", math.nan, status="timeout"), _run("constant", 0.5), _run("lgbm", 0.79),
            _run("automl", 0.81, budget=600.0), _run("constant", 0.5, budget=600.0), _run("lgbm", 0.79, budget=600.0)]
    table = target_table(merged_runs([_write(tmp_path / "r.csv", rows)])).set_index("budget")
    assert table.loc[120.0, "model"] == "NO" and table.loc[600.0, "model"] == "yes"
    assert table.loc[600.0, "automl"] == pytest.approx(0.81)


def test_targets_without_a_peer_are_left_empty_and_the_report_counts_them(tmp_path: Path) -> None:
    path = _write(tmp_path / "r.csv", [_run("automl", 0.8, trials=5), _run("lgbm", 0.79), _run("constant", 0.5)])
    row = target_table(merged_runs([path])).iloc[0]
    assert row["peer"] == "" and row["memory"] == ""
    out = tmp_path / "targets.md"
    main([str(path), "--out", str(out)])
    text = out.read_text()
    assert "- `lgbm`: 1 of 1 runs meet it" in text and "- `peer`: 0 of 0 runs meet it" in text


def test_csvs_without_automl_are_refused(tmp_path: Path) -> None:
    path = _write(tmp_path / "r.csv", [_run("flaml", 0.8), _run("constant", 0.5)])
    with pytest.raises(SystemExit, match="no automl run"):
        main([str(path)])
