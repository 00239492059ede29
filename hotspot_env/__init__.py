"""hotspot_env: prevent crime hot spots through environmental design.

Overlay place-level risk factors (street lighting, sightlines, vacant land,
access to youth and community spaces) on aggregate incident density, and rank
environmental interventions by expected prevented incidents per unit cost.
Places, never people: every output is aggregated to cells or street segments.
"""

from typing import Any

# Public names and the module each lives in. They are imported on first use
# (PEP 562), so ``import hotspot_env.errors`` (the app's first page, the CLI's
# ``--help``) does not load scipy, geopandas and rasterio first.
_LAZY: dict[str, str] = {
    "Analysis": "core.analysis", "analyze": "core.analysis",
    "Choice": "core.choices",
    "choose_bandwidth": "core.density", "count_incidents": "core.density", "kde": "core.density",
    "Grid": "core.grid", "choose_cell_size": "core.grid", "choose_crs": "core.grid",
    "GiStar": "core.hotspots", "gi_star": "core.hotspots",
    "run": "core.pipeline",
    "GridTooLargeError": "errors", "HotspotEnvError": "errors", "InputError": "errors",
    "NoIncidentsError": "errors", "OutputError": "errors",
    "Incidents": "inputs.io", "read_incidents": "inputs.io", "read_layers": "inputs.io",
    "read_osm": "inputs.osm",
    "write_outputs": "outputs.export",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hotspot_env' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"hotspot_env.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__version__ = "0.1.0"

__all__ = [
    "Analysis", "Choice", "GiStar", "Grid", "GridTooLargeError", "HotspotEnvError", "Incidents",
    "InputError", "NoIncidentsError", "OutputError", "analyze", "choose_bandwidth",
    "choose_cell_size", "choose_crs", "count_incidents", "gi_star", "kde", "read_incidents",
    "read_layers", "read_osm", "run", "write_outputs",
]
