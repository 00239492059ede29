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
from hotspot_env.export import is_count_column
from hotspot_env.privacy import laplace_noise, publishable_counts, suppress_small

runner = CliRunner()

K = settings.k_threshold
PROJECTED = "EPSG:32723"  # the UTM zone the São Paulo run chooses
DP_SEED = "918273645"
MODES = {
    "internal": [],
    "public": ["--privacy", "public"],
    "public-dp": ["--privacy", "public", "--dp-epsilon", "1.0", "--dp-seed", DP_SEED],
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


@pytest.mark.parametrize("mode", ["public", "public-dp"])
def test_public_counts_are_zero_at_least_k_or_suppressed(runs, mode):
    out = runs[mode]
    checked = suppressed = 0
    for path in _files(out):
        for name, table in _tables(path):
            for col in table.columns:
                if is_count_column(str(col).lower()):
                    bad = _bad_published_counts(table[col])
                    assert not bad, (name, col, bad[:10])
                    checked += len(table)
                    suppressed += int((table[col].astype(str) == f"<{K}").sum())
        if path.suffix.lower() in (".tif", ".tiff") and re.search(r"count|incident", path.name):
            for name, array in _arrays(path):
                values = array[np.isfinite(array)]
                assert ((values == 0) | (values >= K)).all(), name
    assert checked > 1000 and suppressed > 0


@pytest.fixture(scope="module")
def demo_public(tmp_path_factory) -> tuple[Path, dict]:
    """The demo in public mode: its interventions stage finds candidates (São Paulo's doesn't)."""
    import pyrosm  # noqa: F401 - a core dependency: fail, never skip

    from hotspot_env.demo import demo_incidents_path, run_demo

    out = tmp_path_factory.mktemp("demo-public")
    analysis = run_demo(out=out, privacy="public")
    return out, _incident_facts(demo_incidents_path(), analysis.grid.crs.to_string())


def test_public_demo_reveals_no_incident_and_suppresses_counts(demo_public):
    out, inc = demo_public
    assert (out / "interventions.csv").read_text().count("\n") > 2  # candidates were written
    problems, n_tables = _leaks(out, inc)
    assert problems == []
    for path in _files(out):
        for name, table in _tables(path):
            for col in table.columns:
                if is_count_column(str(col).lower()):
                    assert not _bad_published_counts(table[col]), (name, col)


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


def test_the_secret_dp_seed_is_written_nowhere(runs):
    seed = int(DP_SEED)
    needles = [DP_SEED.encode(), seed.to_bytes(8, "little"), seed.to_bytes(8, "big")]
    for path in _files(runs["public-dp"]):
        data = path.read_bytes()
        assert not any(n in data for n in needles), path.name


def test_dp_noise_changes_the_published_counts(runs):
    public = gpd.read_file(runs["public"] / "cells.gpkg", layer="cells")
    noisy = gpd.read_file(runs["public-dp"] / "cells.gpkg", layer="cells")
    assert (public["incidents"] != noisy["incidents"]).any()


def _synthetic(n: int = 300, seed: int = 5) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    return gpd.GeoDataFrame(geometry=gpd.points_from_xy(
        -46.633 + rng.normal(0, 0.004, n), -23.55 + rng.normal(0, 0.004, n)), crs=4326)


def test_dp_noise_is_reproducible_with_the_secret_seed_only():
    from hotspot_env.analysis import analyze
    from hotspot_env.export import cells_frame

    frame = _synthetic()

    def published(**kw):
        return cells_frame(analyze(frame, privacy="public", dp_epsilon=0.5, **kw))["incidents"]

    first = published(dp_seed=123)
    assert (published(dp_seed=123) == first).all()
    assert (published(dp_seed=124) != first).any()
    assert (published() != published()).any()  # no seed: fresh randomness every run


def test_public_mode_raises_a_small_bandwidth_to_the_minimum(tmp_path):
    from hotspot_env.analysis import analyze

    frame = _synthetic(80)
    internal = analyze(frame, bandwidth=50)
    public = analyze(frame, bandwidth=50, privacy="public")
    assert internal.parameters["bandwidth_m"] == 50
    assert public.parameters["bandwidth_m"] == settings.public_min_bandwidth_m
    assert any(c.name == "bandwidth_m" and "public-mode minimum" in c.rule
               for c in public.choices)
    assert "dp_seed" not in public.parameters


# ------------------------------------------------------------ unit tests
def test_laplace_noise_is_unbiased_with_scale_one_over_epsilon():
    counts = np.full(200_000, 1000)
    for epsilon in (0.1, 0.25, 0.5):
        noisy = laplace_noise(counts, epsilon, seed=11)
        error = noisy - counts
        scale = 1.0 / epsilon
        assert abs(error.mean()) < 6 * math.sqrt(2) * scale / math.sqrt(counts.size) + 0.01
        # E|Laplace(0, b)| = b; rounding to integers changes it by well under 3 % for b >= 2
        assert abs(np.abs(error).mean() - scale) < 0.03 * scale + 0.05
        assert abs(error.var() - 2 * scale**2) < 0.05 * 2 * scale**2 + 0.1


def test_laplace_noise_is_integer_non_negative_and_seeded():
    counts = np.array([[0, 1, 2], [3, 50, 0]])
    a = laplace_noise(counts, 0.5, seed=42)
    assert a.shape == counts.shape and a.dtype.kind == "i" and (a >= 0).all()
    assert np.array_equal(a, laplace_noise(counts, 0.5, seed=42))
    big = np.full(10_000, 100)
    assert not np.array_equal(laplace_noise(big, 0.5, seed=1), laplace_noise(big, 0.5, seed=2))


def test_laplace_noise_without_seed_is_not_the_public_default_seed():
    big = np.full(10_000, 100)
    unseeded = laplace_noise(big, 0.5)
    assert not np.array_equal(unseeded, laplace_noise(big, 0.5))
    assert not np.array_equal(unseeded, laplace_noise(big, 0.5, seed=settings.default_seed))


@pytest.mark.parametrize("epsilon", [0, -1, float("nan"), float("inf")])
def test_laplace_noise_refuses_bad_epsilon(epsilon):
    with pytest.raises(InputError, match="dp-epsilon"):
        laplace_noise(np.array([1, 2]), epsilon)


def test_suppress_small():
    assert list(suppress_small(np.array([0, 1, 4, 5, 6, 100]), 5)) == [
        "0", "<5", "<5", "5", "6", "100"]
    assert list(suppress_small(np.array([0, 2, 3]), 3)) == ["0", "<3", "3"]
    assert list(suppress_small(np.array([1, 2]))) == [f"<{K}", f"<{K}"]
    assert suppress_small(np.array([[1, 7]]), 5).shape == (1, 2)


@hsettings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 500), min_size=1, max_size=40), st.integers(1, 20),
       st.one_of(st.none(), st.floats(0.05, 5)))
def test_publishable_counts_property(counts, k, epsilon):
    published = publishable_counts(np.array(counts), "public", k, epsilon, seed=3)
    for value in published:
        assert value == f"<{k}" or int(value) == 0 or int(value) >= k
    internal = publishable_counts(np.array(counts), "internal", k)
    assert list(internal) == counts


def test_publishable_counts_refuses_unknown_mode():
    with pytest.raises(InputError):
        publishable_counts(np.array([1]), "open")
