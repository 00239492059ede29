"""When incidents happen: local calendar, districts, profiles and their charts.

Everything here is an aggregate over places (districts or hot spot areas),
never a list of incidents, so the tables and charts can be shown and written.

Local time
    Incident times are stored in UTC. Profiles need the *local* clock and
    calendar, so :func:`local_calendar` converts timed incidents to the study
    area's zone (the ``timezone`` given to the run, announced; UTC otherwise).
    Date-only incidents were stored as local midnight in an unknown zone, so
    their date is the UTC instant rounded to the nearest day, which is right
    for every zone between UTC-12 and UTC+12, and their hour stays unknown:
    an hour profile never shows date-only incidents as "midnight".

Districts of the grid
    Without district boundaries, districts are square blocks of grid cells
    anchored at multiples of the block size in the projected CRS: 10 x 10
    cells, or larger blocks when that would give more than
    :data:`MAX_DISTRICTS` blocks. Blocks that touch the study area are
    numbered ``D01``, ``D02``... row by row from the north-west, so the same
    area and cell size give the same IDs on every run. With boundaries, a
    cell belongs to the district containing its centre.

Hot spot areas
    Connected groups (queen contiguity) of Gi* hot spot cells, numbered
    ``H01``... by decreasing incident count.
"""

from __future__ import annotations

import calendar
import math
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from hotspot_env.core.choices import Choice, announce
from hotspot_env.core.grid import Grid
from hotspot_env.errors import InputError

#: Block side (cells) of the default districts of the grid.
DISTRICT_BLOCK_CELLS = 10

#: Most districts the automatic blocks may produce before blocks grow.
MAX_DISTRICTS = 36

DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTH_NAMES = tuple(calendar.month_abbr[m] for m in range(1, 13))

#: Message shown instead of an hour profile when no incident has a time of day.
TIMES_UNKNOWN = ("times of day are unknown in this data (dates only), so no hour-of-day "
                 "profile is shown: date-only records are never counted as midnight")


# --------------------------------------------------------------- calendar
@dataclass
class LocalCalendar:
    """Local calendar fields of every incident (arrays aligned with the points).

    Attributes
    ----------
    date : ndarray of datetime64[D]
        Local date (NaT where unknown).
    hour : ndarray of int
        Local hour 0-23, -1 where the time of day is unknown.
    dow : ndarray of int
        Day of week 0 = Monday ... 6 = Sunday, -1 where the date is unknown.
    month : ndarray of int
        Month 1-12, 0 where the date is unknown.
    time_known : ndarray of bool
        True where the hour is known.
    timezone : str
        Zone of the hours.
    period : tuple of datetime64[D]
        First and last day of the recording period.
    """

    date: np.ndarray
    hour: np.ndarray
    dow: np.ndarray
    month: np.ndarray
    time_known: np.ndarray
    timezone: str
    period: tuple[np.datetime64, np.datetime64]
    choices: list[Choice] = field(default_factory=list)

    @property
    def dated(self) -> np.ndarray:
        """True where the date is known."""
        return ~np.isnat(self.date)


def run_timezone(analysis, timezone: str | None = None) -> tuple[str, Choice | None]:
    """The zone for local hours: given, else the run's ``timezone``, else UTC (announced)."""
    if timezone:
        return timezone, None
    zone = analysis.parameters.get("timezone")
    if not zone:
        zone = next((c.value for c in analysis.choices if c.name == "timezone"), None)
    if zone:
        return str(zone), None
    timed = bool(analysis.points["time_known"].any()) if len(analysis.points) else False
    if not timed:
        return "UTC", None
    return "UTC", announce(Choice(
        "profile_timezone", "UTC", "hour-of-day profiles are in UTC because no time zone was "
        "given: pass --timezone to see local hours"))


def local_calendar(
    points: pd.DataFrame, timezone: str = "UTC",
    period: tuple[object, object] | None = None,
) -> LocalCalendar:
    """Local date, hour, weekday and month of every incident.

    Parameters
    ----------
    points : DataFrame
        With ``datetime`` (tz-aware UTC, NaT if unknown) and ``time_known``.
    timezone : str
        IANA zone for the hours and dates of timed incidents.
    period : tuple, optional
        ``(first_day, last_day)`` of the recording period (e.g. the dates of
        all incidents read, before clipping to the study area). Default: the
        first and last incident dates.

    Returns
    -------
    LocalCalendar
    """
    n = len(points)
    stamps = pd.to_datetime(points["datetime"], utc=True) if n else pd.Series(
        [], dtype="datetime64[ns, UTC]")
    known = (points["time_known"].fillna(False).astype(bool).to_numpy() if n
             else np.zeros(0, bool)) & stamps.notna().to_numpy()
    try:
        local = stamps.dt.tz_convert(timezone).dt.tz_localize(None)
    except Exception as exc:  # unknown zone
        raise InputError(f"unknown time zone {timezone!r}: use e.g. America/Sao_Paulo") from exc
    rounded = (stamps + pd.Timedelta(hours=12)).dt.floor("D").dt.tz_localize(None)
    date = np.where(known, local.to_numpy().astype("datetime64[D]"),
                    rounded.to_numpy().astype("datetime64[D]"))
    hour = np.where(known, local.dt.hour.fillna(-1).to_numpy(), -1).astype(np.int16)
    ok = ~np.isnat(date)
    days = date.astype("datetime64[D]").astype(np.int64)
    dow = np.where(ok, (days - 4) % 7, -1).astype(np.int16)  # 1970-01-05 was a Monday
    months = date.astype("datetime64[M]").astype(np.int64)
    month = np.where(ok, months % 12 + 1, 0).astype(np.int16)
    if period is not None:
        first, last = (np.datetime64(pd.Timestamp(p).date(), "D") for p in period)
        if last < first:
            raise InputError(f"period ends ({last}) before it starts ({first})")
    elif ok.any():
        first, last = date[ok].min(), date[ok].max()
    else:
        first = last = np.datetime64("NaT", "D")
    return LocalCalendar(date.astype("datetime64[D]"), hour, dow, month, known, timezone,
                         (first, last))


def record_period(frame: pd.DataFrame, timezone: str | None = None,
                  precision: str | None = None) -> list[str] | None:
    """First and last local date of all dated incidents read, as ISO strings.

    With month-only dates (``precision="month"``) the period runs to the last
    day of the last month: a month's incidents all carry its first day.

    Call it on the incidents *before* they are clipped to the study area and
    store it as ``analysis.parameters["record_period"]``: a sparse area's
    first incident may come weeks after recording began, which would
    otherwise make the first time step look incomplete.
    """
    cal = local_calendar(frame, timezone or "UTC")
    if np.isnat(cal.period[0]):
        return None
    last = cal.period[1]
    if precision == "month":
        last = (last.astype("datetime64[M]") + 1).astype("datetime64[D]") - 1
    return [str(cal.period[0]), str(last)]


def hemisphere(grid: Grid) -> str:
    """``"north"`` or ``"south"`` from the latitude of the grid's centre."""
    minx, miny, maxx, maxy = grid.bounds
    centre = gpd.GeoSeries([shapely.Point((minx + maxx) / 2, (miny + maxy) / 2)], crs=grid.crs)
    return "south" if float(centre.to_crs(4326).y.iloc[0]) < 0 else "north"


def season_of_month(month: np.ndarray, hemi: str) -> np.ndarray:
    """Meteorological season (Dec-Feb, Mar-May, Jun-Aug, Sep-Nov) of each month 1-12."""
    names = (("winter", "spring", "summer", "autumn") if hemi == "north"
             else ("summer", "autumn", "winter", "spring"))
    month = np.asarray(month)
    return np.asarray(names, dtype=object)[(month % 12) // 3]


# ---------------------------------------------------------------- districts
@dataclass
class Districts:
    """A partition of the grid's cells into named districts.

    Attributes
    ----------
    index : ndarray of int, shape ``grid.shape``
        Position in :attr:`ids` of each cell's district, -1 outside the study
        area or any district.
    ids : list of str
        District IDs in display order.
    rule : str
        How the districts were made.
    source : str
        ``"grid blocks"`` or ``"boundaries"`` (the user's polygons).
    """

    index: np.ndarray
    ids: list[str]
    rule: str
    source: str = "grid blocks"

    @property
    def labels(self) -> np.ndarray:
        """District ID per cell (object array), ``""`` where none."""
        names = np.asarray([*self.ids, ""], dtype=object)
        return names[np.where(self.index >= 0, self.index, len(self.ids))]


def _ids(n: int, prefix: str) -> list[str]:
    width = max(2, len(str(n)))
    return [f"{prefix}{i:0{width}d}" for i in range(1, n + 1)]


def grid_districts(grid: Grid, block_cells: int | None = None) -> tuple[Districts, Choice]:
    """Districts of the grid: square blocks of cells, IDs ``D01``... (north-west first).

    Parameters
    ----------
    grid : Grid
        The study grid.
    block_cells : int, optional
        Block side in cells (default :data:`DISTRICT_BLOCK_CELLS`, raised so
        that there are at most :data:`MAX_DISTRICTS` blocks).

    Returns
    -------
    districts : Districts
    choice : Choice
    """
    if block_cells is None:
        block = DISTRICT_BLOCK_CELLS
        if math.ceil(grid.n_rows / block) * math.ceil(grid.n_cols / block) > MAX_DISTRICTS:
            block = math.ceil(max(grid.n_rows, grid.n_cols) / math.isqrt(MAX_DISTRICTS))
    else:
        block = int(block_cells)
        if block < 1:
            raise InputError(f"district block size must be at least 1 cell, got {block_cells!r}")
    side = block * grid.cell_size
    # anchor blocks at multiples of the block side in the CRS, not at the grid corner
    col0 = math.floor(grid.x0 / side)
    row0 = math.floor(-grid.bounds[3] / side)
    cols = (np.floor((grid.x0 + np.arange(grid.n_cols) * grid.cell_size) / side) - col0)
    rows = (np.floor(-(grid.bounds[3] - np.arange(grid.n_rows) * grid.cell_size) / side) - row0)
    bcol, brow = np.meshgrid(cols.astype(np.int64), rows.astype(np.int64))
    key = brow * (int(bcol.max()) + 1) + bcol
    used = np.unique(key[grid.mask])
    ids = _ids(used.size, "D")
    index = np.full(grid.shape, -1, dtype=np.int64)
    index[grid.mask] = np.searchsorted(used, key[grid.mask])
    rule = (f"no district boundaries given, so the grid is cut into blocks of {block} x {block} "
            f"cells ({side:,.0f} m) numbered from the north-west ({len(ids)} districts)")
    return Districts(index, ids, rule), announce(Choice("districts", f"{block}x{block} cells",
                                                        rule))


def boundary_districts(
    grid: Grid, boundaries: gpd.GeoDataFrame, id_column: str | None = None,
) -> tuple[Districts, Choice]:
    """Districts from polygons: each cell joins the polygon containing its centre.

    Parameters
    ----------
    grid : Grid
        The study grid.
    boundaries : GeoDataFrame
        District polygons with a CRS.
    id_column : str, optional
        Column holding the district names (default: ``D01``... in row order).
    """
    if boundaries.crs is None:
        raise InputError("district boundaries have no CRS: save them with one")
    if id_column is not None and id_column not in boundaries.columns:
        raise InputError(f"district boundaries have no column {id_column!r}")
    polys = boundaries.to_crs(grid.crs).reset_index(drop=True)
    names = (polys[id_column].astype(str).tolist() if id_column
             else _ids(len(polys), "D"))
    cx, cy = grid.centres()
    pts = shapely.points(cx[grid.mask], cy[grid.mask])
    tree = shapely.STRtree(polys.geometry.to_numpy())
    idx_pt, idx_poly = tree.query(pts, predicate="within")
    ids = list(dict.fromkeys(names[i] for i in np.unique(idx_poly)))
    lookup = {d: i for i, d in enumerate(ids)}
    inside = np.full(pts.size, -1, dtype=np.int64)
    inside[idx_pt] = [lookup[names[i]] for i in idx_poly]
    index = np.full(grid.shape, -1, dtype=np.int64)
    index[grid.mask] = inside
    rule = (f"{len(ids)} districts from the boundaries given (a cell joins the one holding its "
            "centre)")
    return Districts(index, ids, rule, "boundaries"), announce(Choice("districts", "boundaries",
                                                                      rule))


def hotspot_areas(grid: Grid, gi_bin: np.ndarray, counts: np.ndarray) -> Districts:
    """Connected Gi* hot spot cells as areas ``H01``..., largest incident count first."""
    from scipy import ndimage

    hot = grid.mask & (np.nan_to_num(gi_bin) > 0)
    comp, n = ndimage.label(hot, structure=np.ones((3, 3)))
    if n == 0:
        return Districts(np.full(grid.shape, -1, dtype=np.int64), [], "no Gi* hot spot cells")
    totals = np.bincount(comp.ravel(), weights=np.nan_to_num(counts).ravel(), minlength=n + 1)[1:]
    order = np.argsort(-totals, kind="stable")
    rank = np.empty(n + 1, dtype=np.int64)
    rank[0] = -1
    rank[order + 1] = np.arange(n)
    return Districts(rank[comp], _ids(n, "H"), "connected Gi* hot spot cells (queen contiguity)")


def point_districts(grid: Grid, districts: Districts, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """District index (position in ``districts.ids``) of each point, -1 where none."""
    row, col = grid.cell_index(x, y)
    out = np.full(row.shape, -1, dtype=np.int64)
    inside = row >= 0
    out[inside] = districts.index[row[inside], col[inside]]
    return out


# ---------------------------------------------------------------- profiles
@dataclass
class Profiles:
    """Counts by time of day, week and year per district (tidy tables).

    Attributes
    ----------
    hour_dow : DataFrame
        ``district, dow, day, hour, incidents``: timed incidents only; empty
        when no time of day is known.
    monthly : DataFrame
        ``district, month, month_name, season, incidents, dark, months_observed,
        per_month``: dated incidents by calendar month; ``dark`` counts timed
        incidents in darkness; ``per_month`` divides by how many times that
        calendar month occurs in the recording period.
    darkness : DataFrame
        ``district, incidents, timed, dark, twilight, day, dark_share``.
    times_known : int
        Incidents with a known time of day.
    message : str or None
        Why a profile is missing (e.g. :data:`TIMES_UNKNOWN`).
    """

    hour_dow: pd.DataFrame
    monthly: pd.DataFrame
    darkness: pd.DataFrame
    times_known: int
    message: str | None = None


def months_observed(period: tuple[np.datetime64, np.datetime64]) -> np.ndarray:
    """How many days of each calendar month (1-12) the period holds, in months (length 12)."""
    first, last = period
    if np.isnat(first) or np.isnat(last):
        return np.zeros(12)
    days = np.arange(first, last + np.timedelta64(1, "D"), dtype="datetime64[D]")
    month = days.astype("datetime64[M]").astype(np.int64) % 12
    length = ((days.astype("datetime64[M]") + 1).astype("datetime64[D]")
              - days.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64)
    return np.bincount(month, weights=1.0 / length, minlength=12)


def profiles(
    cal: LocalCalendar, district: np.ndarray, ids: list[str], light: np.ndarray | None = None,
    hemi: str = "north",
) -> Profiles:
    """Hour x weekday, monthly and darkness profiles per district.

    Parameters
    ----------
    cal : LocalCalendar
        Local calendar of the incidents.
    district : ndarray of int
        District index per incident (-1 = none; left out).
    ids : list of str
        District IDs (index -> name).
    light : ndarray of str, optional
        ``"dark"``/``"twilight"``/``"day"``/``"unknown"`` per incident.
    hemi : {"north", "south"}
        For season names.

    Returns
    -------
    Profiles
    """
    n_d = len(ids)
    district = np.asarray(district, dtype=np.int64)
    light = (np.full(district.size, "unknown", dtype=object) if light is None
             else np.asarray(light, dtype=object))
    names = np.asarray(ids, dtype=object)
    has_d = district >= 0
    timed = has_d & cal.time_known & (cal.hour >= 0)
    dated = has_d & cal.dated

    hd = np.bincount((district[timed] * 7 + cal.dow[timed]) * 24 + cal.hour[timed],
                     minlength=n_d * 7 * 24).reshape(n_d, 7, 24)
    if timed.any():
        d_i, w_i, h_i = np.meshgrid(np.arange(n_d), np.arange(7), np.arange(24), indexing="ij")
        hour_dow = pd.DataFrame({"district": names[d_i.ravel()], "dow": w_i.ravel(),
                                 "day": np.asarray(DAY_NAMES, dtype=object)[w_i.ravel()],
                                 "hour": h_i.ravel(), "incidents": hd.ravel()})
    else:
        hour_dow = pd.DataFrame({"district": pd.Series(dtype=object), "dow": pd.Series(dtype=int),
                                 "day": pd.Series(dtype=object), "hour": pd.Series(dtype=int),
                                 "incidents": pd.Series(dtype=int)})
    message = None if timed.any() else TIMES_UNKNOWN
    hour_dow.attrs["message"] = message

    is_dark = light == "dark"
    by_month = np.bincount(district[dated] * 12 + cal.month[dated] - 1,
                           minlength=n_d * 12).reshape(n_d, 12)
    dark_month = np.bincount(district[dated & is_dark] * 12 + cal.month[dated & is_dark] - 1,
                             minlength=n_d * 12).reshape(n_d, 12)
    observed = months_observed(cal.period)
    d_i, m_i = np.meshgrid(np.arange(n_d), np.arange(12), indexing="ij")
    with np.errstate(invalid="ignore", divide="ignore"):
        per_month = np.where(observed > 0, by_month / np.maximum(observed, 1e-12), np.nan)
    monthly = pd.DataFrame({
        "district": names[d_i.ravel()], "month": m_i.ravel() + 1,
        "month_name": np.asarray(MONTH_NAMES, dtype=object)[m_i.ravel()],
        "season": season_of_month(m_i.ravel() + 1, hemi),
        "incidents": by_month.ravel(), "dark": dark_month.ravel(),
        "months_observed": np.tile(np.round(observed, 3), n_d),
        "per_month": per_month.ravel()})

    def per_district(sel: np.ndarray) -> np.ndarray:
        return np.bincount(district[sel], minlength=n_d)

    counts = {c: per_district(has_d & (light == c)) for c in ("dark", "twilight", "day")}
    n_timed = per_district(timed)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(n_timed > 0, counts["dark"] / np.maximum(n_timed, 1), np.nan)
    darkness = pd.DataFrame({"district": names, "incidents": per_district(has_d),
                             "timed": n_timed, **counts, "dark_share": share})
    return Profiles(hour_dow, monthly, darkness, int(timed.sum()), message)


def light_conditions(points: pd.DataFrame) -> np.ndarray:
    """Light condition per incident ("dark", "twilight", "day", "unknown").

    Uses :func:`hotspot_env.factors.darkness.light_classes` (astral sun
    elevation at each incident's place and moment), or the classes the
    darkness factor cached on the points; incidents without a time of day
    are "unknown", never guessed.
    """
    if len(points) == 0 or not points["time_known"].any():
        return np.full(len(points), "unknown", dtype=object)
    from hotspot_env.factors.darkness import light_classes

    return light_classes(points)[0]


# ------------------------------------------------------------------ charts
def _message_chart(text: str, width: int = 420):
    import altair as alt

    return alt.Chart(pd.DataFrame({"text": [text]})).mark_text(
        align="left", baseline="middle", fontSize=13, lineBreak="\n", limit=width,
    ).encode(text="text:N").properties(width=width, height=60)


def hour_dow_heatmap(df: pd.DataFrame, title: str = "Incidents by hour and day of week"):
    """Altair heatmap of incidents by local hour (x) and weekday (y).

    Parameters
    ----------
    df : DataFrame
        :attr:`Profiles.hour_dow`, optionally filtered to one district; rows
        of several districts are summed.
    title : str
        Chart title.

    Returns
    -------
    altair.Chart
        The heatmap, or a text chart saying times of day are unknown.
    """
    import altair as alt

    if df.empty or int(df["incidents"].sum()) == 0:
        return _message_chart(df.attrs.get("message") or TIMES_UNKNOWN).properties(title=title)
    table = df.groupby(["dow", "day", "hour"], as_index=False)["incidents"].sum()
    return alt.Chart(table).mark_rect().encode(
        x=alt.X("hour:O", title="hour of day (local)"),
        y=alt.Y("day:O", sort=list(DAY_NAMES), title=None),
        color=alt.Color("incidents:Q", scale=alt.Scale(scheme="orangered"), title="incidents"),
        tooltip=["day:N", "hour:O", "incidents:Q"],
    ).properties(title=title, width=480, height=180)


def monthly_chart(df: pd.DataFrame, title: str = "Incidents by month"):
    """Altair bar chart of incidents per calendar month, dark incidents marked.

    Parameters
    ----------
    df : DataFrame
        :attr:`Profiles.monthly`, optionally filtered to one district; rows of
        several districts are summed. Bars show incidents per occurrence of
        the month in the recording period (``per_month``) so that months seen
        more often are not favoured.

    Returns
    -------
    altair.Chart
    """
    import altair as alt

    if df.empty or int(df["incidents"].sum()) == 0:
        return _message_chart("no dated incidents: no monthly profile").properties(title=title)
    table = df.groupby(["month", "month_name", "season"], as_index=False).agg(
        incidents=("incidents", "sum"), dark=("dark", "sum"),
        months_observed=("months_observed", "first"))
    table["per_month"] = (table["incidents"] / table["months_observed"].where(
        table["months_observed"] > 0)).round(2)
    return alt.Chart(table).mark_bar().encode(
        x=alt.X("month_name:O", sort=list(MONTH_NAMES), title=None),
        y=alt.Y("per_month:Q", title="incidents per month"),
        color=alt.Color("season:N", title="season"),
        tooltip=["month_name:N", "season:N", "incidents:Q", "dark:Q", "per_month:Q"],
    ).properties(title=title, width=480, height=200)
