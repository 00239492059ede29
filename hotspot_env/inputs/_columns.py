"""The standard incident columns: dates (in UTC), categories, sources and outdoor flags.

Private to :mod:`hotspot_env.inputs.io`. Whatever is assumed (a time zone, a
month precision, unreadable or placeholder dates) is announced as a
:class:`~hotspot_env.core.choices.Choice`.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from hotspot_env.core.choices import Choice, announce
from hotspot_env.errors import InputError
from hotspot_env.inputs.formats import (
    OpenDataFormat,
    column,
    date_text,
    is_month_only,
    outdoor_from_premise,
    recognise,
)

DATETIME_NAMES = ("datetime", "date_time", "timestamp", "occurred", "date", "time", "month")
CATEGORY_NAMES = ("category", "type", "crime_type", "offence", "offense", "crime")
SOURCE_NAMES = ("source", "record_source")
#: Premise / location-type columns of generic files, mapped to ``outdoor`` by the category map.
PREMISE_NAMES = ("premise", "premises", "premise_type", "premises_type", "location_type",
                 "location_description")

#: Dates outside these bounds are placeholders (0001-01-01, 9999-12-31, 2999...)
#: rather than records: they are treated as unknown and counted.
EARLIEST_DATE = pd.Timestamp("1900-01-01", tz="UTC")
LATEST_DATE = pd.Timestamp("2100-01-01", tz="UTC")


def _standard_columns(
    frame: gpd.GeoDataFrame, file: str, timezone: str | None, choices: list[Choice],
    fmt: OpenDataFormat | None = None,
) -> gpd.GeoDataFrame:
    lower = {str(c).lower().strip(): c for c in frame.columns if c != frame.geometry.name}
    out = gpd.GeoDataFrame(geometry=frame.geometry.values, crs=frame.crs)
    dt_col = next((lower[n] for n in DATETIME_NAMES if n in lower), None)
    if fmt is not None:  # the portal's own columns, not the generic guesses
        dt_col = fmt.date if fmt.date in lower else None
        timezone = timezone or fmt.timezone
    if dt_col is None:
        out["datetime"] = pd.Series(pd.NaT, index=out.index, dtype="datetime64[ns, UTC]")
        out["time_known"] = False
        choices.append(announce(Choice(
            "dates", "none", f"{file} has no date column; time analyses are skipped")))
    else:
        text = date_text(frame, fmt) if fmt is not None else frame[dt_col]
        if _announce_month_precision(text, file, choices):
            timezone = None  # a month has no clock: its first day at 00:00 UTC stays in it
        when, time_known = _parse_datetimes(text, file, timezone, choices)
        out["datetime"] = when.set_axis(out.index)
        out["time_known"] = time_known
        if "time_known" in lower:  # the generator's explicit flag wins
            flag = frame[lower["time_known"]].astype(str).str.lower().isin(["true", "1", "yes"])
            out["time_known"] = out["time_known"] & flag.to_numpy()
    cat_col = next((lower[n] for n in CATEGORY_NAMES if n in lower), None)
    if fmt is not None and fmt.category in lower:
        cat_col = lower[fmt.category]
    out["category"] = (frame[cat_col].astype("string").str.strip().str.lower().fillna("unknown")
                       .astype(object) if cat_col else "unknown")
    src_col = next((lower[n] for n in SOURCE_NAMES if n in lower), None)
    out["source"] = (frame[src_col].astype("string").str.strip().str.lower().astype(object)
                     if src_col else None)
    out["outdoor"] = _outdoor(frame, lower, fmt, out.index)
    return out


def _announce_format(frame: pd.DataFrame, file: str,
                     choices: list[Choice]) -> OpenDataFormat | None:
    """Recognise the portal from the columns and say which columns are read."""
    fmt = recognise(frame.columns)
    if fmt is not None:
        parts = [f"dates from {fmt.date!r}" + (f" + {fmt.time!r}" if fmt.time else ""),
                 f"categories from {fmt.category!r}"]
        if fmt.premise:
            parts.append(f"indoor/outdoor from {fmt.premise!r}")
        choices.append(announce(Choice(
            "input_format", fmt.name,
            f"{file} has the columns of the {fmt.label}: " + ", ".join(parts)
            + f"; categories mapped to evidence crime types by data/category_map.csv; "
            f"times read in {fmt.timezone} unless --timezone is given; identifying columns "
            "(ids, case numbers, outcomes) are never copied")))
    return fmt


def _announce_month_precision(text: pd.Series, file: str, choices: list[Choice]) -> bool:
    """Month-only dates (police.uk's anonymisation) are month precision everywhere."""
    month = not pd.api.types.is_datetime64_any_dtype(text.dtype) and is_month_only(text)
    if month:
        choices.append(announce(Choice(
            "date_precision", "month",
            f"{file} gives months only (YYYY-MM), no day or time: forecasts and trends use "
            "months or years, and darkness uses the share of each month's hours that are dark")))
    return month


def _outdoor(frame: pd.DataFrame, lower: dict[str, object], fmt: OpenDataFormat | None,
             index: pd.Index) -> pd.Series:
    """``outdoor`` from the premise field through the category map (NA where unknown)."""
    premise = column(frame, fmt.premise) if fmt is not None else None
    if premise is None and fmt is None:
        name = next((lower[n] for n in PREMISE_NAMES if n in lower), None)
        premise = frame[name] if name is not None else None
    flags = outdoor_from_premise(premise, index=index)
    return flags.set_axis(index) if premise is not None else flags


def _parse_datetimes(values: pd.Series, file: str, timezone: str | None, choices) -> tuple:
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return _typed_datetimes(values, file, timezone, choices)
    text = values.astype("string").str.strip()
    given = text.notna() & (text != "")
    parsed = None
    for fmt in ("ISO8601", "mixed"):  # ISO 8601 is 5x faster; "mixed" reads any other style
        try:
            parsed = pd.to_datetime(text, errors="coerce", utc=False, format=fmt)
        except ValueError:  # offsets differ across rows (daylight saving): read them all as UTC
            parsed = pd.to_datetime(text, errors="coerce", utc=True, format=fmt)
        if not (parsed.isna() & given).any():
            break
    bad = parsed.isna() & given
    if bad.all() and len(text):
        raise InputError(
            f"{file}: no date could be read (e.g. {text.iloc[0]!r}); use ISO dates like "
            "2023-05-01 or 2023-05-01T22:30"
        )
    if bad.any():
        choices.append(announce(Choice(
            "unreadable_dates", int(bad.sum()), f"dates in {file} that could not be read are "
            "treated as unknown")))
    has_time = text.str.contains(r"\d{1,2}:\d{2}", regex=True).fillna(False).to_numpy(bool)
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = pd.to_datetime(parsed, utc=True)
    return _in_utc(pd.to_datetime(parsed), has_time, timezone, choices)


def _in_utc(parsed: pd.Series, has_time: np.ndarray, timezone: str | None,
            choices: list[Choice]) -> tuple[pd.Series, np.ndarray]:
    """Datetimes in UTC (naive ones read in ``timezone``, announced) and which have a time."""
    if parsed.dt.tz is None:
        parsed = _localize(parsed, timezone or "UTC", choices)
        if has_time.any():
            choices.append(announce(Choice(
                "timezone", timezone or "UTC",
                "times without an offset read in this zone" + ("" if timezone else
                                                               "; pass --timezone if local"))))
    parsed = _without_placeholder_dates(parsed.dt.tz_convert("UTC"), choices)
    return parsed.reset_index(drop=True), has_time & parsed.notna().to_numpy()


def _localize(parsed: pd.Series, timezone: str, choices: list[Choice]) -> pd.Series:
    """Naive local times made zone-aware, with daylight-saving gaps and overlaps resolved.

    A time in the autumn overlap hour happened twice: the earlier (summer-time)
    reading is taken. A time in the spring gap never happened on the clock: it
    is moved forward to the first valid instant. Both are counted and
    announced, so no date silently becomes unknown.
    """
    try:
        strict = parsed.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
    except Exception as exc:
        raise InputError(f"unknown time zone {timezone!r}: use e.g. Europe/Helsinki") from exc
    unresolved = int((strict.isna() & parsed.notna()).sum())
    if not unresolved:
        return strict
    resolved = parsed.dt.tz_localize(timezone, ambiguous=np.ones(len(parsed), dtype=bool),
                                     nonexistent="shift_forward")
    choices.append(announce(Choice(
        "daylight_saving_times", unresolved,
        f"local times in a daylight-saving change ({timezone}) resolved: a repeated hour read as "
        "its earlier (summer-time) occurrence, a skipped hour moved forward")))
    return resolved


def _without_placeholder_dates(when: pd.Series, choices: list[Choice]) -> pd.Series:
    """UTC datetimes with placeholder dates (before 1900, from 2100) set to unknown, counted."""
    outside = when.notna() & ((when < EARLIEST_DATE) | (when >= LATEST_DATE))
    if not outside.any():
        return when
    choices.append(announce(Choice(
        "placeholder_dates", int(outside.sum()),
        f"dates before {EARLIEST_DATE:%Y-%m-%d} or from {LATEST_DATE:%Y-%m-%d} on (e.g. "
        "0001-01-01, 9999-12-31) are placeholders: treated as unknown")))
    return when.mask(outside)


def _typed_datetimes(values: pd.Series, file: str, timezone: str | None, choices) -> tuple:
    """Dates a GeoPackage/GeoParquet already stores as datetimes: no text round trip.

    Formatting a million timestamps as text to parse them back took over a
    minute. A column whose every value is exactly midnight is a date field:
    its times are unknown, as for text dates without a time.
    """
    parsed = pd.Series(values.array, index=values.index, name=values.name)
    known = parsed.notna().to_numpy()
    has_time = np.zeros(len(parsed), dtype=bool)
    if known.any():
        stamps = parsed[known]  # midnight as stored (local clock), like a text date
        has_time[:] = bool((stamps - stamps.dt.normalize()).ne(pd.Timedelta(0)).any())
    return _in_utc(parsed, has_time, timezone, choices)
