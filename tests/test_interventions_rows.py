"""Each shipped evidence row acts only on the crime types, hours and places its study covers.

One test per corrected row of ``data/evidence.csv`` (issue 14), each against a hand
calculation: one 100 m cell expects 10 incidents next year, the recorded incidents in
it set the category, darkness and outdoor mix, and the candidate covers the whole cell,
so prevented incidents at the rate ratio's point estimate are
``10 x share of covered incidents x (1 - RR)``.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from test_interventions_fixtures import make_analysis, make_grid, make_points
from test_interventions_impact import _candidates

from hotspot_env.interventions.baseline import DEFAULT_OUTDOOR_SHARE, build_baseline
from hotspot_env.interventions.evidence import load_library
from hotspot_env.interventions.impact import build_impact
from hotspot_env.interventions.strata import evidence_windows

NIGHT = "2021-01-15 00:00"  # midnight in January at 15 E, 60 N: dark
NOON = "2021-06-15 11:00"  # June noon: daylight
FORECAST = 10.0


def _prevented(itype: str, incidents: list[tuple[str, str]], outdoor: list | None = None
               ) -> tuple[float, object]:
    """Point-estimate prevented incidents/year of one candidate covering cell (5, 5).

    ``incidents`` are ``(category, time)`` pairs recorded in that cell; ``outdoor``
    gives the incidents' boolean ``outdoor`` column (None: no such column).
    """
    grid = make_grid()
    forecast = np.zeros(grid.shape)
    forecast[5, 5] = FORECAST
    cats = [c for c, _ in incidents]
    times = [t for _, t in incidents]
    points = make_points(grid, [(5, 5)] * len(incidents), cats, times)
    if outdoor is not None:
        points["outdoor"] = pd_boolean(outdoor)
    analysis = make_analysis(forecast, points)
    library = load_library()
    baseline = build_baseline(analysis, evidence_windows(library))
    x0, y0, _, _ = grid.bounds
    top = grid.bounds[3]
    # the cell itself (row 5 from the north, col 5), so any reach covers it fully
    cell = shapely.box(x0 + 500 + 1, top - 600 + 1, x0 + 600 - 1, top - 500 - 1)
    cands = _candidates(grid, [(itype, cell)])
    model = build_impact(cands, library, baseline, seed=1)
    return float(model.standalone()["point"][0]), baseline


def pd_boolean(values: list) -> object:
    import pandas as pd

    return pd.array(values, dtype="boolean")


def _rr(itype: str, outcome: str) -> float:
    ev = load_library().evidence
    row = ev[(ev["intervention_type"] == itype) & (ev["outcome"] == outcome)]
    assert len(row) == 1, (itype, outcome)
    return float(row["rate_ratio"].iloc[0])


# ---------------------------------------------------------------- street lighting upgrade
def test_streetlight_upgrade_acts_on_property_crime_in_darkness_only():
    rr = _rr("streetlight_upgrade", "property_crime")
    assert rr == pytest.approx(0.86)
    # 6 of 10 thefts in darkness: 10 x 0.6 x 0.14 = 0.84
    got, _ = _prevented("streetlight_upgrade", [("theft", NIGHT)] * 6 + [("theft", NOON)] * 4)
    assert got == pytest.approx(10 * 0.6 * (1 - rr)) == pytest.approx(0.84)
    # half burglaries, half assaults, all at night: only the property half is reduced
    got, _ = _prevented("streetlight_upgrade",
                        [("burglary", NIGHT)] * 5 + [("assault", NIGHT)] * 5)
    assert got == pytest.approx(10 * 0.5 * 0.14)


def test_streetlight_upgrade_claims_nothing_for_violence_or_other_crimes():
    # violence: no significant effect in the review -> RR 1.0, nothing prevented
    assert _rr("streetlight_upgrade", "violent_crime") == 1.0
    got, _ = _prevented("streetlight_upgrade", [("assault", NIGHT)] * 5 + [("robbery", NIGHT)] * 5)
    assert got == pytest.approx(0.0, abs=1e-12)
    # drugs and disorder are not in the review's outcomes
    got, _ = _prevented("streetlight_upgrade", [("drug possession", NIGHT)] * 10)
    assert got == pytest.approx(0.0, abs=1e-12)


# ---------------------------------------------------------------------- new lighting
def test_new_streetlight_acts_on_outdoor_night_crime_by_premise_field():
    rr = _rr("new_streetlight", "night_outdoor_index")
    # 10 night thefts, 4 recorded outdoors: 10 x 0.4 x 0.36 = 1.44
    got, base = _prevented("new_streetlight", [("theft", NIGHT)] * 10,
                           outdoor=[True] * 4 + [False] * 6)
    assert got == pytest.approx(10 * 0.4 * (1 - rr)) == pytest.approx(1.44)
    assert base.notes["outdoor_source"] == "incidents' outdoor column"
    # daytime outdoor thefts: lighting changes nothing
    got, _ = _prevented("new_streetlight", [("theft", NOON)] * 10, outdoor=[True] * 10)
    assert got == pytest.approx(0.0, abs=1e-12)


def test_new_streetlight_never_acts_on_burglary():
    got, _ = _prevented("new_streetlight", [("burglary", NIGHT)] * 10, outdoor=[True] * 10)
    assert got == pytest.approx(0.0, abs=1e-12)


def test_new_streetlight_uses_an_announced_outdoor_share_without_a_premise_field():
    rr = _rr("new_streetlight", "night_outdoor_index")
    got, base = _prevented("new_streetlight", [("robbery", NIGHT)] * 10)
    assert got == pytest.approx(10 * DEFAULT_OUTDOOR_SHARE * (1 - rr))
    choice = [c for c in base.choices if c.name == "outdoor_share"]
    assert len(choice) == 1 and choice[0].value == DEFAULT_OUTDOOR_SHARE
    assert "assumption" in choice[0].rule
    # unknown places (NA) fall back to the known ones: 2 outdoor of 4 known -> 0.5
    got, _ = _prevented("new_streetlight", [("robbery", NIGHT)] * 10,
                        outdoor=[True, True, False, False] + [None] * 6)
    assert got == pytest.approx(10 * 0.5 * (1 - rr))


def test_new_streetlight_reason_states_the_studied_dose():
    ev = load_library().evidence
    caveat = ev.loc[ev["intervention_type"] == "new_streetlight", "caveat"].iloc[0]
    assert "600,000-lumen" in caveat and "burglary" in caveat


# ------------------------------------------------------------------- vacant land
def test_greening_applies_citywide_gun_violence_only():
    rr = _rr("vacant_lot_greening", "gun_violence")
    assert rr == pytest.approx(0.932)
    got, _ = _prevented("vacant_lot_greening", [("shooting", NOON)] * 10)
    assert got == pytest.approx(10 * (1 - rr)) == pytest.approx(0.68)


@pytest.mark.parametrize("category", ["burglary", "public disorder"])
def test_greening_below_poverty_rows_are_not_applied_by_default(category):
    ev = load_library().evidence
    sub = ev[(ev["intervention_type"] == "vacant_lot_greening")
             & (ev["population"] == "below_poverty")]
    assert set(sub["outcome"]) == {"burglary", "nuisance"} and not sub["active"].any()
    got, _ = _prevented("vacant_lot_greening", [(category, NOON)] * 10)
    assert got == pytest.approx(0.0, abs=1e-12)


def test_cleanup_applies_to_gun_violence():
    got, _ = _prevented("vacant_lot_cleanup", [("shooting", NIGHT)] * 10)
    assert got == pytest.approx(10 * (1 - 0.908))


# ---------------------------------------------------------- abandoned buildings
def test_abandoned_building_effect_is_modest_and_its_interval_includes_one():
    ev = load_library().evidence
    row = ev[ev["intervention_type"] == "abandoned_building_remediation"].iloc[0]
    assert 0.91 <= row["rate_ratio"] <= 0.93 and row["ci_high"] > 1.0
    assert "183(1):31-39" in row["citation"]
    assert "Kondo" in row["notes"] and "rose" in row["caveat"]
    got, _ = _prevented("abandoned_building_remediation",
                        [("shooting", NOON)] * 5 + [("theft", NOON)] * 5)
    assert got == pytest.approx(10 * 0.5 * (1 - 0.92))


# ---------------------------------------------------------------- other rows
def test_alley_gating_acts_on_burglary_only():
    got, _ = _prevented("alley_gating", [("burglary", NOON)] * 4 + [("theft", NOON)] * 6)
    # the gate's reach and its diffusion ring both cover the whole cell: cover 1
    assert got == pytest.approx(10 * 0.4 * (1 - 0.63))


def test_busy_streets_interval_is_widened_to_include_no_effect():
    ev = load_library().evidence
    row = ev[ev["intervention_type"] == "busy_streets_maintenance"].iloc[0]
    assert row["design"].startswith("observational") and row["ci_high"] > 1.0
    assert row["ci_low"] <= 0.30
    got, _ = _prevented("busy_streets_maintenance", [("assault", NOON)] * 10)
    assert got == pytest.approx(10 * (1 - 0.6))


@pytest.mark.parametrize("itype", ["youth_space", "sightline_clearing"])
def test_unverified_rows_prevent_nothing_and_are_marked_effect_unknown(itype):
    lib = load_library()
    rows = lib.rows_for(itype)
    assert set(rows["verified"]) == {"unverified"} and not rows["active"].any()
    assert not lib.effect_known(itype)
    got, _ = _prevented(itype, [("robbery", "2021-06-15 14:30")] * 10)
    assert got == pytest.approx(0.0, abs=1e-12)


def test_displacement_citations_are_complete():
    text = (load_library().evidence_path.parents[1] / "docs" / "evidence.md").read_text(
        encoding="utf-8")
    assert "Journal of Experimental Criminology* 7(4)" in text  # Bowers et al. 2011
    assert "*Criminology* 44(3)" in text  # Weisburd et al. 2006
    assert "*Justice Quarterly* 35(1)" in text  # Sidebottom et al. 2018


# ---------------------------------------------------------------------- costs
def test_costs_from_the_studies_and_their_basis():
    lib = load_library()
    costs = lib.costs
    assert costs.loc["vacant_lot_greening", "unit_cost"] == 1597
    assert costs.loc["vacant_lot_greening", "annual_maintenance"] == 180
    # 1,597 over 10 years + 180 a year
    assert lib.annual_unit_cost("vacant_lot_greening") == pytest.approx(159.7 + 180)
    assert costs.loc["abandoned_building_remediation", "unit_cost"] == 5900
    assert lib.cost_basis("vacant_lot_greening") == "published study"
    assert lib.cost_year("abandoned_building_remediation") == "2023"
    assert {lib.cost_basis(t) for t in lib.types} <= {"published study", "city tender",
                                                       "placeholder"}
    assert lib.cost_basis("youth_space") == "placeholder"


def test_a_greening_lot_is_a_row_house_parcel():
    from hotspot_env.interventions.candidates import LOT_UNIT_M2

    # a Philadelphia row-house parcel: about 16 x 100 ft = 149 m2
    assert LOT_UNIT_M2 == pytest.approx(16 * 100 * 0.3048**2, rel=0.05)
