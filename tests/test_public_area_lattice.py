"""Public mode: a study area from the incidents' own extent does not follow the outermost incident.

Without ``--osm``/``--layers``/``--bbox``/``--place`` the study area is the incidents'
bounding box plus 25 m. In public mode that would publish where the outermost incidents lie
(the grid's edge moves when the westmost incident moves past a cell line, and the automatic
cell size follows the exact extent). Public mode snaps that area outward to a 1 km lattice.

The attack: move the westmost incident 10 m west, inside its cell of the public grid and
inside its lattice step. Every protected count is the same, so every public file must be.
Today's main (area = extent + 25 m) moves the grid's west edge by a column: this test fails there.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from typer.testing import CliRunner

from hotspot_env import settings
from hotspot_env.cli import app
from hotspot_env.core.analysis import analyze
from hotspot_env.core.area import snap_outward
from hotspot_env.errors import InputError
from hotspot_env.outputs.fingerprint import fingerprint_folder

pytestmark = pytest.mark.slow

UTM = "EPSG:32723"  # São Paulo's UTM zone, where these synthetic incidents lie
WEST_X, WEST_Y = 333_230.0, 7_395_050.0  # the westmost incident: extent - 25 m = 333,205 m


def _incidents(west_x: float) -> pd.DataFrame:
    """A small synthetic city (UTM 23S), its westmost incident at ``west_x``."""
    rng = np.random.default_rng(11)
    n = 600
    x = np.concatenate([rng.uniform(333_400, 336_600, n), [west_x]])
    y = np.concatenate([rng.uniform(7_393_400, 7_396_600, n), [WEST_Y]])
    x[:200] = 334_500 + rng.normal(0, 150, 200)  # a hot spot, so Gi* has something to find
    y[:200] = 7_395_500 + rng.normal(0, 150, 200)
    days = rng.integers(0, 3 * 365, n + 1)
    pts = gpd.GeoSeries(gpd.points_from_xy(x, y), crs=UTM).to_crs(4326)
    return pd.DataFrame({"id": np.arange(n + 1), "lon": pts.x.round(7), "lat": pts.y.round(7),
                         "date": (pd.Timestamp("2020-01-01") + pd.to_timedelta(days, "D"))
                         .strftime("%Y-%m-%d")})


@pytest.fixture(scope="module")
def two_public_runs(tmp_path_factory):
    """The public CLI run on the incidents and on those with the westmost moved 10 m west."""
    root = tmp_path_factory.mktemp("lattice")
    runs = {}
    for name, west_x in (("original", WEST_X), ("moved", WEST_X - 10.0)):
        folder = root / name
        folder.mkdir()
        _incidents(west_x).to_csv(folder / "incidents.csv", index=False)
        result = CliRunner().invoke(app, ["analyze", "--incidents", str(folder / "incidents.csv"),
                                          "--privacy", "public", "--out", str(folder / "out"),
                                          "--quiet"])
        assert result.exit_code == 0, result.output
        runs[name] = folder / "out"
    return runs


def test_no_public_byte_moves_with_the_outermost_incident(two_public_runs):
    prints_a = fingerprint_folder(two_public_runs["original"])
    prints_b = fingerprint_folder(two_public_runs["moved"])
    assert len(prints_a) >= 10 and sorted(prints_a) == sorted(prints_b)
    assert sorted(name for name in prints_a if prints_a[name] != prints_b[name]) == []


def test_the_moved_incident_stays_in_its_public_cell_and_is_counted(two_public_runs):
    """The attack keeps every protected count: the moved incident is not dropped."""
    cells = [gpd.read_file(two_public_runs[n] / "cells.gpkg", layer="cells")
             for n in ("original", "moved")]
    assert (cells[0]["incidents"].astype(str) == cells[1]["incidents"].astype(str)).all()
    west = cells[0].total_bounds[0]
    assert west % 1000 == 0 and west < WEST_X - 10.0 - 25.0  # on the lattice, past the buffer


def _frame(xs: np.ndarray, ys: np.ndarray) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(geometry=gpd.points_from_xy(xs, ys), crs=UTM)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_snapped_area_contains_every_incident_and_lies_on_the_lattice(seed):
    rng = np.random.default_rng(seed)
    xs = rng.uniform(331_000, 331_000 + rng.uniform(2_000, 9_000), 300)
    ys = rng.uniform(7_390_000, 7_390_000 + rng.uniform(2_000, 9_000), 300)
    analysis = analyze(_frame(xs, ys), privacy="public")
    minx, miny, maxx, maxy = analysis.area.bounds
    step = settings.public_area_lattice_m
    assert all(v % step == 0 for v in (minx, miny, maxx, maxy))
    assert analysis.counts["incidents_outside_area"] == 0
    assert int(analysis.arrays["incidents"].sum()) == len(xs)
    assert analysis.area.contains(shapely.points(xs, ys)).all()
    # The snap is the smallest such box: each side within one step of extent + 25 m.
    assert minx > xs.min() - 25 - step and maxx < xs.max() + 25 + step
    assert miny > ys.min() - 25 - step and maxy < ys.max() + 25 + step
    chosen = [c for c in analysis.choices if c.name == "study_area_lattice_m"]
    assert len(chosen) == 1 and "snapped outward to a 1 km lattice" in chosen[0].rule
    # The grid covers the snapped box; a cell size dividing the step puts its lines on it.
    grid = analysis.grid
    assert grid.x0 <= minx and grid.y0 <= miny and grid.bounds[2] >= maxx
    if step % grid.cell_size == 0:
        assert (grid.x0, grid.y0) == (minx, miny)


def test_internal_mode_and_explicit_areas_are_not_snapped():
    rng = np.random.default_rng(5)
    xs, ys = rng.uniform(333_230, 336_000, 300), rng.uniform(7_393_210, 7_396_000, 300)
    internal = analyze(_frame(xs, ys))
    assert internal.area.bounds == pytest.approx(
        (xs.min() - 25, ys.min() - 25, xs.max() + 25, ys.max() + 25))
    assert not any(c.name == "study_area_lattice_m" for c in internal.choices)


@pytest.mark.parametrize(("bounds", "expected"), [
    ((333_205.0, 7_393_185.5, 336_025.0, 7_396_000.0), (333_000, 7_393_000, 337_000, 7_396_000)),
    ((-1_500.5, -0.5, 1_000.0, 999.9), (-2_000, -1_000, 1_000, 1_000)),
])
def test_snap_outward_by_hand(bounds, expected):
    assert snap_outward(shapely.box(*bounds), 1000.0).bounds == expected


def test_snap_outward_refuses_a_bad_step():
    with pytest.raises(InputError, match="positive number of metres"):
        snap_outward(shapely.box(0, 0, 1, 1), 0.0)
