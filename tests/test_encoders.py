"""ArrayOrdinalEncoder codes exactly as scikit-learn's OrdinalEncoder, by lookups on small batches."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.preprocessing import OrdinalEncoder

from automl.pipeline.encoders import LOOKUP_ROWS, ArrayOrdinalEncoder

CELLS = st.one_of(st.sampled_from(["a", "b", "c", "d", "zz"]), st.none(), st.just(np.nan))
MISSING_CODES = [dict(unknown_value=-1, encoded_missing_value=-1),
                 dict(unknown_value=np.nan, encoded_missing_value=np.nan),
                 dict(unknown_value=-2, encoded_missing_value=-3)]


def _frame(columns: list[list]) -> pd.DataFrame:
    return pd.DataFrame({f"c{j}": pd.Series(values, dtype=object) for j, values in enumerate(columns)})


@settings(max_examples=60, deadline=None)
@given(train=st.lists(st.lists(CELLS, min_size=8, max_size=8), min_size=1, max_size=3),
       rows=st.integers(1, 8), codes=st.sampled_from(MISSING_CODES), data=st.data())
def test_small_batches_code_as_scikit_learn_does(train, rows, codes, data):
    """Any categories (None and NaN included, in training or not, unseen values) get scikit-learn's codes."""
    fit_frame = _frame(train)
    new = _frame([data.draw(st.lists(st.one_of(CELLS, st.sampled_from(["unseen", "e"])), min_size=rows,
                                     max_size=rows)) for _ in train])
    params = dict(handle_unknown="use_encoded_value", dtype=np.float64, **codes)
    expected = OrdinalEncoder(**params).fit(fit_frame).transform(new)
    ours = ArrayOrdinalEncoder(**params).fit(fit_frame)
    assert len(new) <= LOOKUP_ROWS  # the lookup path
    np.testing.assert_array_equal(ours.transform(new), expected)


def test_large_batches_and_odd_cells_go_through_scikit_learn(credit):
    X, _ = credit
    cats = X.select_dtypes(object)
    params = dict(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1)
    ours, theirs = ArrayOrdinalEncoder(**params).fit(cats), OrdinalEncoder(**params).fit(cats)
    np.testing.assert_array_equal(ours.transform(cats), theirs.transform(cats))  # 1,000 rows
    odd = cats.head(2).astype(object)
    odd.iloc[0, 0] = 3.5  # a number in a text column: not a lookup, scikit-learn decides
    np.testing.assert_array_equal(ours.transform(odd), theirs.transform(odd))
    assert list(ours.get_feature_names_out()) == list(cats.columns)


def test_columns_are_checked_and_the_cache_is_not_saved(credit, tmp_path):
    from skops.io import dump, load

    X, _ = credit
    cats = X.select_dtypes(object)
    encoder = ArrayOrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1).fit(cats)
    first = encoder.transform(cats.head(3))
    with pytest.raises(ValueError, match="differ from the ones the encoder was fitted on"):
        encoder.transform(cats.head(3)[list(reversed(cats.columns))])
    assert "_lookup_cache" in encoder.__dict__
    dump(encoder, tmp_path / "encoder.skops")
    loaded = load(tmp_path / "encoder.skops", trusted=["automl.pipeline.encoders.ArrayOrdinalEncoder"])
    assert "_lookup_cache" not in loaded.__dict__
    np.testing.assert_array_equal(loaded.transform(cats.head(3)), first)
