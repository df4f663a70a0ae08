"""Render tables as GitHub markdown."""
from __future__ import annotations

import math
from typing import Any

import pandas as pd


def to_markdown(frame: pd.DataFrame, formats: dict[str, str] | None = None) -> str:
    """Render ``frame`` as a GitHub markdown table.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table.
    formats : dict, optional
        Column -> format spec for its floats (e.g. ``".2f"``); otherwise floats get 4 decimals, and columns
        ending ``_s`` (seconds) 1.

    Returns
    -------
    str
    """
    formats = formats or {}

    def cell(column: str, value: Any) -> str:
        if isinstance(value, float):
            if math.isnan(value):
                return ""
            spec = formats.get(column, ".1f" if column.endswith("_s") else ".4f")
            return format(value + 0.0, spec)  # + 0.0 turns -0.0 into 0.0
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    for record in frame.to_dict("records"):
        lines.append("| " + " | ".join(cell(str(c), record[c]) for c in frame.columns) + " |")
    return "\n".join(lines)
