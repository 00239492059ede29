"""District caps checked against the run's districts once the grid is known.

:mod:`hotspot_env.interventions.region_budgets` parses caps and applies them
in the optimiser; this module names the districts a run's interventions stage
will use as soon as the core analysis has made the grid, so that
:func:`hotspot_env.core.pipeline.run` refuses a misspelt district before any
later stage runs (:func:`check_district_caps`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hotspot_env.core.analysis import Analysis
from hotspot_env.core.choices import unannounced
from hotspot_env.interventions.equity import choose_zones
from hotspot_env.interventions.optimise import check_budget
from hotspot_env.interventions.region_budgets import (
    DEFAULT_REGION_COLUMN,
    parse_region_budgets,
    region_caps,
)

#: Options of the time analyses that give their own districts (the interventions' zones follow).
_TRENDS_DISTRICT_OPTIONS: tuple[str, ...] = ("district_boundaries", "district_block_cells")


def check_district_caps(analysis: Analysis, options: dict[str, Any],
                        trends_options: dict[str, Any] | None = None) -> None:
    """Refuse bad district caps once the grid is known, before any later stage runs.

    The interventions stage checks its caps against the run's districts, the
    last thing a run does; this check names the same districts right after
    the core analysis (grid, counts, KDE, Gi*), so a misspelt name costs
    seconds, not the whole run. The districts are those the stage will use
    (:func:`hotspot_env.interventions.equity.choose_zones`: the boundaries
    given, a zone layer of the map, else the grid's blocks).

    Parameters
    ----------
    analysis : Analysis
        After :func:`hotspot_env.core.analysis.analyze`.
    options : dict
        The interventions stage's options (``budget``, ``region_budgets``,
        ``region_column``, ``boundaries``).
    trends_options : dict, optional
        The time analyses' options: district boundaries or block sizes given
        there decide the districts only when that stage runs, so the names
        are then left to the stage's own check.

    Raises
    ------
    InputError
        An amount that is not a number >= 0, a name given twice, caps without
        a budget, a name that is not one of the run's districts.
    """
    budget = check_budget(options.get("budget"))
    caps = parse_region_budgets(options.get("region_budgets"), budget)
    if caps is None or options.get("region_column", DEFAULT_REGION_COLUMN) != \
            DEFAULT_REGION_COLUMN:
        return  # caps over another column are known from the candidates only
    if any((trends_options or {}).get(k) is not None for k in _TRENDS_DISTRICT_OPTIONS):
        return
    with unannounced():  # the stage announces its zones when it runs
        zones, _ = choose_zones(analysis, options.get("boundaries"))
    region_caps(np.zeros(0, dtype=str), caps, zones.names)
