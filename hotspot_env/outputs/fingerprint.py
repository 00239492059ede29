"""Fingerprints of output folders: proof that a refactor changed no result.

Text outputs are hashed byte for byte. Binary containers that may embed a write time
(GeoPackage, GeoTIFF, Parquet, NPZ) are hashed by content: every layer's column names,
dtypes, values and WKB geometries; every band with its shape, transform, CRS and tags.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

#: Containers hashed by content (they may carry a write timestamp).
STRUCTURED = (".gpkg", ".tif", ".tiff", ".parquet", ".geoparquet", ".npz")


def _frame_digest(frame: pd.DataFrame, digest: hashlib._Hash) -> None:
    import geopandas as gpd
    import shapely

    digest.update(repr(list(frame.columns)).encode())
    digest.update(repr([str(t) for t in frame.dtypes]).encode())
    if isinstance(frame, gpd.GeoDataFrame):
        digest.update(str(frame.crs).encode())
        digest.update(b"".join(shapely.to_wkb(frame.geometry.values)))
        frame = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    if len(frame.columns):
        digest.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())


def _content_digest(path: Path) -> str:
    digest = hashlib.sha256()
    suffix = path.suffix.lower()
    if suffix == ".gpkg":
        import pyogrio

        for name, _ in pyogrio.list_layers(path):
            digest.update(str(name).encode())
            _frame_digest(pyogrio.read_dataframe(path, layer=name), digest)
    elif suffix in (".tif", ".tiff"):
        import rasterio

        with rasterio.open(path) as src:
            digest.update(repr((src.count, src.shape, str(src.crs), tuple(src.transform),
                                src.dtypes, str(src.nodata))).encode())
            for band in range(1, src.count + 1):
                digest.update(np.ascontiguousarray(src.read(band)).tobytes())
                digest.update(repr(sorted(src.tags(band).items())).encode())
    elif suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            for key in sorted(data.files):
                digest.update(key.encode() + str(data[key].dtype).encode())
                digest.update(np.ascontiguousarray(data[key]).tobytes())
    else:  # Parquet: geometry if it has one
        import geopandas as gpd

        try:
            frame = gpd.read_parquet(path)
        except ValueError:
            frame = pd.read_parquet(path)
        _frame_digest(frame, digest)
    return digest.hexdigest()


def fingerprint_file(path: Path) -> str:
    """SHA-256 of a file's bytes, or of its contents for timestamped containers."""
    if path.suffix.lower() in STRUCTURED:
        return "content:" + _content_digest(path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fingerprint_folder(folder: Path) -> dict[str, str]:
    """Fingerprint of every file below ``folder``, keyed by its relative POSIX path."""
    return {p.relative_to(folder).as_posix(): fingerprint_file(p)
            for p in sorted(folder.rglob("*")) if p.is_file()}
