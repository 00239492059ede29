"""The saved re-ranking state: file names, the basemap, compact arrays and their ``.npz`` bytes.

:meth:`hotspot_env.interventions.result.InterventionsResult.save_state` writes, and
:meth:`~hotspot_env.interventions.result.InterventionsResult.load` reads, these files next to
the analysis outputs, so ``hotspot-env rank`` re-ranks without recomputing the analysis.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

STATE_FILE = "interventions_state.npz"
CANDIDATES_FILE = "interventions_candidates.parquet"
BASEMAP_FILE = "interventions_basemap.parquet"
#: 2: integer arrays are stored in the narrowest dtype that holds them (``meta["dtypes"]``
#: gives the dtype to restore); version 1 files are still read.
STATE_VERSION = 2


def make_basemap(map_layers: dict[str, gpd.GeoDataFrame], crs: Any) -> gpd.GeoDataFrame | None:
    """Streets (any, ``label`` = name) and addressed buildings, for locations and maps."""
    parts = []
    streets = map_layers.get("streets")
    if streets is not None and len(streets):
        name = streets["name"] if "name" in streets else pd.Series("", index=streets.index)
        highway = streets["highway"] if "highway" in streets else pd.Series("",
                                                                             index=streets.index)
        parts.append(gpd.GeoDataFrame(
            {"layer": "street", "label": name.fillna("").astype(str).to_numpy(),
             "highway": highway.fillna("").astype(str).to_numpy()},
            geometry=streets.geometry.to_numpy(), crs=streets.crs))
    buildings = map_layers.get("buildings")
    if buildings is not None and len(buildings) and "address" in buildings:
        addr = buildings["address"].fillna("").astype(str)
        has = (addr != "").to_numpy()
        if has.any():
            parts.append(gpd.GeoDataFrame(
                {"layer": "building", "label": addr[has].to_numpy(), "highway": ""},
                geometry=buildings.geometry.to_numpy()[has], crs=buildings.crs))
    if not parts:
        return None
    frame = gpd.GeoDataFrame(pd.concat([p.to_crs(crs) for p in parts], ignore_index=True),
                             geometry="geometry", crs=crs)
    return frame[frame.geometry.notna()].reset_index(drop=True)


def split_basemap(basemap: gpd.GeoDataFrame | None
                  ) -> tuple[gpd.GeoDataFrame | None, gpd.GeoDataFrame | None]:
    """The basemap's streets (``name``) and buildings (``address``) as separate layers."""
    if basemap is None:
        return None, None
    streets = basemap[basemap["layer"] == "street"].rename(columns={"label": "name"})
    buildings = basemap[basemap["layer"] == "building"].rename(columns={"label": "address"})
    return streets, buildings


def narrow_ints(values: np.ndarray) -> np.ndarray:
    """An integer array in the smallest signed dtype holding its values (others unchanged)."""
    if values.dtype.kind not in "iu" or values.size == 0:
        return values
    lo, hi = int(values.min()), int(values.max())
    for dtype in (np.int8, np.int16, np.int32):
        info = np.iinfo(dtype)
        if info.min <= lo and hi <= info.max:
            return values.astype(dtype) if np.dtype(dtype).itemsize < values.dtype.itemsize \
                else values
    return values


def text_codes(values: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Sorted distinct texts of a per-cell text array and each cell's code into them.

    Missing values (None, NaN) are "". Hashing (:func:`pandas.factorize`) finds
    the few distinct texts; only those are converted and sorted, instead of
    sorting one string per cell.
    """
    codes, uniques = pd.factorize(np.asarray(values, dtype=object).ravel(),
                                  use_na_sentinel=False)
    text = np.array(["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
                     for v in uniques], dtype=str)
    uniq, inverse = np.unique(text, return_inverse=True)
    return uniq.tolist(), inverse.ravel()[codes].astype(np.int32)


def state_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """The arrays as an ``.npz`` (zip of ``.npy``, read by :func:`numpy.load`), deflate level 1.

    ``np.savez_compressed`` uses zlib's default level 6: at metro scale (95 MB of
    arrays) it took 2.7 s of CPU for a file 20 % smaller than level 1 gives in
    0.9 s. Arrays whose first 64 KiB shrink by less than 10 % are stored as they
    are. Entries carry a fixed timestamp, so the bytes repeat between runs.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, value in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)
            data = member.getvalue()
            # arrays that barely compress (noisy floats) are stored: judged on a sample
            sample = data[:65536]
            stored = len(sample) > 4096 and len(zlib.compress(sample, 1)) > 0.9 * len(sample)
            zf.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)), data,
                        compress_type=zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED,
                        compresslevel=None if stored else 1)
    return buffer.getvalue()


def json_default(value: Any) -> Any:
    """JSON for the numpy scalars, arrays, paths and sets of the state header."""
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple | set):
        return list(value)
    return str(value)
