"""A catalogue of malformed and hostile inputs for ``hotspot-env analyze``.

Every case builds its own file(s) in ``tmp_path`` and runs the CLI in-process.
Unusable input must end with exit status 2 and exactly one line on stderr that
starts with ``error:``, says what is wrong and how to fix it, shows no
traceback, and leaves nothing in ``--out``. Odd but usable input must run
(exit 0) and say what was assumed.
"""

from __future__ import annotations

import gzip
import json
import sqlite3
import warnings
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from typer.testing import CliRunner

from hotspot_env.cli import app

runner = CliRunner()

CENTRE = (-46.633, -23.550)  # central São Paulo, lon/lat

#: Words of which an actionable message contains at least one (it says how to fix).
FIX_WORDS = ("pass ", "use ", "check", "give", "drop ", "save", "export", "download", "choose",
             "split", "simplify", "name them", "add ", "clip", "smaller", "larger", "must be",
             "need ", "write ", "remove ")


# ------------------------------------------------------------------- helpers
def _lonlat(n: int = 40, seed: int = 1, spread: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (np.round(CENTRE[0] + rng.uniform(-spread, spread, n), 6),
            np.round(CENTRE[1] + rng.uniform(-spread, spread, n), 6))


def _rows(n: int = 40, sep: str = ",", decimal: str = ".", dates: bool = True) -> list[str]:
    lon, lat = _lonlat(n)
    rows = []
    for i, (a, b) in enumerate(zip(lon, lat, strict=True)):
        a_s, b_s = (f"{a:.6f}".replace(".", decimal), f"{b:.6f}".replace(".", decimal))
        cells = [a_s, b_s] + ([f"2023-0{1 + i % 9}-1{i % 10}"] if dates else [])
        rows.append(sep.join(cells))
    return rows


def _valid_csv(sep: str = ",", decimal: str = ".", newline: str = "\n") -> str:
    header = sep.join(["lon", "lat", "date"])
    return newline.join([header, *_rows(sep=sep, decimal=decimal)]) + newline


def _write(tmp: Path, name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
    path = tmp / name
    if isinstance(content, str):
        content = content.encode(encoding)
    path.write_bytes(content)
    return path


def _csv_case(content: str | bytes, *extra: str, name: str = "incidents.csv",
              encoding: str = "utf-8") -> Callable[[Path, dict], list[str]]:
    def build(tmp: Path, sp: dict) -> list[str]:
        return ["--incidents", str(_write(tmp, name, content, encoding)), *extra]
    return build


def _geojson(features: list[dict]) -> str:
    return json.dumps({"type": "FeatureCollection", "features": features})


def _feature(geometry: dict | None, **props) -> dict:
    return {"type": "Feature", "properties": props, "geometry": geometry}


def _point_features(n: int = 20) -> list[dict]:
    lon, lat = _lonlat(n)
    return [_feature({"type": "Point", "coordinates": [a, b]}) for a, b in zip(lon, lat,
                                                                             strict=True)]


def _json_case(features_or_text: list[dict] | str, *extra: str,
               name: str = "incidents.geojson") -> Callable[[Path, dict], list[str]]:
    text = (features_or_text if isinstance(features_or_text, str)
            else _geojson(features_or_text))
    return _csv_case(text, *extra, name=name)


def _sp_rows(sp: dict, n: int = 300) -> pd.DataFrame:
    return pd.read_csv(sp["incidents"]).head(n)


def _incidents(tmp: Path) -> str:
    return str(_write(tmp, "incidents.csv", _valid_csv()))


# --------------------------------------------------------------- builders
def _swapped_with_osm(tmp: Path, sp: dict) -> list[str]:
    path = tmp / "swapped.csv"
    _sp_rows(sp).rename(columns={"lon": "lat", "lat": "lon"}).to_csv(path, index=False)
    return ["--incidents", str(path), "--osm", str(sp["osm"])]


def _wrong_crs(tmp: Path, sp: dict) -> list[str]:
    path = tmp / "sp.csv"
    _sp_rows(sp).to_csv(path, index=False)
    return ["--incidents", str(path), "--crs", "EPSG:32633"]


def _projected(columns: tuple[str, str], *extra: str) -> Callable[[Path, dict], list[str]]:
    def build(tmp: Path, sp: dict) -> list[str]:
        lon, lat = _lonlat()
        pts = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs=4326).to_crs(31983)
        frame = pd.DataFrame({columns[0]: pts.x.round(2), columns[1]: pts.y.round(2)})
        path = tmp / "projected.csv"
        frame.to_csv(path, index=False)
        return ["--incidents", str(path), *extra]
    return build


def _million_vertex_geojson(tmp: Path, sp: dict) -> list[str]:
    # a valid-looking (self-intersecting) ring of 1,000,001 vertices, built without a loop
    pair = "[-46.630,-23.550],[-46.631,-23.551],"
    coords = "[" + pair * 500_000 + "[-46.630,-23.550]]"
    text = ('{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},'
            '"geometry":{"type":"Polygon","coordinates":[' + coords + ']}}]}')
    return ["--incidents", str(_write(tmp, "huge.geojson", text))]


def _million_vertex_layer(tmp: Path, sp: dict) -> list[str]:
    t = np.linspace(0, 2 * np.pi, 1_000_000, endpoint=False)
    ring = np.c_[CENTRE[0] + 0.01 * np.cos(t), CENTRE[1] + 0.01 * np.sin(t)]
    layer = gpd.GeoDataFrame({"name": ["park"]}, geometry=[shapely.Polygon(ring)], crs=4326)
    path = tmp / "layers.gpkg"
    layer.to_file(path, layer="parks", driver="GPKG", engine="pyogrio")
    return ["--incidents", _incidents(tmp), "--layers", str(path)]


def _points_gpkg(tmp: Path, crs) -> Path:
    lon, lat = _lonlat()
    path = tmp / "incidents.gpkg"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyogrio warns when writing without a CRS
        gpd.GeoDataFrame({"n": range(len(lon))}, geometry=gpd.points_from_xy(lon, lat),
                         crs=crs).to_file(path, layer="incidents", driver="GPKG", engine="pyogrio")
    return path


def _gpkg_no_layers(tmp: Path, sp: dict) -> list[str]:
    path = _points_gpkg(tmp, 4326)
    with sqlite3.connect(path) as db:  # drop the only layer, keep a valid GeoPackage
        db.execute("DELETE FROM gpkg_geometry_columns")
        db.execute("DELETE FROM gpkg_contents")
        db.execute("DROP TABLE incidents")
    return ["--incidents", str(path)]


def _gpkg_no_crs(tmp: Path, sp: dict) -> list[str]:
    return ["--incidents", str(_points_gpkg(tmp, None))]


def _layers_no_crs(tmp: Path, sp: dict) -> list[str]:
    lon, lat = _lonlat(5)
    path = tmp / "layers.gpkg"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat)).to_file(
            path, layer="lamps", driver="GPKG", engine="pyogrio")
    return ["--incidents", _incidents(tmp), "--layers", str(path)]


def _plain_parquet(tmp: Path, sp: dict) -> list[str]:
    lon, lat = _lonlat()
    path = tmp / "incidents.parquet"
    pd.DataFrame({"lon": lon, "lat": lat}).to_parquet(path)
    return ["--incidents", str(path)]


def _geoparquet_lines(tmp: Path, sp: dict) -> list[str]:
    path = tmp / "incidents.parquet"
    gpd.GeoDataFrame(geometry=[shapely.LineString([(-46.63, -23.55), (-46.62, -23.54)])],
                     crs=4326).to_parquet(path)
    return ["--incidents", str(path)]


def _random_bytes(name: str, n: int = 5000, *extra: str) -> Callable[[Path, dict], list[str]]:
    def build(tmp: Path, sp: dict) -> list[str]:
        data = np.random.default_rng(7).bytes(n)
        if name.endswith((".pbf", ".osm")):
            return ["--incidents", _incidents(tmp), "--osm", str(_write(tmp, name, data))]
        if name.startswith("layers"):
            return ["--incidents", _incidents(tmp), "--layers", str(_write(tmp, name, data))]
        return ["--incidents", str(_write(tmp, name, data)), *extra]
    return build


def _osm_file(name: str, content: bytes) -> Callable[[Path, dict], list[str]]:
    def build(tmp: Path, sp: dict) -> list[str]:
        return ["--incidents", _incidents(tmp), "--osm", str(_write(tmp, name, content))]
    return build


def _truncated_pbf(tmp: Path, sp: dict) -> list[str]:
    data = Path(sp["osm"]).read_bytes()[:20_000]
    return ["--incidents", _incidents(tmp), "--osm", str(_write(tmp, "cut.osm.pbf", data))]


def _with(*extra: str) -> Callable[[Path, dict], list[str]]:
    def build(tmp: Path, sp: dict) -> list[str]:
        return ["--incidents", _incidents(tmp), *extra]
    return build


def _directory(tmp: Path, sp: dict) -> list[str]:
    (tmp / "folder").mkdir()
    return ["--incidents", str(tmp / "folder")]


def _missing(tmp: Path, sp: dict) -> list[str]:
    return ["--incidents", str(tmp / "nowhere.csv")]


def _out_is_file(tmp: Path, sp: dict) -> list[str]:
    _write(tmp, "out", "keep me")
    return ["--incidents", _incidents(tmp), "--out", str(tmp / "out")]


def _out_under_file(tmp: Path, sp: dict) -> list[str]:
    _write(tmp, "afile", "keep me")
    return ["--incidents", _incidents(tmp), "--out", str(tmp / "afile" / "out")]


def _swapped_no_layers(tmp: Path, sp: dict) -> list[str]:
    path = tmp / "swapped.csv"
    _sp_rows(sp).rename(columns={"lon": "lat", "lat": "lon"}).to_csv(path, index=False)
    return ["--incidents", str(path)]


def _geojson_legacy_crs(tmp: Path, sp: dict) -> list[str]:
    # GeoJSON 2008's "crs" member naming Web Mercator: metres on paper, 9 % long here
    lon, lat = _lonlat()
    pts = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs=4326).to_crs(3857)
    text = json.dumps({
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3857"}},
        "features": [_feature({"type": "Point", "coordinates": [p.x, p.y]}) for p in pts]})
    return ["--incidents", str(_write(tmp, "mercator.geojson", text))]


def _gpkg_polygons_then(kinds: tuple[str, ...]) -> Callable[[Path, dict], list[str]]:
    """A GeoPackage whose first layer is polygons, then one point layer per name in ``kinds``."""
    def build(tmp: Path, sp: dict) -> list[str]:
        path = tmp / "incidents.gpkg"
        area = shapely.Point(CENTRE).buffer(0.02)
        gpd.GeoDataFrame({"name": ["area"]}, geometry=[area], crs=4326).to_file(
            path, layer="study_area", driver="GPKG", engine="pyogrio")
        lon, lat = _lonlat()
        for name in kinds:
            gpd.GeoDataFrame({"date": ["2023-05-01"] * len(lon)},
                             geometry=gpd.points_from_xy(lon, lat), crs=4326).to_file(
                path, layer=name, driver="GPKG", engine="pyogrio")
        return ["--incidents", str(path)]
    return build


def _dated_rows(stamps: list[str], header: str = "lon,lat,datetime") -> str:
    return header + "\n" + "".join(f"{a},{b},{d}\n" for a, b, d in zip(
        _LON, _LAT, (stamps * len(_LON))[:len(_LON)], strict=True))


# ------------------------------------------------------------ the catalogue
_GOOD = _valid_csv()
_LON, _LAT = _lonlat()
_dated = "\n".join(f"{a},{b},{d}" for a, b, d in zip(
    _LON, _LAT, ["yesterday", "soon", "2023-13-45", "n.d."] * 10, strict=True))
_half_dated = "\n".join(f"{a},{b},{d}" for a, b, d in zip(
    _LON, _LAT, ["2023-05-01", "someday"] * 20, strict=True))
_timed = "\n".join(f"{a},{b},2023-05-01 22:30" for a, b in zip(_LON, _LAT, strict=True))

FAIL = 2
OK = 0

CASES = [
    # --- CSV structure
    pytest.param(_csv_case(b""), FAIL, ["empty", "export"], id="empty-file"),
    pytest.param(_csv_case("lon,lat\n"), FAIL, ["no rows"], id="header-only"),
    pytest.param(_csv_case("\n\n   \n"), FAIL, ["no columns", "header"], id="blank-lines-only"),
    pytest.param(_csv_case("name,value\na,1\nb,2\n"), FAIL, ["no x/longitude column", "--x"],
                 id="missing-coordinate-columns"),
    pytest.param(_csv_case("lon,value\n-46.6,1\n"), FAIL, ["y/latitude", "lon/lat"],
                 id="missing-latitude-column"),
    pytest.param(_csv_case("lon,lat\nabc,def\nfoo,bar\n"), FAIL, ["numeric", "decimal separator"],
                 id="text-in-coordinates"),
    pytest.param(_csv_case("lon,lat\nNaN,NaN\n,\n"), FAIL, ["numeric coordinates"],
                 id="nan-coordinates"),
    pytest.param(_csv_case("lon,lat\ninf,-inf\n1e400,1e400\n"), FAIL, ["numeric coordinates"],
                 id="infinite-coordinates"),
    pytest.param(_csv_case(_GOOD + "abc,def,2023-01-01\n,,\n"), OK, ["rows_without_coordinates"],
                 id="some-rows-without-coordinates"),
    pytest.param(_csv_case("lon,lat\n200,-23.5\n250,-23.6\n"), FAIL, ["out of range", "--crs"],
                 id="longitude-out-of-range"),
    pytest.param(_csv_case("lon,lat\n-46.6,-95\n-46.7,-120\n"), FAIL, ["out of range", "--crs"],
                 id="latitude-out-of-range"),
    pytest.param(_csv_case("lon,lat\n10,89.5\n11,89.6\n"), FAIL, ["utm", "--crs"],
                 id="polar-coordinates"),
    pytest.param(_swapped_with_osm, FAIL, ["swapped", "crs"], id="swapped-lon-lat-with-osm"),
    pytest.param(_projected(("x", "y")), FAIL, ["projected", "--crs"],
                 id="projected-xy-without-crs"),
    pytest.param(_projected(("lon", "lat")), FAIL, ["out of range", "--crs"],
                 id="projected-values-in-lon-lat-columns"),
    pytest.param(_projected(("x", "y"), "--crs", "EPSG:31983"), OK, ["crs"],
                 id="projected-xy-with-crs"),
    pytest.param(_projected(("x", "y"), "--crs", "EPSG:4326"), FAIL, ["ranges", "--crs"],
                 id="projected-xy-declared-geographic"),
    pytest.param(_wrong_crs, FAIL, ["longitude/latitude", "--crs"], id="wrong-crs-epsg32633"),
    pytest.param(_with("--crs", "EPSG:notacode"), FAIL, ["unknown crs", "epsg:4326"],
                 id="unknown-crs-string"),
    pytest.param(_with("--crs", "EPSG:999999"), FAIL, ["unknown crs"], id="unknown-crs-code"),
    pytest.param(_csv_case(_GOOD, "--x", "easting", "--y", "northing"), FAIL,
                 ["no x/longitude column", "--x"], id="x-y-options-name-missing-columns"),
    pytest.param(_csv_case(_GOOD.replace("lon,lat", "E,N", 1), "--x", "E", "--y", "N"), OK,
                 ["epsg:4326"], id="x-y-options-name-the-columns"),
    pytest.param(_csv_case(_GOOD.replace("lon,lat", " Lon , LAT ", 1)), OK, ["epsg:4326"],
                 id="header-case-and-spaces"),
    pytest.param(_csv_case("lon,lat\n-46.6,-23.5\n-46.7\n-46.6,-23.5,9,9,9\n"), FAIL,
                 ["well-formed", "check"], id="ragged-rows"),
    pytest.param(_random_bytes("incidents.csv"), FAIL, ["binary", "lon/lat"],
                 id="binary-garbage-as-csv"),
    pytest.param(_csv_case(gzip.compress(_GOOD.encode())), FAIL, ["gzip", "decompress"],
                 id="gzip-compressed-csv"),
    pytest.param(_csv_case(b"PK\x03\x04" + bytes(200), name="incidents.csv"), FAIL,
                 ["excel", "save it as csv"], id="excel-file-named-csv"),
    pytest.param(_csv_case("\x1b[31mlon\x1b[0m,bad\x07\n" + "1,2\n" * 50), FAIL,
                 ["column", "?[31m"],
                 id="terminal-escapes-in-header"),
    # --- study area
    pytest.param(_with("--bbox", "-40,-10,-39.9,-9.9"), FAIL, ["none of", "--bbox"],
                 id="all-points-outside-bbox"),
    pytest.param(_with("--bbox", "-23.6,-46.7,-23.5,-46.6"), FAIL, ["--bbox", "longitude first"],
                 id="bbox-lat-lon-swapped"),
    pytest.param(_with("--bbox", "1,2,3"), FAIL, ["four numbers", "w,s,e,n"],
                 id="bbox-three-numbers"),
    pytest.param(_with("--bbox", "west,south,east,north"), FAIL, ["four numbers"],
                 id="bbox-not-numbers"),
    pytest.param(_with("--bbox", "-46.6,-23.5,-46.7,-23.6"), FAIL, ["w < e"],
                 id="bbox-inverted"),
    pytest.param(_with("--bbox", "-200,-23.6,-46.6,-23.5"), FAIL, ["±180"],
                 id="bbox-out-of-range"),
    pytest.param(_with("--bbox", "nan,nan,nan,nan"), FAIL, ["w < e"], id="bbox-nan"),
    # --- odd but usable
    pytest.param(_csv_case("lon,lat\n-46.633,-23.55\n"), OK, ["fewer than 2 incidents",
                                                              "study_area"], id="single-point"),
    pytest.param(_csv_case("lon,lat\n" + "-46.633,-23.55\n" * 25), OK, ["bandwidth_m"],
                 id="all-duplicates"),
    pytest.param(_csv_case(_GOOD.replace("date", "date,category", 1).replace(
        "\n-", ",agressão física\n-"), encoding="latin-1"), OK, ["latin-1"],
                 id="latin-1-encoding"),
    pytest.param(_csv_case(_valid_csv(sep=";", decimal=",")), OK, ["delimiter set to ;"],
                 id="semicolon-decimal-comma"),
    pytest.param(_csv_case(_valid_csv(sep="\t")), OK, ["delimiter"], id="tab-delimited"),
    pytest.param(_csv_case(_valid_csv(sep="|")), OK, ["delimiter set to |"], id="pipe-delimited"),
    pytest.param(_csv_case("\ufeff" + _valid_csv(sep="\t", decimal=","), encoding="utf-16-le"),
                 OK, ["utf-16", "delimiter"], id="utf16-excel-unicode-text-decimal-comma"),
    pytest.param(_csv_case("sep=;\n" + _valid_csv(sep=";", decimal=",")), OK, ["sep= line"],
                 id="excel-sep-hint-line"),
    pytest.param(_csv_case("\ufeff" + _GOOD), OK, ["epsg:4326"], id="utf8-bom"),
    pytest.param(_csv_case(_valid_csv(newline="\r\n")), OK, ["epsg:4326"], id="crlf-line-ends"),
    pytest.param(_csv_case("lon,lat,note\n" + "".join(
        f'{a},{b},"line one\nline two, with comma"\n' for a, b in zip(_LON, _LAT, strict=True))),
        OK, ["epsg:4326"], id="quoted-fields-with-newlines"),
    pytest.param(_csv_case("lon,lat,category\n" + "".join(
        f"{a},{b},{c}\n" for a, b, c in zip(_LON, _LAT, ["=cmd|' /C calc'!A0",
                                                           "<script>alert(1)</script>",
                                                           "zzz-never-seen"] * 14,
                                              strict=False))), OK, ["epsg:4326"],
        id="unknown-and-hostile-categories"),
    pytest.param(_csv_case(_GOOD.replace("\n", "\x00\n", 3)), OK, ["epsg:4326"],
                 id="nul-bytes"),
    # --- dates
    pytest.param(_csv_case("lon,lat,date\n" + _dated + "\n"), FAIL, ["no date", "iso"],
                 id="dates-all-unreadable"),
    pytest.param(_csv_case("lon,lat,date\n" + _half_dated + "\n"), OK, ["unreadable_dates"],
                 id="dates-some-unreadable"),
    pytest.param(_csv_case("lon,lat,datetime\n" + _timed + "\n", "--timezone", "Mars/Olympus"),
                 FAIL, ["time zone", "europe/"], id="unknown-timezone"),
    # --- vector files
    pytest.param(_json_case(_geojson(_point_features())[:-40]), FAIL, ["cannot read",
                                                                        "export it again"],
                 id="truncated-geojson"),
    pytest.param(_json_case('{"hello": "world"}', name="incidents.json"), FAIL, ["cannot read"],
                 id="json-not-geojson"),
    pytest.param(_json_case([_feature({"type": "Polygon", "coordinates": [[
        [-46.63, -23.55], [-46.62, -23.55], [-46.62, -23.54], [-46.63, -23.55]]]})]), FAIL,
        ["polygon", "points"], id="geojson-polygons"),
    pytest.param(_json_case([_feature({"coordinates": [[-46.63, -23.55], [-46.62, -23.54]],
                                       "type": "LineString"})]), FAIL,
                 ["linestring", "points"], id="geojson-lines"),
    pytest.param(_json_case([_feature({"type": "MultiPoint", "coordinates": [
        [-46.63, -23.55], [-46.62, -23.54]]})] * 3), FAIL, ["multipoint", "split"],
                 id="geojson-multipoints"),
    pytest.param(_json_case([]), FAIL, ["no features"], id="geojson-no-features"),
    pytest.param(_json_case([_feature(None)] * 3), FAIL, ["empty geometry"],
                 id="geojson-null-geometries"),
    pytest.param(_json_case([_feature({"type": "Point", "coordinates": [500, 600]})] * 3), FAIL,
                 ["outside longitude/latitude", "crs"], id="geojson-out-of-range"),
    pytest.param(_million_vertex_geojson, FAIL, ["polygon", "points"],
                 id="geojson-million-vertex-polygon"),
    pytest.param(_gpkg_no_layers, FAIL, ["no layers", "point layer"], id="gpkg-no-layers"),
    pytest.param(_gpkg_no_crs, FAIL, ["no crs", "save"], id="gpkg-no-crs"),
    pytest.param(_random_bytes("incidents.gpkg"), FAIL, ["cannot read", "damaged"],
                 id="gpkg-corrupt"),
    pytest.param(_plain_parquet, FAIL, ["without geometry", "csv"], id="parquet-no-geometry"),
    pytest.param(_geoparquet_lines, FAIL, ["linestring", "points"], id="geoparquet-lines"),
    pytest.param(_random_bytes("incidents.parquet"), FAIL, ["cannot read", "damaged"],
                 id="parquet-corrupt"),
    # --- user layers
    pytest.param(_million_vertex_layer, FAIL, ["vertices", "upload limit", "simplify"],
                 id="layer-million-vertex-polygon"),
    pytest.param(_layers_no_crs, FAIL, ["no crs", "set one"], id="layer-without-crs"),
    pytest.param(_random_bytes("layers.gpkg"), FAIL, ["cannot read", "gpkg"],
                 id="layer-file-corrupt"),
    pytest.param(_with("--layers", "/nonexistent/layers.gpkg"), FAIL, ["does not exist",
                                                                        "--layers"],
                 id="layer-file-missing"),
    # --- parameters
    pytest.param(_with("--cell-size", "-50"), FAIL, ["--cell-size", "positive"],
                 id="cell-size-negative"),
    pytest.param(_with("--cell-size", "0"), FAIL, ["--cell-size", "positive"], id="cell-size-zero"),
    pytest.param(_with("--cell-size", "nan"), FAIL, ["--cell-size", "positive"],
                 id="cell-size-nan"),
    pytest.param(_with("--cell-size", "inf"), FAIL, ["--cell-size", "positive"],
                 id="cell-size-infinite"),
    pytest.param(_with("--cell-size", "1e9"), FAIL, ["--cell-size", "smaller"],
                 id="cell-size-huge"),
    pytest.param(_with("--bbox", "-50,-30,-40,-20", "--cell-size", "10"), FAIL,
                 ["cells", "limit", "larger --cell-size"], id="grid-too-large"),
    pytest.param(_with("--bandwidth", "-300"), FAIL, ["--bandwidth", "positive"],
                 id="bandwidth-negative"),
    pytest.param(_with("--bandwidth", "0"), FAIL, ["--bandwidth", "positive"],
                 id="bandwidth-zero"),
    pytest.param(_with("--bandwidth", "nan"), FAIL, ["--bandwidth", "positive"],
                 id="bandwidth-nan"),
    pytest.param(_with("--privacy", "secret"), FAIL, ["--privacy", "public"],
                 id="privacy-unknown"),
    pytest.param(_with("--privacy", "public", "--dp-epsilon", "-1"), FAIL,
                 ["--dp-epsilon", "0.01 to 10"], id="dp-epsilon-negative"),
    pytest.param(_with("--privacy", "public", "--dp-epsilon", "1e-300"), FAIL,
                 ["--dp-epsilon", "0.01 to 10"], id="dp-epsilon-tiny"),
    pytest.param(_with("--dp-epsilon", "1"), FAIL, ["--dp-epsilon", "--privacy public"],
                 id="dp-epsilon-without-public-mode"),
    # --- paths
    pytest.param(_out_is_file, FAIL, ["is a file", "--out"], id="out-is-a-file"),
    pytest.param(_out_under_file, FAIL, ["cannot create", "choose another --out"],
                 id="out-under-a-file"),
    pytest.param(_csv_case(_GOOD, name="incidents.xlsx"), FAIL, ["unknown file type", ".csv"],
                 id="unknown-extension"),
    pytest.param(_csv_case(_GOOD, name="incidents"), FAIL, ["unknown file type"],
                 id="no-extension"),
    pytest.param(_directory, FAIL, ["folder", "file itself"], id="directory-as-incidents"),
    pytest.param(_missing, FAIL, ["does not exist", "check the path"], id="incidents-missing"),
    # --- OSM extracts
    pytest.param(_osm_file("empty.pbf", b""), FAIL, ["empty", "download"], id="osm-zero-bytes"),
    pytest.param(_random_bytes("random.pbf"), FAIL, ["not an osm pbf", "download"],
                 id="osm-pbf-random-bytes"),
    pytest.param(_truncated_pbf, FAIL, ["damaged", "download"], id="osm-pbf-truncated"),
    pytest.param(_osm_file("map.osm", b"this is not xml at all"), FAIL, ["not osm xml", "export"],
                 id="osm-xml-not-xml"),
    pytest.param(_osm_file("map.osm", b"<osm version='0.6'><node id='1' lat='-23.5'"), FAIL,
                 ["map.osm", "again"], id="osm-xml-truncated"),
    pytest.param(_osm_file("map.txt", b"<osm/>"), FAIL, ["must end in .pbf"],
                 id="osm-wrong-extension"),
    pytest.param(_with("--osm", "/nonexistent/map.pbf"), FAIL, ["does not exist", "--osm"],
                 id="osm-missing"),
    # --- round two (issue 16): crashes that were tracebacks
    pytest.param(_with("--cell-size", "1e-310"), FAIL, ["--cell-size", "countless cells"],
                 id="cell-size-subnormal"),
    pytest.param(_with("--bandwidth", "1e308"), FAIL, ["--bandwidth", "between 1 and 50,000 m"],
                 id="bandwidth-huge"),
    pytest.param(_with("--bandwidth", "1e-300"), FAIL, ["--bandwidth", "between 1 and 50,000"],
                 id="bandwidth-tiny"),
    pytest.param(_with("--privacy", "public", "--dp-epsilon", "1", "--dp-seed", "-1000000000"),
                 FAIL, ["--dp-seed", "greater than or equal to 0"], id="dp-seed-negative"),
    # --- round two: one line for values typer cannot parse
    pytest.param(_with("--cell-size", "ten"), FAIL, ["--cell-size", "valid number",
                                                     "hotspot-env analyze --help"],
                 id="cell-size-not-a-number"),
    pytest.param(_with("--bandwidth", ""), FAIL, ["--bandwidth"], id="bandwidth-empty-string"),
    pytest.param(_with("--no-such-option", "1"), FAIL, ["no such option"],
                 id="unknown-option"),
    # --- round two: exit 0 with wrong or unsafe output before
    pytest.param(_swapped_no_layers, FAIL, ["at sea", "swapped", "swap them"],
                 id="swapped-lon-lat-without-layers"),
    pytest.param(_geojson_legacy_crs, OK, ["crs set to epsg:32723", "stretches distances by 9%"],
                 id="geojson-legacy-crs-web-mercator"),
    pytest.param(_csv_case(_dated_rows(["2023-10-29 03:30", "2023-03-26 03:30"]),
                           "--timezone", "Europe/Helsinki"), OK,
                 ["daylight_saving_times set to 40", "earlier (summer-time)"],
                 id="dst-overlap-and-gap-hours"),
    pytest.param(_csv_case(_dated_rows(["0001-01-01", "9999-12-31"] + ["2023-05-01"] * 8)),
                 OK, ["placeholder_dates set to 8"], id="placeholder-dates-0001-and-9999"),
    pytest.param(_csv_case("lon,lat\n" + "".join(f"{a},{b}\n" for a, b in zip(
        _LON, _LAT, strict=True)) + "200,-23.55\n"), OK, ["rows_without_coordinates set to 1"],
                 id="one-out-of-range-row-among-41"),
    pytest.param(_csv_case("lon,lat\n" + "".join(f"{a},{b}\n" for a, b in zip(
        _LON[:19], _LAT[:19], strict=True)) + "200,-23.55\n" * 21), FAIL,
                 ["out of range", "--crs"], id="most-rows-out-of-range"),
    pytest.param(_gpkg_polygons_then(("incidents",)), OK,
                 ["incidents_layer set to incidents", "study_area (polygon)"],
                 id="gpkg-polygon-layer-before-point-layer"),
    pytest.param(_gpkg_polygons_then(("thefts", "burglaries")), FAIL,
                 ["3 layers", "thefts (point)", "2 of them are points", "save"],
                 id="gpkg-two-point-layers"),
    pytest.param(_gpkg_polygons_then(()), FAIL, ["polygon", "points"],
                 id="gpkg-polygon-layer-only"),
    # --- found by the hunt (test_bad_inputs_hunt.py)
    pytest.param(_json_case(_point_features() + [
        _feature({"type": "Point", "coordinates": [0]}),
        _feature({"type": "Nonsense", "coordinates": [0, 1]})]), OK,
        ["reader_messages set to 2", "null geometry", "features_without_geometry set to 2"],
        id="geojson-some-features-malformed"),
]


def _leftovers(out: Path) -> list[str]:
    """Anything a failed run left in ``out`` (a pre-existing file at ``out`` is not ours)."""
    if not out.is_dir():
        return []
    return sorted(str(p.relative_to(out)) for p in out.rglob("*"))


#: Usable cases that also run every later stage (factors, RTM, trends, interventions...):
#: the odd inputs whose content differs. The others read into the same table as a plain
#: CSV, so they stop after the core analysis to keep the catalogue fast.
FULL_PIPELINE = {"single-point", "all-duplicates", "unknown-and-hostile-categories",
                 "dates-some-unreadable", "projected-xy-with-crs",
                 "placeholder-dates-0001-and-9999", "dst-overlap-and-gap-hours"}


@pytest.mark.parametrize(("build", "code", "words"), CASES)
def test_catalogue(build, code, words, tmp_path, sao_paulo, request, monkeypatch):
    if request.node.callspec.id not in FULL_PIPELINE:
        monkeypatch.setattr("hotspot_env.core.pipeline.default_stages", lambda: [])
    args = build(tmp_path, sao_paulo)
    if "--out" not in args:
        args += ["--out", str(tmp_path / "out")]
    out = Path(args[args.index("--out") + 1])
    before = out.read_bytes() if out.is_file() else None
    result = runner.invoke(app, ["analyze", *args])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{result.exception!r}\n{result.output}")
    assert result.exit_code == code, result.output
    if code == FAIL:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        message = lines[0]
        assert message.startswith("error: "), message
        assert message.isprintable(), repr(message)  # no terminal escapes from the input
        low = message.lower()
        for word in words:
            assert word.lower() in low, f"{word!r} not in {message!r}"
        assert any(w in low for w in FIX_WORDS), f"no fix suggested: {message!r}"
        assert _leftovers(out) == [], _leftovers(out)
        if before is not None:
            assert out.read_bytes() == before  # an existing file at --out is left alone
    else:
        assert result.stderr.strip() == "", result.stderr
        low = result.stdout.lower()
        for word in words:
            assert word.lower() in low, f"{word!r} not announced in:\n{result.stdout}"
        assert (out / "manifest.json").is_file()
        assert not [p for p in out.rglob("*") if p.name.startswith(".")
                    or p.suffix == ".tmp"], sorted(out.rglob("*"))


def test_catalogue_is_large_enough():
    assert len(CASES) >= 50


def test_million_vertex_polygon_is_refused_before_parsing(tmp_path, sao_paulo, monkeypatch):
    # The header check must refuse it without reading a single vertex: any
    # full read of the file would fail this test (no timing involved).
    import geopandas

    def no_full_read(*args, **kwargs):
        raise AssertionError("the file was parsed in full")

    monkeypatch.setattr(geopandas, "read_file", no_full_read)
    args = _million_vertex_geojson(tmp_path, sao_paulo)
    result = runner.invoke(app, ["analyze", *args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "polygon" in result.output.lower() and "parsed in full" not in result.output


def test_grid_too_large_is_a_typed_error(tmp_path):
    from hotspot_env.core.analysis import analyze
    from hotspot_env.errors import GridTooLargeError

    path = _write(tmp_path, "incidents.csv", _valid_csv())
    with pytest.raises(GridTooLargeError, match="--cell-size"):
        analyze(path, bbox="-50,-30,-40,-20", cell_size=10)



# ------------------------------------------------- later stages: interventions
def _edit_table(column: str, value: str) -> Callable[[bytes], bytes]:
    def edit(data: bytes) -> bytes:
        import io

        table = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
        table.loc[0, column] = value
        return table.to_csv(index=False).encode()
    return edit


LIBRARY_CASES = [
    pytest.param("costs.csv", _edit_table("unit_cost", "-850"), ["costs.csv", "negative"],
                 id="costs-negative"),
    pytest.param("costs.csv", _edit_table("lifetime_years", "0"), ["costs.csv", "lifetime"],
                 id="costs-zero-lifetime"),
    pytest.param("costs.csv", _edit_table("lifetime_years", "1e-308"),
                 ["costs.csv", "lifetime_years 1e-308", "between"], id="costs-subnormal-lifetime"),
    pytest.param("costs.csv", _edit_table("lifetime_years", "1e308"),
                 ["costs.csv", "lifetime_years", "between"], id="costs-huge-lifetime"),
    pytest.param("costs.csv", _edit_table("unit_cost", "inf"), ["costs.csv", "unit_cost"],
                 id="costs-infinite-unit-cost"),
    pytest.param("costs.csv", lambda data: b"", ["costs.csv"], id="costs-empty"),
    pytest.param("evidence.csv", lambda data: data[: len(data) // 2], ["evidence.csv"],
                 id="evidence-truncated"),
    pytest.param("evidence.csv", _edit_table("rate_ratio", "abc"), ["evidence.csv", "number"],
                 id="evidence-text-in-rate-ratio"),
    pytest.param("evidence.csv", lambda data: np.random.default_rng(1).bytes(3000),
                 ["evidence.csv"], id="evidence-binary"),
]


@pytest.fixture
def interventions_only(monkeypatch):
    """Run the interventions stage alone after the core analysis (it reads the library first)."""
    from hotspot_env import interventions

    monkeypatch.setattr("hotspot_env.core.pipeline.default_stages",
                        lambda: [("interventions", interventions.stage)])


@pytest.mark.parametrize(("name", "edit", "words"), LIBRARY_CASES)
def test_broken_evidence_or_cost_tables(name, edit, words, tmp_path, monkeypatch,
                                        interventions_only):
    from hotspot_env import settings

    data = tmp_path / "data"
    data.mkdir()
    for file in ("evidence.csv", "costs.csv"):
        (data / file).write_bytes((settings.data_folder / file).read_bytes())
    (data / name).write_bytes(edit((data / name).read_bytes()))
    monkeypatch.setattr(settings, "data_folder", data)
    out = tmp_path / "out"
    result = runner.invoke(app, ["analyze", "--incidents", _incidents(tmp_path), "--out",
                                 str(out)])
    assert result.exit_code == FAIL, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    low = lines[0].lower()
    assert all(w in low for w in words), lines[0]
    assert any(w in low for w in FIX_WORDS), f"no fix suggested: {lines[0]!r}"
    assert _leftovers(out) == []


@pytest.mark.parametrize(("budget", "ok"), [(0, True), (-1000, False), (float("nan"), False)])
def test_intervention_budget(budget, ok, tmp_path, interventions_only):
    from hotspot_env.core.pipeline import run
    from hotspot_env.errors import InputError

    path = _write(tmp_path, "incidents.csv", _valid_csv())
    options = {"interventions": {"budget": budget}}
    if ok:
        run(path, out=tmp_path / "out", stage_options=options)
        assert (tmp_path / "out" / "manifest.json").is_file()
    else:
        with pytest.raises(InputError, match="budget"):
            run(path, out=tmp_path / "out", stage_options=options)
        assert _leftovers(tmp_path / "out") == []


# ------------------------------------------ round two (issue 16): every command
# Each builder returns the whole command line and any environment variables.
# "OUT" in the command line is replaced by the case's output folder.
Built = tuple[list[str], dict[str, str]]


@pytest.fixture(scope="module")
def analysis_folder(tmp_path_factory) -> Path:
    """A finished analysis with the interventions state, for ``rank`` (core + interventions)."""
    from hotspot_env import interventions
    from hotspot_env.core.pipeline import run

    tmp = tmp_path_factory.mktemp("analysis")
    path = _write(tmp, "incidents.csv", _valid_csv())
    out = tmp / "out"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("hotspot_env.core.pipeline.default_stages",
                   lambda: [("interventions", interventions.stage)])
        run(path, out=out)
    return out


def _damaged(edit: Callable[[Path], None]) -> Callable[[Path, Path], Built]:
    """``rank`` on a copy of the analysis folder after ``edit`` (the original stays intact)."""
    def build(tmp: Path, folder: Path) -> Built:
        import shutil

        copy = tmp / "analysis"
        shutil.copytree(folder, copy)
        edit(copy)
        return ["rank", "--analysis", str(copy), "--budget", "1000", "--out", "OUT"], {}
    return build


def _cut_state(folder: Path) -> None:
    path = folder / "interventions_state.npz"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _state_without_grid(folder: Path) -> None:
    path = folder / "interventions_state.npz"
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(arrays["meta"].tobytes().decode())
    del meta["grid"]
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(path, **arrays)


def _cut_candidates(folder: Path) -> None:
    path = folder / "interventions_candidates.parquet"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _rank_with(name: str, content: str | bytes) -> Callable[[Path, Path], Built]:
    def build(tmp: Path, folder: Path) -> Built:
        return ["rank", "--analysis", str(folder), "--budget", "1000", "--out", "OUT",
                "--proposals", str(_write(tmp, name, content))], {}
    return build


def _rank_into_analysis(tmp: Path, folder: Path) -> Built:
    return ["rank", "--analysis", str(folder), "--budget", "10", "--out", str(folder)], {}


def _incidents_inside_out(tmp: Path, folder: Path) -> Built:
    out = tmp / "out"
    out.mkdir()
    path = _write(out, "cells.csv", _valid_csv())  # named like an output
    return ["analyze", "--incidents", str(path), "--out", str(out)], {}


def _trends(dates: list[str], *extra: str) -> Callable[[Path, Path], Built]:
    def build(tmp: Path, folder: Path) -> Built:
        path = _write(tmp, "incidents.csv", _dated_rows(dates, "lon,lat,date"))
        return ["trends", "--incidents", str(path), "--out", "OUT", *extra], {}
    return build


def _cmd(*argv: str, env: dict[str, str] | None = None) -> Callable[[Path, Path], Built]:
    def build(tmp: Path, folder: Path) -> Built:
        args = [_incidents(tmp) if a == "INCIDENTS" else str(folder) if a == "ANALYSIS" else a
                for a in argv]
        return list(args), dict(env or {})
    return build


_A_CENTURY = ["1900-01-01", "2023-12-31"]
_TWO_YEARS = [f"{y}-{m:02d}-15" for y in (2022, 2023) for m in range(1, 13)]

COMMAND_CASES = [
    # --- rank on a damaged analysis folder
    pytest.param(_damaged(_cut_state), FAIL, ["damaged", "badzipfile", "re-run"],
                 id="rank-state-cut-in-half"),
    pytest.param(_damaged(_state_without_grid), FAIL, ["damaged", "keyerror", "re-run"],
                 id="rank-state-metadata-without-grid"),
    pytest.param(_damaged(_cut_candidates), FAIL, ["damaged", "re-run"],
                 id="rank-candidates-parquet-damaged"),
    pytest.param(_rank_with("proposals.csv", b""), FAIL, ["proposals", "empty"],
                 id="rank-proposals-zero-bytes"),
    pytest.param(_rank_with("proposals.csv", "type,lon,lat\n"), OK, ["outputs written to"],
                 id="rank-proposals-header-only"),
    pytest.param(_rank_with("proposals.csv", "type,lon,lat\nstreet_lighting,-46.63,95\n"), FAIL,
                 ["proposal 1", "latitude -90..90"], id="rank-proposal-latitude-95"),
    pytest.param(_rank_with("proposals.csv", "type,lon,lat\nstreet_lighting,inf,-23.5\n"), FAIL,
                 ["line 2", "not numbers"], id="rank-proposal-infinite-longitude"),
    pytest.param(_rank_with("proposals.geojson", _geojson([_feature(
        {"type": "Point", "coordinates": [-46.63, 95.0]}, type="street_lighting")])), FAIL,
        ["proposal 1", "latitude"], id="rank-geojson-proposal-latitude-95"),
    pytest.param(_rank_into_analysis, FAIL, ["is the input folder", "choose another --out"],
                 id="rank-out-is-the-analysis-folder"),
    pytest.param(_cmd("rank", "--analysis", "/nonexistent", "--budget", "ten", "--out", "OUT"),
                 FAIL, ["--budget", "valid number"], id="rank-budget-not-a-number"),
    # --- output folder holding an input
    pytest.param(_incidents_inside_out, FAIL, ["holds the input cells.csv",
                                               "choose another --out"],
                 id="incidents-inside-out"),
    # --- seeds and environment variables
    pytest.param(_cmd("synth", "--seed", "-1", "--out", "OUT"), FAIL,
                 ["--seed", "greater than or equal to 0"], id="synth-negative-seed"),
    pytest.param(_cmd("synth", "--seed", "1.5", "--out", "OUT"), FAIL,
                 ["--seed", "valid integer"], id="synth-fractional-seed"),
    pytest.param(_cmd("analyze", "--incidents", "INCIDENTS", "--out", "OUT", "--privacy",
                      "public", "--dp-epsilon", "1", env={"HOTSPOT_ENV_DP_SEED": "abc"}), FAIL,
                 ["--dp-seed", "hotspot_env_dp_seed", "valid integer"],
                 id="dp-seed-env-var-not-a-number"),
    pytest.param(_cmd("analyze", "--incidents", "INCIDENTS", "--out", "OUT", "--privacy",
                      "public", "--dp-epsilon", "1", env={"HOTSPOT_ENV_DP_SEED": "-5"}), FAIL,
                 ["--dp-seed", "greater than or equal to 0"], id="dp-seed-env-var-negative"),
    # --- typer usage errors: one line
    pytest.param(_cmd("no-such-command"), FAIL, ["no such command", "hotspot-env --help"],
                 id="unknown-command"),
    pytest.param(_cmd("analyze", "--out", "OUT"), FAIL, ["missing option", "--incidents"],
                 id="analyze-without-incidents"),
    pytest.param(_cmd("trends", "--incidents", "INCIDENTS", "--out", "OUT", "--horizon-weeks",
                      "eight"), FAIL, ["--horizon-weeks", "valid integer"],
                 id="trends-horizon-not-a-number"),
    # --- trends: every size has a ceiling, checked before any work
    pytest.param(_trends(_TWO_YEARS, "--horizon-weeks", "1000000"), FAIL,
                 ["--horizon-weeks 1,000,000", "limit of 104"], id="trends-horizon-a-million"),
    pytest.param(_trends(_TWO_YEARS, "--horizon-weeks", "0"), FAIL, ["--horizon-weeks", ">= 1"],
                 id="trends-horizon-zero"),
    pytest.param(_trends(_A_CENTURY, "--time-step", "day"), FAIL,
                 ["--time-step day", "45,290 steps", "limit of 400", "coarser"],
                 id="trends-daily-steps-over-a-century"),
    pytest.param(_trends(_TWO_YEARS, "--time-step", "fortnight"), FAIL,
                 ["--time-step", "use one of"], id="trends-unknown-time-step"),
    pytest.param(_trends(["0001-01-01", "9999-12-31"] + _TWO_YEARS), OK,
                 ["placeholder_dates set to", "space-time cube"],
                 id="trends-placeholder-dates-0001-and-9999"),
    pytest.param(_trends(["0001-01-01", "9999-12-31"]), FAIL, ["no dates"],
                 id="trends-only-placeholder-dates"),
    # --- found by the hunt
    pytest.param(_cmd("rank", "--analysis", "ANALYSIS", "--budget", "10", "--out", "OUT",
                      "--time-limit", "-1"), FAIL, ["--time-limit", "above 0"],
                 id="rank-time-limit-negative"),
    pytest.param(_cmd("rank", "--analysis", "ANALYSIS", "--budget", "10", "--out", "OUT",
                      "--time-limit", "nan"), FAIL, ["--time-limit", "nan"],
                 id="rank-time-limit-nan"),
    pytest.param(_cmd("rank", "--analysis", "ANALYSIS", "--budget", "10", "--out", "OUT",
                      "--time-limit", "1e308"), FAIL, ["--time-limit", "at most 3,600"],
                 id="rank-time-limit-huge"),
    pytest.param(_cmd("validate", "--incidents", "INCIDENTS", "--out", "OUT", "--split-date",
                      "9999-12-31"), FAIL, ["--split-date 9999-12-31", "inside the records"],
                 id="validate-split-date-9999-wrapped-to-1816"),
    pytest.param(_cmd("validate", "--incidents", "INCIDENTS", "--out", "OUT", "--cell-size",
                      "1e-310"), FAIL, ["larger --cell-size"],
                 id="validate-cell-size-subnormal"),
    pytest.param(_cmd("trends", "--incidents", "INCIDENTS", "--out", "OUT", "--cell-size",
                      "1e-310"), FAIL, ["larger --cell-size"], id="trends-cell-size-subnormal"),
    pytest.param(_cmd("analyze", "--incidents", "/dev/null", "--out", "OUT"), FAIL,
                 ["not a regular file", "pass the incidents file"], id="incidents-dev-null"),
]


@pytest.mark.parametrize(("build", "code", "words"), COMMAND_CASES)
def test_command_catalogue(build, code, words, tmp_path, analysis_folder, monkeypatch):
    monkeypatch.setattr("hotspot_env.core.pipeline.default_stages", lambda: [])
    before_analysis = {p: p.read_bytes() for p in analysis_folder.rglob("*") if p.is_file()}
    args, env = build(tmp_path, analysis_folder)
    out = tmp_path / "cmd-out"
    args = [str(out) if a == "OUT" else a for a in args]
    given = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    result = runner.invoke(app, args, env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{result.exception!r}\n{result.output}")
    assert "Traceback" not in result.output
    assert result.exit_code == code, result.output
    if code == FAIL:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("error: ") and lines[0].isprintable(), lines[0]
        low = lines[0].lower()
        for word in words:
            assert word.lower() in low, f"{word!r} not in {lines[0]!r}"
        assert any(w in low for w in FIX_WORDS), f"no fix suggested: {lines[0]!r}"
        now = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
        assert now == given  # nothing written, every input untouched
    else:
        assert result.stderr.strip() == "", result.stderr
        for word in words:
            assert word.lower() in result.stdout.lower(), f"{word!r} not in:\n{result.stdout}"
    after = {p: p.read_bytes() for p in analysis_folder.rglob("*") if p.is_file()}
    assert after == before_analysis  # the shared analysis folder is never changed


def test_catalogue_round_two_size():
    # 95 analyze + 6 library cases before issue 16; each listed item is a case of its own
    assert len(CASES) >= 112 and len(LIBRARY_CASES) >= 9 and len(COMMAND_CASES) >= 31


# ------------------------------------- round two: the behaviour behind the cases
def test_daylight_saving_times_resolved_to_hand_computed_instants(tmp_path):
    from hotspot_env.inputs.io import read_incidents

    # Helsinki: clocks go back 04:00 EEST -> 03:00 EET on 2023-10-29 (03:30 happens twice) and
    # jump 03:00 EET -> 04:00 EEST on 2023-03-26 (03:30 never happens).
    text = ("lon,lat,datetime\n24.94,60.17,2023-10-29 03:30\n24.95,60.17,2023-03-26 03:30\n"
            "24.96,60.17,2023-05-01 22:00\n")
    data = read_incidents(_write(tmp_path, "hel.csv", text), timezone="Europe/Helsinki")
    got = data.frame["datetime"].tolist()
    assert got == [pd.Timestamp("2023-10-29 00:30", tz="UTC"),  # earlier: EEST, UTC+3
                   pd.Timestamp("2023-03-26 01:00", tz="UTC"),  # shifted to 04:00 EEST
                   pd.Timestamp("2023-05-01 19:00", tz="UTC")]
    assert data.frame["time_known"].all()
    [choice] = [c for c in data.choices if c.name == "daylight_saving_times"]
    assert choice.value == 2


def test_placeholder_dates_become_unknown_and_are_counted(tmp_path):
    from hotspot_env.inputs.io import read_incidents

    text = "lon,lat,date\n" + "".join(f"{a},{b},{d}\n" for a, b, d in zip(
        _LON[:5], _LAT[:5], ["0001-01-01", "9999-12-31", "1899-12-31", "1900-01-01",
                             "2099-12-31"], strict=True))
    data = read_incidents(_write(tmp_path, "ph.csv", text))
    assert data.frame["datetime"].isna().tolist() == [True, True, True, False, False]
    [choice] = [c for c in data.choices if c.name == "placeholder_dates"]
    assert choice.value == 3


def test_web_mercator_distortion_matches_the_secant_of_latitude():
    from pyproj import CRS

    from hotspot_env.core.grid import choose_crs, scale_distortion

    for lat in (-23.55, 0.0, 60.17):
        pts = gpd.GeoSeries(gpd.points_from_xy([10.0], [lat]), crs=4326).to_crs(3857)
        # Mercator's scale factor is sec(latitude) in both directions (Snyder 1987, eq. 7-3)
        expected = 1 / np.cos(np.radians(lat)) - 1
        assert scale_distortion(CRS.from_epsg(3857), pts) == pytest.approx(expected, abs=1e-6)
    pts = gpd.GeoSeries(gpd.points_from_xy([-46.63], [-23.55]), crs=4326)
    assert choose_crs(pts.to_crs(3857))[0].to_epsg() == 32723
    assert choose_crs(pts.to_crs(31983))[0].to_epsg() == 31983  # SIRGAS 2000 / UTM 23S kept


def test_geopackage_with_several_layers_reads_without_warnings(tmp_path):
    from hotspot_env.inputs.io import read_incidents

    build = _gpkg_polygons_then(("incidents",))
    args = build(tmp_path, {})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = read_incidents(args[1])
    assert len(data.frame) == len(_LON)


def test_land_check_against_known_places():
    from hotspot_env.errors import InputError
    from hotspot_env.inputs.land import check_on_land, share_on_land

    cities = {"São Paulo": (-46.63, -23.55), "Helsinki": (24.94, 60.17),
              "Leeds": (-1.55, 53.80), "Valletta": (14.51, 35.90), "Honolulu": (-157.86, 21.31)}
    lon, lat = np.array(list(cities.values())).T
    assert share_on_land(lon, lat) == 1.0
    assert share_on_land(np.array([-30.0, 170.0]), np.array([-40.0, -50.0])) == 0.0  # oceans
    with pytest.raises(InputError, match="swap"):
        check_on_land(np.full(10, -23.55), np.full(10, -46.63), "sp.csv")
    # Malé is missing from the 1:110m map and is at sea swapped too: announced, not refused
    choice = check_on_land(np.full(10, 73.51), np.full(10, 4.17), "male.csv")
    assert choice.name == "points_at_sea" and choice.value == 1.0


def test_numba_cache_goes_where_the_user_can_write(tmp_path):
    from hotspot_env._jit import choose_cache_folder

    unwritable = Path("/proc/hotspot_env-cache")  # /proc refuses new files, even to root
    assert choose_cache_folder([None, unwritable, tmp_path / "c"]) == tmp_path / "c"
    assert choose_cache_folder([unwritable, Path("/proc/other")]) is None


_NUMBA_PROBE = """
import sys
import tempfile
from pathlib import Path
import numpy as np
from hotspot_env import _jit as jit, settings
jit.PACKAGE_CACHE = Path("/proc/hotspot_env-package")  # as if installed read-only
settings.cache_folder = Path(sys.argv[1])
tempfile.tempdir = sys.argv[3]
cache = jit._configure()
import numba
print(cache, numba.config.CACHE_DIR)
sys.path.insert(0, sys.argv[2])
jit.CACHE = cache
import probe
print(probe.total(np.arange(10.0)))
"""


@pytest.mark.parametrize("writable_home", [True, False])
def test_numba_runs_with_a_read_only_package_folder(tmp_path, writable_home):
    import os
    import subprocess
    import sys

    mod = tmp_path / "mod"
    mod.mkdir()
    (mod / "probe.py").write_text(
        "from hotspot_env._jit import njit\n\n@njit()\ndef total(x):\n    s = 0.0\n"
        "    for v in x:\n        s += v\n    return s\n", encoding="utf-8")
    home = tmp_path / "home" if writable_home else Path("/proc/hotspot_env-home")
    temp = tmp_path / "tmp" if writable_home else Path("/proc/hotspot_env-tmp")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env.update(PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    done = subprocess.run([sys.executable, "-c", _NUMBA_PROBE, str(home), str(mod), str(temp)],
                          env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.splitlines()[-2:]
    assert second == "45.0"
    if writable_home:
        assert first == f"True {home / 'numba'}"
        assert list((home / "numba").rglob("*.nbi"))  # the kernel was cached there
    else:
        assert first.startswith("False")  # compiled uncached, and still ran


@pytest.mark.parametrize("privacy", ["internal", "public"])
def test_demo_prints_no_warnings(tmp_path, privacy):
    # Python's -W error turns every warning (RuntimeWarning from numpy included) into a crash
    import os
    import subprocess
    import sys

    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    done = subprocess.run([sys.executable, "-W", "error", "-m", "hotspot_env", "demo", "--out",
                           str(tmp_path / "demo"), "--privacy", privacy], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr == ""
    assert (tmp_path / "demo" / "manifest.json").is_file()


def test_incident_rows_have_a_ceiling(tmp_path, monkeypatch):
    import geopandas

    from hotspot_env import settings
    from hotspot_env.errors import InputError
    from hotspot_env.inputs.io import read_incidents

    monkeypatch.setattr(settings, "max_incidents", 39)
    with pytest.raises(InputError, match="40 rows, more than the limit of 39"):
        read_incidents(_write(tmp_path, "incidents.csv", _valid_csv()))
    lon, lat = _lonlat()
    path = tmp_path / "incidents.parquet"
    gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs=4326).to_parquet(path)

    def no_read(*args, **kwargs):
        raise AssertionError("the Parquet rows were read before the ceiling was checked")

    monkeypatch.setattr(geopandas, "read_parquet", no_read)
    with pytest.raises(InputError, match="40 rows"):
        read_incidents(path)
    monkeypatch.setattr(settings, "max_incidents", 40)  # at the ceiling: read as usual
    assert len(read_incidents(_write(tmp_path, "ok.csv", _valid_csv())).frame) == 40
