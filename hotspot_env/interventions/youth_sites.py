"""Youth-space candidates: a maximal covering location model over service-gap cells.

Cells farther than the walking threshold from any youth space are gaps; their demand is
the expected incidents the youth evidence covers. Sites are vacant lots and open public
land (:data:`PUBLIC_LAND`). The model (Church & ReVelle 1974) picks up to
:data:`YOUTH_SITES` sites that cover the most gap demand within the walking threshold
(straight line x :data:`WALK_CIRCUITY`), solved exactly with HiGHS
(:mod:`hotspot_env.interventions._highs`).
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely

# scipy.spatial is imported where it is used: a kept analysis is unpickled without it
# (the app's first page, tests/test_lazy_imports.py).
from hotspot_env import settings
from hotspot_env.core.choices import Choice, announce
from hotspot_env.core.grid import Grid
from hotspot_env.interventions._highs import lp_model, solve_milp
from hotspot_env.interventions.candidate_table import (
    BUILDING_KINDS,
    candidate_frame,
    empty_candidates,
    geometry_key,
    text_column,
)

#: Walking distance / straight-line distance in a street network (detour index).
WALK_CIRCUITY: float = 1.3
#: Most youth-space sites proposed by the covering model.
YOUTH_SITES: int = 5
#: OSM landuse values treated as open land a youth space could be sited on.
PUBLIC_LAND: tuple[str, ...] = ("grass", "recreation_ground", "village_green", "brownfield",
                                "greenfield")


# ============================================================= youth spaces
def youth_candidates(
    grid: Grid,
    walk_m: np.ndarray | None,
    demand: np.ndarray,
    sites: gpd.GeoDataFrame | None,
    *,
    threshold_m: float | None = None,
    max_sites: int = YOUTH_SITES,
) -> tuple[gpd.GeoDataFrame, list[Choice]]:
    """Youth-space candidates: a maximal covering location model over gap cells.

    Parameters
    ----------
    grid : Grid
        The study grid.
    walk_m : ndarray or None
        ``grid.shape``: walking distance (m) to the nearest youth space (inf
        where none is reachable); None when not measured (no candidates).
    demand : ndarray
        ``grid.shape``: expected incidents per year the youth evidence covers.
    sites : GeoDataFrame or None
        Candidate land (polygons or points) with a ``kind`` column.
    threshold_m : float, optional
        Walking threshold (default :data:`settings.youth_walk_threshold_m`).
    max_sites : int
        Most sites to choose.
    """
    from scipy.spatial import cKDTree

    crs = grid.crs
    choices: list[Choice] = []
    threshold = settings.youth_walk_threshold_m if threshold_m is None else float(threshold_m)
    if walk_m is None:
        choices.append(announce(Choice(
            "youth_space_candidates", "none",
            "walking access to youth spaces was not measured, so service gaps are unknown")))
        return empty_candidates(crs), choices
    walk = np.asarray(walk_m, dtype=float)
    gap = grid.mask & ~(walk <= threshold) & ~np.isnan(walk) & (demand > 0)
    if not gap.any() or sites is None or not len(sites):
        return empty_candidates(crs), choices
    cx, cy = grid.centres()
    dem_xy = np.column_stack([cx[gap], cy[gap]])
    weight = demand[gap]
    site_geoms = sites.geometry.to_numpy()
    rep = shapely.point_on_surface(site_geoms)
    site_xy = shapely.get_coordinates(rep)
    radius = threshold / WALK_CIRCUITY
    cover = cKDTree(site_xy).sparse_distance_matrix(cKDTree(dem_xy), radius,
                                                    output_type="coo_matrix")
    a = sp.csr_matrix((np.ones(cover.nnz), (cover.row, cover.col)),
                      shape=(len(site_xy), len(dem_xy)))
    useful = np.flatnonzero(np.asarray(a.sum(axis=1)).ravel() > 0)
    if useful.size == 0:
        return empty_candidates(crs), choices
    a = a[useful]
    p = int(min(max_sites, useful.size))
    chosen = _mclp(a, weight, p)
    pick = useful[chosen]
    covered = np.asarray(a[chosen].sum(axis=0)).ravel() > 0
    choices.append(announce(Choice(
        "youth_space_sites", int(pick.size),
        f"maximal covering model: up to {max_sites} sites on vacant or open land covering the "
        f"most expected incidents in cells over {threshold:g} m walk from a youth space "
        f"({weight[covered].sum():.2f} of {weight.sum():.2f} per year covered; walk = "
        f"straight line x {WALK_CIRCUITY:g})")))
    kind = text_column(sites, "kind")[pick]
    gap_dem = np.array([weight[np.asarray(a[j].todense()).ravel() > 0].sum() for j in chosen])
    n = pick.size
    return candidate_frame({"type": np.full(n, "youth_space", dtype=object), "quantity": np.ones(n),
                   "source": np.full(n, "youth-space gap", dtype=object), "kind": kind,
                   "area_m2": shapely.area(site_geoms[pick]), "gap_demand": gap_dem},
                  site_geoms[pick], crs), choices


def _mclp(cover: sp.csr_matrix, weight: np.ndarray, p: int) -> np.ndarray:
    """Maximal covering location: positions of the chosen sites (rows of ``cover``).

    ``max sum_i w_i z_i`` s.t. ``z_i <= sum_j a_ji y_j``, ``sum_j y_j <= p``,
    ``y`` binary, ``0 <= z <= 1``; solved with HiGHS. Sites whose removal
    loses no coverage are dropped.

    Two exact reductions make the model small (metro: 1,597 sites x 9,718 gap
    cells become 371 x 3,004): demand cells covered by exactly the same sites
    are merged into one with the summed weight (cells no site covers are left
    out), which leaves the objective of every choice of sites unchanged; and a
    site whose covered cells are a strict subset of another's, or the same as
    an earlier site's, is left out, since swapping it for that site never
    covers less (and the tie rule prefers the earlier of equal sites).
    """
    n_all = cover.shape[0]
    weight = np.asarray(weight, dtype=float)
    # tiny preference for earlier sites makes the choice among equal covers deterministic
    tie_all = 1e-9 * np.arange(n_all) / max(n_all, 1) * max(float(np.max(weight)), 1e-12)
    cover, weight = _merge_demand(cover, weight)
    sites = np.flatnonzero(~_dominated(cover))
    cover, tie = cover[sites], tie_all[sites]
    n_s, n_d = cover.shape
    c = np.concatenate([tie, -weight])
    link = sp.hstack([-cover.T.tocsr(), sp.identity(n_d, format="csr")], format="csr")
    count = sp.csr_matrix(np.concatenate([np.ones(n_s), np.zeros(n_d)])[None, :])
    lp = lp_model(c, np.zeros(n_s + n_d), np.ones(n_s + n_d),
                  np.r_[np.ones(n_s, dtype=bool), np.zeros(n_d, dtype=bool)],
                  sp.vstack([link, count], format="csr"), np.r_[np.full(n_d, -np.inf), 0.0],
                  np.r_[np.zeros(n_d), float(p)])
    x = solve_milp(lp, {"time_limit": 60.0, "mip_rel_gap": 1e-9})
    if x is None:
        return np.zeros(0, dtype=np.int64)
    cover = cover.tocsr()
    chosen = np.flatnonzero(np.round(x[:n_s]).astype(bool))
    keep = list(chosen)
    for j in chosen[::-1]:  # drop sites that add no coverage beyond the others
        others = [k for k in keep if k != j]
        rest = (np.asarray(cover[others].sum(axis=0)).ravel() > 0 if others
                else np.zeros(n_d, dtype=bool))
        own = cover[j].toarray().ravel() > 0
        if not (own & ~rest).any():
            keep.remove(j)
    return sites[np.asarray(keep, dtype=np.int64)]


def _dominated(cover: sp.spmatrix) -> np.ndarray:
    """Sites (rows) whose covered cells are a strict subset of another site's, or equal to an
    earlier site's."""
    a = sp.csr_matrix(cover, dtype=bool).astype(np.int32)
    size = np.asarray(a.sum(axis=1)).ravel()
    shared = (a @ a.T).tocoo()  # cells covered by both sites of each pair
    i, j = shared.row, shared.col
    inside = (i != j) & (shared.data == size[i])  # site i's cells all covered by site j
    out = np.zeros(a.shape[0], dtype=bool)
    out[i[inside & ((size[i] < size[j]) | (j < i))]] = True
    return out


def _merge_demand(cover: sp.csr_matrix, weight: np.ndarray) -> tuple[sp.csc_matrix, np.ndarray]:
    """Demand columns with the same covering sites merged (weights summed); uncovered dropped."""
    csc = sp.csc_matrix(cover, dtype=bool)
    csc.sort_indices()
    patterns = [csc.indices[a:b].tobytes() for a, b in zip(csc.indptr[:-1], csc.indptr[1:],
                                                            strict=True)]
    codes, _ = pd.factorize(pd.Series(patterns, dtype=object))
    first = np.unique(codes, return_index=True)[1]
    merged = np.bincount(codes, weights=weight, minlength=first.size)
    hit = np.diff(csc.indptr)[first] > 0
    return sp.csc_matrix(csc[:, first[hit]], dtype=float), merged[hit]




def youth_sites(vacant: gpd.GeoDataFrame | None, landuse: gpd.GeoDataFrame | None,
                 crs: Any) -> gpd.GeoDataFrame | None:
    parts = []
    if vacant is not None and len(vacant):
        kind = text_column(vacant, "kind")
        lot = np.array([not k.startswith(BUILDING_KINDS) for k in kind], dtype=bool)
        geoms = vacant.geometry.to_numpy()
        lot &= np.isin(shapely.get_type_id(geoms), (0, 3, 4, 6))
        if lot.any():
            parts.append(gpd.GeoDataFrame({"kind": np.where(kind[lot] == "", "vacant",
                                                            kind[lot])},
                                          geometry=geoms[lot], crs=crs))
    if landuse is not None and len(landuse) and "landuse" in landuse:
        sel = landuse["landuse"].isin(PUBLIC_LAND).to_numpy()
        if sel.any():
            parts.append(gpd.GeoDataFrame({"kind": "landuse=" + landuse["landuse"][sel].astype(
                str).to_numpy()}, geometry=landuse.geometry.to_numpy()[sel], crs=crs))
    if not parts:
        return None
    sites = pd.concat(parts, ignore_index=True)
    key = geometry_key(sites.geometry.to_numpy())
    order = np.argsort(key, kind="stable")
    sites = sites.iloc[order]
    sites = sites[~pd.Series(key[order]).duplicated().to_numpy()]
    return gpd.GeoDataFrame(sites.reset_index(drop=True), geometry="geometry", crs=crs)


