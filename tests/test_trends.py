"""Emerging hot spots, Mann-Kendall, exact Gi* p-values, change test and the trends stage."""

from __future__ import annotations

import itertools
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pymannkendall
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal
from pyproj import CRS
from scipy import stats

from hotspot_env.core.grid import Grid
from hotspot_env.core.hotspots import box_sum, gi_star
from hotspot_env.temporal import trends
from hotspot_env.temporal.timesteps import step_start
from hotspot_env.temporal.trends.exact_pvalues import bh_by_key

OFF, HOT, COLD = 0, 1, 2
T = 12


# ------------------------------------------------------------ Mann-Kendall
@pytest.mark.parametrize("seed", range(6))
def test_mann_kendall_matches_pymannkendall(seed):
    rng = np.random.default_rng(seed)
    series = [rng.normal(size=15), rng.poisson(1.2, 24).astype(float),  # many ties
              np.cumsum(rng.normal(size=11)), rng.integers(0, 3, 30).astype(float),
              np.r_[rng.normal(size=10), np.zeros(5)]]
    for x in series:
        ref = pymannkendall.original_test(x)
        ours = trends.mann_kendall(x)
        assert ours.s[0] == ref.s
        assert abs(ours.var_s[0] - ref.var_s) < 1e-9
        assert abs(ours.z[0] - ref.z) < 1e-9
        assert abs(ours.p[0] - ref.p) < 1e-9
        assert abs(ours.tau[0] - ref.Tau) < 1e-9


def test_mann_kendall_vectorised_rows_equal_single_rows():
    rng = np.random.default_rng(3)
    x = rng.poisson(2, (50, 20)).astype(float)
    many = trends.mann_kendall(x)
    for i in (0, 17, 49):
        one = trends.mann_kendall(x[i])
        assert many.s[i] == one.s[0] and many.p[i] == one.p[0]


# ------------------------------------------------------- exact p-values
def test_randomisation_pvalues_equal_full_enumeration():
    values = np.array([0, 0, 0, 1, 0, 2, 0, 1, 3, 0])
    n = values.size
    for w in (1, 3, 4):
        sums = np.array([sum(c) for c in itertools.combinations(values, w)])
        for observed in range(0, 7):
            upper = (sums >= observed).mean()
            lower = (sums <= observed).mean()
            expected = min(1.0, 2 * min(upper, lower))
            got = trends.randomisation_pvalues(values, np.array([observed]), np.array([w]))[0]
            assert got == pytest.approx(expected, abs=1e-12), (w, observed)
    assert math.comb(n, 4) == 210  # the enumeration above is exhaustive


def test_exact_p_agrees_with_permutations_on_a_grid():
    grid = Grid.from_area(shapely.box(0, 0, 1000, 1000), CRS("EPSG:32635"), 100)
    rng = np.random.default_rng(0)
    y = rng.poisson(0.4, grid.shape)
    y[4:7, 4:7] += 2
    values = y[grid.mask]
    local = np.rint(box_sum(y.astype(float))[grid.mask]).astype(int)
    card = np.rint(box_sum(grid.mask.astype(float))[grid.mask]).astype(int)
    exact = trends.randomisation_pvalues(values, local, card)
    # Monte Carlo: shuffle the values over the cells (total randomisation)
    sims = np.empty((20000, values.size))
    for k in range(sims.shape[0]):
        shuffled = np.zeros(grid.shape)
        shuffled[grid.mask] = rng.permutation(values)
        sims[k] = box_sum(shuffled)[grid.mask]
    upper = (sims >= local).mean(axis=0)
    lower = (sims <= local).mean(axis=0)
    mc = np.minimum(1, 2 * np.minimum(upper, lower))
    np.testing.assert_allclose(exact, mc, atol=0.03)  # 5 Monte Carlo SE


def test_single_incident_is_not_a_hot_spot_with_exact_p():
    grid = Grid.from_area(shapely.box(0, 0, 5000, 5000), CRS("EPSG:32635"), 100)
    counts = np.zeros((grid.n_cells, 1), dtype=np.int64)
    counts[1234, 0] = 1
    assert not trends.cube_gi(grid, counts, significance="exact").hot.any()
    # the normal approximation calls the neighbourhood of one incident a hot spot
    assert trends.cube_gi(grid, counts, significance="normal").hot.sum() == 9


def test_space_time_gi_equals_explicit_weights():
    grid = Grid.from_area(shapely.Polygon([(0, 0), (700, 0), (700, 500), (0, 600)]),
                          CRS("EPSG:32635"), 100)
    rng = np.random.default_rng(5)
    counts = rng.poisson(1.0, (grid.n_cells, 5))
    res = trends.cube_gi(grid, counts, time_lag=1, significance="normal", alpha=0.05)
    rows, cols = np.nonzero(grid.mask)
    x = counts.T.ravel().astype(float)  # bin (t, i) -> t * n_cells + i
    n = x.size
    mean, std = x.mean(), x.std()
    for t in (0, 3):
        for i in (0, 7, grid.n_cells - 1):
            near = (np.abs(rows - rows[i]) <= 1) & (np.abs(cols - cols[i]) <= 1)
            w = np.zeros((5, grid.n_cells))
            w[max(t - 1, 0):t + 1, near] = 1
            w = w.ravel()
            wsum = w.sum()
            z = ((w * x).sum() - mean * wsum) / (std * np.sqrt((n * wsum - wsum**2) / (n - 1)))
            assert res.z[i, t] == pytest.approx(z, abs=1e-9)


def test_per_slice_z_is_gi_star():
    grid = Grid.from_area(shapely.box(0, 0, 900, 600), CRS("EPSG:32635"), 100)
    rng = np.random.default_rng(1)
    counts = rng.poisson(2.0, (grid.n_cells, 3))
    res = trends.cube_gi(grid, counts)
    full = np.zeros(grid.shape)
    full[grid.mask] = counts[:, 2]
    np.testing.assert_allclose(res.z[:, 2], gi_star(grid, full).z[grid.mask])


# ------------------------------------------------------------- classifier
def _bins(pattern: str) -> tuple[np.ndarray, np.ndarray]:
    """'h' hot, 'c' cold, '.' neither -> boolean hot/cold rows."""
    hot = np.array([[ch == "h" for ch in pattern]])
    cold = np.array([[ch == "c" for ch in pattern]])
    return hot, cold


@pytest.mark.parametrize(("pattern", "trend", "expected"), [
    ("..........h", 0, "new hot spot"),
    (".........hh", 0, "consecutive hot spot"),
    ("hhhhhhhhhhh", 1, "intensifying hot spot"),
    ("hhhhhhhhhhh", 0, "persistent hot spot"),
    ("hhhhhhhhhhh", -1, "diminishing hot spot"),
    (".hhhhhhhhhh", 0, "persistent hot spot"),  # 10 of 11 >= 90 %
    ("..hhhhhhhhh", 0, "consecutive hot spot"),  # 9 of 11 < 90 %
    ("h..h.....hh", 0, "sporadic hot spot"),
    ("...c......h", 0, "oscillating hot spot"),
    ("c.........h", 0, "oscillating hot spot"),  # a prior cold spot wins over "new"
    ("hhhhhhhhhh.", 0, "historical hot spot"),
    ("hhhhhhhhhhc", 0, "oscillating cold spot"),  # the final step decides the family
    ("..........c", 0, "new cold spot"),
    ("cccccccccc.", 0, "historical cold spot"),
    ("ccccccccccc", -1, "intensifying cold spot"),
    ("ccccccccccc", 1, "diminishing cold spot"),
    ("c.c......cc", 0, "sporadic cold spot"),
    ("....h......", 0, "no pattern"),  # not hot at the end, never 90 % hot
    ("...........", 0, "no pattern"),
])
def test_classification_rules(pattern, trend, expected):
    hot, cold = _bins(pattern)
    z = np.array([3.0 * trend])
    p = np.array([0.001 if trend else 0.5])
    assert trends.classify(hot, cold, z, p)[0] == expected


def _planted_cube(seed: int):
    """A cube with every class planted in its own 3 x 3 block (centre cell checked)."""
    sched = {
        "new hot spot": [OFF] * 11 + [HOT],
        "consecutive hot spot": [OFF] * 9 + [HOT] * 3,
        "intensifying hot spot": [HOT] * 12,
        "persistent hot spot": [HOT] * 12,
        "diminishing hot spot": [HOT] * 12,
        "sporadic hot spot": [OFF, HOT, OFF, OFF, HOT, OFF, OFF, HOT, OFF, OFF, OFF, HOT],
        "oscillating hot spot": [OFF, COLD, OFF, OFF, COLD] + [OFF] * 6 + [HOT],
        "historical hot spot": [HOT] * 11 + [OFF],
    }
    for name, states in list(sched.items()):
        sched[name.replace("hot", "cold")] = [{OFF: OFF, HOT: COLD, COLD: HOT}[s]
                                              for s in states]
    sched["no pattern"] = [OFF] * T
    names = list(sched)
    per_row = math.ceil(math.sqrt(len(names)))
    side = per_row * 8 + 4
    grid = Grid.from_area(shapely.box(0, 0, side * 100, side * 100), CRS("EPSG:32635"), 100)
    rng = np.random.default_rng(seed)
    base = 6.0
    cube = rng.poisson(base, (T, *grid.shape)).astype(float)
    ramp = np.linspace(0.0, 1.0, T)
    centres = {}
    for i, name in enumerate(names):
        r0, c0 = 3 + (i // per_row) * 8, 3 + (i % per_row) * 8
        centres[name] = (r0 + 1, c0 + 1)
        for t, state in enumerate(sched[name]):
            if state == HOT:
                lift = {"intensifying": 4 + 16 * ramp[t],
                        "diminishing": 22 - 12 * ramp[t]}.get(name.split()[0], 10)
                cube[t, r0:r0 + 3, c0:c0 + 3] = rng.poisson(base + lift, (3, 3))
            elif state == COLD:
                mean = {"intensifying": 2.5 * (1 - ramp[t]),
                        "diminishing": 2.5 * ramp[t]}.get(name.split()[0], 0.0)
                cube[t, r0:r0 + 3, c0:c0 + 3] = rng.poisson(mean, (3, 3))
    counts = cube.reshape(T, -1)[:, grid.mask.ravel()].T.astype(np.int64)
    index = np.full(grid.shape, -1)
    index[grid.mask] = np.arange(grid.n_cells)
    return grid, counts, {name: index[rc] for name, rc in centres.items()}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_planted_classes_are_recovered(seed):
    grid, counts, cells = _planted_cube(seed)
    result = trends.emerging_hot_spots(grid, counts)
    got = {name: result.trend_class[i] for name, i in cells.items()}
    assert got == {name: name for name in cells}
    assert len(cells) == len(trends.CLASSES)  # every class, "no pattern" included


def test_planted_classes_with_normal_p_values():
    grid, counts, cells = _planted_cube(3)
    result = trends.emerging_hot_spots(grid, counts, significance="normal")
    assert {n: result.trend_class[i] for n, i in cells.items()} == {n: n for n in cells}


# ---------------------------------------------------------------- change
def test_change_test_hand_built():
    before = np.array([2, 30, 10, 0, 0, 5])
    after = np.array([30, 2, 11, 0, 4, 5])
    res = trends.change_test(before, after, 365, 365)
    assert res.change_class.tolist() == ["increase", "decrease", "no change", "no change",
                                         "no change", "no change"]
    # equal periods: the doubled tail equals scipy's exact two-sided binomial test
    raw = [stats.binomtest(int(a), int(a + b), 0.5).pvalue for a, b in
           zip(after, before, strict=True) if a + b > 0]
    from statsmodels.stats.multitest import multipletests

    np.testing.assert_allclose(res.p[before + after > 0],
                               multipletests(np.array(raw), method="fdr_bh")[1])
    assert res.p[3] == 1.0


def test_change_test_uses_period_lengths():
    # 10 before in 100 days, 10 after in 10 days: a tenfold rate
    res = trends.change_test(np.array([10]), np.array([10]), 100, 10)
    expected = 2 * stats.binom.sf(9, 20, 10 / 110)
    assert res.p[0] == pytest.approx(min(1, expected))
    assert res.change_class[0] == "increase"


def test_bh_adjusted_matches_statsmodels():
    from statsmodels.stats.multitest import multipletests

    from hotspot_env.core.hotspots import bh_adjusted

    p = np.random.default_rng(0).uniform(size=40) ** 3
    np.testing.assert_allclose(bh_adjusted(p), multipletests(p, method="fdr_bh")[1])


# ------------------------------------------------------------- time steps
def test_time_step_rule():
    d = np.datetime64
    assert trends.choose_time_step((d("2020-01-01"), d("2020-04-30")))[0] == "week"
    assert trends.choose_time_step((d("2020-01-01"), d("2021-12-31")))[0] == "month"
    assert trends.choose_time_step((d("2017-01-01"), d("2022-12-31")))[0] == "quarter"
    assert trends.choose_time_step((d("2000-01-01"), d("2020-12-31")))[0] == "year"
    # 2.5 years in quarters would be 10; 2 years in months 24; 8 months -> months (8) -> weeks
    assert trends.choose_time_step((d("2020-01-01"), d("2020-08-31")))[0] == "week"
    assert trends.choose_time_step((d("2020-01-01"), d("2020-01-31")))[0] == "day"


def test_incomplete_edge_steps_are_dropped():
    d = np.datetime64
    steps = trends.complete_steps((d("2020-01-20"), d("2020-12-31")), "month")
    assert step_start(steps, "month")[0] == d("2020-02-01")
    assert len(steps) == 11
    weeks = trends.complete_steps((d("2024-01-01"), d("2024-01-31")), "week")
    assert step_start(weeks, "week").tolist()[0] == d("2024-01-01").item()
    assert len(weeks) == 4  # 29-31 Jan is 3/7 of a week


# ------------------------------------------------------------------ stage
def _analysis_from_points(frame: gpd.GeoDataFrame, **kw):
    from hotspot_env.core.analysis import analyze

    return analyze(frame, bbox=(24.90, 60.15, 24.96, 60.18), cell_size=100, **kw)


def test_no_dates_gives_message_and_no_crash(tmp_path):
    rng = np.random.default_rng(0)
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(rng.uniform(24.91, 24.95, 200),
                                                       rng.uniform(60.16, 60.17, 200)),
                           crs=4326)
    analysis = _analysis_from_points(pts)
    assert not analysis.has_dates
    before = set(analysis.arrays)
    trends.stage(analysis)
    assert analysis.trends_message == trends.TRENDS_MESSAGE
    assert set(analysis.arrays) == before
    assert trends.write_trends(analysis, tmp_path) == {}


def test_stage_with_times_public_mode(tmp_path):
    rng = np.random.default_rng(2)
    n = 3000
    when = (pd.Timestamp("2021-01-01", tz="Europe/Helsinki")
            + pd.to_timedelta(rng.uniform(0, 730, n), unit="D"))
    pts = gpd.GeoDataFrame({"datetime": when.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ"),
                            "category": rng.choice(["assault", "theft"], n)},
                           geometry=gpd.points_from_xy(rng.uniform(24.91, 24.95, n),
                                                       rng.uniform(60.16, 60.17, n)), crs=4326)
    analysis = _analysis_from_points(pts, privacy="public")
    trends.stage(analysis, timezone="Europe/Helsinki")
    info = analysis.trends
    assert info["cube"]["step"] == "month" and info["cube"]["n_steps"] == 24
    assert not info["profiles"].hour_dow.empty
    for name in ("trend_class", "trend_z", "trend_p", "change_before", "change_after",
                 "change_p", "change_class", "timing", "district"):
        assert analysis.arrays[name].shape == analysis.grid.shape
    # the map layer holds exactly the cells with a pattern, as a filter of the whole grid would
    layer = analysis.map_layers["emerging_hot_spots"]
    assert not layer.empty
    assert_geodataframe_equal(layer, _layer_as_whole_grid_filter(analysis))
    assert sum(info["classes"].values()) == analysis.grid.n_cells
    written = trends.write_trends(analysis, tmp_path)
    table = pd.read_csv(written["trends.csv"], dtype=str)
    assert {"cell_id", "trend_class", "trend_z", "trend_p", "change_before", "change_after",
            "change_p", "change_class"} <= set(table.columns)
    assert not {"x", "y", "lon", "lat", "geometry"} & set(table.columns)
    small = table["change_before"].isin([str(k) for k in range(1, 5)])
    assert not small.any()  # public mode: 1-4 shown as <5
    low = {"0", "<5"}
    tiny = ((table["change_before"] == "0") & table["change_after"].isin(low)) | (
        table["change_before"].isin(low) & (table["change_after"] == "0"))  # sum below 5
    assert tiny.any()
    assert table.loc[tiny, "change_p"].isna().all()  # no p-value that would reveal them
    forecast = pd.read_csv(written["demand_forecast.csv"])
    assert list(forecast.columns) == ["district", "week_start", "expected_incidents", "lo80",
                                      "hi80", "top_categories"]
    assert (forecast["lo80"] <= forecast["hi80"]).all()


def _layer_as_whole_grid_filter(analysis) -> gpd.GeoDataFrame:
    arrays = analysis.arrays
    whole = analysis.grid.to_geodataframe({k: arrays[k] for k in ("trend_class", "trend_z",
                                                                  "trend_p")})
    return whole[whole["trend_class"] != trends.NO_PATTERN].reset_index(drop=True)


def test_empty_pattern_layer_keeps_the_column_types():
    rng = np.random.default_rng(12)
    n = 400  # uniform and sparse: no cell has a pattern
    when = pd.Timestamp("2021-01-01", tz="UTC") + pd.to_timedelta(rng.uniform(0, 730, n),
                                                                  unit="D")
    pts = gpd.GeoDataFrame({"datetime": when.strftime("%Y-%m-%dT%H:%M:%SZ")},
                           geometry=gpd.points_from_xy(rng.uniform(24.91, 24.95, n),
                                                       rng.uniform(60.16, 60.17, n)), crs=4326)
    analysis = _analysis_from_points(pts)
    trends.stage(analysis)
    layer = analysis.map_layers["emerging_hot_spots"]
    assert layer.empty and analysis.trends["cube"]["n_steps"] == 24
    assert_geodataframe_equal(layer, _layer_as_whole_grid_filter(analysis))


@pytest.mark.slow
def test_sao_paulo_integration(sao_paulo, tmp_path):
    from hotspot_env.core.analysis import analyze
    from hotspot_env.inputs.io import read_incidents
    from hotspot_env.temporal.profiles import (
        TIMES_UNKNOWN,
        hour_dow_heatmap,
        monthly_chart,
        record_period,
    )

    data = read_incidents(sao_paulo["incidents"])
    period = record_period(data.frame)
    assert period == ["2017-01-01", "2022-12-29"]
    analysis = analyze(data, osm=sao_paulo["osm"])
    trends.stage(analysis, period=period)
    info = analysis.trends
    assert info["cube"]["step"] == "quarter" and info["cube"]["n_steps"] == 24
    assert sum(info["cube"]["incidents_per_step"]) == analysis.counts["incidents_used"]
    # dates without times: the hour profile says so instead of showing midnight
    prof = info["profiles"]
    assert prof.times_known == 0 and prof.hour_dow.empty and prof.message == TIMES_UNKNOWN
    chart = hour_dow_heatmap(prof.hour_dow).to_dict()
    assert "unknown" in str(chart["datasets"]) and chart["mark"]["type"] == "text"
    assert monthly_chart(prof.monthly).to_dict()["mark"]["type"] == "bar"
    assert prof.monthly["incidents"].sum() == analysis.counts["incidents_used"]
    assert (analysis.arrays["timing"][analysis.grid.mask] == "").all()  # no times, no advice
    written = trends.write_trends(analysis, tmp_path)
    assert set(written) == {"trends.csv", "demand_forecast.csv"}
    forecast = pd.read_csv(written["demand_forecast.csv"])
    assert forecast["week_start"].min() == "2023-01-02"
    assert len(forecast) == 8 * len(info["districts"].ids)
    assert info["backtest"]["rmse_model"] < info["backtest"]["rmse_seasonal_naive"]


# -------------------------------------------------------------------- CLI
def _two_years_in_helsinki(path) -> pd.DataFrame:
    """1,500 dated incidents (2021-2022, seed 8) in central Helsinki, written to ``path``."""
    rng = np.random.default_rng(8)
    n = 1500
    days = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 730, n), unit="D")
    table = pd.DataFrame({"lon": rng.uniform(24.91, 24.95, n), "lat": rng.uniform(60.16, 60.17, n),
                          "date": days.strftime("%Y-%m-%d")})
    table.to_csv(path, index=False)
    return table


def test_cli_trends_writes_both_files(tmp_path):
    from typer.testing import CliRunner

    from hotspot_env.cli import app

    table = _two_years_in_helsinki(tmp_path / "incidents.csv")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, [
        "trends", "--incidents", str(tmp_path / "incidents.csv"), "--bbox",
        "24.90,60.15,24.96,60.18", "--cell-size", "100", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "space-time cube: 24 months" in result.output
    assert "times of day are unknown" in result.output
    cells = pd.read_csv(out / "trends.csv")
    assert len(cells) > 0 and not {"lon", "lat", "date"} & set(cells.columns)
    assert len(pd.read_csv(out / "demand_forecast.csv")) == 8 * cells["district"].nunique()

    table.drop(columns="date").to_csv(tmp_path / "undated.csv", index=False)
    result = CliRunner().invoke(app, [
        "trends", "--incidents", str(tmp_path / "undated.csv"), "--out", str(tmp_path / "o2")])
    assert result.exit_code == 2
    assert "time analyses need a date column" in result.output


@pytest.mark.parametrize("epsilon", [None, 1.0])
def test_public_change_counts_are_the_runs_protected_release(tmp_path, epsilon):
    """``change_before``/``after`` are declared counts: the gate publishes the run's one
    protected release (noised once, with ε), never the true counts."""
    from hotspot_env.core.analysis import analyze
    from hotspot_env.outputs.privacy import Kind

    _two_years_in_helsinki(tmp_path / "incidents.csv")
    analysis = analyze(tmp_path / "incidents.csv", bbox="24.90,60.15,24.96,60.18",
                       cell_size=100, privacy="public", dp_epsilon=epsilon)
    trends.stage(analysis)
    assert analysis.kinds["change_before"] is Kind.COUNT
    frame = trends.trends_frame(analysis)
    mask = analysis.grid.mask
    for name in ("change_before", "change_after"):
        released = analysis.protection.layers[name]
        assert list(frame[name]) == list(released.text[mask])
        assert set(frame[name]) <= {"0", "<5"} | {str(v) for v in range(5, 1000)}
    true = analysis.arrays["change_before"][mask]
    if epsilon is None:  # suppression only: the shown counts are the true ones
        shown = frame["change_before"] != "<5"
        assert (frame["change_before"][shown].astype(int) == true[shown.to_numpy()]).all()
    else:
        assert analysis.protection.budget.spent["change"] == pytest.approx(1.0 / 4)
        assert analysis.protection.budget.spent["trends_cube"] == pytest.approx(1.0 / 4)


# ------------------------------------------ fast paths equal the reference
def _mann_kendall_lags(x):
    """The lag-by-lag NumPy Mann-Kendall (S and tie term) the compiled loop replaced."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    m, n = x.shape
    s = np.zeros(m)
    equal = np.ones((m, n))
    for k in range(1, n):
        d = x[:, k:] - x[:, :-k]
        s += np.sign(d).sum(axis=1)
        tie = d == 0
        equal[:, k:] += tie
        equal[:, :-k] += tie
    return s, ((equal - 1) * (2 * equal + 5)).sum(axis=1)


def test_mann_kendall_equals_lag_sums_exactly():
    rng = np.random.default_rng(11)
    x = np.vstack([rng.poisson(0.7, (300, 24)).astype(float), rng.normal(size=(300, 24)),
                   np.round(rng.normal(size=(300, 24)), 1), np.zeros((2, 24))])
    x[5, 7] = np.nan  # np.sign propagates NaN into S
    s, ties = _mann_kendall_lags(x)
    ours = trends.mann_kendall(x)
    np.testing.assert_array_equal(ours.s, s)
    np.testing.assert_array_equal(ours.var_s, (24 * 23 * 53 - ties) / 18.0)
    assert np.isnan(ours.s[5]) and not np.isnan(ours.s[4])


@pytest.mark.parametrize("q", [0.01, 0.05, 0.5, 1.0])
def test_bh_by_key_equals_sorting_benjamini_hochberg(q):
    from hotspot_env.core.hotspots import benjamini_hochberg

    rng = np.random.default_rng(int(q * 100))
    table = np.r_[rng.uniform(0, 0.02, 30) ** 2, rng.uniform(size=30), 1.0, 1.0, 0.0]
    for _ in range(20):
        key = rng.integers(0, table.size, rng.integers(1, 3000))
        np.testing.assert_array_equal(bh_by_key(table, key, q),
                                      benjamini_hochberg(table[key], q))
    ones = np.zeros(50, dtype=np.int64)  # a slice of p = 1 only
    np.testing.assert_array_equal(bh_by_key(np.ones(1), ones, q),
                                  benjamini_hochberg(np.ones(50), q))


def _cube_gi_slice_by_slice(grid, counts, significance, alpha):
    """Per-slice gi_star, randomisation_pvalues and sorting BH (the reference algorithm)."""
    from hotspot_env.core.hotspots import benjamini_hochberg

    n_cells, n_steps = counts.shape
    z, p = np.zeros(counts.shape), np.ones(counts.shape)
    card = np.rint(box_sum(grid.mask.astype(float))[grid.mask]).astype(np.int64)
    for t in range(n_steps):
        column = counts[:, t]
        if column.sum() <= 0:
            continue
        full = np.zeros(grid.shape)
        full[grid.mask] = column
        gi = gi_star(grid, full)
        z[:, t] = np.nan_to_num(gi.z[grid.mask])
        if significance == "normal":
            p[:, t] = np.nan_to_num(gi.p[grid.mask], nan=1.0)
        else:
            local = np.rint(box_sum(full)[grid.mask]).astype(np.int64)
            p[:, t] = np.nan_to_num(trends.randomisation_pvalues(column, local, card), nan=1.0)
    significant = np.column_stack([benjamini_hochberg(p[:, t], alpha) for t in range(n_steps)])
    return z, p, significant & (z > 0), significant & (z < 0)


@pytest.mark.parametrize("significance", ["exact", "normal"])
def test_cube_gi_equals_slice_by_slice_reference(significance):
    grid = Grid.from_area(shapely.Polygon([(0, 0), (2000, 0), (2000, 1500), (0, 1800)]),
                          CRS("EPSG:32635"), 100)
    rng = np.random.default_rng(4)
    counts = rng.poisson(0.3, (grid.n_cells, 8))
    counts[:40, 2] += 6  # a hot spot
    counts[:, 5] = 0  # a slice without incidents
    res = trends.cube_gi(grid, counts, significance=significance, alpha=0.1)
    z, p, hot, cold = _cube_gi_slice_by_slice(grid, counts, significance, 0.1)
    np.testing.assert_array_equal(res.z, z)  # same operations in the same order
    np.testing.assert_array_equal(res.p, p)
    np.testing.assert_array_equal(res.hot, hot)
    np.testing.assert_array_equal(res.cold, cold)
    assert hot.any()


def test_space_time_exact_p_equals_whole_cube_reference():
    from hotspot_env.core.hotspots import benjamini_hochberg

    grid = Grid.from_area(shapely.box(0, 0, 1200, 900), CRS("EPSG:32635"), 100)
    rng = np.random.default_rng(6)
    counts = rng.poisson(0.8, (grid.n_cells, 6))
    counts[10:20, 3:] += 4
    res = trends.cube_gi(grid, counts, time_lag=2, significance="exact", alpha=0.05)
    card = np.rint(box_sum(grid.mask.astype(float))[grid.mask]).astype(np.int64)
    local = np.column_stack([np.rint(box_sum(_on_grid(grid, c))[grid.mask])
                             for c in counts.T]).astype(np.int64)
    sums = np.column_stack([local[:, max(0, t - 2):t + 1].sum(axis=1) for t in range(6)])
    cards = np.column_stack([card * (t + 1 - max(0, t - 2)) for t in range(6)])
    p = np.nan_to_num(trends.randomisation_pvalues(counts, sums, cards), nan=1.0)
    np.testing.assert_array_equal(res.p, p)
    np.testing.assert_array_equal(res.hot | res.cold,
                                  benjamini_hochberg(p.ravel(), 0.05).reshape(p.shape)
                                  & (res.z != 0))


def _on_grid(grid, values):
    full = np.zeros(grid.shape)
    full[grid.mask] = values
    return full


