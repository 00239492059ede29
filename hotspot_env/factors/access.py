"""Access to youth and community spaces: walking distance over the street network.

Places with somewhere for young people to go, and with community facilities
that bring people and guardianship, are the target of several place-based
prevention programmes; what matters is how far they are *on foot*, so
distances are measured over the street network, not as the crow flies: a park
across a river is far if the nearest bridge is far.

Network: every vertex of every walkable street line is a node (vertices closer
than ``snap_m``, 1 m, are merged, so ways that share a junction node connect
and ways that merely cross, such as a bridge over a road, do not); every pair
of consecutive vertices is an edge weighted by its length. Only the largest
connected component is kept: OSM extracts carry small fragments (clipped
footways, unconnected service roads) from which nothing is reachable. Edges
longer than ``max_edge_m`` (10 m) get private intermediate nodes, so a cell
snaps to a node within 5 m (along the street) of its nearest street point.

A space is entered from every network node within ``attach_m`` (25 m) of its
outline, and always from the node nearest to it, at a cost equal to that gap;
nodes inside a polygon (a footway through a park) are entered at no cost. One
Dijkstra search (``scipy.sparse.csgraph.dijkstra``) from a virtual node linked
to all entries gives every node its distance to the nearest space; a cell's
distance is that of the node nearest its centre plus the straight line from
the centre to that node.

Spaces are the OSM ``youth`` layer (tags in :data:`hotspot_env.inputs.osm.YOUTH_TAGS`:
``amenity=community_centre|youth_centre|library|social_centre|arts_centre|
school|kindergarten``, ``leisure=playground|park|sports_centre|pitch|
fitness_station|youth_club|recreation_ground|skatepark|track``,
``social_facility=youth``) plus any user layer.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse

# scipy.spatial (and csgraph) is imported where it is used: a kept analysis is unpickled without it
# (the app's first page, tests/test_lazy_imports.py).
from hotspot_env import settings
from hotspot_env.core.choices import Choice, announce
from hotspot_env.core.grid import Grid
from hotspot_env.errors import InputError
from hotspot_env.factors.base import (
    FactorResult,
    get_layer,
    nan_grid,
    not_measured,
    to_grid_crs,
    usable,
)
from hotspot_env.outputs.privacy import Kind

NAME = "access"

#: Highways people cannot walk along.
NOT_WALKABLE: frozenset[str] = frozenset({"motorway", "motorway_link"})


def street_graph(
    streets: gpd.GeoDataFrame | gpd.GeoSeries,
    snap_m: float = 1.0,
    largest_component: bool = True,
    max_edge_m: float = 10.0,
) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Walkable street network as a sparse, symmetric, length-weighted graph.

    Parameters
    ----------
    streets : GeoDataFrame or GeoSeries
        Street lines in a projected CRS (metres). Rows whose ``highway`` is in
        :data:`NOT_WALKABLE` are skipped.
    snap_m : float
        Vertices closer than this (m, on a ``snap_m`` lattice) become one node.
    largest_component : bool
        Keep only the largest connected component.
    max_edge_m : float
        Edges longer than this (m) are split by private nodes, so any point
        of a street is within ``max_edge_m / 2`` of a node.

    Returns
    -------
    graph : scipy.sparse.csr_matrix, shape (n_nodes, n_nodes)
        Edge lengths in metres (both directions), for ``scipy.sparse.csgraph``.
    node_xy : ndarray, shape (n_nodes, 2)
        Node coordinates (m).
    """
    graph, node_xy, _ = _build_graph(streets, snap_m, largest_component, max_edge_m)
    return graph, node_xy


def network_distance(
    graph: sparse.csr_matrix,
    node_xy: np.ndarray,
    sources: np.ndarray | gpd.GeoSeries,
    targets_xy: np.ndarray,
    attach_m: float = 25.0,
) -> np.ndarray:
    """Walking distance (m) from each target point to the nearest source.

    Parameters
    ----------
    graph, node_xy
        A network from :func:`street_graph`.
    sources : array of shapely geometries, GeoSeries, or ndarray (k, 2)
        Destinations (points, lines or polygons) in the network's CRS.
    targets_xy : ndarray, shape (m, 2)
        Origins (e.g. cell centres) in the network's CRS.
    attach_m : float
        A source is entered from every node within this distance (m) of it,
        and always from its nearest node, at a cost equal to the gap.

    Returns
    -------
    ndarray, shape (m,)
        Straight line from each target to its nearest node + network distance
        from that node to the nearest source entry + the entry gap. ``inf``
        if no source is reachable; all ``inf`` if there are no sources.
    """
    from scipy.spatial import cKDTree

    targets_xy = np.asarray(targets_xy, dtype=float).reshape(-1, 2)
    node_dist = node_distance(graph, node_xy, sources, attach_m)
    if not len(node_xy):
        return np.full(len(targets_xy), np.inf)
    snap, nearest = cKDTree(node_xy).query(targets_xy)
    return node_dist[nearest] + snap


def node_distance(
    graph: sparse.csr_matrix, node_xy: np.ndarray, sources: np.ndarray | gpd.GeoSeries,
    attach_m: float = 25.0,
) -> np.ndarray:
    """Network distance (m) from every node to the nearest source (see :func:`network_distance`)."""
    from scipy.sparse.csgraph import dijkstra

    n = len(node_xy)
    geoms = _as_geoms(sources)
    if not n or not geoms.size:
        return np.full(n, np.inf)
    _, entry, gap = _entries(geoms, node_xy, attach_m)
    # An entry node shared by several spaces keeps its cheapest link.
    order = np.lexsort((gap, entry))
    entry, gap = entry[order], gap[order]
    first = np.ones(entry.size, dtype=bool)
    first[1:] = entry[1:] != entry[:-1]
    entry, gap = entry[first], gap[first]
    # A virtual source node n links to every entry node at the entry cost, so one
    # single-source search gives the distance to the *nearest* space, gap included.
    # (Zero-cost links get a nanometre: csgraph reads 0 as "no edge".)
    graph = graph.tocoo()
    extended = sparse.csr_matrix(
        (np.concatenate([graph.data, np.maximum(gap, 1e-9)]),
         (np.concatenate([graph.row, np.full(entry.size, n)]),
          np.concatenate([graph.col, entry]))),
        shape=(n + 1, n + 1))
    dist = dijkstra(extended, directed=True, indices=n)
    return dist[:n]


def check_walk_threshold(value: Any, option: str = "youth_walk_m") -> float:
    """``value`` as a youth-space walking threshold (m), or one clear :class:`InputError`.

    Parameters
    ----------
    value : number
        The threshold a caller gave.
    option : str
        How the caller named it (``--youth-walk-m`` on the command line).
    """
    ok = (isinstance(value, numbers.Real) and not isinstance(value, bool)
          and math.isfinite(value) and value > 0)
    if not ok:
        raise InputError(f"{option} must be a positive number of metres (the walk beyond which "
                         f"a cell is a youth-space service gap, default "
                         f"{settings.youth_walk_threshold_m:g}), got {value!r}")
    return float(value)


def compute(
    layers: dict[str, gpd.GeoDataFrame],
    grid: Grid,
    incidents: gpd.GeoDataFrame | None = None,
    *,
    spaces: gpd.GeoDataFrame | None = None,
    threshold_m: float | None = None,
    threshold_reason: str | None = None,
    attach_m: float = 25.0,
    snap_m: float = 1.0,
    max_edge_m: float = 10.0,
) -> FactorResult:
    """Walking distance from each cell to the nearest youth or community space.

    Parameters
    ----------
    layers : dict of str to GeoDataFrame
        Layers in ``grid.crs``; uses ``streets`` and ``youth`` (``kind``, ``name``).
    grid : Grid
        The study grid.
    incidents : GeoDataFrame, optional
        Unused (same signature as every factor).
    spaces : GeoDataFrame, optional
        Extra user spaces (any CRS), optional ``kind`` and ``name`` columns.
    threshold_m : float, optional
        Cells further than this walk (m) are service gaps (default
        :data:`settings.youth_walk_threshold_m`, 800 m, about 10 minutes).
    threshold_reason : str, optional
        Why a caller chose ``threshold_m`` for the user (the demo does); it
        opens the announced ``youth_walk_threshold_m`` choice.
    attach_m : float
        Network nodes within this distance (m) of a space are its entrances.
    snap_m : float
        Vertex snapping tolerance (m) when building the network.
    max_edge_m : float
        Node spacing (m) along streets (see :func:`street_graph`).

    Returns
    -------
    FactorResult
        ``values["youth_walk_m"]``: walking distance (m) to the nearest space
        (inf where none is reachable). ``layer``: gap cells (``role="gap"``,
        cell squares with ``youth_walk_m``) and the spaces (``role="space"``,
        ``kind``, ``name``). ``features``: the spaces (``kind``, ``name``,
        ``source``).
    """
    threshold_m = settings.youth_walk_threshold_m if threshold_m is None else threshold_m
    for label, value in (("threshold_m", threshold_m), ("attach_m", attach_m),
                         ("snap_m", snap_m), ("max_edge_m", max_edge_m)):
        if not (math.isfinite(value) and value > 0):
            raise InputError(f"access {label} must be a positive number of metres, got {value!r}")
    keys = ["youth_walk_m"]
    features = _spaces(get_layer(layers, "youth"), usable(spaces), grid)
    streets = get_layer(layers, "streets")
    if features is None:
        return not_measured(NAME, grid, keys,
                            "no youth or community spaces mapped: access could not be measured")
    if streets is None:
        return not_measured(NAME, grid, keys,
                            "no streets layer: walking distances could not be measured")
    graph, node_xy, kept_share = _build_graph(streets, snap_m, True, max_edge_m)
    if not len(node_xy):
        return not_measured(NAME, grid, keys, "no walkable streets: access could not be measured")
    choices = [announce(Choice(
        "street_graph", f"{len(node_xy):,} nodes",
        f"walking network from street vertices snapped to {snap_m:g} m, with a node at least "
        f"every {max_edge_m:g} m; largest connected component kept ({kept_share:.1%} of "
        "junction and bend nodes)"))]

    cx, cy = grid.centres()
    targets = np.column_stack([cx[grid.mask], cy[grid.mask]])
    walk = nan_grid(grid)
    walk[grid.mask] = network_distance(graph, node_xy, features.geometry.to_numpy(), targets,
                                       attach_m)

    layer, n_gaps = _gaps_and_spaces(grid, walk, threshold_m, features)
    choices.append(_threshold_choice(threshold_m, threshold_reason, len(features), n_gaps,
                                     grid.n_cells))
    return FactorResult(NAME, {"youth_walk_m": walk}, layer, choices, features,
                        kinds={"youth_walk_m": Kind.FACTOR})


def _threshold_choice(threshold_m: float, reason: str | None, n_spaces: int, n_gaps: int,
                      n_cells: int) -> Choice:
    """The announced walking threshold: the caller's reason first (when it chose it), then
    what the threshold makes of this area."""
    why = f"{reason.rstrip('.; ')}; " if reason else ""
    return announce(Choice(
        "youth_walk_threshold_m", float(threshold_m),
        f"{why}cells further than this walk from any of {n_spaces:,} youth/community spaces "
        f"are service gaps ({n_gaps:,} of {n_cells:,} cells; "
        f"{threshold_m / 1.33 / 60:.0f} min at 1.33 m/s)"))


def _gaps_and_spaces(grid: Grid, walk: np.ndarray, threshold_m: float,
                     features: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, int]:
    """The factor's layer: gap cells (squares, walk over ``threshold_m``), then the spaces.

    Returns the layer and the number of gap cells.
    """
    gap = grid.mask & (walk > threshold_m)
    rows, cols = np.nonzero(gap)
    minx = grid.x0 + cols * grid.cell_size
    maxy = grid.bounds[3] - rows * grid.cell_size
    cells = gpd.GeoDataFrame(
        {"role": "gap", "youth_walk_m": walk[rows, cols], "kind": None, "name": None},
        index=range(rows.size),
        geometry=shapely.box(minx, maxy - grid.cell_size, minx + grid.cell_size, maxy),
        crs=grid.crs)
    spaces_layer = gpd.GeoDataFrame(
        {"role": "space", "youth_walk_m": np.nan, "kind": features["kind"].to_numpy(),
         "name": features["name"].to_numpy()},
        geometry=features.geometry.to_numpy(), crs=grid.crs)
    return pd.concat([cells, spaces_layer], ignore_index=True), int(rows.size)


# ------------------------------------------------------------------ helpers
def _entries(
    geoms: np.ndarray, node_xy: np.ndarray, attach_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(source, node, gap) for every node within ``attach_m`` of a source, plus its nearest node.

    Candidate nodes come from a KD-tree ball around each source's bounding-box
    centre ``c`` (half-diagonal ``h``): radius ``max(attach_m + h, r + 2h)``,
    with ``r`` the distance from ``c`` to its nearest node, holds every node
    within ``attach_m`` and the node nearest the geometry itself. Exact
    distances are then computed for the candidates only (no geometry per node).
    """
    from scipy.spatial import cKDTree

    tree = cKDTree(node_xy)
    bounds = shapely.bounds(geoms)
    centre = (bounds[:, :2] + bounds[:, 2:]) / 2.0
    half = np.hypot(bounds[:, 2] - bounds[:, 0], bounds[:, 3] - bounds[:, 1]) / 2.0
    r, _ = tree.query(centre)
    radius = np.maximum(attach_m + half, r + 2.0 * half) + 1e-6
    found = tree.query_ball_point(centre, radius, return_sorted=False)
    sizes = np.fromiter(map(len, found), dtype=np.int64, count=len(found))
    src = np.repeat(np.arange(geoms.size), sizes)
    cand = np.concatenate(found).astype(np.int64)
    gap = shapely.distance(geoms[src], shapely.points(node_xy[cand]))
    # Keep the candidates within attach_m and, for every source, its nearest one(s).
    nearest = np.full(geoms.size, np.inf)
    np.minimum.at(nearest, src, gap)
    keep = (gap <= attach_m) | (gap <= nearest[src])
    return src[keep], cand[keep], gap[keep]


def _as_geoms(sources: np.ndarray | gpd.GeoSeries) -> np.ndarray:
    if isinstance(sources, gpd.GeoSeries | gpd.GeoDataFrame):
        geoms = np.asarray(sources.geometry.to_numpy())
    else:
        arr = np.asarray(sources)
        if arr.dtype != object and arr.ndim == 2 and arr.shape[1] == 2:
            return shapely.points(arr.astype(float))
        geoms = arr.ravel()
    keep = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    return geoms[keep]


def _build_graph(
    streets: gpd.GeoDataFrame | gpd.GeoSeries, snap_m: float, largest_component: bool,
    max_edge_m: float,
) -> tuple[sparse.csr_matrix, np.ndarray, float]:
    """Graph, node coordinates, and the share of junction nodes kept (largest component)."""
    from scipy.sparse.csgraph import connected_components

    if isinstance(streets, gpd.GeoDataFrame) and "highway" in streets.columns:
        streets = streets[~streets["highway"].isin(NOT_WALKABLE).to_numpy()]
    geoms = np.asarray(streets.geometry.to_numpy())
    parts = shapely.get_parts(geoms)
    parts = parts[np.isin(shapely.get_type_id(parts), (1, 2))]
    coords, idx = shapely.get_coordinates(parts, return_index=True)
    if not len(coords):
        return sparse.csr_matrix((0, 0)), np.zeros((0, 2)), 0.0
    # Merge vertices on a snap_m lattice with one integer key per vertex.
    lattice = np.round(coords / snap_m).astype(np.int64)
    lattice -= lattice.min(axis=0)
    key = lattice[:, 0] * (lattice[:, 1].max() + 1) + lattice[:, 1]
    _, node, counts = np.unique(key, return_inverse=True, return_counts=True)
    n = counts.size
    node_xy = np.column_stack([np.bincount(node, weights=coords[:, i], minlength=n) / counts
                               for i in range(2)])
    same = idx[1:] == idx[:-1]
    u, v = node[:-1][same], node[1:][same]
    keep = u != v
    u, v = np.minimum(u[keep], v[keep]), np.maximum(u[keep], v[keep])
    pairs = np.unique(np.column_stack([u, v]), axis=0)
    u, v = pairs[:, 0], pairs[:, 1]
    share = 1.0
    if largest_component and u.size:
        adjacency = sparse.csr_matrix((np.ones(u.size), (u, v)), shape=(n, n))
        _, labels = connected_components(adjacency, directed=False)
        main = labels == np.bincount(labels).argmax()
        share = float(main.mean())
        renumber = np.cumsum(main) - 1
        keep = main[u]
        u, v = renumber[u[keep]], renumber[v[keep]]
        node_xy = node_xy[main]
        n = node_xy.shape[0]
    return _densified(u, v, node_xy, max_edge_m) + (share,)


def _densified(
    u: np.ndarray, v: np.ndarray, node_xy: np.ndarray, max_edge_m: float
) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Split edges longer than ``max_edge_m`` with private nodes (never merged with others).

    Cells snap to the nearest node, so nodes every ``max_edge_m`` along each
    street bound the snapping error; being private, the new nodes cannot
    create a junction where two streets merely cross.
    """
    n = len(node_xy)
    length = np.hypot(*(node_xy[v] - node_xy[u]).T)
    k = np.maximum(1, np.ceil(length / max_edge_m)).astype(np.int64)
    new_base = n + np.cumsum(k - 1) - (k - 1)
    edge = np.repeat(np.arange(u.size), k)
    piece = np.arange(edge.size) - np.repeat(np.cumsum(k) - k, k)
    start = np.where(piece == 0, u[edge], new_base[edge] + piece - 1)
    end = np.where(piece == k[edge] - 1, v[edge], new_base[edge] + piece)
    inner = np.repeat(np.arange(u.size), k - 1)
    frac = (np.arange(inner.size) - np.repeat(np.cumsum(k - 1) - (k - 1), k - 1) + 1) / k[inner]
    new_xy = node_xy[u[inner]] + frac[:, None] * (node_xy[v[inner]] - node_xy[u[inner]])
    weight = np.maximum(length[edge] / k[edge], 1e-9)  # csgraph reads 0 as "no edge"
    total = n + inner.size
    graph = sparse.csr_matrix((np.concatenate([weight, weight]),
                               (np.concatenate([start, end]), np.concatenate([end, start]))),
                              shape=(total, total))
    return graph, np.vstack([node_xy, new_xy])


def _spaces(osm: gpd.GeoDataFrame | None, user: gpd.GeoDataFrame | None, grid: Grid
            ) -> gpd.GeoDataFrame | None:
    frames = []
    for frame, source in ((osm, "osm"), (user, "user")):
        if frame is None:
            continue
        if source == "user":
            frame = to_grid_crs(frame, grid, "youth/community space")
        kind = frame["kind"].to_numpy() if "kind" in frame else np.full(len(frame), source)
        name = frame["name"].to_numpy() if "name" in frame else np.full(len(frame), None)
        frames.append(gpd.GeoDataFrame({"kind": kind, "name": name, "source": source},
                                       geometry=frame.geometry.to_numpy(), crs=grid.crs))
    return pd.concat(frames, ignore_index=True) if frames else None
