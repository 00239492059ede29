"""``--engine dask`` gives the single-machine answers (issue 20's equality test).

A small synthetic city is analysed in process and on a dask LocalCluster of two
worker processes, cut into 9 tiles, through a TCP scheduler (as a real cluster
would be reached); every per-cell array and every later stage's decision must
match. A halo that is too narrow is shown to break the equality in
tests/test_scale_tiles.py, so this test can fail.
"""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest

pytest.importorskip("dask.distributed")  # the [scale] extra; `make test` installs it

from typer.testing import CliRunner  # noqa: E402

from hotspot_env.bench import TINY_SCALE  # noqa: E402
from hotspot_env.cli import app  # noqa: E402
from hotspot_env.core import pipeline  # noqa: E402
from hotspot_env.inputs.synth import simulate_city  # noqa: E402
from hotspot_env.scale.engine import STAGE_PLACEMENT, TiledRun, analyze_tiled  # noqa: E402

TILE_KM = 0.5  # 10 cells of 50 m: a 1.5 km city in 3 x 3 tiles
#: A yearly budget, so the interventions stage selects a portfolio.
OPTIONS = {"interventions": {"budget": 20_000.0}}


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    return simulate_city(7, scale="quick", **TINY_SCALE).write(tmp_path_factory.mktemp("city"))


@pytest.fixture(scope="module")
def single(city):
    return pipeline.run(city["incidents"], layers=city["layers"], cell_size=50, simulated=True,
                        stage_options=OPTIONS)


@pytest.fixture(scope="module")
def tcp_cluster():
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, protocol="tcp",
                      dashboard_address=":0") as cluster:
        yield cluster


@pytest.fixture(scope="module")
def tiled(city, tcp_cluster):
    return analyze_tiled(city["incidents"], layers=city["layers"], cell_size=50,
                         simulated=True, tile_km=TILE_KM, scheduler=tcp_cluster.scheduler_address,
                         stage_options=OPTIONS)


def _selected(analysis) -> list[str]:
    table = analysis.interventions.table()
    return sorted(table.loc[table["selected"], "intervention_id"].astype(str))


def _ranked(analysis) -> list[tuple[str, int]]:
    table = analysis.interventions.table()
    return list(zip(table["intervention_id"].astype(str), table["rank"], strict=True))


def test_tiled_run_is_split_and_reached_over_tcp(tiled, tcp_cluster):
    assert isinstance(tiled, TiledRun)
    assert tiled.scheduler.startswith("tcp://") and tiled.scheduler == tcp_cluster.scheduler_address
    assert len(tiled.tiles) >= 4
    assert all(r["points_read"] > 0 for r in tiled.reports)
    names = [c.name for c in tiled.choices]
    assert {"tile_halo_m", "tiles", "later_stages", "worker_threads"} <= set(names)
    threads = tiled.parameters["engine"]["worker_threads"]  # as the scheduler reports them
    assert threads["workers"] == 2 and threads["threads_per_worker"] == [1]
    assert threads["compute_threads_per_task"] == 1
    assert tiled.halo_m >= max(tiled.halo_distances.values())
    assert tiled.parameters["engine"]["stages"] == STAGE_PLACEMENT
    assert set(tiled.timings) == {"plan", "tasks", "global"}
    assert all(v >= 0 for v in tiled.timings.values())
    # interiors of the tiles put back together are the global arrays
    for tile in tiled.tiles:
        part = tiled.tile_arrays(tile)["incidents"]
        assert part.shape == tile.shape


def test_counts_density_and_hot_spots_equal_one_machine(single, tiled):
    mask = single.grid.mask
    assert tiled.grid.shape == single.grid.shape and np.array_equal(tiled.grid.mask, mask)
    assert np.array_equal(tiled.arrays["incidents"], single.arrays["incidents"])
    assert np.array_equal(tiled.arrays["gi_bin"], single.arrays["gi_bin"])
    assert (single.arrays["gi_bin"] == 3).any()  # there are hot spots to get right
    kde_1, kde_d = single.arrays["kde"][mask], tiled.arrays["kde"][mask]
    big = kde_1 > 0
    assert np.max(np.abs(kde_d[big] - kde_1[big]) / kde_1[big]) <= 1e-9
    assert np.array_equal(kde_d[~big], kde_1[~big])
    assert np.nanmax(np.abs(tiled.arrays["gi_z"] - single.arrays["gi_z"])) <= 1e-9
    assert np.array_equal(np.isnan(tiled.arrays["gi_z"]), np.isnan(single.arrays["gi_z"]))
    assert tiled.counts == single.counts


def test_the_risk_terrain_model_from_tile_sums_equals_one_machine(single, tiled):
    """The RTM was fitted from the tiles' sums (its design never whole in one process)."""
    design = tiled.parameters["engine"]["rtm_design"]
    assert design["tiles"] == len(tiled.tiles) == 9 and design["round_trips"] > 0
    assert design["candidates"] == single.rtm.n_tested == tiled.rtm.n_tested
    one, many = single.rtm.table, tiled.rtm.table
    assert list(one["factor"]) == list(many["factor"]) and len(one) > 0
    assert list(one["operation"]) == list(many["operation"])
    np.testing.assert_allclose(many["rrv"].to_numpy(float), one["rrv"].to_numpy(float),
                               rtol=1e-6, atol=0)
    a, b = single.rtm.candidates, tiled.rtm.candidates
    labels = ["factor", "operation", "distance_m", "cells", "chosen", "selected"]
    assert a[labels].equals(b[labels])
    np.testing.assert_allclose(b["bic"], a["bic"], rtol=1e-9)
    assert tiled.rtm.family == single.rtm.family


def test_later_stages_equal_one_machine(single, tiled):
    assert tiled.forecast.model == single.forecast.model
    assert tiled.forecast.description == single.forecast.description
    assert _selected(tiled) == _selected(single) and len(_selected(single)) > 0
    assert _ranked(tiled) == _ranked(single)
    assert set(tiled.arrays) == set(single.arrays)
    for name in single.arrays:
        a, b = single.arrays[name], tiled.arrays[name]
        if a.dtype.kind == "f":
            np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12, err_msg=name)
        else:
            assert np.array_equal(a, b), name


def test_risk_factors_per_tile_equal_one_machine(single, tiled):
    """Sightline rays, street-light lux and the distances to vacant land and to the user's
    layers ran in the 9 tile tasks: the single machine's factors (bit for bit, lux to 1e-9)."""
    reports = tiled.parameters["engine"]["factor_tiles"]["sightlines"]
    assert len(reports) == len(tiled.tiles) == 9
    one, many = single.factors["sightlines"], tiled.factors["sightlines"]
    assert sum(r["observers"] for r in reports) == len(one.layer) > 0
    # each task read the rows of its box only: a corner tile far fewer than all of them
    assert all(r["rows_read"] <= r["rows_total"] for r in reports)
    assert min(r["rows_read"] / r["rows_total"] for r in reports) < 0.5
    assert np.array_equal(many.values["sightline_m"], one.values["sightline_m"],
                          equal_nan=True)
    assert not np.isnan(one.values["sightline_m"]).all()
    assert many.layer.drop(columns="geometry").equals(one.layer.drop(columns="geometry"))
    assert many.layer.geometry.geom_equals_exact(one.layer.geometry, 0).all()
    assert [c.message() for c in many.choices] == [c.message() for c in one.choices]
    assert many.features.geometry.equals(one.features.geometry)
    assert list(tiled.factors) == list(single.factors)
    engine_only = ("later_stages", "tiles", "tile_halo_m", "worker_threads")
    assert [c.message() for c in tiled.choices
            if c.name not in engine_only] == single.choice_messages()
    light = tiled.parameters["engine"]["factor_tiles"]["lighting"]
    assert len(light) == 2  # cell centres, then the streets' sample points
    for call in light:
        assert len(call["rows_read"]) == 9 and max(call["rows_read"]) < call["rows_total"]
    one, many = single.factors["lighting"], tiled.factors["lighting"]
    lux_1, lux_d = one.values["lamp_lux"], many.values["lamp_lux"]
    assert np.array_equal(np.isnan(lux_d), np.isnan(lux_1)) and np.nanmax(lux_1) > 0
    np.testing.assert_allclose(lux_d, lux_1, rtol=1e-9, atol=0)
    assert list(many.layer["segment_id"]) == list(one.layer["segment_id"])  # dark segments
    np.testing.assert_allclose(many.layer["lux_mean"].to_numpy(float),
                               one.layer["lux_mean"].to_numpy(float), rtol=1e-9, atol=0)
    (vacant,) = tiled.parameters["engine"]["factor_tiles"]["vacancy"]
    assert len(vacant["rows_read"]) == 9
    assert np.array_equal(tiled.arrays["vacant_dist_m"], single.arrays["vacant_dist_m"],
                          equal_nan=True)
    custom = tiled.parameters["engine"]["factor_tiles"]["custom"]
    assert custom and set(custom) <= set(single.factors)  # the user layers (bars, decoys)
    for name in custom:
        column = f"{name}_dist_m"
        assert np.array_equal(tiled.arrays[column], single.arrays[column], equal_nan=True)


def test_the_forecast_is_cross_validated_on_the_tiles(single, tiled):
    """Every candidate scored from per-tile parts: the same PEI per fold (1e-9), the same choice."""
    cube = tiled.parameters["engine"]["forecast_cube"]
    assert cube["tiles"] == len(tiled.tiles) >= 4 and cube["round_trips"] >= 5
    a, b = single.forecast.cv, tiled.forecast.cv
    assert len(a) > 50 and list(b["candidate"]) == list(a["candidate"])
    cols = [c for c in a.columns if c.startswith("pei")]
    assert np.isfinite(a[cols].to_numpy()).any()
    np.testing.assert_allclose(b[cols].to_numpy(), a[cols].to_numpy(), rtol=0, atol=1e-9)
    assert tiled.forecast.model == single.forecast.model
    assert tiled.forecast.calibration["b"] == pytest.approx(single.forecast.calibration["b"],
                                                            rel=1e-9)


def test_the_cli_runs_the_dask_engine_through_a_scheduler(city, single, tcp_cluster, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(app, [
        "analyze", "--incidents", str(city["incidents"]), "--layers", str(city["layers"]),
        "--out", str(out), "--cell-size", "50", "--engine", "dask",
        "--scheduler", tcp_cluster.scheduler_address, "--tile-km", str(TILE_KM), "--quiet"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    engine = manifest["parameters"]["engine"]
    assert engine["engine"] == "dask" and len(engine["tiles"]) == 9
    assert engine["scheduler"] == tcp_cluster.scheduler_address
    cells = gpd.read_file(out / "cells.gpkg")
    ids = single.grid.cell_ids()[single.grid.mask]
    expected = dict(zip(ids, single.arrays["gi_bin"][single.grid.mask], strict=True))
    assert [expected[i] for i in cells["cell_id"]] == cells["gi_bin"].tolist()


@pytest.mark.parametrize(("extra", "message"), [
    (["--scheduler", "tcp://127.0.0.1:1"], "only apply to --engine dask"),
    (["--engine", "spark"], "--engine must be 'inprocess' or 'dask'"),
    (["--engine", "dask", "--tile-km", "-1"], "--tile-km must be a positive number"),
    (["--engine", "dask", "--scheduler", "tcp://127.0.0.1:1", "--workers", "2"],
     "give one of them"),
])
def test_bad_engine_options_are_one_clear_error(city, tmp_path, extra, message):
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["analyze", "--incidents", str(city["incidents"]),
                                      "--out", str(out), *extra])
    assert result.exit_code == 2
    assert "error:" in result.output and message in result.output
    assert not out.exists() or not any(out.iterdir())


def test_an_unreachable_scheduler_is_one_clear_error(city, tmp_path, monkeypatch):
    from hotspot_env.scale import engine

    monkeypatch.setattr(engine, "CONNECT_TIMEOUT_S", 2.0)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, [
        "analyze", "--incidents", str(city["incidents"]), "--out", str(out),
        "--engine", "dask", "--scheduler", "tcp://127.0.0.1:9"])
    assert result.exit_code == 2
    assert "cannot reach the dask scheduler at tcp://127.0.0.1:9" in result.output
    assert not out.exists() or not any(out.iterdir())


def test_the_default_local_cluster_gives_the_same_core_arrays(city, single):
    """No --scheduler: a LocalCluster is started for the run and closed after it."""
    run = analyze_tiled(city["incidents"], layers=city["layers"], cell_size=50, simulated=True,
                        tile_km=0.6, n_workers=1, stages=[])
    assert len(run.tiles) == 9 and run.scheduler.startswith("tcp://")
    for name in ("incidents", "kde", "gi_z", "gi_p", "gi_bin"):
        assert np.array_equal(run.arrays[name], single.arrays[name], equal_nan=True), name
    assert run.rtm is None and run.interventions is None  # no later stage was asked for


def test_public_mode_tiles_read_only_the_protected_counts(city, tcp_cluster):
    """Public mode: the tiles' KDE and Gi* come from the k-protected counts, as in process."""
    options = {"cell_size": 100, "privacy": "public", "simulated": True, "stages": []}
    one = pipeline.run(city["incidents"], **options)
    run = analyze_tiled(city["incidents"], tile_km=0.5, scheduler=tcp_cluster.scheduler_address,
                        **options)
    assert len(run.tiles) >= 4 and run.protection is not None
    assert np.array_equal(run.arrays["incidents"], one.arrays["incidents"])
    for name in ("gi_z", "gi_bin"):
        assert np.array_equal(run.arrays[name], one.arrays[name], equal_nan=True), name
    np.testing.assert_allclose(run.arrays["kde"], one.arrays["kde"], rtol=1e-9, atol=0)
    assert run.protection.layers["incidents"].imputed.tolist() == \
        one.protection.layers["incidents"].imputed.tolist()
