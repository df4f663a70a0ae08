"""The command line, run as a user runs it: a real subprocess on a real file."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import pandas as pd

from tests.cli import run_cli
from tests.conftest import CREDIT


@pytest.mark.slow
def test_fit_predict_leaderboard(tmp_path: Path):
    out = tmp_path / "model"
    # 60 s: every family's defaults are cheap next to it, so they run cheapest first (at 20 s the sum of their
    # estimates sits near the share of the budget where only the strong ones start, which depends on the machine)
    fit = run_cli("fit", str(CREDIT), "--target", "class", "--time-budget", "60", "--max-trials", "4",
                  "--search", "defaults", "--out", str(out))
    assert fit.returncode == 0, fit.stderr
    assert "trial   0 linear" in fit.stderr and "s] trial" in fit.stderr  # progress lines with elapsed time
    assert "best:" in fit.stdout and "metric roc_auc" in fit.stdout
    assert (out / "pipeline.skops").exists() and (out / "leaderboard.csv").exists()

    preds = tmp_path / "preds.csv"
    predict = run_cli("predict", str(out), str(CREDIT), "--out", str(preds), "--proba")
    assert predict.returncode == 0, predict.stderr
    assert "ignoring columns not used in training: ['class']" in predict.stderr
    table = pd.read_csv(preds)
    assert list(table.columns) == ["prediction", "proba_bad", "proba_good"] and len(table) == 1000
    assert set(table.prediction) <= {"good", "bad"}

    board = run_cli("leaderboard", str(out))
    assert board.returncode == 0 and "linear" in board.stdout


def test_reads_parquet_and_arff(tmp_path: Path):
    from automl.io.readers import read_table

    frame = pd.read_csv(CREDIT).head(50)
    frame.to_parquet(tmp_path / "d.parquet")
    assert read_table(tmp_path / "d.parquet").shape == (50, 21)
    arff = tmp_path / "d.arff"
    arff.write_text("@RELATION t\n@ATTRIBUTE x NUMERIC\n@ATTRIBUTE c {a,b}\n@DATA\n1.5,a\n?,b\n2,?\n")
    table = read_table(arff)
    assert table["x"].isna().sum() == 1 and table["c"].tolist()[:2] == ["a", "b"]


@pytest.mark.slow
def test_bad_target_column_is_a_clear_error(tmp_path: Path):
    result = run_cli("fit", str(CREDIT), "--target", "nope", "--time-budget", "5", "--out", str(tmp_path / "m"))
    assert result.returncode != 0 and "no column 'nope'" in result.stderr


def test_commands_on_a_saved_model_in_process(credit_model_folder, credit, tmp_path, capsys):
    """The read-only commands, called in this process (the subprocess tests above show the console script)."""
    from automl.cli import main

    X, y = credit
    data = tmp_path / "rows.csv"
    X.head(60).assign(**{"class": y.head(60)}).to_csv(data, index=False)
    assert main(["leaderboard", str(credit_model_folder), "--top", "2"]) == 0
    assert "family" in capsys.readouterr().out
    assert main(["predict", str(credit_model_folder), str(data), "--proba", "--out", str(tmp_path / "p.csv")]) == 0
    predictions = pd.read_csv(tmp_path / "p.csv")
    assert len(predictions) == 60 and {"prediction", "proba_good", "proba_bad"} <= set(predictions.columns)
    assert main(["profile", str(data), "--target", "class", "--html", str(tmp_path / "p.html")]) == 0
    assert "<html" in (tmp_path / "p.html").read_text().lower()
    assert main(["validate", str(data), "--target", "class"]) == 0
    assert main(["compare", str(credit_model_folder), str(credit_model_folder), str(data), "--target", "class",
                 "--n-boot", "50"]) == 0
    assert "no significant difference" in capsys.readouterr().out
    assert main(["predict", str(credit_model_folder), str(tmp_path / "missing.csv")]) == 4  # a data error, no trace
    assert "error:" in capsys.readouterr().err


def test_version_json_outputs_and_one_line_errors(credit_model_folder, tmp_path, capsys):
    import json

    from automl.cli import main

    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.startswith("automl ")
    assert main(["leaderboard", str(credit_model_folder), "--json", "--top", "2"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 2 and {"rank", "family", "score", "status"} <= set(rows[0])
    assert main(["profile", str(CREDIT), "--target", "class", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_rows"] == 1000
    assert main(["validate", str(CREDIT), "--target", "class", "--json", "-q"]) == 0
    assert json.loads(capsys.readouterr().out)["failed_errors"] == 0
    code = main(["leaderboard", "--storage", f"sqlite:///{tmp_path / 'none.db'}", "--study", "nope"])
    err = capsys.readouterr().err
    assert code == 4 and err.count("\n") == 1 and "no study 'nope'" in err  # one line, no traceback


def test_fit_json_summary_in_process(tmp_path, capsys):
    import json

    from automl.cli import main

    out = tmp_path / "model"
    code = main(["fit", str(CREDIT), "--target", "class", "--time-budget", "30", "--max-trials", "1", "--search",
                 "defaults", "--families", "linear", "--out", str(out), "--json", "-q"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["best"]["family"] == "linear" and summary["status"]["status"] == "ok"


def test_a_missing_extra_is_one_line_that_names_it(credit_model_folder, tmp_path, capsys, monkeypatch):
    """An optional library that is not installed (set aside here as an absent package is: import fails): the
    command prints one line naming the extra, no traceback; a family asked for names its extra too."""
    import importlib.util

    from automl.cli import EXIT_USAGE, main
    from automl.synthesis import require

    for name in ("skl2onnx", "onnxmltools", "onnx", "onnxruntime"):
        monkeypatch.setitem(sys.modules, name, None)  # "import skl2onnx" raises ModuleNotFoundError
    code = main(["export", str(credit_model_folder), "--out", str(tmp_path / "m.onnx")])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE and err.count("\n") == 1 and 'pip install "automl[export]"' in err
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in ("catboost", "tsfresh")
                        else real(name, *a))
    code = main(["fit", str(CREDIT), "--target", "class", "--time-budget", "10", "--families", "catboost", "--out",
                 str(tmp_path / "m"), "-q"])
    err = capsys.readouterr().err
    assert code != 0 and err.count("\n") == 1 and "catboost is not installed" in err and "automl[catboost]" in err
    with pytest.raises(ImportError, match=r'automl\[synthesis\]'):
        require("tsfresh", "fit_series")


def test_help_is_fast_and_importing_changes_no_global_logging():
    """``automl --help`` imports neither pandas nor the engine; importing automl leaves Optuna's log level alone;
    the package is typed (py.typed ships with it)."""
    code = ("import sys, logging, optuna\n"
            "before = optuna.logging.get_verbosity()\n"
            "from automl.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('pandas' in sys.modules)\n"
            "import automl, automl.estimator\n"
            "print(optuna.logging.get_verbosity() == before)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-2:] == ["False", "True"]
    import importlib.resources

    assert importlib.resources.files("automl").joinpath("py.typed").is_file()
