"""Candidates of the risk terrain model: every operationalisation of every factor layer.

Distances are counted in *block lengths* (:func:`block_length`); each factor
layer gets a proximity and a density indicator per distance
(:func:`candidate_indicators`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from hotspot_env.core.choices import Choice, announce
from hotspot_env.core.grid import Grid
from hotspot_env.models.rtm._geometry import geometry_array, single_parts
from hotspot_env.models.rtm.constants import BLOCK_MULTIPLES, DEFAULT_BLOCK_LENGTH_M, OPERATIONS
from hotspot_env.models.rtm.density import density_of_parts
from hotspot_env.models.rtm.proximity import proximity_of_parts


def block_length(streets: gpd.GeoDataFrame | None) -> tuple[float, Choice]:
    """Median street-segment length: the RTM unit of distance.

    Parameters
    ----------
    streets : GeoDataFrame or None
        Street segments (lines) in a projected CRS (metres). Multi-part lines
        are split into their parts; empty and zero-length geometries are ignored.

    Returns
    -------
    length_m : float
        Median segment length in metres, rounded to 1 m; 100 m
        (:data:`DEFAULT_BLOCK_LENGTH_M`) when no street segment is available.
    choice : Choice
        The announcement.
    """
    lengths = np.zeros(0)
    if streets is not None and len(streets):
        parts = single_parts(streets)
        lines = parts[np.isin(shapely.get_type_id(parts), (1, 2))]
        lengths = shapely.length(lines)
        lengths = lengths[np.isfinite(lengths) & (lengths > 0)]
    if lengths.size == 0:
        value = DEFAULT_BLOCK_LENGTH_M
        return value, announce(Choice(
            "block_length_m", value, "no street segments to measure, so the common default of "
            f"{value:g} m (a typical city block) is used"))
    value = float(max(1.0, round(float(np.median(lengths)))))
    return value, announce(Choice(
        "block_length_m", value,
        f"median length of the {lengths.size:,} street segments (the RTM unit of distance)"))


@dataclass
class Candidate:
    """One operationalisation of one factor.

    Attributes
    ----------
    factor : str
        Factor (layer) name.
    operation : {"proximity", "density"}
        How the factor was turned into a yes/no layer.
    distance_m : float
        Distance of influence (proximity) or kernel radius (density), metres.
    indicator : ndarray of bool or None
        ``grid.shape``; False outside the study area. None when the design
        lives elsewhere (on the tiles of ``--engine dask``: ask the design).
    """

    factor: str
    operation: str
    distance_m: float
    indicator: np.ndarray | None = field(default=None, repr=False)

    @property
    def label(self) -> str:
        """``factor:operation:distance``."""
        return f"{self.factor}:{self.operation}:{self.distance_m:g}"


def candidate_indicators(
    grid: Grid,
    layers: dict[str, Any],
    block_length_m: float,
    multiples: tuple[float, ...] = BLOCK_MULTIPLES,
    operations: tuple[str, ...] = OPERATIONS,
) -> list[Candidate]:
    """Every operationalisation of every factor layer.

    Parameters
    ----------
    grid : Grid
        The study grid.
    layers : dict of str to GeoDataFrame
        Factor name to features in ``grid.crs``.
    block_length_m : float
        The distance unit (m).
    multiples : tuple of float
        Distances in block lengths (default 1, 2, 3).
    operations : tuple of str
        Subset of ``("proximity", "density")``.

    Returns
    -------
    list of Candidate
        Indicators that are neither all 0 nor all 1 inside the study area.
        Layers holding exactly the same geometries are computed once (each
        candidate still gets its own copy of the indicator).
    """
    distances = [m * block_length_m for m in multiples]
    out: list[Candidate] = []
    n_cells = grid.n_cells
    # the same features often come twice (a factor's features and the user
    # layer it was built from): compute their indicators once
    done: list[tuple[np.ndarray, list[tuple[str, float, np.ndarray]]]] = []
    for name, frame in layers.items():
        if frame is None or len(frame) == 0:
            continue
        geoms = geometry_array(frame)
        found = next((f for g, f in done if same_geometries(g, geoms)), None)
        if found is None:
            found = []
            parts = single_parts(geoms)
            if "proximity" in operations:
                prox = proximity_of_parts(grid, parts, distances)
                found += [("proximity", d, prox[d]) for d in sorted(prox)]
            if "density" in operations:
                dens, _ = density_of_parts(grid, parts, distances, block_length_m)
                found += [("density", d, dens[d]) for d in sorted(dens)]
            done.append((geoms, found))
        for op, d, ind in found:
            n_on = int(ind.sum())
            if 0 < n_on < n_cells:
                out.append(Candidate(name, op, float(d), ind.copy()))
    return out


def same_geometries(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two geometry arrays hold exactly the same geometries in the same order."""
    if a is b:
        return True
    if a.shape != b.shape:
        return False
    head = slice(0, 64)  # most different layers differ at once: skip the full check
    return bool(shapely.equals_exact(a[head], b[head]).all()
                and shapely.equals_exact(a, b).all())
