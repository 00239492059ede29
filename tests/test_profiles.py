"""Local calendar, districts, profiles (against a pandas groupby), charts and work timing."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import CRS

from hotspot_env.core.grid import Grid
from hotspot_env.temporal import profiles
from hotspot_env.temporal.work_timing import work_timing


def _points(stamps_utc: pd.Series, known: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"datetime": stamps_utc, "time_known": known})


# ---------------------------------------------------------------- calendar
@pytest.mark.parametrize("zone", ["Europe/Helsinki", "America/Sao_Paulo", "UTC",
                                  "Asia/Kolkata", "Asia/Tokyo", "America/Los_Angeles"])
def test_date_only_records_keep_their_local_date(zone):
    local_dates = pd.to_datetime(["2022-01-01", "2022-03-27", "2022-07-15", "2022-10-30"])
    stamps = pd.Series(local_dates.tz_localize(zone).tz_convert("UTC"))
    cal = profiles.local_calendar(_points(stamps, np.zeros(4, bool)), "UTC")
    assert cal.date.tolist() == local_dates.to_numpy().astype("datetime64[D]").tolist()
    assert (cal.hour == -1).all()
    assert cal.dow.tolist() == [5, 6, 4, 6]  # Sat, Sun, Fri, Sun


def test_timed_records_use_the_local_clock():
    stamps = pd.Series(pd.to_datetime(["2022-06-30T22:30:00Z", "2022-01-15T05:10:00Z"]))
    cal = profiles.local_calendar(_points(stamps, np.array([True, True])), "Europe/Helsinki")
    assert cal.hour.tolist() == [1, 7]  # UTC+3 in summer, UTC+2 in winter
    assert cal.date.astype(str).tolist() == ["2022-07-01", "2022-01-15"]
    assert cal.month.tolist() == [7, 1]


def test_months_observed():
    obs = profiles.months_observed((np.datetime64("2020-01-15"), np.datetime64("2021-03-31")))
    assert obs[0] == pytest.approx(1 + 17 / 31)
    assert obs[1] == pytest.approx(2.0) and obs[2] == pytest.approx(2.0)
    assert obs[3] == pytest.approx(1.0)


# --------------------------------------------------------------- districts
def test_grid_districts_ids_are_stable_and_start_north_west():
    area = shapely.box(0, 0, 4000, 3000)
    grid = Grid.from_area(area, CRS("EPSG:32635"), 100)
    d1, choice = profiles.grid_districts(grid)
    d2, _ = profiles.grid_districts(Grid.from_area(area, CRS("EPSG:32635"), 100))
    assert d1.ids == d2.ids and (d1.index == d2.index).all()
    assert d1.labels[0, 0] == "D01" and d1.labels[-1, -1] == d1.ids[-1]
    assert len(d1.ids) == 12  # 4 x 3 blocks of 10 x 10 cells
    assert "10 x 10" in choice.rule


def test_grid_districts_grow_on_large_grids():
    grid = Grid.from_area(shapely.box(0, 0, 20000, 20000), CRS("EPSG:32635"), 100)
    d, _ = profiles.grid_districts(grid)
    assert len(d.ids) <= profiles.MAX_DISTRICTS
    assert d.ids[0] == "D01"


def test_boundary_districts():
    grid = Grid.from_area(shapely.box(0, 0, 1000, 1000), CRS("EPSG:32635"), 100)
    polys = gpd.GeoDataFrame({"name": ["west", "east"]},
                             geometry=[shapely.box(0, 0, 500, 1000),
                                       shapely.box(500, 0, 1000, 1000)], crs="EPSG:32635")
    d, _ = profiles.boundary_districts(grid, polys, "name")
    assert d.ids == ["west", "east"]
    assert (d.labels[:, :5] == "west").all() and (d.labels[:, 5:] == "east").all()


def test_hotspot_areas_numbered_by_incidents():
    grid = Grid.from_area(shapely.box(0, 0, 1000, 1000), CRS("EPSG:32635"), 100)
    gi_bin = np.zeros(grid.shape)
    counts = np.zeros(grid.shape)
    gi_bin[1:3, 1:3] = 3
    counts[1:3, 1:3] = 1
    gi_bin[6:8, 6:9] = 2
    counts[6:8, 6:9] = 5
    areas = profiles.hotspot_areas(grid, gi_bin, counts)
    assert areas.ids == ["H01", "H02"]
    assert areas.labels[6, 6] == "H01" and areas.labels[1, 1] == "H02"
    assert areas.labels[0, 0] == ""


# ------------------------------------------------------------- profiles
def _synthetic(seed: int = 0, n: int = 3000):
    rng = np.random.default_rng(seed)
    local = (pd.Timestamp("2021-03-01") + pd.to_timedelta(rng.uniform(0, 700, n), unit="D"))
    stamps = pd.Series(local.tz_localize("Europe/Helsinki", ambiguous="NaT",
                                         nonexistent="shift_forward").tz_convert("UTC"))
    known = rng.uniform(size=n) < 0.7
    known[stamps.isna().to_numpy()] = False
    district = rng.integers(-1, 5, n)
    light = rng.choice(["dark", "twilight", "day"], n).astype(object)
    light[~known] = "unknown"
    return stamps, known, district, light


def test_profiles_match_pandas_groupby():
    stamps, known, district, light = _synthetic()
    cal = profiles.local_calendar(_points(stamps, known), "Europe/Helsinki")
    ids = ["D01", "D02", "D03", "D04", "D05"]
    prof = profiles.profiles(cal, district, ids, light, "north")
    local = stamps.dt.tz_convert("Europe/Helsinki")
    ref = pd.DataFrame({"district": district, "dow": local.dt.day_of_week,
                        "hour": local.dt.hour, "month": local.dt.month, "known": known,
                        "light": light})
    ref = ref[ref["district"] >= 0]
    timed = ref[ref["known"]]
    expected = {(f"D0{d + 1}", int(w), int(h)): int(c) for (d, w, h), c in
                timed.groupby(["district", "dow", "hour"]).size().items()}
    got = {(d, int(w), int(h)): int(c) for d, w, h, c in
           prof.hour_dow[["district", "dow", "hour", "incidents"]].itertuples(index=False)
           if c > 0}
    assert got == expected
    # months: every dated incident (timed or not); local dates of date-only rows are rounded
    # (date-only rows: the UTC instant rounded to the nearest day)
    rounded = (stamps + pd.Timedelta(hours=12)).dt.floor("D").dt.month
    ref["month"] = np.where(ref["known"], ref["month"], rounded[ref.index])
    months = {(f"D0{d + 1}", int(m)): int(c) for (d, m), c in
              ref.dropna(subset=["month"]).groupby(["district", "month"]).size().items()}
    got_m = {(d, int(m)): int(c) for d, m, c in
             prof.monthly[["district", "month", "incidents"]].itertuples(index=False) if c > 0}
    assert got_m == months
    dark = timed[timed["light"] == "dark"].groupby("district").size()
    assert prof.darkness["dark"].tolist() == [int(dark.get(i, 0)) for i in range(5)]
    share = prof.darkness["dark"] / prof.darkness["timed"]
    np.testing.assert_allclose(prof.darkness["dark_share"], share)
    assert prof.times_known == len(timed)


def test_profiles_without_times_say_so():
    stamps, _, district, _ = _synthetic(1, 200)
    cal = profiles.local_calendar(_points(stamps, np.zeros(200, bool)), "UTC")
    prof = profiles.profiles(cal, district, ["D01", "D02", "D03", "D04", "D05"])
    assert prof.hour_dow.empty and prof.message == profiles.TIMES_UNKNOWN
    spec = profiles.hour_dow_heatmap(prof.hour_dow).to_dict()
    assert spec["mark"]["type"] == "text"
    assert "unknown" in str(spec["datasets"])
    assert "hour" not in str(spec.get("encoding", {}).get("x", ""))


def test_chart_builders_return_altair_charts():
    import altair as alt

    stamps, known, district, light = _synthetic(2, 500)
    cal = profiles.local_calendar(_points(stamps, known), "Europe/Helsinki")
    prof = profiles.profiles(cal, district, ["D01", "D02", "D03", "D04", "D05"], light)
    heat = profiles.hour_dow_heatmap(prof.hour_dow)
    bars = profiles.monthly_chart(prof.monthly[prof.monthly["district"] == "D02"])
    assert isinstance(heat, alt.Chart) and isinstance(bars, alt.Chart)
    assert heat.to_dict()["mark"]["type"] == "rect"
    data = pd.DataFrame(next(iter(heat.to_dict()["datasets"].values())))
    assert int(data["incidents"].sum()) == prof.times_known
    assert set(data.columns) >= {"day", "hour", "incidents"}  # aggregates only


# ------------------------------------------------------------- work timing
def test_work_timing_texts():
    from hotspot_env.core.analysis import analyze

    rng = np.random.default_rng(4)
    n = 400
    day = np.floor(rng.uniform(0, 730, n))
    # late evening, mostly in the dark half of the year (Helsinki)
    month_bias = rng.uniform(size=n) < 0.8
    day = np.where(month_bias, np.floor(rng.uniform(274, 366, n)) + 365 * (day > 365), day)
    local = (pd.Timestamp("2021-01-01") + pd.to_timedelta(day, unit="D")
             + pd.to_timedelta(rng.uniform(20, 23.9, n), unit="h"))
    stamps = local.tz_localize("Europe/Helsinki", ambiguous="NaT", nonexistent="shift_forward")
    pts = gpd.GeoDataFrame(
        {"datetime": stamps.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")},
        geometry=gpd.points_from_xy(rng.uniform(24.930, 24.934, n),
                                    rng.uniform(60.165, 60.167, n)), crs=4326)
    analysis = analyze(pts, bbox=(24.90, 60.15, 24.96, 60.18), cell_size=100)
    analysis.parameters["timezone"] = "Europe/Helsinki"
    timing = work_timing(analysis)
    assert timing.shape == analysis.grid.shape
    texts = {t for t in timing[analysis.grid.mask] if t}
    assert texts, "a district with 400 late-evening incidents gets advice"
    text = max(texts, key=len)
    assert "order lighting work before September" in text
    assert "most in Oct–Jan" in text
    assert "incidents peak 20–24 h" in text


def test_light_conditions_read_the_cached_classes():
    from hotspot_env.factors.darkness import LIGHT_COLUMN, light_classes

    rng = np.random.default_rng(7)
    n = 300
    stamps = pd.Series(pd.Timestamp("2022-01-01", tz="UTC")
                       + pd.to_timedelta(rng.uniform(0, 365 * 86400, n), unit="s"))
    known = rng.random(n) < 0.8
    pts = gpd.GeoDataFrame(_points(stamps, known),
                           geometry=gpd.points_from_xy(rng.uniform(24.9, 25.0, n),
                                                       rng.uniform(60.1, 60.2, n)), crs=4326)

    def via_light_classes() -> np.ndarray:
        return np.asarray(light_classes(pts)[0], dtype=object)

    computed = profiles.light_conditions(pts)
    np.testing.assert_array_equal(computed, via_light_classes())
    assert set(computed) == {"dark", "twilight", "day", "unknown"}
    assert (computed[~known] == "unknown").all()
    pts[LIGHT_COLUMN] = computed.astype(str)  # as the darkness factor caches them
    cached = profiles.light_conditions(pts)
    assert cached.dtype == object
    np.testing.assert_array_equal(cached, computed)
    np.testing.assert_array_equal(cached, via_light_classes())
    pts[LIGHT_COLUMN] = "stale"
    assert (profiles.light_conditions(pts) == "stale").all()  # the cache is what is read
    pts.loc[0, LIGHT_COLUMN] = None  # an incomplete cache: whatever light_classes makes of it
    np.testing.assert_array_equal(profiles.light_conditions(pts), via_light_classes())
