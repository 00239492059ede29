"""The run manifest: input hashes, parameters, automatic choices, versions.

Every run writes ``manifest.json`` so anyone can tell exactly what produced a
map or a work order. It never holds incident coordinates.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
from typing import TYPE_CHECKING, Any

from hotspot_env._hashing import file_sha256
from hotspot_env.outputs.privacy import privacy_metadata, public_choice, public_totals

if TYPE_CHECKING:
    from hotspot_env.core.analysis import Analysis

#: Packages whose versions are recorded (those that change results).
VERSIONED_PACKAGES = ("hotspot-env", "numpy", "scipy", "pandas", "geopandas", "shapely",
                      "pyproj", "rasterio", "pyogrio", "esda", "libpysal", "osmnx", "pyrosm",
                      "numba", "astral", "statsmodels", "highspy", "opendp")


def package_versions() -> dict[str, str]:
    """Installed versions of :data:`VERSIONED_PACKAGES` (``"missing"`` if absent)."""
    versions = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "missing"
    return versions


def build_manifest(analysis: Analysis, outputs: dict[str, Any] | None = None) -> dict[str, Any]:
    """Assemble the manifest for an :class:`~hotspot_env.core.analysis.Analysis`.

    Parameters
    ----------
    analysis : Analysis
        The finished analysis.
    outputs : dict of str to path, optional
        Output files written so far; their SHA-256 is recorded.
    """
    return {
        "tool": "hotspot_env",
        "simulated_incidents": bool(analysis.parameters.get("simulated", False)),
        "inputs": analysis.inputs,
        "parameters": analysis.parameters,
        "automatic_choices": [public_choice(analysis, c).to_dict() for c in analysis.choices],
        "counts": public_totals(analysis),
        "privacy": {"mode": analysis.parameters.get("privacy", "internal"),
                    "k_threshold": analysis.parameters.get("k_threshold"),
                    "dp_epsilon": analysis.parameters.get("dp_epsilon"),
                    "protection": privacy_metadata(analysis)},
        "versions": package_versions(),
        "outputs": [{"path": name, "sha256": file_sha256(path)}
                    for name, path in sorted((outputs or {}).items())],
    }


def manifest_json(manifest: dict[str, Any]) -> str:
    """Serialise deterministically (sorted keys, no timestamps)."""
    return json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False, default=_default)


def _default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
