"""One analysis, end to end: the :class:`Analysis` result and :func:`analyze`.

The flow runs in one direction (inputs -> area/grid -> density and hot spots
-> outputs); each stage adds to the :class:`Analysis` and never reaches back.
:func:`analyze` reads the inputs (:mod:`hotspot_env.core.sources`), then runs
named steps: projection and study area, grid, points inside it, counts,
bandwidth, the surfaces (KDE, Gi*), map layers and parameters; each costly
step is timed with :func:`hotspot_env.core.timing.timed` for the benchmark.
The CLI, the app and a notebook all call :func:`analyze`, so they get the
same numbers.
"""

from __future__ import annotations

import logging
import math
import numbers
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from hotspot_env import settings
from hotspot_env.core.area import parse_bbox, study_area
from hotspot_env.core.choices import Choice, announce
from hotspot_env.core.density import choose_bandwidth, count_incidents, kde
from hotspot_env.core.grid import Grid, choose_cell_size, choose_crs
from hotspot_env.core.hotspots import GiStar, gi_star
from hotspot_env.core.public_area import lattice_area, zone_reference
from hotspot_env.core.public_basis import cells_only, protected_bandwidth, published_inputs
from hotspot_env.core.sources import Sources, drop_excluded_sources, read_sources
from hotspot_env.core.timing import timed
from hotspot_env.errors import InputError, NoIncidentsError
from hotspot_env.inputs.io import Incidents
from hotspot_env.outputs.privacy import Kind, Protection, check_epsilon, min_cell_size
from hotspot_env.temporal.profiles import record_period

if TYPE_CHECKING:  # stage result types: those modules import this one
    from hotspot_env.factors.base import FactorResult
    from hotspot_env.interventions.result import InterventionsResult
    from hotspot_env.models.forecast import ForecastResult
    from hotspot_env.models.rtm import RTMResult

logger = logging.getLogger("hotspot_env")

#: Fewer incidents than this in the study area get a warning that hot spots are descriptive.
MIN_INCIDENTS_FOR_HOTSPOTS = 30

#: Record sources left out by default: records that officers initiate reflect
#: where enforcement looked more than where harm happened (feedback loops).
DEFAULT_EXCLUDED_SOURCES: tuple[str, ...] = ("officer_initiated",)


@dataclass
class Analysis:
    """Everything one run produced; passed from stage to stage.

    Attributes
    ----------
    grid : Grid
        The study grid.
    area : shapely geometry
        Study area polygon in ``grid.crs``.
    arrays : dict of str to ndarray
        Per-cell layers of shape ``grid.shape`` (``incidents``, ``kde``,
        ``gi_z``, ``gi_p``, ``gi_bin``, factor values...).
    map_layers : dict of str to GeoDataFrame
        Vector layers to draw (OSM streets/buildings, factor layers), in
        ``grid.crs``. Never contains incident points.
    parameters : dict
        Every parameter actually used, automatic or given.
    choices : list of Choice
        Automatic choices, in the order they were made.
    inputs : list of dict
        ``{"path", "sha256"}`` per input file.
    counts : dict
        ``incidents_read``, ``incidents_used``, ``incidents_dropped`` and details.
    points : GeoDataFrame
        The incidents used, in ``grid.crs``. Private: used by later stages,
        never written to any output.
    factors : dict of str to FactorResult, optional
        Added by the ``factors`` stage (``None`` until it runs).
    forecast : ForecastResult, optional
        Added by the ``forecast`` stage when the incidents carry dates.
    rtm : RTMResult, optional
        Added by the ``rtm`` stage.
    trends : dict, optional
        Added by the ``trends`` stage when the incidents carry dates: ``cube``,
        ``classes``, ``change``, ``districts``, ``profiles``,
        ``hotspot_profiles``, ``demand``, ``backtest``, ``messages``.
    trends_message : str, optional
        Why the ``trends`` stage added nothing (no dates).
    interventions : InterventionsResult, optional
        Added by the ``interventions`` stage.
    audit_places : GeoDataFrame, optional
        Added by the ``interventions`` stage when no candidate is left to rank:
        the "audit this place" shortlist (:mod:`hotspot_env.interventions.audit`).
    validation : DataFrame, optional
        Tidy out-of-time validation table, when a caller stored one.
    timings : dict of str to float
        Seconds per stage, set by :func:`hotspot_env.core.pipeline.run`.
    stage_timings : dict
        Finer timings reported by stages (e.g. ``ranking``).

    Stages and the fields they read and add are declared in
    :mod:`hotspot_env.core.stages`; :func:`hotspot_env.core.pipeline.run` checks the order.
    kinds : dict of str to Kind
        The declared privacy kind of each per-cell layer
        (:func:`hotspot_env.outputs.privacy.declare`); the output gate refuses a layer
        that declares none.
    protection : Protection or None
        Public mode: the run's protected count releases and DP budget.
        Private like ``points``: it holds the noisy values before suppression.
    """

    grid: Grid
    area: shapely.Geometry
    arrays: dict[str, np.ndarray]
    map_layers: dict[str, gpd.GeoDataFrame]
    parameters: dict[str, Any]
    choices: list[Choice]
    inputs: list[dict[str, str]]
    counts: dict[str, int]
    points: gpd.GeoDataFrame = field(repr=False)
    factors: dict[str, FactorResult] | None = field(default=None, repr=False)
    forecast: ForecastResult | None = field(default=None, repr=False)
    rtm: RTMResult | None = field(default=None, repr=False)
    trends: dict[str, Any] | None = field(default=None, repr=False)
    trends_message: str | None = None
    interventions: InterventionsResult | None = field(default=None, repr=False)
    audit_places: gpd.GeoDataFrame | None = field(default=None, repr=False)
    validation: pd.DataFrame | None = field(default=None, repr=False)
    timings: dict[str, float] = field(default_factory=dict, repr=False)
    stage_timings: dict[str, Any] = field(default_factory=dict, repr=False)
    kinds: dict[str, Kind] = field(default_factory=dict, repr=False)
    protection: Protection | None = field(default=None, repr=False)

    def layer(self, name: str) -> gpd.GeoDataFrame | None:
        """Map layer ``name`` with the user layer of the same name appended.

        A user's own ``streets``, ``buildings``, ``landuse``... (``user:<name>``)
        add to the OSM layer of that name, or stand in for it, for every
        stage: factors, candidates, street names of work orders and the
        basemap. ``None`` when neither has a feature.
        """
        parts = [f for f in (self.map_layers.get(name), self.map_layers.get(f"user:{name}"))
                 if f is not None and len(f)]
        if len(parts) < 2:
            return parts[0] if parts else None
        base, user = parts
        # Kept on the instance: a metro area's buildings take a second to
        # concatenate and several stages ask; a replaced layer is noticed.
        cache = self.__dict__.setdefault("_combined_layers", {})
        hit = cache.get(name)
        if hit is not None and hit[0] is base and hit[1] is user:
            return hit[2]
        combined = gpd.GeoDataFrame(pd.concat([base, user.to_crs(base.crs)], ignore_index=True),
                                    geometry=base.geometry.name, crs=base.crs)
        cache[name] = (base, user, combined)
        return combined

    def cells(self, columns: list[str] | None = None) -> gpd.GeoDataFrame:
        """Cells inside the study area as polygons with the per-cell layers."""
        names = columns if columns is not None else list(self.arrays)
        return self.grid.to_geodataframe({n: self.arrays[n] for n in names})

    @property
    def youth_walk_m(self) -> float:
        """The run's youth-space walking threshold (m): cells further are service gaps.

        Per run, never the process-wide setting changed (the app serves many
        sessions in one process): the ``factors`` stage records a threshold it
        was given in ``parameters["youth_walk_threshold_m"]``; otherwise
        :data:`settings.youth_walk_threshold_m`. Every later reader (youth-site
        candidates, cell and candidate reasons) takes it from here.
        """
        return float(self.parameters.get("youth_walk_threshold_m",
                                          settings.youth_walk_threshold_m))

    @property
    def has_dates(self) -> bool:
        """True when the incidents used carry dates."""
        return bool(self.points["datetime"].notna().any())

    def choice_messages(self) -> list[str]:
        """The sentences announcing each automatic choice (tallies rounded in public mode)."""
        from hotspot_env.outputs.privacy import public_choice

        return [public_choice(self, c).message() for c in self.choices]


def analyze(
    incidents: str | os.PathLike[str] | gpd.GeoDataFrame | Incidents, *,
    osm: str | os.PathLike[str] | None = None, layers: str | os.PathLike[str] | None = None,
    place: str | None = None, bbox: str | tuple[float, float, float, float] | None = None,
    walk_audit: str | os.PathLike[str] | None = None, cell_size: float | None = None,
    bandwidth: float | None = None, crs: str | None = None, timezone: str | None = None,
    privacy: str = "internal", exclude_sources: tuple[str, ...] | None = None,
    max_cells: int | None = None, x: str | None = None, y: str | None = None,
    dp_epsilon: float | None = None, dp_seed: int | None = None,
    surfaces: SurfaceEngine | None = None,
) -> Analysis:
    """Run the analysis: area, grid, counts, KDE and Gi* hot spots.

    Parameters
    ----------
    incidents : path, GeoDataFrame or Incidents
        Incident points (see :func:`hotspot_env.inputs.io.read_incidents`).
    osm : path, optional
        OSM extract (``.pbf``/``.osm``) for the study area and map layers.
    layers : path, optional
        GeoPackage of user layers, one per risk factor.
    place : str, optional
        Place name fetched online with osmnx.
    bbox : str or tuple, optional
        ``W,S,E,N`` in WGS 84.
    walk_audit : path, optional
        Walk-audit ratings (:func:`hotspot_env.factors.walkaudit.read_walk_audit`),
        kept as map layer ``walk_audit`` for the factors stage.
    cell_size : float, optional
        Cell side in metres (default: :func:`hotspot_env.core.grid.choose_cell_size`).
    bandwidth : float, optional
        KDE radius in metres (default: :func:`hotspot_env.core.density.choose_bandwidth`).
    crs : str, optional
        CRS of CSV coordinates.
    timezone : str, optional
        Zone of times without an offset.
    privacy : {"internal", "public"}
        Public mode raises the KDE bandwidth to a minimum and suppresses small
        counts in every output.
    exclude_sources : tuple of str, optional
        Record sources to leave out (default: officer-initiated records).
    max_cells : int, optional
        Cell-count ceiling (default :data:`settings.max_cells`).
    x, y : str, optional
        Coordinate column names of CSV input (default: detected).
    dp_epsilon : float, optional
        Public mode only: the run's differential-privacy budget, split over
        its count releases (see :mod:`hotspot_env.outputs.privacy`).
    dp_seed : int, optional
        Refused: the noise comes from OpenDP's secure sampler, which cannot
        be seeded (a leaked seed would remove the noise).
    surfaces : callable, optional
        Counts, KDE and Gi* (default :func:`local_surfaces`; dask: ``scale.engine.TiledSurfaces``).

    Returns
    -------
    Analysis
    """
    dp_epsilon = _check_options(privacy, cell_size, bandwidth, dp_epsilon, dp_seed)
    bbox_tuple = parse_bbox(bbox) if isinstance(bbox, str) else bbox  # fail fast
    sources = read_sources(incidents, bbox=bbox_tuple, osm=osm, layers=layers, place=place,
                           walk_audit=walk_audit, crs=crs, timezone=timezone, x=x, y=y)
    choices = sources.choices
    excluded = tuple(DEFAULT_EXCLUDED_SOURCES if exclude_sources is None else exclude_sources)
    frame, n_excluded = drop_excluded_sources(sources.data.frame, excluded, choices)
    proj_crs, area = _projection_and_area(frame, sources, bbox_tuple, privacy)
    grid = _make_grid(area, proj_crs, cell_size, privacy, max_cells, choices)
    points = _points_inside(frame, proj_crs, grid, bbox_tuple, choices)
    points, protection = cells_only(points, grid, privacy, dp_epsilon, choices)
    xs, ys = points.geometry.x.to_numpy(), points.geometry.y.to_numpy()
    bandwidth = _bandwidth(xs, ys, grid, bandwidth, protection, choices)
    years = _span_years(points, sources.data.date_precision)
    arrays, kinds = _surfaces(grid, xs, ys, float(bandwidth), years, protection,
                              surfaces or local_surfaces, choices)
    parameters = _parameters(grid, sources, bandwidth, years, privacy, dp_epsilon, excluded,
                             timezone, protection)
    count_summary = _count_summary(sources.data, n_excluded, len(frame) - len(points), arrays)
    return Analysis(grid, area, arrays, _map_layers(sources, proj_crs), parameters, choices,
                    published_inputs(sources, protection, choices), count_summary, points,
                    kinds=kinds, protection=protection)


def _warn_if_few(n: int) -> None:
    """Too few incidents for hot-spot statistics: logged as descriptive only."""
    if n < MIN_INCIDENTS_FOR_HOTSPOTS:
        logger.warning(
            "only %d incident(s) in the study area: the density surface and Gi* hot spots are "
            "descriptive only (hot-spot statistics need at least %d)", n,
            MIN_INCIDENTS_FOR_HOTSPOTS)


def _count_summary(data: Incidents, n_excluded: int, n_outside: int,
                   arrays: dict[str, np.ndarray]) -> dict[str, int]:
    """Incidents read, invalid, left out (by source, outside the area), used and dropped."""
    summary = {
        "incidents_read": int(data.n_read),
        "incidents_invalid": int(data.n_invalid),
        "incidents_excluded_source": n_excluded,
        "incidents_outside_area": n_outside,
        "incidents_used": int(arrays["incidents"].sum()),
    }
    summary["incidents_dropped"] = summary["incidents_read"] - summary["incidents_used"]
    return summary


def _check_options(privacy: str, cell_size: float | None, bandwidth: float | None,
                   dp_epsilon: float | None, dp_seed: int | None) -> float | None:
    """Refuse impossible options before anything is read; return the checked ε."""
    if privacy not in ("internal", "public"):
        raise InputError(f"--privacy must be 'internal' or 'public', got {privacy!r}")
    if cell_size is not None and not _positive(cell_size):
        raise InputError(f"--cell-size must be a positive number of metres, got {cell_size!r}")
    if bandwidth is not None and not _positive(bandwidth):
        raise InputError(f"--bandwidth must be a positive number of metres, got {bandwidth!r}")
    if bandwidth is not None and not (
            settings.min_bandwidth_m <= bandwidth <= settings.max_bandwidth_m):
        raise InputError(
            f"--bandwidth {bandwidth:g} m is out of bounds: it must be between "
            f"{settings.min_bandwidth_m:g} and {settings.max_bandwidth_m:,.0f} m")
    if dp_seed is not None:
        raise InputError("--dp-seed is not supported: the noise comes from OpenDP's secure "
                         "sampler, which cannot be seeded (a leaked seed removes the noise); "
                         "drop --dp-seed")
    if dp_epsilon is not None:
        dp_epsilon = check_epsilon(dp_epsilon)
        if privacy != "public":
            raise InputError("--dp-epsilon adds noise to published counts and only applies in "
                             "public mode: add --privacy public or drop --dp-epsilon")
    return dp_epsilon


def _projection_and_area(frame: gpd.GeoDataFrame, sources: Sources,
                         bbox: tuple[float, float, float, float] | None, privacy: str
                         ) -> tuple[CRS, shapely.Geometry]:
    """The local projection (from the streets, the incidents or the bbox) and the study area.

    In public mode, where only the incidents can set them, both come from lattice squares
    holding at least k incidents (:mod:`hotspot_env.core.public_area`).
    """
    osm_layers = sources.osm_layers
    from_streets = osm_layers is not None and len(osm_layers["streets"])
    reference = osm_layers["streets"] if from_streets else frame
    if bbox is not None:
        reference = gpd.GeoSeries([shapely.box(*bbox)], crs=4326)
    elif privacy == "public" and not from_streets and len(frame):
        reference = zone_reference(frame, sources.choices)
    with timed("area"):
        try:
            proj_crs, crs_choice = choose_crs(reference)
        except RuntimeError as exc:  # pyproj: no UTM zone (beyond 84° N / 80° S)
            raise InputError(
                "no local UTM projection fits these coordinates (beyond 84° N or 80° S?): check "
                "for swapped or placeholder coordinates, or give projected x/y with --crs"
            ) from exc
        sources.choices.append(crs_choice)
        area, area_choice = study_area(proj_crs, bbox=bbox, place_polygon=sources.place_polygon,
                                       osm_layers=osm_layers, user_layers=sources.user_layers,
                                       incidents=frame)
    if privacy == "public" and area_choice.value == "incident extent":  # not the raw extent
        return proj_crs, lattice_area(frame, proj_crs, sources.choices)
    sources.choices.append(area_choice)
    return proj_crs, area


def _make_grid(area: shapely.Geometry, proj_crs: CRS, cell_size: float | None, privacy: str,
               max_cells: int | None, choices: list[Choice]) -> Grid:
    """The study grid: the given or chosen cell size (public mode: never below its minimum)."""
    if cell_size is None:
        cell_size, size_choice = choose_cell_size(area.bounds)
        choices.append(size_choice)
        if privacy == "public" and cell_size < min_cell_size():
            cell_size = min_cell_size()
            choices.append(announce(Choice(
                "cell_size_m", cell_size, "raised to the public-mode minimum so a '<k' cell "
                "cannot locate an incident")))
    elif privacy == "public" and cell_size < min_cell_size():
        raise InputError(f"--cell-size {cell_size:g} m is below the public-mode minimum of "
                         f"{min_cell_size():g} m (a small cell locates an incident): use "
                         f"--cell-size {min_cell_size():g} or more")
    with timed("grid"):
        grid = Grid.from_area(area, proj_crs, float(cell_size), max_cells=max_cells)
    if grid.n_rows < 2 or grid.n_cols < 2:
        minx, miny, maxx, maxy = area.bounds
        raise InputError(
            f"--cell-size {cell_size:g} m leaves fewer than 2 cells across the study area "
            f"({maxx - minx:,.0f} x {maxy - miny:,.0f} m): use a smaller --cell-size"
        )
    return grid


def _points_inside(frame: gpd.GeoDataFrame, proj_crs: CRS, grid: Grid,
                   bbox: tuple[float, float, float, float] | None,
                   choices: list[Choice]) -> gpd.GeoDataFrame:
    """The incidents inside the grid's study area, projected (those outside: dropped, announced).

    Too few left for hot-spot statistics are logged as descriptive only.
    """
    with timed("project"):
        points = frame.to_crs(proj_crs)
    row, _ = grid.cell_index(points.geometry.x.to_numpy(), points.geometry.y.to_numpy())
    inside = row >= 0
    n_outside = int((~inside).sum())
    if not inside.any():
        if bbox is not None:
            raise NoIncidentsError(
                f"none of the {len(points):,} incidents fall inside the --bbox: give it as "
                "W,S,E,N in degrees (longitude first) around the incidents, or check that "
                "longitude and latitude are not swapped"
            )
        raise NoIncidentsError(
            f"none of the {len(points):,} incidents fall inside the study area: are longitude and "
            "latitude swapped, or is the CRS wrong (pass --crs)?"
        )
    if n_outside:
        choices.append(announce(Choice(
            "incidents_outside_area", n_outside,
            "incidents outside the study area were dropped (counted in the manifest)")))
    _warn_if_few(int(inside.sum()))
    return points.loc[inside].reset_index(drop=True)


def _bandwidth(xs: np.ndarray, ys: np.ndarray, grid: Grid, bandwidth: float | None,
               protection: Protection | None, choices: list[Choice]) -> float:
    """The KDE radius: given or chosen, raised to the public-mode minimum when public.

    Public mode chooses it from the protected cell counts, never from the
    incidents' spread (:func:`hotspot_env.core.public_basis.protected_bandwidth`).
    """
    if bandwidth is None:
        with timed("bandwidth"):
            if protection is None:
                bandwidth, bw_choice = choose_bandwidth(xs, ys, grid.cell_size)
            else:
                bandwidth, bw_choice = protected_bandwidth(grid, xs, ys, protection)
        choices.append(bw_choice)
    if protection is not None and bandwidth < settings.public_min_bandwidth_m:
        bandwidth = settings.public_min_bandwidth_m
        choices.append(announce(Choice(
            "bandwidth_m", bandwidth, "raised to the public-mode minimum so a single incident "
            "cannot be pinpointed")))
    return bandwidth


#: ``(grid, xs, ys, bandwidth, protection) -> (counts, density, gi, choices)``:
#: see :func:`local_surfaces`.
SurfaceEngine = Callable[[Grid, np.ndarray, np.ndarray, float, Protection | None],
                         tuple[np.ndarray, np.ndarray, GiStar, list[Choice]]]


def local_surfaces(grid: Grid, xs: np.ndarray, ys: np.ndarray, bandwidth: float,
                   protection: Protection | None = None
                   ) -> tuple[np.ndarray, np.ndarray, GiStar, list[Choice]]:
    """Counts, KDE and Gi* over the whole grid, in this process.

    Parameters
    ----------
    grid : Grid
        The study grid.
    xs, ys : ndarray
        The incidents used (inside the study area), in ``grid.crs``.
    bandwidth : float
        Quartic KDE radius in metres.
    protection : Protection, optional
        Public mode: the KDE and Gi* read the protected counts (the KDE from
        weighted cell centres), never the points.

    Returns
    -------
    counts : ndarray of int64
        Incidents per cell (0 outside the area).
    density : ndarray of float
        KDE in points per km² (not yet per year, not yet masked).
    gi : GiStar
        Gi* on the counts (or the protected counts).
    choices : list of Choice
        Automatic choices the engine made (none here; the tiling for dask).
    """
    with timed("counts"):
        counts = np.where(grid.mask, count_incidents(grid, xs, ys), 0)
    if protection is not None:
        basis = np.where(grid.mask, protection.counts("incidents", counts).imputed, 0)
        cx, cy = grid.centres()
        with timed("kde"):
            density = kde(grid, cx.ravel(), cy.ravel(), bandwidth,
                          weights=basis.ravel().astype(float)) * 1e6
    else:
        basis = counts
        with timed("kde"):
            density = kde(grid, xs, ys, bandwidth) * 1e6
    with timed("gi_star"):
        gi = gi_star(grid, basis)
    return counts, density, gi, []


def _surfaces(grid: Grid, xs: np.ndarray, ys: np.ndarray, bandwidth: float,
              years: float | None, protection: Protection | None,
              engine: SurfaceEngine, choices: list[Choice]
              ) -> tuple[dict[str, np.ndarray], dict[str, Kind]]:
    """The per-cell layers (counts, KDE, Gi*) and their privacy kinds.

    ``engine`` computes them (:func:`local_surfaces`, or tiles on dask); its
    automatic choices join ``choices``. In public mode every statistic
    published unchanged is computed from the protected counts, never from
    the points.
    """
    derived_kind = Kind.COUNT_DERIVED if protection is None else Kind.PROTECTED_DERIVED
    counts, density, gi, engine_choices = engine(grid, xs, ys, bandwidth, protection)
    choices.extend(engine_choices)
    if years:
        density = density / years
    density = np.where(grid.mask, density, np.nan)
    arrays = {"incidents": counts, "kde": density, "gi_z": gi.z, "gi_p": gi.p,
              "gi_bin": gi.bin}
    kinds = {"incidents": Kind.COUNT, "kde": derived_kind, "gi_z": derived_kind,
             "gi_p": derived_kind, "gi_bin": derived_kind}
    return arrays, kinds


def _map_layers(sources: Sources, proj_crs: CRS) -> dict[str, gpd.GeoDataFrame]:
    """The OSM, user and walk-audit layers in the grid's projection (never incident points)."""
    map_layers: dict[str, gpd.GeoDataFrame] = {}
    with timed("project"):
        if sources.osm_layers is not None:
            for name, layer in sources.osm_layers.items():
                map_layers[name] = layer.to_crs(proj_crs) if len(layer) else layer.set_crs(
                    4326, allow_override=True).to_crs(proj_crs)
        if sources.user_layers is not None:
            for name, layer in sources.user_layers.items():
                map_layers[f"user:{name}"] = layer.to_crs(proj_crs)
        if sources.audit_layer is not None:
            map_layers["walk_audit"] = sources.audit_layer.to_crs(proj_crs)
    return map_layers


def _parameters(grid: Grid, sources: Sources, bandwidth: float, years: float | None,
                privacy: str, dp_epsilon: float | None, excluded: tuple[str, ...],
                timezone: str | None, protection: Protection | None) -> dict[str, Any]:
    """Every parameter the run used, automatic or given (the manifest's ``parameters``)."""
    data = sources.data
    parameters = {
        "crs": grid.crs.to_string(),
        "cell_size_m": float(grid.cell_size),
        "bandwidth_m": float(bandwidth),
        "kernel": "quartic",
        "kde_units": "incidents per km² per year" if years else "incidents per km²",
        "period_years": years,
        "gi_weights": "queen contiguity, binary, self included (Gi*)",
        "gi_fdr_levels": list(settings.gi_fdr_levels),
        "privacy": privacy,
        "k_threshold": settings.k_threshold,
        "dp_epsilon": None if dp_epsilon is None else float(dp_epsilon),
        "excluded_sources": list(excluded),
        "grid": grid.to_dict(),
        "timezone": timezone,
        "record_period": record_period(data.frame, timezone, data.date_precision),
        "date_precision": data.date_precision,
    }
    if privacy == "public":
        parameters["public_min_bandwidth_m"] = float(settings.public_min_bandwidth_m)
        parameters["public_min_cell_size_m"] = float(min_cell_size())
        if protection is not None and protection.budget is not None:
            parameters["dp_accountant"] = "sequential composition"
    return parameters


def _positive(value: Any) -> bool:
    """True for a finite real number greater than zero."""
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(value) and value > 0)


def _span_years(points: gpd.GeoDataFrame, precision: str | None = None) -> float | None:
    """Length of the recorded period in years (``None`` without dates).

    Month-only dates cover their whole last month (a single month is about
    31 days, not one).
    """
    when = points["datetime"].dropna()
    if when.empty:
        return None
    last = when.max()
    if precision == "month":
        last = last + pd.offsets.MonthBegin(1) - pd.Timedelta(days=1)
    days = (last - when.min()).total_seconds() / 86400 + 1
    return round(max(days, 1.0) / 365.25, 4)
