"""Checks on the evidence library (data/evidence.csv) and cost table (data/costs.csv).

The checks live in small ``problems_*`` functions that return a list of human-readable
problems.  Each test asserts that the shipped tables have none, and the ``test_checker_*``
tests feed deliberately broken copies to the same functions to prove they can fail.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
EVIDENCE_CSV = ROOT / "data" / "evidence.csv"
COSTS_CSV = ROOT / "data" / "costs.csv"
EVIDENCE_MD = ROOT / "docs" / "evidence.md"

EVIDENCE_COLUMNS = [
    "intervention_type",
    "outcome",
    "crime_categories",
    "hours",
    "places",
    "population",
    "rate_ratio",
    "ci_low",
    "ci_high",
    "ci_source",
    "reach_m",
    "displacement",
    "diffusion_factor",
    "study",
    "design",
    "citation",
    "doi_or_url",
    "verified",
    "caveat",
    "notes",
]
COST_COLUMNS = [
    "intervention_type",
    "unit",
    "unit_cost",
    "currency",
    "lifetime_years",
    "annual_maintenance",
    "cost_basis",
    "year",
    "source",
    "notes",
]
REQUIRED_TYPES = {
    "streetlight_upgrade",
    "new_streetlight",
    "vacant_lot_greening",
    "vacant_lot_cleanup",
    "abandoned_building_remediation",
    "youth_space",
    "sightline_clearing",
    "alley_gating",
    "busy_streets_maintenance",
}
CATEGORIES = {
    "violence",
    "robbery",
    "burglary",
    "theft",
    "vandalism",
    "drugs",
    "disorder",
    "gun_violence",
}
#: Category pairs that overlap (a shooting is both gun_violence and violence).
OVERLAPPING = {frozenset({"gun_violence", "violence"})}
DISPLACEMENT = {"diffusion", "none", "displacement"}
VERIFIED = {"yes", "partial", "unverified"}
PLACEHOLDER = "placeholder — set local costs"
COST_BASES = {"published study", "city tender", "placeholder"}
SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
HOURS_RANGE = re.compile(r"^(\d{1,2})-(\d{1,2})$")


def is_lighting(intervention_type: str) -> bool:
    """Lighting interventions are recognised by name (``*light*``)."""
    return "light" in intervention_type


def split_categories(value: str) -> list[str]:
    return [part.strip() for part in str(value).split(";")]


def categories_overlap(a: set[str], b: set[str]) -> bool:
    if "all" in a or "all" in b or a & b:
        return True
    return any(frozenset({x, y}) in OVERLAPPING for x in a for y in b)


def blank(value) -> bool:
    return pd.isna(value) or str(value).strip() == ""


def load_evidence() -> pd.DataFrame:
    return pd.read_csv(EVIDENCE_CSV, encoding="utf-8")


def load_costs() -> pd.DataFrame:
    return pd.read_csv(COSTS_CSV, encoding="utf-8")


# --- checkers


def problems_evidence(ev: pd.DataFrame) -> list[str]:
    """Return every problem found in an evidence table."""
    out: list[str] = []
    if list(ev.columns) != EVIDENCE_COLUMNS:
        return [f"columns are {list(ev.columns)}, expected {EVIDENCE_COLUMNS}"]
    if ev.empty:
        return ["evidence table is empty"]

    for col in ["rate_ratio", "ci_low", "ci_high", "reach_m", "diffusion_factor"]:
        values = pd.to_numeric(ev[col], errors="coerce")
        if values.isna().any():
            out.append(
                f"{col}: non-numeric or missing values in rows {list(ev.index[values.isna()])}"
            )
    for col in EVIDENCE_COLUMNS:
        if col != "caveat" and ev[col].map(blank).any():
            out.append(f"{col}: empty values in rows {list(ev.index[ev[col].map(blank)])}")
    if out:
        return out

    rr = ev["rate_ratio"].astype(float)
    lo = ev["ci_low"].astype(float)
    hi = ev["ci_high"].astype(float)
    for i, row in ev.iterrows():
        tag = f"row {i} ({row['intervention_type']}/{row['outcome']})"
        if not SNAKE.match(str(row["intervention_type"])):
            out.append(f"{tag}: intervention_type is not snake_case")
        if not SNAKE.match(str(row["outcome"])):
            out.append(f"{tag}: outcome is not snake_case")
        if not lo[i] > 0:
            out.append(f"{tag}: ci_low must be > 0, got {lo[i]}")
        if not lo[i] <= rr[i] <= hi[i]:
            out.append(f"{tag}: rate_ratio {rr[i]} outside [{lo[i]}, {hi[i]}]")
        if not float(row["reach_m"]) > 0:
            out.append(f"{tag}: reach_m must be > 0")
        if not 0 <= float(row["diffusion_factor"]) <= 1:
            out.append(f"{tag}: diffusion_factor must lie in [0, 1]")
        if row["displacement"] not in DISPLACEMENT:
            out.append(f"{tag}: displacement {row['displacement']!r} not in {sorted(DISPLACEMENT)}")
        if row["verified"] not in VERIFIED:
            out.append(f"{tag}: verified {row['verified']!r} not in {sorted(VERIFIED)}")
        if not str(row["doi_or_url"]).startswith(("https://", "http://")):
            out.append(f"{tag}: doi_or_url must be a resolvable https://doi.org/... or URL")
        cats = split_categories(row["crime_categories"])
        if cats != ["all"] and not set(cats) <= CATEGORIES:
            out.append(f"{tag}: unknown crime categories {sorted(set(cats) - CATEGORIES)}")
        if "all" in cats and len(cats) > 1:
            out.append(f"{tag}: 'all' must stand alone in crime_categories")
        if len(cats) != len(set(cats)):
            out.append(f"{tag}: repeated crime category")
        hours = str(row["hours"])
        match = HOURS_RANGE.match(hours)
        if hours not in {"dark", "all"} and not (
            match and 0 <= int(match[1]) <= 24 and 0 <= int(match[2]) <= 24
        ):
            out.append(f"{tag}: hours {hours!r} is not 'dark', 'all' or 'HH-HH'")
        if is_lighting(str(row["intervention_type"])) and hours != "dark":
            out.append(f"{tag}: lighting rows must have hours='dark' (darkness rule)")

    dupes = ev.duplicated(["intervention_type", "outcome"], keep=False)
    if dupes.any():
        out.append(f"duplicate intervention_type x outcome in rows {list(ev.index[dupes])}")

    # Rows of one intervention must not cover the same incidents twice.
    for itype, group in ev.groupby("intervention_type"):
        rows = [(i, set(split_categories(c))) for i, c in group["crime_categories"].items()]
        for a in range(len(rows)):
            for b in range(a + 1, len(rows)):
                if categories_overlap(rows[a][1], rows[b][1]):
                    out.append(
                        f"{itype}: rows {rows[a][0]} and {rows[b][0]} have overlapping crime "
                        "categories (effects would be double counted)"
                    )

    missing = REQUIRED_TYPES - set(ev["intervention_type"])
    if missing:
        out.append(f"missing intervention types: {sorted(missing)}")
    return out


def problems_costs(costs: pd.DataFrame) -> list[str]:
    """Return every problem found in a cost table."""
    out: list[str] = []
    if list(costs.columns) != COST_COLUMNS:
        return [f"columns are {list(costs.columns)}, expected {COST_COLUMNS}"]
    for col in COST_COLUMNS:
        if col != "year" and costs[col].map(blank).any():
            out.append(f"{col}: empty values in rows {list(costs.index[costs[col].map(blank)])}")
    for col in ["unit_cost", "lifetime_years", "annual_maintenance"]:
        values = pd.to_numeric(costs[col], errors="coerce")
        if values.isna().any():
            out.append(f"{col}: non-numeric values in rows {list(costs.index[values.isna()])}")
    if out:
        return out
    for i, row in costs.iterrows():
        tag = f"row {i} ({row['intervention_type']})"
        if float(row["unit_cost"]) < 0:
            out.append(f"{tag}: unit_cost is negative")
        if float(row["annual_maintenance"]) < 0:
            out.append(f"{tag}: annual_maintenance is negative")
        if not float(row["lifetime_years"]) > 0:
            out.append(f"{tag}: lifetime_years must be > 0")
        if float(row["unit_cost"]) + float(row["annual_maintenance"]) <= 0:
            out.append(f"{tag}: intervention would be free (unit_cost + annual_maintenance = 0)")
        if row["currency"] != "USD":
            out.append(f"{tag}: currency must be USD")
        if not SNAKE.match(str(row["unit"])):
            out.append(f"{tag}: unit should be a short lower-case word")
        if row["cost_basis"] not in COST_BASES:
            out.append(f"{tag}: cost_basis {row['cost_basis']!r} not in {sorted(COST_BASES)}")
        if (row["cost_basis"] != "placeholder" and blank(row["year"])
                and "price year unknown" not in str(row["notes"]).lower()):
            out.append(f"{tag}: a cost from a study or tender needs its price year (or notes "
                       "saying 'price year unknown')")
    dupes = costs["intervention_type"].duplicated(keep=False)
    if dupes.any():
        out.append(f"duplicate intervention_type in rows {list(costs.index[dupes])}")
    return out


def problems_matching(ev: pd.DataFrame, costs: pd.DataFrame) -> list[str]:
    """Every evidence type needs a cost row and every cost row needs evidence."""
    out: list[str] = []
    ev_types, cost_types = set(ev["intervention_type"]), set(costs["intervention_type"])
    if ev_types - cost_types:
        out.append(f"no cost row for: {sorted(ev_types - cost_types)}")
    if cost_types - ev_types:
        out.append(f"no evidence row for: {sorted(cost_types - ev_types)}")
    return out


# --- fixtures


@pytest.fixture(scope="module")
def evidence() -> pd.DataFrame:
    return load_evidence()


@pytest.fixture(scope="module")
def costs() -> pd.DataFrame:
    return load_costs()


# --- tests on the data


def test_evidence_parses_with_required_columns(evidence):
    assert list(evidence.columns) == EVIDENCE_COLUMNS
    assert len(evidence) >= len(REQUIRED_TYPES)
    for col in ["rate_ratio", "ci_low", "ci_high", "reach_m", "diffusion_factor"]:
        assert pd.api.types.is_numeric_dtype(evidence[col]), col


def test_evidence_has_no_problems(evidence):
    assert problems_evidence(evidence) == []


def test_rate_ratio_within_ci_and_ci_positive(evidence):
    assert (evidence["ci_low"] > 0).all()
    assert (evidence["ci_low"] <= evidence["rate_ratio"]).all()
    assert (evidence["rate_ratio"] <= evidence["ci_high"]).all()


def test_lighting_rows_are_dark_only(evidence):
    lighting = evidence[evidence["intervention_type"].map(is_lighting)]
    assert not lighting.empty, "expected lighting interventions in the evidence library"
    assert set(lighting["hours"]) == {"dark"}


def test_verified_values_and_sources(evidence):
    assert set(evidence["verified"]) <= VERIFIED
    assert not evidence["doi_or_url"].map(blank).any()
    # Anything not fully verified must say why.
    unverified = evidence[evidence["verified"] != "yes"]
    assert not unverified["notes"].map(blank).any()


def test_costs_parse_and_are_non_negative(costs):
    assert problems_costs(costs) == []
    assert (costs["unit_cost"] >= 0).all()
    assert (costs["annual_maintenance"] >= 0).all()


def test_cost_sources_are_stated(costs):
    for _, row in costs.iterrows():
        source = str(row["source"])
        assert source == PLACEHOLDER or len(source) > 20, row["intervention_type"]


def test_every_type_has_costs_and_evidence(evidence, costs):
    assert problems_matching(evidence, costs) == []
    assert set(costs["intervention_type"]) == set(evidence["intervention_type"])


def test_docs_describe_every_intervention(evidence):
    text = EVIDENCE_MD.read_text(encoding="utf-8")
    for itype in evidence["intervention_type"].unique():
        assert f"`{itype}`" in text, f"docs/evidence.md does not document {itype}"
    for col in EVIDENCE_COLUMNS:
        assert f"`{col}`" in text, f"docs/evidence.md does not explain column {col}"


def test_no_surveillance_defaults(evidence, costs):
    banned = ("cctv", "camera", "surveillance", "predictive", "patrol", "facial")
    for itype in set(evidence["intervention_type"]) | set(costs["intervention_type"]):
        assert not any(word in itype for word in banned), itype


# --- the checkers can fail


def _broken(frame: pd.DataFrame, **changes) -> pd.DataFrame:
    copy = frame.copy()
    for col, value in changes.items():
        copy[col] = copy[col].astype(object)
        copy.loc[copy.index[0], col] = value
    return copy


@pytest.mark.parametrize(
    "changes",
    [
        {"rate_ratio": 5.0},  # outside its CI
        {"ci_low": 0.0},  # CI must be positive
        {"ci_low": 0.99, "ci_high": 0.5},  # inverted CI
        {"hours": "all"},  # first row is lighting: darkness rule
        {"verified": "maybe"},
        {"doi_or_url": ""},
        {"displacement": "some"},
        {"diffusion_factor": -0.1},
        {"crime_categories": "violence;arson"},
        {"rate_ratio": "n/a"},
    ],
)
def test_checker_rejects_broken_evidence(evidence, changes):
    assert is_lighting(evidence["intervention_type"].iloc[0])
    assert problems_evidence(_broken(evidence, **changes)) != []


def test_checker_rejects_overlapping_rows(evidence):
    bad = pd.concat([evidence, evidence.iloc[[2]].assign(outcome="extra_row")], ignore_index=True)
    assert any("overlapping" in p for p in problems_evidence(bad))


def test_checker_rejects_missing_column(evidence):
    assert problems_evidence(evidence.drop(columns=["reach_m"])) != []


def test_checker_rejects_broken_costs(costs):
    assert problems_costs(_broken(costs, unit_cost=-1)) != []
    assert problems_costs(_broken(costs, annual_maintenance=-5)) != []
    assert problems_costs(_broken(costs, currency="EUR")) != []
    assert problems_costs(_broken(costs, unit_cost=0, annual_maintenance=0)) != []


def test_checker_rejects_unmatched_types(evidence, costs):
    assert problems_matching(evidence, costs.iloc[1:]) != []
    extra = pd.concat([costs, costs.iloc[[0]].assign(intervention_type="cctv_camera")])
    assert problems_matching(evidence, extra) != []
