""""This looks wrong": anyone can flag a place, with a reason, for review.

A flag names a *place* (a grid cell, with its centre) and says why the result
there looks wrong: the risk looks too high or too low, a mapped feature is
wrong or missing, the place is sensitive... Flags are exported as CSV for
whoever reviews the analysis. They hold no personal data: no name, no
contact, no incident.

The CSV is safe to open in a spreadsheet: text that a spreadsheet would run
as a formula (starting with ``=``, ``+``, ``-``, ``@``, tab or carriage
return) is prefixed with an apostrophe (OWASP "CSV injection").
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

import pandas as pd

from hotspot_env.errors import InputError

#: Reasons offered in the form.
FLAG_KINDS: tuple[str, ...] = (
    "risk looks too high here",
    "risk looks too low here",
    "a mapped feature is wrong or missing (lamp, vacant lot, youth space...)",
    "an intervention here would not work or would do harm",
    "this place is sensitive (privacy, stigma)",
    "something else",
)

#: Longest free-text reason kept.
MAX_REASON_CHARS = 1000

#: Columns of the flags CSV, in order.
FLAG_COLUMNS = ("flag_id", "created_utc", "cell_id", "centre_lat", "centre_lon", "place",
                "kind", "reason", "run_id")


@dataclass(frozen=True)
class Flag:
    """One "this looks wrong" report about a place.

    Attributes
    ----------
    flag_id : int
        Sequence number within the session.
    created_utc : str
        ISO time, to the second.
    cell_id : int or None
        The cell flagged, when known.
    centre_lat, centre_lon : float or None
        The cell's centre (a place, not a person).
    place : str
        Free description of the place (street, landmark).
    kind : str
        One of :data:`FLAG_KINDS`.
    reason : str
        Why it looks wrong (free text, at most :data:`MAX_REASON_CHARS`).
    run_id : str
        Which analysis it was about (e.g. a hash of the manifest).
    """

    flag_id: int
    created_utc: str
    cell_id: int | None
    centre_lat: float | None
    centre_lon: float | None
    place: str
    kind: str
    reason: str
    run_id: str = ""


def make_flag(
    existing: list[Flag], *, kind: str, reason: str, cell_id: int | None = None,
    centre: tuple[float, float] | None = None, place: str = "", run_id: str = "",
) -> Flag:
    """Validate and build a new flag.

    Parameters
    ----------
    existing : list of Flag
        Flags already made in this session (for the sequence number).
    kind : str
        One of :data:`FLAG_KINDS`.
    reason : str
        Why; required unless ``kind`` says it all (at least 3 characters).
    cell_id : int, optional
    centre : (lat, lon), optional
    place : str
        Free description of the place.
    run_id : str
        Identifier of the analysis.

    Raises
    ------
    InputError
        Unknown kind, no place at all, or no reason.
    """
    if kind not in FLAG_KINDS:
        raise InputError(f"choose one of the listed reasons, not {kind[:40]!r}")
    reason = " ".join(str(reason or "").split())[:MAX_REASON_CHARS]
    place = " ".join(str(place or "").split())[:200]
    if cell_id is None and not place:
        raise InputError("say which place: click it on the Explore map or describe it")
    if len(reason) < 3:
        raise InputError("say in a few words why this looks wrong")
    lat, lon = (None, None) if centre is None else (round(float(centre[0]), 6),
                                                    round(float(centre[1]), 6))
    now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    return Flag(len(existing) + 1, now, None if cell_id is None else int(cell_id), lat, lon,
                place, kind, reason, run_id)


def spreadsheet_safe(value: object) -> object:
    """Prefix text a spreadsheet would evaluate as a formula with an apostrophe."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def flags_frame(flags: list[Flag]) -> pd.DataFrame:
    """Flags as a table with :data:`FLAG_COLUMNS` (empty table when there are none)."""
    if not flags:
        return pd.DataFrame(columns=list(FLAG_COLUMNS))
    frame = pd.DataFrame([asdict(f) for f in flags], columns=list(FLAG_COLUMNS))
    frame["cell_id"] = frame["cell_id"].astype("Int64")
    return frame


def flags_csv(flags: list[Flag]) -> bytes:
    """Flags as UTF-8 CSV bytes, spreadsheet-safe."""
    frame = flags_frame(flags)
    for column in ("place", "kind", "reason", "run_id"):
        frame[column] = frame[column].map(spreadsheet_safe)
    return frame.to_csv(index=False).encode("utf-8")
