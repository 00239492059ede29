"""Expected prevented incidents: baseline, evidence, Monte Carlo and overlap.

Baseline
--------
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

Effect
------
For candidate ``j`` acting through evidence row ``r`` on cell ``c`` and
stratum ``s``: ``prevented = base[c, s] x sigma_jc x (1 - RR_r)``, where
``sigma_jc`` is the share of the cell inside the reach buffer (``reach_m``
around the candidate's geometry) plus ``diffusion_factor`` x the share inside
the ring ``reach_m .. 2 reach_m`` (minus it for ``displacement`` rows).

Monte Carlo
-----------
``RR_r`` is lognormal with median ``rate_ratio`` and log-SD
``sigma = (ln ci_high - ln ci_low) / (2 x 1.96)``; one draw per evidence row
is shared by every candidate of that row (the effect is one unknown quantity,
so candidates' uncertainties are correlated). ``n_draws`` (default 2,000,
at least 1,000) seeded draws give the mean and the 80 % interval (10th and
90th percentiles).

Overlap
-------
Candidates reaching the same cell combine multiplicatively: the incidents
left in stratum ``s`` of cell ``c`` are ``base x prod_j (1 - sigma_jc e_j)``
with ``e_j = 1 - RR``, so the same incident is never prevented twice
(:meth:`ImpactModel.portfolio_prevented`). With full cover, ``RR 0.8`` and
``RR 0.9`` on 10 incidents prevent ``10 x (1 - 0.72) = 2.8``, not 3.0.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Sequence
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
from hotspot_env.factors.base import lonlat
from hotspot_env.interventions.evidence import EvidenceLibrary
from hotspot_env.outputs.privacy import public_tally

if TYPE_CHECKING:
    from hotspot_env.core.analysis import Analysis

#: Incident category groups (strata), in order. ``violence`` means violence
#: other than gun violence; the evidence category ``violence`` covers both.
CATEGORY_GROUPS: tuple[str, ...] = (
    "gun_violence", "violence", "robbery", "burglary", "theft", "vandalism", "drugs", "disorder",
    "other",
)

#: Keywords that map an incident category (lower-case substring match, first
#: hit wins) to a group; anything else non-empty is ``other``. English terms
#: plus a few Portuguese/Spanish ones; override with ``category_map``.
CATEGORY_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("shoot", "gun_violence"), ("gun", "gun_violence"), ("firearm", "gun_violence"),
    ("arma de fogo", "gun_violence"), ("disparo", "gun_violence"),
    ("robber", "robbery"), ("mugging", "robbery"), ("roubo", "robbery"), ("robo", "robbery"),
    ("homicid", "violence"), ("murder", "violence"), ("manslaughter", "violence"),
    ("assault", "violence"), ("battery", "violence"), ("violen", "violence"),
    ("rape", "violence"), ("sexual", "violence"), ("stab", "violence"), ("wound", "violence"),
    ("kidnap", "violence"), ("lesao", "violence"), ("lesão", "violence"),
    ("latrocinio", "robbery"), ("latrocínio", "robbery"),
    ("burglar", "burglary"), ("break-in", "burglary"), ("break and enter", "burglary"),
    ("housebreak", "burglary"), ("breaking", "burglary"),
    ("theft", "theft"), ("larceny", "theft"), ("steal", "theft"), ("stolen", "theft"),
    ("shoplift", "theft"), ("furto", "theft"), ("hurto", "theft"), ("pickpocket", "theft"),
    ("vandal", "vandalism"), ("criminal damage", "vandalism"), ("graffiti", "vandalism"),
    ("arson", "vandalism"), ("damage", "vandalism"),
    ("drug", "drugs"), ("narcotic", "drugs"), ("cannabis", "drugs"), ("trafico", "drugs"),
    ("disorder", "disorder"), ("nuisance", "disorder"), ("anti-social", "disorder"),
    ("antisocial", "disorder"), ("public order", "disorder"), ("noise", "disorder"),
    ("drunk", "disorder"), ("loiter", "disorder"),
)

#: Cells on each side of a cell whose incidents give its strata shares
#: (1 = the 3x3 block). Public mode widens it to the KDE bandwidth.
SHARE_WINDOW_CELLS: int = 1

#: Share of incidents taken to be outdoors when no incident has an ``outdoor``
#: value (no premise/location field): an assumption, announced whenever an
#: ``outdoor`` evidence row is used. Half is a neutral guess, not a measured
#: figure; pass ``outdoor_share`` to the stage with a local figure.
DEFAULT_OUTDOOR_SHARE: float = 0.5

#: Default number of Monte Carlo draws, and the least accepted.
N_DRAWS: int = 2000
MIN_DRAWS: int = 1000

#: Quantiles of the reported interval (80 %).
INTERVAL: tuple[float, float] = (10.0, 90.0)

_G = len(CATEGORY_GROUPS)


# ====================================================================== strata
def category_groups_of(categories: Iterable[str]) -> np.ndarray:
    """Boolean mask over :data:`CATEGORY_GROUPS` covered by evidence categories."""
    cats = set(categories)
    if "all" in cats:
        return np.ones(_G, dtype=bool)
    mask = np.array([g in cats for g in CATEGORY_GROUPS])
    if "violence" in cats:
        mask[CATEGORY_GROUPS.index("gun_violence")] = True
    return mask


def map_categories(
    values: Sequence[Any] | np.ndarray, category_map: dict[str, str] | None = None
) -> np.ndarray:
    """Group index (into :data:`CATEGORY_GROUPS`) of incident categories; -1 when missing.

    Parameters
    ----------
    values : sequence of str or None
        Incident categories as read (any case).
    category_map : dict, optional
        Exact category (lower-case) -> group name; checked before the shipped
        portal map (``data/category_map.csv``), which is checked before the keywords.
    """
    from hotspot_env.inputs.formats import category_map as portal_map

    extra = {str(k).strip().lower(): v for k, v in {**portal_map(),
                                                     **(category_map or {})}.items()}
    for key, group in extra.items():
        if group not in CATEGORY_GROUPS:
            raise InputError(f"category_map sends {key!r} to {group!r}: use one of "
                             f"{', '.join(CATEGORY_GROUPS)}")
    # factorize (hashing) instead of sorting a million strings; only the few distinct
    # values are cleaned and matched
    codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    text = pd.Series(uniques, dtype=object).astype(str).str.strip().str.lower().to_numpy()
    out = np.empty(len(text) + 1, dtype=np.int64)
    out[-1] = -1  # code -1: missing
    for i, value in enumerate(text):
        if value in ("", "nan", "none", "unknown"):
            out[i] = -1
        elif value in extra:
            out[i] = CATEGORY_GROUPS.index(extra[value])
        elif value in CATEGORY_GROUPS:
            out[i] = CATEGORY_GROUPS.index(value)
        else:
            hit = next((g for k, g in CATEGORY_KEYWORDS if k in value), "other")
            out[i] = CATEGORY_GROUPS.index(hit)
    return out[codes]


def in_window(hour: np.ndarray, window: tuple[int, int]) -> np.ndarray:
    """True where a local hour (0-24, float) lies in ``[start, end)``, wrapping midnight."""
    start, end = window
    hour = np.asarray(hour, dtype=float)
    if start < end:
        return (hour >= start) & (hour < end)
    return (hour >= start) | (hour < end)


def time_class(
    dark: np.ndarray, hour: np.ndarray, windows: Sequence[tuple[int, int]]
) -> np.ndarray:
    """Time-class index: bit 0 = dark, bit ``1 + w`` = inside window ``w``."""
    cls = np.asarray(dark, dtype=np.int64).copy()
    for w, window in enumerate(windows):
        cls += in_window(hour, window).astype(np.int64) << (1 + w)
    return cls


def row_strata(rows: pd.DataFrame, windows: Sequence[tuple[int, int]]) -> np.ndarray:
    """Boolean ``(n_rows, n_strata)``: which strata each evidence row covers."""
    n_time = 2 ** (1 + len(windows))
    t = np.arange(n_time)
    out = np.zeros((len(rows), _G * n_time), dtype=bool)
    for i, rec in enumerate(rows.itertuples()):
        if rec.hours == "all":
            tmask = np.ones(n_time, dtype=bool)
        elif rec.hours == "dark":
            tmask = (t & 1) == 1
        else:
            tmask = (t >> (1 + list(windows).index(tuple(rec.window)))) & 1 == 1
        out[i] = np.outer(category_groups_of(rec.categories), tmask).ravel()
    return out


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

    # ---- baseline per cell (incidents per year)
    if "forecast" in analysis.arrays:
        base = np.asarray(analysis.arrays["forecast"], dtype=float)
        notes["baseline_source"] = "forecast (expected incidents per cell next year)"
    else:
        base = np.asarray(analysis.arrays["kde"], dtype=float) * grid.cell_area_km2
        per = "year" if params.get("period_years") else "recorded period (no dates)"
        notes["baseline_source"] = f"KDE x cell area (incidents per cell per {per})"
    base = np.where(grid.mask & np.isfinite(base), np.maximum(base, 0.0), 0.0)
    choices.append(announce(Choice("intervention_baseline", notes["baseline_source"],
                                   "expected incidents the interventions can act on")))

    # ---- incidents: cell, category group, time class
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
    dark, hours, timed, tz_rule = _incident_times(points, timezone or params.get("timezone"),
                                                  (xs, ys))
    tcls = np.where(timed, time_class(dark, np.nan_to_num(hours), windows), -1)
    n_cat_known = int((groups >= 0).sum())
    default_g = CATEGORY_GROUPS.index(default_category or "other")
    if n_cat_known == 0:
        choices.append(announce(Choice(
            "incident_category_default", CATEGORY_GROUPS[default_g],
            "no incident has a category, so all count as this group: evidence for other "
            "categories does not apply (pass default_category to change it)")))
    notes.update(incidents=public_tally(analysis, int(inside.sum())),
                 category_known=public_tally(analysis, n_cat_known),
                 time_known=public_tally(analysis, int(timed.sum())))

    # codes: known/known -> g*T+t; cat only -> S+g; time only -> S+G+t; neither -> S+G+T
    code = np.where((groups >= 0) & (tcls >= 0), groups * n_time + tcls,
                    np.where(groups >= 0, n_strata + groups,
                             np.where(tcls >= 0, n_strata + _G + tcls, n_strata + _G + n_time)))
    k_codes = n_strata + _G + n_time + 1
    size = grid.n_rows * grid.n_cols
    counts = sp.csr_matrix((np.ones(int(inside.sum())), (flat_pt[inside], code[inside])),
                           shape=(size, k_codes))
    counts.sum_duplicates()
    area = np.asarray(counts.sum(axis=0)).ravel()

    # ---- area-level mixes and the prior for time
    a_area, bc_area, ct_area, d_area = _split(area[None, :], n_time)
    timed_area = a_area.sum(1) + ct_area
    if timed_area.sum() > 0:
        p_time_area = timed_area[0] / timed_area.sum()
        notes["time_source"] = "incident times"
    else:
        p_time_area = _prior_time(analysis, windows, timezone or params.get("timezone"))
        notes["time_source"] = "hours of darkness at the study area (no incident has a time)"
        which = ("hours of the months on record (weighted by their incidents)"
                 if _months_on_record(analysis) else "year's hours")
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
    n_untimed = int(inside.sum() - (timed & inside).sum())
    if 0 < n_untimed and timed_area.sum() > 0:
        choices.append(announce(Choice(
            "incidents_time_imputed", n_untimed,
            "incidents without a time of day take the darkness and hour mix of the timed "
            "incidents around the same cell (else of the whole area); never guessed one by one")))
    notes["dark_share_area"] = float(share_area.reshape(_G, n_time)[:, 1::2].sum())
    notes["tz_rule"] = tz_rule

    # ---- per-cell shares over a window of cells
    radius = window_cells
    if radius is None:
        radius = SHARE_WINDOW_CELLS
        if params.get("privacy") == "public":
            bw = float(params.get("bandwidth_m") or settings.public_min_bandwidth_m)
            radius = max(radius, int(math.ceil(bw / grid.cell_size)))
    radius = max(0, int(radius))
    notes["share_window_cells"] = radius
    cells = np.flatnonzero(base.ravel() > 0).astype(np.int64)
    blocks = []
    # window counts are whole numbers, so summing them by a 0/1 matrix product (BLAS)
    # is exact and much faster than reducing the middle axis of (cells, groups, times)
    by_time = np.tile(np.eye(n_time), (_G, 1))
    by_cat = np.repeat(np.eye(_G), n_time, axis=0)
    # the local time and category mixes only spread incidents of unknown time or
    # category; when every incident has both they multiply zeros, so skip them
    unknowns = bool(area[n_strata:].any())
    p_time = p_cat = None
    for part, window in _window_sums(counts, cells, grid, radius):
        a, bc, ct, d = _split(window, n_time)
        if unknowns:
            flat_a = window[:, :n_strata]
            timed_c = flat_a @ by_time + ct
            tot_t = timed_c.sum(1, keepdims=True)
            p_time = np.where(tot_t > 0, timed_c / np.maximum(tot_t, 1e-300),
                              p_time_area[None])
            known_c = flat_a @ by_cat + bc
            tot_c = known_c.sum(1, keepdims=True)
            p_cat = np.where(tot_c > 0, known_c / np.maximum(tot_c, 1e-300), p_cat_area[None])
        m = _mix(a, bc, ct, d, p_time, p_cat).reshape(len(part), n_strata)
        tot = m.sum(1, keepdims=True)
        share = np.where(tot > 0, m / np.maximum(tot, 1e-300), share_area[None])
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
    shares = sp.csr_matrix((data, indices, indptr), shape=(len(cells), n_strata))
    outdoor = None
    if outdoor_rows:
        outdoor = _outdoor_shares(points, flat_pt, inside, grid, cells, radius, outdoor_share,
                                  notes, choices)
    return StrataBaseline(grid, base, windows, cells, shares, notes, choices, outdoor)


def _outdoor_shares(
    points: gpd.GeoDataFrame, flat_pt: np.ndarray, inside: np.ndarray, grid: Grid,
    cells: np.ndarray, radius: int, default: float | None, notes: dict[str, Any],
    choices: list[Choice],
) -> np.ndarray | None:
    """Per-cell share of incidents outdoors, from the points' boolean ``outdoor`` column.

    Counted over the same block of cells as the strata shares; cells whose
    block has no incident with a known place take the study area's share.
    Returns None (and records the announced default) when no incident has one.
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


def _incident_times(
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
    hours, rule = _local_hours(stamps, lon, timezone)
    return dark, np.where(timed, hours, np.nan), timed, rule


def _lonlat(frame: gpd.GeoDataFrame, xy: tuple[np.ndarray, np.ndarray] | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
    x, y = xy if xy is not None else (frame.geometry.x.to_numpy(), frame.geometry.y.to_numpy())
    return lonlat(x, y, frame.crs)


def _local_hours(stamps: pd.Series, lon: np.ndarray, timezone: str | None
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


def _prior_time(analysis: Analysis, windows: tuple[tuple[int, int], ...],
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
    months = _months_on_record(analysis)
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
    hours, _ = _local_hours(pd.Series(stamps), np.full(n, lon), timezone)
    cls = time_class(classes == "dark", hours, windows)
    return np.bincount(cls, weights=weights, minlength=n_time)


def _months_on_record(analysis: Any) -> dict[pd.Timestamp, int] | None:
    """Incidents per month on record when dates are months only, else None."""
    if analysis.parameters.get("date_precision") != "month":
        return None
    when = pd.to_datetime(analysis.points["datetime"], utc=True).dropna()
    if when.empty:
        return None
    counts = when.dt.tz_localize(None).dt.to_period("M").value_counts().sort_index()
    return {p.to_timestamp(): int(c) for p, c in counts.items()}


# ==================================================================== coverage
def cover_fractions(
    geoms: np.ndarray, radius: float, grid: Grid, keep: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Share of each cell inside a buffer of ``radius`` around each geometry.

    Parameters
    ----------
    geoms : ndarray of shapely geometries
        In ``grid.crs``.
    radius : float
        Buffer distance (m).
    grid : Grid
        The study grid.
    keep : ndarray of bool
        ``grid.shape``: cells to consider (positive baseline).

    Returns
    -------
    cand, flat : ndarray of int64
        Geometry position and flat cell index of each (geometry, cell) pair.
    frac : ndarray of float64
        Area share of the cell inside the buffer (0-1].

    Notes
    -----
    The buffer is the same polygon as before (``quad_segs=8``); its area in
    each cell is integrated exactly from its edges (:func:`window_cover`)
    instead of a shapely intersection per cell, which was most of the stage's
    time. Results agree with ``area(buffer & cell) / cell area`` to about
    1e-11 (shapely's own rounding on projected coordinates is the larger part;
    tests compare the two).
    """
    geoms = np.asarray(geoms)
    if geoms.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    return polygon_cover(shapely.buffer(geoms, radius, quad_segs=8), grid, keep)


def polygon_cover(
    polygons: np.ndarray, grid: Grid, keep: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Share of each kept cell inside each polygon (see :func:`cover_fractions`).

    Returns ``(position, flat cell, share)`` triples ordered by position, then
    flat cell; shares at or below 1e-9 are left out.
    """
    buffers = np.asarray(polygons)
    if buffers.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    cs = grid.cell_size
    top = grid.bounds[3]
    b = shapely.bounds(buffers)
    c0 = np.clip(np.floor((b[:, 0] - grid.x0) / cs), 0, grid.n_cols - 1).astype(np.int64)
    c1 = np.clip(np.floor((b[:, 2] - grid.x0) / cs), 0, grid.n_cols - 1).astype(np.int64)
    r0 = np.clip(np.floor((top - b[:, 3]) / cs), 0, grid.n_rows - 1).astype(np.int64)
    r1 = np.clip(np.floor((top - b[:, 1]) / cs), 0, grid.n_rows - 1).astype(np.int64)
    outside = (b[:, 2] < grid.x0) | (b[:, 0] > grid.bounds[2]) | (b[:, 3] < grid.y0) | (
        b[:, 1] > top) | shapely.is_empty(buffers)
    nr = np.where(outside, 0, r1 - r0 + 1)
    nc = np.where(outside, 0, c1 - c0 + 1)
    per = nr * nc
    start = np.cumsum(per) - per
    frac = window_cover(buffers, grid, r0, c0, nr, nc, start)
    cand = np.repeat(np.arange(buffers.size), per)
    k = np.arange(cand.size) - start[cand]
    rr = r0[cand] + k // nc[cand]
    cc = c0[cand] + k % nc[cand]
    # interior cells add up several edge pieces to 1 +- a few ulp: snap them to exactly 1
    frac = np.where(frac > 1.0 - 1e-12, 1.0, frac)
    good = keep[rr, cc] & (frac > 1e-9)
    return cand[good], (rr * grid.n_cols + cc)[good].astype(np.int64), frac[good]


def window_cover(
    polygons: np.ndarray, grid: Grid, r0: np.ndarray, c0: np.ndarray, nr: np.ndarray,
    nc: np.ndarray, start: np.ndarray,
) -> np.ndarray:
    """Exact share of each cell of a window of cells covered by a polygon, for many polygons.

    Polygon ``i`` is measured over the ``nr[i] x nc[i]`` cells from row ``r0[i]`` and
    column ``c0[i]``; its cells are ``start[i] ..`` in the result (row-major).

    The area comes from Green's theorem instead of a polygon overlay per cell: the
    winding number at ``(x, y)`` is the signed count of boundary edges crossing the
    horizontal line at ``y`` to the right of ``x``, so the covered area of a cell is
    ``sum over edges of the integral of clamp(x_edge(y) - x_left, 0, 1) dy`` over the
    cell's row (in cell units). An edge piece is worth its full height to every cell
    left of it and a clamped trapezoid to the cells it passes through. Holes and
    multi-part polygons work because rings are oriented first (exterior
    counter-clockwise). The result equals ``area(polygon & cell) / cell area`` to
    rounding (tests compare it with shapely), at a small fraction of the cost.

    Returns
    -------
    ndarray of float64
        ``sum(nr * nc)`` cover shares (about 0-1).
    """
    total = int(np.sum(nr * nc))
    polygons = np.asarray(polygons)
    if (shapely.get_type_id(polygons) == 3).all():  # no multi-part: skip copying parts
        parts, part_of = polygons, np.arange(polygons.size)
    else:
        parts, part_of = shapely.get_parts(polygons, return_index=True)
        keep_part = shapely.get_type_id(parts) == 3
        parts, part_of = parts[keep_part], part_of[keep_part]
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    if total == 0 or rings.size == 0:
        return np.zeros(total)
    exterior = np.r_[True, ring_part[1:] != ring_part[:-1]]
    # +1 when the ring runs the way Green's theorem needs (shells ccw, holes cw)
    orient = np.where(shapely.is_ccw(rings) == exterior, 1.0, -1.0)
    owner = part_of[ring_part]
    xy, ring_of = shapely.get_coordinates(rings, return_index=True)
    # edges in cell units: u = column coordinate, v = row coordinate (downwards)
    u = (xy[:, 0] - grid.x0) / grid.cell_size
    v = (grid.bounds[3] - xy[:, 1]) / grid.cell_size
    same = ring_of[1:] == ring_of[:-1]
    ua, ub, va, vb = u[:-1][same], u[1:][same], v[:-1][same], v[1:][same]
    e_ring = ring_of[:-1][same]
    sloped = va != vb  # horizontal edges add nothing
    ua, ub, va, vb, e_ring = ua[sloped], ub[sloped], va[sloped], vb[sloped], e_ring[sloped]
    e_poly = owner[e_ring]
    # ---- cut edges at row lines: one piece per (edge, window row)
    lo_row = np.maximum(np.floor(np.minimum(va, vb)), r0[e_poly])
    hi_row = np.minimum(np.ceil(np.maximum(va, vb)) - 1, r0[e_poly] + nr[e_poly] - 1)
    n_rows = np.maximum(hi_row - lo_row + 1, 0).astype(np.int64)
    pe = np.repeat(np.arange(ua.size), n_rows)
    row = lo_row[pe] + (np.arange(pe.size) - np.repeat(np.cumsum(n_rows) - n_rows, n_rows))
    dv = vb[pe] - va[pe]
    ta = np.clip((row - va[pe]) / dv, 0.0, 1.0)
    tb = np.clip((row + 1 - va[pe]) / dv, 0.0, 1.0)
    t0, t1 = np.minimum(ta, tb), np.maximum(ta, tb)
    du = ub[pe] - ua[pe]
    up, uq = ua[pe] + t0 * du, ua[pe] + t1 * du
    # signed height in y (v points down) times the ring's orientation
    height = -(t1 - t0) * dv * orient[e_ring[pe]]
    poly = e_poly[pe]
    base = start[poly] + (row.astype(np.int64) - r0[poly]) * nc[poly] - c0[poly]
    first_col = np.floor(np.minimum(up, uq))
    last_col = np.maximum(first_col, np.ceil(np.maximum(up, uq)) - 1)
    # ---- cells left of the piece: its full height
    n_full = np.clip(first_col - c0[poly], 0, nc[poly]).astype(np.int64)
    pf = np.repeat(np.arange(pe.size), n_full)
    col = c0[poly][pf] + (np.arange(pf.size) - np.repeat(np.cumsum(n_full) - n_full, n_full))
    out = np.zeros(total)  # (bincount of nothing is integer)
    out += np.bincount(base[pf] + col, weights=height[pf], minlength=total)
    # ---- cells the piece passes through: the mean of clamp(u - col, 0, 1) along it
    c_lo = np.maximum(first_col, c0[poly])
    c_hi = np.minimum(last_col, c0[poly] + nc[poly] - 1)
    n_part = np.maximum(c_hi - c_lo + 1, 0).astype(np.int64)
    pp = np.repeat(np.arange(pe.size), n_part)
    col = c_lo[pp] + (np.arange(pp.size) - np.repeat(np.cumsum(n_part) - n_part, n_part))
    p_u, q_u = up[pp] - col, uq[pp] - col
    step = q_u - p_u
    with np.errstate(divide="ignore", invalid="ignore"):
        s1 = np.where(step != 0, np.clip(-p_u / step, 0.0, 1.0), 0.0)
        s2 = np.where(step != 0, np.clip((1.0 - p_u) / step, 0.0, 1.0), 0.0)
    sa, sb = np.minimum(s1, s2), np.maximum(s1, s2)
    h0 = np.clip(p_u, 0.0, 1.0)
    ha = np.clip(p_u + sa * step, 0.0, 1.0)
    hb = np.clip(p_u + sb * step, 0.0, 1.0)
    h1 = np.clip(q_u, 0.0, 1.0)
    # h is linear between the breakpoints, so the trapezoid rule is exact
    mean = 0.5 * (sa * (h0 + ha) + (sb - sa) * (ha + hb) + (1.0 - sb) * (hb + h1))
    out += np.bincount(base[pp] + col.astype(np.int64), weights=height[pp] * mean,
                       minlength=total)
    return out


# ===================================================================== model
@dataclass
class PortfolioEffect:
    """Joint effect of a set of interventions (overlaps combined multiplicatively).

    Attributes
    ----------
    mean, lo, hi : float
        Expected prevented incidents per year and the 80 % interval.
    additive : float
        Sum of the members' stand-alone means (what double counting would say).
    draws : ndarray
        Prevented incidents per Monte Carlo draw.
    by_category : dict of str to float
        Mean prevented incidents per category group.
    """

    mean: float
    lo: float
    hi: float
    additive: float
    draws: np.ndarray = field(repr=False)
    by_category: dict[str, float] = field(default_factory=dict)


@dataclass
class ImpactModel:
    """Per-candidate, per-cell, per-stratum effects and their Monte Carlo draws.

    Candidates are indexed ``0..n-1`` in the order of :attr:`ids` (sorted).
    An *entry* ``e`` says that candidate ``entry_cand[e]`` acts on group
    ``entry_group[e]`` (one cell x stratum) through evidence row
    ``entry_row[e]`` with cover ``entry_scale[e]`` (share of the cell in reach,
    plus/minus the diffusion/displacement ring). At most one entry exists per
    (candidate, group) because a type's evidence rows cover disjoint strata.

    Attributes
    ----------
    ids : ndarray of str
        Candidate ids (sorted).
    rows : DataFrame
        Evidence rows (all rows of the library, sorted by type and outcome).
    effect_draws : ndarray
        ``(n_rows, n_draws)``: ``1 - RR`` per draw.
    group_base : ndarray
        Expected incidents per year per group.
    group_cat : ndarray of int
        Category group of each group (index into :data:`CATEGORY_GROUPS`).
    group_cell : ndarray of int64
        Flat cell index of each group.
    group_key : ndarray of int64
        ``cell x n_strata + stratum``: identifies a group across models.
    entry_cand, entry_group, entry_row : ndarray of int
    entry_scale : ndarray of float
    baseline_reach : ndarray
        Expected incidents per year within reach of each candidate, all
        categories and hours (m: the type's largest ``reach_m``).
    baseline_covered : ndarray
        The part of it the candidate's evidence covers (categories and hours).
    dark_share : ndarray
        Share of ``baseline_reach`` in darkness.
    main_cell : ndarray of int64
        Flat index of the cell contributing most to ``baseline_reach``.
    reach_area : ndarray or None
        Area (m²) of each candidate's reach buffer (the type's largest
        ``reach_m``), for the "near harm" rule; not kept in the saved state.
    """

    ids: np.ndarray
    rows: pd.DataFrame
    effect_draws: np.ndarray
    group_base: np.ndarray
    group_cat: np.ndarray
    group_cell: np.ndarray
    group_key: np.ndarray
    entry_cand: np.ndarray
    entry_group: np.ndarray
    entry_row: np.ndarray
    entry_scale: np.ndarray
    baseline_reach: np.ndarray
    baseline_covered: np.ndarray
    dark_share: np.ndarray
    main_cell: np.ndarray
    reach_area: np.ndarray | None = None
    _stats: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------ basics
    @property
    def n(self) -> int:
        """Number of candidates."""
        return len(self.ids)

    @property
    def n_draws(self) -> int:
        """Number of Monte Carlo draws."""
        return int(self.effect_draws.shape[1])

    @property
    def mean_effect(self) -> np.ndarray:
        """Mean ``1 - RR`` over the draws, per evidence row."""
        return self.effect_draws.mean(axis=1)

    def index_of(self, ids: Iterable[str]) -> np.ndarray:
        """Candidate positions of ``ids``; raises on an unknown id."""
        ids = np.asarray(list(ids), dtype=str)
        pos = np.searchsorted(self.ids, ids)
        pos = np.minimum(pos, max(self.n - 1, 0))
        if ids.size and (self.n == 0 or not np.array_equal(self.ids[pos], ids)):
            missing = ids[(self.n == 0) | (self.ids[pos] != ids)] if self.n else ids
            raise InputError(f"unknown intervention id {missing[0]!r}: use ids from the table")
        return pos.astype(np.int64)

    def contributions(self) -> sp.csr_matrix:
        """``(n, n_rows)`` sparse: sum of base x cover per candidate and evidence row."""
        if "B" not in self._stats:
            data = self.group_base[self.entry_group] * self.entry_scale
            self._stats["B"] = sp.csr_matrix(
                (data, (self.entry_cand, self.entry_row)), shape=(self.n, len(self.rows)))
        return self._stats["B"]

    # ------------------------------------------------------ stand-alone
    def standalone(self) -> dict[str, np.ndarray]:
        """Stand-alone prevented incidents per year per candidate.

        Returns
        -------
        dict
            ``mean``, ``lo``, ``hi`` (10th/90th percentiles), ``point`` (at the
            rate ratios' point estimates) and ``by_category`` (``(n, G)`` means).
        """
        if "mean" not in self._stats:
            b = self.contributions()
            mean = np.zeros(self.n)
            lo = np.zeros(self.n)
            hi = np.zeros(self.n)
            step = max(1, 2_000_000 // max(self.n_draws, 1))
            for start in range(0, self.n, step):
                part = np.asarray(b[start:start + step] @ self.effect_draws)
                mean[start:start + step] = part.mean(axis=1)
                lo[start:start + step], hi[start:start + step] = np.percentile(
                    part, INTERVAL, axis=1)
            point = b @ (1.0 - self.rows["rate_ratio"].to_numpy(dtype=float))
            val = self.group_base[self.entry_group] * self.entry_scale * self.mean_effect[
                self.entry_row]
            by_cat = np.bincount(self.entry_cand * _G + self.group_cat[self.entry_group],
                                 weights=val, minlength=self.n * _G).reshape(self.n, _G)
            self._stats.update(mean=mean, lo=np.minimum(lo, mean), hi=np.maximum(hi, mean),
                               point=np.asarray(point).ravel(), by_category=by_cat)
        return {k: self._stats[k] for k in ("mean", "lo", "hi", "point", "by_category")}

    def main_row(self) -> np.ndarray:
        """Per candidate, the evidence row contributing most (-1 if none)."""
        b = self.contributions().toarray() * self.mean_effect[None, :] if self.n else np.zeros(
            (0, len(self.rows)))
        out = np.where(b.any(axis=1), np.argmax(np.abs(b), axis=1), -1) if self.n else np.zeros(
            0, np.int64)
        return out.astype(np.int64)

    # ---------------------------------------------------------- overlap
    def portfolio_prevented(self, selected: Iterable[str] | np.ndarray) -> PortfolioEffect:
        """Joint prevented incidents of a set of candidates, overlaps multiplied.

        Parameters
        ----------
        selected : iterable of str, or boolean mask of length ``n``
            Intervention ids, or a mask over :attr:`ids`.

        Returns
        -------
        PortfolioEffect
            Mean and 80 % interval over the Monte Carlo draws (incidents/year).
        """
        mask = self._mask(selected)
        if not mask.any():
            return PortfolioEffect(0.0, 0.0, 0.0, 0.0, np.zeros(self.n_draws),
                                   dict.fromkeys(CATEGORY_GROUPS, 0.0))
        sel = mask[self.entry_cand]
        grp = self.entry_group[sel]
        ugroups, local = np.unique(grp, return_inverse=True)
        scale = self.entry_scale[sel]
        rows = self.entry_row[sel]
        base = self.group_base[ugroups]
        cat = self.group_cat[ugroups]
        n_e = len(grp)
        summer = sp.csr_matrix((np.ones(n_e), (local, np.arange(n_e))), shape=(len(ugroups), n_e))
        draws = np.zeros(self.n_draws)
        by_cat = np.zeros(_G)
        step = max(1, 4_000_000 // max(n_e, 1))
        for d0 in range(0, self.n_draws, step):
            eff = self.effect_draws[rows, d0:d0 + step]
            logm = np.log(np.maximum(1.0 - scale[:, None] * eff, 1e-12))
            left = np.exp(summer @ logm)
            prevented = base[:, None] * (1.0 - left)
            draws[d0:d0 + step] = prevented.sum(axis=0)
            by_cat += np.bincount(cat, weights=prevented.sum(axis=1), minlength=_G)
        lo, hi = np.percentile(draws, INTERVAL)
        mean = float(draws.mean())
        additive = float(self.standalone()["mean"][mask].sum())
        return PortfolioEffect(mean, float(min(lo, mean)), float(max(hi, mean)), additive, draws,
                               dict(zip(CATEGORY_GROUPS, (by_cat / self.n_draws).tolist(),
                                        strict=True)))

    def expected_value(
        self, selected: Iterable[str] | np.ndarray, cat_weights: np.ndarray | None = None,
        type_bonus: np.ndarray | None = None,
    ) -> float:
        """Weighted joint prevented incidents at the mean effects (the optimiser's objective).

        ``sum_g w_cat(g) base_g (1 - prod_j (1 - scale_jg e_j))`` plus
        ``sum_j type_bonus_j`` over selected ``j``, with ``e`` the mean
        ``1 - RR`` per evidence row. Fast (no draws): used by the optimiser,
        the brute-force check and the greedy gap.
        """
        mask = self._mask(selected)
        w = np.ones(_G) if cat_weights is None else np.asarray(cat_weights, dtype=float)
        idx = self.entries_of(mask)
        grp = self.entry_group[idx]
        ell = np.log(np.maximum(
            1.0 - self.entry_scale[idx] * self.mean_effect[self.entry_row[idx]], 1e-12))
        total_log = np.bincount(grp, weights=ell, minlength=len(self.group_base))
        touched = np.zeros(len(self.group_base), dtype=bool)
        touched[grp] = True
        value = float(np.sum(w[self.group_cat[touched]] * self.group_base[touched]
                             * (1.0 - np.exp(total_log[touched]))))
        if type_bonus is not None:
            value += float(np.asarray(type_bonus)[mask].sum())
        return value

    def entries_of(self, mask: np.ndarray) -> np.ndarray:
        """Positions of the entries of the candidates where ``mask`` is True."""
        if "indptr" not in self._stats:
            self._stats["indptr"] = np.searchsorted(self.entry_cand, np.arange(self.n + 1))
        indptr = self._stats["indptr"]
        sel = np.flatnonzero(mask)
        lens = indptr[sel + 1] - indptr[sel]
        starts = np.repeat(indptr[sel] - np.cumsum(lens) + lens, lens)
        return starts + np.arange(int(lens.sum()))

    def _mask(self, selected: Iterable[str] | np.ndarray) -> np.ndarray:
        if isinstance(selected, np.ndarray) and selected.dtype == bool:
            if selected.shape != (self.n,):
                raise ValueError(f"mask has shape {selected.shape}, expected ({self.n},)")
            return selected
        mask = np.zeros(self.n, dtype=bool)
        mask[self.index_of(selected)] = True
        return mask

    # ---------------------------------------------------------- combine
    def subset(self, keep: np.ndarray) -> ImpactModel:
        """A model restricted to the candidates where ``keep`` is True."""
        keep = np.asarray(keep, dtype=bool)
        new_pos = np.cumsum(keep) - 1
        ent = keep[self.entry_cand]
        # groups still reached, renumbered in order (np.unique without sorting)
        reached = np.zeros(self.group_base.size, dtype=bool)
        reached[self.entry_group[ent]] = True
        used = np.flatnonzero(reached)
        g_new = (np.cumsum(reached) - 1)[self.entry_group[ent]]
        return ImpactModel(
            self.ids[keep], self.rows, self.effect_draws, self.group_base[used],
            self.group_cat[used], self.group_cell[used], self.group_key[used],
            new_pos[self.entry_cand[ent]],
            g_new.astype(np.int64), self.entry_row[ent], self.entry_scale[ent],
            self.baseline_reach[keep], self.baseline_covered[keep], self.dark_share[keep],
            self.main_cell[keep], None if self.reach_area is None else self.reach_area[keep])


def merge_models(a: ImpactModel, b: ImpactModel) -> ImpactModel:
    """One model with the candidates of both (ids must differ; same rows and draws)."""
    if len(np.intersect1d(a.ids, b.ids)):
        raise ValueError("models share candidate ids")
    keys = np.union1d(a.group_key, b.group_key)
    ga = np.searchsorted(keys, a.group_key)
    gb = np.searchsorted(keys, b.group_key)
    base = np.zeros(keys.size)
    cat = np.zeros(keys.size, dtype=np.int64)
    cell = np.zeros(keys.size, dtype=np.int64)
    for g, m in ((ga, a), (gb, b)):
        base[g], cat[g], cell[g] = m.group_base, m.group_cat, m.group_cell
    ids = np.concatenate([a.ids, b.ids])
    order = np.argsort(ids, kind="stable")
    new_pos = np.empty(ids.size, dtype=np.int64)
    new_pos[order] = np.arange(ids.size)
    e_cand = np.concatenate([new_pos[a.entry_cand], new_pos[a.n + b.entry_cand]])
    e_group = np.concatenate([ga[a.entry_group], gb[b.entry_group]])
    e_order = np.lexsort((e_group, e_cand))

    def cat_(name: str) -> np.ndarray:
        return np.concatenate([getattr(a, name), getattr(b, name)])[order]

    return ImpactModel(
        ids[order], a.rows, a.effect_draws, base, cat, cell, keys.astype(np.int64),
        e_cand[e_order], e_group[e_order],
        np.concatenate([a.entry_row, b.entry_row])[e_order],
        np.concatenate([a.entry_scale, b.entry_scale])[e_order],
        cat_("baseline_reach"), cat_("baseline_covered"), cat_("dark_share"), cat_("main_cell"),
        None if a.reach_area is None or b.reach_area is None else cat_("reach_area"))


def effect_draws(rows: pd.DataFrame, n_draws: int = N_DRAWS, seed: int | None = None
                 ) -> np.ndarray:
    """``1 - RR`` draws, ``(n_rows, n_draws)``: RR lognormal from each row's 95 % CI.

    ``ln RR ~ Normal(ln rate_ratio, sigma)``, ``sigma = (ln ci_high - ln ci_low)
    / (2 x 1.96)``; seeded (default :data:`settings.default_seed`), one stream
    for all rows in their sorted order.
    """
    if int(n_draws) != n_draws or n_draws < MIN_DRAWS:
        raise InputError(f"Monte Carlo draws must be a whole number >= {MIN_DRAWS}, "
                         f"got {n_draws!r}")
    rng = np.random.default_rng(settings.default_seed if seed is None else int(seed))
    z = rng.standard_normal((len(rows), int(n_draws)))
    mu = np.log(rows["rate_ratio"].to_numpy(dtype=float))
    sigma = rows["sigma"].to_numpy(dtype=float)
    return 1.0 - np.exp(mu[:, None] + sigma[:, None] * z)


def build_impact(
    candidates: gpd.GeoDataFrame,
    library: EvidenceLibrary,
    baseline: StrataBaseline,
    *,
    draws: np.ndarray | None = None,
    n_draws: int = N_DRAWS,
    seed: int | None = None,
) -> ImpactModel:
    """Build the :class:`ImpactModel` of a candidate table.

    Parameters
    ----------
    candidates : GeoDataFrame
        Sorted by ``intervention_id``; needs ``intervention_id``, ``type`` and
        geometry in ``baseline.grid.crs``.
    library : EvidenceLibrary
        Evidence (every row is kept, so draws do not depend on which types
        are present).
    baseline : StrataBaseline
        Per-cell strata baselines.
    draws : ndarray, optional
        Reuse these ``1 - RR`` draws (``(len(library.evidence), n_draws)``).
    n_draws : int
        Draws when ``draws`` is not given (>= :data:`MIN_DRAWS`).
    seed : int, optional
        Seed when ``draws`` is not given.
    """
    rows = library.evidence.reset_index(drop=True)
    eff = effect_draws(rows, n_draws, seed) if draws is None else np.asarray(draws, dtype=float)
    if eff.shape[0] != len(rows):
        raise InputError("stored Monte Carlo draws do not match the evidence table: re-run analyze")
    ids = candidates["intervention_id"].to_numpy(dtype=str)
    if ids.size > 1 and not (ids[:-1] < ids[1:]).all():
        raise ValueError("candidates must be sorted by unique intervention_id")
    grid = baseline.grid
    n = len(candidates)
    strata = row_strata(rows, baseline.windows)
    keep = np.zeros(grid.shape, dtype=bool)
    keep.ravel()[baseline.cells] = True
    base_flat = baseline.baseline.ravel()
    dark_cell = baseline.dark_share()
    geoms = candidates.geometry.to_numpy()
    types = candidates["type"].to_numpy(dtype=str)
    n_strata = baseline.n_strata

    # distinct geometries per radius are measured once (e.g. greening and cleanup of a lot)
    geom_code = (pd.factorize(pd.Series(shapely.to_wkb(geoms), dtype=object))[0] if n
                 else np.zeros(0, np.int64))
    covers: dict[tuple[float, bytes], tuple[np.ndarray, ...]] = {}

    def cover(members: np.ndarray, radius: float) -> tuple[np.ndarray, ...]:
        """:func:`cover_fractions` of ``geoms[members]``, plus the buffers' areas."""
        codes = geom_code[members]
        ucodes, first = np.unique(codes, return_index=True)
        key = (radius, ucodes.tobytes())
        if key not in covers:
            buffers = shapely.buffer(geoms[members[first]], radius, quad_segs=8)
            c, f, fr = polygon_cover(buffers, grid, keep)
            covers[key] = (np.searchsorted(c, np.arange(ucodes.size + 1)), f, fr,
                           shapely.area(buffers))
        indptr, f, fr, area = covers[key]
        pos = np.searchsorted(ucodes, codes)
        lens = indptr[pos + 1] - indptr[pos]
        cand = np.repeat(np.arange(members.size), lens)
        idx = indptr[pos][cand] + np.arange(cand.size) - np.repeat(np.cumsum(lens) - lens, lens)
        return cand, f[idx], fr[idx], area[pos]

    e_cand, e_key, e_row, e_scale = [], [], [], []
    reach_area = np.zeros(n)
    reach_base = np.zeros(n)
    covered = np.zeros(n)
    dark_num = np.zeros(n)
    best_cell = np.full(n, -1, dtype=np.int64)
    for itype in sorted(set(types)):
        members = np.flatnonzero(types == itype)
        trows = rows.index[rows["intervention_type"] == itype].to_numpy()
        if trows.size == 0:
            raise InputError(f"intervention type {itype!r} has no evidence row: add it to "
                             f"{library.evidence_path.name} or drop these candidates")
        reach_max = float(rows.loc[trows, "reach_m"].max())
        cand, flat, frac, area = cover(members, reach_max)
        reach_area[members] = area
        gpos = members[cand]
        vals = frac * base_flat[flat]
        reach_base += np.bincount(gpos, weights=vals, minlength=n)
        dark_num += np.bincount(gpos, weights=vals * dark_cell[baseline.cell_position(flat)],
                                minlength=n)
        if gpos.size:
            # the cell contributing most; ties go to the lowest flat index, which comes
            # first because each candidate's cells are in flat order
            starts = np.flatnonzero(np.r_[True, gpos[1:] != gpos[:-1]])
            top = np.maximum.reduceat(vals, starts)
            hit = np.flatnonzero(vals == np.repeat(top, np.diff(np.r_[starts, gpos.size])))
            grp = np.searchsorted(starts, hit, side="right") - 1
            upd = hit[np.r_[True, grp[1:] != grp[:-1]]]
            best_cell[gpos[upd]] = flat[upd]
        for r in trows:
            rec = rows.loc[r]
            if not bool(rec.get("active", True)):  # unverified or a subgroup: not applied
                continue
            reach = float(rec["reach_m"])
            if reach == reach_max:
                c_d, f_d, fl_d = cand, frac, flat
            else:
                c_d, fl_d, f_d, _ = cover(members, reach)
            sign = {"diffusion": 1.0, "displacement": -1.0}.get(rec["displacement"], 0.0)
            factor = float(rec["diffusion_factor"]) * sign
            if factor != 0.0:
                c_o, fl_o, f_o, _ = cover(members, 2 * reach)
                c_all = np.concatenate([c_d, c_o])
                fl_all = np.concatenate([fl_d, fl_o])
                # cover = direct + factor x (outer - direct) = (1 - factor) direct + factor outer
                w_all = np.concatenate([(1.0 - factor) * f_d, factor * f_o])
                key, inv = np.unique(c_all * grid.n_rows * grid.n_cols + fl_all,
                                     return_inverse=True)
                scale = np.bincount(inv, weights=w_all)
                direct = np.bincount(inv, weights=np.concatenate([f_d, np.zeros_like(f_o)]))
                pc, pf = np.divmod(key, grid.n_rows * grid.n_cols)
            else:
                pc, pf, scale, direct = c_d, fl_d, f_d, f_d
            pos = baseline.cell_position(pf)
            ok = pos >= 0
            pc, pf, scale, direct, pos = pc[ok], pf[ok], scale[ok], direct[ok], pos[ok]
            if rec.get("places", "all") == "outdoor":  # only the outdoor share of each cell
                outdoor = baseline.outdoor_share(pos)
                scale, direct = scale * outdoor, direct * outdoor
            indptr = baseline.shares.indptr
            lens = indptr[pos + 1] - indptr[pos]
            rep = np.repeat(np.arange(pos.size), lens)
            within = np.arange(rep.size) - np.repeat(np.cumsum(lens) - lens, lens)
            idx = indptr[pos][rep] + within
            s = baseline.shares.indices[idx]
            share = baseline.shares.data[idx]
            hit = strata[r, s]
            rep, s, share = rep[hit], s[hit], share[hit]
            gbase = base_flat[pf[rep]] * share
            e_cand.append(members[pc[rep]])
            e_key.append(pf[rep] * n_strata + s)
            e_row.append(np.full(rep.size, r, dtype=np.int64))
            e_scale.append(scale[rep])
            covered += np.bincount(members[pc[rep]], weights=gbase * direct[rep], minlength=n)
    if e_cand:
        e_cand_a = np.concatenate(e_cand).astype(np.int64)
        keys = np.concatenate(e_key).astype(np.int64)
        e_row_a = np.concatenate(e_row).astype(np.int64)
        e_scale_a = np.concatenate(e_scale).astype(float)
    else:
        e_cand_a = keys = e_row_a = np.zeros(0, np.int64)
        e_scale_a = np.zeros(0)
    n_keys = grid.n_rows * grid.n_cols * n_strata
    if n_keys <= 2**26:  # groups by a presence mask over all keys: no sort of the entries
        present = np.zeros(n_keys, dtype=bool)
        present[keys] = True
        ukeys = np.flatnonzero(present)
        e_group = np.searchsorted(ukeys, keys)
    else:
        ukeys, e_group = np.unique(keys, return_inverse=True)
    g_cell, g_stratum = np.divmod(ukeys, n_strata)
    pos = baseline.cell_position(g_cell)
    g_share = np.asarray(baseline.shares[pos, g_stratum]).ravel() if ukeys.size else np.zeros(0)
    g_base = base_flat[g_cell] * g_share
    with np.errstate(invalid="ignore", divide="ignore"):
        dark = np.where(reach_base > 0, dark_num / np.maximum(reach_base, 1e-300), np.nan)
    # by candidate, then group: one stable sort of a combined key (same order as lexsort)
    order = np.argsort(e_cand_a * max(ukeys.size, 1) + e_group, kind="stable")
    return ImpactModel(
        ids, rows, eff, g_base, (g_stratum // baseline.n_time).astype(np.int64),
        g_cell.astype(np.int64), ukeys.astype(np.int64), e_cand_a[order],
        e_group.astype(np.int64)[order], e_row_a[order], e_scale_a[order], reach_base, covered,
        dark, best_cell, reach_area)


def evidence_windows(library: EvidenceLibrary) -> tuple[tuple[int, int], ...]:
    """The distinct local-hour windows of the evidence rows, sorted."""
    windows = {tuple(w) for w in library.evidence["window"] if w is not None}
    return tuple(sorted(windows))


def describe_effect(rec: pd.Series | Any) -> str:
    """Plain words for one evidence row: "36 % fewer night outdoor index (Chalfin et al. 2022)"."""
    rr = float(rec["rate_ratio"])
    change = abs(1.0 - rr) * 100
    direction = "fewer" if rr < 1 else "more"
    outcome = re.sub(r"_", " ", str(rec["outcome"]))
    when = {"dark": " after dark", "all": ""}.get(rec["hours"], f" at {rec['hours']} h")
    if rec.get("places", "all") == "outdoor" and "outdoor" not in outcome:
        when = f" outdoors{when}"
    return (f"{rec['short']} found {change:.0f} % {direction} {outcome} incidents{when} "
            f"(rate ratio {rr:g}, 95 % CI {float(rec['ci_low']):g}-{float(rec['ci_high']):g})")
