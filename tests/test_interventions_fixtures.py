"""Small hand-built inputs for the interventions tests (no OSM, no other stages needed).

``make_analysis`` builds an :class:`~hotspot_env.core.analysis.Analysis` on a 10 x 10 grid of
100 m cells in UTM 33N with a chosen expected-incidents surface (``forecast``) and incident
points whose categories and times are set by the test. Factor results follow the contracts
of ``hotspot_env.factors`` (lighting layer = dark segments, vacancy layer = vacant features,
sightlines layer = observers, access = ``youth_walk_m``).
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from hotspot_env.core.analysis import Analysis
from hotspot_env.core.grid import Grid
from hotspot_env.factors.base import FactorResult

CRS_UTM = CRS.from_epsg(32633)  # around 15 deg E (central Europe)
X0, Y0 = 500_000.0, 6_650_000.0
CELL = 100.0
N = 10

EVIDENCE_HEADER = ("intervention_type,outcome,crime_categories,hours,places,population,rate_ratio,"
                   "ci_low,ci_high,ci_source,reach_m,displacement,diffusion_factor,study,design,"
                   "citation,doi_or_url,verified,caveat,notes\n")
COSTS_HEADER = ("intervention_type,unit,unit_cost,currency,lifetime_years,annual_maintenance,"
                "cost_basis,year,source,notes\n")


def make_grid(n: int = N, cell: float = CELL) -> Grid:
    """An ``n`` x ``n`` grid of ``cell`` m cells, all inside the area."""
    area = shapely.box(X0, Y0, X0 + n * cell, Y0 + n * cell)
    return Grid.from_area(area, CRS_UTM, cell)


def cell_centre(grid: Grid, row: int, col: int) -> tuple[float, float]:
    """Centre (x, y) of a cell."""
    cx, cy = grid.centres()
    return float(cx[row, col]), float(cy[row, col])


def make_points(
    grid: Grid, cells: list[tuple[int, int]], categories: list[str | None],
    datetimes: list[str | None],
) -> gpd.GeoDataFrame:
    """Incident points at cell centres with categories and UTC times (None = unknown)."""
    xy = [cell_centre(grid, r, c) for r, c in cells]
    stamps = pd.to_datetime(pd.Series(datetimes, dtype=object), utc=True)
    return gpd.GeoDataFrame(
        {"datetime": stamps, "time_known": stamps.notna().to_numpy(),
         "category": pd.Series(categories, dtype=object), "source": None},
        geometry=shapely.points(np.asarray(xy)) if xy else [], crs=CRS_UTM)


def make_analysis(
    forecast: np.ndarray | None = None,
    points: gpd.GeoDataFrame | None = None,
    factors: dict[str, FactorResult] | None = None,
    map_layers: dict[str, gpd.GeoDataFrame] | None = None,
    grid: Grid | None = None,
    arrays: dict[str, np.ndarray] | None = None,
) -> Analysis:
    """An Analysis with the given forecast (expected incidents per cell next year)."""
    grid = grid or make_grid()
    if forecast is None:
        forecast = np.zeros(grid.shape)
    if points is None:
        points = make_points(grid, [], [], [])
    row, col = grid.cell_index(points.geometry.x.to_numpy(), points.geometry.y.to_numpy())
    counts = np.zeros(grid.shape, dtype=np.int64)
    np.add.at(counts, (row[row >= 0], col[row >= 0]), 1)
    all_arrays = {"incidents": counts, "kde": forecast / grid.cell_area_km2,
                  "forecast": np.asarray(forecast, dtype=float)}
    all_arrays.update(arrays or {})
    area = shapely.box(*grid.bounds)
    params = {"crs": grid.crs.to_string(), "cell_size_m": grid.cell_size, "bandwidth_m": 200.0,
              "privacy": "internal", "period_years": 1.0, "k_threshold": 5}
    return Analysis(grid, area, all_arrays, map_layers or {}, params, [], [], {}, points,
                    factors=factors or {})


def dark_segments(lines: list[shapely.LineString], lux: list[float],
                  names: list[str] | None = None) -> FactorResult:
    """A lighting FactorResult whose layer holds these dark segments."""
    names = names or [f"Street {i}" for i in range(len(lines))]
    layer = gpd.GeoDataFrame(
        {"segment_id": np.arange(len(lines)), "name": names, "lux_mean": lux, "lux_min": lux,
         "length_m": shapely.length(np.asarray(lines))},
        geometry=lines, crs=CRS_UTM)
    return FactorResult("lighting", {}, layer, [], None)


def write_library(folder: Path, evidence_rows: list[str], cost_rows: list[str]
                  ) -> tuple[Path, Path]:
    """Write an evidence and a cost table (rows without header) and return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    ev = folder / "evidence.csv"
    co = folder / "costs.csv"
    ev.write_text(EVIDENCE_HEADER + "".join(r + "\n" for r in evidence_rows), encoding="utf-8")
    co.write_text(COSTS_HEADER + "".join(r + "\n" for r in cost_rows), encoding="utf-8")
    return ev, co


def evidence_row(itype: str, outcome: str = "all_crime", categories: str = "all",
                 hours: str = "all", rr: float = 0.8, lo: float | None = None,
                 hi: float | None = None, reach: float = 50, displacement: str = "none",
                 diffusion: float = 0.0, places: str = "all", population: str = "all",
                 verified: str = "partial", caveat: str = "") -> str:
    """One evidence CSV row (CI defaults to the point: no uncertainty)."""
    lo = rr if lo is None else lo
    hi = rr if hi is None else hi
    return (f"{itype},{outcome},{categories},{hours},{places},{population},{rr},{lo},{hi},"
            f"paper,{reach},{displacement},{diffusion},Test et al. 2020,test,Test citation,"
            f"https://example.org,{verified},{caveat},test row")


def cost_row(itype: str, unit: str = "site", unit_cost: float = 100, lifetime: float = 1,
             maintenance: float = 0, basis: str = "published study", year: str = "2020") -> str:
    """One cost CSV row."""
    return f"{itype},{unit},{unit_cost},USD,{lifetime},{maintenance},{basis},{year},test,test"


def test_fixture_builds_an_analysis():
    analysis = make_analysis(np.ones((N, N)))
    assert analysis.grid.shape == (N, N)
    assert analysis.arrays["forecast"].sum() == N * N


def random_model(n: int, n_groups: int, per_candidate: int, seed: int = 0,
                 n_draws: int = 1000):
    """A random ImpactModel (no geometry): the benchmark's generator, shared."""
    from hotspot_env.bench import random_impact_model

    return random_impact_model(n, n_groups, per_candidate, seed, n_draws)
