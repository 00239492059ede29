"""Reading incidents and user layers, with schema and CRS checks.

Every problem a user can cause ends in an :class:`~hotspot_env.errors.InputError`
whose one-line message names the file, says what is wrong and how to fix it.
Odd but usable input (latin-1 text, a semicolon delimiter, rows without
coordinates) is read, and what was assumed is announced as a
:class:`~hotspot_env.core.choices.Choice`.

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

import csv
import io as _io
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError

from hotspot_env.core.choices import Choice, announce
from hotspot_env.errors import InputError
from hotspot_env.inputs.formats import (
    OpenDataFormat,
    column,
    date_text,
    is_month_only,
    outdoor_from_premise,
    recognise,
)
from hotspot_env.inputs.osm import file_sha256

X_NAMES = ("lon", "lng", "long", "longitude", "x", "easting")
Y_NAMES = ("lat", "latitude", "y", "northing")
DATETIME_NAMES = ("datetime", "date_time", "timestamp", "occurred", "date", "time", "month")
CATEGORY_NAMES = ("category", "type", "crime_type", "offence", "offense", "crime")
SOURCE_NAMES = ("source", "record_source")
#: Premise / location-type columns of generic files, mapped to ``outdoor`` by the category map.
PREMISE_NAMES = ("premise", "premises", "premise_type", "premises_type", "location_type",
                 "location_description")
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

#: Bad-row policy: rows whose coordinates are missing, unreadable or outside
#: longitude/latitude ranges are dropped and counted (``rows_without_coordinates``);
#: when more than this share of the rows with numbers is out of range, the file
#: is refused, since the CRS is then wrong rather than a few rows.
MAX_OUT_OF_RANGE_SHARE = 0.5

#: Dates outside these bounds are placeholders (0001-01-01, 9999-12-31, 2999...)
#: rather than records: they are treated as unknown and counted.
EARLIEST_DATE = pd.Timestamp("1900-01-01", tz="UTC")
LATEST_DATE = pd.Timestamp("2100-01-01", tz="UTC")

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
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a folder: pass the incidents file itself")
    if path.exists() and not path.is_file():
        raise InputError(f"{path} is not a regular file (a device or a pipe?): pass the "
                         "incidents file itself")
    if not path.is_file():
        raise InputError(f"incidents file {path} does not exist: check the path")
    size = path.stat().st_size
    if size == 0:
        raise InputError(f"{path.name} is empty: export the incidents again with a header row")
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


def incidents_from_frame(frame: gpd.GeoDataFrame, timezone: str | None = None) -> Incidents:
    """Wrap an in-memory GeoDataFrame of points as :class:`Incidents`."""
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
    if path.is_dir():
        raise InputError(f"--layers {path} is a folder: pass the .gpkg file itself")
    if not path.is_file():
        raise InputError(f"layers file {path} does not exist: check the path given to --layers")
    size = path.stat().st_size
    if size == 0:
        raise InputError(f"layers file {path.name} is empty: save the layers from QGIS again")
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


# ----------------------------------------------------------------- CSV
def _decode(path: Path, choices: list[Choice]) -> str:
    raw = path.read_bytes()
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):  # Excel's "Unicode text" export
        try:
            text = raw.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise InputError(f"{path.name} starts like UTF-16 text but cannot be decoded: save "
                             "it as CSV UTF-8") from exc
        choices.append(announce(Choice(
            "encoding", "utf-16", f"{path.name} is UTF-16 text (Excel's Unicode text)")))
        return text
    if raw[:2] == b"\x1f\x8b":
        raise InputError(f"{path.name} is gzip-compressed: decompress it and pass the .csv inside")
    if raw[:4] == b"PK\x03\x04":
        raise InputError(f"{path.name} is a zip or Excel (.xlsx) file, not a CSV: save it as CSV "
                         "(comma-separated, UTF-8) first")
    head = raw[:65536]
    control = sum(head.count(bytes([c])) for c in range(32) if c not in (9, 10, 13))
    if head and control / len(head) > 0.05:
        raise InputError(f"{path.name} does not look like a text CSV (binary content): save the "
                         "incidents as CSV with lon/lat columns")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        choices.append(announce(Choice(
            "encoding", "latin-1", f"{path.name} is not valid UTF-8, read as latin-1")))
        return raw.decode("latin-1")


def _read_csv_points(
    path: Path, crs: str | None, x: str | None, y: str | None, choices: list[Choice]
) -> tuple[gpd.GeoDataFrame, int, int]:
    text = _decode(path, choices)
    hint = re.match(r"\ufeff?sep=([,;\t|])\r?\n", text)  # Excel's "sep=;" first line
    if hint:
        delimiter, text = hint.group(1), text[hint.end():]
    else:
        try:
            dialect = csv.Sniffer().sniff(text[:65536], delimiters=",;\t|")
            delimiter = dialect.delimiter
        except csv.Error:
            delimiter = ","
    if delimiter != ",":
        choices.append(announce(Choice("delimiter", delimiter, f"detected in {path.name}"
                                       + (" (sep= line)" if hint else ""))))
    try:
        table = _read_csv_text(text, delimiter)
    except pd.errors.EmptyDataError as exc:
        raise InputError(f"{path.name} has no columns: save it as a CSV with a header row such "
                         "as lon,lat") from exc
    except pd.errors.ParserError as exc:
        raise InputError(f"{path.name} is not a well-formed CSV ({_first_line(exc)}): check the "
                         "quoting and the delimiter, or export it again") from exc
    if table.empty:
        raise InputError(f"{path.name} has a header but no rows: it holds no incidents; export "
                         "it again with its rows")
    lower = {c.lower().strip(): c for c in table.columns}
    x, y = _format_coordinates(table.columns, x, y)
    x_col = _pick(lower, (x,) if x else X_NAMES, path.name, "x/longitude", table.columns)
    y_col = _pick(lower, (y,) if y else Y_NAMES, path.name, "y/latitude", table.columns)
    # with any delimiter but a comma, a comma inside a number is a decimal comma
    xs = _to_float(table[x_col].str.replace(",", ".", regex=False) if delimiter != ","
                   else table[x_col])
    ys = _to_float(table[y_col].str.replace(",", ".", regex=False) if delimiter != ","
                   else table[y_col])
    valid = np.isfinite(xs) & np.isfinite(ys)
    if not valid.any():
        raise InputError(
            f"{path.name}: no row has numeric coordinates in columns {x_col!r}/{y_col!r}: "
            "check the column names (or pass --x/--y) and the decimal separator"
        )
    crs_obj = _resolve_crs(crs, x_col, xs[valid], ys[valid], path.name, choices)
    if (crs and crs_obj.is_projected and np.abs(xs[valid]).max() <= 180
            and np.abs(ys[valid]).max() <= 90):
        raise InputError(
            f"{path.name}: the coordinates look like longitude/latitude in degrees but --crs "
            f"{crs} is projected (metres): drop --crs or pass --crs EPSG:4326"
        )
    if crs_obj.is_geographic:
        bad = valid & ((np.abs(xs) > 180) | (np.abs(ys) > 90))
        if bad.all() or bad[valid].mean() > MAX_OUT_OF_RANGE_SHARE:
            raise InputError(
                f"{path.name}: coordinates are outside longitude/latitude ranges: if they are "
                "projected, pass --crs (e.g. --crs EPSG:31983)"
            )
        valid &= ~bad
    n_invalid = int((~valid).sum())
    if n_invalid:
        choices.append(announce(Choice(
            "rows_without_coordinates", n_invalid,
            f"rows of {path.name} with missing or invalid coordinates were dropped")))
    table = table.loc[valid].reset_index(drop=True)
    geometry = gpd.points_from_xy(xs[valid], ys[valid])
    frame = gpd.GeoDataFrame(table.drop(columns=[x_col, y_col]), geometry=geometry, crs=crs_obj)
    return frame, int(len(valid)), n_invalid


def _to_float(values: pd.Series) -> np.ndarray:
    """Numbers from text, NaN where a value is missing or not a number.

    pyarrow's cast converts a clean column of a million numbers ~10x faster
    than ``pd.to_numeric``; any unparsable value sends the column to
    ``pd.to_numeric(errors="coerce")``, which turns just those into NaN.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        return pc.cast(pa.array(values, type=pa.string(), from_pandas=True),
                       pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        return pd.to_numeric(values, errors="coerce").to_numpy(float)


def _read_csv_text(text: str, delimiter: str) -> pd.DataFrame:
    """All columns of a CSV as strings: pyarrow's multi-threaded reader, else pandas' C reader.

    pyarrow reads a million rows about 10x faster. It is stricter (ragged
    rows, odd quoting) and reads blank lines as a header, so on any failure
    or an empty result the C reader runs and gives its well-known errors, which
    the callers turn into one-line messages.
    """
    try:
        table = pd.read_csv(_io.BytesIO(text.encode("utf-8")), sep=delimiter, dtype=str,
                            keep_default_na=True, engine="pyarrow")
        if len(table):  # an empty or header-only file: the C reader names what is missing
            return table
    except Exception:  # noqa: BLE001 - any pyarrow failure: the C reader decides
        pass
    return pd.read_csv(_io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=True)


def _pick(lower: dict[str, str], names, file: str, what: str, columns) -> str:
    for name in names:
        if name and name.lower() in lower:
            return lower[name.lower()]
    shown = _printable(", ".join(map(str, list(columns)[:8])))
    shown = shown if len(shown) <= 120 else shown[:117] + "..."
    raise InputError(
        f"{file}: no {what} column found (columns: {shown}); name them lon/lat or x/y, "
        "or pass --x and --y"
    )


def _resolve_crs(crs, x_col, xs, ys, file, choices) -> CRS:
    if crs:
        try:
            return CRS.from_user_input(crs)
        except CRSError as exc:
            raise InputError(f"unknown CRS {crs!r}: use an EPSG code such as EPSG:4326") from exc
    looks_geographic = _share_in_degree_ranges(xs, ys) > 1 - MAX_OUT_OF_RANGE_SHARE
    if x_col.lower() in ("x", "easting") and not looks_geographic:
        raise InputError(
            f"{file}: x/y coordinates look projected but no CRS was given: pass --crs "
            "(e.g. --crs EPSG:31983)"
        )
    if not looks_geographic:
        raise InputError(
            f"{file}: longitude/latitude values are out of range (|lon| > 180 or |lat| > 90): "
            "are the columns projected coordinates? pass --crs"
        )
    choices.append(announce(Choice("input_crs", "EPSG:4326",
                                   "coordinates read as WGS 84 longitude/latitude")))
    return CRS.from_epsg(4326)


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


# ----------------------------------------------------- standard columns
def _standard_columns(
    frame: gpd.GeoDataFrame, file: str, timezone: str | None, choices: list[Choice],
    fmt: OpenDataFormat | None = None,
) -> gpd.GeoDataFrame:
    lower = {str(c).lower().strip(): c for c in frame.columns if c != frame.geometry.name}
    out = gpd.GeoDataFrame(geometry=frame.geometry.values, crs=frame.crs)
    dt_col = next((lower[n] for n in DATETIME_NAMES if n in lower), None)
    if fmt is not None:  # the portal's own columns, not the generic guesses
        dt_col = fmt.date if fmt.date in lower else None
        timezone = timezone or fmt.timezone
    if dt_col is None:
        out["datetime"] = pd.Series(pd.NaT, index=out.index, dtype="datetime64[ns, UTC]")
        out["time_known"] = False
        choices.append(announce(Choice(
            "dates", "none", f"{file} has no date column; time analyses are skipped")))
    else:
        text = date_text(frame, fmt) if fmt is not None else frame[dt_col]
        if _announce_month_precision(text, file, choices):
            timezone = None  # a month has no clock: its first day at 00:00 UTC stays in it
        when, time_known = _parse_datetimes(text, file, timezone, choices)
        out["datetime"] = when.set_axis(out.index)
        out["time_known"] = time_known
        if "time_known" in lower:  # the generator's explicit flag wins
            flag = frame[lower["time_known"]].astype(str).str.lower().isin(["true", "1", "yes"])
            out["time_known"] = out["time_known"] & flag.to_numpy()
    cat_col = next((lower[n] for n in CATEGORY_NAMES if n in lower), None)
    if fmt is not None and fmt.category in lower:
        cat_col = lower[fmt.category]
    out["category"] = (frame[cat_col].astype("string").str.strip().str.lower().fillna("unknown")
                       .astype(object) if cat_col else "unknown")
    src_col = next((lower[n] for n in SOURCE_NAMES if n in lower), None)
    out["source"] = (frame[src_col].astype("string").str.strip().str.lower().astype(object)
                     if src_col else None)
    out["outdoor"] = _outdoor(frame, lower, fmt, out.index)
    return out


# ------------------------------------------------------ open-data formats
def _format_coordinates(columns, x: str | None, y: str | None) -> tuple[str | None, str | None]:
    """The recognised portal's coordinate columns unless the user named them."""
    fmt = recognise(columns)
    if fmt is None or x or y:
        return x, y
    return fmt.x, fmt.y


def _announce_format(frame: pd.DataFrame, file: str,
                     choices: list[Choice]) -> OpenDataFormat | None:
    """Recognise the portal from the columns and say which columns are read."""
    fmt = recognise(frame.columns)
    if fmt is not None:
        parts = [f"dates from {fmt.date!r}" + (f" + {fmt.time!r}" if fmt.time else ""),
                 f"categories from {fmt.category!r}"]
        if fmt.premise:
            parts.append(f"indoor/outdoor from {fmt.premise!r}")
        choices.append(announce(Choice(
            "input_format", fmt.name,
            f"{file} has the columns of the {fmt.label}: " + ", ".join(parts)
            + f"; categories mapped to evidence crime types by data/category_map.csv; "
            f"times read in {fmt.timezone} unless --timezone is given; identifying columns "
            "(ids, case numbers, outcomes) are never copied")))
    return fmt


def _announce_month_precision(text: pd.Series, file: str, choices: list[Choice]) -> bool:
    """Month-only dates (police.uk's anonymisation) are month precision everywhere."""
    month = not pd.api.types.is_datetime64_any_dtype(text.dtype) and is_month_only(text)
    if month:
        choices.append(announce(Choice(
            "date_precision", "month",
            f"{file} gives months only (YYYY-MM), no day or time: forecasts and trends use "
            "months or years, and darkness uses the share of each month's hours that are dark")))
    return month


def _outdoor(frame: pd.DataFrame, lower: dict[str, object], fmt: OpenDataFormat | None,
             index: pd.Index) -> pd.Series:
    """``outdoor`` from the premise field through the category map (NA where unknown)."""
    premise = column(frame, fmt.premise) if fmt is not None else None
    if premise is None and fmt is None:
        name = next((lower[n] for n in PREMISE_NAMES if n in lower), None)
        premise = frame[name] if name is not None else None
    flags = outdoor_from_premise(premise, index=index)
    return flags.set_axis(index) if premise is not None else flags


def _parse_datetimes(values: pd.Series, file: str, timezone: str | None, choices) -> tuple:
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return _typed_datetimes(values, file, timezone, choices)
    text = values.astype("string").str.strip()
    given = text.notna() & (text != "")
    parsed = None
    for fmt in ("ISO8601", "mixed"):  # ISO 8601 is 5x faster; "mixed" reads any other style
        try:
            parsed = pd.to_datetime(text, errors="coerce", utc=False, format=fmt)
        except ValueError:  # offsets differ across rows (daylight saving): read them all as UTC
            parsed = pd.to_datetime(text, errors="coerce", utc=True, format=fmt)
        if not (parsed.isna() & given).any():
            break
    bad = parsed.isna() & given
    if bad.all() and len(text):
        raise InputError(
            f"{file}: no date could be read (e.g. {text.iloc[0]!r}); use ISO dates like "
            "2023-05-01 or 2023-05-01T22:30"
        )
    if bad.any():
        choices.append(announce(Choice(
            "unreadable_dates", int(bad.sum()), f"dates in {file} that could not be read are "
            "treated as unknown")))
    has_time = text.str.contains(r"\d{1,2}:\d{2}", regex=True).fillna(False).to_numpy(bool)
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = pd.to_datetime(parsed, utc=True)
    return _in_utc(pd.to_datetime(parsed), has_time, timezone, choices)


def _in_utc(parsed: pd.Series, has_time: np.ndarray, timezone: str | None,
            choices: list[Choice]) -> tuple[pd.Series, np.ndarray]:
    """Datetimes in UTC (naive ones read in ``timezone``, announced) and which have a time."""
    if parsed.dt.tz is None:
        parsed = _localize(parsed, timezone or "UTC", choices)
        if has_time.any():
            choices.append(announce(Choice(
                "timezone", timezone or "UTC",
                "times without an offset read in this zone" + ("" if timezone else
                                                               "; pass --timezone if local"))))
    parsed = _without_placeholder_dates(parsed.dt.tz_convert("UTC"), choices)
    return parsed.reset_index(drop=True), has_time & parsed.notna().to_numpy()


def _localize(parsed: pd.Series, timezone: str, choices: list[Choice]) -> pd.Series:
    """Naive local times made zone-aware, with daylight-saving gaps and overlaps resolved.

    A time in the autumn overlap hour happened twice: the earlier (summer-time)
    reading is taken. A time in the spring gap never happened on the clock: it
    is moved forward to the first valid instant. Both are counted and
    announced, so no date silently becomes unknown.
    """
    try:
        strict = parsed.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
    except Exception as exc:
        raise InputError(f"unknown time zone {timezone!r}: use e.g. Europe/Helsinki") from exc
    unresolved = int((strict.isna() & parsed.notna()).sum())
    if not unresolved:
        return strict
    resolved = parsed.dt.tz_localize(timezone, ambiguous=np.ones(len(parsed), dtype=bool),
                                     nonexistent="shift_forward")
    choices.append(announce(Choice(
        "daylight_saving_times", unresolved,
        f"local times in a daylight-saving change ({timezone}) resolved: a repeated hour read as "
        "its earlier (summer-time) occurrence, a skipped hour moved forward")))
    return resolved


def _without_placeholder_dates(when: pd.Series, choices: list[Choice]) -> pd.Series:
    """UTC datetimes with placeholder dates (before 1900, from 2100) set to unknown, counted."""
    outside = when.notna() & ((when < EARLIEST_DATE) | (when >= LATEST_DATE))
    if not outside.any():
        return when
    choices.append(announce(Choice(
        "placeholder_dates", int(outside.sum()),
        f"dates before {EARLIEST_DATE:%Y-%m-%d} or from {LATEST_DATE:%Y-%m-%d} on (e.g. "
        "0001-01-01, 9999-12-31) are placeholders: treated as unknown")))
    return when.mask(outside)


def _share_in_degree_ranges(xs: np.ndarray, ys: np.ndarray) -> float:
    """Share of points within longitude -180..180 and latitude -90..90."""
    return float(((np.abs(xs) <= 180) & (np.abs(ys) <= 90)).mean()) if len(xs) else 0.0


def _typed_datetimes(values: pd.Series, file: str, timezone: str | None, choices) -> tuple:
    """Dates a GeoPackage/GeoParquet already stores as datetimes: no text round trip.

    Formatting a million timestamps as text to parse them back took over a
    minute. A column whose every value is exactly midnight is a date field:
    its times are unknown, as for text dates without a time.
    """
    parsed = pd.Series(values.array, index=values.index, name=values.name)
    known = parsed.notna().to_numpy()
    has_time = np.zeros(len(parsed), dtype=bool)
    if known.any():
        stamps = parsed[known]  # midnight as stored (local clock), like a text date
        has_time[:] = bool((stamps - stamps.dt.normalize()).ne(pd.Timedelta(0)).any())
    return _in_utc(parsed, has_time, timezone, choices)


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


def _printable(text: str) -> str:
    """``text`` with control characters (terminal escapes...) replaced by ``?``."""
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    if not text:
        return exc.__class__.__name__
    line = text[0].split("; It might help")[0]  # GDAL's advice about driver prefixes
    line = re.sub(r"'(?:[^']*/)([^'/]+)'", r"'\1'", line)  # full paths -> file names
    return _printable(line.rstrip(" .;"))[:200]
