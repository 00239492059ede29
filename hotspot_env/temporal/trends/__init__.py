"""Time: emerging hot spots, change between two periods, and the trends stage.

The modules, in the order the stage uses them:

``cube``
    The space-time cube: the time step (chosen from the recording period and
    announced) and incident counts per grid cell and step.
``space_time_gi`` and ``exact_pvalues``
    Gi* of every bin (per time slice, or ArcGIS's space-time neighbours) with
    exact randomisation p-values and the Benjamini-Hochberg FDR.
``trend_test``
    The Mann-Kendall trend test of every cell's series at once.
``emerging``
    ArcGIS Pro's emerging hot spot classes from the significant bins and the
    trend.
``change``
    The change of each cell's daily rate between two periods (binomial test).
``run``
    The pipeline stage, which also runs districts, profiles, demand and work
    timing (:mod:`hotspot_env.temporal.profiles`,
    :mod:`~hotspot_env.temporal.demand`, :mod:`~hotspot_env.temporal.work_timing`).
``writer``
    ``trends.csv`` and ``demand_forecast.csv``.

References
----------
Mann, H. B. (1945). Nonparametric tests against trend. Econometrica 13, 245-259.
Kendall, M. G. (1975). Rank Correlation Methods, 4th ed. Griffin, London.
Esri. How Emerging Hot Spot Analysis works. ArcGIS Pro tool reference.
Ashby, M. P. J. (2023). sfhotspot: Hot-Spot Analysis with Simple Features. R package.
"""

from hotspot_env.temporal.trends.change import Change, change_test, choose_change_periods
from hotspot_env.temporal.trends.cube import (
    MIN_STEP_COVERAGE,
    MIN_STEPS,
    Cube,
    build_cube,
    check_time_steps,
    choose_time_step,
    complete_steps,
    month_time_step,
)
from hotspot_env.temporal.trends.emerging import (
    CLASSES,
    COLD_CLASSES,
    HOT_CLASSES,
    NO_PATTERN,
    PATTERNS,
    TREND_COLOURS,
    Emerging,
    classify,
    emerging_hot_spots,
)
from hotspot_env.temporal.trends.exact_pvalues import randomisation_pvalues
from hotspot_env.temporal.trends.run import TRENDS_MESSAGE, stage
from hotspot_env.temporal.trends.space_time_gi import MAX_TIME_LAG, SliceGi, cube_gi
from hotspot_env.temporal.trends.trend_test import MannKendall, mann_kendall
from hotspot_env.temporal.trends.writer import (
    DEMAND_KINDS,
    TRENDS_KINDS,
    trends_frame,
    write_trends,
)

__all__ = [
    "CLASSES", "COLD_CLASSES", "DEMAND_KINDS", "HOT_CLASSES", "MAX_TIME_LAG", "MIN_STEPS",
    "MIN_STEP_COVERAGE", "NO_PATTERN", "PATTERNS", "TREND_COLOURS", "TRENDS_KINDS",
    "TRENDS_MESSAGE", "Change", "Cube", "Emerging", "MannKendall", "SliceGi", "build_cube",
    "change_test", "check_time_steps", "choose_change_periods", "choose_time_step",
    "classify", "complete_steps", "cube_gi", "emerging_hot_spots",
    "mann_kendall", "month_time_step", "randomisation_pvalues", "stage",
    "trends_frame", "write_trends",
]
