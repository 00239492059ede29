"""Public mode's study area and projection when only the incidents can set them.

Without ``--osm``, ``--layers``, ``--place`` or ``--bbox`` the internal study area
is the incidents' bounding box (after Tukey's far-out fence) and the UTM zone is
the one of their bounding box's centre. Both read every incident: one incident
more, beyond the box or just inside the fence, moves the grid and so every
public byte. Public mode takes them from lattice squares holding at least k
incidents instead (the k-threshold of the published counts): a square below k,
such as a single stray or a cell going from 1 to 2 incidents, moves nothing
(``tests/test_public_neighbours.py``). Incidents in sparser squares beyond the
box fall outside the study area and are counted as such.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS

from hotspot_env import settings
from hotspot_env.core.choices import Choice, announce
from hotspot_env.errors import InputError

#: Lattice step (degrees) of the squares that place the UTM zone: about 10 km, so a city's
#: incidents fill some squares to k, and a zone line (6 degrees) lies far beyond any of them.
ZONE_LATTICE_DEG = 0.1


def dense_squares_box(xs: np.ndarray, ys: np.ndarray, step: float, k: int
                      ) -> tuple[float, float, float, float] | None:
    """Bounding box of the lattice squares (multiples of ``step``) holding at least ``k`` points.

    Parameters
    ----------
    xs, ys : ndarray
        Point coordinates (any units; ``step`` in the same).
    step : float
        Lattice step.
    k : int
        The fewest points a square must hold to count.

    Returns
    -------
    tuple or None
        ``(minx, miny, maxx, maxy)`` on the lattice, or ``None`` when no square holds ``k``.
    """
    ok = np.isfinite(xs) & np.isfinite(ys)
    squares = np.stack([np.floor(xs[ok] / step), np.floor(ys[ok] / step)], axis=1)
    if not len(squares):
        return None
    keys, counts = np.unique(squares.astype(np.int64), axis=0, return_counts=True)
    dense = keys[counts >= k]
    if not len(dense):
        return None
    low, high = dense.min(axis=0), dense.max(axis=0) + 1
    return (float(low[0] * step), float(low[1] * step),
            float(high[0] * step), float(high[1] * step))


def _too_few(k: int, where: str) -> InputError:
    return InputError(
        f"public mode sets a study area from the incidents only where a {where} holds at least "
        f"{k} incidents, and none does: pass --osm, --layers, --place or --bbox")


def zone_reference(frame: gpd.GeoDataFrame, choices: list[Choice]) -> gpd.GeoSeries:
    """The box whose centre places the UTM zone: the 0.1 degree squares holding k incidents.

    Parameters
    ----------
    frame : GeoDataFrame
        The incidents, in any CRS.
    choices : list of Choice
        The run's choices; the rule is announced there.
    """
    k = int(settings.k_threshold)
    pts = frame.geometry.to_crs(4326).values
    box = dense_squares_box(shapely.get_x(pts), shapely.get_y(pts), ZONE_LATTICE_DEG, k)
    if box is None:
        raise _too_few(k, f"{ZONE_LATTICE_DEG:g} degree square")
    choices.append(announce(Choice(
        "crs_reference", f"{ZONE_LATTICE_DEG:g} degree squares with at least {k} incidents",
        "public mode: the UTM zone is that of the centre of the squares holding at least k "
        "incidents, so no single incident can move it")))
    return gpd.GeoSeries([shapely.box(*box)], crs=4326)


def lattice_area(frame: gpd.GeoDataFrame, crs: CRS, choices: list[Choice]) -> shapely.Geometry:
    """The public study area: the box of the lattice squares holding at least k incidents.

    Parameters
    ----------
    frame : GeoDataFrame
        The incidents, in any CRS.
    crs : pyproj.CRS
        The projected CRS of the grid (metres).
    choices : list of Choice
        The run's choices; the rule replaces the internal ``study_area`` announcement.
    """
    k = int(settings.k_threshold)
    step = float(settings.public_area_lattice_m)
    if not (np.isfinite(step) and step > 0):
        raise InputError(f"the public-mode area lattice must be a positive number of metres, "
                         f"got {step!r}")
    pts = frame.geometry.to_crs(crs).values
    box = dense_squares_box(shapely.get_x(pts), shapely.get_y(pts), step, k)
    if box is None:
        raise _too_few(k, f"{step / 1000:g} km square")
    choices.append(announce(Choice(
        "study_area_lattice_m", step,
        f"public mode: the study area is the box of the {step / 1000:g} km lattice squares "
        f"holding at least {k} incidents (the k of the published counts), so its edges do not "
        "follow single incidents; incidents in sparser squares beyond it are left out")))
    return shapely.box(*box)
