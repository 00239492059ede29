"""The street plan of a synthetic city: streets, lamps, plots, buildings and features.

:func:`build_layout` draws everything in local coordinates (metres from the
south-west corner) from one random stream, in a fixed order of steps: street
grid, streets and blocks, lamps, plots, vacant lots, buildings, bars and youth
spaces, decoys, names. Changing the order of the draws changes every city, so
each step below takes the generator and draws exactly what it did before.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

_STEMS = (
    "Alder", "Ash", "Aspen", "Beech", "Birch", "Cedar", "Cherry", "Chestnut", "Cypress",
    "Elm", "Fir", "Hawthorn", "Hazel", "Holly", "Juniper", "Larch", "Laurel", "Linden",
    "Maple", "Oak", "Pine", "Poplar", "Rowan", "Spruce", "Sycamore", "Walnut", "Willow",
    "Yew", "Heron", "Lark", "Swallow", "Finch", "Wren", "Kestrel", "Plover", "Falcon",
    "Harbour", "Mill", "Market", "Bridge",
)
_PREFIXES = ("", "Upper ", "Lower ", "Old ", "New ", "North ", "South ", "East ", "West ")
_HIGHWAYS = np.array(["primary", "tertiary", "residential"], dtype=object)
_YOUTH_KINDS = np.array(["amenity=youth_centre", "amenity=community_centre",
                         "amenity=library", "leisure=sports_centre"], dtype=object)
_BAR_KINDS = np.array(["amenity=bar", "amenity=pub", "amenity=nightclub"], dtype=object)


@dataclass(frozen=True)
class CityLayout:
    """Layout parameters of :func:`~hotspot_env.inputs.synth.simulate_city` (densities per km^2).

    Parameters
    ----------
    jitter_m : float
        Street-grid nodes move up to this far (uniform, each axis).
    missing_link_share : float
        Share of residential street segments removed.
    diagonal_block_share : float
        Share of blocks crossed by a diagonal street (these hold no buildings).
    park_block_share : float
        Share of blocks that are parks (``youth`` polygons, no buildings).
    dark_run_rate, dark_run_rate_arterial : float
        Probability that an unlit stretch starts at a given segment of a
        residential / arterial street; stretches are 2-6 segments long.
    dark_diagonal_share : float
        Share of diagonal streets without lamps.
    lamp_spacing_m, lamp_offset_m : float
        Lamp spacing along a lit segment and distance from the centre line.
    lamp_working_share : float
        Share of lamps that work.
    setback_m : float
        Distance from the nominal street line to the building plots, on top of
        ``jitter_m``.
    plots_per_side : int
        Each block is divided into ``plots_per_side ** 2`` plots.
    perimeter_building_share, inner_building_share : float
        Probability that a street-facing / inner plot holds a building.
    bars_per_km2, vacant_per_km2, youth_centres_per_km2, kiosks_per_km2, benches_per_km2 : float
        Feature densities.
    arterial_bar_weight : float
        Relative chance that a bar is on a plot facing an arterial street.
    """

    jitter_m: float = 5.0
    missing_link_share: float = 0.03
    diagonal_block_share: float = 0.02
    park_block_share: float = 0.015
    dark_run_rate: float = 0.02
    dark_run_rate_arterial: float = 0.004
    dark_diagonal_share: float = 0.10
    lamp_spacing_m: float = 30.0
    lamp_offset_m: float = 7.0
    lamp_working_share: float = 0.95
    setback_m: float = 9.0
    plots_per_side: int = 3
    perimeter_building_share: float = 0.92
    inner_building_share: float = 0.30
    bars_per_km2: float = 8.0
    vacant_per_km2: float = 6.0
    youth_centres_per_km2: float = 1.0
    kiosks_per_km2: float = 8.0
    benches_per_km2: float = 25.0
    arterial_bar_weight: float = 6.0


def build_layout(
    rng: np.random.Generator, size: float, b: float, lay: CityLayout
) -> dict[str, Any]:
    """Generate every feature in local coordinates (metres from the SW corner).

    Parameters
    ----------
    rng : numpy.random.Generator
        The layout's random stream; the steps draw from it in a fixed order.
    size : float
        Side of the square study area (m).
    b : float
        Block length (m).
    lay : CityLayout
        Densities and shares.

    Returns
    -------
    dict
        Arrays per feature (``seg``, ``lamps``, ``bld_boxes``, ...) and
        ``factor_geoms``: per planted factor, its segments and boxes.
    """
    g = _street_grid(rng, size, b, lay)
    seg, blocks = _streets(rng, g, lay)
    lamps, dark, dx, dy, length = _lamps(rng, seg, lay)
    plots = _plots(rng, g, blocks, b, lay)
    area_km2 = size * size / 1e6
    vacant_boxes = _vacant_lots(rng, plots, int(round(lay.vacant_per_km2 * area_km2)))
    bld = _buildings(rng, plots)
    bar_b, yc_b = _bars_and_youth_centres(rng, plots, bld, lay, area_km2)
    park_boxes = _park_boxes(g, blocks, b, plots.setback)
    kiosks, benches = _decoys(rng, g, seg, dx, dy, length, lay, area_km2)

    seg_xy = np.column_stack([seg["ax"], seg["ay"], seg["bx"], seg["by"]])
    bars_xy = np.column_stack([bld.cx[bar_b], bld.cy[bar_b]])
    yc_xy = np.column_stack([bld.cx[yc_b], bld.cy[yc_b]])
    factor_geoms = {
        "bars": (None, _point_boxes(bars_xy)),
        "vacant": (None, vacant_boxes),
        "dark_segments": (seg_xy[dark], None),
        "youth": (None, np.vstack([park_boxes, _point_boxes(yc_xy)])),
        "decoy_kiosks": (None, _point_boxes(kiosks)),
        "decoy_benches": (None, _point_boxes(benches)),
    }
    n_parks = int(np.count_nonzero(blocks.kind == 2))
    return {
        "seg": seg, "seg_xy": seg_xy, "dark": dark, "lamps": lamps,
        "bld_boxes": bld.boxes, "address": bld.address,
        "building_type": bld.building_type, "vacant_boxes": vacant_boxes,
        "bars_xy": bars_xy, "bar_kind": _BAR_KINDS[rng.integers(0, 3, bar_b.size)],
        "bar_address": bld.address[bar_b],
        "park_boxes": park_boxes, "park_name": np.char.add(
            g.names[rng.integers(0, len(g.names), n_parks)].astype(str), " Park").astype(object),
        "yc_xy": yc_xy, "yc_kind": _YOUTH_KINDS[rng.integers(0, 4, yc_b.size)],
        "kiosks": kiosks, "benches": benches, "factor_geoms": factor_geoms,
    }


def _street_grid(rng: np.random.Generator, size: float, b: float,
                 lay: CityLayout) -> SimpleNamespace:
    """Jittered nodes of ``n x n`` street lines, their classes and street names."""
    n = max(2, int(size // b))  # street lines per axis
    m = n - 1  # segments per line, blocks per axis
    grid = (size - m * b) / 2 + np.arange(n) * b
    jit = lay.jitter_m
    node_x = grid[None, :] + rng.uniform(-jit, jit, (n, n))  # node (row j, col i)
    node_y = grid[:, None] + rng.uniform(-jit, jit, (n, n))
    # every 10th line (from the 5th) primary, every 5th tertiary, the rest residential
    line_class = np.where(np.arange(n) % 10 == 5, 0, np.where(np.arange(n) % 5 == 0, 1, 2))
    names = np.array([p + s for p in _PREFIXES for s in _STEMS], dtype=object)
    if n > len(names):
        names = np.concatenate([names, np.array([f"Street No. {i}" for i in range(n)], object)])
    row_names = np.char.add(names[:n].astype(str), " Street").astype(object)
    col_perm = rng.permutation(len(names))[:n]
    col_names = np.char.add(names[col_perm].astype(str), " Avenue").astype(object)
    return SimpleNamespace(n=n, m=m, grid=grid, node_x=node_x, node_y=node_y,
                           line_class=line_class, names=names, row_names=row_names,
                           col_names=col_names)


def _streets(rng: np.random.Generator, g: SimpleNamespace,
             lay: CityLayout) -> tuple[dict[str, np.ndarray], SimpleNamespace]:
    """Street segments (grid edges, some removed, plus diagonals) and the block kinds."""
    n, m, node_x, node_y = g.n, g.m, g.node_x, g.node_y

    def dark_runs(rate_per_line: np.ndarray) -> np.ndarray:
        idx = np.broadcast_to(np.arange(m), (n, m))
        starts = rng.random((n, m)) < rate_per_line[:, None]
        ends = np.where(starts, idx + rng.integers(2, 7, (n, m)), -1)
        return np.maximum.accumulate(ends, axis=1) > idx

    # horizontal (row j, segment i) and vertical (column i, segment j) edges
    rate = np.where(g.line_class == 2, lay.dark_run_rate, lay.dark_run_rate_arterial)
    h_dark, v_dark = dark_runs(rate), dark_runs(rate)
    jj, ii = np.meshgrid(np.arange(n), np.arange(m), indexing="ij")  # (n, m)
    h = dict(ax=node_x[jj, ii], ay=node_y[jj, ii], bx=node_x[jj, ii + 1], by=node_y[jj, ii + 1],
             cls=g.line_class[jj], name=g.row_names[jj], dark=h_dark)
    v = dict(ax=node_x[ii, jj], ay=node_y[ii, jj], bx=node_x[ii + 1, jj], by=node_y[ii + 1, jj],
             cls=g.line_class[jj], name=g.col_names[jj], dark=v_dark)
    seg = {k: np.concatenate([h[k].ravel(), v[k].ravel()]) for k in h}

    blocks = _block_kinds(rng, m, lay)
    diag = np.flatnonzero(blocks.kind == 1)
    flip = rng.random(diag.size) < 0.5
    dj, di = blocks.bj[diag], blocks.bi[diag]
    d_named = rng.random(diag.size) < 0.8
    seg_d = dict(
        ax=node_x[dj, di + flip], ay=node_y[dj, di + flip],
        bx=node_x[dj + 1, di + 1 - flip], by=node_y[dj + 1, di + 1 - flip],
        cls=np.full(diag.size, 2), dark=rng.random(diag.size) < lay.dark_diagonal_share,
        name=np.where(d_named, np.char.add(g.names[rng.integers(0, len(g.names), diag.size)]
                                           .astype(str), " Lane").astype(object), None),
    )
    keep = ~((seg["cls"] == 2) & (rng.random(seg["ax"].size) < lay.missing_link_share))
    seg = {k: np.concatenate([seg[k][keep], seg_d[k]]) for k in seg}
    seg["highway"] = _HIGHWAYS[seg["cls"]]
    return seg, blocks


def _block_kinds(rng: np.random.Generator, m: int, lay: CityLayout) -> SimpleNamespace:
    """Kind of each of the ``m x m`` blocks: 0 built, 1 crossed by a diagonal, 2 park."""
    n_blocks = m * m
    kind = np.zeros(n_blocks, dtype=np.int8)
    kind[rng.random(n_blocks) < lay.diagonal_block_share] = 1
    kind[(kind == 0) & (rng.random(n_blocks) < lay.park_block_share)] = 2
    bj, bi = np.divmod(np.arange(n_blocks), m)
    return SimpleNamespace(kind=kind, bj=bj, bi=bi)


def _lamps(rng: np.random.Generator, seg: dict[str, np.ndarray], lay: CityLayout) -> tuple:
    """Lamps along segments outside unlit stretches; marks ``seg`` with ``no_lamps`` and ``lit``.

    Returns the lamps, which segments are dark (no working lamp), and each
    segment's direction (``dx``, ``dy``) and length.
    """
    n_seg = seg["ax"].size
    dx, dy = seg["bx"] - seg["ax"], seg["by"] - seg["ay"]
    length = np.hypot(dx, dy)
    n_lamps = np.where(seg["dark"], 0, np.maximum(1, (length // lay.lamp_spacing_m)))
    n_lamps = n_lamps.astype(np.int64)
    lamp_seg = np.repeat(np.arange(n_seg), n_lamps)
    k = np.arange(lamp_seg.size) - np.repeat(np.cumsum(n_lamps) - n_lamps, n_lamps)
    t = (k + 0.5) / n_lamps[lamp_seg]
    side = np.where(k % 2 == 0, 1.0, -1.0) * lay.lamp_offset_m / length[lamp_seg]
    lamps = dict(
        x=seg["ax"][lamp_seg] + t * dx[lamp_seg] - side * dy[lamp_seg],
        y=seg["ay"][lamp_seg] + t * dy[lamp_seg] + side * dx[lamp_seg],
        working=rng.random(lamp_seg.size) < lay.lamp_working_share,
        lumens=np.array([12000, 8000, 4000])[seg["cls"][lamp_seg]],
        height_m=np.array([10.0, 8.0, 6.0])[seg["cls"][lamp_seg]],
        street_id=lamp_seg + 1,
    )
    working = np.bincount(lamp_seg, weights=lamps["working"], minlength=n_seg)
    seg["no_lamps"] = n_lamps == 0
    dark = working == 0
    # OSM's lit tag: mostly "yes" on lit streets; on unlit ones often missing, sometimes wrong
    u = rng.random(n_seg)
    seg["lit"] = np.where(
        n_lamps > 0, np.where(u < 0.75, "yes", None),
        np.where(u < 0.5, "no", np.where(u < 0.95, None, "yes"))).astype(object)
    return lamps, dark, dx, dy, length


def _plots(rng: np.random.Generator, g: SimpleNamespace, blocks: SimpleNamespace, b: float,
           lay: CityLayout) -> SimpleNamespace:
    """Plots of the built blocks, the street each faces and whether it holds a building.

    Plots are ``(block, v, u)`` with ``v`` rows from the south and ``u``
    columns from the west; ``exists`` is drawn here, before vacant lots take
    some street-facing plots.
    """
    k_ = lay.plots_per_side
    s = lay.setback_m + lay.jitter_m
    p = (b - 2 * s) / k_
    built = np.flatnonzero(blocks.kind == 0)
    bi, bj = blocks.bi[built], blocks.bj[built]
    vv, uu = np.divmod(np.arange(k_ * k_), k_)
    px0 = ((g.grid[bi] + s)[:, None] + uu[None, :] * p).ravel()
    py0 = ((g.grid[bj] + s)[:, None] + vv[None, :] * p).ravel()
    pb = np.repeat(np.arange(built.size), k_ * k_)  # index into `built`
    pu, pv = np.tile(uu, built.size), np.tile(vv, built.size)
    south, north, west, east = pv == 0, pv == k_ - 1, pu == 0, pu == k_ - 1
    perimeter = south | north | west | east
    exists = rng.random(pb.size) < np.where(perimeter, lay.perimeter_building_share,
                                            lay.inner_building_share)
    # street faced: row lines for south/north plots (corners included), else column lines
    on_row = south | north
    line = np.where(south, bj[pb], np.where(north, bj[pb] + 1,
                    np.where(west, bi[pb], bi[pb] + 1)))
    along = np.where(on_row, bi[pb] * k_ + pu, bj[pb] * k_ + pv)
    number = 2 * along + np.where(south | east, 1, 2)
    line = np.minimum(line, g.n - 1)
    street_name = np.where(on_row, g.row_names[line], g.col_names[line])
    return SimpleNamespace(
        x0=px0, y0=py0, size=p, setback=s, perimeter=perimeter, exists=exists,
        south=south, north=north, west=west, east=east, number=number,
        street_name=street_name, arterial=g.line_class[line] < 2)


def _vacant_lots(rng: np.random.Generator, plots: SimpleNamespace, n_vac: int) -> np.ndarray:
    """Boxes of vacant lots, which replace street-facing plots (clears their ``exists``)."""
    cand = np.flatnonzero(plots.perimeter)
    vac = np.sort(_weighted_sample(rng, np.ones(cand.size), n_vac, cand))
    plots.exists[vac] = False
    mv = rng.uniform(0.0, 1.5, (vac.size, 4))
    p = plots.size
    return np.column_stack([plots.x0[vac] + mv[:, 0], plots.y0[vac] + mv[:, 1],
                            plots.x0[vac] + p - mv[:, 2], plots.y0[vac] + p - mv[:, 3]])


def _buildings(rng: np.random.Generator, plots: SimpleNamespace) -> SimpleNamespace:
    """Footprints: street-facing sides flush (0-1 m), others 8-30 % of the plot in."""
    bld = np.flatnonzero(plots.exists)
    p = plots.size
    mg = rng.uniform(0.08 * p, 0.30 * p, (bld.size, 4))  # west, south, east, north
    flush = rng.uniform(0.0, 1.0, (bld.size, 4))
    faces = np.column_stack([plots.west[bld], plots.south[bld], plots.east[bld],
                             plots.north[bld]])
    mg = np.where(faces, flush, mg)
    boxes = np.column_stack([plots.x0[bld] + mg[:, 0], plots.y0[bld] + mg[:, 1],
                             plots.x0[bld] + p - mg[:, 2], plots.y0[bld] + p - mg[:, 3]])
    on_street = plots.perimeter[bld]
    address = (pd.Series(plots.street_name[bld], dtype=object) + " "
               + pd.Series(plots.number[bld]).astype(str))
    address = address.where(on_street, None)
    return SimpleNamespace(
        index=bld, boxes=boxes, address=address.to_numpy(dtype=object), on_street=on_street,
        arterial=plots.arterial[bld],
        building_type=np.where(plots.arterial[bld] & on_street, "commercial", "residential"),
        cx=(boxes[:, 0] + boxes[:, 2]) / 2, cy=(boxes[:, 1] + boxes[:, 3]) / 2)


def _bars_and_youth_centres(rng: np.random.Generator, plots: SimpleNamespace,
                            bld: SimpleNamespace, lay: CityLayout,
                            area_km2: float) -> tuple[np.ndarray, np.ndarray]:
    """Buildings holding bars (street-facing, favouring arterials) and youth centres (others)."""
    n_bars = int(round(lay.bars_per_km2 * area_km2))
    w = np.where(bld.on_street, np.where(bld.arterial, lay.arterial_bar_weight, 1.0), 0.0)
    bar_b = np.sort(_weighted_sample(rng, w, n_bars))
    n_yc = max(1, int(round(lay.youth_centres_per_km2 * area_km2)))
    w_y = np.ones(bld.index.size)
    w_y[bar_b] = 0.0
    yc_b = np.sort(_weighted_sample(rng, w_y, n_yc))
    return bar_b, yc_b


def _park_boxes(g: SimpleNamespace, blocks: SimpleNamespace, b: float, s: float) -> np.ndarray:
    """Park blocks as boxes inside their setbacks."""
    parks = np.flatnonzero(blocks.kind == 2)
    bi, bj = blocks.bi[parks], blocks.bj[parks]
    return np.column_stack([g.grid[bi] + s, g.grid[bj] + s, g.grid[bi] + b - s,
                            g.grid[bj] + b - s])


def _decoys(rng: np.random.Generator, g: SimpleNamespace, seg: dict[str, np.ndarray],
            dx: np.ndarray, dy: np.ndarray, length: np.ndarray, lay: CityLayout,
            area_km2: float) -> tuple[np.ndarray, np.ndarray]:
    """Kiosks at street corners and benches along streets (no planted effect)."""
    n_k = int(round(lay.kiosks_per_km2 * area_km2))
    node = rng.integers(0, g.n * g.n, n_k)
    corner = rng.choice([-1.0, 1.0], (n_k, 2)) * lay.lamp_offset_m * 1.3
    kiosks = np.column_stack([g.node_x.ravel()[node] + corner[:, 0],
                              g.node_y.ravel()[node] + corner[:, 1]])
    n_bn = int(round(lay.benches_per_km2 * area_km2))
    bs = rng.integers(0, seg["ax"].size, n_bn)
    tb = rng.uniform(0.15, 0.85, n_bn)
    sb = rng.choice([-1.0, 1.0], n_bn) * (lay.lamp_offset_m + 1.0) / length[bs]
    benches = np.column_stack([seg["ax"][bs] + tb * dx[bs] - sb * dy[bs],
                               seg["ay"][bs] + tb * dy[bs] + sb * dx[bs]])
    return kiosks, benches


def _point_boxes(xy: np.ndarray) -> np.ndarray:
    """Points as zero-size boxes ``(x, y, x, y)``."""
    return np.column_stack([xy[:, 0], xy[:, 1], xy[:, 0], xy[:, 1]])


def _weighted_sample(
    rng: np.random.Generator, weights: np.ndarray, k: int, values: np.ndarray | None = None
) -> np.ndarray:
    """Draw ``k`` distinct indices (or ``values``) with probability ~ ``weights``.

    Weighted sampling without replacement by Efraimidis-Spirakis keys, vectorised.
    """
    weights = np.asarray(weights, dtype=float)
    k = min(k, int((weights > 0).sum()))
    if k <= 0:
        return np.array([], dtype=np.int64)
    with np.errstate(divide="ignore"):
        keys = np.log(rng.random(weights.size)) / weights  # -inf where weight is 0
    idx = np.argpartition(-keys, k - 1)[:k]
    return idx if values is None else values[idx]
