"""When incidents happened, in local time: darkness, local hour, and the prior for undated
incidents.

The strata baseline (:mod:`hotspot_env.interventions.baseline`) needs each incident's
time class (dark or not, inside or outside each evidence hour window). Local hours come
from an IANA time zone when one is given, else from local mean solar time at the
incident's longitude; without any time of day, the mix is the hours of darkness at the
study area's centre over the months on record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd

from hotspot_env.errors import InputError
from hotspot_env.factors.base import lonlat
from hotspot_env.interventions.strata import time_class

if TYPE_CHECKING:
    from hotspot_env.core.analysis import Analysis


def incident_times(
    points: gpd.GeoDataFrame, timezone: str | None,
    xy: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Dark flag, local hour and "time known" per incident, and the local-time rule.

    ``xy`` are the points' coordinates when the caller already has them.
    """
    n = len(points)
    dark = np.zeros(n, dtype=bool)
    hours = np.full(n, np.nan)
    if n == 0 or "datetime" not in points:
        return dark, hours, np.zeros(n, dtype=bool), "none"
    from hotspot_env.factors.darkness import light_classes

    classes, _ = light_classes(points)  # cached by the darkness factor when it ran
    timed = classes != "unknown"
    dark = classes == "dark"
    stamps = pd.to_datetime(points["datetime"], utc=True)
    # longitudes only for mean solar time (a million-point reprojection otherwise)
    lon = np.zeros(n) if timezone else _lonlat(points, xy)[0]
    hours, rule = local_hours(stamps, lon, timezone)
    return dark, np.where(timed, hours, np.nan), timed, rule


def _lonlat(frame: gpd.GeoDataFrame, xy: tuple[np.ndarray, np.ndarray] | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
    x, y = xy if xy is not None else (frame.geometry.x.to_numpy(), frame.geometry.y.to_numpy())
    return lonlat(x, y, frame.crs)


def local_hours(stamps: pd.Series, lon: np.ndarray, timezone: str | None
                 ) -> tuple[np.ndarray, str]:
    """Local clock hour (float) of UTC stamps: by IANA zone, else mean solar time."""
    stamps = pd.Series(pd.to_datetime(stamps, utc=True)).reset_index(drop=True)
    if timezone:
        try:
            local = stamps.dt.tz_convert(timezone)
        except Exception as exc:  # pytz/zoneinfo raise several types
            raise InputError(f"unknown time zone {timezone!r}: use an IANA name such as "
                             "Europe/Helsinki") from exc
        hours = (local.dt.hour + local.dt.minute / 60).to_numpy(dtype=float)
        return hours, f"local clock time ({timezone})"
    utc = (stamps.dt.hour + stamps.dt.minute / 60).to_numpy(dtype=float)
    return np.mod(utc + np.asarray(lon, dtype=float) / 15.0, 24.0), "local mean solar time"


def prior_time(analysis: Analysis, windows: tuple[tuple[int, int], ...],
                timezone: str | None) -> np.ndarray:
    """Time-class mix of the hours at the study area's centre.

    Over a whole year, or, for month-only dates (police.uk), over the hours of
    the months on record weighted by their incidents: July crime in Leeds
    meets short nights, and a year's share of dark hours would overstate it.
    """
    from hotspot_env.factors.darkness import classify_light

    centre = gpd.GeoSeries([analysis.area.centroid], crs=analysis.grid.crs).to_crs(4326)
    lon, lat = float(centre.x.iloc[0]), float(centre.y.iloc[0])
    n_time = 2 ** (1 + len(windows))
    months = months_on_record(analysis)
    if months is None:
        stamps = pd.date_range("2021-01-01 00:30", periods=8760, freq="h", tz="UTC")
        weights = np.full(len(stamps), 1.0 / len(stamps))
    else:
        parts, wparts = [], []
        for month, count in months.items():
            hours = pd.date_range(month, month + pd.offsets.MonthBegin(1), freq="h",
                                  tz="UTC", inclusive="left") + pd.Timedelta(minutes=30)
            parts.append(hours)
            wparts.append(np.full(len(hours), count / len(hours)))
        stamps = parts[0].append(parts[1:]) if len(parts) > 1 else parts[0]
        weights = np.concatenate(wparts) / sum(months.values())
    n = len(stamps)
    classes = classify_light(np.full(n, lon), np.full(n, lat), stamps)
    hours, _ = local_hours(pd.Series(stamps), np.full(n, lon), timezone)
    cls = time_class(classes == "dark", hours, windows)
    return np.bincount(cls, weights=weights, minlength=n_time)


def months_on_record(analysis: Any) -> dict[pd.Timestamp, int] | None:
    """Incidents per month on record when dates are months only, else None."""
    if analysis.parameters.get("date_precision") != "month":
        return None
    when = pd.to_datetime(analysis.points["datetime"], utc=True).dropna()
    if when.empty:
        return None
    counts = when.dt.tz_localize(None).dt.to_period("M").value_counts().sort_index()
    return {p.to_timestamp(): int(c) for p, c in counts.items()}



