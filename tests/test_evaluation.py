"""Did it work? The estimator, the displacement quotient, the prior update, and recovery of
planted effects on simulated cities (everything here is simulated)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import shapely
import statsmodels.api as sm

from hotspot_env.evaluation.did import assign_nearest, month_index, outcome_for
from hotspot_env.evaluation.estimation import Estimate, did_poisson, fe_poisson, update_prior, wdq
from hotspot_env.inputs.synth_treatment import recovery_table, simulate_treated_city
from hotspot_env.interventions.evidence import load_library


def _panel(seed: int, n_units: int = 24, n_periods: int = 6, groups: int = 1):
    rng = np.random.default_rng(seed)
    unit = np.repeat(np.arange(n_units), n_periods)
    period = np.tile(np.arange(n_periods), n_units)
    group = unit % groups
    treat = ((unit < n_units // 3) & (period >= n_periods // 2)).astype(float)
    ring = ((unit >= n_units // 3) & (unit < n_units // 2)
            & (period >= n_periods // 2)).astype(float)
    exposure = rng.integers(5, 40, unit.size).astype(float)
    eta = (rng.normal(1, 0.5, n_units)[unit] + 0.1 * period * (1 + group) - 0.4 * treat
           + 0.2 * ring + rng.normal(0, 0.3, unit.size))
    y = rng.poisson(np.exp(eta)).astype(float)
    return y, np.column_stack([treat, ring]), unit, period, group, exposure


def test_fe_poisson_equals_statsmodels_glm_with_dummies():
    """Profiling out the place effects gives statsmodels' full-dummy GLM, SEs included."""
    y, x, unit, period, _, _ = _panel(1)
    params, cov, groups = fe_poisson(y, x, unit, period)
    design = np.column_stack([x, np.eye(unit.max() + 1)[unit], np.eye(period.max() + 1)[period][
        :, 1:]])
    ref = sm.GLM(y, design, family=sm.families.Poisson()).fit(
        cov_type="cluster", cov_kwds={"groups": unit})
    assert groups == unit.max() + 1
    np.testing.assert_allclose(params, ref.params[:2], rtol=1e-7)
    np.testing.assert_allclose(np.sqrt(np.diag(cov)), ref.bse[:2], rtol=1e-6)


def test_fe_poisson_with_offset_and_period_effects_per_group():
    """Exposure offsets and one set of period effects per group (pooled types) match too."""
    y, x, unit, period, group, exposure = _panel(2, n_units=30, groups=2)
    n_t = period.max() + 1
    gp = group * n_t + period  # period effects per group
    params, cov, _ = fe_poisson(y, x, unit, gp, np.log(exposure), base_periods=(0, n_t))
    dummies = np.eye(2 * n_t)[gp][:, [c for c in range(2 * n_t) if c not in (0, n_t)]]
    design = np.column_stack([x, np.eye(unit.max() + 1)[unit], dummies])
    ref = sm.GLM(y, design, family=sm.families.Poisson(), offset=np.log(exposure)).fit(
        cov_type="cluster", cov_kwds={"groups": unit})
    np.testing.assert_allclose(params, ref.params[:2], rtol=1e-7)
    np.testing.assert_allclose(np.sqrt(np.diag(cov)), ref.bse[:2], rtol=1e-6)


def test_two_period_did_is_the_ratio_of_ratios():
    """With two periods, the Poisson FE estimate is (Ta/Tb) / (Ca/Cb) of the group totals."""
    counts = {"t1": (30, 12), "t2": (20, 11), "c1": (40, 38), "c2": (25, 30), "c3": (10, 9)}
    rows = []
    for unit, (before, after) in counts.items():
        for period, y in ((0, before), (1, after)):
            rows.append({"unit": unit, "period": period, "y": y,
                         "treated_post": int(unit.startswith("t") and period == 1)})
    est = did_poisson(pd.DataFrame(rows), "y", ("treated_post",))["treated_post"]
    expected = (23 / 50) / (77 / 75)
    assert est.rr == pytest.approx(expected, rel=1e-8)
    assert est.lo < est.rr < est.hi


def test_did_reports_too_few_records_instead_of_guessing():
    rows = [{"unit": u, "period": p, "y": 0 if u == "t" and p == 1 else 5,
             "treated_post": int(u == "t" and p == 1)} for u in "tabc" for p in (0, 1)]
    est = did_poisson(pd.DataFrame(rows), "y", ("treated_post",))["treated_post"]
    assert not est.ok and "too few" in est.note


def test_wdq_by_hand():
    # treated 100 -> 60, ring 80 -> 90, control 200 -> 200 (Bowers & Johnson 2003)
    assert wdq((100, 60), (80, 90), (200, 200)) == pytest.approx((90 / 200 - 80 / 200)
                                                                 / (60 / 200 - 100 / 200))
    assert wdq((100, 60), (80, 90), (200, 200)) == pytest.approx(-0.25)
    assert wdq((100, 60), (80, 60), (200, 200)) == pytest.approx(0.5)  # diffusion: ring -20
    assert math.isnan(wdq((100, 120), (80, 90), (200, 200)))  # no success: undefined


def test_prior_update_by_hand():
    prior = (0.8, 0.6, 0.8 ** 2 / 0.6)  # symmetric on the log scale
    measured = Estimate(0.5, 0.4, 0.625)
    rr, lo, hi = update_prior(prior, measured, weight=0.25, level=0.90)
    s0 = (math.log(prior[2]) - math.log(prior[1])) / (2 * 1.959964)
    s1 = (math.log(0.625) - math.log(0.4)) / (2 * 1.6448536)
    p0, p1 = 1 / s0**2, 0.25 / s1**2
    mean = (p0 * math.log(0.8) + p1 * math.log(0.5)) / (p0 + p1)
    assert rr == pytest.approx(math.exp(mean), rel=1e-6)
    assert hi / rr == pytest.approx(rr / lo, rel=1e-9)
    assert 0.5 < rr < 0.8  # between the two, nearer the prior than an equal-weight mean
    assert update_prior(prior, measured, weight=0.0)[0] == pytest.approx(0.8)


def test_assign_nearest_picks_the_closest_site_within_reach():
    sites = shapely.points([[0, 0], [100, 0]])
    pts = shapely.points([[10, 0], [45, 0], [60, 0], [300, 0], [50, 0]])
    assert assign_nearest(pts, sites, 50.0).tolist() == [0, 0, 1, -1, 0]  # ties: lower index
    assert assign_nearest(pts, sites, 30.0).tolist() == [0, -1, -1, -1, -1]


def test_month_index():
    stamps = pd.Series(pd.to_datetime(["2024-01-31T23:59:00Z", "2024-02-01T00:00:00Z", None],
                                      utc=True))
    assert month_index(stamps).tolist() == [2024 * 12, 2024 * 12 + 1, -1]


def test_outcomes_follow_the_evidence_library():
    library = load_library()
    light = outcome_for("new_streetlight", library)
    assert light.dark_only and light.reach_m == 50
    assert "darkness" in light.describe() and "violence" in light.describe()
    green = outcome_for("vacant_lot_greening", library)
    assert not green.dark_only and "burglary" in green.describe()
    # the pooled prior lies between its rows' rate ratios
    rows = library.evidence[library.evidence["intervention_type"] == "vacant_lot_greening"]
    assert rows["rate_ratio"].min() <= green.prior_rr <= rows["rate_ratio"].max()


def test_planted_effects_are_recovered_on_simulated_cities():
    """Done-when (on 3 seeds; docs/evaluation.md has the 10-seed table)."""
    table = recovery_table([0, 1, 2])
    typed = table[table["type"] != "all"]
    for itype, group in typed.groupby("type"):
        assert group["covered"].sum() >= 2, (itype, group)
        assert group["ring_covered"].sum() >= 2, (itype, group)
        assert group["recording_flag"].all(), (itype, group)
    # the planted effects are real reductions: every interval lies below 1 on the pooled row
    assert (table.loc[table["type"] == "all", "rr_hi"] < 1).all()


def test_no_planted_effect_no_flag():
    """Without effects or a recording change the estimate covers 1 and nothing is flagged."""
    from hotspot_env.evaluation.did import evaluate

    sim = simulate_treated_city(4, rate_ratios={"new_streetlight": 1.0,
                                                "vacant_lot_greening": 1.0},
                                displacement_share=0.0, officer_share_after=0.15)
    result = evaluate(sim.ledger, sim.city.incidents, sim.pool, load_library())
    row = result.table.set_index("type").loc["all"]
    assert row["rr_lo"] <= 1.0 <= row["rr_hi"]
    assert not result.table["recording_flag"].any()
    assert not any("officer-initiated" in w for w in result.warnings)


def test_officer_records_alone_are_refused():
    from hotspot_env.errors import InputError
    from hotspot_env.evaluation.did import evaluate

    sim = simulate_treated_city(0)
    inc = sim.city.incidents.copy()
    inc["source"] = "officer_initiated"
    with pytest.raises(InputError, match="officer-initiated"):
        evaluate(sim.ledger, inc, sim.pool, load_library())


def test_panel_counts_each_incident_once_in_its_place_and_month():
    """Brute-force check of the place x month table (treated, ring, matched control)."""
    from hotspot_env.evaluation.did import _panel

    rng = np.random.default_rng(3)
    n, n_t, first, last = 400, 2, 100, 105
    month = rng.integers(first, last + 1, n)
    month[:5] = -1  # unknown dates are not counted
    site_of = rng.integers(-1, n_t + 3, n)  # treated 0-1, candidates 2-4 (= controls 0-2)
    ring_of = np.where(site_of < 0, rng.integers(-1, n_t, n), -1)
    y = rng.random(n) < 0.5
    panel = _panel("x", month, site_of, ring_of, n_t, np.array([0, 2]), np.array([102, 103]),
                   first, last, {"y": y})
    for rec in panel.itertuples():
        kind, idx = rec.unit.split(":")[1][0], int(rec.unit.split(":")[1][1:])
        where = {"T": site_of == idx, "R": ring_of == idx, "C": site_of == n_t + idx}[kind]
        assert rec.y == int((where & y & (month == rec.period)).sum())
        assert rec.period != rec.start  # the month of the work is left out
    assert set(panel["unit"]) == {"x:T0", "x:T1", "x:R0", "x:R1", "x:C0", "x:C2"}
    post = panel[panel["treated_post"] == 1]
    assert (post["role"] == "treated").all() and (post["period"] > post["start"]).all()


def test_lighting_outcome_leaves_out_known_indoor_records():
    from hotspot_env.evaluation.did import outcome_mask

    light = outcome_for("new_streetlight", load_library())
    frame = pd.DataFrame({"category": ["robbery"] * 4 + ["disorder"],
                          "outdoor": pd.array([True, False, None, True, True], dtype="boolean")})
    dark = np.array(["dark", "dark", "dark", "day", "dark"])
    hours = np.full(5, np.nan)
    assert outcome_mask(frame, light, dark, hours).tolist() == [True, False, True, False, False]
    green = outcome_for("vacant_lot_greening", load_library())  # not lighting: indoors count
    assert outcome_mask(frame.assign(category="burglary"), green, dark, hours).all()
