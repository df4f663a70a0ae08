"""The portfolio selection of ``benchmarks/portfolio.py`` on small handmade measurements (no model is fitted)."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from automl.models.registry import all_families
from automl.search.portfolio import load_portfolio, portfolio_points
from benchmarks import portfolio as bp


def _rows(dataset: str, scores: dict[str, float], greater: bool = True, task: str = "binary") -> list[dict[str, Any]]:
    return [{"dataset": dataset, "task": task, "greater_is_better": greater, "config": config, "status": "ok",
             "score": score, "duration_s": 1.0, "rows": 100} for config, score in scores.items()]


def _results() -> pd.DataFrame:
    """Three datasets: knn_15_distance closes the gap on a and b, mlp_256x2 only on c."""
    rows = (_rows("a", {"lightgbm_defaults": 0.80, "knn_15_distance": 0.90, "mlp_256x2": 0.80})
            + _rows("b", {"lightgbm_defaults": 0.70, "knn_15_distance": 0.75, "mlp_256x2": 0.60})
            + _rows("c", {"lightgbm_defaults": 2.0, "knn_15_distance": 2.5, "mlp_256x2": 1.0}, greater=False,
                    task="regression"))
    return pd.DataFrame(rows)


def test_gains_share_of_the_gap_both_directions() -> None:
    results = pd.concat([_results(), pd.DataFrame(
        _rows("d", {"lightgbm_defaults": 0.9, "knn_15_distance": 0.5})  # defaults best: no gap, left out
        + [{"dataset": "a", "config": "lightgbm_large", "status": "error", "score": 5.0, "greater_is_better": True}])])
    table = bp.gains(results)
    assert sorted(table.index) == ["a", "b", "c"]
    assert "lightgbm_large" not in table.columns  # a failed trial is no measurement
    assert table.loc["a", "knn_15_distance"] == pytest.approx(1.0)
    assert table.loc["c", "mlp_256x2"] == pytest.approx(1.0)  # smaller is better: 1.0 beats 2.0
    assert table.loc["c", "knn_15_distance"] == 0.0  # worse than the defaults: clipped to 0
    assert table.loc["b", "lightgbm_defaults"] == 0.0


def test_gains_half_way() -> None:
    results = pd.DataFrame(_rows("a", {"lightgbm_defaults": 0.8, "knn_15_distance": 0.85, "mlp_256x2": 0.9}))
    assert bp.gains(results).loc["a", "knn_15_distance"] == pytest.approx(0.5)


def test_greedy_adds_while_the_mean_grows_enough() -> None:
    table = bp.gains(_results())
    assert bp.greedy(table, 3, 0.1) == [("knn_15_distance", pytest.approx(2 / 3)), ("mlp_256x2", pytest.approx(1.0))]
    # counting a fourth dataset without a gap lowers every mean, and the second entry no longer adds enough
    assert [name for name, _ in bp.greedy(table, 4, 0.3)] == ["knn_15_distance"]
    assert bp.greedy(table, 0, 0.0) == []


def test_leave_one_out_scores_a_portfolio_chosen_without_the_dataset() -> None:
    table = bp.gains(_results())
    lodo = bp.leave_one_out(table, ["a", "b", "c"], 0.3).set_index("dataset")
    # without c, nothing shows mlp_256x2 is worth a place, so c gets no gain: the in-sample 1.0 was flattering
    assert lodo.loc["c", "chosen"] == ["knn_15_distance"]
    assert lodo.loc["c", "gain_held_out"] == 0.0
    assert lodo.loc["a", "gain_held_out"] == pytest.approx(1.0)
    assert lodo["gain_held_out"].mean() == pytest.approx(2 / 3)
    selection = bp.choose(_results(), 0.3)
    assert selection.in_sample == pytest.approx(1.0)
    assert selection.held_out == pytest.approx(2 / 3)


def test_portfolio_without_a_dataset_is_the_leave_one_out_choice_cheapest_first(tmp_path: Path) -> None:
    results = _results()
    results.loc[results["config"] == "mlp_256x2", "duration_s"] = 0.5
    csv = tmp_path / "candidates.csv"
    results.to_csv(csv, index=False)
    knn, mlp = bp.CANDIDATES["knn_15_distance"], bp.CANDIDATES["mlp_256x2"]
    assert bp.portfolio_without("c", csv, 0.3) == [knn]  # as leave_one_out chose for c
    assert bp.portfolio_without("a", csv, 0.1) == [mlp, knn]  # cheapest first, as the shipped file orders them
    assert bp.portfolio_without("not-measured", csv, 0.1) == [mlp, knn]  # every dataset: the full selection


def test_choose_leaves_failed_datasets_out_of_the_mean() -> None:
    failed = pd.DataFrame([{"dataset": "e", "task": "binary", "config": "", "status": "failed", "error": "boom"}])
    selection = bp.choose(pd.concat([_results(), failed]), 0.1)
    assert selection.datasets == ["a", "b", "c"]
    assert selection.in_sample == pytest.approx(1.0)


def test_written_config_loads_and_lies_in_the_declared_spaces(tmp_path: Path) -> None:
    args = argparse.Namespace(suite="extra", max_rows=2000, min_gain=0.1, seed=0, datasets="")
    selection = bp.choose(_results(), 0.1)
    selection.times["mlp_256x2"], selection.times["knn_15_distance"] = 9.0, 0.5
    text = bp.portfolio_yaml(selection, args, "2026-01-02")
    assert "chosen on the training collection extra" in text.lower() and "2026-01-02" in text
    assert "leave one dataset out" in text
    path = tmp_path / "portfolio.yaml"
    path.write_text(text)
    entries = load_portfolio(str(path))
    assert [e["family"] for e in entries] == ["knn", "mlp"]  # cheapest first
    assert entries[1]["params"] == bp.CANDIDATES["mlp_256x2"]["params"]
    assert len(portfolio_points(entries, list(all_families().values()), "binary")) == 2


@pytest.mark.parametrize("name", sorted(bp.CANDIDATES))
def test_every_candidate_lies_in_its_family_space(name: str) -> None:
    families = list(all_families().values())
    for task in ("binary", "multiclass", "regression"):
        assert len(portfolio_points([bp.CANDIDATES[name]], families, task)) == 1


def test_resume_skips_measured_datasets_and_retries_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    csv = tmp_path / "portfolio_candidates.csv"
    old = pd.concat([_results().assign(max_rows=2000, seed=0),
                     pd.DataFrame([{"dataset": "d", "status": "failed", "config": "", "max_rows": 2000, "seed": 0}]),
                     _results().assign(dataset="kc1", max_rows=2000, seed=0)])  # another suite's dataset
    old.to_csv(csv, index=False)
    manifest = [{"name": n, "task": "binary"} for n in "abcd"]
    monkeypatch.setattr(bp, "load_manifest", lambda root: manifest)
    measured: list[str] = []

    def fake_measure(meta: dict[str, Any], root: Path, max_rows: int, seed: int) -> pd.DataFrame:
        measured.append(meta["name"])
        return pd.DataFrame(_rows(meta["name"], {"lightgbm_defaults": 0.5, "knn_15_distance": 0.6}))

    monkeypatch.setattr(bp, "measure", fake_measure)
    args = argparse.Namespace(max_rows=2000, seed=0)
    bp.measure_all(manifest, tmp_path, args, csv)
    assert measured == ["d"]
    after = bp.read_results(csv)
    assert sorted(after["dataset"].unique()) == ["a", "b", "c", "d"]
    assert "failed" not in set(after["status"])
    measured.clear()
    bp.measure_all(manifest, tmp_path, argparse.Namespace(max_rows=500, seed=0), csv)  # other settings: all again
    assert measured == ["a", "b", "c", "d"]


def test_shipped_portfolio_says_where_it_was_chosen() -> None:
    text = (Path(bp.__file__).resolve().parents[1] / "configs" / "portfolio.yaml").read_text()
    assert "training collection extra" in text
    assert isinstance(yaml.safe_load(text), list)
