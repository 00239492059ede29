"""The forecast in the pipeline: the stage that adds ``arrays["forecast"]``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import shapely

from hotspot_env.core.choices import Choice, announce
from hotspot_env.core.stages import declares
from hotspot_env.models.forecast.fitting import fit_forecast
from hotspot_env.models.forecast.periods import choose_period, month_periods, naive_utc

if TYPE_CHECKING:
    from hotspot_env.core.analysis import Analysis


@declares(adds=("forecast", "arrays.forecast"))
def stage(analysis: Analysis, **options: Any) -> None:
    """Pipeline stage: per-cell ``forecast`` (expected incidents next year) when dates exist.

    Adds ``arrays["forecast"]``, ``analysis.forecast`` (:class:`ForecastResult`),
    ``parameters["forecast"]`` and the choices. Without dates nothing is added
    except a notice. Options are passed to :func:`fit_forecast`.
    """
    if not analysis.has_dates:
        analysis.choices.append(announce(Choice(
            "forecast", "not made", "the incidents have no dates, so no per-year forecast")))
        return
    from hotspot_env.outputs.privacy import Kind, declare, protected_points, protection_for

    if analysis.parameters.get("privacy") == "public":
        from hotspot_env import settings

        options.setdefault("min_radius_m", max(settings.public_min_bandwidth_m,
                                               2 * analysis.grid.cell_size))
    pts = analysis.points
    geoms = pts.geometry.values  # points: shapely reads x and y without GeoSeries' type checks
    x, y, times = shapely.get_x(geoms), shapely.get_y(geoms), pts["datetime"]
    if analysis.parameters.get("date_precision") == "month" and "periods" not in options:
        periods, choice = month_periods(pts["datetime"])
        analysis.choices.append(choice)
        if periods is None:
            analysis.choices.append(announce(Choice(
                "forecast", "not made", "month-only dates without enough periods to learn from "
                "(see forecast_period)")))
            return
        options["periods"] = periods
    kind = Kind.COUNT_DERIVED
    if protection_for(analysis) is not None:  # public: fit on the protected counts only
        periods = options.get("periods")
        if periods is None:
            periods, period_choice = choose_period(times)
            analysis.choices.append(period_choice)
        x, y, times = protected_points(analysis, x, y, naive_utc(times), periods)
        options["periods"] = periods
        kind = Kind.PROTECTED_DERIVED
    result = fit_forecast(analysis.grid, x, y, times, fallback_bandwidth=options.pop(
                              "fallback_bandwidth", analysis.parameters.get("bandwidth_m")),
                          **options)
    declare(analysis, "forecast", result.forecast, kind)
    analysis.forecast = result
    analysis.parameters["forecast"] = result.to_dict()
    analysis.choices.extend(result.choices)
