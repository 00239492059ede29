"""The trends stage: time analyses of a run, composed from named steps.

The stage builds the space-time cube, classifies emerging hot spots, tests the
change between two periods, and then describes *when* incidents happen per
district: profiles, a weekly demand forecast and work timing. Each step
declares its per-cell arrays through the privacy gate and appends what it
chose to ``choices`` in the order the steps run (the order of the announced
choices and declared arrays is part of the outputs).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely

from hotspot_env.core.choices import Choice, announce
from hotspot_env.core.grid import Grid
from hotspot_env.core.stages import declares
from hotspot_env.errors import InputError
from hotspot_env.outputs.privacy import Kind, declare
from hotspot_env.temporal import demand, profiles, work_timing
from hotspot_env.temporal.trends.change import change_test, choose_change_periods
from hotspot_env.temporal.trends.cube import (
    MIN_STEPS,
    Cube,
    build_cube,
    check_time_steps,
    choose_time_step,
    month_time_step,
)
from hotspot_env.temporal.trends.emerging import NO_PATTERN, emerging_hot_spots
from hotspot_env.temporal.trends.public import protected_change_counts, protected_cube

if TYPE_CHECKING:
    from hotspot_env.core.analysis import Analysis

TRENDS_MESSAGE = "time analyses need a date column; everything else still ran"

#: Options :func:`stage` accepts (anything else is refused before any work).
OPTIONS = frozenset({
    "time_step", "time_lag", "significance", "alpha", "timezone", "period", "change_boundary",
    "horizon_weeks", "district_boundaries", "district_id_column", "district_block_cells"})


@dataclass
class _Dated:
    """The dated incidents of a run: local calendar, coordinates and what was announced."""

    zone: str
    calendar: profiles.LocalCalendar
    x: np.ndarray
    y: np.ndarray
    month_only: bool


@declares(adds=("trends", "trends_message", "arrays.district", "arrays.timing",
                  "arrays.trend_class", "arrays.change_class", "map_layers.emerging_hot_spots"))
def stage(analysis: Analysis, **options: Any) -> None:
    """Pipeline stage: emerging hot spots, change, profiles, demand and work timing.

    Parameters
    ----------
    analysis : Analysis
        The run so far; gains ``arrays["trend_class"]``, ``trend_z``,
        ``trend_p``, ``count_trend_z``, ``count_trend_p``, ``change_before``,
        ``change_after``, ``change_p``, ``change_class``, ``district``,
        ``timing``; ``map_layers["emerging_hot_spots"]``; and
        ``analysis.trends``. Without dates only
        ``analysis.trends_message`` is set.
    **options
        ``time_step`` (str), ``time_lag`` (int, default 0), ``significance``
        ("exact"/"normal"), ``alpha`` (0.05), ``timezone`` (str),
        ``period`` ((first, last) recording dates; default
        ``parameters["record_period"]`` or the incident dates),
        ``change_boundary`` (date), ``horizon_weeks`` (8),
        ``district_boundaries`` (GeoDataFrame), ``district_id_column`` (str),
        ``district_block_cells`` (int).
    """
    unknown = set(options) - OPTIONS
    if unknown:
        raise InputError(f"unknown trends option(s): {', '.join(sorted(unknown))}")
    demand.check_horizon(options.get("horizon_weeks", 8))  # before any work
    if not analysis.has_dates:
        analysis.trends_message = TRENDS_MESSAGE
        return
    alpha = float(options.get("alpha", 0.05))
    choices: list[Choice] = []
    messages: list[str] = []
    dated = _dated_incidents(analysis, options, choices)
    true_cube = _space_time_cube(analysis, dated, options.get("time_step"), choices)
    cube = protected_cube(analysis, true_cube, choices)  # public: what the tests may read
    time_lag = int(options.get("time_lag", 0))
    significance = options.get("significance", "exact")
    class_counts = _emerging_hot_spots(analysis, cube, time_lag, significance, alpha, messages)
    change_info = _change_between_periods(analysis, true_cube, options.get("change_boundary"),
                                          alpha, choices)
    when = _when_per_district(analysis, dated, options, choices, messages)
    analysis.choices.extend(choices)
    analysis.parameters.update(
        time_step=cube.step, time_lag=time_lag, trend_significance=significance,
        trend_alpha=alpha, profile_timezone=dated.zone)
    analysis.trends = {
        "cube": {"step": cube.step, "n_steps": cube.n_steps, "labels": cube.labels(),
                 "incidents_per_step": cube.counts.sum(axis=0).tolist(),
                 "incidents_outside_steps": cube.outside, "time_lag": time_lag,
                 "significance": significance, "alpha": alpha,
                 "period": [str(p) for p in dated.calendar.period]},
        "classes": class_counts,
        "change": change_info,
        **when,
        "messages": messages,
    }


def _dated_incidents(analysis: Analysis, options: dict[str, Any],
                     choices: list[Choice]) -> _Dated:
    """Local calendar of the incidents (time zone announced, undated ones counted)."""
    zone, zone_choice = profiles.run_timezone(analysis, options.get("timezone"))
    if zone_choice:
        choices.append(zone_choice)
    period = options.get("period") or analysis.parameters.get("record_period")
    cal = profiles.local_calendar(analysis.points, zone, period)
    n_undated = int((~cal.dated).sum())
    if n_undated:
        choices.append(announce(Choice(
            "undated_incidents", n_undated, "incidents without a date are left out of the time "
            "analyses")))
    geoms = analysis.points.geometry.values  # points: no GeoSeries type checks needed
    return _Dated(zone, cal, shapely.get_x(geoms), shapely.get_y(geoms),
                  analysis.parameters.get("date_precision") == "month")


def _space_time_cube(analysis: Analysis, dated: _Dated, step: str | None,
                     choices: list[Choice]) -> Cube:
    """The cube at the given or chosen time step (never finer than months for month dates)."""
    cal = dated.calendar
    cube_period = cal.period
    if step is None and dated.month_only:
        step, c, cube_period = month_time_step(cal.date, cal.period)
        choices.append(c)
    elif step is None:
        step, c = choose_time_step(cal.period)
        choices.append(c)
    grid = analysis.grid
    check_time_steps(cube_period, step, int(grid.mask.sum()))  # also refuses unknown steps
    cube = build_cube(grid, dated.x, dated.y, cal.date, cube_period, step)
    if cube.outside:
        choices.append(announce(Choice(
            "incidents_outside_steps", cube.outside, "incidents in an incomplete first or last "
            f"{step} are left out of the trends")))
    return cube


def _emerging_hot_spots(analysis: Analysis, cube: Cube, time_lag: int, significance: str,
                        alpha: float, messages: list[str]) -> dict[str, int]:
    """Declare the per-cell classes and trends, add the map layer; cells per class."""
    grid = analysis.grid
    mask = grid.mask
    trend_class = np.full(grid.shape, "", dtype=object)
    nan = np.full(grid.shape, np.nan)
    trend_z, trend_p, ct_z, ct_p = nan.copy(), nan.copy(), nan.copy(), nan.copy()
    class_counts: dict[str, int] = {}
    if cube.n_steps >= MIN_STEPS and cube.counts.sum() > 0:
        result = emerging_hot_spots(grid, cube.counts, time_lag, significance, alpha)
        trend_class[mask] = result.trend_class
        trend_z[mask], trend_p[mask] = result.trend_z, result.trend_p
        ct_z[mask], ct_p[mask] = result.count_trend_z, result.count_trend_p
        freq = pd.Series(result.trend_class, dtype=object).value_counts().sort_index()
        class_counts = {str(v): int(f) for v, f in freq.items()}
    else:
        trend_class[mask] = NO_PATTERN
        messages.append(f"only {cube.n_steps} complete {cube.step}s: emerging hot spots need "
                        f"at least {MIN_STEPS}")
    for name, values in (("trend_class", trend_class), ("trend_z", trend_z),
                         ("trend_p", trend_p), ("count_trend_z", ct_z), ("count_trend_p", ct_p)):
        declare(analysis, name, values, Kind.COUNT_DERIVED)
    # polygons only for the cells the layer keeps (usually a few of the grid's)
    patterned = replace(grid, mask=grid.mask & (trend_class != NO_PATTERN))
    layer = patterned.to_geodataframe(
        {"trend_class": trend_class, "trend_z": trend_z, "trend_p": trend_p})
    if layer.empty:  # no text to infer the class column's dtype from: as the whole grid's
        layer["trend_class"] = layer["trend_class"].astype(
            pd.Series(trend_class[mask][:1]).dtype)
    analysis.map_layers["emerging_hot_spots"] = layer
    return class_counts


def _change_between_periods(analysis: Analysis, cube: Cube, boundary: object | None,
                            alpha: float, choices: list[Choice]) -> dict[str, Any]:
    """Declare the per-cell change test; the periods and cells up/down (empty under 2 steps)."""
    if cube.n_steps < 2:
        return {}
    grid = analysis.grid
    (start, mid, end), c = choose_change_periods(cube, boundary)
    choices.append(c)
    before_steps = (cube.starts >= start) & (cube.starts < mid)
    after_steps = (cube.starts >= mid) & (cube.starts < end)
    # true counts, declared as counts: the output gate protects them (one DP release)
    before = _to_grid(grid, cube.counts[:, before_steps].sum(axis=1), 0)
    after = _to_grid(grid, cube.counts[:, after_steps].sum(axis=1), 0)
    for name, values in (("change_before", before), ("change_after", after)):
        declare(analysis, name, values, Kind.COUNT)
    # the test reads what is published (public mode: the released counts), never the truth
    change = change_test(*protected_change_counts(analysis, before, after, grid.mask),
                         float((mid - start).astype(int)), float((end - mid).astype(int)), alpha)
    change_p = change.p
    if analysis.parameters.get("privacy") == "public":  # a p-value must not reveal "<k"
        k = analysis.parameters.get("k_threshold") or 5
        change_p = np.where(change.before + change.after < k, np.nan, change_p)
    declare(analysis, "change_p", _to_grid(grid, change_p, np.nan), Kind.COUNT_DERIVED)
    declare(analysis, "change_class", _to_grid(grid, change.change_class, ""),
            Kind.COUNT_DERIVED)
    return {"before": f"{start} to {mid - 1}", "after": f"{mid} to {end - 1}",
            "increase": int((change.change_class == "increase").sum()),
            "decrease": int((change.change_class == "decrease").sum())}


def _when_per_district(analysis: Analysis, dated: _Dated, options: dict[str, Any],
                       choices: list[Choice], messages: list[str]) -> dict[str, Any]:
    """Districts, their profiles, the hot spot areas' profiles, weekly demand, work timing."""
    grid = analysis.grid
    districts, dist_choice = _districts(grid, options)
    choices.append(dist_choice)
    declare(analysis, "district", districts.labels, Kind.IDENTIFIER)
    cal, xs, ys = dated.calendar, dated.x, dated.y
    point_d = profiles.point_districts(grid, districts, xs, ys)
    light = profiles.light_conditions(analysis.points)
    hemi = profiles.hemisphere(grid)
    prof = profiles.profiles(cal, point_d, districts.ids, light, hemi)
    arrays = analysis.arrays
    hot_areas = profiles.hotspot_areas(grid, arrays.get("gi_bin", np.zeros(grid.shape)),
                                       arrays.get("incidents", np.zeros(grid.shape)))
    hot_prof = profiles.profiles(cal, profiles.point_districts(grid, hot_areas, xs, ys),
                                 hot_areas.ids, light, hemi) if hot_areas.ids else None
    if prof.message:
        messages.append(prof.message)
    if dated.month_only:  # weekly demand from month-only dates would invent the weeks
        fc = demand.DemandResult(None, None, None, "dates are months only: no weekly demand "
                                 "forecast (it needs the day of each incident)")
    else:
        fc = demand.demand_forecast(cal, point_d, districts.ids, analysis.points["category"],
                                    horizon=demand.check_horizon(options.get("horizon_weeks", 8)),
                                    privacy=analysis.parameters.get("privacy", "internal"),
                                    k=analysis.parameters.get("k_threshold"))
    if fc.message:
        messages.append(fc.message)
    declare(analysis, "timing", work_timing.work_timing(analysis, prof, districts, hemi),
            Kind.LABEL)
    return {"districts": districts, "profiles": prof, "hotspot_profiles": hot_prof,
            "demand": fc.table, "backtest": fc.backtest}


def _to_grid(grid: Grid, values: np.ndarray, fill: Any) -> np.ndarray:
    """Per-cell values of ``grid.mask`` cells as a ``grid.shape`` array (``fill`` outside)."""
    values = np.asarray(values)
    out = np.full(grid.shape, fill, dtype=values.dtype)
    out[grid.mask] = values
    return out


def _districts(grid: Grid, options: dict[str, Any]) -> tuple[profiles.Districts, Choice]:
    """The given district boundaries on the grid, or the grid's own blocks."""
    boundaries = options.get("district_boundaries")
    if boundaries is not None:
        return profiles.boundary_districts(grid, boundaries, options.get("district_id_column"))
    return profiles.grid_districts(grid, options.get("district_block_cells"))
