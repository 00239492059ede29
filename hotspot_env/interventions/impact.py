"""Expected prevented incidents: evidence effects, Monte Carlo and overlap.

The harm an intervention can act on is the strata baseline of
:mod:`hotspot_env.interventions.baseline` (expected incidents per cell next year, split
into category group x time class by :mod:`hotspot_env.interventions.strata`); a
candidate's reach over the cells is measured by :mod:`hotspot_env.interventions.coverage`.

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

import re
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from hotspot_env import settings
from hotspot_env.errors import InputError
from hotspot_env.interventions.baseline import StrataBaseline
from hotspot_env.interventions.coverage import polygon_cover
from hotspot_env.interventions.evidence import EvidenceLibrary
from hotspot_env.interventions.impact_model import ImpactModel
from hotspot_env.interventions.strata import row_strata

#: Default number of Monte Carlo draws, and the least accepted.
N_DRAWS: int = 2000
MIN_DRAWS: int = 1000


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
    strata = row_strata(rows, baseline.windows)
    cover = _CoverCache(candidates.geometry.to_numpy(), baseline)
    types = candidates["type"].to_numpy(dtype=str)
    reach = _Reach.empty(len(candidates))
    dark_cell = baseline.dark_share()
    entries: _Entries = ([], [], [], [])
    for itype in sorted(set(types)):
        members = np.flatnonzero(types == itype)
        trows = rows.index[rows["intervention_type"] == itype].to_numpy()
        if trows.size == 0:
            raise InputError(f"intervention type {itype!r} has no evidence row: add it to "
                             f"{library.evidence_path.name} or drop these candidates")
        reach_max = float(rows.loc[trows, "reach_m"].max())
        widest = cover(members, reach_max)
        reach.record(members, widest, baseline, dark_cell)
        for r in trows:
            rec = rows.loc[r]
            if not bool(rec.get("active", True)):  # unverified or a subgroup: not applied
                continue
            direct = (widest[:3] if float(rec["reach_m"]) == reach_max
                      else cover(members, float(rec["reach_m"]))[:3])
            _add_row_entries(entries, reach, rec, int(r), members, direct, cover, baseline,
                             strata[r])
    return _assemble(ids, rows, eff, entries, reach, baseline)


#: Entries collected per evidence row: candidate, group key (cell x stratum), row, scale.
_Entries = tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray], list[np.ndarray]]


class _CoverCache:
    """:func:`~hotspot_env.interventions.coverage.polygon_cover` of buffered candidates, each
    distinct geometry and radius measured once (e.g. greening and cleanup of one lot)."""

    def __init__(self, geoms: np.ndarray, baseline: StrataBaseline) -> None:
        self.geoms = geoms
        self.grid = baseline.grid
        self.keep = np.zeros(self.grid.shape, dtype=bool)
        self.keep.ravel()[baseline.cells] = True
        self.code = (pd.factorize(pd.Series(shapely.to_wkb(geoms), dtype=object))[0]
                     if len(geoms) else np.zeros(0, np.int64))
        self.covers: dict[tuple[float, bytes], tuple[np.ndarray, ...]] = {}

    def __call__(self, members: np.ndarray, radius: float) -> tuple[np.ndarray, ...]:
        """``(member position, flat cell, share, buffer area)`` of ``geoms[members]``."""
        codes = self.code[members]
        ucodes, first = np.unique(codes, return_index=True)
        key = (radius, ucodes.tobytes())
        if key not in self.covers:
            buffers = shapely.buffer(self.geoms[members[first]], radius, quad_segs=8)
            c, f, fr = polygon_cover(buffers, self.grid, self.keep)
            self.covers[key] = (np.searchsorted(c, np.arange(ucodes.size + 1)), f, fr,
                                shapely.area(buffers))
        indptr, f, fr, area = self.covers[key]
        pos = np.searchsorted(ucodes, codes)
        lens = indptr[pos + 1] - indptr[pos]
        cand = np.repeat(np.arange(members.size), lens)
        idx = indptr[pos][cand] + np.arange(cand.size) - np.repeat(np.cumsum(lens) - lens, lens)
        return cand, f[idx], fr[idx], area[pos]


@dataclass
class _Reach:
    """Per candidate: buffer area, baseline in reach, baseline its rows cover, dark part of
    the reach, and the cell contributing most."""

    area: np.ndarray
    base: np.ndarray
    covered: np.ndarray
    dark_num: np.ndarray
    best_cell: np.ndarray

    @classmethod
    def empty(cls, n: int) -> _Reach:
        """Zeros for ``n`` candidates (no best cell: -1)."""
        return cls(np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n),
                   np.full(n, -1, dtype=np.int64))

    def record(self, members: np.ndarray, widest: tuple[np.ndarray, ...],
               baseline: StrataBaseline, dark_cell: np.ndarray) -> None:
        """Add the reach of ``members`` at their type's widest radius (``dark_cell``: each
        kept cell's dark share)."""
        n = self.area.size
        cand, flat, frac, area = widest
        self.area[members] = area
        gpos = members[cand]
        vals = frac * baseline.baseline.ravel()[flat]
        self.base += np.bincount(gpos, weights=vals, minlength=n)
        self.dark_num += np.bincount(
            gpos, weights=vals * dark_cell[baseline.cell_position(flat)], minlength=n)
        if gpos.size:
            # the cell contributing most; ties go to the lowest flat index, which comes
            # first because each candidate's cells are in flat order
            starts = np.flatnonzero(np.r_[True, gpos[1:] != gpos[:-1]])
            top = np.maximum.reduceat(vals, starts)
            hit = np.flatnonzero(vals == np.repeat(top, np.diff(np.r_[starts, gpos.size])))
            grp = np.searchsorted(starts, hit, side="right") - 1
            upd = hit[np.r_[True, grp[1:] != grp[:-1]]]
            self.best_cell[gpos[upd]] = flat[upd]


def _with_ring(rec: pd.Series, members: np.ndarray, direct: tuple[np.ndarray, ...],
               cover: _CoverCache) -> tuple[np.ndarray, ...]:
    """``(member position, flat cell, cover, direct cover)`` with the row's diffusion or
    displacement ring: cover = direct + factor x (outer - direct)."""
    c_d, fl_d, f_d = direct
    sign = {"diffusion": 1.0, "displacement": -1.0}.get(rec["displacement"], 0.0)
    factor = float(rec["diffusion_factor"]) * sign
    if factor == 0.0:
        return c_d, fl_d, f_d, f_d
    c_o, fl_o, f_o, _ = cover(members, 2 * float(rec["reach_m"]))
    size = cover.grid.n_rows * cover.grid.n_cols
    c_all = np.concatenate([c_d, c_o])
    fl_all = np.concatenate([fl_d, fl_o])
    # cover = direct + factor x (outer - direct) = (1 - factor) direct + factor outer
    w_all = np.concatenate([(1.0 - factor) * f_d, factor * f_o])
    key, inv = np.unique(c_all * size + fl_all, return_inverse=True)
    scale = np.bincount(inv, weights=w_all)
    direct_share = np.bincount(inv, weights=np.concatenate([f_d, np.zeros_like(f_o)]))
    pc, pf = np.divmod(key, size)
    return pc, pf, scale, direct_share


def _add_row_entries(entries: _Entries, reach: _Reach, rec: pd.Series, r: int,
                     members: np.ndarray, direct: tuple[np.ndarray, ...], cover: _CoverCache,
                     baseline: StrataBaseline, row_strata_mask: np.ndarray) -> None:
    """Entries of evidence row ``r`` for ``members``: one per (candidate, cell, stratum) the
    row covers, with the candidate's cover of the cell as scale."""
    pc, pf, scale, direct_share = _with_ring(rec, members, direct, cover)
    pos = baseline.cell_position(pf)
    ok = pos >= 0
    pc, pf, scale, direct_share, pos = pc[ok], pf[ok], scale[ok], direct_share[ok], pos[ok]
    if rec.get("places", "all") == "outdoor":  # only the outdoor share of each cell
        outdoor = baseline.outdoor_share(pos)
        scale, direct_share = scale * outdoor, direct_share * outdoor
    indptr = baseline.shares.indptr
    lens = indptr[pos + 1] - indptr[pos]
    rep = np.repeat(np.arange(pos.size), lens)
    within = np.arange(rep.size) - np.repeat(np.cumsum(lens) - lens, lens)
    idx = indptr[pos][rep] + within
    s = baseline.shares.indices[idx]
    share = baseline.shares.data[idx]
    hit = row_strata_mask[s]
    rep, s, share = rep[hit], s[hit], share[hit]
    gbase = baseline.baseline.ravel()[pf[rep]] * share
    e_cand, e_key, e_row, e_scale = entries
    e_cand.append(members[pc[rep]])
    e_key.append(pf[rep] * baseline.n_strata + s)
    e_row.append(np.full(rep.size, r, dtype=np.int64))
    e_scale.append(scale[rep])
    reach.covered += np.bincount(members[pc[rep]], weights=gbase * direct_share[rep],
                                 minlength=reach.covered.size)


def _assemble(ids: np.ndarray, rows: pd.DataFrame, eff: np.ndarray, entries: _Entries,
              reach: _Reach, baseline: StrataBaseline) -> ImpactModel:
    """Group the entries by (cell, stratum) and build the model, entries by candidate."""
    e_cand, e_key, e_row, e_scale = entries
    grid, n_strata = baseline.grid, baseline.n_strata
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
    g_base = baseline.baseline.ravel()[g_cell] * g_share
    with np.errstate(invalid="ignore", divide="ignore"):
        dark = np.where(reach.base > 0, reach.dark_num / np.maximum(reach.base, 1e-300), np.nan)
    # by candidate, then group: one stable sort of a combined key (same order as lexsort)
    order = np.argsort(e_cand_a * max(ukeys.size, 1) + e_group, kind="stable")
    return ImpactModel(
        ids, rows, eff, g_base, (g_stratum // baseline.n_time).astype(np.int64),
        g_cell.astype(np.int64), ukeys.astype(np.int64), e_cand_a[order],
        e_group.astype(np.int64)[order], e_row_a[order], e_scale_a[order], reach.base,
        reach.covered, dark, reach.best_cell, reach.area)


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
