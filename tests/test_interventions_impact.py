"""Expected prevented incidents: hand calculations, darkness, overlap, Monte Carlo."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from test_interventions_fixtures import (
    cell_centre,
    cost_row,
    dark_segments,
    evidence_row,
    make_analysis,
    make_grid,
    make_points,
    random_model,
    write_library,
)

from hotspot_env.errors import InputError
from hotspot_env.interventions import stage
from hotspot_env.interventions.baseline import build_baseline
from hotspot_env.interventions.candidate_table import empty_candidates
from hotspot_env.interventions.candidates import finalise
from hotspot_env.interventions.evidence import load_library
from hotspot_env.interventions.impact import build_impact, effect_draws
from hotspot_env.interventions.strata import evidence_windows, map_categories

NIGHT = "2021-01-15 00:00"  # midnight at 15 E, 60 N: dark
NOON = "2021-06-15 11:00"  # local noon in June: day


def _one_cell(times, categories=None, forecast=10.0):
    """Forecast ``forecast`` in cell (5, 5) and one incident per time there."""
    grid = make_grid()
    f = np.zeros(grid.shape)
    f[5, 5] = forecast
    cats = categories or ["theft"] * len(times)
    pts = make_points(grid, [(5, 5)] * len(times), cats, times)
    return grid, f, pts


def _candidates(grid, items):
    """Candidate table from ``[(type, geometry), ...]``, finalised (ids, sorted)."""
    import geopandas as gpd
    import pandas as pd

    frame = empty_candidates(grid.crs)
    rows = [{"type": t, "quantity": 1.0, "source": "test", "note": "", "location": "here"}
            for t, _ in items]
    frame = gpd.GeoDataFrame(pd.DataFrame(rows), geometry=[g for _, g in items], crs=grid.crs)
    for col in empty_candidates(grid.crs).columns:
        if col not in frame:
            frame[col] = np.nan
    cands, _ = finalise(frame, grid)
    return cands


def _model(tmp_path, analysis, evidence, costs, items, **kw):
    ev, co = write_library(tmp_path, evidence, costs)
    lib = load_library(ev, co)
    base = build_baseline(analysis, evidence_windows(lib))
    cands = _candidates(analysis.grid, items)
    return cands, build_impact(cands, lib, base, **kw)


def _cover_cell(grid, row=5, col=5):
    """A line through the middle of a cell; with reach 200 m the cell is fully covered."""
    x, y = cell_centre(grid, row, col)
    return shapely.LineString([(x - 10, y), (x + 10, y)])


def test_hand_calculation_lighting_in_darkness(tmp_path):
    # 10 expected incidents/yr, 6 of 10 recorded after dark, RR 0.8 -> 10 x 0.6 x 0.2 = 1.2
    grid, f, pts = _one_cell([NIGHT] * 6 + [NOON] * 4)
    analysis = make_analysis(f, pts, {"lighting": dark_segments([_cover_cell(grid)], [0.0])})
    ev, co = write_library(tmp_path, [evidence_row("new_streetlight", hours="dark", rr=0.8,
                                                   reach=200)],
                           [cost_row("new_streetlight", "lamp", 100)])
    stage(analysis, budget=1000, evidence_path=ev, costs_path=co)
    table = analysis.interventions.table()
    assert len(table) == 1
    row = table.iloc[0]
    assert row["prevented_point"] == pytest.approx(1.2)
    assert row["prevented_mean"] == pytest.approx(1.2)  # CI is the point: no uncertainty
    assert row["prevented_lo"] == pytest.approx(1.2)
    assert bool(row["selected"])
    assert "60 % of the expected incidents here happen after dark" in row["reason"]


def test_lighting_prevents_nothing_without_darkness(tmp_path):
    grid, f, pts = _one_cell([NOON] * 5)
    analysis = make_analysis(f, pts)
    cands, model = _model(tmp_path, analysis,
                          [evidence_row("new_streetlight", hours="dark", rr=0.5, reach=200)],
                          [cost_row("new_streetlight")],
                          [("new_streetlight", _cover_cell(grid))])
    assert model.standalone()["mean"][0] == 0.0
    assert model.baseline_covered[0] == 0.0
    assert model.portfolio_prevented(model.ids).mean == 0.0


def test_unknown_times_take_the_cells_timed_share(tmp_path):
    # 2 timed incidents, both dark; 8 without a time -> all 10 count as dark (cell's timed share)
    grid, f, pts = _one_cell([NIGHT] * 2 + [None] * 8)
    analysis = make_analysis(f, pts)
    _, model = _model(tmp_path, analysis,
                      [evidence_row("new_streetlight", hours="dark", rr=0.8, reach=200)],
                      [cost_row("new_streetlight")], [("new_streetlight", _cover_cell(grid))])
    assert model.standalone()["point"][0] == pytest.approx(10 * 1.0 * 0.2)


def test_evidence_categories_restrict_the_baseline(tmp_path):
    # greening acts on gun violence only: 3 of 10 incidents are shootings
    grid, f, pts = _one_cell([NOON] * 10, ["shooting"] * 3 + ["theft"] * 7)
    analysis = make_analysis(f, pts)
    _, model = _model(tmp_path, analysis,
                      [evidence_row("vacant_lot_greening", categories="gun_violence", rr=0.9,
                                    reach=200)],
                      [cost_row("vacant_lot_greening", "lot")],
                      [("vacant_lot_greening", _cover_cell(grid))])
    assert model.standalone()["point"][0] == pytest.approx(10 * 0.3 * 0.1)


def test_overlap_combines_multiplicatively_never_double_counts(tmp_path):
    # two candidates reaching the same cell with 10 incidents: RR 0.8 and 0.9
    grid, f, pts = _one_cell([NOON] * 10)
    analysis = make_analysis(f, pts)
    x, y = cell_centre(grid, 5, 5)
    cands, model = _model(
        tmp_path, analysis,
        [evidence_row("vacant_lot_cleanup", rr=0.8, reach=200),
         evidence_row("sightline_clearing", rr=0.9, reach=200)],
        [cost_row("vacant_lot_cleanup"), cost_row("sightline_clearing")],
        [("vacant_lot_cleanup", shapely.Point(x, y)),
         ("sightline_clearing", shapely.Point(x + 5, y))])
    alone = model.standalone()["mean"]
    assert sorted(alone) == pytest.approx([1.0, 2.0])
    joint = model.portfolio_prevented(model.ids)
    assert joint.mean == pytest.approx(10 * (1 - 0.8 * 0.9))  # 2.8, not 3.0
    assert joint.additive == pytest.approx(3.0)
    assert model.expected_value(np.ones(2, dtype=bool)) == pytest.approx(2.8)


def test_diffusion_ring_adds_its_share(tmp_path):
    # alley gating with diffusion 0.25 over reach..2 reach: cover = direct + 0.25 x ring
    grid, f, pts = _one_cell([NOON] * 4, ["burglary"] * 4, forecast=4.0)
    analysis = make_analysis(f, pts)
    x, y = cell_centre(grid, 5, 5)
    point = shapely.Point(x + 80, y)  # 30 m east of the cell's east edge
    _, model = _model(tmp_path, analysis,
                      [evidence_row("alley_gating", categories="burglary", rr=0.6, reach=40,
                                    displacement="diffusion", diffusion=0.25)],
                      [cost_row("alley_gating")], [("alley_gating", point)])
    box = shapely.box(x - 50, y - 50, x + 50, y + 50)
    direct = shapely.area(shapely.intersection(point.buffer(40, quad_segs=8), box)) / 1e4
    outer = shapely.area(shapely.intersection(point.buffer(80, quad_segs=8), box)) / 1e4
    expected = 4 * (direct + 0.25 * (outer - direct)) * 0.4
    assert expected > 4 * direct * 0.4  # the ring adds something
    assert model.standalone()["point"][0] == pytest.approx(expected, rel=1e-9)


def test_monte_carlo_is_seeded_with_at_least_1000_draws(tmp_path):
    lib = load_library()
    rows = lib.evidence
    a = effect_draws(rows, seed=7)
    b = effect_draws(rows, seed=7)
    c = effect_draws(rows, seed=8)
    assert a.shape == (len(rows), 2000)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    with pytest.raises(InputError, match="1000"):
        effect_draws(rows, n_draws=999)
    # the draws reproduce the CI: 2.5th/97.5th percentiles of RR near ci_low/ci_high
    rr = 1 - effect_draws(rows, n_draws=200_000, seed=1)
    lo, hi = np.percentile(rr, [2.5, 97.5], axis=1)
    assert lo == pytest.approx(rows["ci_low"].to_numpy(), rel=0.02)
    assert hi == pytest.approx(rows["ci_high"].to_numpy(), rel=0.02)


def test_intervals_contain_the_mean_and_portfolios_never_exceed_the_sum():
    model = random_model(40, 60, 8, seed=3)
    stats = model.standalone()
    assert (stats["lo"] <= stats["mean"]).all()
    assert (stats["mean"] <= stats["hi"]).all()
    assert (stats["lo"] < stats["hi"]).all()
    rng = np.random.default_rng(0)
    for _ in range(5):
        mask = rng.random(model.n) < 0.5
        joint = model.portfolio_prevented(mask)
        assert joint.lo <= joint.mean <= joint.hi
        assert joint.mean <= joint.additive + 1e-12  # overlap never adds
        assert joint.mean >= stats["mean"][mask].max() - 1e-12
        # never more than every incident in the groups reached
        reached = np.unique(model.entry_group[mask[model.entry_cand]])
        assert joint.mean <= model.group_base[reached].sum()


def test_category_keywords():
    groups = map_categories(["Shooting", "ASSAULT", "theft from vehicle", "Burglary", None, "",
                             "arson", "fraud"])
    from hotspot_env.interventions.strata import CATEGORY_GROUPS as G

    assert [G[g] if g >= 0 else None for g in groups] == [
        "gun_violence", "violence", "theft", "burglary", None, None, "vandalism", "other"]


def test_kde_fallback_and_public_mode_window(tmp_path):
    grid, f, pts = _one_cell([NIGHT] * 6 + [NOON] * 4)
    analysis = make_analysis(f, pts)
    del analysis.arrays["forecast"]  # kde (per km² per year) x cell area is the baseline
    lib = load_library()
    base = build_baseline(analysis, evidence_windows(lib))
    assert base.baseline[5, 5] == pytest.approx(10.0)
    assert "KDE" in base.notes["baseline_source"]
    assert base.notes["share_window_cells"] == 1
    analysis.parameters.update(privacy="public", bandwidth_m=250.0)
    public = build_baseline(analysis, evidence_windows(lib))
    assert public.notes["share_window_cells"] == 3  # 250 m / 100 m cells, rounded up
