"""Forward passes of the neural networks over many rows, a chunk of rows at a time.

Predicting a holdout in one pass holds every hidden layer for every row at once (75,000 rows through 352 units:
105 MB a layer, held two or three times; 300,000 rows through 512 units: 1.2 GB a layer). In chunks it holds a few
MB a layer and gives the same values.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

#: rows a network's forward pass takes at a time
PREDICT_CHUNK_ROWS = 4096


def in_chunks(forward: Callable[[Any], np.ndarray], rows: Any) -> np.ndarray:
    """``forward(rows)``, computed :data:`PREDICT_CHUNK_ROWS` rows at a time and stacked (one call when they fit)."""
    if rows.shape[0] <= PREDICT_CHUNK_ROWS:
        return forward(rows)
    return np.concatenate([forward(rows[begin:begin + PREDICT_CHUNK_ROWS])
                           for begin in range(0, rows.shape[0], PREDICT_CHUNK_ROWS)])
