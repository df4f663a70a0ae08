"""Render tables as GitHub markdown."""
from __future__ import annotations

import math
from typing import Any

import pandas as pd


def to_markdown(frame: pd.DataFrame) -> str:
    """Render ``frame`` as a GitHub markdown table (floats with 4 decimals; columns ending ``_s`` with 1).

    Returns
    -------
    str
    """
    def cell(column: str, value: Any) -> str:
        if isinstance(value, float):
            if math.isnan(value):
                return ""
            return f"{value:.1f}" if column.endswith("_s") else f"{value:.4f}"
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    for record in frame.to_dict("records"):
        lines.append("| " + " | ".join(cell(str(c), record[c]) for c in frame.columns) + " |")
    return "\n".join(lines)
