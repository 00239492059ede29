"""Vacant and derelict land: distance from each cell to the nearest vacant feature.

Vacant lots and abandoned buildings are associated with crime around them,
and greening or remediating them reduces gun violence nearby (Branas et al.
2018). Features come from the OSM ``vacant`` layer (tags in
:data:`hotspot_env.inputs.osm.VACANT_TAGS`: ``landuse=brownfield|greenfield|vacant``,
``building=ruins|abandoned|derelict``, ``ruins=*``, ``abandoned=*``,
``disused=*``, ``vacant=yes``) and, optionally, a user parcel layer with a
vacancy flag (e.g. a municipal vacant-property register).

``vacant_dist_m`` is the straight-line distance from each cell centre to the
nearest vacant feature's edge (0 inside a vacant polygon), the proximity
operationalisation of risk terrain modelling (Caplan & Kennedy 2016).
"""

from __future__ import annotations

from collections.abc import Callable

import geopandas as gpd
import numpy as np
import pandas as pd

from hotspot_env.core.choices import Choice, announce
from hotspot_env.core.grid import Grid
from hotspot_env.errors import InputError
from hotspot_env.factors.base import (
    FactorResult,
    distance_to_features,
    get_layer,
    not_measured,
    to_grid_crs,
    usable,
)
from hotspot_env.outputs.privacy import Kind

NAME = "vacancy"

_FALSE = {"", "0", "false", "no", "n", "f", "none", "nan"}


def compute(
    layers: dict[str, gpd.GeoDataFrame],
    grid: Grid,
    incidents: gpd.GeoDataFrame | None = None,
    *,
    parcels: gpd.GeoDataFrame | None = None,
    flag: str = "vacant",
    measure: Callable[[Grid, np.ndarray], np.ndarray] | None = None,
) -> FactorResult:
    """Distance (m) from every cell centre to the nearest vacant or derelict feature.

    Parameters
    ----------
    layers : dict of str to GeoDataFrame
        Layers in ``grid.crs``; uses ``vacant`` (``kind`` column).
    grid : Grid
        The study grid.
    incidents : GeoDataFrame, optional
        Unused (same signature as every factor).
    parcels : GeoDataFrame, optional
        User parcels (any CRS) with a vacancy flag column; rows whose flag is
        true (True, 1, "yes", "true") are added to the OSM features with
        ``kind = "parcel"``.
    flag : str
        Name of the flag column in ``parcels`` (default ``"vacant"``).
    measure : callable, optional
        Another :func:`~hotspot_env.factors.base.distance_to_features` (the tiled
        engine's, :mod:`hotspot_env.scale.tile_factors`).

    Returns
    -------
    FactorResult
        ``values["vacant_dist_m"]``: distance to the nearest vacant feature
        (m), 0 inside one. ``layer`` and ``features``: the vacant features with
        ``kind`` (OSM tag, or "parcel") and ``source`` ("osm" or "user").
    """
    frames = []
    osm = get_layer(layers, "vacant")
    if osm is not None:
        kind = osm["kind"] if "kind" in osm else pd.Series("vacant", index=osm.index)
        frames.append(gpd.GeoDataFrame({"kind": kind.to_numpy(), "source": "osm"},
                                       geometry=osm.geometry.to_numpy(), crs=grid.crs))
    n_parcels = 0
    parcels = usable(parcels)
    if parcels is not None:
        if flag not in parcels.columns:
            raise InputError(f"the parcel layer has no {flag!r} column: name the vacancy flag "
                             "column with flag=...")
        on = parcels[flag].map(_is_true).to_numpy()
        chosen = to_grid_crs(parcels[on], grid, "parcel")
        n_parcels = len(chosen)
        if n_parcels:
            frames.append(gpd.GeoDataFrame({"kind": "parcel", "source": "user"},
                                           index=range(n_parcels),
                                           geometry=chosen.geometry.to_numpy(), crs=grid.crs))
    if not frames:
        return not_measured(NAME, grid, ["vacant_dist_m"],
                            "no vacant or derelict features mapped: vacancy could not be measured")
    features = pd.concat(frames, ignore_index=True)
    dist = (measure or distance_to_features)(grid, features.geometry.to_numpy())
    choice = announce(Choice(
        "vacant_features", len(features),
        f"distance to the nearest of {len(features) - n_parcels:,} OSM vacant/derelict features "
        f"and {n_parcels:,} flagged user parcels"))
    return FactorResult(NAME, {"vacant_dist_m": dist}, features, [choice], features,
                        kinds={"vacant_dist_m": Kind.FACTOR})


def _is_true(value: object) -> bool:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return False
    if isinstance(value, str):
        return value.strip().lower() not in _FALSE
    return bool(value)
