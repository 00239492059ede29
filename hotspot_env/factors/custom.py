"""Custom factors: any user layer added as a named risk factor.

A vector layer (points, lines or polygons: bars, bus stops, ATMs, derelict
buildings from a council register...) becomes ``{name}_dist_m``, the distance
from each cell centre to its nearest feature (0 inside a polygon), the
proximity operationalisation of risk terrain modelling (Caplan & Kennedy
2016); its features are handed to the RTM for density operations too. A raster
(GeoTIFF) is sampled at the cell centres as ``{name}``, in the raster's units.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np

from hotspot_env.core.choices import Choice, announce
from hotspot_env.core.grid import Grid
from hotspot_env.errors import InputError
from hotspot_env.factors.base import (
    FactorResult,
    centres_flat,
    distance_to_features,
    get_layer,
    not_measured,
    outside_to_nan,
    sample_raster,
    to_grid_crs,
    usable,
)
from hotspot_env.outputs.privacy import Kind

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


def compute(
    layers: dict[str, gpd.GeoDataFrame],
    grid: Grid,
    incidents: gpd.GeoDataFrame | None = None,
    *,
    name: str,
    source: gpd.GeoDataFrame | str | os.PathLike[str] | None = None,
    band: int = 1,
    measure: Callable[[Grid, np.ndarray], np.ndarray] | None = None,
) -> FactorResult:
    """Add a user layer as a named factor.

    Parameters
    ----------
    layers : dict of str to GeoDataFrame
        Layers in ``grid.crs``; ``layers[name]`` is used when ``source`` is None.
    grid : Grid
        The study grid.
    incidents : GeoDataFrame, optional
        Unused (same signature as every factor).
    name : str
        Factor name: lower-case letters, digits and ``_``, starting with a
        letter (e.g. ``"bars"``); it prefixes the value names.
    source : GeoDataFrame or path, optional
        A vector layer (any CRS), a path to a vector file (read with
        geopandas), or a path to a raster (``.tif``/``.tiff``/``.vrt``).
    band : int
        Raster band to sample (1-based).
    measure : callable, optional
        Another :func:`~hotspot_env.factors.base.distance_to_features` for a
        vector layer (the tiled engine's, :mod:`hotspot_env.scale.tile_factors`).

    Returns
    -------
    FactorResult
        Vector: ``values[f"{name}_dist_m"]`` (m), ``features`` = the layer in
        ``grid.crs``, ``layer`` = the same. Raster: ``values[name]`` (raster
        units; NaN at nodata/outside), no layer or features.
    """
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise InputError(f"custom factor name {name!r} must be lower-case letters, digits and _, "
                         "starting with a letter (e.g. bars)")
    if source is None:
        frame = get_layer(layers, name)
        if frame is None:
            return not_measured(name, grid, [f"{name}_dist_m"],
                                f"no {name!r} layer given: the custom factor could not be measured")
        return _vector(name, frame, grid, measure)
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if not path.is_file():
            raise InputError(f"custom layer {path} does not exist: check the path for {name!r}")
        if path.suffix.lower() in (".tif", ".tiff", ".vrt"):
            xy = centres_flat(grid)
            values = sample_raster(path, grid.crs, xy[:, 0], xy[:, 1], band).reshape(grid.shape)
            choice = announce(Choice(
                name, path.name,
                f"raster band {band} sampled at cell centres (nearest pixel; NaN at nodata "
                "or outside the raster)"))
            return FactorResult(name, {name: outside_to_nan(grid, values)}, None, [choice],
                                kinds={name: Kind.FACTOR})
        try:
            source = gpd.read_file(path)
        except Exception as exc:  # pyogrio raises several types for unreadable files
            raise InputError(f"cannot read custom layer {path.name}: {exc}") from exc
    if not isinstance(source, gpd.GeoDataFrame):
        raise InputError(f"custom factor {name!r} needs a GeoDataFrame or a file path")
    frame = usable(source)
    if frame is None:
        return not_measured(name, grid, [f"{name}_dist_m"],
                            f"the {name!r} layer is empty: the custom factor could not be measured")
    return _vector(name, to_grid_crs(frame, grid, name), grid, measure)


def _vector(name: str, frame: gpd.GeoDataFrame, grid: Grid,
            measure: Callable[[Grid, np.ndarray], np.ndarray] | None = None) -> FactorResult:
    dist = (measure or distance_to_features)(grid, frame.geometry.to_numpy())
    kinds = ", ".join(sorted(frame.geometry.geom_type.unique()))
    choice = announce(Choice(
        f"{name}_dist_m", f"{len(frame):,} features",
        f"distance from each cell centre to the nearest {name} feature ({kinds})"))
    frame = frame.reset_index(drop=True)
    return FactorResult(name, {f"{name}_dist_m": dist}, frame, [choice], frame,
                        kinds={f"{name}_dist_m": Kind.FACTOR})
