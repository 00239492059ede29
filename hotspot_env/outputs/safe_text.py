"""Text made inert before it leaves: no spreadsheet formula, no reordering of what is read.

Every table the privacy gate (:func:`hotspot_env.outputs.privacy.publish`) lets
through has its text cells neutralised here, so a category, street name or
proposal note that starts with ``=`` cannot run in a spreadsheet, and a
bidirectional control cannot make a label read differently from what it holds.
"""

from __future__ import annotations

import unicodedata
from typing import Any

import pandas as pd

#: Bidirectional-text controls (U+202A-E, U+2066-9, marks): they can make a
#: spreadsheet or map label read differently from what it holds.
_BIDI = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F,
                          0x061C)}
#: First characters a spreadsheet evaluates as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def neutralise_text(value: Any) -> Any:
    """Text made inert for spreadsheets and map labels; other values unchanged.

    Removes bidirectional overrides (which reorder what a reader sees) and
    prefixes text a spreadsheet would evaluate as a formula with an apostrophe
    (OWASP CSV injection), as :func:`hotspot_env.app.redress.spreadsheet_safe`.
    """
    if not isinstance(value, str):
        return value
    if value.isascii():  # the common case: no bidi control, and NFC leaves ASCII as is
        return "'" + value if value[:1] in _FORMULA_START else value
    if any(c in _BIDI for c in value):
        value = "".join(c for c in value if c not in _BIDI)
    value = unicodedata.normalize("NFC", value)
    if value[:1] in _FORMULA_START:
        value = "'" + value
    return value


def neutralise_column(column: pd.Series) -> pd.Series:
    """Each text cell of ``column`` through :func:`neutralise_text`; numbers and dates as is."""
    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        return column
    if isinstance(column.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(
            column):
        return column
    # each distinct text once: a column repeats few labels over many rows
    memo: dict[str, Any] = {}

    def once(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        done = memo.get(value)
        if done is None:
            done = memo[value] = neutralise_text(value)
        return done

    return column.map(once)
