"""Evidence and cost tables: the shipped ones load; broken ones give one-line InputErrors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hotspot_env import settings
from hotspot_env.errors import InputError
from hotspot_env.interventions.evidence import load_library, short_citation

DATA = Path(settings.data_folder)


def test_shipped_tables_load_with_costs_for_every_type():
    lib = load_library()
    assert {"new_streetlight", "streetlight_upgrade", "youth_space"} <= set(lib.types)
    assert set(lib.costs.index) == set(lib.types)
    # annualised: 10,700 USD over 20 years + 136 USD/yr = 671 USD/yr
    assert lib.annual_unit_cost("new_streetlight") == pytest.approx(10700 / 20 + 136)
    assert (lib.evidence["ci_low"] <= lib.evidence["rate_ratio"]).all()
    assert lib.short_citation("new_streetlight") == "Chalfin et al. 2022"
    assert set(lib.evidence.loc[lib.evidence["intervention_type"].str.contains("light"),
                                "hours"]) == {"dark"}


@pytest.mark.parametrize(("study", "short"), [
    ("Chalfin, Hansen, Lerner & Parker 2022", "Chalfin et al. 2022"),
    ("Cozens & Love 2015 (CPTED review; no pooled estimate)", "Cozens & Love 2015"),
    ("Branas et al. 2018", "Branas et al. 2018"),
    ("Taheri & Welsh 2016", "Taheri & Welsh 2016"),
])
def test_short_citation(study, short):
    assert short_citation(study) == short


def _copy(tmp_path: Path) -> tuple[Path, Path]:
    ev, co = tmp_path / "evidence.csv", tmp_path / "costs.csv"
    shutil.copy(DATA / "evidence.csv", ev)
    shutil.copy(DATA / "costs.csv", co)
    return ev, co


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize(("which", "old", "new", "expected"), [
    ("evidence", "reach_m,", "reach,", "missing column 'reach_m'"),
    ("evidence", "outdoor,all,0.64,0.41,1.0", "outdoor,all,1.5,0.41,1.0", "outside its 95 % CI"),
    ("evidence", "outdoor,all,0.64,0.41,1.0", "outdoor,all,0.64,0.0,1.0",
     "ci_low must be above 0"),
    ("evidence", "outdoor,all,0.64,0.41,1.0", "outdoor,all,abc,0.41,1.0", "is not a number"),
    ("evidence", "new_streetlight,night_outdoor_index,violence;robbery;theft,dark",
     "new_streetlight,night_outdoor_index,violence;arson,dark", "unknown categories"),
    ("evidence", "new_streetlight,night_outdoor_index,violence;robbery;theft,dark",
     "new_streetlight,night_outdoor_index,violence;robbery;theft,all", "hours 'dark'"),
    ("evidence", "vacant_lot_greening,burglary,burglary,", "vacant_lot_greening,burglary,all,",
     "overlapping crime categories"),
    ("evidence", "dark,outdoor,all,", "dark,indoors,all,", "places 'indoors' must be one of"),
    ("evidence", "all,below_poverty,0.781", "all,rich,0.781", "population 'rich' must be"),
    ("evidence", "1.0,p_rule,50", "1.0,guess,50", "ci_source 'guess' must be"),
    ("evidence", ",partial,applied to property", ",maybe,applied to property",
     "verified 'maybe' must be"),
    ("costs", "1597,USD,10,180,published study,2016", "1597,USD,10,180,hearsay,2016",
     "cost_basis 'hearsay' must be"),
    ("costs", "1597,USD,10,180,published study,2016", "1597,USD,10,180,published study,16",
     "year '16' must be the price year"),
    ("evidence", "alley_gating,burglary", "cctv_camera,burglary", "out of scope"),
    ("costs", "new_streetlight,lamp,10700", "new_streetlight,lamp,-10700", "negative"),
    ("costs", "alley_gating,site", "speed_bumps,site", "has no row in evidence.csv"),
    ("costs", "youth_space,site,50000,USD,10,100000", "youth_space,site,0,USD,10,0",
     "would be free"),
])
def test_broken_tables_raise_one_line_errors(tmp_path, which, old, new, expected):
    ev, co = _copy(tmp_path)
    _edit(ev if which == "evidence" else co, old, new)
    with pytest.raises(InputError) as info:
        load_library(ev, co)
    message = str(info.value)
    assert expected in message
    assert "\n" not in message
    assert (ev.name if which == "evidence" else co.name) in message
    assert "line" in message


def test_evidence_type_without_cost_row_is_named(tmp_path):
    ev, co = _copy(tmp_path)
    lines = co.read_text(encoding="utf-8").splitlines(keepends=True)
    co.write_text("".join(line for line in lines if not line.startswith("alley_gating")),
                  encoding="utf-8")
    with pytest.raises(InputError, match="'alley_gating' has no cost row"):
        load_library(ev, co)


def test_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_library(tmp_path / "nope.csv", DATA / "costs.csv")
