"""Walk-audit ratings as factor layers and measured light (sample: simulated, labelled)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from hotspot_env.core.pipeline import run
from hotspot_env.errors import InputError
from hotspot_env.factors.walkaudit import (
    LIGHTING_LUX,
    RATINGS,
    factor_params,
    measured_light,
    read_walk_audit,
)

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "examples" / "walk_audit_sample.csv"
DEMO = REPO / "data" / "demo" / "incidents.csv"


def test_sample_is_labelled_simulated_and_read_without_its_notes():
    raw = pd.read_csv(SAMPLE)
    assert raw["note"].str.contains("SIMULATED").all()
    audit = read_walk_audit(SAMPLE)
    assert len(audit) == len(raw) == 40
    assert set(audit.columns) == {"geometry", *RATINGS}


def test_each_rating_becomes_a_poor_places_factor():
    raw = pd.read_csv(SAMPLE)
    params, choices = factor_params(read_walk_audit(SAMPLE))
    for rating in RATINGS:
        assert len(params[f"custom:poor_{rating}"]["source"]) == int((raw[rating] <= 1).sum())
    assert {c.name for c in choices} == {"walk_audit_factors", "walk_audit_light"}


def test_segment_ratings_give_light_every_10_m():
    # a 100 m east-west segment in Helsinki (UTM 35N), rated 3: 10 gaps of 10 m, 11 points
    segment = shapely.LineString([(385000, 6672000), (385100, 6672000)])
    line = gpd.GeoSeries([segment], crs=32635).to_crs(4326)
    audit = gpd.GeoDataFrame({"lighting": [3.0]}, geometry=line.values, crs=4326)
    light = measured_light(audit)
    assert len(light) == 11
    assert (light["lux"] == LIGHTING_LUX[3]).all()


def test_measured_light_overrides_modelled_light_in_its_cells():
    analysis = run(str(DEMO), walk_audit=SAMPLE, cell_size=100.0,
                   stages=["factors"])
    audit = read_walk_audit(SAMPLE).to_crs(analysis.grid.crs)
    row, col = analysis.grid.cell_index(audit.geometry.x.to_numpy(), audit.geometry.y.to_numpy())
    lux = pd.Series([LIGHTING_LUX[int(v)] for v in audit["lighting"]])
    expected = lux.groupby([row, col]).mean()  # the cell mean of the readings, by hand
    got = analysis.arrays["lamp_lux"]
    for (r, c), value in expected.items():
        assert got[r, c] == pytest.approx(value)
    assert np.isfinite(analysis.arrays["poor_lighting_dist_m"][analysis.grid.mask]).all()


def test_ratings_outside_the_scale_are_refused(tmp_path):
    bad = tmp_path / "audit.csv"
    bad.write_text("lon,lat,lighting\n24.94,60.17,5\n")
    with pytest.raises(InputError, match="outside 0-3"):
        read_walk_audit(bad)
    none = tmp_path / "none.csv"
    none.write_text("lon,lat,comment\n24.94,60.17,dark\n")
    with pytest.raises(InputError, match="no rating column"):
        read_walk_audit(none)
