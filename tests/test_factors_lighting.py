"""Tests for hotspot_env.factors.lighting (illuminance proxy, lit-tag fallback, dark segments)."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import rasterio
import shapely
from _factor_data import CRS_M, box_grid, frame, helsinki, sao_paulo_layers, value_at
from rasterio.transform import Affine

from hotspot_env.errors import InputError
from hotspot_env.factors import lighting

X0, Y0 = 385_000.0, 6_672_000.0  # somewhere in Helsinki, EPSG:3067
LUMENS_1000CD = 2 * math.pi * 1000  # a lamp of I = 1000 cd
# Hand values for I = 1000 cd at h = 8 m: E = I h / (r^2 + h^2)^1.5
E_0M = 15.625  # 1000 * 8 / 8^3
E_10M = 3.8091161  # 8000 / 164^1.5
E_DIAG = 1.8650226  # 8000 / 264^1.5 (r = 10 sqrt 2)


@pytest.fixture(scope="module")
def hel(tmp_path_factory):
    return helsinki(tmp_path_factory)


def one_lamp(**columns):
    return frame([shapely.Point(X0 + 45, Y0 + 45)], **columns)


def grid100():
    return box_grid(X0, Y0, X0 + 100, Y0 + 100, 10)  # cell centres at X0 + 5, 15, ...


def test_single_lamp_matches_hand_formula():
    grid = grid100()
    res = lighting.compute({"lamps": one_lamp(lumens=LUMENS_1000CD, height_m=8.0)}, grid)
    lux = res.values["lamp_lux"]
    assert lux.shape == grid.shape
    assert value_at(grid, lux, X0 + 45, Y0 + 45) == pytest.approx(E_0M, rel=1e-9)
    assert value_at(grid, lux, X0 + 55, Y0 + 45) == pytest.approx(E_10M, rel=1e-7)
    assert value_at(grid, lux, X0 + 45, Y0 + 35) == pytest.approx(E_10M, rel=1e-7)
    assert value_at(grid, lux, X0 + 55, Y0 + 55) == pytest.approx(E_DIAG, rel=1e-7)
    assert res.features is not None and len(res.features) == 1


def test_defaults_are_announced_and_used():
    grid = grid100()
    res = lighting.compute({"lamps": one_lamp()}, grid)
    # 6000 lm at 8 m: 6000 / (2 pi) / 64 = 14.92 lux under the lamp
    assert value_at(grid, res.values["lamp_lux"], X0 + 45, Y0 + 45) == pytest.approx(
        6000 / (2 * math.pi) / 64)
    names = {c.name for c in res.choices}
    assert {"lamp_lumens", "lamp_height_m", "lamp_radius_m"} <= names


def test_lamps_add_up_and_radius_cuts_off():
    x = np.array([0.0, 10.0, 100.0])
    y = np.zeros(3)
    two = lighting.illuminance(x, y, [0.0, 10.0], [0.0, 0.0], LUMENS_1000CD, 8.0, radius_m=60)
    assert two[0] == pytest.approx(E_0M + E_10M)
    assert two[1] == pytest.approx(E_0M + E_10M)
    assert two[2] == 0.0  # both lamps are more than 60 m away


def test_non_working_lamp_contributes_nothing():
    grid = grid100()
    alone = lighting.compute({"lamps": one_lamp(lumens=LUMENS_1000CD)}, grid).values["lamp_lux"]
    lamps = frame([shapely.Point(X0 + 45, Y0 + 45), shapely.Point(X0 + 55, Y0 + 45),
                   shapely.Point(X0 + 65, Y0 + 45)],
                  lumens=[LUMENS_1000CD] * 3, working=[True, False, "no"])
    res = lighting.compute({"lamps": lamps}, grid)
    np.testing.assert_allclose(res.values["lamp_lux"], alone)
    assert len(res.features) == 1
    assert any(c.name == "lamps_not_working" and c.value == 2 for c in res.choices)


def test_user_lamp_layer_in_other_crs_replaces_osm_lamps():
    grid = grid100()
    user = one_lamp(lumens=LUMENS_1000CD, height_m=8.0).to_crs("EPSG:4326")
    far_osm = frame([shapely.Point(X0 + 5, Y0 + 95)])
    res = lighting.compute({"lamps": far_osm}, grid, lamps=user)
    assert value_at(grid, res.values["lamp_lux"], X0 + 45, Y0 + 45) == pytest.approx(E_0M)
    assert value_at(grid, res.values["lamp_lux"], X0 + 5, Y0 + 95) < 0.1


def test_dark_segments_layer():
    grid = box_grid(X0, Y0, X0 + 300, Y0 + 100, 10)
    lamps = frame([shapely.Point(X0 + 50, Y0 + 50)], lumens=LUMENS_1000CD, height_m=8.0)
    streets = frame([shapely.LineString([(X0 + 30, Y0 + 50), (X0 + 70, Y0 + 50)]),
                     shapely.LineString([(X0 + 200, Y0 + 50), (X0 + 280, Y0 + 50)]),
                     shapely.LineString([(X0 + 40, Y0 + 52), (X0 + 60, Y0 + 52)])],
                    osm_id=[1, 2, 3], name=["lit st", "dark st", "tagged no"],
                    highway="residential", lit=[None, "yes", "no"])
    res = lighting.compute({"lamps": lamps, "streets": streets}, grid)
    layer = res.layer
    assert list(layer["segment_id"]) == [1, 2]  # far street, and the lit=no one despite light
    assert {"segment_id", "name", "lux_mean", "lux_min", "length_m"} <= set(layer.columns)
    far = layer.iloc[0]
    assert far["lux_mean"] == 0.0 and far["length_m"] == pytest.approx(80.0)
    assert layer.iloc[1]["lux_mean"] > 2.0
    # The lit street: 4 samples at r = 15, 5, 5, 15 m from the lamp (10 m spacing)
    e = [1000 * 8 / (r**2 + 64) ** 1.5 for r in (15, 5, 5, 15)]
    full = lighting.compute({"lamps": lamps, "streets": streets}, grid, dark_lux=100)
    lit_row = full.layer.set_index("segment_id").loc[0]
    assert lit_row["lux_mean"] == pytest.approx(np.mean(e))
    assert lit_row["lux_min"] == pytest.approx(min(e))
    assert any(c.name == "lit_tag_conflicts" for c in res.choices)


def test_lit_tag_fallback_when_no_lamps():
    grid = box_grid(X0, Y0, X0 + 100, Y0 + 100, 10)
    streets = frame([shapely.LineString([(X0 + 5, Y0 + 15), (X0 + 95, Y0 + 15)]),
                     shapely.LineString([(X0 + 5, Y0 + 55), (X0 + 95, Y0 + 55)]),
                     shapely.LineString([(X0 + 5, Y0 + 85), (X0 + 95, Y0 + 85)])],
                    osm_id=[1, 2, 3], name=None, highway="residential", lit=["yes", "no", None])
    res = lighting.compute({"streets": streets, "lamps": frame([])}, grid)
    lux = res.values["lamp_lux"]
    assert value_at(grid, lux, X0 + 45, Y0 + 15) == 10.0
    assert value_at(grid, lux, X0 + 45, Y0 + 55) == 0.0
    assert math.isnan(value_at(grid, lux, X0 + 45, Y0 + 85))  # untagged: unknown
    assert math.isnan(value_at(grid, lux, X0 + 45, Y0 + 35))  # no street: unknown
    assert list(res.layer["segment_id"]) == [1]
    assert any(c.name == "lighting_source" and c.value == "lit tag" for c in res.choices)
    assert res.features is not None and len(res.features) == 1


def test_lit_tag_fill_mode_lifts_tagged_streets():
    grid = box_grid(X0, Y0, X0 + 300, Y0 + 100, 10)
    lamps = one_lamp(lumens=LUMENS_1000CD, height_m=8.0)
    streets = frame([shapely.LineString([(X0 + 200, Y0 + 55), (X0 + 280, Y0 + 55)])],
                    osm_id=[1], name=None, highway="residential", lit=["yes"])
    res = lighting.compute({"lamps": lamps, "streets": streets}, grid, lit_tag="fill")
    assert len(res.layer) == 0
    assert value_at(grid, res.values["lamp_lux"], X0 + 245, Y0 + 55) == 10.0
    assert value_at(grid, res.values["lamp_lux"], X0 + 45, Y0 + 45) == pytest.approx(E_0M)


def test_measured_points_override_model(tmp_path):
    grid = grid100()
    lamps = one_lamp(lumens=LUMENS_1000CD, height_m=8.0)
    streets = frame([shapely.LineString([(X0 + 5, Y0 + 45), (X0 + 95, Y0 + 45)])],
                    osm_id=[1], name="st", highway="residential", lit=None)
    measured = frame([shapely.Point(X0 + 44, Y0 + 44), shapely.Point(X0 + 46, Y0 + 46),
                      shapely.Point(X0 + 85, Y0 + 85)], lux=[0.5, 1.5, 7.0]).to_crs("EPSG:4326")
    res = lighting.compute({"lamps": lamps, "streets": streets}, grid, measured=measured)
    lux = res.values["lamp_lux"]
    assert value_at(grid, lux, X0 + 45, Y0 + 45) == pytest.approx(1.0)  # cell mean
    assert value_at(grid, lux, X0 + 85, Y0 + 85) == pytest.approx(7.0)
    assert value_at(grid, lux, X0 + 55, Y0 + 45) == pytest.approx(E_10M)  # model elsewhere
    row = res.layer.iloc[0]  # the two readings near the street make it dark (mean 1 lux)
    assert row["source"] == "measured"
    assert row["lux_mean"] == pytest.approx(1.0) and row["lux_min"] == pytest.approx(0.5)

    with pytest.raises(InputError, match="lux"):
        lighting.compute({"lamps": lamps}, grid, measured=frame([shapely.Point(X0, Y0)], x=[1]))


def test_measured_raster_overrides_model(tmp_path):
    grid = grid100()
    path = tmp_path / "lux.tif"
    data = np.full((10, 20), 3.0, dtype="float32")  # covers the west half of the grid
    data[2, 10] = -9999  # the pixel under the centre of the cell at (25, 75)
    profile = {"driver": "GTiff", "width": 20, "height": 10, "count": 1, "dtype": "float32",
               "crs": CRS_M, "transform": Affine(2.5, 0, X0, 0, -10, Y0 + 100), "nodata": -9999}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
    res = lighting.compute({"lamps": one_lamp(lumens=LUMENS_1000CD, height_m=8.0)}, grid,
                           lux_raster=path)
    lux = res.values["lamp_lux"]
    assert value_at(grid, lux, X0 + 45, Y0 + 45) == 3.0
    assert value_at(grid, lux, X0 + 55, Y0 + 45) == pytest.approx(E_10M)  # outside raster
    assert value_at(grid, lux, X0 + 25, Y0 + 75) == pytest.approx(  # nodata: model kept
        1000 * 8 / (20**2 + 30**2 + 64) ** 1.5)


def test_missing_layers_give_nan_and_a_message():
    grid = grid100()
    res = lighting.compute({}, grid)
    assert np.isnan(res.values["lamp_lux"]).all()
    assert res.layer is None
    assert res.choices and res.choices[0].value == "not measured"


def test_bad_parameters_raise_input_error():
    with pytest.raises(InputError, match="height_m"):
        lighting.compute({"lamps": one_lamp()}, grid100(), height_m=0)
    with pytest.raises(InputError, match="lit_tag"):
        lighting.compute({"lamps": one_lamp()}, grid100(), lit_tag="maybe")


def test_city_scale_is_fast():
    rng = np.random.default_rng(0)
    side = 9_800.0  # 490 x 490 cells of 20 m = 240,100 cells
    grid = box_grid(0, 0, side, side, 20)
    cx, cy = grid.centres()
    lx, ly = rng.uniform(0, side, (2, 200_000))
    start = time.process_time()  # CPU time: other processes on the machine do not count
    lux = lighting.illuminance(cx, cy, lx, ly, 6000.0, 8.0, 60.0)
    assert time.process_time() - start < 10.0
    # Random lamps: the mean is the density times the integral of E over the 60 m disc,
    # 2 pi I h (1/h - 1/sqrt(R^2 + h^2)) = 6000 * 8 * (1/8 - 1/sqrt(3664)) lux m^2 per lamp
    per_lamp = 6000 * 8 * (1 / 8 - 1 / math.sqrt(60**2 + 8**2))
    assert lux.mean() == pytest.approx(200_000 / side**2 * per_lamp, rel=0.03)


def test_helsinki_plausible(hel):
    layers, grid = hel
    res = lighting.compute(layers, grid)
    lux = res.values["lamp_lux"]
    share = np.nanmean(lux > 1)
    assert 0.2 < share < 1.0
    assert np.nanmax(lux) < 200  # a few overlapping lamps, not thousands of lux
    assert (res.layer["lux_mean"].fillna(0) < 2).sum() > 0
    assert (res.layer["lux_min"] <= res.layer["lux_mean"] + 1e-9).all()
    assert res.features.geom_type.eq("Point").all() and len(res.features) == len(layers["lamps"])


def test_sao_paulo_uses_the_lit_tag(tmp_path_factory):
    layers, grid = sao_paulo_layers(tmp_path_factory)
    assert len(layers["lamps"]) == 0
    res = lighting.compute(layers, grid)
    assert any(c.name == "lighting_source" and c.value == "lit tag" for c in res.choices)
    lux = res.values["lamp_lux"]
    assert set(np.unique(lux[np.isfinite(lux)])) <= {0.0, 10.0}
    assert 0.1 < np.isfinite(lux).mean() < 1.0  # cells without a tagged street stay unknown
    assert (res.layer["lit"] == "no").all()  # only lit=no streets are dark by tag
