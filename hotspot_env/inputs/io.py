"""Reading incidents and user layers, with schema and CRS checks.

Every problem a user can cause ends in an :class:`~hotspot_env.errors.InputError`
whose one-line message names the file, says what is wrong and how to fix it.
Odd but usable input (latin-1 text, a semicolon delimiter, rows without
coordinates) is read, and what was assumed is announced as a
:class:`~hotspot_env.core.choices.Choice`.

The CSV reading lives in :mod:`hotspot_env.inputs._csv_points`, the standard
columns and date parsing in :mod:`hotspot_env.inputs._columns`.

Recognised incident columns (case-insensitive):

``lon``/``lat`` (also ``lng``, ``long``, ``longitude``, ``latitude``) or ``x``/``y``
    Coordinates for CSV input; ``x``/``y`` need ``crs`` unless they look like
    longitude/latitude.
``datetime`` (also ``date_time``, ``timestamp``, ``date``, ``time``)
    When the incident was recorded; date-only values set ``time_known=False``.
``category`` (also ``type``, ``crime_type``, ``offence``, ``offense``)
    Incident category, lower-cased.
``source``
    How the record arose (e.g. ``resident_call`` or ``officer_initiated``).
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from hotspot_env.core.choices import Choice, announce
from hotspot_env.errors import InputError
from hotspot_env.inputs._columns import _announce_format, _standard_columns
from hotspot_env.inputs._csv_points import (
    MAX_OUT_OF_RANGE_SHARE,
    _first_line,
    _printable,
    _read_csv_points,
)
from hotspot_env.inputs.osm import file_sha256

VECTOR_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".fgb")
PARQUET_SUFFIXES = (".parquet", ".geoparquet")
MAX_FILE_BYTES = 2 * 1024**3

#: Most rows a Parquet incidents file may hold, read from its footer before any
#: column is decoded: Parquet compresses so well that a 41 KB file can expand
#: to 5 million points (4 GB of memory). Twice the metro benchmark's million.
MAX_PARQUET_ROWS = 2_000_000

#: Upload limits for user layers (``--layers``, the app's upload box): a file
#: larger than this, or a feature with more vertices, is refused with a message
#: saying how to simplify it, before it can exhaust memory or time.
MAX_LAYER_BYTES = 200 * 1024**2
MAX_FEATURE_VERTICES = 100_000
MAX_LAYER_VERTICES = 5_000_000

_NOT_POINTS = ("Polygon", "MultiPolygon", "LineString", "MultiLineString", "GeometryCollection",
               "LinearRing")


@dataclass
class Incidents:
    """Incidents as read, before any spatial filtering.

    Attributes
    ----------
    frame : GeoDataFrame
        Points with columns ``datetime`` (UTC, tz-aware, NaT if unknown;
        the first of the month for month-only dates), ``time_known`` (bool),
        ``category`` (str), ``source`` (str or None) and ``outdoor``
        (pandas ``boolean``: from a premise/location field through
        ``data/category_map.csv``, NA where unknown). No other column of the
        file is kept: identifiers, case numbers and outcomes never travel on.
    path : str or None
        File the incidents came from.
    sha256 : str or None
        Hash of that file.
    n_read : int
        Rows in the file.
    n_invalid : int
        Rows dropped because their coordinates were missing or not numbers.
    choices : list of Choice
        What was assumed while reading.
    """

    frame: gpd.GeoDataFrame
    path: str | None = None
    sha256: str | None = None
    n_read: int = 0
    n_invalid: int = 0
    choices: list[Choice] = field(default_factory=list)

    @property
    def has_dates(self) -> bool:
        """True when at least one incident has a date."""
        return bool(self.frame["datetime"].notna().any())

    @property
    def date_precision(self) -> str | None:
        """``"month"`` when every date is a month only (police.uk), else ``"day"``; None undated."""
        if not self.has_dates:
            return None
        return next((str(c.value) for c in self.choices if c.name == "date_precision"), "day")


def read_incidents(
    path: str | os.PathLike[str],
    crs: str | None = None,
    x: str | None = None,
    y: str | None = None,
    timezone: str | None = None,
) -> Incidents:
    """Read incident points from CSV, GeoJSON, GeoPackage or (Geo)Parquet.

    Parameters
    ----------
    path : path-like
        The incidents file.
    crs : str, optional
        CRS of CSV coordinates (e.g. ``"EPSG:31983"``). Default: EPSG:4326 when
        the columns are longitude/latitude or the values fit their ranges.
    x, y : str, optional
        Coordinate column names for CSV input (default: detected).
    timezone : str, optional
        IANA zone for times without an offset (default: UTC, announced).

    Returns
    -------
    Incidents
    """
    check_timezone(timezone)
    path = Path(path)
    size = _file_size(
        path, folder=f"{path} is a folder: pass the incidents file itself",
        not_regular=f"{path} is not a regular file (a device or a pipe?): pass the incidents "
        "file itself", missing=f"incidents file {path} does not exist: check the path",
        empty=f"{path.name} is empty: export the incidents again with a header row")
    if size > MAX_FILE_BYTES:
        raise InputError(f"{path.name} is larger than 2 GB: split it or convert it to GeoParquet")
    suffix = path.suffix.lower()
    choices: list[Choice] = []
    if suffix in (".csv", ".txt", ".tsv"):
        frame, n_read, n_invalid = _read_csv_points(path, crs, x, y, choices)
        _check_row_count(n_read, path.name)
    elif suffix in VECTOR_SUFFIXES or suffix in PARQUET_SUFFIXES:
        layer = _incident_layer(path, choices)
        _quick_geometry_check(path, layer)
        frame = _read_vector(path, layer, choices)
        n_read = len(frame)
        _check_row_count(n_read, path.name)
        frame, n_invalid = _points_only(frame, path.name)
        if n_invalid:
            choices.append(announce(Choice(
                "features_without_geometry", n_invalid,
                f"features of {path.name} with an empty or unreadable geometry were dropped")))
        frame, n_bad = _in_range(frame, path.name, choices)
        n_invalid += n_bad
    else:
        raise InputError(
            f"{path.name}: unknown file type {suffix or '(none)'}; use .csv, .geojson, .gpkg or "
            ".parquet"
        )
    frame = _standard_columns(frame, path.name, timezone, choices, _announce_format(frame,
                                                                                   path.name,
                                                                                   choices))
    return Incidents(frame, str(path), file_sha256(path), n_read, n_invalid, choices)



def _file_size(path: Path, *, folder: str, missing: str, empty: str,
               not_regular: str | None = None) -> int:
    """The size of a file the user named; a folder, a missing path, a device or pipe (when
    ``not_regular`` is given) and an empty file are refused, each with its own message."""
    if path.is_dir():
        raise InputError(folder)
    if not_regular is not None and path.exists() and not path.is_file():
        raise InputError(not_regular)
    if not path.is_file():
        raise InputError(missing)
    size = path.stat().st_size
    if size == 0:
        raise InputError(empty)
    return size

def check_timezone(timezone: str | None) -> None:
    """Refuse an empty ``--timezone`` (it would silently mean UTC), before any reading."""
    if timezone is not None and not timezone.strip():
        raise InputError("--timezone is empty: give a zone such as Europe/London, or leave it "
                         "out to read times without an offset as UTC")


def incidents_from_frame(frame: gpd.GeoDataFrame, timezone: str | None = None) -> Incidents:
    """Wrap an in-memory GeoDataFrame of points as :class:`Incidents`."""
    check_timezone(timezone)
    if not isinstance(frame, gpd.GeoDataFrame):
        raise InputError("incidents must be a GeoDataFrame of points")
    n_read = len(frame)
    frame, n_invalid = _points_only(frame, "incidents")
    choices: list[Choice] = []
    frame = _standard_columns(frame, "incidents", timezone, choices,
                              _announce_format(frame, "incidents", choices))
    return Incidents(frame, None, None, n_read, n_invalid, choices)


def read_layers(path: str | os.PathLike[str]) -> dict[str, gpd.GeoDataFrame]:
    """Read every layer of a GeoPackage (or a single-layer vector file).

    Parameters
    ----------
    path : path-like
        A ``.gpkg`` with one layer per factor, or a GeoJSON/Shapefile.

    Returns
    -------
    dict of str to GeoDataFrame
        Layer name to features (CRS as stored).
    """
    import pyogrio

    path = Path(path)
    size = _file_size(
        path, folder=f"--layers {path} is a folder: pass the .gpkg file itself",
        missing=f"layers file {path} does not exist: check the path given to --layers",
        empty=f"layers file {path.name} is empty: save the layers from QGIS again")
    if size > MAX_LAYER_BYTES:
        raise InputError(
            f"layers file {path.name} is {size / 1024**2:,.0f} MB, more than the upload limit of "
            f"{MAX_LAYER_BYTES / 1024**2:,.0f} MB: clip it to the study area or simplify it"
        )
    try:
        names = [row[0] for row in pyogrio.list_layers(path)]
    except Exception as exc:
        if _empty_geopackage(path):
            raise InputError(f"{path.name} holds no layers: save one layer per risk factor "
                             "into it") from exc
        raise InputError(f"cannot read layers from {path.name}: {_first_line(exc)}; save it "
                         "again as a GeoPackage (.gpkg)") from exc
    layers = {}
    total = 0
    for name in names:
        try:
            frame = _read_layer(path, name)
        except Exception as exc:
            raise InputError(f"cannot read layer {name!r} of {path.name}: {_first_line(exc)}; "
                             "save it again from QGIS") from exc
        if frame.crs is None:
            raise InputError(f"layer {name!r} in {path.name} has no CRS: set one in QGIS and save")
        vertices = np.asarray(shapely.get_num_coordinates(frame.geometry.values))
        if vertices.size and vertices.max() > MAX_FEATURE_VERTICES:
            raise InputError(
                f"layer {name!r} in {path.name} has a feature with {int(vertices.max()):,} "
                f"vertices, more than the upload limit of {MAX_FEATURE_VERTICES:,}: simplify it "
                "(QGIS: Vector > Geometry Tools > Simplify) or split it"
            )
        total += int(vertices.sum())
        if total > MAX_LAYER_VERTICES:
            raise InputError(
                f"the layers in {path.name} have more than {MAX_LAYER_VERTICES:,} vertices in "
                "all, the upload limit: clip them to the study area or simplify them"
            )
        layers[str(name)] = frame
    if not layers:
        raise InputError(f"{path.name} holds no layers: save one layer per risk factor into it")
    return layers


def _read_layer(path: Path, name: str) -> gpd.GeoDataFrame:
    """One layer through pyogrio's Arrow stream (about 2x faster), else its row reader."""
    try:
        return gpd.read_file(path, layer=name, engine="pyogrio", use_arrow=True)
    except Exception:  # noqa: BLE001 - e.g. a field type Arrow cannot hold: the row reader decides
        return gpd.read_file(path, layer=name, engine="pyogrio")


# -------------------------------------------------------------- vectors
def _incident_layer(path: Path, choices: list[Choice]) -> str | None:
    """The point layer of a GeoPackage that holds several layers (announced), else None.

    GDAL would read the first layer only, which may be the study area's
    polygons while the incidents sit in the second.
    """
    if path.suffix.lower() != ".gpkg":
        return None
    import pyogrio

    try:
        layers = pyogrio.list_layers(path)
    except Exception:  # an unreadable file gets its message from the full read
        return None
    if len(layers) < 2:
        return None
    points = [str(name) for name, kind in layers
              if str(kind).replace(" Z", "").replace(" M", "") in ("Point", "MultiPoint")]
    listed = _printable(", ".join(f"{name} ({kind})" for name, kind in layers[:8]))
    if len(points) != 1:
        raise InputError(
            f"{path.name} holds {len(layers)} layers ({listed}) and "
            + ("none of them is points" if not points else f"{len(points)} of them are points")
            + ": save the incident points alone in a GeoPackage or CSV")
    choices.append(announce(Choice(
        "incidents_layer", points[0], f"the only point layer of {path.name}'s {len(layers)} "
        f"layers ({listed})")))
    return points[0]


def _read_vector(path: Path, layer: str | None = None,
                 choices: list[Choice] | None = None) -> gpd.GeoDataFrame:
    """Read a vector file; GDAL's warnings about bad features are announced, not printed."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = _read_vector_quietly(path, layer)
    notes = list(dict.fromkeys(_printable(str(w.message)).strip() for w in caught))
    if notes and choices is not None:  # e.g. "Unsupported geometry type ... NULL geometry"
        choices.append(announce(Choice(
            "reader_messages", len(notes), f"GDAL reading {path.name}: "
            + " | ".join(n[:160] for n in notes[:3]) + ("..." if len(notes) > 3 else ""))))
    return frame


def _read_vector_quietly(path: Path, layer: str | None) -> gpd.GeoDataFrame:
    try:
        if path.suffix.lower() in PARQUET_SUFFIXES:
            _check_parquet_rows(path)
            try:
                return gpd.read_parquet(path)
            except ValueError:
                table = pd.read_parquet(path)
                raise InputError(
                    f"{path.name} is a plain Parquet table without geometry: save it as CSV with "
                    f"lon/lat columns (columns: {', '.join(map(str, table.columns[:8]))})"
                ) from None
        return gpd.read_file(path, engine="pyogrio", layer=layer)
    except InputError:
        raise
    except Exception as exc:
        if _empty_geopackage(path):
            raise InputError(f"{path.name} is a GeoPackage with no layers: save the incidents "
                             "into it as a point layer") from exc
        raise InputError(f"cannot read {path.name}: {_first_line(exc)}; the file looks damaged or "
                         "incomplete: export it again (or save the incidents as CSV with lon/lat "
                         "columns)") from exc


def _check_row_count(n_rows: int, name: str) -> None:
    """Refuse more incident rows than :data:`settings.max_incidents`, before any analysis."""
    from hotspot_env import settings

    if n_rows > settings.max_incidents:
        raise InputError(f"{name} holds {n_rows:,} rows, more than the limit of "
                         f"{settings.max_incidents:,} incidents: split it by period or area")


def _parquet_rows(path: Path) -> int | None:
    """Row count from a Parquet footer (no data read), or None if unreadable."""
    import pyarrow.parquet as pq

    try:
        return pq.read_metadata(path).num_rows
    except Exception:  # noqa: BLE001 - a damaged file gets its message from the full read
        return None


def _check_parquet_rows(path: Path) -> None:
    """Refuse a Parquet file with more than :data:`MAX_PARQUET_ROWS` rows from its footer.

    Tighter than :data:`settings.max_incidents`: a Parquet file's size says
    nothing about its decoded size (a 41 KB file held 5 million points).
    """
    rows = _parquet_rows(path)
    if rows is not None and rows > MAX_PARQUET_ROWS:
        raise InputError(f"{path.name} holds {rows:,} rows, more than the limit of "
                         f"{MAX_PARQUET_ROWS:,}: clip it to the study area or a shorter period")


def _quick_geometry_check(path: Path, layer: str | None = None) -> None:
    """Refuse non-point files from their header, before reading every vertex.

    A GeoJSON whose first geometry declares its type up front, or a
    GeoPackage/FlatGeobuf/Shapefile whose layer declares one, is checked
    without parsing the coordinates, so a huge polygon fails in milliseconds.
    Anything undecided here is checked after the full read.
    """
    suffix = path.suffix.lower()
    kind = None
    if suffix in PARQUET_SUFFIXES:
        _check_row_count(_parquet_rows(path) or 0, path.name)
    if suffix in (".geojson", ".json"):
        with open(path, "rb") as handle:
            head = handle.read(1 << 16).decode("utf-8", errors="replace")
        match = re.search(r'"geometry"\s*:\s*\{\s*"type"\s*:\s*"(\w+)"', head)
        kind = match.group(1) if match else None
    elif suffix in (".gpkg", ".fgb", ".shp"):
        import pyogrio

        try:
            kind = pyogrio.read_info(path, layer=layer).get("geometry_type")
        except Exception:  # an unreadable file gets its message from the full read
            return
    kind = (kind or "").replace(" Z", "").replace(" M", "").replace("25D", "")
    if kind in _NOT_POINTS:
        raise InputError(
            f"{path.name} holds {kind} geometries; incidents must be points (one per incident)"
        )


def _in_range(
    frame: gpd.GeoDataFrame, name: str, choices: list[Choice]
) -> tuple[gpd.GeoDataFrame, int]:
    """Drop points outside longitude/latitude ranges of a geographic file (refuse if most are)."""
    if not frame.crs.is_geographic:
        return frame, 0
    xs, ys = frame.geometry.x.to_numpy(), frame.geometry.y.to_numpy()
    bad = ~(np.isfinite(xs) & np.isfinite(ys)) | (np.abs(xs) > 180) | (np.abs(ys) > 90)
    if bad.mean() > MAX_OUT_OF_RANGE_SHARE:
        raise InputError(
            f"{name}: coordinates are outside longitude/latitude ranges although the file says "
            f"{frame.crs.to_string()}: save it with its real CRS (e.g. EPSG:31983)"
        )
    if bad.any():
        choices.append(announce(Choice(
            "rows_without_coordinates", int(bad.sum()),
            f"features of {name} outside longitude/latitude ranges were dropped")))
    return frame.loc[~bad].reset_index(drop=True), int(bad.sum())


def _points_only(frame: gpd.GeoDataFrame, name: str) -> tuple[gpd.GeoDataFrame, int]:
    if frame.crs is None:
        raise InputError(f"{name} has no CRS: save it with a CRS (e.g. EPSG:4326)")
    if len(frame) == 0:
        raise InputError(f"{name} holds no features: it holds no incidents; export them again")
    geom = frame.geometry
    missing = geom.isna() | geom.is_empty
    kinds = set(geom[~missing].geom_type.unique())
    if kinds - {"Point", "MultiPoint"}:
        other = ", ".join(sorted(kinds - {"Point", "MultiPoint"}))
        raise InputError(
            f"{name} holds {other} geometries; incidents must be points (one per incident)"
        )
    if "MultiPoint" in kinds:
        raise InputError(f"{name} holds MultiPoints: split them into one point per incident")
    frame = frame.loc[~missing].reset_index(drop=True)
    if len(frame) == 0:
        raise InputError(f"{name}: every feature has an empty geometry: give each incident a point")
    return frame, int(missing.sum())


def _empty_geopackage(path: Path) -> bool:
    """True for a valid GeoPackage without any layer (GDAL refuses to open those)."""
    import sqlite3

    if path.suffix.lower() != ".gpkg":
        return False
    try:
        with open(path, "rb") as handle:
            if handle.read(16) != b"SQLite format 3\x00":
                return False
        db = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
        try:
            return db.execute("SELECT count(*) FROM gpkg_contents").fetchone()[0] == 0
        finally:
            db.close()
    except (OSError, sqlite3.Error):
        return False
