"""The ``primitives`` synthesis plan: featuretools' transform primitives of datetime and text columns, fitted on the
training rows, searched like the other single-table plans."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("featuretools")

from automl.data.schema import infer_schema  # noqa: E402
from automl.features.primitives import TransformPrimitives  # noqa: E402
from automl.io.persist import trusted_types  # noqa: E402
from automl.pipeline.build import build_preprocessor, synthesis_plans  # noqa: E402

WORDS = [f"w{i}" for i in range(60)]


def _sentences(rng: np.random.Generator, n: int) -> tuple[list[str], np.ndarray]:
    counts = rng.integers(1, 16, n)
    return [" ".join(rng.choice(WORDS, c)) for c in counts], counts


def _frame(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    dates = pd.Series(pd.Timestamp("2019-01-01") + pd.to_timedelta(rng.integers(0, 3 * 365, n), unit="D"))
    dates[::25] = pd.NaT
    texts, _ = _sentences(rng, n)
    notes = pd.Series(texts, dtype=object)
    notes[3::40] = None
    return pd.DataFrame({"when": dates, "note": notes})


def test_outputs_are_the_primitives_values_and_missing_input_stays_missing():
    X = _frame()
    step = TransformPrimitives()
    fitted_out = step.fit_transform(X)
    names = list(step.get_feature_names_out())
    np.testing.assert_array_equal(fitted_out, step.transform(X))
    row = pd.DataFrame({"when": [pd.Timestamp("2020-03-01 00:00")], "note": ["Hi there, You"]})
    values = dict(zip(names, step.transform(row)[0]))
    assert values["when__day_of_year"] == 61 and values["when__is_leap_year"] == 1
    assert values["when__is_weekend"] == 1 and values["when__quarter"] == 1  # 2020-03-01 was a Sunday
    assert values["when__days_since_1970"] == (pd.Timestamp("2020-03-01") - pd.Timestamp("1970-01-01")).days
    assert values["note__num_words"] == 3 and values["note__num_characters"] == 13
    missing = step.transform(pd.DataFrame({"when": [pd.NaT], "note": [None]}))
    assert np.isnan(missing).all()
    assert step.feature_sources() == [(n.split("__")[0],) for n in names]


def test_outputs_that_do_not_vary_on_the_training_rows_are_not_kept():
    """Dates without a time give no minute or second; a column of Saturdays gives no is_weekend."""
    saturdays = pd.DataFrame({"day": pd.Series(pd.date_range("2021-01-02", periods=60, freq="7D"))})
    names = set(TransformPrimitives().fit(saturdays).get_feature_names_out())
    assert {"day__days_since_1970", "day__day_of_year"} <= names
    assert not names & {"day__minute", "day__second", "day__is_weekend", "day__is_working_hours"}


def test_a_row_gets_the_same_outputs_alone_or_in_a_batch_and_after_saving(tmp_path):
    from skops.io import dump, load

    X = _frame()
    step = TransformPrimitives().fit(X.head(200))
    batch = step.transform(X.tail(100))
    np.testing.assert_array_equal(step.transform(X.tail(100).head(1)), batch[:1])
    dump(step, tmp_path / "step.skops")
    loaded = load(tmp_path / "step.skops", trusted=trusted_types())
    np.testing.assert_array_equal(loaded.transform(X.tail(100)), batch)


def test_the_plan_builds_only_on_tables_with_a_datetime_or_text_column_and_gives_no_missing_when_imputed():
    numbers = pd.DataFrame({"a": np.arange(50.0), "b": np.arange(50.0) % 7})
    assert "primitives" not in synthesis_plans(infer_schema(numbers)[0])
    X = pd.concat([_frame(n=50), numbers], axis=1)
    schema, cast = infer_schema(X)
    assert schema.by_role("datetime") == ["when"] and schema.by_role("text") == ["note"]
    assert "primitives" in synthesis_plans(schema)
    preprocess = build_preprocessor(schema, {"synthesis": "primitives", "impute": True, "scale": True})
    plain = build_preprocessor(schema, {"impute": True, "scale": True})
    from automl.pipeline.transformers import ColumnCaster

    frame = ColumnCaster({c.name: c.role for c in schema.columns}).fit_transform(X)
    out, base = preprocess.fit_transform(frame), plain.fit_transform(frame)
    assert out.shape[1] > base.shape[1] and not np.isnan(out).any()


@pytest.mark.slow
def test_the_search_keeps_the_primitives_twin_when_a_text_length_decides_the_target():
    """The target is a sentence's word count, which TF-IDF (normalised per row) does not carry: the linear model's
    ``primitives`` twin reads it from featuretools' NumWords, beats its parent on every fold and is the final model,
    which predicts new rows."""
    from automl import AutoML

    rng = np.random.default_rng(0)
    texts, counts = _sentences(rng, 400)
    X = pd.DataFrame({"note": texts, "x": rng.normal(size=400)})
    y = counts + rng.normal(scale=0.1, size=400)
    model = AutoML(families=["linear"], search="random", max_trials=8, cv=3, random_state=0,
                   ensemble=False).fit(X, y)
    board = model.leaderboard_.set_index("trial")
    twin = board[board["synthesis"] == "primitives"]
    assert twin["status"].tolist() == ["ok"] and twin["error"].str.contains("over trial").all()
    assert board.loc[model.best_trial_, "synthesis"] == "primitives"
    new_texts, new_counts = _sentences(np.random.default_rng(1), 50)
    predictions = model.predict(pd.DataFrame({"note": new_texts, "x": np.zeros(50)}))
    assert np.sqrt(np.mean((predictions - new_counts) ** 2)) < 1.0
