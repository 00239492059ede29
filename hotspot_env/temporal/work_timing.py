"""When to do the work, per district: lighting before the dark months, youth spaces at peak hours.

Advice is read from the district profiles
(:func:`hotspot_env.temporal.profiles.profiles`) and given to every cell of the
district, so it stays an aggregate over places.
"""

from __future__ import annotations

import calendar
from typing import Any

import numpy as np

from hotspot_env.temporal.profiles import (
    MONTH_NAMES,
    Districts,
    Profiles,
    grid_districts,
    hemisphere,
    light_conditions,
    local_calendar,
    point_districts,
    profiles,
    run_timezone,
)

#: Fewest incidents with a known time before a district gets timing advice.
MIN_TIMED = 20

#: Share of timed incidents in darkness from which lighting timing is advised.
DARK_SHARE = 0.5

#: Fewest dark incidents for the darkest months to come from the data
#: (otherwise the four months of longest nights are named).
MIN_DARK_FOR_MONTHS = 12

#: Length (hours) of the peak window named for youth-space opening hours.
PEAK_HOURS = 4

#: The peak window must hold this multiple of its uniform share to be named.
PEAK_RATIO = 1.5

#: Public mode states a district's shares on this fixed scale (percentage points): an
#: exact share of a district's timed incidents moves with one incident.
PUBLIC_PERCENT_STEP = 10


def _percent(share: float, public: bool) -> str:
    """A share as the advice states it: whole percent, or "about" the nearest step in public."""
    if not public:
        return f"{round(100 * share)} %"
    step = PUBLIC_PERCENT_STEP
    return f"about {int(np.floor(100 * share / step + 0.5)) * step} %"


def _circular_window(values: np.ndarray, width: int) -> tuple[int, float]:
    """Start and sum of the circular window of ``width`` with the largest sum."""
    values = np.asarray(values, dtype=float)
    n = values.size
    sums = np.array([values[(np.arange(width) + i) % n].sum() for i in range(n)])
    start = int(np.argmax(sums))
    return start, float(sums[start])


def timing_texts(prof: Profiles, hemi: str, public: bool = False) -> list[str]:
    """Work-timing advice per district (position in the profiles' district order).

    Lighting: where at least :data:`DARK_SHARE` of a district's timed
    incidents happen in darkness, order lighting work before the four
    consecutive months holding most dark incidents (the four months of
    longest nights when there are too few). Youth spaces: the
    :data:`PEAK_HOURS`-hour window of the day with most timed incidents,
    named when it holds at least :data:`PEAK_RATIO` times its uniform share.
    Districts with fewer than :data:`MIN_TIMED` timed incidents get no advice.
    Public mode (``public``) states the shares to the nearest
    :data:`PUBLIC_PERCENT_STEP` percentage points.
    """
    dark_tab = prof.darkness
    texts: list[str] = []
    hours = (prof.hour_dow.groupby(["district", "hour"])["incidents"].sum()
             if not prof.hour_dow.empty else None)
    for _, row in dark_tab.iterrows():
        parts: list[str] = []
        timed = int(row["timed"])
        if timed >= MIN_TIMED:
            share = float(row["dark_share"])
            if share >= DARK_SHARE:
                months = prof.monthly[prof.monthly["district"] == row["district"]]
                dark = months.sort_values("month")["dark"].to_numpy()
                if dark.sum() >= MIN_DARK_FOR_MONTHS:
                    start, _ = _circular_window(dark, 4)
                else:
                    start = 10 if hemi == "north" else 4  # Nov-Feb / May-Aug (0-based)
                order = MONTH_NAMES[(start - 1) % 12]
                window = f"{MONTH_NAMES[start]}–{MONTH_NAMES[(start + 3) % 12]}"
                parts.append(f"order lighting work before {_full_month(order)}: "
                             f"{_percent(share, public)} of incidents here with a known time "
                             f"happen in darkness, most in {window}")
            if hours is not None:
                by_hour = hours.loc[row["district"]].reindex(range(24), fill_value=0).to_numpy()
                start, total = _circular_window(by_hour, PEAK_HOURS)
                if total / timed >= PEAK_RATIO * PEAK_HOURS / 24:
                    end = start + PEAK_HOURS
                    parts.append(f"incidents peak {start}–{end if end <= 24 else end - 24} h "
                                 f"({_percent(total / timed, public)} of timed incidents): match "
                                 "youth-space opening hours to them")
        texts.append("; ".join(parts))
    return texts


def _full_month(abbr: str) -> str:
    return calendar.month_name[MONTH_NAMES.index(abbr) + 1]


def work_timing(
    analysis: Any, prof: Profiles | None = None, districts: Districts | None = None,
    hemi: str | None = None,
) -> np.ndarray:
    """When to do the work, per cell: advice of the cell's district (see :func:`timing_texts`).

    Parameters
    ----------
    analysis : Analysis
        The run.
    prof : Profiles, optional
        District profiles (computed when not given).
    districts : Districts, optional
        The districts ``prof`` is per (default: :func:`grid_districts`).
    hemi : str, optional
        ``"north"``/``"south"`` (default: from the grid).

    Returns
    -------
    ndarray of object, shape ``grid.shape``
        Text per cell; ``""`` where there is no advice or no district.
    """
    grid = analysis.grid
    hemi = hemi or hemisphere(grid)
    if districts is None:
        districts, _ = grid_districts(grid)
    if prof is None:
        zone, _ = run_timezone(analysis)
        cal = local_calendar(analysis.points, zone, analysis.parameters.get("record_period"))
        pts = analysis.points.geometry
        prof = profiles(cal, point_districts(grid, districts, pts.x.to_numpy(), pts.y.to_numpy()),
                        districts.ids, light_conditions(analysis.points), hemi)
    public = analysis.parameters.get("privacy") == "public"
    texts = np.asarray([*timing_texts(prof, hemi, public), ""], dtype=object)
    return texts[np.where(districts.index >= 0, districts.index, len(districts.ids))]
