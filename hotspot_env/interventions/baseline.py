"""The baseline: expected incidents per cell next year, split into strata.

The harm an intervention can act on is the expected number of incidents in
its reach over the next year: ``arrays["forecast"]`` (expected incidents per
cell next year) when the forecast stage ran, else ``kde x cell area`` (the KDE
is in incidents per km² per year). Each cell's baseline is split into
**strata** = incident category group x time class, with shares taken from the
incidents recorded in and around the cell (:func:`build_baseline`):

* category groups: ``gun_violence``, ``violence`` (other than gun violence),
  ``robbery``, ``burglary``, ``theft``, ``vandalism``, ``drugs``, ``disorder``,
  ``other`` (incident categories are mapped by keyword, :data:`CATEGORY_KEYWORDS`);
* time classes: dark or not (sun below -6 deg at the incident's place and
  moment, :func:`hotspot_env.factors.darkness.light_classes`) x inside or
  outside each local-hour window the evidence uses (e.g. ``15-19``).

An evidence row applies only to the strata its ``crime_categories`` and
``hours`` cover, so lighting acts only on the share of incidents in darkness
*at that place*. A row with ``places = outdoor`` (Chalfin et al.'s outdoor
night-time crimes) acts only on each cell's **outdoor share**: the share of the
incidents around the cell whose boolean ``outdoor`` column (from a
premise/location field) is True, else the study area's, else the announced
:data:`DEFAULT_OUTDOOR_SHARE` when no incident says where it happened. Rows
that are not ``active`` (``unverified``, or a subgroup such as
``below_poverty`` without a layer saying where it holds) are not applied at
all. Incidents without a time of day take the time-class mix of the timed
incidents in the same window of cells, else of the study area, else
(no timed incident at all) the share of the year's hours that are dark at the
study area's centre; incidents without a category likewise take the known mix.
Public mode gives every cell the study area's mix, from k-suppressed stratum
counts rounded to 10, tilted at each cell to the darkness factor's published
dark share where it has one (:mod:`hotspot_env.interventions.public_mix`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely

from hotspot_env import settings
from hotspot_env.core.choices import Choice, announce
from hotspot_env.core.grid import Grid
from hotspot_env.errors import InputError
from hotspot_env.interventions.incident_times import (
    incident_times,
    months_on_record,
    prior_time,
)
from hotspot_env.interventions.public_mix import (
    area_tallies,
    is_public,
    place_shares,
    protected_area_tally,
    public_outdoor_share,
)
from hotspot_env.interventions.strata import CATEGORY_GROUPS, map_categories, time_class
from hotspot_env.outputs.privacy import public_tally

if TYPE_CHECKING:
    from hotspot_env.core.analysis import Analysis

#: (1 = the 3x3 block). Public mode widens it to the KDE bandwidth.
SHARE_WINDOW_CELLS: int = 1

#: Share of incidents taken to be outdoors when no incident has an ``outdoor``
#: value (no premise/location field): an assumption, announced whenever an
#: ``outdoor`` evidence row is used. Half is a neutral guess, not a measured
#: figure; pass ``outdoor_share`` to the stage with a local figure.
DEFAULT_OUTDOOR_SHARE: float = 0.5

#: Number of category groups.
_G = len(CATEGORY_GROUPS)


@dataclass
class StrataBaseline:
    """Expected incidents per cell next year, split into strata.

    Attributes
    ----------
    grid : Grid
        The study grid.
    baseline : ndarray
        ``grid.shape``: expected incidents per cell per year (0 outside the area).
    windows : tuple of (int, int)
        Local-hour windows the time classes distinguish.
    cells : ndarray of int64
        Flat indices (``row * n_cols + col``) of cells with a positive baseline.
    shares : scipy.sparse.csr_matrix
        ``(len(cells), n_strata)``: each cell's share of its baseline per
        stratum (rows sum to 1).
    notes : dict
        Provenance for the manifest and reasons (``baseline_source``,
        ``time_source``, ``dark_share_area``...).
    choices : list of Choice
        What was assumed, announced.
    outdoor : ndarray or None
        Share of each kept cell's incidents outdoors (aligned with
        :attr:`cells`); None means :data:`DEFAULT_OUTDOOR_SHARE` everywhere.
    """

    grid: Grid
    baseline: np.ndarray
    windows: tuple[tuple[int, int], ...]
    cells: np.ndarray
    shares: sp.csr_matrix
    notes: dict[str, Any] = field(default_factory=dict)
    choices: list[Choice] = field(default_factory=list)
    outdoor: np.ndarray | None = None

    def outdoor_share(self, pos: np.ndarray) -> np.ndarray:
        """Outdoor share at positions ``pos`` of :attr:`cells`."""
        if self.outdoor is None:
            share = float(self.notes.get("outdoor_share_area", DEFAULT_OUTDOOR_SHARE))
            return np.full(np.shape(pos), share)
        return self.outdoor[pos]

    @property
    def n_time(self) -> int:
        """Number of time classes."""
        return 2 ** (1 + len(self.windows))

    @property
    def n_strata(self) -> int:
        """Number of strata (category groups x time classes)."""
        return _G * self.n_time

    def cell_position(self, flat: np.ndarray) -> np.ndarray:
        """Position of flat cell indices in :attr:`cells`; -1 where the baseline is 0."""
        flat = np.asarray(flat, dtype=np.int64)
        pos = np.searchsorted(self.cells, flat)
        pos = np.minimum(pos, max(len(self.cells) - 1, 0))
        ok = (len(self.cells) > 0) & (self.cells[pos] == flat) if len(self.cells) else np.zeros(
            flat.shape, dtype=bool)
        return np.where(ok, pos, -1)

    def dark_share(self) -> np.ndarray:
        """Share of each kept cell's baseline in darkness (aligned with :attr:`cells`)."""
        dark = (np.arange(self.n_strata) % self.n_time) & 1 == 1
        return np.asarray(self.shares[:, dark].sum(axis=1)).ravel()

    def covered_share(self, strata_mask: np.ndarray) -> np.ndarray:
        """Share of each kept cell's baseline in the given strata."""
        return np.asarray(self.shares[:, np.flatnonzero(strata_mask)].sum(axis=1)).ravel()


def build_baseline(
    analysis: Analysis,
    windows: Sequence[tuple[int, int]] = (),
    *,
    timezone: str | None = None,
    default_category: str | None = None,
    category_map: dict[str, str] | None = None,
    window_cells: int | None = None,
    outdoor_share: float | None = None,
    outdoor_rows: bool = True,
) -> StrataBaseline:
    """Split each cell's expected incidents into strata (see the module docstring).

    Parameters
    ----------
    analysis : Analysis
        Uses ``grid``, ``arrays["forecast"]`` or ``arrays["kde"]``, ``points``
        (``category``, ``datetime``, ``time_known``) and ``parameters``.
    windows : sequence of (int, int)
        Local-hour windows used by the evidence (e.g. ``[(15, 19)]``).
    timezone : str, optional
        IANA zone for local hours (default ``parameters["timezone"]``, else
        local mean solar time from the longitude, announced).
    default_category : str, optional
        Group for incidents without a category when *no* incident has one
        (e.g. ``"violence"`` for a homicide file); default ``"other"``.
    category_map : dict, optional
        Exact incident category -> group (see :func:`map_categories`).
    window_cells : int, optional
        Half-width (cells) of the block whose incidents give a cell's shares
        (default :data:`SHARE_WINDOW_CELLS`; public mode: at least the KDE
        bandwidth).
    outdoor_share : float, optional
        Share of incidents outdoors where no incident has an ``outdoor``
        value (default :data:`DEFAULT_OUTDOOR_SHARE`, announced).
    outdoor_rows : bool
        Whether any evidence row acts on outdoor incidents only (else the
        outdoor shares are neither computed nor announced).

    Returns
    -------
    StrataBaseline
    """
    grid = analysis.grid
    params = analysis.parameters
    windows = tuple(sorted({(int(a), int(b)) for a, b in windows}))
    choices: list[Choice] = []
    notes: dict[str, Any] = {}
    if default_category is not None and default_category not in CATEGORY_GROUPS:
        raise InputError(f"default category {default_category!r} is not one of "
                         f"{', '.join(CATEGORY_GROUPS)}")
    base = _cell_baseline(analysis, notes, choices)
    timezone = timezone or params.get("timezone")
    tally = _tally_incidents(analysis, windows, timezone, category_map)
    default_g = CATEGORY_GROUPS.index(default_category or "other")
    if tally.n_category_known == 0:
        choices.append(announce(Choice(
            "incident_category_default", CATEGORY_GROUPS[default_g],
            "no incident has a category, so all count as this group: evidence for other "
            "categories does not apply (pass default_category to change it)")))
    public = is_public(analysis)
    if public:  # one area mix from protected, rounded code counts (public_mix)
        tally.area = protected_area_tally(analysis, tally.area, choices)
        notes.update(area_tallies(tally.area, tally.n_time))
    else:
        notes.update(incidents=public_tally(analysis, int(tally.inside.sum())),
                     category_known=public_tally(analysis, tally.n_category_known),
                     time_known=public_tally(analysis, int(tally.timed.sum())))
    area_mix = _area_mix(analysis, tally, windows, timezone, default_g, notes, choices)
    radius = _share_radius(window_cells, params, grid)
    notes["share_window_cells"] = radius
    cells = np.flatnonzero(base.ravel() > 0).astype(np.int64)
    shares = (place_shares(analysis, area_mix.share, cells, tally.n_time, choices) if public
              else _cell_shares(tally, area_mix, cells, grid, radius))
    outdoor = None
    if outdoor_rows:
        outdoor = _outdoor_shares(  # radius -1: the study area's share (public_mix)
            analysis.points, tally.flat, tally.inside, grid, cells, -1 if public else radius,
            outdoor_share, notes, choices, k=analysis.protection.k if public else 5)
    return StrataBaseline(grid, base, windows, cells, shares, notes, choices, outdoor)


def _cell_baseline(analysis: Analysis, notes: dict[str, Any], choices: list[Choice]
                   ) -> np.ndarray:
    """Expected incidents per cell per year: the forecast when it ran, else KDE x cell area."""
    grid = analysis.grid
    if "forecast" in analysis.arrays:
        base = np.asarray(analysis.arrays["forecast"], dtype=float)
        notes["baseline_source"] = "forecast (expected incidents per cell next year)"
    else:
        base = np.asarray(analysis.arrays["kde"], dtype=float) * grid.cell_area_km2
        per = "year" if analysis.parameters.get("period_years") else "recorded period (no dates)"
        notes["baseline_source"] = f"KDE x cell area (incidents per cell per {per})"
    base = np.where(grid.mask & np.isfinite(base), np.maximum(base, 0.0), 0.0)
    choices.append(announce(Choice("intervention_baseline", notes["baseline_source"],
                                   "expected incidents the interventions can act on")))
    return base


@dataclass
class _Tally:
    """Incidents counted per cell and code (see :func:`_tally_incidents`)."""

    flat: np.ndarray
    inside: np.ndarray
    timed: np.ndarray
    n_category_known: int
    tz_rule: str
    n_time: int
    counts: sp.csr_matrix
    area: np.ndarray

    @property
    def n_strata(self) -> int:
        """Number of strata (category groups x time classes)."""
        return _G * self.n_time


def _tally_incidents(analysis: Analysis, windows: tuple[tuple[int, int], ...],
                     timezone: str | None, category_map: dict[str, str] | None) -> _Tally:
    """Each incident's cell, category group and time class, counted per cell and code.

    Codes: known category and time -> ``g * T + t``; category only -> ``S + g``; time only
    -> ``S + G + t``; neither -> ``S + G + T`` (``S`` strata, ``G`` groups, ``T`` classes),
    so the unknowns can be spread later by the local mixes.
    """
    grid = analysis.grid
    points = analysis.points
    n = len(points)
    geoms = points.geometry.to_numpy()
    xs, ys = shapely.get_x(geoms), shapely.get_y(geoms)
    row, col = grid.cell_index(xs, ys)
    inside = row >= 0
    flat_pt = np.where(inside, row * grid.n_cols + col, -1)
    groups = map_categories(points["category"] if "category" in points else [None] * n,
                            category_map)
    n_time = 2 ** (1 + len(windows))
    n_strata = _G * n_time
    dark, hours, timed, tz_rule = incident_times(points, timezone, (xs, ys))
    tcls = np.where(timed, time_class(dark, np.nan_to_num(hours), windows), -1)
    code = np.where((groups >= 0) & (tcls >= 0), groups * n_time + tcls,
                    np.where(groups >= 0, n_strata + groups,
                             np.where(tcls >= 0, n_strata + _G + tcls, n_strata + _G + n_time)))
    k_codes = n_strata + _G + n_time + 1
    size = grid.n_rows * grid.n_cols
    counts = sp.csr_matrix((np.ones(int(inside.sum())), (flat_pt[inside], code[inside])),
                           shape=(size, k_codes))
    counts.sum_duplicates()
    area = np.asarray(counts.sum(axis=0)).ravel()
    return _Tally(flat_pt, inside, timed, int((groups >= 0).sum()), tz_rule, n_time, counts,
                  area)


@dataclass
class _AreaMix:
    """The study area's time-class mix, category mix and strata shares (the fallbacks)."""

    p_time: np.ndarray
    p_cat: np.ndarray
    share: np.ndarray


def _area_mix(analysis: Analysis, tally: _Tally, windows: tuple[tuple[int, int], ...],
              timezone: str | None, default_g: int, notes: dict[str, Any],
              choices: list[Choice]) -> _AreaMix:
    """Area-level mixes; without any timed incident, the time mix is the hours of darkness."""
    n_time, n_strata = tally.n_time, tally.n_strata
    a_area, bc_area, ct_area, d_area = _split(tally.area[None, :], n_time)
    timed_area = a_area.sum(1) + ct_area
    if timed_area.sum() > 0:
        p_time_area = timed_area[0] / timed_area.sum()
        notes["time_source"] = "incident times"
    else:
        p_time_area = prior_time(analysis, windows, timezone)
        notes["time_source"] = "hours of darkness at the study area (no incident has a time)"
        which = ("hours of the months on record (weighted by their incidents)"
                 if months_on_record(analysis) else "year's hours")
        choices.append(announce(Choice(
            "darkness_share_prior", round(float(p_time_area[1::2].sum()), 3),
            f"no incident has a time of day, so the share in darkness is the share of the "
            f"{which} that are dark at the study area's centre (sun below -6 deg)")))
    known_area = a_area.sum(2) + bc_area
    p_cat_area = (known_area[0] / known_area.sum() if known_area.sum() > 0
                  else np.eye(_G)[default_g])
    m_area = _mix(a_area, bc_area, ct_area, d_area, p_time_area[None], p_cat_area[None])[0]
    share_area = m_area.ravel() / m_area.sum() if m_area.sum() > 0 else np.full(
        n_strata, 1.0 / n_strata)
    inside, timed = tally.inside, tally.timed
    n_untimed = int(inside.sum() - (timed & inside).sum())
    if 0 < n_untimed and timed_area.sum() > 0:
        choices.append(announce(Choice(
            "incidents_time_imputed", n_untimed,
            "incidents without a time of day take the darkness and hour mix of the timed "
            "incidents around the same cell (else of the whole area); never guessed one by one")))
    notes["dark_share_area"] = float(share_area.reshape(_G, n_time)[:, 1::2].sum())
    notes["tz_rule"] = tally.tz_rule
    return _AreaMix(p_time_area, p_cat_area, share_area)


def _share_radius(window_cells: int | None, params: dict[str, Any], grid: Grid) -> int:
    """Half-width (cells) of the block whose incidents give a cell's shares.

    Public mode widens the default to the KDE bandwidth, so no cell's mix rests on the
    few incidents of that cell alone.
    """
    radius = window_cells
    if radius is None:
        radius = SHARE_WINDOW_CELLS
        if params.get("privacy") == "public":
            bw = float(params.get("bandwidth_m") or settings.public_min_bandwidth_m)
            radius = max(radius, int(math.ceil(bw / grid.cell_size)))
    return max(0, int(radius))


def _cell_shares(tally: _Tally, area_mix: _AreaMix, cells: np.ndarray, grid: Grid,
                 radius: int) -> sp.csr_matrix:
    """Each kept cell's strata shares, from the incidents over its block of cells."""
    n_time, n_strata = tally.n_time, tally.n_strata
    blocks = []
    # window counts are whole numbers, so summing them by a 0/1 matrix product (BLAS)
    # is exact and much faster than reducing the middle axis of (cells, groups, times)
    by_time = np.tile(np.eye(n_time), (_G, 1))
    by_cat = np.repeat(np.eye(_G), n_time, axis=0)
    # the local time and category mixes only spread incidents of unknown time or
    # category; when every incident has both they multiply zeros, so skip them
    unknowns = bool(tally.area[n_strata:].any())
    p_time = p_cat = None
    for part, window in _window_sums(tally.counts, cells, grid, radius):
        a, bc, ct, d = _split(window, n_time)
        if unknowns:
            flat_a = window[:, :n_strata]
            timed_c = flat_a @ by_time + ct
            tot_t = timed_c.sum(1, keepdims=True)
            p_time = np.where(tot_t > 0, timed_c / np.maximum(tot_t, 1e-300),
                              area_mix.p_time[None])
            known_c = flat_a @ by_cat + bc
            tot_c = known_c.sum(1, keepdims=True)
            p_cat = np.where(tot_c > 0, known_c / np.maximum(tot_c, 1e-300),
                             area_mix.p_cat[None])
        m = _mix(a, bc, ct, d, p_time, p_cat).reshape(len(part), n_strata)
        tot = m.sum(1, keepdims=True)
        share = np.where(tot > 0, m / np.maximum(tot, 1e-300), area_mix.share[None])
        # CSR parts straight from the mask (what csr_matrix(share) does, without a copy per
        # block and a final vstack); shares below 1e-12 are dropped
        nonzero = share >= 1e-12
        blocks.append((share[nonzero], np.nonzero(nonzero)[1], nonzero.sum(axis=1)))
    data = np.concatenate([b[0] for b in blocks]) if blocks else np.zeros(0)
    index = np.int32 if data.size < 2**31 else np.int64
    indices = (np.concatenate([b[1] for b in blocks]) if blocks else np.zeros(0)).astype(index)
    indptr = np.zeros(len(cells) + 1, dtype=index)
    if blocks:
        np.cumsum(np.concatenate([b[2] for b in blocks]), out=indptr[1:])
    return sp.csr_matrix((data, indices, indptr), shape=(len(cells), n_strata))


def _outdoor_shares(
    points: gpd.GeoDataFrame, flat_pt: np.ndarray, inside: np.ndarray, grid: Grid,
    cells: np.ndarray, radius: int, default: float | None, notes: dict[str, Any],
    choices: list[Choice], k: int = 5,
) -> np.ndarray | None:
    """Per-cell share of incidents outdoors, from the points' boolean ``outdoor`` column.

    Counted over the same block of cells as the strata shares; cells whose
    block has no incident with a known place take the study area's share.
    Returns None (and records the announced default) when no incident has one.
    ``radius < 0`` (public mode) also returns None, with the study area's share
    of the k-suppressed, rounded counts (:func:`public_outdoor_share`).
    """
    from scipy.ndimage import uniform_filter

    known = np.zeros(len(points), dtype=bool)
    out = np.zeros(len(points), dtype=bool)
    if "outdoor" in points:
        values = pd.Series(points["outdoor"].to_numpy(), dtype="boolean")
        known = values.notna().to_numpy(dtype=bool)
        out = values.fillna(False).to_numpy(dtype=bool)
    known = known & inside
    if not known.any():
        share = DEFAULT_OUTDOOR_SHARE if default is None else float(default)
        if not 0 <= share <= 1:
            raise InputError(f"outdoor share {share:g} must lie between 0 and 1")
        notes["outdoor_share_area"] = share
        notes["outdoor_source"] = "assumed share (no incident has an 'outdoor' value)"
        choices.append(announce(Choice(
            "outdoor_share", share,
            "no incident records whether it happened outdoors (no premise/location field), so "
            f"evidence for outdoor incidents only (new street lighting) acts on {share:.0%} of "
            "the incidents at each place: an assumption; pass outdoor_share with a local figure")))
        return None
    if radius < 0:  # public mode (see build_baseline): the area's share, from rounded counts
        return public_outdoor_share(int(known.sum()), int((known & out).sum()), k, notes,
                                    choices)
    size = grid.n_rows * grid.n_cols
    n_known = np.bincount(flat_pt[known], minlength=size).astype(float).reshape(grid.shape)
    n_out = np.bincount(flat_pt[known & out], minlength=size).astype(float).reshape(grid.shape)
    area_share = float(n_out.sum() / n_known.sum())
    width = 2 * radius + 1
    # box means x box size = box sums; counts are whole numbers, so round away float noise
    k_sum = np.round(uniform_filter(n_known, width, mode="constant") * width**2, 6).ravel()
    o_sum = np.round(uniform_filter(n_out, width, mode="constant") * width**2, 6).ravel()
    k_c, o_c = k_sum[cells], o_sum[cells]
    shares = np.where(k_c > 0, o_c / np.maximum(k_c, 1e-300), area_share)
    notes["outdoor_share_area"] = area_share
    notes["outdoor_source"] = "incidents' outdoor column"
    choices.append(announce(Choice(
        "outdoor_share", round(area_share, 3),
        f"{int(known.sum()):,} incidents say whether they happened outdoors; evidence for "
        "outdoor incidents only acts on each place's outdoor share (the study area's where "
        "no incident nearby says)")))
    return shares


def _split(w: np.ndarray, n_time: int) -> tuple[np.ndarray, ...]:
    s = _G * n_time
    a = w[:, :s].reshape(-1, _G, n_time)
    return a, w[:, s:s + _G], w[:, s + _G:s + _G + n_time], w[:, -1]


def _mix(a, bc, ct, d, p_time, p_cat) -> np.ndarray:
    """Known counts plus unknown-time/-category counts spread by the mixes.

    The terms for incidents of unknown category or time are added only in the
    rows that have such incidents: elsewhere they are exact zeros, and most
    records have both a category and a time.
    """
    out = a.copy()
    rows = np.flatnonzero(bc.any(axis=1))
    if rows.size:
        out[rows] += bc[rows, :, None] * p_time[rows, None, :]
    rows = np.flatnonzero(ct.any(axis=1))
    if rows.size:
        out[rows] += p_cat[rows, :, None] * ct[rows, None, :]
    rows = np.flatnonzero(d != 0)
    if rows.size:
        out[rows] += d[rows, None, None] * p_cat[rows, :, None] * p_time[rows, None, :]
    return out


def _window_sums(
    counts: sp.csr_matrix, cells: np.ndarray, grid: Grid, radius: int,
    max_values: int = 250_000,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Counts summed over the ``(2 radius + 1)²`` block of cells around each of ``cells``.

    Yields ``(part, sums)`` for consecutive slices ``part`` of ``cells`` (flat
    indices, ascending), ``sums`` dense ``(len(part), counts.shape[1])``. Each
    slice covers a band of grid rows: the band's counts (plus ``radius`` rows
    either side) are made dense and box-summed along rows, then columns, with
    cumulative sums, so the cost does not grow with the radius. Only columns
    with some count are summed (codes of unknown times or categories are often
    empty). The sums are of whole counts, so exact. ``max_values`` sets the
    size of a band's array.
    """
    n_cols = grid.n_cols
    active = np.flatnonzero(np.bincount(counts.indices, minlength=counts.shape[1]))
    sub = counts[:, active].tocsr()
    k = max(active.size, 1)
    side = 2 * radius + 1
    # small bands stay in cache; at least 2 radius + 1 rows, so padding is at most half
    rows_per_band = max(side, max_values // ((n_cols + side) * k) - 2 * radius)
    cell_rows = cells // n_cols
    bounds = np.searchsorted(cell_rows, np.arange(0, grid.n_rows + rows_per_band,
                                                  rows_per_band))
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        if hi <= lo:
            continue
        part = cells[lo:hi]
        r_lo, r_hi = int(cell_rows[lo]), int(cell_rows[hi - 1])
        g_lo, g_hi = max(r_lo - radius, 0), min(r_hi + radius, grid.n_rows - 1)
        # zero-padded band: a leading zero row/column, then `radius` rows/columns of
        # zeros (or neighbouring rows) around the band's cells
        padded = np.zeros((r_hi - r_lo + side + 1, n_cols + side, active.size))
        top = 1 + g_lo - (r_lo - radius)
        padded[top:top + g_hi - g_lo + 1, 1 + radius:1 + radius + n_cols] = (
            sub[g_lo * n_cols:(g_hi + 1) * n_cols].toarray().reshape(g_hi - g_lo + 1, n_cols,
                                                                     active.size))
        np.cumsum(padded, axis=0, out=padded)
        rows = padded[side:] - padded[:-side]  # sums over 2 radius + 1 rows
        np.cumsum(rows, axis=1, out=rows)
        box = rows[:, side:] - rows[:, :-side]  # ... and over 2 radius + 1 columns
        i, j = np.divmod(part, n_cols)
        out = np.zeros((part.size, counts.shape[1]))
        out[:, active] = box[i - r_lo, j]
        yield part, out
