"""Bad national, tiled and budget options are refused before any work starts.

Every case runs the CLI in-process on a tiny synthetic country (two cities) or
a small incidents file, and checks: exit status 2, exactly one line on stderr
that starts with ``error:`` and names the bad value, nothing written into
``--out`` and no work begun — no cluster started (the national benchmark), no
incident read (the engine options) or no later stage run (district caps), each
recorded by replacing the function that would do it.
"""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from typer.testing import CliRunner

from hotspot_env.cli import app
from hotspot_env.errors import InputError
from hotspot_env.scale.country import country_tiles, write_country

runner = CliRunner()

#: The national benchmark's default seed: a country of it is reused by ``--country``.
BENCH_SEED = 20240601


@pytest.fixture(scope="module")
def country(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("country") / "country"
    write_country(folder, "test", BENCH_SEED, block_m=500.0,
                  tiles=country_tiles("test", BENCH_SEED, n_cities=2))
    return folder


@pytest.fixture
def no_cluster(monkeypatch) -> list[object]:
    """Fail loudly if the benchmark starts a cluster (the first thing any work does)."""
    started: list[object] = []

    def refuse(*args, **kwargs):
        started.append(args)
        raise AssertionError("a cluster was started before the options were checked")

    monkeypatch.setattr("hotspot_env.scale.bench_national.local_cluster", refuse)
    return started


def _refused(args: list[str], out: Path, *words: str) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for word in words:
        assert word in lines[0], lines[0]
    assert not out.exists(), sorted(p.name for p in out.rglob("*"))
    return lines[0]


def _bench(country: Path, out: Path, *extra: str) -> list[str]:
    return ["bench", "--scale", "country-test", "--country", str(country), "--out", str(out),
            "--workers", "1", *extra]


def _closed_port() -> int:
    with socket.socket() as s:  # a port the system just gave out and nobody listens on now
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------- national budget and region caps
@pytest.mark.parametrize(("extra", "words"), [
    (["--national-budget", "20000", "--region-budget", "city_09=5000"],
     ["unknown region city_09", "city_00, city_01"]),
    (["--national-budget", "20000", "--region-budget", "city_00=5000",
      "--region-budget", "Paris=1"], ["unknown region Paris"]),
    (["--region-budget", "city_00=5000"], ["give --national-budget too"]),
    (["--national-budget", "20000", "--region-budget", "city_00=-5"], ["city_00=-5", ">= 0"]),
    (["--national-budget", "20000", "--region-budget", "city_00=nan"], ["city_00=nan", ">= 0"]),
    (["--national-budget", "20000", "--region-budget", "city_00=inf"], ["city_00=inf"]),
    (["--national-budget", "20000", "--region-budget", "city_00=lots"],
     ["city_00=lots", "not a number"]),
    (["--national-budget", "20000", "--region-budget", "city_00"], ["'city_00'", "NAME=AMOUNT"]),
    (["--national-budget", "20000", "--region-budget", "city_00=5",
      "--region-budget", "city_00=6"], ["city_00 is given twice"]),
    (["--national-budget", "nan"], ["--national-budget", "nan"]),
    (["--national-budget", "-1"], ["--national-budget", "-1"]),
    (["--national-budget", "20000", "--engine", "dask"], ["--engine regions"]),
])
def test_bad_national_budgets_are_refused_before_the_country_is_read(
        country, tmp_path, no_cluster, extra, words):
    out = tmp_path / "out"
    _refused(_bench(country, out, *extra), out, *words)
    assert not no_cluster


def test_many_regions_are_listed_truncated(tmp_path, no_cluster):
    # the national preset's 25 regions are known without generating the country
    out = tmp_path / "out"
    line = _refused(["bench", "--scale", "national", "--out", str(out), "--workers", "1",
                     "--national-budget", "1e6", "--region-budget", "city_99=5"], out,
                    "unknown region city_99", "city_00", "(25 in all)")
    assert "city_24" not in line


def test_caps_summing_above_the_national_budget_are_accepted():
    # caps are upper bounds, not allocations: their sum may exceed the budget (each region
    # spends at most its cap, all together at most the budget), and one cap above it never binds
    from hotspot_env.scale.national_portfolio import national_options

    options = national_options(["a", "b"], 100.0, ["a=80", "b=80.5"], {})
    assert options["stage_options"]["interventions"]["budget"] is None
    with pytest.raises(InputError, match="unknown region c"):
        national_options(["a", "b"], 100.0, ["a=80", "c=1"], {})


def test_budgets_only_apply_to_national_scales(tmp_path):
    out = tmp_path / "out"
    _refused(["bench", "--scale", "quick", "--out", str(out), "--national-budget", "5"], out,
             "national scales")


# ------------------------------------------------------- the other national options
@pytest.mark.parametrize(("extra", "words"), [
    (["--workers", "0"], ["--workers", "got 0"]),
    (["--workers", "-2"], ["--workers", "got -2"]),
    (["--workers", "100000"], ["--workers 100000", "use at most"]),
    (["--scheduler", "nonsense"], ["'nonsense' is not a scheduler address", "tcp://HOST:PORT"]),
    (["--scheduler", "tcp://127.0.0.1"], ["is not a scheduler address"]),
    (["--engine", "spark"], ["--engine", "spark"]),
])
def test_bad_cluster_options_are_refused(country, tmp_path, no_cluster, extra, words):
    out = tmp_path / "out"
    _refused(_bench(country, out, *extra), out, *words)
    assert not no_cluster


def test_an_unreachable_scheduler_is_refused_before_any_work(country, tmp_path, no_cluster):
    address = f"tcp://127.0.0.1:{_closed_port()}"
    out = tmp_path / "out"
    _refused(_bench(country, out, "--scheduler", address), out,
             f"cannot reach the dask scheduler at {address}", "drop --scheduler")
    assert not no_cluster


def _bad_countries(root: Path, country: Path) -> dict[str, tuple[Path, list[str]]]:
    cases: dict[str, tuple[Path, list[str]]] = {}
    cases["missing"] = (root / "nowhere", ["no such folder"])
    (root / "plain").mkdir()
    cases["no json"] = (root / "plain", ["no country.json"])
    (root / "garbled").mkdir()
    (root / "garbled" / "country.json").write_text("{not json", encoding="utf-8")
    cases["not json"] = (root / "garbled", ["not a country's description"])
    (root / "bare").mkdir()
    (root / "bare" / "country.json").write_text(
        json.dumps({"scale": "test", "seed": BENCH_SEED, "regions": [], "tiles": []}))
    cases["no region"] = (root / "bare", ["lists no region"])
    empty = root / "empty"
    shutil.copytree(country, empty)
    part = empty / "incidents" / "city_01.parquet"
    gpd.read_parquet(part).iloc[:0].to_parquet(part)
    cases["empty region"] = (empty, ["region city_01 holds no incident"])
    lost = root / "lost"
    shutil.copytree(country, lost)
    (lost / "incidents" / "city_00.parquet").unlink()
    cases["missing partition"] = (lost, ["region city_00 has no incidents file"])
    return cases


def test_bad_country_folders_are_refused(country, tmp_path, no_cluster):
    root = tmp_path / "countries"
    root.mkdir()
    for name, (folder, words) in _bad_countries(root, country).items():
        out = tmp_path / f"out-{name.replace(' ', '-')}"
        _refused(_bench(folder, out), out, f"--country {folder}", *words)
    assert not no_cluster


def test_an_output_folder_with_an_earlier_run_is_refused_before_generating(tmp_path,
                                                                            no_cluster):
    out = tmp_path / "out"
    (out / "national").mkdir(parents=True)
    (out / "national" / "manifest.json").write_text("{}", encoding="utf-8")
    result = runner.invoke(app, ["bench", "--scale", "country-test", "--out", str(out),
                                 "--workers", "1"])
    assert result.exit_code == 2 and "already holds files" in result.stderr
    assert sorted(p.name for p in out.rglob("*")) == ["manifest.json", "national"]
    assert not no_cluster


def test_run_national_refuses_regions_the_country_lacks(country, tmp_path):
    from hotspot_env.scale.regions import run_national

    out = tmp_path / "never"
    with pytest.raises(InputError, match="city_07 are not in the country"):
        run_national(country, out, regions=["city_00", "city_07"])
    assert not out.exists()


# ------------------------------------------------------------- analyze's options
def _incidents(tmp: Path, n: int = 200) -> Path:
    rng = np.random.default_rng(3)
    lon = np.round(-46.633 + rng.uniform(-0.01, 0.01, n), 6)
    lat = np.round(-23.550 + rng.uniform(-0.01, 0.01, n), 6)
    path = tmp / "incidents.csv"
    lines = ["lon,lat,date"] + [f"{a},{b},2023-0{1 + i % 9}-1{i % 10}"
                                for i, (a, b) in enumerate(zip(lon, lat, strict=True))]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def nothing_read(monkeypatch) -> list[str]:
    """Record any analysis started (the in-process core analysis or a tiled run)."""
    calls: list[str] = []

    def record(name):
        def refuse(*args, **kwargs):
            calls.append(name)
            raise AssertionError(f"{name} ran before the options were checked")
        return refuse

    monkeypatch.setattr("hotspot_env.core.pipeline.analyze", record("analyze"))
    monkeypatch.setattr("hotspot_env.scale.engine.analyze_tiled", record("analyze_tiled"))
    return calls


@pytest.mark.parametrize(("extra", "words"), [
    (["--tile-km", "0"], ["--tile-km", "positive"]),
    (["--tile-km", "nan"], ["--tile-km", "positive"]),
    (["--tile-km", "0.001"], ["--tile-km 0.001", "use 5 to 50"]),
    (["--tile-km", "50000"], ["--tile-km 50000", "use 5 to 50"]),
    (["--workers", "0"], ["--workers", "got 0"]),
    (["--workers", "100000"], ["--workers 100000"]),
    (["--scheduler", "nonsense"], ["'nonsense' is not a scheduler address"]),
    (["--scheduler", "tcp://127.0.0.1:1", "--workers", "2"], ["give one of them"]),
])
def test_bad_engine_options_are_refused_before_reading(tmp_path, nothing_read, extra, words):
    out = tmp_path / "out"
    _refused(["analyze", "--incidents", str(_incidents(tmp_path)), "--out", str(out),
              "--engine", "dask", *extra], out, *words)
    assert not nothing_read


def test_an_unreachable_scheduler_is_refused_before_reading(tmp_path, nothing_read):
    address = f"tcp://127.0.0.1:{_closed_port()}"
    out = tmp_path / "out"
    _refused(["analyze", "--incidents", str(_incidents(tmp_path)), "--out", str(out),
              "--engine", "dask", "--scheduler", address], out, "cannot reach", address)
    assert not nothing_read


def test_caps_without_a_budget_are_refused_before_reading(tmp_path, nothing_read):
    out = tmp_path / "out"
    _refused(["analyze", "--incidents", str(_incidents(tmp_path)), "--out", str(out),
              "--region-budget", "D01=5"], out, "give --budget too")
    assert not nothing_read


def test_too_many_tiles_are_refused_before_any_task():
    from hotspot_env.core.grid import Grid
    from hotspot_env.scale.tiles import MAX_TILES, make_tiles

    grid = Grid.from_area(shapely.box(500_000, 4_000_000, 530_000, 4_030_000), "EPSG:32633",
                          50.0)  # 600 x 600 cells
    assert len(make_tiles(grid, 1.0, 200.0)) == 900  # 20 cells a side: 30 x 30 tiles
    with pytest.raises(InputError, match=f"into 90,000 tiles .at most {MAX_TILES:,}"):
        make_tiles(grid, 0.1, 200.0)  # 2 cells a side: 300 x 300 tiles


@pytest.fixture
def later_stages(monkeypatch) -> list[str]:
    """Record every later stage that runs (none may before the caps are checked)."""
    from hotspot_env.core import pipeline

    ran: list[str] = []
    stages = pipeline.default_stages()

    def recorded():
        def wrap(name, func):
            def stage(analysis, **options):
                ran.append(name)
                return func(analysis, **options)
            return stage
        return [(name, wrap(name, func)) for name, func in stages]

    monkeypatch.setattr(pipeline, "default_stages", recorded)
    monkeypatch.setattr(pipeline, "check_order", lambda selected: None)  # wrappers: no tags
    return ran


def test_an_unknown_district_is_refused_before_any_later_stage(tmp_path, later_stages):
    out = tmp_path / "out"
    _refused(["analyze", "--incidents", str(_incidents(tmp_path)), "--out", str(out),
                     "--budget", "10000", "--region-budget", "D01=500",
                     "--region-budget", "Centro=500"], out,
                    "unknown district Centro", "use one of D01")
    assert later_stages == []


def test_the_early_check_knows_the_districts_the_stage_will_use(tmp_path):
    from hotspot_env.core.analysis import analyze
    from hotspot_env.interventions.district_caps import check_district_caps
    from hotspot_env.interventions.equity import choose_zones

    analysis = analyze(_incidents(tmp_path))
    zones, _ = choose_zones(analysis)  # what the stage uses: the grid's blocks here
    assert len(zones.names) > 1
    check_district_caps(analysis, {"budget": 1000, "region_budgets":
                                   {name: 10 for name in zones.names}})
    with pytest.raises(InputError, match="unknown district Centro"):
        check_district_caps(analysis, {"budget": 1000, "region_budgets": ["Centro=10"]})
    # boundaries given to the stage: their names, not the grid's blocks
    xmin, ymin, xmax, ymax = analysis.grid.bounds
    mid = (xmin + xmax) / 2
    halves = gpd.GeoDataFrame({"name": ["west", "east"]},
                              geometry=[shapely.box(xmin, ymin, mid, ymax),
                                        shapely.box(mid, ymin, xmax, ymax)],
                              crs=analysis.grid.crs)
    options = {"budget": 1000, "boundaries": halves}
    check_district_caps(analysis, {**options, "region_budgets": ["west=5", "east=0"]})
    names = sorted(choose_zones(analysis, halves)[0].names)  # with "unassigned" for the rest
    assert {"west", "east"} <= set(names)
    with pytest.raises(InputError, match=f"unknown district D01: use one of {', '.join(names)}$"):
        check_district_caps(analysis, {**options, "region_budgets": ["D01=5"]})
    # districts of the time analyses' own options are left to the stage's check
    check_district_caps(analysis, {"budget": 1000, "region_budgets": ["Centro=10"]},
                        {"district_block_cells": 4})


# ------------------------------------------------- the same options, accepted
def test_bench_runs_one_national_portfolio_under_the_caps(country, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, _bench(country, out, "--json", "--national-budget", "20000",
                                       "--region-budget", "city_00=5000"))
    assert result.exit_code == 0, result.output
    portfolio = json.loads((out / "results-country-test.json").read_text())["portfolio"]
    assert portfolio["scope"] == "national" and portfolio["budget"] == 20_000
    assert portfolio["region_budgets"] == {"city_00": 5000.0}
    per_region = portfolio["per_region"]
    assert 0 < per_region["city_00"]["cost"] <= 5000 and per_region["city_01"]["cap"] is None
    assert sum(r["cost"] for r in per_region.values()) == portfolio["cost"] <= 20_000
    manifest = json.loads((out / "national" / "manifest.json").read_text())
    assert manifest["portfolio"] == portfolio


def test_speed_up_runs_keep_the_caps_of_their_regions():
    from hotspot_env.scale.bench_national import _of_regions

    budgets = {"national_budget": 100.0, "region_budgets": {"city_00": 5.0, "city_03": 7.0}}
    assert _of_regions(budgets, None) == budgets
    assert _of_regions(budgets, ["city_00", "city_01"]) == {
        "national_budget": 100.0, "region_budgets": {"city_00": 5.0}}
    assert _of_regions(budgets, ["city_01"])["region_budgets"] is None
    assert _of_regions({}, ["city_01"]) == {}
