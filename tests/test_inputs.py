"""Rows at predict time are held to the training schema: unreadable values are errors naming column and rows."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from automl.data.inputs import FALSE_TEXT, TRUE_TEXT, InputError, check_rows, parse_booleans
from automl.data.schema import complex_numbers, plain_numbers

ROLES = {"amount": "numeric", "flag": "boolean", "when": "datetime", "colour": "categorical"}


def rows(**columns):  # noqa: ANN003
    base = {"amount": [1.5, "2", None], "flag": [True, "no", None], "when": ["2024-01-02", None, "2024-03-04"],
            "colour": ["red", None, "blue"]}
    base.update(columns)
    return pd.DataFrame(base)


def test_readable_rows_are_typed_as_in_training():
    checked = check_rows(rows(), ROLES)
    frame = checked.frame
    assert checked.coerced == {}
    assert np.allclose(frame["amount"].to_numpy(dtype=float), [1.5, 2.0, np.nan], equal_nan=True)
    assert np.allclose(frame["flag"].to_numpy(dtype=float), [1.0, 0.0, np.nan], equal_nan=True)
    assert frame["when"].isna().tolist() == [False, True, False]


@pytest.mark.parametrize("column, values, shown", [
    ("amount", [1.0, "lots", 3.0], "'lots'"),
    ("flag", ["yes", "maybe", True], "'maybe'"),
    ("when", ["2024-01-02", "not a date", None], "'not a date'"),
])
def test_an_unreadable_value_is_an_error_naming_column_and_rows(column, values, shown):
    with pytest.raises(InputError, match=rf"column '{column}' .*rows \[1\] hold {shown}") as caught:
        check_rows(rows(**{column: values}), ROLES)
    assert caught.value.column == column and caught.value.rows == [1]


def test_coerce_makes_unreadable_values_missing_and_counts_them():
    checked = check_rows(rows(amount=["x", "y", 3.0], flag=["maybe", True, False]), ROLES, errors="coerce")
    assert checked.coerced == {"amount": 2, "flag": 1}
    assert checked.frame["amount"].isna().tolist() == [True, True, False]


def test_missing_columns_objects_in_cells_and_infinity():
    with pytest.raises(InputError, match=r"missing columns \['colour'\]"):
        check_rows(rows().drop(columns="colour"), ROLES)
    with pytest.raises(InputError, match="hold objects or lists"):
        check_rows(rows(colour=[{"a": 1}, "red", "blue"]), ROLES)
    with pytest.raises(InputError, match="infinite values on 1 rows"):
        check_rows(rows(amount=[np.inf, 1.0, 2.0]), ROLES, allow_infinite=False)
    assert check_rows(rows(amount=[np.inf, 1.0, 2.0]), ROLES).coerced == {}


def test_the_first_problem_in_column_order_is_named_whichever_check_finds_it():
    """Columns taken as they are (numbers, categories) are checked a block at a time, the others one by one: with
    problems in several columns, the error still names the first in the training order."""
    roles = {"size": "numeric", "amount": "numeric", "colour": "categorical", "note": "categorical"}
    frame = pd.DataFrame({"size": [1.0, np.inf], "amount": [1.0, "lots"], "colour": ["red", ["a"]],
                          "note": [{"b": 2}, "x"]})
    with pytest.raises(InputError, match="infinite") as caught:
        check_rows(frame, roles, allow_infinite=False)
    assert caught.value.column == "size"
    with pytest.raises(InputError, match="'lots'") as caught:  # infinity allowed: the next problem
        check_rows(frame, roles)
    assert caught.value.column == "amount"
    with pytest.raises(InputError, match="objects or lists") as caught:
        check_rows(frame.drop(columns="amount"), {k: v for k, v in roles.items() if k != "amount"})
    assert caught.value.column == "colour" and caught.value.rows == [1]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.booleans(), st.sampled_from(sorted(TRUE_TEXT | FALSE_TEXT)),
                          st.sampled_from(["True", " NO ", "Yes", "OFF"]), st.sampled_from([0, 1, 0.0, 1.0]),
                          st.none()), min_size=1, max_size=30))
def test_every_boolean_spelling_reads_as_its_value(values):
    parsed, bad = parse_booleans(values)
    assert len(bad) == 0
    for value, got in zip(values, parsed):
        if value is None:
            assert np.isnan(got)
        else:
            truth = value if isinstance(value, bool) else (str(value).strip().lower() in TRUE_TEXT)
            assert got == float(truth)  # "False" is False, never bool("False")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=8).filter(lambda t: t.strip().lower() not in TRUE_TEXT | FALSE_TEXT),
                min_size=1, max_size=10))
def test_any_other_text_in_a_boolean_column_is_refused(words):
    parsed, bad = parse_booleans(words)
    assert set(bad.tolist()) == set(range(len(words)))
    assert np.isnan(parsed).all()


NUMPY_DTYPES = [np.dtype(code) for code in ("?", "b", "B", "h", "H", "i", "I", "l", "L", "q", "Q", "e", "f", "d", "g",
                                             "F", "D", "O", "U3", "S2", "V8", "M8[ns]", "m8[ns]")]
EXTENSION_DTYPES = [pd.Int64Dtype(), pd.UInt8Dtype(), pd.Float32Dtype(), pd.BooleanDtype(), pd.StringDtype(),
                    pd.CategoricalDtype(["a", "b"]), pd.DatetimeTZDtype(tz="UTC"), pd.SparseDtype(float)]


@pytest.mark.parametrize("dtype", NUMPY_DTYPES + EXTENSION_DTYPES, ids=str)
def test_plain_numbers_reads_every_dtype_as_pandas_checks_do(dtype):
    # the NumPy shortcut (by kind) answers as pandas' checks: numbers but booleans, not dates, durations or text
    expected = pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
    assert plain_numbers(dtype) is expected


@pytest.mark.parametrize("dtype", NUMPY_DTYPES + EXTENSION_DTYPES, ids=str)
def test_complex_numbers_reads_every_dtype_as_pandas_does(dtype):
    assert complex_numbers(dtype) is pd.api.types.is_complex_dtype(dtype)
