"""CSV text to incident points: encoding, delimiter, coordinate columns and their CRS.

Private to :mod:`hotspot_env.inputs.io`, which owns the public readers; every
problem ends in a one-line :class:`~hotspot_env.errors.InputError`.
"""

from __future__ import annotations

import csv
import io as _io
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS
from pyproj.exceptions import CRSError

from hotspot_env.core.choices import Choice, announce
from hotspot_env.errors import InputError
from hotspot_env.inputs.formats import recognise

X_NAMES = ("lon", "lng", "long", "longitude", "x", "easting")
Y_NAMES = ("lat", "latitude", "y", "northing")

#: Bad-row policy: rows whose coordinates are missing, unreadable or outside
#: longitude/latitude ranges are dropped and counted (``rows_without_coordinates``);
#: when more than this share of the rows with numbers is out of range, the file
#: is refused, since the CRS is then wrong rather than a few rows.
MAX_OUT_OF_RANGE_SHARE = 0.5


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


def _share_in_degree_ranges(xs: np.ndarray, ys: np.ndarray) -> float:
    """Share of points within longitude -180..180 and latitude -90..90."""
    return float(((np.abs(xs) <= 180) & (np.abs(ys) <= 90)).mean()) if len(xs) else 0.0


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


def _format_coordinates(columns, x: str | None, y: str | None) -> tuple[str | None, str | None]:
    """The recognised portal's coordinate columns unless the user named them."""
    fmt = recognise(columns)
    if fmt is None or x or y:
        return x, y
    return fmt.x, fmt.y
