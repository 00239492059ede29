"""Public mode: a study area from the incidents' own extent does not follow the outermost incident.

Without ``--osm``/``--layers``/``--bbox``/``--place`` the study area is the incidents'
bounding box plus 25 m. In public mode that would publish where the outermost incidents lie
(the grid's edge moves when the westmost incident moves past a cell line, and the automatic
cell size follows the exact extent). Public mode takes it from 1 km lattice squares
holding at least k incidents.

The attack: move the westmost incident 10 m west, inside its cell of the public grid and
inside its lattice step. Every protected count is the same, so every public file must be.
The area is the box of the 1 km lattice squares holding at least k incidents
(``core.public_area``), so neither a move nor one incident more in a sparse square shows.
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
from hotspot_env.core.public_area import dense_squares_box
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


def _dense_box_by_hand(xs: np.ndarray, ys: np.ndarray, step: float, k: int):
    """The box of the ``step`` squares holding >= k points, counted with pandas."""
    squares = pd.DataFrame({"i": np.floor(xs / step), "j": np.floor(ys / step)})
    sizes = squares.groupby(["i", "j"]).size()
    dense = sizes[sizes >= k].index.to_frame()
    return (dense["i"].min() * step, dense["j"].min() * step,
            (dense["i"].max() + 1) * step, (dense["j"].max() + 1) * step)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_public_area_is_the_box_of_the_dense_lattice_squares(seed):
    rng = np.random.default_rng(seed)
    xs = rng.uniform(331_000, 331_000 + rng.uniform(2_000, 9_000), 300)
    ys = rng.uniform(7_390_000, 7_390_000 + rng.uniform(2_000, 9_000), 300)
    analysis = analyze(_frame(xs, ys), privacy="public")
    step, k = settings.public_area_lattice_m, settings.k_threshold
    assert analysis.area.bounds == _dense_box_by_hand(xs, ys, step, k)
    inside = analysis.area.contains(shapely.points(xs, ys))
    assert inside.sum() >= 0.5 * len(xs)
    assert analysis.counts["incidents_outside_area"] == int((~inside).sum())
    assert int(analysis.arrays["incidents"].sum()) == int(inside.sum())
    chosen = [c for c in analysis.choices if c.name == "study_area_lattice_m"]
    assert len(chosen) == 1 and "lattice squares holding at least 5 incidents" in chosen[0].rule
    assert not any(c.name == "study_area" for c in analysis.choices)  # the raw extent's rule
    # The grid covers the box; a cell size dividing the step puts its lines on it.
    minx, miny, maxx, _ = analysis.area.bounds
    grid = analysis.grid
    assert grid.x0 <= minx and grid.y0 <= miny and grid.bounds[2] >= maxx
    if step % grid.cell_size == 0:
        assert (grid.x0, grid.y0) == (minx, miny)


def test_a_stray_incident_moves_neither_the_area_nor_the_zone():
    """One incident 10 degrees east (the raw extent's centre then lies in the next UTM zone)."""
    rng = np.random.default_rng(4)
    xs, ys = rng.uniform(333_000, 336_000, 400), rng.uniform(7_393_000, 7_396_000, 400)
    lonlat = _frame(xs, ys).to_crs(4326)  # longitude/latitude, as a CSV gives them
    stray = gpd.GeoDataFrame(geometry=lonlat.geometry.iloc[:1].translate(xoff=10.0), crs=4326)
    more = pd.concat([lonlat, stray], ignore_index=True)
    base, moved = (analyze(f, privacy="public") for f in (lonlat, more))
    assert base.grid.crs == moved.grid.crs
    assert base.area.bounds == moved.area.bounds
    assert (base.arrays["incidents"] == moved.arrays["incidents"]).all()
    assert any(c.name == "crs_reference" for c in moved.choices)
    internal = analyze(more)
    assert internal.grid.crs != base.grid.crs  # control: the raw extent's centre moves zones


def test_too_few_incidents_for_a_public_area_is_one_clear_error():
    xs, ys = np.array([333_100.0, 334_500, 335_900]), np.array([7_393_100.0, 7_394_500, 7_395_900])
    with pytest.raises(InputError, match="at least 5 incidents, and none does"):
        analyze(_frame(xs, ys), privacy="public")


def test_internal_mode_and_explicit_areas_are_not_snapped():
    rng = np.random.default_rng(5)
    xs, ys = rng.uniform(333_230, 336_000, 300), rng.uniform(7_393_210, 7_396_000, 300)
    internal = analyze(_frame(xs, ys))
    assert internal.area.bounds == pytest.approx(
        (xs.min() - 25, ys.min() - 25, xs.max() + 25, ys.max() + 25))
    assert not any(c.name == "study_area_lattice_m" for c in internal.choices)


@pytest.mark.parametrize(("points", "k", "expected"), [
    ([(0.5, 0.5)] * 5 + [(3.2, 7.9)] * 4, 5, (0.0, 0.0, 1.0, 1.0)),
    ([(0.5, 0.5)] * 5 + [(-1.5, 2.5)] * 5, 5, (-2.0, 0.0, 1.0, 3.0)),
    ([(0.5, 0.5)] * 4, 5, None),
])
def test_dense_squares_box_by_hand(points, k, expected):
    xs, ys = np.array(points, dtype=float).T
    assert dense_squares_box(xs, ys, 1.0, k) == expected


def test_a_bad_lattice_step_is_refused(monkeypatch):
    monkeypatch.setattr(settings, "public_area_lattice_m", 0.0)
    rng = np.random.default_rng(1)
    xs, ys = rng.uniform(333_000, 334_000, 50), rng.uniform(7_393_000, 7_394_000, 50)
    with pytest.raises(InputError, match="positive number of metres"):
        analyze(_frame(xs, ys), privacy="public")
