"""One analysis, end to end: the :class:`Analysis` result and :func:`analyze`.

The flow runs in one direction (inputs -> area/grid -> density and hot spots
-> outputs); each stage adds to the :class:`Analysis` and never reaches back.
:func:`analyze` checks its options (:mod:`~hotspot_env.core.options`), reads the
inputs (:mod:`~hotspot_env.core.sources`), then runs named steps: projection,
study area, grid and the points inside it (:mod:`~hotspot_env.core.study_frame`),
bandwidth and the surfaces (counts, KDE, Gi*: :mod:`~hotspot_env.core.surfaces`),
map layers, counts and parameters (:mod:`~hotspot_env.core.run_record`); each
costly step is timed with :func:`hotspot_env.core.timing.timed` for the
benchmark. The CLI, the app and a notebook all call :func:`analyze`, so they
get the same numbers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from hotspot_env import settings
from hotspot_env.core.area import parse_bbox
from hotspot_env.core.choices import Choice
from hotspot_env.core.grid import Grid
from hotspot_env.core.options import check_options
from hotspot_env.core.public_basis import cells_only, published_inputs
from hotspot_env.core.run_record import (
    count_summary,
    project_map_layers,
    run_parameters,
    span_years,
)
from hotspot_env.core.sources import drop_excluded_sources, read_sources
from hotspot_env.core.study_frame import make_grid, points_inside, projection_and_area
from hotspot_env.core.surfaces import SurfaceEngine, local_surfaces, run_bandwidth, surface_layers
from hotspot_env.inputs.io import Incidents
from hotspot_env.outputs.privacy import Kind, Protection

if TYPE_CHECKING:  # stage result types: those modules import this one
    from hotspot_env.factors.base import FactorResult
    from hotspot_env.interventions.result import InterventionsResult
    from hotspot_env.models.forecast import ForecastResult
    from hotspot_env.models.rtm import RTMResult

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
        Counts, KDE and Gi* (default ``core.surfaces.local_surfaces``; dask: ``TiledSurfaces``).

    Returns
    -------
    Analysis
    """
    dp_epsilon = check_options(privacy, cell_size, bandwidth, dp_epsilon, dp_seed)
    bbox_tuple = parse_bbox(bbox) if isinstance(bbox, str) else bbox  # fail fast
    sources = read_sources(incidents, bbox=bbox_tuple, osm=osm, layers=layers, place=place,
                           walk_audit=walk_audit, crs=crs, timezone=timezone, x=x, y=y)
    choices = sources.choices
    excluded = tuple(DEFAULT_EXCLUDED_SOURCES if exclude_sources is None else exclude_sources)
    frame, n_excluded = drop_excluded_sources(sources.data.frame, excluded, choices)
    proj_crs, area = projection_and_area(frame, sources, bbox_tuple, privacy)
    grid = make_grid(area, proj_crs, cell_size, privacy, max_cells, choices)
    points = points_inside(frame, proj_crs, grid, bbox_tuple, choices)
    points, protection = cells_only(points, grid, privacy, dp_epsilon, choices)
    xs, ys = points.geometry.x.to_numpy(), points.geometry.y.to_numpy()
    bandwidth = run_bandwidth(xs, ys, grid, bandwidth, protection, choices)
    years = span_years(points, sources.data.date_precision)
    arrays, kinds = surface_layers(grid, xs, ys, float(bandwidth), years, protection,
                                   surfaces or local_surfaces, choices)
    parameters = run_parameters(grid, sources, bandwidth, years, privacy, dp_epsilon, excluded,
                                timezone, protection)
    counts = count_summary(sources.data, n_excluded, len(frame) - len(points), arrays)
    return Analysis(grid, area, arrays, project_map_layers(sources, proj_crs), parameters,
                    choices, published_inputs(sources, protection, choices), counts, points,
                    kinds=kinds, protection=protection)
