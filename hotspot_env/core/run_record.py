"""What a run records about itself: counts, parameters, period and its map layers.

Steps of :func:`hotspot_env.core.analysis.analyze` that fill the
:class:`~hotspot_env.core.analysis.Analysis` fields ``counts``, ``parameters`` and
``map_layers`` (never incident points).
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from hotspot_env import settings
from hotspot_env.core.grid import Grid
from hotspot_env.core.sources import Sources
from hotspot_env.core.timing import timed
from hotspot_env.inputs.io import Incidents
from hotspot_env.outputs.privacy import Protection, min_cell_size
from hotspot_env.temporal.profiles import record_period


def count_summary(data: Incidents, n_excluded: int, n_outside: int,
                  arrays: dict[str, np.ndarray]) -> dict[str, int]:
    """Incidents read, invalid, left out (by source, outside the area), used and dropped."""
    summary = {
        "incidents_read": int(data.n_read),
        "incidents_invalid": int(data.n_invalid),
        "incidents_excluded_source": n_excluded,
        "incidents_outside_area": n_outside,
        "incidents_used": int(arrays["incidents"].sum()),
    }
    summary["incidents_dropped"] = summary["incidents_read"] - summary["incidents_used"]
    return summary


def project_map_layers(sources: Sources, proj_crs: CRS) -> dict[str, gpd.GeoDataFrame]:
    """The OSM, user and walk-audit layers in the grid's projection (never incident points)."""
    map_layers: dict[str, gpd.GeoDataFrame] = {}
    with timed("project"):
        if sources.osm_layers is not None:
            for name, layer in sources.osm_layers.items():
                map_layers[name] = layer.to_crs(proj_crs) if len(layer) else layer.set_crs(
                    4326, allow_override=True).to_crs(proj_crs)
        if sources.user_layers is not None:
            for name, layer in sources.user_layers.items():
                map_layers[f"user:{name}"] = layer.to_crs(proj_crs)
        if sources.audit_layer is not None:
            map_layers["walk_audit"] = sources.audit_layer.to_crs(proj_crs)
    return map_layers


def run_parameters(grid: Grid, sources: Sources, bandwidth: float, years: float | None,
                    privacy: str, dp_epsilon: float | None, excluded: tuple[str, ...],
                    timezone: str | None, protection: Protection | None) -> dict[str, Any]:
    """Every parameter the run used, automatic or given (the manifest's ``parameters``)."""
    data = sources.data
    parameters = {
        "crs": grid.crs.to_string(),
        "cell_size_m": float(grid.cell_size),
        "bandwidth_m": float(bandwidth),
        "kernel": "quartic",
        "kde_units": "incidents per km² per year" if years else "incidents per km²",
        "period_years": years,
        "gi_weights": "queen contiguity, binary, self included (Gi*)",
        "gi_fdr_levels": list(settings.gi_fdr_levels),
        "privacy": privacy,
        "k_threshold": settings.k_threshold,
        "dp_epsilon": None if dp_epsilon is None else float(dp_epsilon),
        "excluded_sources": list(excluded),
        "grid": grid.to_dict(),
        "timezone": timezone,
        "record_period": record_period(data.frame, timezone, data.date_precision),
        "date_precision": data.date_precision,
    }
    if privacy == "public":
        parameters["public_min_bandwidth_m"] = float(settings.public_min_bandwidth_m)
        parameters["public_min_cell_size_m"] = float(min_cell_size())
        if protection is not None and protection.budget is not None:
            parameters["dp_accountant"] = "sequential composition"
    return parameters


def span_years(points: gpd.GeoDataFrame, precision: str | None = None) -> float | None:
    """Length of the recorded period in years (``None`` without dates).

    Month-only dates cover their whole last month (a single month is about
    31 days, not one).
    """
    when = points["datetime"].dropna()
    if when.empty:
        return None
    last = when.max()
    if precision == "month":
        last = last + pd.offsets.MonthBegin(1) - pd.Timedelta(days=1)
    days = (last - when.min()).total_seconds() / 86400 + 1
    return round(max(days, 1.0) / 365.25, 4)
