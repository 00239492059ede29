"""Place-level risk factors measured on the study grid.

One module per factor, all with the signature
``compute(layers, grid, incidents=None, **params) -> FactorResult``
(see :mod:`hotspot_env.factors.base`):

=============  ==============================================  ==========================
factor         measures                                        values
=============  ==============================================  ==========================
lighting       modelled street illuminance, dark segments      ``lamp_lux``
darkness       share of timed incidents after civil dusk       ``dark_share``,
                                                               ``timed_incidents``
sightlines     free sightlines from street observers           ``sightline_m``
vacancy        distance to vacant/derelict land                ``vacant_dist_m``
access         walk to youth/community spaces, service gaps    ``youth_walk_m``
custom         any user layer: distance to it, or raster value ``{name}_dist_m`` / ``{name}``
=============  ==============================================  ==========================

Methods, defaults and references: ``docs/factors.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import geopandas as gpd

from hotspot_env.core.grid import Grid
from hotspot_env.core.stages import declares
from hotspot_env.core.timing import timed
from hotspot_env.errors import InputError
from hotspot_env.factors import access, custom, darkness, lighting, sightlines, vacancy
from hotspot_env.factors.base import FactorResult
from hotspot_env.outputs.privacy import declare

if TYPE_CHECKING:
    from hotspot_env.core.analysis import Analysis

__all__ = ["FACTORS", "FactorResult", "compute_all", "custom"]

#: Built-in factors by name. User layers are added with :mod:`custom`
#: (``compute_all`` params key ``"custom:<name>"``).
FACTORS: dict[str, Callable[..., FactorResult]] = {
    "lighting": lighting.compute,
    "darkness": darkness.compute,
    "sightlines": sightlines.compute,
    "vacancy": vacancy.compute,
    "access": access.compute,
}


def compute_all(
    layers: dict[str, gpd.GeoDataFrame],
    grid: Grid,
    incidents: gpd.GeoDataFrame | None = None,
    params: dict[str, dict[str, Any]] | None = None,
    factors: list[str] | None = None,
    computes: dict[str, Callable[..., FactorResult]] | None = None,
) -> dict[str, FactorResult]:
    """Compute several factors on one grid.

    Parameters
    ----------
    layers : dict of str to GeoDataFrame
        Layers already projected to ``grid.crs``.
    grid : Grid
        The study grid.
    incidents : GeoDataFrame, optional
        Incident points in ``grid.crs`` (``datetime``, ``time_known``).
    params : dict of str to dict, optional
        Keyword arguments per factor, e.g. ``{"lighting": {"dark_lux": 3}}``.
        A key ``"custom:<name>"`` adds a custom factor ``<name>`` with those
        arguments (e.g. ``{"custom:bars": {"source": bars_gdf}}``).
    factors : list of str, optional
        Built-in factors to run (default all of :data:`FACTORS`).
    computes : dict of str to callable, optional
        Another function for a built-in factor (or ``"custom"`` for the custom
        factors), same signature and result (the tiled engine's per-tile
        functions, :mod:`hotspot_env.scale.tile_factors`).

    Returns
    -------
    dict of str to FactorResult
        Keyed by factor name, built-ins first, then custom factors in the
        order given.
    """
    params = dict(params or {})
    names = list(FACTORS) if factors is None else list(factors)
    unknown = [n for n in names if n not in FACTORS]
    unknown += [k for k in params if k not in FACTORS and not k.startswith("custom:")]
    if unknown:
        raise InputError(f"unknown factor(s) {', '.join(map(repr, unknown))}: use "
                         f"{', '.join(FACTORS)} or custom:<name>")
    results: dict[str, FactorResult] = {}
    for name in names:  # timed for the benchmark's table (``factors/<name>``)
        with timed(f"factors/{name}", exclusive=False):
            compute = (computes or {}).get(name, FACTORS[name])
            results[name] = compute(layers, grid, incidents, **(params.get(name) or {}))
    for key, kwargs in params.items():
        if not key.startswith("custom:"):
            continue
        name = key.split(":", 1)[1]
        kwargs = {k: v for k, v in (kwargs or {}).items() if k != "name"}
        if name in FACTORS or name in results:
            raise InputError(f"custom factor name {name!r} is already used: choose another")
        compute = (computes or {}).get("custom", custom.compute)
        results[name] = compute(layers, grid, incidents, name=name, **kwargs)
    return results


#: Layer names the built-in factors read; a user layer with one of these names
#: feeds the built-in factor instead of becoming a custom factor.
BUILTIN_LAYERS = ("streets", "lamps", "buildings", "vacant", "youth", "walls", "vegetation")


@declares(adds=("factors",))
def stage(analysis: Analysis, params: dict[str, dict[str, Any]] | None = None,
          factors: list[str] | None = None, youth_walk_m: float | None = None,
          youth_walk_reason: str | None = None,
          computes: dict[str, Callable[..., FactorResult]] | None = None) -> None:
    """Pipeline stage: measure every risk factor for ``analysis``.

    OSM layers and user layers (``user:<name>`` in ``analysis.map_layers``) are
    combined: a user layer named like a built-in layer (``lamps``, ``vacant``,
    ``youth``...) is appended to the OSM one; any other user layer becomes a
    custom factor of the same name. Adds per-cell values to
    ``analysis.arrays``, the results to ``analysis.factors`` and the
    announced choices to ``analysis.choices``.

    Parameters
    ----------
    analysis : Analysis
        After :func:`hotspot_env.core.analysis.analyze`.
    params : dict, optional
        Keyword arguments per factor (see :func:`compute_all`). For OSM-only
        runs lighting uses ``lit_tag="fill"`` by default: OSM lamp layers are
        rarely complete, so a segment tagged ``lit=yes`` with no mapped lamp is
        taken as lit rather than dark.
    factors : list of str, optional
        Built-in factors to run (default all).
    youth_walk_m : float, optional
        This run's youth-space walking threshold (m) (default
        :data:`settings.youth_walk_threshold_m`); also taken from
        ``params["access"]["threshold_m"]``. A given threshold is recorded in
        ``analysis.parameters["youth_walk_threshold_m"]``, where the later
        stages read it (:attr:`Analysis.youth_walk_m`).
    youth_walk_reason : str, optional
        Why a caller chose ``youth_walk_m`` for the user (the demo does): the
        threshold is then announced as an automatic choice with this reason.
    computes : dict of str to callable, optional
        Another function for a built-in factor (see :func:`compute_all`).
    """
    layers: dict[str, gpd.GeoDataFrame] = {
        k: v for k, v in analysis.map_layers.items() if not k.startswith("user:")}
    for name in BUILTIN_LAYERS:  # OSM and user layers of one name, combined
        combined = analysis.layer(name)
        if combined is not None:
            layers[name] = combined
    params = {k: dict(v) for k, v in (params or {}).items()}
    for key, layer in analysis.map_layers.items():
        name = key.split(":", 1)[1] if key.startswith("user:") else None
        if name is not None and name not in BUILTIN_LAYERS and name not in FACTORS:
            params.setdefault(f"custom:{name}", {"source": layer})
    audit = layers.pop("walk_audit", None)
    if audit is not None and len(audit):  # ratings -> poor_<rating> factors and measured light
        from hotspot_env.factors.walkaudit import factor_params

        audit_params, audit_choices = factor_params(audit)
        analysis.choices.extend(audit_choices)
        for key, value in audit_params.items():
            for option, given in value.items():  # options given by the caller win
                params.setdefault(key, {}).setdefault(option, given)
    params.setdefault("lighting", {}).setdefault("lit_tag", "fill")
    _youth_threshold(analysis, params, youth_walk_m, youth_walk_reason)
    results = compute_all(layers, analysis.grid, analysis.points, params, factors, computes)
    protection = analysis.protection
    if protection is not None and "darkness" in results:  # public: no exact share of a cell
        results["darkness"] = darkness.protected_share(results["darkness"], protection.k)
    for result in results.values():
        for column, values in result.values.items():
            declare(analysis, column, values, result.kinds[column])
        analysis.choices.extend(result.choices)
    analysis.factors = results
    analysis.parameters["factors"] = sorted(results)


def _youth_threshold(analysis: Analysis, params: dict[str, dict[str, Any]],
                     youth_walk_m: float | None, reason: str | None) -> None:
    """Give the access factor the run's walking threshold and record it for later stages.

    Recorded only when given, so a run at the default writes the same manifest
    as before the option existed (the access factor announces the value anyway).
    """
    given = youth_walk_m
    if given is None:
        given = (params.get("access") or {}).get("threshold_m")
    if given is None:
        return
    threshold = access.check_walk_threshold(given)
    params.setdefault("access", {})["threshold_m"] = threshold
    if reason:
        params["access"]["threshold_reason"] = reason
    analysis.parameters["youth_walk_threshold_m"] = threshold
