"""Plain-language reasons why each cell carries risk (places, never people).

Each piece of text depends on one number per cell (a distance, a count) and
takes few distinct values, so pieces are coded per study-area cell and only
the distinct texts and combinations are formatted (:class:`_Pieces`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from hotspot_env import settings
from hotspot_env.core.grid import Grid
from hotspot_env.models.rtm._geometry import sample_lines
from hotspot_env.models.rtm.constants import DEFAULT_BLOCK_LENGTH_M, DISPLAY_NAMES, TABLE_COLUMNS
from hotspot_env.models.rtm.result import RTMResult


def segments_per_cell(grid: Grid, lines: Any) -> np.ndarray:
    """Number of distinct line features passing through each cell (int, ``grid.shape``).

    Each line is sampled every quarter cell; a line counts once in every cell
    holding one of its samples (a line that only clips a cell corner by less
    than a quarter cell may be missed there).
    """
    frame = lines.geometry if isinstance(lines, gpd.GeoDataFrame) else lines
    arr = np.asarray(getattr(frame, "values", frame), dtype=object)
    arr = arr[~shapely.is_missing(arr) & ~shapely.is_empty(arr)] if arr.size else arr
    out = np.zeros(grid.shape, dtype=np.int64)
    if arr.size == 0:
        return out
    owner = np.repeat(np.arange(arr.size), shapely.get_num_geometries(arr))
    parts = shapely.get_parts(arr)
    keep = np.isin(shapely.get_type_id(parts), (1, 2))
    parts, owner = parts[keep], owner[keep]
    if parts.size == 0:
        return out
    x, y, line, _ = sample_lines(parts, grid.cell_size / 4.0)
    row, col = grid.cell_index(x, y)
    ok = row >= 0
    pairs = np.unique(owner[line[ok]] * (grid.n_rows * grid.n_cols)
                      + row[ok] * grid.n_cols + col[ok])
    cells = pairs % (grid.n_rows * grid.n_cols)
    return np.bincount(cells, minlength=grid.n_rows * grid.n_cols).reshape(grid.shape)


def _fmt_dist(d: np.ndarray) -> np.ndarray:
    """'60 m' below 1 km (10 m steps above 100 m), else '1.4 km'."""
    d = np.asarray(d, float)
    metres = np.where(d < 100, np.round(d), np.round(d / 10) * 10)
    short = np.strings.mod("%d m", np.nan_to_num(metres).astype(np.int64))
    long = np.strings.mod("%.1f km", np.nan_to_num(d) / 1000.0)
    return np.where(metres < 1000, short, long).astype(np.dtypes.StringDType())


def _dist_key(d: np.ndarray) -> np.ndarray:
    """Distances merged where :func:`_fmt_dist` gives the same text.

    ``_fmt_dist(_dist_key(d)) == _fmt_dist(d)``, with far fewer distinct
    values: the displayed metres below 1 km, the distance itself above.
    """
    d = np.asarray(d, float)
    metres = np.where(d < 100, np.round(d), np.round(d / 10) * 10)
    return np.where(metres < 1000, metres, d)


def _fmt_rrv(rrv: float) -> str:
    return f" (RRV {rrv:.1f})" if rrv < 9.95 else f" (RRV {rrv:.0f})"


def explain(
    grid: Grid,
    result: RTMResult | None = None,
    factors: dict[str, Any] | None = None,
    counts: np.ndarray | None = None,
    *,
    k_threshold: int | None = None,
    dark_lux: float | None = None,
    youth_gap_m: float | None = None,
) -> np.ndarray:
    """Plain-language reason why each cell carries risk.

    Only what applies to a cell is mentioned, in this order:

    * dark street segments touching the cell (lighting factor layer), e.g.
      "3 dark street segments (below 2 lux)";
    * the nearest vacant feature when it is within the vacancy factor's
      selected distance (else two block lengths), e.g. "vacant lot 60 m away";
    * the share of the cell's timed incidents after dark, when at least half
      and the cell has at least ``k_threshold`` incidents (so no single
      incident's time can be read off);
    * sightlines among the shortest tenth of the area's cells;
    * the walk to the nearest youth space when longer than ``youth_gap_m``;
    * every other selected RTM factor present in the cell ("bars within
      100 m", "dense cluster of kiosks").

    A factor kept by the risk terrain model carries its RRV in brackets where
    its indicator is on. Cells with none of these read "no measured risk
    factor stands out here"; cells outside the study area are empty. Texts
    describe places only, never people.

    Parameters
    ----------
    grid : Grid
        The study grid.
    result : RTMResult, optional
        The fitted model (RRVs and indicators).
    factors : dict of str to FactorResult, optional
        Factor results (``values`` arrays and the lighting ``layer``).
    counts : ndarray, optional
        Incidents per cell (for the after-dark share's minimum count).
    k_threshold : int, optional
        Minimum incidents for an after-dark share (default
        :data:`settings.k_threshold`).
    dark_lux : float, optional
        Lux below which a segment is dark (default :data:`settings.dark_lux`).
    youth_gap_m : float, optional
        Walk (m) beyond which the youth-space distance is mentioned (default
        :data:`settings.youth_walk_threshold_m`).

    Returns
    -------
    ndarray of object (str), ``grid.shape``
    """
    k_threshold = settings.k_threshold if k_threshold is None else k_threshold
    dark_lux = settings.dark_lux if dark_lux is None else dark_lux
    youth_gap_m = settings.youth_walk_threshold_m if youth_gap_m is None else youth_gap_m
    factors = factors or {}
    table = result.table if result is not None else pd.DataFrame(columns=list(TABLE_COLUMNS))
    rows_by = {r.factor: r for r in table.itertuples()}
    pieces = _Pieces(grid, result, table)
    values = _FactorValues(factors)
    bl = result.block_length_m if result is not None else DEFAULT_BLOCK_LENGTH_M
    _dark_segments(pieces, factors.get("lighting"), dark_lux)
    _vacant_land(pieces, values, rows_by, bl)
    _after_dark(pieces, values, counts, k_threshold)
    _short_sightlines(pieces, values)
    _far_youth_space(pieces, values, youth_gap_m)
    _other_factors(pieces, rows_by)
    return pieces.texts()


@dataclass
class _FactorValues:
    """Per-cell values of the factor results (``values`` arrays), and the factor of each."""

    factors: dict[str, Any]
    owner: dict[str, str] = field(default_factory=dict)
    values: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.owner = {key: name for name, fr in self.factors.items()
                      for key in getattr(fr, "values", {})}
        self.values = {key: np.asarray(fr.values[key], float)
                       for fr in self.factors.values() for key in getattr(fr, "values", {})}


class _Pieces:
    """Text pieces coded per study-area cell (0 = absent), joined once per combination."""

    def __init__(self, grid: Grid, result: RTMResult | None, table: pd.DataFrame) -> None:
        self.grid = grid
        self.mask = grid.mask
        self.none = np.zeros(grid.shape, bool)
        self.rrv = {r.factor: float(r.rrv) for r in table.itertuples()}
        self.on = {name: (result.indicators.get(name, self.none) if result else self.none)
                   for name in self.rrv}
        self.pieces: list[tuple[np.ndarray, list[str]]] = []
        self.covered: dict[str, np.ndarray] = {}

    def add(self, where: np.ndarray, keys: np.ndarray | float,
            label: Callable[[np.ndarray], list[str]], name: str) -> None:
        """Add ``label(key)`` where ``where``, with the factor's RRV where its indicator is on."""
        mask, none = self.mask, self.none
        where = where & mask
        rated = where & self.on.get(name, none)
        sel = where[mask]
        uniq, inv = np.unique(np.broadcast_to(keys, self.grid.shape)[where], return_inverse=True)
        ids: dict[str, int] = {}  # distinct keys can give the same text (60.2 m, 60.4 m)
        text_id = np.array([ids.setdefault(str(t), len(ids)) for t in label(uniq)], np.int64)
        texts = list(ids)
        sfx = _fmt_rrv(self.rrv[name]) if name in self.rrv else ""
        code = np.zeros(sel.size, np.int64)
        code[sel] = 1 + text_id[inv.ravel()] + len(texts) * rated[where]
        self.pieces.append((code, ["", *texts, *(t + sfx for t in texts)]))
        self.covered[name] = self.covered.get(name, none) | rated

    def texts(self) -> np.ndarray:
        """The pieces of each cell joined (each distinct combination once), ``grid.shape``."""
        mask, pieces = self.mask, self.pieces
        combo = np.zeros(int(mask.sum()), np.int64)
        for code, tab in pieces:  # one integer per distinct combination so far
            combo = np.unique(combo * len(tab) + code, return_inverse=True)[1].ravel()
        first = np.unique(combo, return_index=True)[1]
        texts = [", ".join(t for t in (tab[code[i]] for code, tab in pieces) if t)
                 or "no measured risk factor stands out here" for i in first.tolist()]
        out = np.full(self.grid.shape, "", dtype=object)
        out[mask] = np.array(texts, dtype=object)[combo]
        return out


def _dark_segments(pieces: _Pieces, light: Any, dark_lux: float) -> None:
    """Dark street segments touching the cell (the lighting factor's layer)."""
    layer = getattr(light, "layer", None)
    if layer is not None and len(layer):
        n_dark = segments_per_cell(pieces.grid, layer)
        pieces.add(n_dark > 0, n_dark, lambda n: [
            f"{k} dark street segment{'' if k == 1 else 's'} (below {dark_lux:g} lux)"
            for k in n.tolist()], "lighting")


def _vacant_land(pieces: _Pieces, fv: _FactorValues, rows_by: dict[str, Any], bl: float
                 ) -> None:
    """The nearest vacant feature within the vacancy factor's distance (else two blocks)."""
    if "vacant_dist_m" not in fv.values:
        return
    name = fv.owner["vacant_dist_m"]
    d = fv.values["vacant_dist_m"]
    row = rows_by.get(name)
    limit = float(row.distance_m) if row is not None and row.operation == "proximity" else (
        2 * bl)
    pieces.add(np.isfinite(d) & (d <= limit), d, lambda u: np.where(
        u <= 0, "vacant land in this cell",
        np.strings.add(np.strings.add("vacant lot ", _fmt_dist(u)), " away")), name)


def _after_dark(pieces: _Pieces, fv: _FactorValues, counts: np.ndarray | None,
                k_threshold: int) -> None:
    """The share of timed incidents after dark: at least half, in cells of ``k_threshold``+."""
    if "dark_share" not in fv.values:
        return
    share = fv.values["dark_share"]
    enough = (np.asarray(counts) >= k_threshold) if counts is not None else pieces.none
    pct = np.round(np.nan_to_num(share) * 100).astype(np.int64)
    pieces.add(np.isfinite(share) & (share >= 0.5) & enough, pct,
               lambda u: [f"{p} % of incidents after dark" for p in u.tolist()],
               fv.owner["dark_share"])


def _short_sightlines(pieces: _Pieces, fv: _FactorValues) -> None:
    """Sightlines among the shortest tenth of the area's cells."""
    if "sightline_m" not in fv.values:
        return
    sl = fv.values["sightline_m"]
    finite = np.isfinite(sl) & pieces.mask
    if finite.sum() >= 10:
        cut = float(np.quantile(sl[finite], 0.10))
        pieces.add(finite & (sl <= cut), _dist_key(sl),
                   lambda u: np.strings.add("sightlines only ", _fmt_dist(u)),
                   fv.owner["sightline_m"])


def _far_youth_space(pieces: _Pieces, fv: _FactorValues, youth_gap_m: float) -> None:
    """The walk to the nearest youth space, when longer than ``youth_gap_m``."""
    if "youth_walk_m" not in fv.values:
        return
    walk = fv.values["youth_walk_m"]
    pieces.add(np.isfinite(walk) & (walk > youth_gap_m), _dist_key(walk),
               lambda u: np.strings.add(np.strings.add("nearest youth space ", _fmt_dist(u)),
                                        " walk"), fv.owner["youth_walk_m"])


def _other_factors(pieces: _Pieces, rows_by: dict[str, Any]) -> None:
    """Every other selected factor present in the cell, where no piece above named it."""
    for name, row in rows_by.items():
        where = pieces.on[name] & ~pieces.covered.get(name, pieces.none)
        if not where.any():
            continue
        label = DISPLAY_NAMES.get(name, name.replace("_", " "))
        if row.operation == "proximity":
            text = f"{label} within {_fmt_dist(np.array([row.distance_m]))[0]}"
        else:
            text = f"dense cluster of {label}"
        pieces.add(where, 0.0, lambda _, text=text: [text], name)
