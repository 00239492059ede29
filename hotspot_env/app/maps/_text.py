"""Text that reaches the page: numbers people can read, everything HTML-escaped."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

import matplotlib.colors as mcolors
import numpy as np
import pandas as pd

from hotspot_env.errors import InputError
from hotspot_env.outputs.labels import field_label


def fmt_value(value: Any) -> str:
    """Human-readable, HTML-escaped text for a tooltip cell."""
    if value is None or (isinstance(value, float | np.floating) and math.isnan(value)):
        return "&ndash;"
    if value is pd.NA or value is pd.NaT:
        return "&ndash;"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return html.escape(f"{int(value):,}")
    if isinstance(value, float | np.floating):
        return html.escape(fmt_number(float(value)))
    return html.escape(str(value))


def fmt_number(value: float) -> str:
    """Short label for a number: 3 significant digits, thousands separators, never ``1e-13``."""
    if not math.isfinite(value):
        return str(value)
    a = abs(value)
    if a == 0:
        return "0"
    if a >= 1000:
        return f"{value:,.0f}"
    if a >= 0.01:
        digits = max(0, 2 - math.floor(math.log10(a)))
        text = f"{value:.{digits}f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    if a < 1e-6:  # floating-point residue of a zero (e.g. a KDE's empty edge)
        return "0"
    return f"{value:.{1 - math.floor(math.log10(a))}f}"


def tooltip_table(
    df: pd.DataFrame, fields: Sequence[str] | None
) -> tuple[list[str], list[str], list[dict[str, str]]]:
    """Internal keys, escaped aliases and escaped per-row values for a tooltip."""
    fields = list(fields or [])
    missing = [f for f in fields if f not in df.columns]
    if missing:
        raise InputError(f"tooltip fields not in the data: {missing}")
    keys = [f"t{i}" for i in range(len(fields))]
    aliases = [html.escape(field_label(f)) for f in fields]  # people read labels, not ids
    rows: list[dict[str, str]] = [{} for _ in range(len(df))]
    for key, field in zip(keys, fields, strict=True):
        for row, value in zip(rows, df[field].tolist(), strict=True):
            row[key] = fmt_value(value)
    return keys, aliases, rows


def layer_name(name: str) -> str:
    # Leaflet's layer control inserts names as HTML.
    return html.escape(str(name))


def to_hex_colour(value: Any) -> str:
    try:
        return mcolors.to_hex(value)
    except ValueError as exc:
        raise InputError(f"not a colour: {value!r}") from exc
