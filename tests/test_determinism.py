"""Same inputs, same seed -> the same outputs, byte for byte where the format allows.

Text outputs (CSV, GeoJSON, JSON, HTML...) must be byte-identical between two
runs. GeoPackages and GeoTIFFs may carry write timestamps, so their contents
(every layer's attributes and geometries; every band, transform and CRS) are
compared instead. Files added later by other stages are covered by the glob.
The first São Paulo run reads the OSM extract with a cold cache and the second
from the GeoParquet cache, so the cache cannot change a result either.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
import shapely
from typer.testing import CliRunner

from hotspot_env import settings
from hotspot_env.cli import app

runner = CliRunner()

#: Formats compared by content rather than bytes (they may embed a write time).
STRUCTURED = {".gpkg", ".tif", ".tiff", ".parquet", ".geoparquet", ".npz"}


def _files(out: Path) -> dict[str, Path]:
    return {str(p.relative_to(out)): p for p in sorted(out.rglob("*")) if p.is_file()}


def _same_gpkg(a: Path, b: Path) -> None:
    layers_a = [n for n, _ in pyogrio.list_layers(a)]
    assert layers_a == [n for n, _ in pyogrio.list_layers(b)]
    for name in layers_a:
        fa = pyogrio.read_dataframe(a, layer=name)
        fb = pyogrio.read_dataframe(b, layer=name)
        _same_frame(fa, fb, f"{a.name}:{name}")


def _same_frame(fa: pd.DataFrame, fb: pd.DataFrame, where: str) -> None:
    assert list(fa.columns) == list(fb.columns), where
    if isinstance(fa, gpd.GeoDataFrame):
        assert fa.crs == fb.crs, where
        assert (shapely.to_wkb(fa.geometry.values) == shapely.to_wkb(fb.geometry.values)).all(), (
            where)
        fa, fb = pd.DataFrame(fa.drop(columns=fa.geometry.name)), pd.DataFrame(
            fb.drop(columns=fb.geometry.name))
    pd.testing.assert_frame_equal(fa, fb, check_exact=True, obj=where)


def _same_raster(a: Path, b: Path) -> None:
    with rasterio.open(a) as ra, rasterio.open(b) as rb:
        assert (ra.count, ra.shape, ra.crs, ra.transform, ra.dtypes, str(ra.nodata)) == (
            rb.count, rb.shape, rb.crs, rb.transform, rb.dtypes, str(rb.nodata)), a.name
        for i in range(1, ra.count + 1):
            np.testing.assert_array_equal(ra.read(i), rb.read(i), err_msg=a.name)
            assert ra.tags(i) == rb.tags(i), a.name


def _json_diff(a, b, path: str = "") -> list[str]:
    """Paths where two JSON values differ (to say *what* is not deterministic)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b), key=str)
                for d in _json_diff(a.get(k), b.get(k), f"{path}/{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (u, v) in enumerate(zip(a, b, strict=True))
                for d in _json_diff(u, v, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: {str(a)[:60]!r} != {str(b)[:60]!r}"]


def _explain(data_a: bytes, data_b: bytes) -> str:
    try:
        return "; ".join(_json_diff(json.loads(data_a), json.loads(data_b))[:8])
    except ValueError:
        return "(not JSON)"


def _same_npz(a: Path, b: Path) -> None:
    with np.load(a, allow_pickle=False) as da, np.load(b, allow_pickle=False) as db:
        assert sorted(da.files) == sorted(db.files), a.name
        for key in da.files:
            if da[key].dtype == np.uint8 and not np.array_equal(da[key], db[key]):
                raise AssertionError(f"{a.name}:{key} differs: "
                                     f"{_explain(da[key].tobytes(), db[key].tobytes())}")
            np.testing.assert_array_equal(da[key], db[key], err_msg=f"{a.name}:{key}")


def _same_parquet(a: Path, b: Path) -> None:
    try:
        fa, fb = gpd.read_parquet(a), gpd.read_parquet(b)
    except ValueError:
        fa, fb = pd.read_parquet(a), pd.read_parquet(b)
    _same_frame(fa, fb, a.name)


def assert_same_outputs(a: Path, b: Path) -> list[str]:
    """Assert two output folders hold the same results; return the byte-compared names."""
    files_a, files_b = _files(a), _files(b)
    assert sorted(files_a) == sorted(files_b)
    byte_compared = []
    for name, path_a in files_a.items():
        path_b = files_b[name]
        suffix = path_a.suffix.lower()
        if suffix == ".gpkg":
            _same_gpkg(path_a, path_b)
        elif suffix in (".tif", ".tiff"):
            _same_raster(path_a, path_b)
        elif suffix == ".npz":
            _same_npz(path_a, path_b)
        elif suffix in (".parquet", ".geoparquet"):
            _same_parquet(path_a, path_b)
        else:
            data_a, data_b = path_a.read_bytes(), path_b.read_bytes()
            assert data_a == data_b, f"{name} differs between runs: {_explain(data_a, data_b)}"
            byte_compared.append(name)
    return byte_compared


def _sp_run(sao_paulo: dict, out: Path) -> None:
    result = runner.invoke(app, ["analyze", "--incidents", str(sao_paulo["incidents"]),
                                 "--osm", str(sao_paulo["osm"]), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def sp_twice(sao_paulo, tmp_path_factory) -> tuple[Path, Path]:
    first, second = tmp_path_factory.mktemp("sp-a"), tmp_path_factory.mktemp("sp-b")
    cache, settings.cache_folder = settings.cache_folder, tmp_path_factory.mktemp("cold-cache")
    try:
        _sp_run(sao_paulo, first)  # parses the extract and fills the cache
        _sp_run(sao_paulo, second)  # reads the cache
    finally:
        settings.cache_folder = cache
    return first, second


def test_sao_paulo_twice_gives_identical_outputs(sp_twice):
    byte_compared = assert_same_outputs(*sp_twice)
    assert {"manifest.json", "report.html"} <= set(byte_compared)


def test_sao_paulo_manifests_record_the_same_inputs(sp_twice, sao_paulo):
    a, b = (json.loads((out / "manifest.json").read_text()) for out in sp_twice)
    assert a["inputs"] == b["inputs"]
    assert {i["path"] for i in a["inputs"]} == {"sao_paulo_homicides.csv", "spo_osm.pbf"}
    assert a["outputs"] == b["outputs"]  # hashes of every hashed output agree too


def test_manifest_is_stable_json(sp_twice):
    text = (sp_twice[0] / "manifest.json").read_text()
    manifest = json.loads(text)
    assert text == json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False)


def test_demo_twice_gives_identical_outputs(tmp_path_factory):
    import pyrosm  # noqa: F401 - a core dependency: fail, never skip

    from hotspot_env.inputs.demo import run_demo

    first, second = tmp_path_factory.mktemp("demo-a"), tmp_path_factory.mktemp("demo-b")
    run_demo(out=first)
    run_demo(out=second)
    assert "manifest.json" in assert_same_outputs(first, second)
    manifest = json.loads((first / "manifest.json").read_text())
    assert manifest["simulated_incidents"] is True


def test_demo_incidents_generator_is_seeded(tmp_path):
    from hotspot_env.inputs.synth import write_demo_incidents

    for name in ("a.csv", "b.csv"):
        write_demo_incidents(tmp_path / name, seed=2024, n=200)
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
