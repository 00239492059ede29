"""Where a run looks: the local projection, the study area, the grid and the incidents inside.

Steps of :func:`hotspot_env.core.analysis.analyze`, in its order. Each automatic
choice (CRS, study area, public-mode lattice, cell size) is announced where it is
made and appended to the run's ``choices``.
"""

from __future__ import annotations

import logging

import geopandas as gpd
import shapely
from pyproj import CRS

from hotspot_env.core.area import study_area
from hotspot_env.core.choices import Choice, announce
from hotspot_env.core.grid import Grid, choose_cell_size, choose_crs
from hotspot_env.core.public_area import lattice_area, zone_reference
from hotspot_env.core.sources import Sources
from hotspot_env.core.timing import timed
from hotspot_env.errors import InputError, NoIncidentsError
from hotspot_env.outputs.privacy import min_cell_size

logger = logging.getLogger("hotspot_env")

#: Fewer incidents than this in the study area get a warning that hot spots are descriptive.
MIN_INCIDENTS_FOR_HOTSPOTS = 30


def projection_and_area(frame: gpd.GeoDataFrame, sources: Sources,
                        bbox: tuple[float, float, float, float] | None, privacy: str
                        ) -> tuple[CRS, shapely.Geometry]:
    """The local projection (from the streets, the incidents or the bbox) and the study area.

    In public mode, where only the incidents can set them, both come from lattice squares
    holding at least k incidents (:mod:`hotspot_env.core.public_area`).
    """
    osm_layers = sources.osm_layers
    from_streets = osm_layers is not None and len(osm_layers["streets"])
    reference = osm_layers["streets"] if from_streets else frame
    if bbox is not None:
        reference = gpd.GeoSeries([shapely.box(*bbox)], crs=4326)
    elif privacy == "public" and not from_streets and len(frame):
        reference = zone_reference(frame, sources.choices)
    with timed("area"):
        try:
            proj_crs, crs_choice = choose_crs(reference)
        except RuntimeError as exc:  # pyproj: no UTM zone (beyond 84° N / 80° S)
            raise InputError(
                "no local UTM projection fits these coordinates (beyond 84° N or 80° S?): check "
                "for swapped or placeholder coordinates, or give projected x/y with --crs"
            ) from exc
        sources.choices.append(crs_choice)
        area, area_choice = study_area(proj_crs, bbox=bbox, place_polygon=sources.place_polygon,
                                       osm_layers=osm_layers, user_layers=sources.user_layers,
                                       incidents=frame)
    if privacy == "public" and area_choice.value == "incident extent":  # not the raw extent
        return proj_crs, lattice_area(frame, proj_crs, sources.choices)
    sources.choices.append(area_choice)
    return proj_crs, area


def make_grid(area: shapely.Geometry, proj_crs: CRS, cell_size: float | None, privacy: str,
              max_cells: int | None, choices: list[Choice]) -> Grid:
    """The study grid: the given or chosen cell size (public mode: never below its minimum)."""
    if cell_size is None:
        cell_size, size_choice = choose_cell_size(area.bounds)
        choices.append(size_choice)
        if privacy == "public" and cell_size < min_cell_size():
            cell_size = min_cell_size()
            choices.append(announce(Choice(
                "cell_size_m", cell_size, "raised to the public-mode minimum so a '<k' cell "
                "cannot locate an incident")))
    elif privacy == "public" and cell_size < min_cell_size():
        raise InputError(f"--cell-size {cell_size:g} m is below the public-mode minimum of "
                         f"{min_cell_size():g} m (a small cell locates an incident): use "
                         f"--cell-size {min_cell_size():g} or more")
    with timed("grid"):
        grid = Grid.from_area(area, proj_crs, float(cell_size), max_cells=max_cells)
    if grid.n_rows < 2 or grid.n_cols < 2:
        minx, miny, maxx, maxy = area.bounds
        raise InputError(
            f"--cell-size {cell_size:g} m leaves fewer than 2 cells across the study area "
            f"({maxx - minx:,.0f} x {maxy - miny:,.0f} m): use a smaller --cell-size"
        )
    return grid


def points_inside(frame: gpd.GeoDataFrame, proj_crs: CRS, grid: Grid,
                  bbox: tuple[float, float, float, float] | None,
                  choices: list[Choice]) -> gpd.GeoDataFrame:
    """The incidents inside the grid's study area, projected (those outside: dropped, announced).

    Too few left for hot-spot statistics are logged as descriptive only.
    """
    with timed("project"):
        points = frame.to_crs(proj_crs)
    row, _ = grid.cell_index(points.geometry.x.to_numpy(), points.geometry.y.to_numpy())
    inside = row >= 0
    n_outside = int((~inside).sum())
    if not inside.any():
        if bbox is not None:
            raise NoIncidentsError(
                f"none of the {len(points):,} incidents fall inside the --bbox: give it as "
                "W,S,E,N in degrees (longitude first) around the incidents, or check that "
                "longitude and latitude are not swapped"
            )
        raise NoIncidentsError(
            f"none of the {len(points):,} incidents fall inside the study area: are longitude and "
            "latitude swapped, or is the CRS wrong (pass --crs)?"
        )
    if n_outside:
        choices.append(announce(Choice(
            "incidents_outside_area", n_outside,
            "incidents outside the study area were dropped (counted in the manifest)")))
    _warn_if_few(int(inside.sum()))
    return points.loc[inside].reset_index(drop=True)


def _warn_if_few(n: int) -> None:
    """Too few incidents for hot-spot statistics: logged as descriptive only."""
    if n < MIN_INCIDENTS_FOR_HOTSPOTS:
        logger.warning(
            "only %d incident(s) in the study area: the density surface and Gi* hot spots are "
            "descriptive only (hot-spot statistics need at least %d)", n,
            MIN_INCIDENTS_FOR_HOTSPOTS)


