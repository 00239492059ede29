"""Reach: the share of each grid cell inside an intervention's buffer, measured exactly.

:func:`cover_fractions` buffers geometries and :func:`polygon_cover` measures polygons over
the cells of their bounding windows with :func:`window_cover`, which integrates each
polygon's area in a cell from its edges (Green's theorem) instead of overlaying polygons.
"""

from __future__ import annotations

import numpy as np
import shapely

from hotspot_env.core.grid import Grid


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
    edges = _sloped_edges(np.asarray(polygons), grid)
    if total == 0 or edges is None:
        return np.zeros(total)
    pieces = _row_pieces(edges, r0, c0, nr, nc, start)
    out = np.zeros(total)  # (bincount of nothing is integer)
    out += _left_of_pieces(pieces, c0, nc, total)
    out += _under_pieces(pieces, c0, nc, total)
    return out


def _sloped_edges(polygons: np.ndarray, grid: Grid) -> tuple[np.ndarray, ...] | None:
    """The polygons' non-horizontal ring edges in cell units, oriented for Green's theorem.

    Returns ``(ua, ub, va, vb, sign, polygon)`` per edge: its ends in column (``u``) and
    row (``v``, downwards) coordinates, +1/-1 for a ring running the way Green's theorem
    needs (shells counter-clockwise, holes clockwise) or the other way, and the polygon it
    bounds; None when the polygons have no ring.
    """
    if (shapely.get_type_id(polygons) == 3).all():  # no multi-part: skip copying parts
        parts, part_of = polygons, np.arange(polygons.size)
    else:
        parts, part_of = shapely.get_parts(polygons, return_index=True)
        keep_part = shapely.get_type_id(parts) == 3
        parts, part_of = parts[keep_part], part_of[keep_part]
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    if rings.size == 0:
        return None
    exterior = np.r_[True, ring_part[1:] != ring_part[:-1]]
    orient = np.where(shapely.is_ccw(rings) == exterior, 1.0, -1.0)
    owner = part_of[ring_part]
    xy, ring_of = shapely.get_coordinates(rings, return_index=True)
    u = (xy[:, 0] - grid.x0) / grid.cell_size
    v = (grid.bounds[3] - xy[:, 1]) / grid.cell_size
    same = ring_of[1:] == ring_of[:-1]
    ua, ub, va, vb = u[:-1][same], u[1:][same], v[:-1][same], v[1:][same]
    e_ring = ring_of[:-1][same]
    sloped = va != vb  # horizontal edges add nothing
    ua, ub, va, vb, e_ring = ua[sloped], ub[sloped], va[sloped], vb[sloped], e_ring[sloped]
    return ua, ub, va, vb, orient[e_ring], owner[e_ring]


def _row_pieces(edges: tuple[np.ndarray, ...], r0: np.ndarray, c0: np.ndarray,
                nr: np.ndarray, nc: np.ndarray, start: np.ndarray) -> dict[str, np.ndarray]:
    """Edges cut at row lines: one piece per (edge, window row).

    Each piece has its ends ``up``, ``uq`` (columns), signed ``height`` (in y, times the
    ring's orientation), ``poly``, the result index of its row's column 0 (``base``) and
    the first and last columns it passes through.
    """
    ua, ub, va, vb, sign, e_poly = edges
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
    height = -(t1 - t0) * dv * sign[pe]
    poly = e_poly[pe]
    first_col = np.floor(np.minimum(up, uq))
    return {"up": up, "uq": uq, "height": height, "poly": poly,
            "base": start[poly] + (row.astype(np.int64) - r0[poly]) * nc[poly] - c0[poly],
            "first_col": first_col,
            "last_col": np.maximum(first_col, np.ceil(np.maximum(up, uq)) - 1)}


def _left_of_pieces(pieces: dict[str, np.ndarray], c0: np.ndarray, nc: np.ndarray,
                    total: int) -> np.ndarray:
    """Each piece's full height, added to every window cell left of it."""
    poly = pieces["poly"]
    n_full = np.clip(pieces["first_col"] - c0[poly], 0, nc[poly]).astype(np.int64)
    pf = np.repeat(np.arange(poly.size), n_full)
    col = c0[poly][pf] + (np.arange(pf.size) - np.repeat(np.cumsum(n_full) - n_full, n_full))
    return np.bincount(pieces["base"][pf] + col, weights=pieces["height"][pf], minlength=total)


def _under_pieces(pieces: dict[str, np.ndarray], c0: np.ndarray, nc: np.ndarray,
                  total: int) -> np.ndarray:
    """The cells a piece passes through: its height x the mean of clamp(u - col, 0, 1)."""
    poly = pieces["poly"]
    c_lo = np.maximum(pieces["first_col"], c0[poly])
    c_hi = np.minimum(pieces["last_col"], c0[poly] + nc[poly] - 1)
    n_part = np.maximum(c_hi - c_lo + 1, 0).astype(np.int64)
    pp = np.repeat(np.arange(poly.size), n_part)
    col = c_lo[pp] + (np.arange(pp.size) - np.repeat(np.cumsum(n_part) - n_part, n_part))
    p_u, q_u = pieces["up"][pp] - col, pieces["uq"][pp] - col
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
    return np.bincount(pieces["base"][pp] + col.astype(np.int64),
                       weights=pieces["height"][pp] * mean, minlength=total)


