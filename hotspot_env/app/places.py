"""One place at a time: which cell a map click falls in, and what we know about it.

The app's Explore page turns a click (longitude/latitude from the browser)
into a cell with :func:`cell_at`, then shows :func:`describe_cell`: the
cell's ``why`` text, its counts as they may be published in the current
privacy mode, and its factor values with units. Nothing here ever returns an
individual incident: counts are per cell, and in public mode small counts
(and values computed from them, such as the share after dark) are suppressed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from hotspot_env import settings
from hotspot_env.outputs.privacy import publish_array, published_counts

if TYPE_CHECKING:
    from hotspot_env.core.analysis import Analysis

#: How the risk terrain model names youth spaces in its "why" texts (``rtm.DISPLAY_NAMES``).
_YOUTH_NAMES = ("youth and community spaces within", "youth spaces within")
#: Factors that are youth and community spaces (``rtm.DISPLAY_NAMES`` keys).
YOUTH_FACTORS = frozenset({"access", "youth"})
_RRV = re.compile(r"\(RRV ([0-9][0-9.,]*)\)")


def plain_why(text: str) -> str:
    """A "why" text as people read it: the first RRV explained, youth spaces not called a risk.

    The risk terrain model writes ``vacant lot 45 m away (RRV 3.5)``; the first
    RRV becomes "3.5 times as many incidents as elsewhere". It keeps only
    features that go with more incidents, and youth and community spaces can be
    one because people gather there, while the Interventions page proposes youth
    spaces where none is within walking distance (a service gap): the text says
    the gathering, so the two do not read as a contradiction. Display only:
    the files keep the model's words.
    """
    for name in _YOUTH_NAMES:
        text = text.replace(name, "people gathering at " + name)
    return _RRV.sub(lambda m: f"({m[1]} times as many incidents as elsewhere, RRV)", text,
                    count=1)


def factor_reading(factor: str, rrv: float) -> str:
    """What a risk terrain row means in plain words: risk, protective, or where people gather."""
    if not math.isfinite(rrv):
        return "–"
    if rrv < 1:
        return (f"Protective: {1 / rrv:.1f} times fewer incidents nearby than elsewhere")
    if factor in YOUTH_FACTORS:
        return (f"Where people gather: {rrv:.1f} times as many incidents recorded nearby. "
                "Not a reason against youth spaces: the gap they fill is distance (places "
                "beyond a 10-minute walk, on the Interventions page)")
    return f"Risk factor: {rrv:.1f} times as many incidents nearby as elsewhere"

#: Per-cell values shown for a place: array key -> (label, unit, what it means).
#: Order is display order. Keys that an analysis does not have are skipped.
CELL_FIELDS: dict[str, tuple[str, str, str]] = {
    "kde": ("Incident density", "", "smoothed recorded incidents around this place"),
    "gi_z": ("Gi* z-score", "", "how unusual the counts in and around this cell are"),
    "lamp_lux": ("Modelled street light", "lux", "below 2 lux counts as dark (EN 13201 P6)"),
    "dark_share": ("Share after dark", "%", "of this cell's timed incidents, after civil dusk"),
    "sightline_m": ("Mean free sightline", "m", "how far a person on the street can see"),
    "vacant_dist_m": ("Distance to vacant land", "m", "straight line to the nearest vacant lot"),
    "youth_walk_m": ("Walk to a youth/community space", "m", "over the street network"),
    "rtm_score": ("Risk terrain score", "", "relative risk from the place's features"),
    "forecast": ("Forecast incidents", "", "expected in the next period"),
    "trend_class": ("Trend", "", "how incidents here changed over time"),
    "timing": ("When to work here", "", "hours or season with the fewest incidents"),
}

#: Values computed from a cell's own incidents: suppressed in public mode when
#: the cell has fewer than ``k`` incidents (a share of two incidents says too much).
COUNT_DERIVED: frozenset[str] = frozenset({"dark_share", "timed_incidents"})

#: Gi* bins in words.
GI_WORDS: dict[int, str] = {
    3: "hot spot (99 % confidence)", 2: "hot spot (95 % confidence)",
    1: "hot spot (90 % confidence)", 0: "not significant",
    -1: "cold spot (90 % confidence)", -2: "cold spot (95 % confidence)",
    -3: "cold spot (99 % confidence)",
}


@dataclass
class CellReport:
    """What the app shows about one cell.

    Attributes
    ----------
    cell_id : int
        Stable id (``row * n_cols + col``).
    row, col : int
        Position in the grid (row 0 at the north edge).
    centre_lat, centre_lon : float
        Centre of the cell (a place, never an incident).
    incidents : str
        Recorded incidents in the cell as they may be published (``"<5"`` in
        public mode for 1-4).
    hot_spot : str
        The Gi* class in words.
    why : str or None
        The risk terrain stage's plain-language reason, when it ran.
    values : list of dict
        ``{"key", "label", "value", "unit", "meaning"}`` with ``value`` already
        formatted as text (``"–"`` when unknown, ``"suppressed"`` in public
        mode for values computed from fewer than ``k`` incidents).
    """

    cell_id: int
    row: int
    col: int
    centre_lat: float
    centre_lon: float
    incidents: str
    hot_spot: str
    why: str | None
    values: list[dict[str, str]] = field(default_factory=list)
    street: str | None = None


def _to_grid(grid: Any):
    return Transformer.from_crs("EPSG:4326", grid.crs, always_xy=True)


def cell_at(grid: Any, lat: float, lon: float) -> tuple[int, int] | None:
    """Row and column of the cell under a longitude/latitude, or None outside the area.

    Parameters
    ----------
    grid : Grid
        The study grid.
    lat, lon : float
        WGS 84 degrees, as Leaflet reports a click.

    Returns
    -------
    tuple of int or None
        ``(row, col)``, or None when the point is outside the study area or
        not a finite coordinate.
    """
    try:
        lat_f, lon_f = float(lat), float(lon)
    except (TypeError, ValueError):
        return None
    if not (math.isfinite(lat_f) and math.isfinite(lon_f)):
        return None
    x, y = _to_grid(grid).transform(lon_f, lat_f)
    row, col = grid.cell_index(np.array([x]), np.array([y]))
    if row[0] < 0:
        return None
    return int(row[0]), int(col[0])


def cell_centre_lonlat(grid: Any, row: int, col: int) -> tuple[float, float]:
    """Longitude and latitude of a cell's centre."""
    x = grid.x0 + (col + 0.5) * grid.cell_size
    y = grid.bounds[3] - (row + 0.5) * grid.cell_size
    lon, lat = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True).transform(x, y)
    return float(lon), float(lat)


def cell_from_id(grid: Any, cell_id: int) -> tuple[int, int] | None:
    """Row and column of ``cell_id``, or None if it is not a cell of the study area."""
    try:
        cid = int(cell_id)
    except (TypeError, ValueError):
        return None
    if not 0 <= cid < grid.n_rows * grid.n_cols:
        return None
    row, col = divmod(cid, grid.n_cols)
    return (row, col) if bool(grid.mask[row, col]) else None


def per_cell_values(analysis: Analysis) -> dict[str, np.ndarray]:
    """Every per-cell array of an analysis: ``arrays`` first, then factor values.

    Factor results (``analysis.factors``, each with a ``values`` dict) are
    included for keys ``arrays`` does not already hold, so the app shows
    factors whether or not a stage copied them into ``arrays``.
    """
    out = dict(analysis.arrays)
    for result in (analysis.factors or {}).values():
        for key, values in (getattr(result, "values", None) or {}).items():
            if key not in out and np.shape(values) == analysis.grid.shape:
                out[key] = values
    return out


def format_cell_value(value: Any, unit: str = "") -> str:
    """A per-cell value as short text with its unit (``"–"`` when unknown)."""
    if value is None:
        return "–"
    if isinstance(value, str):
        return value
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(v):
        return "–"
    if math.isinf(v):
        return "none reachable" if unit == "m" else "∞"
    if unit == "%":
        return f"{v * 100:.0f} %"
    if abs(v) >= 100:
        text = f"{v:,.0f}"
    elif abs(v) >= 1:
        text = f"{v:.1f}"
    else:
        text = f"{v:.2f}"
    return f"{text} {unit}".strip()


def describe_cell(analysis: Analysis, row: int, col: int, privacy: str | None = None) -> CellReport:
    """Everything the app may show about one cell in the given privacy mode.

    Parameters
    ----------
    analysis : Analysis
        The analysis.
    row, col : int
        The cell (see :func:`cell_at`).
    privacy : {"internal", "public"}, optional
        Default: the analysis's own mode. Public mode shows counts of 1-4 as
        ``"<5"`` and suppresses values computed from so few incidents.

    Returns
    -------
    CellReport
    """
    grid = analysis.grid
    privacy = privacy or analysis.parameters.get("privacy", "internal")
    k = int(analysis.parameters.get("k_threshold") or settings.k_threshold)
    arrays = per_cell_values(analysis)
    shown = published_counts(analysis, privacy=privacy)[row, col]
    few = privacy == "public" and str(shown) == f"<{k}"  # what is published, never the truth
    lon, lat = cell_centre_lonlat(grid, row, col)
    gi_bin = int(arrays["gi_bin"][row, col]) if "gi_bin" in arrays else 0
    why = None
    if "why" in arrays:
        text = arrays["why"][row, col]
        why = (plain_why(str(text)) if text is not None and str(text) not in ("", "nan", "None")
               else None)
    values = []
    for key, (label, unit, meaning) in CELL_FIELDS.items():
        if key not in arrays:
            continue
        raw = (publish_array(analysis, key, privacy) if key in analysis.kinds
               else arrays[key])[row, col]
        text = f"suppressed (fewer than {k} incidents)" if (
            few and key in COUNT_DERIVED) else format_cell_value(raw, unit)
        if key == "kde" and text != "–":
            text = f"{text} {analysis.parameters.get('kde_units', '')}".strip()
        values.append({"key": key, "label": label, "value": text, "unit": unit,
                       "meaning": meaning})
    return CellReport(int(row * grid.n_cols + col), int(row), int(col), lat, lon,
                      str(shown), GI_WORDS.get(gi_bin, str(gi_bin)), why, values,
                      nearest_street(analysis, [(row, col)])[0])


def nearest_street(analysis: Analysis, cells: list[tuple[int, int]],
                   max_m: float = 60.0) -> list[str | None]:
    """Name of the nearest named OSM street to each cell centre (None beyond ``max_m``)."""
    streets = analysis.layer("streets")
    if streets is None or not len(streets) or "name" not in streets.columns or not cells:
        return [None] * len(cells)
    named = streets[streets["name"].notna() & (streets["name"].astype(str) != "")]
    if named.empty:
        return [None] * len(cells)
    grid = analysis.grid
    rows = np.array([rc[0] for rc in cells])
    cols = np.array([rc[1] for rc in cells])
    x = grid.x0 + (cols + 0.5) * grid.cell_size
    y = grid.bounds[3] - (rows + 0.5) * grid.cell_size
    tree = shapely.STRtree(named.geometry.to_numpy())
    (src, dst), _ = tree.query_nearest(shapely.points(x, y), max_distance=max_m,
                                       return_distance=True, all_matches=False)
    out: list[str | None] = [None] * len(cells)
    names = named["name"].astype(str).to_numpy()
    for i, j in zip(src.tolist(), dst.tolist(), strict=True):
        out[i] = names[j]
    return out


def top_places(analysis: Analysis, n: int = 10, privacy: str | None = None) -> pd.DataFrame:
    """The ``n`` cells with the highest risk terrain score (or density), for discussion.

    Columns: ``cell_id``, ``street`` (nearest named street), ``incidents`` (as
    publishable in ``privacy`` mode), ``score`` and ``why`` when available.
    """
    privacy = privacy or analysis.parameters.get("privacy", "internal")
    arrays = per_cell_values(analysis)
    key = "rtm_score" if "rtm_score" in arrays else "kde"
    if key == "rtm_score":  # a flat score (no factor varied) would list the grid's corner
        finite = np.asarray(arrays[key], dtype=float)[analysis.grid.mask]
        finite = finite[np.isfinite(finite)]
        if finite.size == 0 or np.ptp(finite) == 0:
            key = "kde"
    shown = publish_array(analysis, key, privacy) if key in analysis.kinds else arrays[key]
    score = np.where(analysis.grid.mask, np.asarray(shown, dtype=float), np.nan)
    flat = np.where(np.isfinite(score.ravel()), score.ravel(), -np.inf)
    order = np.argsort(-flat, kind="stable")[:n]
    order = order[np.isfinite(flat[order])]
    rows, cols = np.divmod(order, analysis.grid.n_cols)
    table = pd.DataFrame({
        "cell_id": order.astype(np.int64),
        "street": nearest_street(analysis, list(zip(rows.tolist(), cols.tolist(),
                                                    strict=True))),
        "incidents": published_counts(analysis, privacy=privacy)[rows, cols].astype(str),
        ("risk score" if key == "rtm_score" else "density"): np.round(flat[order], 2),
    })
    if "why" in arrays:
        table["why"] = [plain_why(str(arrays["why"][r, c]))
                        for r, c in zip(rows, cols, strict=True)]
    return table
