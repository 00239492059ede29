"""Darkness: was the sun down when and where each incident happened?

For every incident with a known time of day, the sun's apparent elevation at
the incident's place and moment is computed with astral (NOAA solar position
algorithm, with atmospheric refraction) and classed as

``dark``      elevation < -6 deg (after civil dusk / before civil dawn)
``twilight``  -6 deg <= elevation < 0 deg (civil twilight)
``day``       elevation >= 0 deg
``unknown``   no time recorded (NaT, or ``time_known`` False): never guessed

Per cell, ``dark_share`` = dark / timed incidents tells whether a place's
incidents concentrate after dark, the situation street lighting can change
(Welsh & Farrington 2008). Elevations follow astral's NOAA algorithm,
vectorised (see :func:`sun_elevation`): a million incidents take about a second.
"""

from __future__ import annotations

import functools
from dataclasses import replace

import astral
import astral.sun
import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from hotspot_env.core.choices import Choice, announce
from hotspot_env.core.grid import Grid
from hotspot_env.errors import InputError
from hotspot_env.factors.base import (
    FactorResult,
    cell_sum_count,
    lonlat,
    not_measured,
    outside_to_nan,
    usable,
)
from hotspot_env.outputs.privacy import Kind

NAME = "darkness"

#: Sun elevation (degrees) below which it is dark: the end of civil twilight.
CIVIL_TWILIGHT_DEG = -6.0

_NS_PER_S = 10**9
_S_PER_DAY = 86400
#: Julian day of the Unix epoch (1970-01-01T00:00Z).
_JD_UNIX_EPOCH = 2440587.5
#: Zenith angles are looked up in a table of astral's refraction every 0.01 deg.
_REFRACTION_STEPS_PER_DEG = 100


def _sun_declination_and_eot(days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Astral's declination (deg) and equation of time (min) at 0h UTC of days since 1970."""
    centuries = (days + _JD_UNIX_EPOCH - 2451545.0) / 36525.0
    dec = np.fromiter((astral.sun.sun_declination(t) for t in centuries), float, days.size)
    eot = np.fromiter((astral.sun.eq_of_time(t) for t in centuries), float, days.size)
    return dec, eot


@functools.cache
def _refraction_table() -> np.ndarray:
    """astral's refraction (deg) at zenith 0, 0.01, ..., 180 deg (18,001 values, computed once)."""
    zenith = np.arange(180 * _REFRACTION_STEPS_PER_DEG + 1) / _REFRACTION_STEPS_PER_DEG
    return np.fromiter((astral.sun.refraction_at_zenith(z) for z in zenith), float, zenith.size)


def sun_elevation(
    lon: np.ndarray, lat: np.ndarray, datetimes_utc: pd.DatetimeIndex | np.ndarray | pd.Series
) -> np.ndarray:
    """Apparent sun elevation (degrees, refraction included) at places and moments.

    The NOAA algorithm as astral implements it (``astral.sun.elevation``),
    split in its two parts so that a million incidents take about a second
    instead of a Python call each (~15 us):

    * the sun's declination and the equation of time depend on the moment
      only; astral computes them at 0h UTC of every day in the span, and they
      are interpolated linearly in between (their curvature bounds the error
      by 0.001 deg);
    * the hour angle and the zenith angle follow per incident in numpy, and
      astral's refraction is looked up at the zenith rounded to 0.01 deg
      (refraction changes by at most 0.15 deg per deg, near the horizon).

    The result agrees with ``astral.sun.elevation`` to within 0.005 deg
    (astral also truncates moments to whole seconds), which the tests check.

    Parameters
    ----------
    lon, lat : ndarray
        WGS 84 longitude and latitude (degrees).
    datetimes_utc : array-like of datetimes
        Moments; tz-aware values are converted to UTC, naive ones are taken as
        UTC. NaT gives NaN.

    Returns
    -------
    ndarray of float64
        Elevation in degrees.
    """
    lon = np.asarray(lon, dtype=float).ravel()
    lat = np.asarray(lat, dtype=float).ravel()
    stamps = pd.DatetimeIndex(pd.to_datetime(datetimes_utc, utc=True)).as_unit("ns")
    if not (lon.size == lat.size == len(stamps)):
        raise ValueError("lon, lat and datetimes must have the same length")
    out = np.full(lon.size, np.nan)
    ok = ~stamps.isna() & np.isfinite(lon) & np.isfinite(lat)
    if not ok.any():
        return out
    seconds = stamps.asi8[ok] / _NS_PER_S
    day = np.floor(seconds / _S_PER_DAY).astype(np.int64)
    frac = seconds / _S_PER_DAY - day
    # Nodes at every day of the span (a few thousand astral calls), or only at
    # the days used (and the next) when the span is centuries long.
    first, last = int(day.min()), int(day.max())
    if last - first < 200_000:
        nodes = np.arange(first, last + 2)
        i = day - first
    else:
        nodes = np.unique(np.concatenate([day, day + 1]))
        i = np.searchsorted(nodes, day)
    dec_at, eot_at = _sun_declination_and_eot(nodes.astype(float))
    dec = np.radians(dec_at[i] + frac * (dec_at[i + 1] - dec_at[i]))
    eot = eot_at[i] + frac * (eot_at[i + 1] - eot_at[i])
    minutes_of_day = frac * 1440.0
    hour_angle = np.radians((minutes_of_day + eot + 4.0 * lon[ok]) / 4.0 - 180.0)
    phi = np.radians(np.clip(lat[ok], -89.8, 89.8))  # astral's pole guard
    cos_zenith = np.sin(phi) * np.sin(dec) + np.cos(phi) * np.cos(dec) * np.cos(hour_angle)
    zenith = np.degrees(np.arccos(np.clip(cos_zenith, -1.0, 1.0)))
    step = np.rint(zenith * _REFRACTION_STEPS_PER_DEG).astype(np.intp)
    out[ok] = 90.0 - zenith + _refraction_table()[step]
    return out


def classify_light(
    lon: np.ndarray, lat: np.ndarray, datetimes_utc: pd.DatetimeIndex | np.ndarray | pd.Series
) -> np.ndarray:
    """Light condition at places and moments: "dark", "twilight", "day" or "unknown" (NaT).

    Parameters
    ----------
    lon, lat : ndarray
        WGS 84 longitude and latitude (degrees).
    datetimes_utc : array-like of datetimes
        Moments (tz-aware, or naive UTC); NaT where the time is unknown.

    Returns
    -------
    ndarray of str
    """
    elev = sun_elevation(lon, lat, datetimes_utc)
    return np.select([np.isnan(elev), elev < CIVIL_TWILIGHT_DEG, elev < 0.0],
                     ["unknown", "dark", "twilight"], "day").astype(str)


#: Column of the incident frame holding cached light classes.
LIGHT_COLUMN = "light"


def light_classes(
    incidents: gpd.GeoDataFrame, crs: CRS | str | None = None
) -> tuple[np.ndarray, list[Choice]]:
    """Light condition of each incident, from its ``datetime`` and ``time_known`` columns.

    Incidents whose ``time_known`` is False, whose ``datetime`` is NaT, or
    which have no ``datetime`` column are "unknown". Without a ``time_known``
    column, a table in which *every* time is exactly midnight is read as dates
    only (a date-only field parsed as a datetime) and counted as unknown.

    Parameters
    ----------
    incidents : GeoDataFrame
        Incident points.
    crs : pyproj.CRS or str, optional
        CRS of the points when the frame has none (e.g. the grid's).

    Returns
    -------
    classes : ndarray of object (str)
        One of "dark", "twilight", "day", "unknown" per incident. Objects, not
        a fixed-width str array: copying a million cached classes into one
        costs 0.2 s, and every caller only compares them.
    choices : list of Choice
        Announcements (date-only detection, incidents without a time).
    """
    n = len(incidents)
    choices: list[Choice] = []
    if LIGHT_COLUMN in incidents.columns:  # classified once per analysis (see compute)
        cached = incidents[LIGHT_COLUMN]
        if cached.isna().any():  # an incomplete cache: missing classes read as text, as ever
            return cached.to_numpy(dtype=str).astype(object), choices
        return cached.to_numpy(dtype=object), choices
    if "datetime" not in incidents.columns or n == 0:
        stamps = pd.Series(pd.NaT, index=incidents.index, dtype="datetime64[ns, UTC]")
    else:
        stamps = pd.to_datetime(incidents["datetime"], utc=False)
    if "time_known" in incidents.columns:
        known = incidents["time_known"].fillna(False).astype(bool).to_numpy().copy()
    else:
        known = np.ones(n, dtype=bool)
        has = stamps.notna().to_numpy()
        if has.any():
            local = stamps[has]
            midnight = ((local.dt.hour == 0) & (local.dt.minute == 0) & (local.dt.second == 0)
                        & (local.dt.microsecond == 0) & (local.dt.nanosecond == 0))
            if midnight.all():
                known[:] = False
                choices.append(announce(Choice(
                    "incident_times", "dates only",
                    "every incident time is exactly midnight, so the times are read as dates "
                    "without a time of day (set time_known to override)")))
    stamps = pd.to_datetime(stamps, utc=True)
    known &= stamps.notna().to_numpy()
    classes = np.full(n, "unknown", dtype=object)
    if known.any():
        source = incidents.crs if incidents.crs is not None else crs
        if source is None:
            raise InputError("incidents have no CRS: cannot find their longitude and latitude")
        pts = incidents.geometry[known]
        lon, lat = lonlat(pts.x.to_numpy(), pts.y.to_numpy(), source)
        classes[known] = classify_light(lon, lat, stamps[known].reset_index(drop=True))
    return classes, choices


def compute(
    layers: dict[str, gpd.GeoDataFrame],
    grid: Grid,
    incidents: gpd.GeoDataFrame | None = None,
) -> FactorResult:
    """Share of each cell's incidents that happened in the dark.

    Parameters
    ----------
    layers : dict of str to GeoDataFrame
        Unused (same signature as every factor).
    grid : Grid
        The study grid.
    incidents : GeoDataFrame, optional
        Points in ``grid.crs`` with ``datetime`` (tz-aware, or naive UTC; NaT
        when unknown) and optional ``time_known`` (bool).

    Returns
    -------
    FactorResult
        ``values["dark_share"]``: dark / timed incidents (0-1, NaN where a cell
        has no timed incident); ``values["timed_incidents"]``: incidents with a
        known time per cell. No layer and no features: darkness is a condition
        of the incidents, not a place feature.
    """
    original = incidents
    incidents = usable(incidents)
    keys = ["dark_share", "timed_incidents"]
    if incidents is None:
        return not_measured(NAME, grid, keys, "no incidents: darkness could not be measured")
    classes, choices = light_classes(incidents, grid.crs)
    # Cache the classes on the incident frame: profiles, trends and the
    # intervention baseline need the same classes, and classing a million
    # incidents (projection, dates, sun position) takes about a second.
    if original is not None and len(original) == len(incidents):
        original[LIGHT_COLUMN] = classes
    x, y = incidents.geometry.x.to_numpy(), incidents.geometry.y.to_numpy()
    timed = classes != "unknown"
    dark, timed_count = cell_sum_count(grid, x[timed], y[timed], (classes[timed] == "dark") * 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(timed_count > 0, dark / np.maximum(timed_count, 1), np.nan)
    n_unknown = int((~timed).sum())
    counts = {c: int((classes == c).sum()) for c in ("dark", "twilight", "day")}
    choices.append(announce(Choice(
        "incidents_without_time", n_unknown,
        f"{n_unknown:,} of {len(classes):,} incidents have no time of day and are left out of "
        f"dark_share, never guessed (timed: {counts['dark']:,} dark, "
        f"{counts['twilight']:,} twilight, {counts['day']:,} day; dark = sun below "
        f"{CIVIL_TWILIGHT_DEG:g} deg)")))
    values = {"dark_share": outside_to_nan(grid, share),
              "timed_incidents": outside_to_nan(grid, timed_count)}
    # both come from the incidents themselves, not the place
    return FactorResult(NAME, values, None, choices, kinds={
        "dark_share": Kind.COUNT_DERIVED, "timed_incidents": Kind.COUNT})


def protected_share(result: FactorResult, k: int) -> FactorResult:
    """Public mode's ``dark_share``: from the dark and not-dark counts, each protected.

    An exact share of a cell's timed incidents, next to its published timed
    count, gives its dark count away (1 of 6 is 1 incident). Public mode
    computes the share from the two counts a public file could state: each of
    1..k-1 entered as the stand-in (:func:`hotspot_env.outputs.privacy.stand_in`),
    like every other statistic of the protected counts (k-suppression only,
    the same protection as ``timed_incidents``). One incident more in a cell
    whose counts stay below k changes no share.

    Parameters
    ----------
    result : FactorResult
        The darkness factor as :func:`compute` measured it.
    k : int
        The suppression threshold.

    Returns
    -------
    FactorResult
        The same result with ``values["dark_share"]`` replaced (NaN where no
        timed incident, as before).
    """
    from hotspot_env.outputs.privacy import protect

    share = np.asarray(result.values["dark_share"], dtype=float)
    timed = np.nan_to_num(np.asarray(result.values["timed_incidents"], dtype=float))
    dark = np.rint(np.nan_to_num(share) * timed)  # share = dark / timed exactly: undo it
    dark_p = protect(dark, k).imputed.astype(float)
    light_p = protect(timed - dark, k).imputed.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        public = np.where(np.isfinite(share), dark_p / (dark_p + light_p), np.nan)
    # the announcement's dark / twilight / day tallies are true tallies: state the share of
    # the protected counts instead (their sums over the cells)
    timed_p = float((dark_p + light_p)[np.isfinite(share)].sum())
    dark_pct = round(100 * float(dark_p[np.isfinite(share)].sum()) / timed_p) if timed_p else 0
    choices = [replace(c, rule=c.rule.split(" (timed: ")[0] + (
        f" (public mode: {dark_pct} % of the timed incidents in the dark, counted per cell with "
        f"each count below k as its stand-in; dark = sun below {CIVIL_TWILIGHT_DEG:g} deg)"))
        if c.name == "incidents_without_time" else c for c in result.choices]
    return replace(result, values={**result.values, "dark_share": public}, choices=choices)
