"""The youth-space walking threshold as a per-run option (issue 18).

``stage_options={"factors": {"youth_walk_m": M}}`` (``hotspot-env analyze
--youth-walk-m M``) sets the walk beyond which a cell is a service gap for one
run, without touching the process-wide ``settings`` (the app serves many
sessions in one process). Every later reader must use the run's value: the gap
layer, the youth-space candidates and their reasons, and the cells' risk reasons.
The expected gap cells are computed here from the walking distances themselves.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from typer.testing import CliRunner

from hotspot_env import settings
from hotspot_env.errors import InputError
from hotspot_env.factors.access import check_walk_threshold

SHORT_WALK_M = 300.0


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    from hotspot_env.bench import TINY_SCALE
    from hotspot_env.inputs.synth import simulate_city

    return simulate_city(7, scale="quick", **TINY_SCALE).write(tmp_path_factory.mktemp("city"))


def _run(city, **factor_options):
    from hotspot_env.core import pipeline

    return pipeline.run(city["incidents"], layers=city["layers"], cell_size=50, simulated=True,
                        stages=["factors", "rtm", "interventions"],
                        stage_options={"factors": factor_options})


@pytest.fixture(scope="module")
def short(city):
    return _run(city, youth_walk_m=SHORT_WALK_M)


@pytest.fixture(scope="module")
def default(city):
    return _run(city)


def _gap_cells(analysis, threshold):
    walk = analysis.arrays["youth_walk_m"]
    return analysis.grid.mask & np.isfinite(walk) & (walk > threshold)


# ------------------------------------------------------------------ bad values
@pytest.mark.parametrize("value", [0, -400, 0.0, math.nan, math.inf, -math.inf, True, "400",
                                   None])
def test_bad_thresholds_are_refused_with_one_clear_message(value):
    with pytest.raises(InputError, match=r"--youth-walk-m must be a positive number of metres"):
        check_walk_threshold(value, "--youth-walk-m")


def test_good_threshold_is_a_float():
    assert check_walk_threshold(400) == 400.0 and isinstance(check_walk_threshold(400), float)
    assert check_walk_threshold(np.float32(250.5)) == pytest.approx(250.5)


def test_run_refuses_a_bad_threshold_before_reading_anything(tmp_path):
    from hotspot_env.core import pipeline

    # the incidents do not exist: the threshold is checked first, not minutes later
    with pytest.raises(InputError, match="youth_walk_m must be a positive number"):
        pipeline.run(tmp_path / "missing.csv", stage_options={"factors": {"youth_walk_m": -1}})


def test_cli_bad_threshold_exit_2_one_line_nothing_written(sao_paulo, tmp_path):
    from hotspot_env.cli import app

    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["analyze", "--incidents", str(sao_paulo["incidents"]),
                                      "--osm", str(sao_paulo["osm"]), "--out", str(out),
                                      "--youth-walk-m", "-5"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: --youth-walk-m must be a positive")
    assert "Traceback" not in result.output
    assert not out.exists()


# ------------------------------------------------------- the run's value reaches
def test_threshold_is_recorded_per_run_and_the_setting_is_untouched(short, default):
    assert short.parameters["youth_walk_threshold_m"] == SHORT_WALK_M
    assert short.youth_walk_m == SHORT_WALK_M
    # a run at the default records nothing new (its manifest is unchanged) and reads 800 m
    assert "youth_walk_threshold_m" not in default.parameters
    assert default.youth_walk_m == settings.youth_walk_threshold_m == 800.0
    announced = {c.name: c.value for c in short.choices}
    assert announced["youth_walk_threshold_m"] == SHORT_WALK_M


def test_gap_layer_uses_the_run_threshold(short, default):
    for analysis, threshold in ((short, SHORT_WALK_M), (default, 800.0)):
        layer = analysis.factors["access"].layer
        gaps = layer[layer["role"] == "gap"]
        assert len(gaps) == int(_gap_cells(analysis, threshold).sum()) > 0
        assert (gaps["youth_walk_m"] > threshold).all()
    assert len(short.factors["access"].layer) > len(default.factors["access"].layer)


def test_cell_reasons_name_the_walk_exactly_beyond_the_run_threshold(short, default):
    for analysis, threshold in ((short, SHORT_WALK_M), (default, 800.0)):
        why = analysis.arrays["why"]
        named = np.array([("nearest youth space" in str(t)) for t in why.ravel()]).reshape(
            why.shape) & analysis.grid.mask
        np.testing.assert_array_equal(named, _gap_cells(analysis, threshold))


def test_youth_candidates_serve_gaps_at_the_run_threshold(short, default):
    def youth(analysis):
        cands = analysis.interventions.candidates
        return cands[cands["type"] == "youth_space"]

    few, many = youth(default), youth(short)
    assert 1 <= len(few) < len(many)
    assert many["reason"].str.contains(f"more than a {SHORT_WALK_M:g} m walk").all()
    assert few["reason"].str.contains("more than a 800 m walk").all()
    sites = {c.name: c.rule for c in short.choices}["youth_space_sites"]
    assert f"cells over {SHORT_WALK_M:g} m walk" in sites


def test_access_params_threshold_is_the_run_threshold_too(city):
    # given as the access factor's own option, later readers must agree with it
    analysis = _run(city, params={"access": {"threshold_m": SHORT_WALK_M}})
    assert analysis.youth_walk_m == SHORT_WALK_M
    layer = analysis.factors["access"].layer
    assert (layer["role"] == "gap").sum() == int(_gap_cells(analysis, SHORT_WALK_M).sum())


def test_given_reason_is_announced_with_the_threshold(city):
    analysis = _run(city, youth_walk_m=500, youth_walk_reason="a test chose it.")
    rule = {c.name: c.rule for c in analysis.choices}["youth_walk_threshold_m"]
    assert rule.startswith("a test chose it; cells further than this walk")
