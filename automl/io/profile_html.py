"""The data profile as a self-contained HTML page (no scripts, no external files)."""
from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from automl.data.profile import profile_table


def profile_html(profile: dict[str, Any], title: str = "Data profile") -> str:
    """An HTML page with the dataset's size, one table row per column and the target's distribution."""
    rows = profile_table(profile)
    rows = rows.astype(object).where(rows.notna(), "")
    table = rows.to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0)
    target = profile.get("target")
    target_part = ""
    if target is not None:
        shown = ", ".join(f"{html.escape(v)}: {100 * s:.1f}%" for v, s in target.get("top", [])) or \
            f"mean {target.get('mean')}, std {target.get('std')}, min {target.get('min')}, max {target.get('max')}"
        target_part = f"<h2>Target {html.escape(str(target['name']))} ({target['task']})</h2><p>{shown}</p>"
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>"
            "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:left}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><p>{profile['n_rows']} rows, {profile['n_columns']} columns</p>"
            f"{table}{target_part}</body></html>")


def write_profile_html(profile: dict[str, Any], path: str | Path, title: str = "Data profile") -> Path:
    """Write :func:`profile_html` to ``path``."""
    out = Path(path)
    out.write_text(profile_html(profile, title), encoding="utf-8")
    return out
