"""National scale: the synthetic country, its per-tile reading, and the national outputs.

References are independent of the code under test: pyarrow's own row-group
statistics, a plain pandas filter on coordinates, rasterio reading the COG
back, and the region's cells read straight from its partition.
"""

from __future__ import annotations

import json
import math

import geopandas as gpd
import numpy as np
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
import rasterio
import shapely

from hotspot_env.errors import InputError
from hotspot_env.scale import outputs as national
from hotspot_env.scale.bench_common import projection
from hotspot_env.scale.bench_national import stage_table
from hotspot_env.scale.country import (
    CITY_GAP_M,
    country_tiles,
    generate_tile,
    read_layers_tile,
    read_tile,
    tile_seed,
    write_country,
)
from hotspot_env.scale.regions import run_national

SEED = 11


@pytest.fixture(scope="module")
def country(tmp_path_factory):
    """A two-city test country, cut into 500 m row-group blocks."""
    folder = tmp_path_factory.mktemp("country") / "c"
    tiles = country_tiles("test", SEED, n_cities=2)
    meta = write_country(folder, "test", SEED, tiles=tiles, block_m=500.0)
    return folder, meta


@pytest.fixture(scope="module")
def run(country, tmp_path_factory):
    """The national run of the test country, in this process."""
    out = tmp_path_factory.mktemp("national") / "run"
    manifest = run_national(country[0], out, cell_size=50.0)
    return out, manifest


# ------------------------------------------------------------------ country
def test_city_seeds_depend_on_country_seed_and_index_only():
    a = country_tiles("test", SEED)
    b = country_tiles("test", SEED, n_cities=9)
    assert [t.seed for t in a] == [t.seed for t in b[:4]] == [tile_seed(SEED, i)
                                                               for i in range(4)]
    assert len({t.seed for t in b}) == 9
    assert tile_seed(SEED + 1, 0) != tile_seed(SEED, 0)


def test_cities_do_not_touch_and_sit_on_whole_kilometres():
    tiles = country_tiles("national", SEED)
    assert len(tiles) == 25
    boxes = [shapely.box(*t.bounds) for t in tiles]
    for i, box in enumerate(boxes):
        assert all(box.distance(other) >= CITY_GAP_M for other in boxes[i + 1:])
    assert all(t.x0 % 1000 == 0 and t.y0 % 1000 == 0 for t in tiles)
    # the national size: 25 cities of 490 x 490 cells of 50 m, ~1M incidents each
    assert sum(math.ceil(t.size_m / 50) ** 2 for t in tiles) == 25 * 490 * 490
    assert sum(t.n_incidents for t in tiles) == 25_000_000


def test_a_city_generated_alone_equals_its_partition(country):
    folder, meta = country
    tile = country_tiles("test", SEED, n_cities=2)[1]
    alone = generate_tile(tile)
    written = gpd.read_parquet(folder / "incidents" / "city_01.parquet")
    assert len(written) == len(alone.incidents) == meta["tiles"][1]["truth"]["n_incidents"]
    key = ["incident_id"]
    a = alone.incidents.sort_values(key).reset_index(drop=True)
    w = written.sort_values(key).reset_index(drop=True)
    assert (a["incident_id"].to_numpy() == w["incident_id"].to_numpy()).all()
    np.testing.assert_array_equal(shapely.get_coordinates(a.geometry),
                                  shapely.get_coordinates(w.geometry))
    assert (w["region"] == "city_01").all()
    xmin, ymin, xmax, ymax = tile.bounds
    x, y = w.geometry.x.to_numpy(), w.geometry.y.to_numpy()
    assert (x >= xmin).all() and (x <= xmax).all() and (y >= ymin).all() and (y <= ymax).all()


def test_country_json_lists_every_city_with_its_truth(country):
    folder, meta = country
    on_disk = json.loads((folder / "country.json").read_text())
    assert on_disk == meta
    assert on_disk["simulated"] is True and on_disk["regions"] == ["city_00", "city_01"]
    assert on_disk["n_incidents"] == sum(
        len(gpd.read_parquet(p)) for p in sorted((folder / "incidents").iterdir()))
    assert set(on_disk["tiles"][0]["truth"]["factors"]) >= {"bars", "vacant", "youth"}


def test_partitions_have_one_row_group_per_block_and_a_covering_bbox(country):
    folder, _ = country
    path = folder / "incidents" / "city_00.parquet"
    meta = pq.ParquetFile(path).metadata
    assert meta.num_row_groups == 9  # 1.5 km city, 500 m blocks
    geo = json.loads(meta.metadata[b"geo"])
    assert geo["columns"]["geometry"]["covering"]["bbox"]["xmin"] == ["bbox", "xmin"]


def test_read_tile_returns_exactly_the_rows_in_the_box(country):
    folder, meta = country
    x0, y0 = meta["tiles"][0]["bounds"][:2]
    box = (x0 + 200.0, y0 + 300.0, x0 + 900.0, y0 + 800.0)
    got = read_tile(folder / "incidents", box)
    everything = gpd.read_parquet(folder / "incidents")
    x, y = everything.geometry.x, everything.geometry.y
    inside = (x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3])
    assert 0 < len(got) == int(inside.sum()) < len(everything)
    assert set(got["incident_id"]) == set(everything.loc[inside, "incident_id"])


def test_a_tile_box_touches_only_its_row_groups(country):
    folder, meta = country
    x0, y0 = meta["tiles"][1]["bounds"][:2]
    box = (x0 + 100.0, y0 + 100.0, x0 + 400.0, y0 + 400.0)  # inside one 500 m block
    dataset = ds.dataset(str(folder / "incidents"), format="parquet")
    def f(name):
        return ds.field(("bbox", name))

    condition = ((f("xmin") <= box[2]) & (f("xmax") >= box[0])
                 & (f("ymin") <= box[3]) & (f("ymax") >= box[1]))
    total = sum(f.metadata.num_row_groups for f in dataset.get_fragments())
    touched = [rg for f in dataset.get_fragments()
               for rg in f.split_by_row_group(condition)]
    assert total == 18 and len(touched) == 1


def test_layers_are_read_per_tile(country):
    folder, meta = country
    layers = read_layers_tile(folder, tuple(meta["tiles"][0]["bounds"]))
    assert set(layers) >= {"streets", "lamps", "buildings", "bars", "youth"}
    assert all((frame["region"] == "city_00").all() for frame in layers.values())
    assert len(layers["lamps"]) == meta["tiles"][0]["truth"]["counts"]["lamps"]


def test_a_folder_with_files_is_refused(country, run, tmp_path):
    with pytest.raises(InputError, match="already holds files"):
        write_country(country[0], "test", SEED)
    with pytest.raises(InputError, match="already holds files"):
        run_national(country[0], run[0])
    assert json.loads((country[0] / "country.json").read_text()) == country[1]


def test_unknown_scale_is_refused():
    with pytest.raises(ValueError, match="unknown country scale"):
        country_tiles("planet")


# ------------------------------------------------------------------ outputs
def test_partition_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    frame = gpd.GeoDataFrame({"cell_id": np.arange(400), "kde": rng.random(400)},
                             geometry=shapely.points(rng.uniform(0, 20_000, (400, 2))),
                             crs="EPSG:32633")
    path = national.write_partition(frame, tmp_path / "p" / "r.parquet", block_m=5_000.0)
    back = gpd.read_parquet(path).sort_values("cell_id").reset_index(drop=True)
    assert back.crs == frame.crs and list(back.columns) == list(frame.columns)
    np.testing.assert_array_equal(back["kde"].to_numpy(), frame["kde"].to_numpy())
    assert back.geometry.equals(frame.geometry)
    assert pq.ParquetFile(path).metadata.num_row_groups == 16
    assert not [p for p in (tmp_path / "p").iterdir() if p.name != "r.parquet"]


def test_national_run_writes_every_region(run, country):
    out, manifest = run
    assert manifest["regions"] == ["city_00", "city_01"]
    assert json.loads((out / "manifest.json").read_text()) == manifest
    assert "per region" in manifest["statistics"]
    for record in manifest["tiles"]:
        cells = gpd.read_parquet(out / "cells" / f"{record['region']}.parquet")
        assert len(cells) == record["n_cells"]
        assert (cells["region"] == record["region"]).all()
        assert int(cells["incidents"].sum()) == record["counts"]["incidents_used"]
        assert record["choices"] and record["inputs"][0]["sha256"]
        for name in record["files"]:
            assert (out / name).is_file()
        assert (out / "workorders" / record["region"] / "workorders.html").is_file()
    assert not list(out.glob(".*"))  # no staging folder or density pieces left


def test_density_mosaic_is_a_cog_holding_each_regions_kde(run):
    out, manifest = run
    layout = national.cog_layout(out / "density.tif")
    assert layout["layout"] == "COG" and layout["tiled"]
    with rasterio.open(out / "density.tif") as src:
        mosaic = src.read(1)
        transform = src.transform
    for record in manifest["tiles"]:
        cells = gpd.read_parquet(out / "cells" / f"{record['region']}.parquet")
        centres = cells.geometry.centroid
        rows, cols = rasterio.transform.rowcol(transform, centres.x, centres.y)
        np.testing.assert_array_equal(mosaic[np.asarray(rows), np.asarray(cols)],
                                      cells["kde"].to_numpy(dtype="float32"))
    assert np.isnan(mosaic).sum() > 0  # the land between cities is no data


def test_cog_has_overviews_and_tiles(tmp_path):
    values = np.arange(700 * 600, dtype="float32").reshape(700, 600)
    grid = {"crs": "EPSG:32633", "x0": 500_000.0, "y0": 6_000_000.0, "cell_size": 50.0}
    path = national.write_cog(values, grid, tmp_path / "d.tif")
    layout = national.cog_layout(path)
    assert layout["layout"] == "COG" and layout["block_shape"] == [256, 256]
    assert layout["overviews"] == [2, 4]
    with rasterio.open(path) as src:
        np.testing.assert_array_equal(src.read(1), values)
        assert src.bounds.left == 500_000.0 and src.bounds.top == 6_000_000.0 + 700 * 50.0
    assert [p.name for p in tmp_path.iterdir()] == ["d.tif"]


def test_misaligned_regions_are_refused():
    a = {"grid": {"crs": rasterio.crs.CRS.from_epsg(32633).to_wkt(), "x0": 0.0, "y0": 0.0,
                  "cell_size": 50.0, "n_cols": 4, "n_rows": 4}}
    b = {"grid": {**a["grid"], "x0": 1_025.0}}
    with pytest.raises(ValueError, match="not aligned"):
        national.mosaic_grid([a, b])
    assert national.mosaic_grid([a, {"grid": {**a["grid"], "x0": 1_000.0}}])["n_cols"] == 24


def test_open_region_reads_that_region_only(run, monkeypatch):
    out, manifest = run
    read: list[str] = []
    real = gpd.read_parquet

    def spy(path, *args, **kwargs):
        read.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(national.gpd, "read_parquet", spy)
    view = national.open_region(out, "city_01")
    assert read and all("city_01" in p for p in read)
    cells = real(out / "cells" / "city_01.parquet")
    assert view.grid.mask.sum() == len(cells) == manifest["tiles"][1]["n_cells"]
    rows, cols = np.divmod(cells["cell_id"].to_numpy(), view.grid.n_cols)
    np.testing.assert_array_equal(view.arrays["kde"][rows, cols], cells["kde"].to_numpy())
    assert view.interventions is not None and (view.interventions["region"] == "city_01").all()
    assert view.choices == manifest["tiles"][1]["choices"]
    with pytest.raises(InputError, match="no region 'city_99'"):
        national.open_region(out, "city_99")


def test_a_dask_cluster_gives_the_same_files(run, country, tmp_path):
    from dask.distributed import Client, LocalCluster

    out, _ = run
    with LocalCluster(n_workers=2, processes=False, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        manifest = run_national(country[0], tmp_path / "dask", client=client, cell_size=50.0)
    # each region's kernels ran on one thread in its task (hotspot_env.scale.threads)
    assert [t["numba_threads"] for t in manifest["tiles"]] == [1] * len(manifest["tiles"])
    assert manifest["worker_threads"]["workers"] == 2
    for sub in ("cells", "interventions"):
        for path in sorted((out / sub).iterdir()):
            assert (tmp_path / "dask" / sub / path.name).read_bytes() == path.read_bytes()
    with rasterio.open(out / "density.tif") as a, \
            rasterio.open(tmp_path / "dask" / "density.tif") as b:
        np.testing.assert_array_equal(a.read(1), b.read(1))


# ------------------------------------------------------------------ benchmark
def test_projection_is_waves_of_mean_region_cost_plus_reduction():
    costs = [10.0, 12.0, 14.0, 16.0, 18.0]  # mean 14
    got = projection(costs, 3.0, workers=(1, 2, 4, 8))
    assert got == {"1": 5 * 14 + 3.0, "2": 3 * 14 + 3.0, "4": 2 * 14 + 3.0, "8": 14 + 3.0}


def test_a_partial_country_is_projected_to_the_whole_preset():
    from hotspot_env.scale.bench_national import add_preset_projection

    result = {"n_regions": 2, "preset_n_cities": 25, "stages": {"mosaic_and_manifest": 1.0},
              "region_s": {"a": 100.0, "b": 120.0}, "region_cpu_s": {"a": 40.0, "b": 50.0}}
    add_preset_projection(result)
    assert result["projection_preset_s"]["2"] == 13 * 110.0 + 1.0
    assert result["projection_preset_cpu_s"]["64"] == 45.0 + 1.0
    whole = {"n_regions": 25, "preset_n_cities": 25, "region_s": {}, "stages": {}}
    assert "projection_preset_s" not in add_preset_projection(whole)


def test_stage_table_sums_worker_seconds(run):
    _, manifest = run
    table = stage_table(manifest)
    for step in ("analyze", "factors", "write", "layers_to_gpkg"):
        assert table[step] == pytest.approx(
            sum(t["seconds"][step] for t in manifest["tiles"]), abs=1e-3)
    assert table["mosaic_and_manifest"] == pytest.approx(manifest["mosaic_s"], abs=1e-3)


def test_bench_refuses_an_unknown_engine_with_one_line():
    from typer.testing import CliRunner

    from hotspot_env.cli import app

    result = CliRunner().invoke(app, ["bench", "--scale", "country-test", "--engine", "spark"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1].startswith("error: --engine must be one of")


# ------------------------------------------------------------------ tiled run outputs
def test_label_points_by_hand():
    from hotspot_env.scale.tiled_outputs import label_points

    regions = {"a": (0.0, 0.0, 10.0, 10.0), "b": (10.0, 0.0, 20.0, 10.0)}
    x = np.array([0.0, 9.99, 10.0, 19.0, 20.0, 5.0])
    y = np.array([0.0, 5.0, 5.0, 9.0, 5.0, 10.0])
    assert label_points(x, y, regions).tolist() == ["a", "a", "b", "b", "", ""]


@pytest.fixture(scope="module")
def tiled(country, tmp_path_factory):
    """The test country through the tiled engine (2 km tiles), on an in-process cluster."""
    from dask.distributed import Client, LocalCluster

    from hotspot_env.scale.bench_tiled import country_layers_gpkg
    from hotspot_env.scale.engine import analyze_tiled

    folder = tmp_path_factory.mktemp("tiled")
    incidents = gpd.read_parquet(country[0] / "incidents").drop(columns=["region"])
    gpkg = country_layers_gpkg(country[0], folder / "layers.gpkg")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        return analyze_tiled(incidents, layers=gpkg, cell_size=50.0, tile_km=2.0,
                             scheduler=client, simulated=True), folder


def test_tiled_run_cut_by_region(tiled, country):
    from hotspot_env.outputs.export import cells_frame
    from hotspot_env.outputs.privacy import publish_array
    from hotspot_env.scale.tiled_outputs import write_tiled_run

    run, folder = tiled
    regions = {t["region"]: tuple(t["bounds"]) for t in country[1]["tiles"]}
    manifest = write_tiled_run(run, folder / "out", regions)
    out = folder / "out"
    whole = cells_frame(run.analysis).sort_values("cell_id").reset_index(drop=True)
    parts = gpd.read_parquet(out / "cells")  # every partition together
    parts = parts.sort_values("cell_id").reset_index(drop=True)
    np.testing.assert_array_equal(parts["cell_id"], whole["cell_id"])
    np.testing.assert_array_equal(parts["kde"], whole["kde"])
    for name, (xmin, ymin, xmax, ymax) in regions.items():
        part = gpd.read_parquet(out / "cells" / f"{name}.parquet")
        c = part.geometry.centroid
        assert ((c.x >= xmin) & (c.x < xmax) & (c.y >= ymin) & (c.y < ymax)).all()
    assert set(manifest["regions"]) == set(regions) | {"outside_regions"}
    assert manifest["engine"]["engine"] == "dask" and len(manifest["engine"]["tiles"]) > 1
    with rasterio.open(out / "density.tif") as src:
        kde = publish_array(run.analysis, "kde")
        mask = run.analysis.grid.mask
        np.testing.assert_array_equal(src.read(1)[mask], kde[mask].astype("float32"))
    assert national.cog_layout(out / "density.tif")["layout"] == "COG"
    assert run.analysis.interventions is not None
    rows = gpd.read_parquet(out / "interventions")
    national_rows = gpd.read_file(out / "workorders" / "national" / "interventions.gpkg")
    assert len(rows) == len(national_rows) > 0


def test_tiled_run_cut_by_tile_without_regions(tiled):
    from hotspot_env.scale.tiled_outputs import write_tiled_run

    run, folder = tiled
    manifest = write_tiled_run(run, folder / "by-tile")
    assert all(r.startswith("tile_") for r in manifest["regions"])
    n_cols = run.analysis.grid.n_cols
    for tile in run.tiles:
        path = folder / "by-tile" / "cells" / f"tile_{tile.index:03d}.parquet"
        if not path.is_file():
            continue  # a tile with no study-area cell writes nothing
        rows, cols = np.divmod(gpd.read_parquet(path)["cell_id"].to_numpy(), n_cols)
        assert ((rows >= tile.row0) & (rows < tile.row1)).all()
        assert ((cols >= tile.col0) & (cols < tile.col1)).all()


# ------------------------------------------------------------------ privacy and the CLI
def test_a_public_national_run_publishes_protected_counts_only(country, tmp_path):
    from hotspot_env import settings

    out = tmp_path / "public"
    run_national(country[0], out, cell_size=100.0, privacy="public",
                 stages=["factors", "rtm"])
    k = settings.k_threshold
    incidents = gpd.read_parquet(country[0] / "incidents")
    points = set(zip(incidents.geometry.x.round(3), incidents.geometry.y.round(3),
                     strict=True))
    for region in ("city_00", "city_01"):
        cells = gpd.read_parquet(out / "cells" / f"{region}.parquet")
        counts = cells["incidents"].astype(str)
        # each published count is 0, the suppression mark, or at least k
        numeric = counts[counts != f"<{k}"].astype(int)
        assert ((numeric == 0) | (numeric >= k)).all()
        assert (counts == f"<{k}").any()
        corners = set(zip(*(np.round(a, 3) for a in shapely.get_coordinates(
            cells.geometry).T), strict=True))
        assert not corners & points  # no incident coordinate anywhere in the cells
    with rasterio.open(out / "density.tif") as src:
        assert src.tags()["privacy_mode"] == "public"
        assert set(json.loads(src.tags()["privacy"])) == {"city_00", "city_01"}
    meta = pq.read_schema(out / "cells" / "city_00.parquet").metadata
    assert json.loads(meta[b"PANDAS_ATTRS"])["privacy_mode"] == "public"
    # a hash of a region's incidents would confirm a guess of its records: withheld
    records = json.loads((out / "manifest.json").read_text())["tiles"]
    assert len(records) == 2
    assert all(i["sha256"] is None for r in records for i in r["inputs"])


def test_bench_cli_writes_results_for_a_test_country(tmp_path):
    from typer.testing import CliRunner

    from hotspot_env.cli import app

    result = CliRunner().invoke(app, ["bench", "--scale", "country-test", "--workers", "1",
                                      "--json", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "results-country-test.json").read_text())
    assert data["n_regions"] == 4 and data["engine"] == "regions"
    assert data["n_incidents"] == sum(
        len(gpd.read_parquet(p)) for p in (tmp_path / "country" / "incidents").iterdir())
    assert set(data["stages"]) >= {"analyze", "factors", "interventions", "write"}
    assert data["total_s"] > 0 and len(data["peak_rss_mb_per_worker"]) == 1
    assert "speedup" not in data  # one worker: nothing to compare
    assert (tmp_path / "national" / "density.tif").is_file()
    # a second run reuses that country instead of generating it again: the same answers
    again = tmp_path / "again"
    result = CliRunner().invoke(app, ["bench", "--scale", "country-test", "--workers", "1",
                                      "--json", "--out", str(again),
                                      "--country", str(tmp_path / "country")])
    assert result.exit_code == 0, result.output
    reused = json.loads((again / "results-country-test.json").read_text())
    assert reused["country_reused"] and not data["country_reused"]
    assert reused["generate_s"] == 0 and not (again / "country").exists()
    assert reused["n_incidents"] == data["n_incidents"]
    assert reused["n_incidents_used"] == data["n_incidents_used"]
    assert reused["n_cells"] == data["n_cells"]


def test_bench_refuses_a_country_of_another_preset(tmp_path, country):
    from hotspot_env.scale.bench_national import run_bench_national

    # the fixture's country is the 'test' preset with seed 11, not the national one
    with pytest.raises(InputError, match="generate it again"):
        run_bench_national("national", out=tmp_path / "o", country=country[0])
    with pytest.raises(InputError, match="no country.json"):
        run_bench_national("national", out=tmp_path / "o", country=tmp_path)
