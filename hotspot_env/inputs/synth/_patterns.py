"""Planted space-time patterns for the demo incidents: emerging, cooling and seasonal spots.

The base demo incidents (:func:`hotspot_env.inputs.synth.simulate_incidents`)
repeat the same mild seasonal cycle everywhere, so with two years of them the
time layers of a demo stay empty: no emerging hot spot, no significant change
between the years. Here small places are given their own time course, so a
newcomer sees every time layer work on the demo. All of it is **simulated**.

Each pattern is a place (an anchor on a street, its incidents on the street
pieces within ``radius_m``) and a number of incidents per calendar month of
the period (:func:`monthly_counts`):

``emerging``
    Nothing until the last ``ramp_months`` months, then ``peak`` x k /
    ``ramp_months`` incidents in the k-th of them: a place that has just
    become a hot spot and keeps growing (emerging hot spot classes, and
    significant *increases* between the two years).
``cooling``
    A hot spot from the first month whose incidents fall geometrically from
    ``first`` to ``last`` (by the same factor every month): a place whose
    problem is easing yet still a hot spot in the last month (a diminishing
    hot spot, and significant *decreases* between the two years: the second
    year holds about a third of the first year's incidents).
``seasonal``
    ``per_month`` incidents in the ``months`` of each year only (summer
    evenings at a waterfront, say): a seasonal peak in the monthly profiles.
``steady``
    ``per_month`` incidents every ``every_months`` months. With ``near`` the
    pattern shares the anchor of another one, and ``category`` fixes the
    category of its incidents: the demo's shootings beside the simulated
    vacant lots and derelict building
    (:mod:`hotspot_env.inputs.synth.demo_layers`), the outcome the vacant-land
    evidence measures (``data/evidence.csv``: gun violence).

Anchors are drawn from the street places within ``CENTRE_M`` of the median
place (inside the study area) and at least ``SPACING_M`` apart, so the
patterns do not overlap one another.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

#: The demo's planted patterns (see the module docstring for each kind).
DEMO_PATTERNS: dict[str, dict[str, Any]] = {
    "emerging": {"kind": "emerging", "ramp_months": 8, "peak": 22, "radius_m": 20.0},
    "cooling": {"kind": "cooling", "first": 45, "last": 13, "radius_m": 8.0},
    "seasonal": {"kind": "seasonal", "months": (6, 7, 8), "per_month": 16, "radius_m": 20.0},
    **{f"shots_{spot}": {"kind": "steady", "near": spot, "per_month": 1, "every_months": 2,
                         "category": "gun_violence", "radius_m": 15.0}
       for spot in ("emerging", "cooling", "seasonal")},
}

#: Anchors lie within this distance (m) of the median street place...
CENTRE_M = 900.0
#: ...and at least this far (m) from one another.
SPACING_M = 400.0


def monthly_counts(spec: Mapping[str, Any], months: pd.DatetimeIndex) -> np.ndarray:
    """Incidents of one pattern in each month of ``months`` (first days of the months).

    Parameters
    ----------
    spec : mapping
        A pattern of :data:`DEMO_PATTERNS`.
    months : DatetimeIndex
        The months of the period, in order.

    Returns
    -------
    ndarray of int
    """
    n = len(months)
    kind = spec["kind"]
    if kind == "emerging":
        ramp = min(int(spec["ramp_months"]), n)
        out = np.zeros(n)
        out[n - ramp:] = spec["peak"] * np.arange(1, ramp + 1) / ramp
    elif kind == "cooling":
        out = np.geomspace(spec["first"], spec["last"], n)
    elif kind == "seasonal":
        out = np.where(np.isin(months.month, spec["months"]), spec["per_month"], 0)
    elif kind == "steady":
        out = np.where(np.arange(n) % int(spec.get("every_months", 1)) == 0,
                       spec["per_month"], 0)
    else:
        raise ValueError(f"unknown pattern kind {kind!r}: use emerging, cooling, seasonal or "
                         "steady")
    return np.round(out).astype(np.int64)


def plant_patterns(
    rng: np.random.Generator, patterns: Mapping[str, Mapping[str, Any]], sx: np.ndarray,
    sy: np.ndarray, start: str, years: int,
) -> SimpleNamespace:
    """Sites and local days of every planted incident.

    Parameters
    ----------
    rng : numpy.random.Generator
        The patterns' own stream (the base incidents do not change).
    patterns : mapping
        Name to pattern spec (:data:`DEMO_PATTERNS`).
    sx, sy : ndarray
        Street places (projected metres).
    start : str
        First local day of the period.
    years : int
        Length of the period in years.

    Returns
    -------
    SimpleNamespace
        ``site`` (index into the places), ``day`` (days since ``start``),
        ``pattern`` (name per incident), ``category`` (the pattern's fixed
        category, or None) and ``anchors`` (name -> place index).
    """
    first = pd.Timestamp(start)
    end = first + pd.DateOffset(years=years)
    months = pd.date_range(first, end, freq="MS", inclusive="left")
    anchors = pattern_anchors(rng, patterns, sx, sy)
    sites, days, names = [], [], []
    for name, spec in patterns.items():
        anchor = anchors[spec.get("near", name)]
        near = np.flatnonzero(np.hypot(sx - sx[anchor], sy - sy[anchor]) <= spec["radius_m"])
        for month, count in zip(months, monthly_counts(spec, months), strict=True):
            if not count:
                continue
            first_day = (month - first).days
            length = month.days_in_month
            sites.append(rng.choice(near, size=count))
            days.append(first_day + rng.integers(0, length, count))
            names.append(np.full(count, name, dtype=object))
    if not sites:
        return SimpleNamespace(site=np.zeros(0, np.int64), day=np.zeros(0, np.int64),
                               pattern=np.zeros(0, object), category=np.zeros(0, object),
                               anchors=anchors)
    pattern = np.concatenate(names)
    category = np.array([patterns[p].get("category") for p in pattern], dtype=object)
    return SimpleNamespace(site=np.concatenate(sites), day=np.concatenate(days),
                           pattern=pattern, category=category, anchors=anchors)


def pattern_anchors(rng: np.random.Generator, patterns: Mapping[str, Mapping[str, Any]],
                    sx: np.ndarray, sy: np.ndarray) -> dict[str, int]:
    """The place of each pattern that has its own (no ``near``): the stream's first draws."""
    own = [name for name, spec in patterns.items() if "near" not in spec]
    return dict(zip(own, _anchors(rng, sx, sy, len(own)), strict=True))


def _anchors(rng: np.random.Generator, sx: np.ndarray, sy: np.ndarray, k: int) -> list[int]:
    """``k`` street places near the middle of the area, at least :data:`SPACING_M` apart."""
    cx, cy = np.median(sx), np.median(sy)
    pool = rng.permutation(np.flatnonzero(np.hypot(sx - cx, sy - cy) <= CENTRE_M))
    chosen: list[int] = []
    for i in pool:
        if len(chosen) == k:
            break
        if all(np.hypot(sx[i] - sx[j], sy[i] - sy[j]) >= SPACING_M for j in chosen):
            chosen.append(int(i))
    if len(chosen) < k:
        raise ValueError(f"no room for {k} planted patterns {SPACING_M:g} m apart near the "
                         "middle of the streets")
    return chosen
