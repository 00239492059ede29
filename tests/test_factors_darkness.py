"""Tests for hotspot_env.factors.darkness (sun elevation classes, dark share per cell)."""

from __future__ import annotations

import math
import time

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from _factor_data import SAO_PAULO_CSV, box_grid, frame, helsinki, sao_paulo_layers, value_at

from hotspot_env.factors import darkness

HEL_LON, HEL_LAT = 24.94, 60.17


@pytest.fixture(scope="module")
def hel(tmp_path_factory):
    return helsinki(tmp_path_factory)


def noaa_elevation(lon: float, lat: float, when: str) -> float:
    """Geometric sun elevation (deg) from NOAA's "General Solar Position Calculations".

    An independent implementation (Spencer-series declination and equation of
    time, accurate to ~0.2 deg) to check astral against; no refraction.
    """
    t = pd.Timestamp(when)
    hours = t.hour + t.minute / 60 + t.second / 3600
    g = 2 * math.pi / 365 * (t.day_of_year - 1 + (hours - 12) / 24)
    eqtime = 229.18 * (0.000075 + 0.001868 * math.cos(g) - 0.032077 * math.sin(g)
                       - 0.014615 * math.cos(2 * g) - 0.040849 * math.sin(2 * g))
    decl = (0.006918 - 0.399912 * math.cos(g) + 0.070257 * math.sin(g)
            - 0.006758 * math.cos(2 * g) + 0.000907 * math.sin(2 * g)
            - 0.002697 * math.cos(3 * g) + 0.00148 * math.sin(3 * g))
    true_solar_min = hours * 60 + eqtime + 4 * lon
    hour_angle = math.radians(true_solar_min / 4 - 180)
    phi = math.radians(lat)
    cos_zenith = (math.sin(phi) * math.sin(decl)
                  + math.cos(phi) * math.cos(decl) * math.cos(hour_angle))
    return 90 - math.degrees(math.acos(cos_zenith))


@pytest.mark.parametrize("when", ["2023-12-21 10:19", "2023-12-21 12:00", "2023-06-21 22:00",
                                  "2023-06-21 10:00", "2023-03-20 15:30"])
def test_elevation_matches_noaa(when):
    got = darkness.sun_elevation([HEL_LON], [HEL_LAT], pd.to_datetime([when]))[0]
    assert got == pytest.approx(noaa_elevation(HEL_LON, HEL_LAT, when), abs=0.5)


def test_elevation_matches_hand_culminations():
    # Winter solstice, solar noon (~10:19 UTC at 24.94 E): 90 - 60.17 - 23.44 = 6.39 deg.
    noon = darkness.sun_elevation([HEL_LON], [HEL_LAT], pd.to_datetime(["2023-12-21 10:19"]))[0]
    assert noon == pytest.approx(90 - HEL_LAT - 23.44, abs=0.5)
    # Summer solstice, solar midnight (~22:21 UTC): -(90 - 60.17 - 23.44) = -6.39 deg.
    night = darkness.sun_elevation([HEL_LON], [HEL_LAT], pd.to_datetime(["2023-06-21 22:21"]))[0]
    assert night == pytest.approx(-(90 - HEL_LAT - 23.44), abs=0.5)


@pytest.mark.parametrize(("start", "end"), [("2019-01-01", "2023-01-01"),
                                            ("1850-01-01", "2150-01-01")])
def test_vectorised_elevation_equals_astral_everywhere(start, end):
    # The vectorised NOAA split must reproduce astral's own per-call elevation
    # over the globe (pole guard included), every hour of the day and season,
    # for a few years (daily nodes) and for three centuries (sparse nodes).
    import astral
    import astral.sun

    rng = np.random.default_rng(7)
    n = 1500
    lon, lat = rng.uniform(-180, 180, n), rng.uniform(-89.99, 89.99, n)
    lo, hi = pd.Timestamp(start).value // 10**9, pd.Timestamp(end).value // 10**9
    when = pd.to_datetime(rng.integers(lo, hi, n), unit="s", utc=True)
    got = darkness.sun_elevation(lon, lat, when)
    ref = np.array([astral.sun.elevation(astral.Observer(latitude=a, longitude=o),
                                         t.to_pydatetime())
                    for o, a, t in zip(lon, lat, when, strict=True)])
    assert np.abs(got - ref).max() < 0.005
    assert (got < -6).any() and (got > 60).any()  # the sample spans night and day


def test_classify_light_known_times_and_nat():
    times = pd.to_datetime(["2023-12-21 12:00", "2023-12-21 13:40", "2023-12-21 15:00",
                            "2023-06-21 20:30", "2023-06-21 22:00", None], utc=True)
    got = darkness.classify_light([HEL_LON] * 6, [HEL_LAT] * 6, times)
    # +4.0, -3.0, -11.1, -3.2, -6.2 deg (astral, refraction included), unknown
    assert list(got) == ["day", "twilight", "dark", "twilight", "dark", "unknown"]


def test_timezones_are_converted_and_naive_is_utc():
    naive = pd.to_datetime(["2023-12-21 12:00"])
    local = pd.to_datetime(["2023-12-21 14:00"]).tz_localize("Europe/Helsinki")
    a = darkness.sun_elevation([HEL_LON], [HEL_LAT], naive)
    b = darkness.sun_elevation([HEL_LON], [HEL_LAT], local)
    assert a[0] == pytest.approx(b[0])
    assert a[0] == pytest.approx(4.04, abs=0.05)


def _incidents(times, known=None, xy=((45.0, 45.0),)):
    grid = box_grid(385_000, 6_672_000, 385_100, 6_672_100, 10)
    xy = list(xy) * len(times) if len(xy) == 1 else list(xy)
    pts = [shapely.Point(385_000 + x, 6_672_000 + y) for x, y in xy]
    cols = {"datetime": pd.to_datetime(times, utc=True)}
    if known is not None:
        cols["time_known"] = known
    return grid, frame(pts, **cols)


def test_dark_share_per_cell():
    times = ["2023-12-21 18:00", "2023-12-21 19:00", "2023-12-21 12:00", None,
             "2023-12-21 20:00", "2023-12-21 21:00"]
    xy = [(45, 45)] * 4 + [(85, 85), (85, 85)]
    grid, inc = _incidents(times, known=[True, True, True, True, True, False], xy=xy)
    res = darkness.compute({}, grid, inc)
    share, timed = res.values["dark_share"], res.values["timed_incidents"]
    assert value_at(grid, share, 385_045, 6_672_045) == pytest.approx(2 / 3)
    assert value_at(grid, timed, 385_045, 6_672_045) == 3
    assert value_at(grid, share, 385_085, 6_672_085) == pytest.approx(1.0)  # one timed, dark
    assert value_at(grid, timed, 385_085, 6_672_085) == 1
    assert math.isnan(value_at(grid, share, 385_015, 6_672_015))
    assert value_at(grid, timed, 385_015, 6_672_015) == 0
    assert res.layer is None
    note = next(c for c in res.choices if c.name == "incidents_without_time")
    assert note.value == 2  # the NaT and the time_known=False one


def test_dates_only_are_unknown_never_guessed():
    grid, inc = _incidents(["2023-12-21", "2023-12-22", "2023-06-01"])
    classes, choices = darkness.light_classes(inc)
    assert list(classes) == ["unknown"] * 3
    assert any(c.value == "dates only" for c in choices)
    res = darkness.compute({}, grid, inc)
    assert np.isnan(res.values["dark_share"]).all()


def test_no_incidents_is_not_measured():
    grid = box_grid(0, 0, 100, 100, 10)
    res = darkness.compute({}, grid, None)
    assert np.isnan(res.values["dark_share"]).all()
    assert res.choices[0].value == "not measured"


@pytest.mark.slow
def test_100k_incidents_under_10_seconds():
    rng = np.random.default_rng(0)
    n = 100_000
    start_ns = pd.Timestamp("2017-01-01", tz="UTC").value
    times = pd.to_datetime(rng.integers(start_ns, start_ns + 5 * 365 * 86_400 * 10**9, n), utc=True)
    lon, lat = rng.uniform(-46.7, -46.6, n), rng.uniform(-23.6, -23.5, n)
    start = time.process_time()  # CPU time: other processes on the machine do not count
    classes = darkness.classify_light(lon, lat, times)
    assert time.process_time() - start < 10.0
    # Near the equator about 47% of random moments are after civil dusk or before dawn.
    assert 0.40 < np.mean(classes == "dark") < 0.55


def test_helsinki_incidents(hel):
    layers, grid = hel
    rng = np.random.default_rng(1)
    pts = layers["streets"].geometry.sample(500, random_state=1).centroid.to_numpy()
    hours = rng.integers(0, 24, 500)
    times = pd.Timestamp("2023-01-15", tz="UTC") + pd.to_timedelta(hours, unit="h")
    inc = frame(pts, crs=grid.crs, datetime=times, time_known=[True] * 500)
    res = darkness.compute(layers, grid, inc)
    share = res.values["dark_share"]
    # Mid-January in Helsinki: ~6 h of daylight and ~2 h of twilight, so most hours are dark.
    overall = np.nansum(share * res.values["timed_incidents"]) / np.nansum(
        res.values["timed_incidents"])
    assert 0.55 < overall < 0.8
    assert np.nanmin(share) >= 0 and np.nanmax(share) <= 1


def test_sao_paulo_dates_are_never_guessed(tmp_path_factory):
    layers, grid = sao_paulo_layers(tmp_path_factory)
    table = pd.read_csv(SAO_PAULO_CSV)
    inc = gpd.GeoDataFrame({"datetime": pd.to_datetime(table["date"])},
                           geometry=gpd.points_from_xy(table["lon"], table["lat"]),
                           crs="EPSG:4326").to_crs(grid.crs)
    res = darkness.compute(layers, grid, inc)
    assert np.isnan(res.values["dark_share"]).all()
    assert np.nansum(res.values["timed_incidents"]) == 0
    assert next(c for c in res.choices if c.name == "incidents_without_time").value == len(table)
