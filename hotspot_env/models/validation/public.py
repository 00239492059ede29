"""Public mode's validation: scored on the protected counts, never on the true held-out incidents.

The public forecast is fitted on stand-in incidents rebuilt from the protected
cell-by-period cube (:func:`hotspot_env.outputs.privacy.protected_points`,
release ``forecast_cube``). The public validation holds out the last of those
periods and scores every method on the same stand-ins, so each published
figure is post-processing of that release: adding or removing one incident in
a cell whose count stays below k changes no byte of it
(``tests/test_public_neighbours.py``), and it spends no ε of its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from hotspot_env.core.choices import Choice, announce, unannounced
from hotspot_env.models.forecast.periods import Periods, choose_period, month_periods, naive_utc
from hotspot_env.outputs.privacy import protected_points

if TYPE_CHECKING:
    from hotspot_env.core.analysis import Analysis


def forecast_periods(analysis: Analysis) -> Periods | None:
    """The period scheme the public forecast stage uses (see its ``stage``).

    Month-only dates take :func:`month_periods`, others :func:`choose_period`;
    both read only the record's dates (announced by the forecast stage, so
    not logged again here).
    """
    times = analysis.points["datetime"]
    with unannounced():  # the forecast stage announced this scheme already
        if analysis.parameters.get("date_precision") == "month":
            periods, _ = month_periods(times)
        else:
            periods, _ = choose_period(times)
    return periods


def protected_view(analysis: Analysis) -> tuple[Analysis, str | None, str | None]:
    """A copy of ``analysis`` whose incidents are the protected stand-ins, and the test window.

    Returns
    -------
    view : Analysis
        A shallow copy; ``points`` holds one point per protected count at its
        cell's centre, dated in the middle of its period.
    split_date : str or None
        The first day of the last forecast period (``YYYY-MM-DD``): the test
        window is that period's stand-ins. ``None`` when the record is too
        short for two periods (the stand-ins then spread evenly over the
        record, and the validation's own rule splits them).
    test_end : str or None
        The end of the last forecast period (the stand-ins sit at the periods'
        middles, so the held-out window's end is stated from the scheme).
    """
    import copy

    pts = analysis.points
    geoms = pts.geometry.values
    periods = forecast_periods(analysis)
    x, y, t = protected_points(analysis, shapely.get_x(geoms), shapely.get_y(geoms),
                               naive_utc(pts["datetime"]), periods)
    stand_ins = gpd.GeoDataFrame({"datetime": pd.to_datetime(t)},
                                 geometry=gpd.points_from_xy(x, y), crs=pts.crs)
    view = copy.copy(analysis)
    view.points = stand_ins
    split = end = None
    if periods is not None and periods.n >= 2:
        start = periods.start(periods.n - 1) + np.timedelta64(12, "h")  # nearest midnight
        split = str(start.astype("datetime64[D]"))
        end = str(np.datetime64(periods.end, "D"))
    return view, split, end


def basis_choice() -> Choice:
    """The announcement that public validation is scored on the protected counts."""
    return announce(Choice(
        "validation_basis", "protected counts",
        "public mode: the validation holds out the last forecast period of the protected "
        "cell-by-period counts (the stand-ins the public forecast is fitted on) and scores "
        "every method on them, never on the true held-out incidents"))
