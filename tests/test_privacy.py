"""Places, never people: no output of a run reveals an individual incident.

The São Paulo pair is analysed in internal and public mode (and public mode
with differential-privacy noise), then *every* file in the output folder is
read back, whatever wrote it (later stages' files are covered automatically by
the glob): as text (numbers that are incident coordinates, alone or in
pairs, at several precisions), as vector layers (point geometries within 1 m
of an incident, identifying columns), as rasters, tables and arrays. Public
mode must publish every per-cell count as 0, >= k or "<k".
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from scipy.spatial import cKDTree
from typer.testing import CliRunner

from hotspot_env import settings
from hotspot_env.cli import app
from hotspot_env.errors import InputError
from hotspot_env.outputs.privacy import (
    Budget,
    Kind,
    UndeclaredColumnError,
    check_epsilon,
    discrete_laplace,
    publish,
    suppress_small,
)
from hotspot_env.outputs.safe_text import neutralise_text

runner = CliRunner()

K = settings.k_threshold
PROJECTED = "EPSG:32723"  # the UTM zone the São Paulo run chooses
MODES = {
    "internal": [],
    "public": ["--privacy", "public"],
    "public-dp": ["--privacy", "public", "--dp-epsilon", "1.0"],
}


# ------------------------------------------------------------------ fixtures
def _incident_facts(path: Path, crs: str) -> dict:
    """The input incidents: lon/lat, projected x/y, identifying values."""
    raw = pd.read_csv(path)
    pts = gpd.GeoSeries(gpd.points_from_xy(raw.lon, raw.lat), crs=4326).to_crs(crs)
    xy = np.c_[pts.x.to_numpy(), pts.y.to_numpy()]
    lonlat = np.c_[raw.lon.to_numpy(), raw.lat.to_numpy()]
    return {"raw": raw, "lonlat": lonlat, "xy": xy, "tree": cKDTree(xy), "crs": crs,
            "ids": set(raw["id"].astype(str)) if "id" in raw else set(),
            "location_types": (sorted(set(raw["location_type"].dropna().astype(str)))
                               if "location_type" in raw else [])}


@pytest.fixture(scope="module")
def incidents(sao_paulo) -> dict:
    return _incident_facts(sao_paulo["incidents"], PROJECTED)


@pytest.fixture(scope="module")
def runs(sao_paulo, tmp_path_factory) -> dict[str, Path]:
    """One analysed São Paulo run per privacy mode."""
    outs = {}
    for mode, extra in MODES.items():
        out = tmp_path_factory.mktemp(f"sp-{mode}")
        result = runner.invoke(app, ["analyze", "--incidents", str(sao_paulo["incidents"]),
                                     "--osm", str(sao_paulo["osm"]), "--out", str(out),
                                     "--quiet", *extra])
        assert result.exit_code == 0, result.output
        outs[mode] = out
    return outs


# ------------------------------------------------------------- reading back
class _Tables(HTMLParser):
    """Every <table> of an HTML page as a list of rows of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self.tables:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _text_of(path: Path) -> str | None:
    """The file as text, or None for binary formats (read structurally instead)."""
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return re.sub(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=]+", "data:...", text)  # embedded images


def _tables(path: Path) -> list[tuple[str, pd.DataFrame]]:
    """Every table a file holds: vector layers (all of a GeoPackage's), CSV, Parquet, HTML."""
    suffix = path.suffix.lower()
    if suffix in (".gpkg", ".geojson", ".fgb", ".shp") or (
            suffix == ".json" and '"FeatureCollection"' in path.read_text(errors="ignore")[:4096]):
        out = []
        for name, _ in pyogrio.list_layers(path):
            frame = pyogrio.read_dataframe(path, layer=name)
            out.append((f"{path.name}:{name}", frame))
        if suffix == ".gpkg":  # attribute-only tables too (pyogrio lists those as layers;
            with sqlite3.connect(path) as db:  # this catches any other user table)
                names = [r[0] for r in db.execute(
                    "SELECT table_name FROM gpkg_contents WHERE data_type = 'attributes'")]
            listed = {n for n, _ in pyogrio.list_layers(path)}
            for name in set(names) - listed:
                with sqlite3.connect(path) as db:
                    out.append((f"{path.name}:{name}", pd.read_sql(f'SELECT * FROM "{name}"', db)))
        return out
    if suffix == ".csv":
        return [(path.name, pd.read_csv(path))]
    if suffix in (".parquet", ".geoparquet"):
        try:
            return [(path.name, gpd.read_parquet(path))]
        except ValueError:
            return [(path.name, pd.read_parquet(path))]
    if suffix in (".html", ".htm"):
        parser = _Tables()
        parser.feed(path.read_text(encoding="utf-8"))
        return [(f"{path.name}:table{i}", pd.DataFrame(t[1:], columns=t[0]))
                for i, t in enumerate(parser.tables) if len(t) > 1 and len(set(t[0])) == len(t[0])]
    return []


def _arrays(path: Path) -> list[tuple[str, np.ndarray]]:
    """Numeric arrays of rasters and NumPy archives."""
    suffix = path.suffix.lower()
    if suffix in (".tif", ".tiff"):
        with rasterio.open(path) as src:
            return [(f"{path.name}:band{i}", src.read(i)) for i in range(1, src.count + 1)]
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            return [(f"{path.name}:{k}", data[k]) for k in data.files]
    if suffix == ".npy":
        return [(path.name, np.load(path, allow_pickle=False))]
    return []


def _metadata_text(path: Path) -> str:
    """Text metadata of binary formats (GeoTIFF tags, GeoPackage metadata, zip members)."""
    suffix = path.suffix.lower()
    parts = []
    if suffix in (".tif", ".tiff"):
        with rasterio.open(path) as src:
            parts.append(json.dumps(src.tags()))
            for i in range(1, src.count + 1):
                parts.append(json.dumps(src.tags(i)))
                parts.append(str(src.descriptions[i - 1]))
    if suffix == ".gpkg":
        with sqlite3.connect(path) as db:
            tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            for name in ("gpkg_metadata", "gpkg_contents"):
                if name in tables:
                    parts.append(json.dumps(db.execute(f"SELECT * FROM {name}").fetchall()))
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                parts.append(archive.read(member).decode("utf-8", errors="ignore"))
    return "\n".join(parts)


def _files(out: Path) -> list[Path]:
    files = sorted(p for p in out.rglob("*") if p.is_file())
    assert files, f"{out} is empty"
    return files


# ------------------------------------------------------------ leak detectors
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.(\d+))?(?![\w])")


def _coordinate_pairs_in_text(text: str, inc: dict) -> list[str]:
    """Consecutive numbers that equal an incident's (lon, lat) or (x, y) at their precision.

    Each number is compared at the precision it is written with (``60.1689``
    only claims 4 decimals), and both must belong to the same incident; both
    orders are tried. Degrees need >= 4 decimals (about 10 m); metres any
    precision (a whole metre is already a location). A single number with >= 9
    decimals equal to an incident's longitude or latitude counts too.
    """
    values = [(float(m.group(0)), len(m.group(1) or "")) for m in _NUMBER.finditer(text)]
    hits = []
    cache: dict[tuple[str, int], dict[int, set[int]]] = {}
    columns = {"lon": inc["lonlat"][:, 0], "lat": inc["lonlat"][:, 1], "x": inc["xy"][:, 0],
               "y": inc["xy"][:, 1]}

    def matches(kind: str, value: float, d: int) -> set[int]:
        """Incidents whose ``kind`` coordinate rounds to ``value`` at ``d`` decimals."""
        if (kind, d) not in cache:  # built once per coordinate and precision
            index: dict[int, set[int]] = {}
            for i, key in enumerate(np.rint(columns[kind] * 10.0**d).astype(np.int64).tolist()):
                index.setdefault(key, set()).add(i)
            cache[kind, d] = index
        return cache[kind, d].get(round(value * 10**d), set())

    for (a, da), (b, db) in zip(values, values[1:], strict=False):
        for (p, dp), (q, dq) in (((a, da), (b, db)), ((b, db), (a, da))):
            if abs(p) <= 180 and abs(q) <= 90 and min(dp, dq) >= 4:
                if matches("lon", p, min(dp, 12)) & matches("lat", q, min(dq, 12)):
                    hits.append(f"lon/lat pair {p}, {q}")
            elif 1e5 <= abs(p) <= 1e7 and 1e5 <= abs(q) <= 1e8:
                if matches("x", p, min(dp, 8)) & matches("y", q, min(dq, 8)):
                    hits.append(f"x/y pair {p}, {q}")
    for v, d in values:
        if d >= 9 and abs(v) <= 180 and (matches("lon", v, min(d, 12))
                                         or matches("lat", v, min(d, 12))):
            hits.append(f"coordinate {v}")
    return hits


def _identifying(table: pd.DataFrame, column, inc: dict) -> bool:
    """A ``location_type`` column, or an ``id`` column holding the input's incident ids.

    (Other tables may have an ``id`` of their own, e.g. intervention ids.)
    """
    name = str(column).lower()
    if name == "location_type":
        return True
    if name != "id":
        return False
    values = table[column].dropna().astype(str)
    return len(values) > 0 and values.isin(inc["ids"]).mean() >= 0.5


def _points_near_incidents(frame: pd.DataFrame, inc: dict) -> int:
    """How many point geometries of ``frame`` lie within 1 m of an incident."""
    if not isinstance(frame, gpd.GeoDataFrame) or frame.geometry.isna().all():
        return 0
    geoms = frame.geometry.dropna()
    geoms = geoms[~geoms.is_empty]
    points = geoms[geoms.geom_type.isin(["Point", "MultiPoint"])].explode(index_parts=False)
    if points.empty:
        return 0
    if points.crs is None:
        raise AssertionError("a vector output has no CRS, so its points cannot be checked")
    points = points.to_crs(inc["crs"])
    dist, _ = inc["tree"].query(np.c_[points.x.to_numpy(), points.y.to_numpy()])
    return int((dist < 1.0).sum())


def _numbers_equal_to_coordinates(frame: pd.DataFrame, inc: dict) -> list[str]:
    """Numeric columns holding an incident's lon, lat, x or y exactly (to 1e-6 / 1e-3)."""
    hits = []
    lon_lat = set(np.round(inc["lonlat"].ravel(), 6))
    xy = set(np.round(inc["xy"].ravel(), 3))
    for col in frame.columns:
        if col == getattr(frame, "_geometry_column_name", None):
            continue
        values = pd.to_numeric(frame[col], errors="coerce").dropna().to_numpy(float)
        if values.size == 0:
            continue
        precise = values[np.round(values, 3) != values]  # round numbers are not locations
        if (set(np.round(precise, 6)) & lon_lat) or (set(np.round(precise, 3)) & xy):
            hits.append(str(col))
    return hits


def _bad_published_counts(values) -> list:
    bad = []
    for v in values:
        text = str(v).strip()
        if text == f"<{K}" or text in ("", "nan", "None"):
            continue
        number = float(text.replace(",", ""))
        if not (number == 0 or number >= K) or number != int(number):
            bad.append(v)
    return bad


# -------------------------------------------------------------- the proofs
def _leaks(out: Path, inc: dict) -> tuple[list[str], int]:
    """Every way the files in ``out`` reveal an incident, and how many tables were read."""
    problems: list[str] = []
    n_tables = 0
    location_types = set(inc["location_types"])
    lon_lat = set(np.round(inc["lonlat"].ravel(), 6))
    for path in _files(out):
        where = str(path.relative_to(out))
        text = _text_of(path)
        for t in ([text] if text is not None else []) + [_metadata_text(path)]:
            problems += [f"{where}: {hit}" for hit in _coordinate_pairs_in_text(t, inc)[:5]]
            # in free text only the unmistakably Portuguese values ("Via pública"): English
            # words such as "Shopping Center" may appear in the evidence of interventions
            problems += [f"{where}: location type {v!r}" for v in location_types
                         if not v.isascii() and v in t]
        for name, table in _tables(path):
            n_tables += 1
            problems += [f"{name}: identifying column {c!r}" for c in table.columns
                         if _identifying(table, c, inc)]
            if near := _points_near_incidents(table, inc):
                problems.append(f"{name}: {near} point(s) within 1 m of an incident")
            problems += [f"{name}: column {c!r} holds incident coordinates"
                         for c in _numbers_equal_to_coordinates(table, inc)]
            for col in table.columns:
                if col != getattr(table, "_geometry_column_name", None) and not (
                        pd.api.types.is_numeric_dtype(table[col])):
                    if set(table[col].dropna().astype(str)) & location_types:
                        problems.append(f"{name}: column {col!r} holds location types")
        for name, array in _arrays(path):
            if array.dtype.kind in "USO" or (array.dtype == np.uint8 and array.ndim == 1):
                text = (bytes(array).decode("utf-8", errors="ignore") if array.dtype == np.uint8
                        else " ".join(map(str, array.ravel().tolist())))
                problems += [f"{name}: {hit}" for hit in _coordinate_pairs_in_text(text, inc)[:5]]
                continue
            if array.dtype.kind not in "fiu":
                continue
            if array.ndim == 2 and array.shape[1] == 2 and array.dtype.kind == "f":
                dist, _ = inc["tree"].query(np.nan_to_num(array, nan=-1e12))
                if (dist < 1.0).any():
                    problems.append(f"{name}: rows within 1 m of an incident")
            flat = np.asarray(array, dtype=float).ravel()
            flat = flat[np.isfinite(flat)]
            if set(np.round(flat[np.round(flat, 3) != flat], 6)) & lon_lat:
                problems.append(f"{name}: values equal to incident longitudes/latitudes")
    return problems, n_tables


@pytest.mark.parametrize("mode", list(MODES))
def test_no_output_reveals_an_incident(runs, incidents, mode):
    problems, n_tables = _leaks(runs[mode], incidents)
    assert problems == []
    assert n_tables >= 2  # at least the cells layer and the report's tables were read


def test_the_leak_detectors_catch_planted_leaks(incidents, tmp_path):
    """The checks above are only worth something if they fire on real leaks."""
    (lon, lat), (x, y) = incidents["lonlat"][7], incidents["xy"][7]
    kind = incidents["location_types"][0]
    portuguese = next(v for v in incidents["location_types"] if not v.isascii())
    plants = {
        "pair.json": lambda p: p.write_text(json.dumps({"where": [round(lon, 5), round(lat, 5)]})),
        "xy.html": lambda p: p.write_text(f"<p>at {x:.1f} / {y:.1f}</p>"),
        "single.txt": lambda p: p.write_text(f"lon {lon!r}"),
        "kind.md": lambda p: p.write_text(f"a {portuguese} case"),
        "near.geojson": lambda p: gpd.GeoDataFrame(
            {"n": [1]}, geometry=gpd.points_from_xy([x + 0.4], [y]), crs=PROJECTED).to_file(
            p, driver="GeoJSON", engine="pyogrio"),
        "ids.csv": lambda p: pd.DataFrame({"id": [11, 12], "v": [3, 4]}).to_csv(p, index=False),
        "coords.parquet": lambda p: pd.DataFrame({"a": [lon], "b": [0.5]}).to_parquet(p),
        "state.npz": lambda p: np.savez(p, pts=np.array([[x, y]])),
        "layers.gpkg": lambda p: gpd.GeoDataFrame(
            {"location_type": [kind]}, geometry=gpd.points_from_xy([lon], [lat]),
            crs=4326).to_file(p, layer="second", driver="GPKG", engine="pyogrio"),
    }
    for name, plant in plants.items():
        folder = tmp_path / name.replace(".", "_")
        folder.mkdir()
        plant(folder / name)
        problems, _ = _leaks(folder, incidents)
        assert problems, f"planted leak in {name} not detected"
    assert _bad_published_counts(["0", "<5", "5", "12"]) == []
    assert _bad_published_counts(["3", "1", "<5"]) == ["3", "1"]


def _true_counts_by_cell(out: Path, inc: dict) -> pd.Series:
    """True incidents per published cell, counted here from the input (not from any output)."""
    cells = gpd.read_file(out / "cells.gpkg", layer="cells")[["cell_id", "geometry"]]
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(inc["xy"][:, 0], inc["xy"][:, 1]),
                              crs=inc["crs"]).to_crs(cells.crs)
    joined = gpd.sjoin(points, cells, predicate="within")
    return joined.groupby("cell_id").size().reindex(cells["cell_id"], fill_value=0)


def _small_count_columns(out: Path, inc: dict) -> tuple[list[str], int]:
    """Columns of per-cell tables that reveal true counts of 1..k-1, whatever their name.

    A column leaks when, over the cells holding 1..k-1 incidents, it equals the
    true count in at least half of them and at least twice as often as the
    value of a cell drawn at random from the grid does (so a class column that
    happens to hold small integers is not flagged). No naming rule is involved.
    """
    truth = _true_counts_by_cell(out, inc)
    small = truth[(truth > 0) & (truth < K)]
    rng = np.random.default_rng(0)
    leaks, checked = [], 0
    for path in _files(out):
        for name, table in _tables(path):
            if "cell_id" not in table.columns or len(table) < 10:
                continue
            frame = table.set_index("cell_id")
            frame = frame[~frame.index.duplicated()]
            for col in frame.columns:
                if col == getattr(table, "_geometry_column_name", None) or col == "geometry":
                    continue
                every = pd.to_numeric(frame[col].reindex(truth.index), errors="coerce")
                values = every.reindex(small.index)
                if values.isna().all():
                    continue
                checked += 1
                hit = float((values.to_numpy() == small.to_numpy()).mean())
                # chance: the value of a cell drawn at random from the whole grid
                drawn = rng.choice(every.to_numpy(), size=(200, len(small)))
                shuffled = float((drawn == small.to_numpy()).mean())
                if hit >= 0.5 and hit >= 2 * shuffled:
                    leaks.append(f"{name}:{col} equals the true small count in {hit:.0%}")
    return leaks, checked


@pytest.mark.parametrize("mode", ["public", "public-dp"])
def test_no_public_column_reveals_small_counts(runs, incidents, mode):
    leaks, checked = _small_count_columns(runs[mode], incidents)
    assert leaks == []
    assert checked >= 5


def test_the_small_count_detector_fires_on_real_and_planted_leaks(runs, incidents, tmp_path):
    """Controls: internal mode's counts, and a count planted under an innocent name."""
    leaks, _ = _small_count_columns(runs["internal"], incidents)
    assert any(":incidents " in leak for leak in leaks)
    import shutil

    shutil.copy(runs["public"] / "cells.gpkg", tmp_path / "cells.gpkg")
    truth = _true_counts_by_cell(tmp_path, incidents)
    pd.DataFrame({"cell_id": truth.index, "lamp_lux_mean": truth.to_numpy()}).to_csv(
        tmp_path / "lamps.csv", index=False)
    leaks, _ = _small_count_columns(tmp_path, incidents)
    assert leaks == ["lamps.csv:lamp_lux_mean equals the true small count in 100%"]


@pytest.mark.parametrize("mode", ["public", "public-dp"])
def test_public_cell_counts_are_zero_at_least_k_or_suppressed(runs, mode):
    cells = gpd.read_file(runs[mode] / "cells.gpkg", layer="cells")
    assert not _bad_published_counts(cells["incidents"])
    assert (cells["incidents"].astype(str) == f"<{K}").sum() > 0


@pytest.mark.parametrize("mode", ["public", "public-dp"])
def test_every_public_file_states_its_protection(runs, mode):
    out = runs[mode]
    epsilon = 1.0 if mode == "public-dp" else None
    with sqlite3.connect(out / "cells.gpkg") as db:
        meta = " ".join(str(r) for r in db.execute("SELECT * FROM gpkg_metadata").fetchall())
    with rasterio.open(out / "density.tif") as src:
        tags = src.tags()
    assert tags["privacy_mode"] == "public" and '"mode": "public"' in meta
    assert tags["dp_epsilon"] == ("none" if epsilon is None else str(epsilon))
    protection = json.loads((out / "manifest.json").read_text())["privacy"]["protection"]
    if epsilon is not None:
        dp = protection["differential_privacy"]
        assert dp["accountant"] == "sequential composition"
        assert math.isclose(sum(dp["spent"].values()), epsilon) or sum(
            dp["spent"].values()) < epsilon
        assert '"epsilon": 1.0' in meta
    assert "Privacy protection" in (out / "report.html").read_text()


def test_the_exact_total_is_not_published_in_public_mode(runs, incidents):
    used = json.loads((runs["internal"] / "manifest.json").read_text())["counts"][
        "incidents_used"]
    for mode in ("public", "public-dp"):
        counts = json.loads((runs[mode] / "manifest.json").read_text())["counts"]
        assert counts["incidents_used"] != used
        for path in (runs[mode] / "report.html", runs[mode] / "manifest.json"):
            text = _text_of(path)  # embedded images left out
            for written in {str(used), f"{used:,}"}:
                assert not re.search(rf"(?<![\w.,]){re.escape(written)}(?![\w,]|\.\d)", text), (
                    path.name, written)


@pytest.fixture(scope="module")
def demo_public(tmp_path_factory) -> tuple[Path, dict]:
    """The demo in public mode: its interventions stage finds candidates (São Paulo's doesn't)."""
    import pyrosm  # noqa: F401 - a core dependency: fail, never skip

    from hotspot_env.inputs.demo import demo_incidents_path, run_demo

    out = tmp_path_factory.mktemp("demo-public")
    analysis = run_demo(out=out, privacy="public")
    return out, _incident_facts(demo_incidents_path(), analysis.grid.crs.to_string())


def test_public_demo_reveals_no_incident_and_suppresses_counts(demo_public):
    out, inc = demo_public
    assert (out / "interventions.csv").read_text().count("\n") > 2  # candidates were written
    problems, n_tables = _leaks(out, inc)
    assert problems == []
    leaks, checked = _small_count_columns(out, inc)
    assert leaks == [] and checked >= 5


def test_internal_mode_has_small_counts_so_the_public_check_means_something(runs):
    cells = gpd.read_file(runs["internal"] / "cells.gpkg", layer="cells")
    counts = cells["incidents"].to_numpy()
    assert ((counts > 0) & (counts < K)).any()


def test_manifest_records_the_mode_and_the_protections(runs):
    manifests = {m: json.loads((out / "manifest.json").read_text()) for m, out in runs.items()}
    assert manifests["internal"]["privacy"]["mode"] == "internal"
    for mode in ("public", "public-dp"):
        params = manifests[mode]["parameters"]
        assert manifests[mode]["privacy"]["mode"] == "public"
        assert params["privacy"] == "public"
        assert params["k_threshold"] == K
        assert params["public_min_bandwidth_m"] == settings.public_min_bandwidth_m
        assert params["bandwidth_m"] >= settings.public_min_bandwidth_m
    assert manifests["public"]["parameters"]["dp_epsilon"] is None
    assert manifests["public-dp"]["parameters"]["dp_epsilon"] == 1.0
    assert manifests["public-dp"]["privacy"]["dp_epsilon"] == 1.0


def test_dp_noise_changes_the_published_counts(runs):
    public = gpd.read_file(runs["public"] / "cells.gpkg", layer="cells")
    noisy = gpd.read_file(runs["public-dp"] / "cells.gpkg", layer="cells")
    assert (public["incidents"] != noisy["incidents"]).any()


def _synthetic(n: int = 300, seed: int = 5) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    return gpd.GeoDataFrame(geometry=gpd.points_from_xy(
        -46.633 + rng.normal(0, 0.004, n), -23.55 + rng.normal(0, 0.004, n)), crs=4326)


def test_dp_noise_is_drawn_once_per_run_and_fresh_per_run():
    from hotspot_env.app.places import top_places
    from hotspot_env.core.analysis import analyze
    from hotspot_env.outputs.export import cells_frame

    frame = _synthetic()
    analysis = analyze(frame, privacy="public", dp_epsilon=0.5)
    first = cells_frame(analysis)["incidents"]
    assert (cells_frame(analysis)["incidents"] == first).all()  # every view: the same value
    shown = dict(zip(first.index, first, strict=True))
    table = top_places(analysis, 5)
    ids = analysis.grid.cell_ids()[analysis.grid.mask]
    for cell_id, value in zip(table["cell_id"], table["incidents"], strict=True):
        assert str(shown[int(np.flatnonzero(ids == cell_id)[0])]) == value
    again = cells_frame(analyze(frame, privacy="public", dp_epsilon=0.5))["incidents"]
    assert (again != first).any()  # no seed: fresh noise every run


def test_a_dp_seed_is_refused():
    from hotspot_env.core.analysis import analyze

    with pytest.raises(InputError, match="dp-seed"):
        analyze(_synthetic(), privacy="public", dp_epsilon=1.0, dp_seed=3)


def test_public_mode_raises_a_small_bandwidth_to_the_minimum(tmp_path):
    from hotspot_env.core.analysis import analyze

    frame = _synthetic(80)
    internal = analyze(frame, bandwidth=50)
    public = analyze(frame, bandwidth=50, privacy="public")
    assert internal.parameters["bandwidth_m"] == 50
    assert public.parameters["bandwidth_m"] == settings.public_min_bandwidth_m
    assert any(c.name == "bandwidth_m" and "public-mode minimum" in c.rule
               for c in public.choices)
    assert "dp_seed" not in public.parameters


# ------------------------------------------------------------ unit tests
def test_discrete_laplace_has_the_stated_scale():
    """Discrete Laplace with scale b = 1/ε: P(X = x) ∝ exp(-|x|/b); Var = 2a/(1-a)^2, a = e^-1/b."""
    counts = np.full(100_000, 1000)
    for epsilon in (0.25, 1.0):
        error = discrete_laplace(counts, epsilon) - counts
        a = math.exp(-epsilon)
        variance = 2 * a / (1 - a) ** 2
        assert abs(error.mean()) < 6 * math.sqrt(variance / counts.size)
        assert abs(error.var() - variance) < 0.05 * variance
        # the mode probability (1 - a) / (1 + a) is the exact-match rate of a noisy count
        assert abs((error == 0).mean() - (1 - a) / (1 + a)) < 0.01


def test_discrete_laplace_is_integer_non_negative_and_never_overflows():
    counts = np.array([[0, 1, 2], [3, 50, 0]])
    a = discrete_laplace(counts, 0.01)
    assert a.shape == counts.shape and a.dtype == np.int64 and (a >= 0).all()
    assert a.max() < 10_000  # scale 100: an int64-min wrap-around would show here


@pytest.mark.parametrize("epsilon", [0, -1, 1e-300, 1e-3, 11, float("nan"), float("inf"), True])
def test_epsilon_out_of_bounds_is_a_one_line_error(epsilon):
    with pytest.raises(InputError, match="dp-epsilon must be a number from 0.01 to 10"):
        check_epsilon(epsilon)


def test_cli_refuses_a_tiny_epsilon_without_writing(tmp_path, sao_paulo):
    out = tmp_path / "out"
    result = runner.invoke(app, ["analyze", "--incidents", str(sao_paulo["incidents"]),
                                 "--privacy", "public", "--dp-epsilon", "1e-300",
                                 "--out", str(out), "--quiet"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:")
    assert not out.exists() or not any(out.iterdir())


def test_budget_splits_by_sequential_composition_and_spends_once():
    budget = Budget(0.9)
    assert budget.spend("cells") == pytest.approx(0.9 / 4)
    with pytest.raises(UndeclaredColumnError):
        budget.spend("cells")
    with pytest.raises(UndeclaredColumnError):
        budget.spend("not-planned")
    budget.spend("forecast_cube")
    budget.spend("change")
    budget.spend("trends_cube")
    assert sum(budget.spent.values()) == pytest.approx(0.9)


def test_an_undeclared_column_cannot_be_written():
    from hotspot_env.core.analysis import analyze
    from hotspot_env.outputs.export import cells_frame

    analysis = analyze(_synthetic(), privacy="public")
    analysis.arrays["timed_incidents_copy"] = analysis.arrays["incidents"]
    for mode in ("internal", "public"):
        analysis.parameters["privacy"] = mode
        with pytest.raises(UndeclaredColumnError, match="timed_incidents_copy"):
            cells_frame(analysis)


def test_declared_count_is_protected_whatever_its_name():
    """A count named like a factor is still protected; a factor named like a count is not."""
    from hotspot_env.core.analysis import analyze
    from hotspot_env.outputs.export import cells_frame
    from hotspot_env.outputs.privacy import declare

    analysis = analyze(_synthetic(), privacy="public")
    true = analysis.arrays["incidents"]
    declare(analysis, "lux", true, Kind.COUNT)
    declare(analysis, "incidents_lamp_count", np.full(true.shape, 3.0), Kind.FACTOR)
    analysis.protection.layers.clear()
    cells = cells_frame(analysis)
    assert (cells["lux"] == f"<{K}").any() and not _bad_published_counts(cells["lux"])
    assert (cells["incidents_lamp_count"] == 3.0).all()


def test_the_gate_neutralises_formulas_and_direction_overrides():
    from hotspot_env.core.analysis import analyze

    analysis = analyze(_synthetic(), privacy="internal")
    frame = pd.DataFrame({"cat": ["=HYPERLINK(\"http://x\")", "abc\u202egpj.exe", "+1", "ok"],
                          "n": [1, 2, 3, 4]})
    out = publish(analysis, frame, {"cat": Kind.LABEL, "n": Kind.FACTOR})
    assert list(out["cat"]) == ["'=HYPERLINK(\"http://x\")", "abcgpj.exe", "'+1", "ok"]
    assert list(out["n"]) == [1, 2, 3, 4]
    assert neutralise_text(5) == 5


def test_suppress_small():
    assert list(suppress_small(np.array([0, 1, 4, 5, 6, 100]), 5)) == [
        "0", "<5", "<5", "5", "6", "100"]
    assert list(suppress_small(np.array([0, 2, 3]), 3)) == ["0", "<3", "3"]
    assert list(suppress_small(np.array([1, 2]))) == [f"<{K}", f"<{K}"]
    assert suppress_small(np.array([[1, 7]]), 5).shape == (1, 2)


@hsettings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 500), min_size=1, max_size=40), st.integers(1, 20),
       st.one_of(st.none(), st.floats(0.05, 5)))
def test_protected_counts_property(counts, k, epsilon):
    from hotspot_env.outputs.privacy import protect

    published = protect(np.array(counts), k, epsilon).text
    for value in published:
        assert value == f"<{k}" or int(value) == 0 or int(value) >= k


def test_public_validation_is_scored_on_the_protected_counts(runs):
    """Public validation holds out the last period of the protected cube, announced so.

    Its held-out tally is that of the stand-ins (each "<k" entering as its
    stand-in), so it exceeds the true one the internal run states; the hit
    rates stay shares of the held-out period.
    """
    def meta(mode: str) -> dict:
        return json.loads((runs[mode] / "manifest.json").read_text(encoding="utf-8"))

    internal = meta("internal")
    assert "validation_basis" not in json.dumps(internal["automatic_choices"])
    for mode in ("public", "public-dp"):
        manifest = meta(mode)
        basis = [c for c in manifest["automatic_choices"] if c["name"] == "validation_basis"]
        assert basis and basis[0]["value"] == "protected counts", mode
        table = pd.read_csv(runs[mode] / "validation.csv")
        hits = table.loc[table["metric"] == "hit_rate", "value"]
        assert len(hits) >= 4 and hits.between(0, 1).all(), mode
    assert meta("public")["parameters"]["validation"]["n_test"] > \
        internal["parameters"]["validation"]["n_test"]
