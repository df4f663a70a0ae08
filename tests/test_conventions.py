"""The estimator behaves like the libraries its users know: score(), callbacks, random_state, verbose, task
inference that reads integer class labels as classes, estimator classes in custom families."""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import roc_auc_score, root_mean_squared_error

from automl import AutoML, AutoMLClassifier
from automl.data.schema import explain_task
from automl.models.registry import ModelFamily

ONE = dict(time_budget=60, max_trials=1, families=["linear"], search="defaults", portfolio=None, cv=2)


def test_integer_labels_few_next_to_the_rows_are_classes_and_the_reason_is_given():
    digits = pd.Series(np.arange(3000) % 10, name="digit")
    task, why = explain_task(digits)
    assert task == "multiclass" and "10 distinct whole numbers in 3000 rows" in why
    assert explain_task(pd.Series(np.arange(3000) % 500))[0] == "regression"  # 17 % of the rows: a quantity
    assert explain_task(pd.Series(np.linspace(0, 1, 50)))[0] == "regression"
    assert explain_task(pd.Series(["a", "b"] * 5))[0] == "binary"


def test_score_uses_the_search_metric_greater_is_better(credit, regression_frame):
    X, y = credit
    model = AutoML(random_state=0, **ONE).fit(X, y)
    expected = roc_auc_score(y, model.predict_proba(X)[:, list(model.classes_).index("good")], )
    assert model.score(X, y) == pytest.approx(expected if model.classes_[1] == "good" else 1 - expected)
    assert AutoMLClassifier(random_state=0, **ONE).fit(X, y).score(X, y) == pytest.approx(model.score(X, y))
    Xr, yr = regression_frame
    regression = AutoML(random_state=0, **ONE).fit(Xr, yr)
    assert regression.score(Xr, yr) == pytest.approx(-root_mean_squared_error(yr, regression.predict(Xr)))


@pytest.mark.slow
def test_callbacks_see_every_finished_trial_and_random_state_takes_a_generator(credit):
    X, y = credit
    seen = []
    model = AutoML(time_budget=60, max_trials=3, families=["linear", "knn"], search="random", portfolio=None, cv=2,
                   random_state=np.random.RandomState(3), ensemble=False,
                   callbacks=[lambda study, trial: seen.append((trial.number, trial.user_attrs["status"]))]).fit(X, y)
    assert [n for n, _ in seen] == sorted(model.leaderboard_.trial) and {s for _, s in seen} <= {"ok", "pruned"}


def test_a_custom_family_takes_estimator_classes(credit, regression_frame):
    family = ModelFamily(name="plain_linear", estimators={"classifier": LogisticRegression, "regressor": Ridge},
                         cost=1, needs={"impute": True, "encode": "onehot", "scale": True},
                         fixed={"classifier": {"max_iter": 500}})
    X, y = credit
    model = AutoML(time_budget=60, max_trials=1, families=[family], search="defaults", portfolio=None, cv=2,
                   random_state=0).fit(X, y)
    assert model.best_family_ == "plain_linear" and model.predict(X.head(3)).shape == (3,)


def test_verbose_two_shows_the_engine_log_during_fit_only(credit, caplog):
    X, y = credit
    logger = logging.getLogger("automl")
    before = logger.getEffectiveLevel()
    levels = {}
    for verbose in (0, 2):
        def note(study, trial, verbose=verbose):  # noqa: ANN001
            levels[verbose] = logger.getEffectiveLevel()
        AutoML(random_state=0, verbose=verbose, callbacks=[note], **ONE).fit(X.head(300), y.head(300))
    assert levels[2] == logging.INFO and levels[0] == before
    assert logger.getEffectiveLevel() == before  # put back after the fit
    assert "task binary: inferred from y: 2 distinct labels" in caplog.text


def test_verbose_one_is_the_progress_logger_on_standard_error_unless_logging_is_set_up(credit, capsys, monkeypatch):
    """verbose=1 sets ``automl.progress`` (not the engine's log) to INFO during the fit, on standard error when no
    handler is set up; with a handler of the user's the records go there and nothing is added."""
    X, y = credit
    engine, progress = logging.getLogger("automl"), logging.getLogger("automl.progress")
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    seen = {}

    def note(study, trial):  # noqa: ANN001
        seen.update(engine=engine.getEffectiveLevel(), progress=progress.getEffectiveLevel(),
                    handlers=len(progress.handlers))

    monkeypatch.setattr(logging.getLogger(), "handlers", [])  # as in a plain script: pytest's capture set aside
    AutoML(random_state=0, verbose=1, callbacks=[note], **ONE).fit(X.head(300), y.head(300))
    assert seen["progress"] == logging.INFO and seen["engine"] > logging.INFO and seen["handlers"] == 1
    err = capsys.readouterr().err
    assert "task binary: inferred from y" in err and "data ready: 300 rows" in err and "trial   0 linear" in err
    assert not progress.handlers and progress.level == logging.NOTSET  # put back after the fit
    monkeypatch.setattr(logging.getLogger(), "handlers", [Keep()])  # logging set up, as basicConfig does
    AutoML(random_state=0, verbose=1, callbacks=[note], **ONE).fit(X.head(300), y.head(300))
    assert seen["handlers"] == 0 and capsys.readouterr().err == ""
    assert any(r.name == "automl.progress" and "data ready" in r.getMessage() for r in records)
    assert not any(r.name == "automl" and r.levelno == logging.INFO for r in records)  # the engine's log: verbose=2


def test_progress_is_one_live_bar_on_a_terminal_and_plain_lines_elsewhere(caplog):
    import io

    import optuna

    from automl.estimator import _ProgressLine
    from automl.search.planner import Deadline

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    study = optuna.create_study(direction="maximize")
    study.add_trial(optuna.trial.create_trial(value=0.8, user_attrs={"family": "lightgbm", "status": "ok",
                                                                    "score": 0.8, "duration": 1.0}))
    trial = study.get_trials()[0]
    terminal, log = Terminal(), io.StringIO()
    with caplog.at_level(logging.INFO, logger="automl.progress"):
        for stream in (terminal, log):
            progress = _ProgressLine(Deadline(60), stream)
            progress(study, trial)
            progress(study, trial)
            progress.close()
    shown = terminal.getvalue()
    assert shown.count("\r") == 2 and shown.endswith("\n") and "/60s | trials 1 (ok 1) | best 0.8" in shown
    assert "last lightgbm ok" in shown
    assert log.getvalue() == ""  # not a terminal: two plain lines, records of the progress logger
    lines = [r.getMessage() for r in caplog.records if r.name == "automl.progress"]
    assert len(lines) == 2 and all("trial   0 lightgbm" in line and "\r" not in line for line in lines)


def test_extra_metrics_are_leaderboard_columns_from_out_of_fold_predictions(credit):
    X, y = credit
    params = {**ONE, "max_trials": 2, "families": ["linear", "lightgbm"], "cv": 0.25, "ensemble": False}
    model = AutoML(random_state=0, extra_metrics=["roc_auc", "accuracy", "log_loss"], **params).fit(X, y)
    board = model.leaderboard_
    assert list(board.columns[4:9]) == ["score", "score_std", "roc_auc", "accuracy", "log_loss"]
    done = board[board["status"] == "ok"]
    assert len(done) == 2
    # on one holdout the search metric computed again from the predictions is the trial's score
    assert np.allclose(done["roc_auc"].astype(float), done["score"].astype(float))
    assert done["accuracy"].between(0.5, 1).all() and (done["log_loss"] > 0).all()
    with pytest.raises(ValueError, match="extra_metrics: 'rmse' is for regression|does not apply"):
        AutoML(extra_metrics=["rmse"], **ONE).fit(X, y)
    with pytest.raises(ValueError, match="'precision' is not one of"):
        AutoML(extra_metrics=["precision"], **ONE).fit(X, y)
