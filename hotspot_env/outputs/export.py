"""Files a planner or crew opens: GeoPackage, GeoTIFF, manifest, report.

Every file goes through :mod:`hotspot_env._atomic`, and every table through
the privacy gate :func:`hotspot_env.outputs.privacy.publish`, so no output is
half-written, none holds an individual incident's coordinates, and public
files carry their protection (k, ε and its split) in their own metadata.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import rasterio

from hotspot_env._atomic import atomic_path, staged_folder, write_text
from hotspot_env.core.timing import timed
from hotspot_env.outputs.manifest import build_manifest, manifest_json
from hotspot_env.outputs.privacy import Kind, privacy_metadata, publish, publish_array

if TYPE_CHECKING:
    from hotspot_env.core.analysis import Analysis

#: Per-cell columns written to ``cells.gpkg`` first, in this order.
CELL_COLUMNS = ("incidents", "kde", "gi_z", "gi_p", "gi_bin")

#: Kinds of the ``cells`` columns the grid adds (per-cell layers declare their own).
CELLS_KINDS = {"cell_id": Kind.IDENTIFIER, "row": Kind.IDENTIFIER, "col": Kind.IDENTIFIER}

def cells_frame(analysis: Analysis):
    """The ``cells`` layer as published: every per-cell layer through the privacy gate."""
    names = [c for c in CELL_COLUMNS if c in analysis.arrays]
    names += [c for c in analysis.arrays if c not in names]
    return publish(analysis, analysis.cells(names), CELLS_KINDS)


def write_cells(analysis: Analysis, path: Path) -> Path:
    """Write ``cells.gpkg`` (layer ``cells``) atomically.

    Written through pyogrio's Arrow path (``use_arrow=True``), about twice as
    fast as feature by feature for a metro grid of 240,000 cells; the file
    reads back identically.
    """
    import pyogrio

    with atomic_path(path) as tmp:
        pyogrio.write_dataframe(cells_frame(analysis), tmp, layer="cells", driver="GPKG",
                                use_arrow=True, metadata=_privacy_tags(analysis))
    return path


def write_density(analysis: Analysis, path: Path) -> Path:
    """Write the KDE surface as a single-band float32 GeoTIFF (NaN = no data)."""
    grid = analysis.grid
    values = np.where(grid.mask, publish_array(analysis, "kde"), np.nan).astype("float32")
    with atomic_path(path) as tmp:
        with rasterio.open(
            tmp, "w", driver="GTiff", height=grid.n_rows, width=grid.n_cols, count=1,
            dtype="float32", crs=grid.crs.to_wkt(), transform=grid.transform, nodata=np.nan,
            compress="deflate",
        ) as dst:
            dst.write(values, 1)
            dst.update_tags(1, units=analysis.parameters.get("kde_units", ""),
                            bandwidth_m=str(analysis.parameters.get("bandwidth_m")))
            dst.update_tags(**_privacy_tags(analysis))
    return path


def _privacy_tags(analysis: Any) -> dict[str, str]:
    """The run's protection as file metadata (GeoPackage, GeoTIFF): mode, k, ε and its split."""
    meta = privacy_metadata(analysis)
    dp = meta.get("differential_privacy")
    return {"privacy": json.dumps(meta, sort_keys=True),
            "privacy_mode": str(meta["mode"]),
            "dp_epsilon": "none" if not dp else str(dp["epsilon"])}


def default_writers() -> dict[str, Callable[[Any, Path], dict[str, Path]]]:
    """Writers of the later stages, by stage name; each skips what its stage did not make."""
    from hotspot_env.interventions import write_interventions
    from hotspot_env.models.rtm import write_rtm
    from hotspot_env.models.validation import write_stage_validation
    from hotspot_env.temporal.trends import write_trends

    return {"validation": write_stage_validation, "rtm": write_rtm, "trends": write_trends,
            "interventions": write_interventions}


def write_outputs(analysis: Analysis, out: str | os.PathLike[str]) -> dict[str, Path]:
    """Write every output of ``analysis`` into folder ``out``.

    Files: ``cells.gpkg``, ``density.tif``, ``report.html``, outputs of later
    stages (:func:`default_writers`), and last ``manifest.json``
    with the hashes of all the others.

    The whole set appears together or not at all: every file is written into a
    hidden staging folder inside ``out`` and moved into place only when all
    are complete (:func:`hotspot_env._atomic.staged_folder`); if any writer
    fails, nothing of this run is left in ``out``.

    Each file is timed (:func:`hotspot_env.core.timing.timed`) as
    ``export_cells_gpkg``, ``export_density_tif``, ``export:<stage>``,
    ``export_report`` and ``export_manifest``, the whole as ``export``.

    Returns
    -------
    dict of str to Path
        File name to path.
    """
    from hotspot_env.outputs.report import write_report

    final = Path(out)
    with timed("export", exclusive=False), staged_folder(out) as folder:
        written: dict[str, Path] = {}
        with timed("export_cells_gpkg"):
            written["cells.gpkg"] = write_cells(analysis, folder / "cells.gpkg")
        with timed("export_density_tif"):
            written["density.tif"] = write_density(analysis, folder / "density.tif")
        for name, writer in default_writers().items():
            with timed(f"export:{name}"):
                written.update(writer(analysis, folder))
        with timed("export_report"):
            written["report.html"] = write_report(analysis, folder / "report.html")
        with timed("export_manifest"):
            manifest = build_manifest(analysis, {k: v for k, v in written.items()
                                                 if not k.endswith(".gpkg")})
        written["manifest.json"] = write_text(folder / "manifest.json", manifest_json(manifest))
        written = {name: final / Path(path).relative_to(folder) if Path(path).is_relative_to(
            folder) else Path(path) for name, path in written.items()}
    return written
