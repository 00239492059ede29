"""Equity: does investment follow harm across neighbourhoods?

Zones, in order of preference:

1. user boundaries (polygons with a name column);
2. administrative or neighbourhood polygons in the analysis' map layers
   (``admin``, ``boundaries``, ``neighbourhoods``, ``districts``, also as
   ``user:<name>``);
3. the districts of the time analyses (``analysis.trends["districts"]``) when
   that stage ran, so a candidate's ``district`` is its cell's ``district``
   in ``cells.gpkg`` and in the app;
4. otherwise the same districts built here:
   :func:`hotspot_env.temporal.profiles.grid_districts` (blocks of whole cells anchored
   at multiples of the block side, numbered ``D01``, ``D02``... from the
   north-west), the package's one grid-district scheme.

A cell belongs to the zone containing its centre. Per zone, ``harm_share`` is
its share of the expected incidents per year (the interventions' baseline)
and ``investment_share`` its share of the selected portfolio's annualised
cost. **Rule**: a zone is flagged when ``harm_share >= MIN_HARM_SHARE`` (5 %)
and ``investment_share < INVESTMENT_RATIO x harm_share`` (half): a place that
bears a real part of the harm gets clearly less than its share of the money.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from hotspot_env.core.choices import Choice, announce
from hotspot_env.core.grid import Grid
from hotspot_env.errors import InputError

if TYPE_CHECKING:
    from hotspot_env.core.analysis import Analysis
    from hotspot_env.temporal.profiles import Districts

#: Zones with at least this share of the harm can be flagged.
MIN_HARM_SHARE: float = 0.05
#: Flag when investment share < this x harm share.
INVESTMENT_RATIO: float = 0.5
#: Map-layer names searched for neighbourhood polygons.
ZONE_LAYERS: tuple[str, ...] = ("admin", "boundaries", "neighbourhoods", "neighborhoods",
                                "districts")
#: Zone of cells outside every user polygon.
UNASSIGNED: str = "unassigned"


@dataclass
class Zones:
    """Neighbourhoods on the grid.

    Attributes
    ----------
    index : ndarray of int32
        ``grid.shape``: zone position per cell, -1 outside the study area.
    names : list of str
        Zone names by position.
    source : str
        "boundaries", "map layer <name>" or "grid blocks".
    """

    index: np.ndarray
    names: list[str]
    source: str

    def of_points(self, grid: Grid, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Zone name at points (``"outside the study area"`` where none)."""
        row, col = grid.cell_index(np.asarray(x, float), np.asarray(y, float))
        ok = row >= 0
        pos = np.full(row.shape, -1)
        pos[ok] = self.index[row[ok], col[ok]]
        names = np.asarray([*self.names, "outside the study area"], dtype=object)
        return names[np.where(pos >= 0, pos, len(self.names))]

    def of_geometries(self, grid: Grid, geoms: np.ndarray) -> np.ndarray:
        """Zone name of each geometry's representative point."""
        geoms = np.asarray(geoms)
        if geoms.size == 0:
            return np.zeros(0, dtype=object)
        rep = shapely.point_on_surface(geoms)
        return self.of_points(grid, shapely.get_x(rep), shapely.get_y(rep))


def grid_districts(grid: Grid, block_cells: int | None = None) -> Zones:
    """The grid's districts (:func:`hotspot_env.temporal.profiles.grid_districts`) as zones."""
    from hotspot_env.temporal.profiles import grid_districts as districts_of_grid

    return zones_from_districts(districts_of_grid(grid, block_cells)[0])


def zones_from_districts(districts: Districts) -> Zones:
    """Zones that are exactly ``districts`` (same cells, same ids)."""
    return Zones(np.asarray(districts.index, dtype=np.int32), list(districts.ids),
                 districts.source)


def zones_from_polygons(
    grid: Grid, polygons: gpd.GeoDataFrame, name_column: str | None = None,
    source: str = "boundaries",
) -> Zones:
    """Zones from polygons: each cell goes to the first polygon containing its centre."""
    if polygons.crs is None:
        raise InputError("the boundaries layer has no CRS: save it with one (e.g. EPSG:4326)")
    if CRS.from_user_input(polygons.crs) != grid.crs:
        polygons = polygons.to_crs(grid.crs)
    geoms = polygons.geometry.to_numpy()
    keep = np.isin(shapely.get_type_id(geoms), (3, 6))
    if not keep.any():
        raise InputError("the boundaries layer has no polygons: give neighbourhood areas")
    polygons = polygons[keep]
    column = name_column or next(
        (c for c in ("name", "district", "neighbourhood", "neighborhood", "id", "zone")
         if c in polygons.columns), None)
    if column is None:
        names = [f"Z{i + 1:02d}" for i in range(len(polygons))]
    else:
        names = polygons[column].fillna("").astype(str).str.strip().tolist()
        names = [n or f"Z{i + 1:02d}" for i, n in enumerate(names)]
    uniq = list(dict.fromkeys(names))
    code = np.array([uniq.index(n) for n in names], dtype=np.int32)
    cx, cy = grid.centres()
    rows, cols = np.nonzero(grid.mask)
    pts = shapely.points(cx[rows, cols], cy[rows, cols])
    tree = shapely.STRtree(polygons.geometry.to_numpy())
    pt_idx, poly_idx = tree.query(pts, predicate="within")
    first = np.full(pts.size, np.iinfo(np.int64).max)
    np.minimum.at(first, pt_idx, poly_idx)
    zone = np.where(first < len(code), code[np.minimum(first, len(code) - 1)], -1)
    if (zone < 0).any():
        uniq.append(UNASSIGNED)
        zone = np.where(zone < 0, len(uniq) - 1, zone)
    index = np.full(grid.shape, -1, dtype=np.int32)
    index[rows, cols] = zone
    return Zones(index, uniq, source)


def choose_zones(
    analysis: Analysis,
    boundaries: gpd.GeoDataFrame | str | os.PathLike[str] | None = None,
    block_cells: int | None = None,
) -> tuple[Zones, Choice]:
    """The zones used for districts and equity (see the module docstring).

    ``block_cells`` is the side of grid districts in cells (default: the
    automatic size of :func:`hotspot_env.temporal.profiles.grid_districts`).
    """
    grid = analysis.grid
    if boundaries is not None:
        frame = boundaries if isinstance(boundaries, gpd.GeoDataFrame) else _read(boundaries)
        zones = zones_from_polygons(grid, frame)
        rule = "the boundaries you gave"
    else:
        layer_name = next((k for name in ZONE_LAYERS for k in (name, f"user:{name}")
                           if k in analysis.map_layers and len(analysis.map_layers[k])), None)
        if layer_name is not None:
            zones = zones_from_polygons(grid, analysis.map_layers[layer_name],
                                        source=f"map layer {layer_name}")
            rule = f"polygons of the {layer_name!r} layer"
        else:
            # one district scheme: the time analyses' districts, else the same built here
            districts = (getattr(analysis, "trends", None) or {}).get("districts")
            if districts is not None and block_cells is None:
                rule = f"the districts of the time analyses; {districts.rule}"
            else:
                from hotspot_env.temporal.profiles import grid_districts as districts_of_grid

                districts, _ = districts_of_grid(grid, block_cells)
                rule = districts.rule
            zones = zones_from_districts(districts)
    return zones, announce(Choice("equity_zones", zones.source,
                                  f"{len(zones.names)} zones: {rule}"))


def equity_table(
    zones: Zones,
    harm: np.ndarray,
    cand_zone: np.ndarray,
    cost: np.ndarray,
    selected: np.ndarray,
) -> pd.DataFrame:
    """Share of investment vs share of harm per zone, with the flag (module docstring).

    Parameters
    ----------
    zones : Zones
    harm : ndarray
        ``grid.shape``: expected incidents per year per cell.
    cand_zone : ndarray of str
        Zone name of each candidate.
    cost : ndarray
        Annualised cost per candidate (USD/year).
    selected : ndarray of bool
        The portfolio.

    Returns
    -------
    DataFrame
        ``district, harm_per_year, harm_share, investment, investment_share,
        n_selected, flagged``, sorted by district.
    """
    n_z = len(zones.names)
    inside = zones.index >= 0
    harm_z = np.bincount(zones.index[inside], weights=np.nan_to_num(harm[inside]), minlength=n_z)
    pos = {name: i for i, name in enumerate(zones.names)}
    cz = np.array([pos.get(z, -1) for z in cand_zone], dtype=np.int64)
    sel = np.asarray(selected, dtype=bool) & (cz >= 0)
    inv_z = np.bincount(cz[sel], weights=np.asarray(cost, float)[sel], minlength=n_z)
    n_sel = np.bincount(cz[sel], minlength=n_z)
    harm_share = harm_z / harm_z.sum() if harm_z.sum() > 0 else np.zeros(n_z)
    inv_share = inv_z / inv_z.sum() if inv_z.sum() > 0 else np.zeros(n_z)
    flagged = (harm_share >= MIN_HARM_SHARE) & (inv_share < INVESTMENT_RATIO * harm_share)
    frame = pd.DataFrame({"district": zones.names, "harm_per_year": harm_z,
                          "harm_share": harm_share, "investment": inv_z,
                          "investment_share": inv_share, "n_selected": n_sel,
                          "flagged": flagged})
    return frame.sort_values("district", kind="stable").reset_index(drop=True)


def rule_text() -> str:
    """The flag rule in words."""
    return (f"flagged: harm share >= {MIN_HARM_SHARE:.0%} and investment share < "
            f"{INVESTMENT_RATIO:g} x harm share")


def _read(path: str | os.PathLike[str]) -> gpd.GeoDataFrame:
    try:
        return gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several types
        raise InputError(f"cannot read boundaries {path} ({exc.__class__.__name__}): use GeoJSON "
                         "or GeoPackage polygons") from exc
