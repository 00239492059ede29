"""Open crime-data formats read as they come: which columns mean what, per portal.

Each portal publishes its incidents with its own column names, date style and
categories. :func:`recognise` finds the portal from the header (every column
of a format's ``signature`` present, case-insensitive), and the reader then
takes the date, time, category, premise and coordinate columns named here
instead of guessing. The portal's categories and premise values are mapped to
the evidence crime types and to indoor/outdoor by ``data/category_map.csv``
(:func:`category_map`, :func:`outdoor_from_premise`).

Only the columns named here are read; everything else a portal publishes
(crime ids, case numbers, outcomes, census codes) is never copied anywhere.
Identifying columns are listed per format (``identifiers``) so the docs and
the tests can say so.

Formats
-------
``police_uk``
    data.police.uk street-level CSV: ``Month`` (YYYY-MM; the anonymisation
    keeps months only), ``Crime type``, ``Longitude``/``Latitude``.
``chicago``
    City of Chicago "Crimes - 2001 to Present": ``Date``, ``Primary Type``,
    ``Location Description``, ``Latitude``/``Longitude``.
``nyc``
    NYPD complaint data: ``CMPLNT_FR_DT`` + ``CMPLNT_FR_TM``, ``OFNS_DESC``,
    ``PREM_TYP_DESC``, ``Latitude``/``Longitude``.
``san_francisco``
    SFPD incident reports (2018 on): ``Incident Datetime``, ``Incident
    Category``, ``Latitude``/``Longitude``.
``los_angeles``
    LAPD crime data (2020 on): ``DATE OCC`` (its time is always midnight) +
    ``TIME OCC`` (HHMM), ``Crm Cd Desc``, ``Premis Desc``, ``LAT``/``LON``.
``toronto``
    Toronto Police major crime indicators: ``OCC_DATE`` + ``OCC_HOUR``,
    ``MCI_CATEGORY``, ``PREMISES_TYPE``, ``LAT_WGS84``/``LONG_WGS84``.
``sao_paulo_ssp``
    São Paulo SSP "dados criminais": ``DATA_OCORRENCIA_BO`` +
    ``HORA_OCORRENCIA_BO``, ``NATUREZA_APURADA`` (or ``RUBRICA``),
    ``DESCR_TIPOLOCAL``, ``LATITUDE``/``LONGITUDE``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from hotspot_env import settings
from hotspot_env.errors import InputError

#: The category map shipped with the package: portal value -> evidence type or outdoor flag.
CATEGORY_MAP_PATH = settings.data_folder / "category_map.csv"

#: Outdoor flags a ``premise`` row of the category map may give.
OUTDOOR_VALUES = {"outdoor": True, "indoor": False}


@dataclass(frozen=True)
class OpenDataFormat:
    """Where one portal keeps each piece of an incident record.

    Attributes
    ----------
    name : str
        Key used in ``data/category_map.csv`` (e.g. ``"police_uk"``).
    label : str
        The portal in words, for announcements.
    signature : tuple of str
        Columns that all appear in this portal's files (lower case), besides
        the coordinates (so the header is recognised before and after the
        coordinate columns become the geometry).
    x, y : str
        Longitude and latitude columns (WGS 84).
    date : str
        Column with the date (or date and time, or month).
    time : str or None
        Separate time-of-day column, when the portal splits it from the date.
    time_style : str
        How ``time`` is written: ``"clock"`` (``17:30:00``), ``"hhmm"``
        (``2230``) or ``"hour"`` (``22``).
    category, premise : str or None
        Offence type and premise/location-type columns.
    timezone : str or None
        The portal's local zone, used for times without an offset unless the
        user gives one.
    identifiers : tuple of str
        Identifying columns the portal publishes; never read.
    """

    name: str
    label: str
    signature: tuple[str, ...]
    x: str
    y: str
    date: str
    category: str | None
    time: str | None = None
    time_style: str = "clock"
    premise: str | None = None
    timezone: str | None = None
    identifiers: tuple[str, ...] = ()


FORMATS: tuple[OpenDataFormat, ...] = (
    OpenDataFormat("police_uk", "police.uk street-level CSV", ("crime id", "month", "crime type"),
                   "longitude", "latitude", "month", "crime type", timezone="Europe/London",
                   identifiers=("crime id", "last outcome category", "lsoa code", "lsoa name",
                                "context")),
    OpenDataFormat("chicago", "City of Chicago crimes", ("primary type", "location description",
                                                         "date"),
                   "longitude", "latitude", "date", "primary type",
                   premise="location description", timezone="America/Chicago",
                   identifiers=("id", "case number", "block", "iucr", "arrest", "domestic",
                                "beat", "x coordinate", "y coordinate", "location")),
    OpenDataFormat("nyc", "NYPD complaint data", ("cmplnt_fr_dt", "ofns_desc"),
                   "longitude", "latitude", "cmplnt_fr_dt", "ofns_desc", time="cmplnt_fr_tm",
                   premise="prem_typ_desc", timezone="America/New_York",
                   identifiers=("cmplnt_num", "susp_race", "susp_sex", "susp_age_group",
                                "vic_race", "vic_sex", "vic_age_group", "x_coord_cd",
                                "y_coord_cd", "lat_lon")),
    OpenDataFormat("san_francisco", "San Francisco police incident reports",
                   ("incident datetime", "incident category"),
                   "longitude", "latitude", "incident datetime", "incident category",
                   timezone="America/Los_Angeles",
                   identifiers=("row id", "incident id", "incident number", "cad number",
                                "resolution", "point")),
    OpenDataFormat("los_angeles", "LAPD crime data", ("date occ", "time occ", "crm cd desc"),
                   "lon", "lat", "date occ", "crm cd desc", time="time occ", time_style="hhmm",
                   premise="premis desc", timezone="America/Los_Angeles",
                   identifiers=("dr_no", "vict age", "vict sex", "vict descent", "status",
                                "status desc", "location", "cross street")),
    OpenDataFormat("toronto", "Toronto Police major crime indicators",
                   ("occ_date", "mci_category"),
                   "long_wgs84", "lat_wgs84", "occ_date", "mci_category", time="occ_hour",
                   time_style="hour", premise="premises_type", timezone="America/Toronto",
                   identifiers=("event_unique_id", "_id", "objectid", "x", "y")),
    OpenDataFormat("sao_paulo_ssp", "São Paulo SSP dados criminais",
                   ("data_ocorrencia_bo", "natureza_apurada"),
                   "longitude", "latitude", "data_ocorrencia_bo", "natureza_apurada",
                   time="hora_ocorrencia_bo", premise="descr_tipolocal",
                   timezone="America/Sao_Paulo",
                   identifiers=("num_bo", "ano_bo", "logradouro", "numero_logradouro")),
)


def recognise(columns: object) -> OpenDataFormat | None:
    """The open-data format whose signature columns all appear in ``columns``.

    Parameters
    ----------
    columns : iterable of str
        Column names as read (any case, surrounding spaces ignored).

    Returns
    -------
    OpenDataFormat or None
        ``None`` for a file of no known portal (the generic names apply).
    """
    lower = {str(c).strip().lower() for c in columns}
    return next((f for f in FORMATS if set(f.signature) <= lower), None)


def column(frame: pd.DataFrame, name: str | None) -> pd.Series | None:
    """Column ``name`` of ``frame`` matched case-insensitively (``None`` when absent)."""
    if name is None:
        return None
    lower = {str(c).strip().lower(): c for c in frame.columns}
    return frame[lower[name]] if name in lower else None


def date_text(frame: pd.DataFrame, fmt: OpenDataFormat) -> pd.Series:
    """The format's date and time as one text column the generic parser reads.

    A split time (NYC ``17:30:00``, LA ``2230``, Toronto ``22``) is joined to
    the date part as ``HH:MM``; the date's own midnight (LA writes
    ``01/08/2020 12:00:00 AM``) is dropped first, so the time comes from the
    time column alone.
    """
    dates = column(frame, fmt.date).astype("string").str.strip()
    times = column(frame, fmt.time)
    if times is None:
        return dates
    day = dates.str.split(" ", n=1).str[0].str.split("T", n=1).str[0]
    text = times.astype("string").str.strip().str.replace(r"\.0+$", "", regex=True)
    if fmt.time_style == "hhmm":
        digits = text.str.zfill(4)
        clock = digits.str[:2] + ":" + digits.str[2:4]
    elif fmt.time_style == "hour":
        clock = text.str.zfill(2) + ":00"
    else:
        clock = text.str.slice(0, 5)
    valid = clock.str.fullmatch(r"([01]\d|2[0-3]):[0-5]\d").fillna(False)
    return day.where(~valid, day + " " + clock)


def is_month_only(text: pd.Series) -> bool:
    """True when every given date is a month only (``2018-07`` or ``2018/7``)."""
    given = text.dropna().astype(str).str.strip()
    given = given[given != ""]
    return bool(len(given)) and bool(given.str.fullmatch(r"\d{4}[-/]\d{1,2}").all())


@lru_cache(maxsize=4)
def _read_map(path: str) -> pd.DataFrame:
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, comment="#")
    except (OSError, pd.errors.ParserError, csv.Error) as exc:
        raise InputError(f"cannot read the category map {Path(path).name}: {exc}") from exc
    need = {"format", "field", "value", "maps_to"}
    if not need <= set(table.columns):
        raise InputError(f"category map {Path(path).name} needs columns "
                         f"{', '.join(sorted(need))}")
    table = table.assign(value=table["value"].str.strip().str.lower(),
                         maps_to=table["maps_to"].str.strip())
    return table


def category_map(path: str | Path | None = None) -> dict[str, str]:
    """Portal category (lower case) -> evidence crime type, over every format.

    Used by :func:`hotspot_env.interventions.impact.map_categories` before its
    keywords, so each portal's categories reach the evidence rows the map
    documents (police.uk "vehicle crime" -> theft, "possession of weapons" ->
    other...). A value two formats map differently is an error in the map.
    """
    table = _read_map(str(path or CATEGORY_MAP_PATH))
    rows = table[table["field"] == "category"]
    out: dict[str, str] = {}
    for value, target in zip(rows["value"], rows["maps_to"], strict=True):
        if out.get(value, target) != target:
            raise InputError(f"category map: {value!r} maps to both {out[value]!r} and "
                             f"{target!r}; keep one")
        out[value] = target
    return out


def outdoor_from_premise(values: pd.Series | None, index: pd.Index | None = None,
                         path: str | Path | None = None) -> pd.Series:
    """Outdoor (True), indoor (False) or unknown (NA) from a premise/location field.

    Parameters
    ----------
    values : Series or None
        The premise values as read; ``None`` when the file has none.
    index : Index, optional
        Index of the result when ``values`` is ``None``.
    path : path, optional
        Another category map (default: the shipped one).

    Returns
    -------
    Series of pandas ``boolean``
        NA where the premise is missing or not in the map (a vehicle, a
        station, "other": neither clearly indoor nor outdoor).
    """
    if values is None:
        return pd.Series(pd.NA, index=index, dtype="boolean")
    table = _read_map(str(path or CATEGORY_MAP_PATH))
    rows = table[table["field"] == "premise"]
    lookup = {v: OUTDOOR_VALUES[t] for v, t in zip(rows["value"], rows["maps_to"], strict=True)
              if t in OUTDOOR_VALUES}
    codes, uniques = pd.factorize(values.astype("string").str.strip().str.lower())
    flags = np.array([lookup.get(u, pd.NA) for u in uniques] + [pd.NA], dtype=object)
    return pd.Series(pd.array(flags[codes], dtype="boolean"), index=values.index)
