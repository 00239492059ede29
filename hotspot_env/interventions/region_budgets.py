"""Optional budget caps per region on top of the portfolio's overall budget.

A *region* is a column of the candidate table: the ``district`` of a single
city (the run's districts or the boundaries given), or the region of a
national run (:mod:`hotspot_env.scale.national_portfolio`). A cap says
"spend at most this much (USD per year) in this region"; the overall budget
still bounds the whole portfolio, and regions without a cap are bounded by it
alone. The optimiser adds one row per capped region to its MILP
(:func:`hotspot_env.interventions.optimise.optimise`), the greedy re-rank
keeps a running balance per region
(:func:`hotspot_env.interventions.greedy.joint_greedy`).

On the command line a cap is ``--region-budget NAME=AMOUNT`` (repeatable).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hotspot_env.errors import InputError

if TYPE_CHECKING:
    from hotspot_env.core.analysis import Analysis

#: The candidate column that names a candidate's region in a single-city run.
DEFAULT_REGION_COLUMN: str = "district"


def _amount(name: str, raw: object) -> float:
    """One cap as a finite number >= 0, or a one-line error naming the region."""
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(f"--region-budget {name}={raw}: the amount is not a number of USD per "
                         "year (e.g. --region-budget D01=50000)") from None
    if not math.isfinite(value) or value < 0:
        raise InputError(f"--region-budget {name}={raw}: the amount must be a number >= 0 "
                         "(USD per year)")
    return value


def parse_region_budgets(given: Mapping[str, object] | Iterable[str] | None,
                         budget: object = "unchecked") -> dict[str, float] | None:
    """Region caps from ``NAME=AMOUNT`` texts or a mapping; None when none is given.

    Parameters
    ----------
    given : mapping, iterable of str or None
        ``{"D01": 50_000}`` or ``["D01=50000", "D02=0"]`` (USD per year).
    budget : float or None, optional
        The overall budget, when the caller has one to check: caps without
        an overall budget (None) are refused, since nothing would be selected.

    Returns
    -------
    dict of str to float or None
        Caps by region name, in the order given.

    Raises
    ------
    InputError
        A text without ``=`` or without a name, a region given twice, an
        amount that is not a number >= 0, caps with a ``budget`` of None.
    """
    caps = _parse(given)
    if caps is not None and budget is None:
        raise InputError("--region-budget caps spending within --budget: give --budget too")
    return caps


def _parse(given: Mapping[str, object] | Iterable[str] | None) -> dict[str, float] | None:
    if given is None:
        return None
    if isinstance(given, str):
        given = [given]
    pairs: list[tuple[str, object]] = []
    if isinstance(given, Mapping):
        pairs = [(str(k), v) for k, v in given.items()]
    else:
        for text in given:
            name, sep, amount = str(text).partition("=")
            if not sep or not name.strip():
                raise InputError(f"--region-budget {text!r} is not NAME=AMOUNT "
                                 "(e.g. --region-budget D01=50000)")
            pairs.append((name.strip(), amount.strip()))
    caps: dict[str, float] = {}
    for name, raw in pairs:
        if name in caps:
            raise InputError(f"--region-budget {name} is given twice: give each region once")
        caps[name] = _amount(name, raw)
    return caps or None


@dataclass(frozen=True)
class RegionCaps:
    """Region caps as the optimiser reads them.

    Attributes
    ----------
    code : ndarray of int64
        Per candidate, the index of its region's cap, or -1 (no cap).
    cap : ndarray of float
        Cap per capped region (USD per year), in the order given.
    names : tuple of str
        The capped regions' names.
    """

    code: np.ndarray
    cap: np.ndarray
    names: tuple[str, ...]

    def fits(self, cost: np.ndarray, selected: np.ndarray) -> bool:
        """Whether ``selected`` spends within every region's cap."""
        if not self.names:
            return True
        capped = selected & (self.code >= 0)
        spent = np.bincount(self.code[capped], weights=cost[capped], minlength=len(self.names))
        return bool(np.all(spent <= self.cap * (1 + 1e-12)))

    def of_candidates(self, cost: np.ndarray) -> np.ndarray:
        """Per candidate, its region's cap (``inf`` where uncapped)."""
        out = np.full(cost.shape, np.inf)
        has = self.code >= 0
        out[has] = self.cap[self.code[has]]
        return out


def region_caps(regions: np.ndarray, caps: Mapping[str, float] | None,
                known: Iterable[str] | None = None,
                column: str = DEFAULT_REGION_COLUMN) -> RegionCaps | None:
    """The caps of ``caps`` over the candidates' ``regions``; None without caps.

    Parameters
    ----------
    regions : ndarray of str
        Region of each candidate (the candidate table's ``column``).
    caps : mapping of str to float or None
        From :func:`parse_region_budgets`.
    known : iterable of str, optional
        Every region of the run (a region may have no candidate); default the
        regions of the candidates.
    column : str
        The column's name, for the error message.

    Raises
    ------
    InputError
        A cap names a region the run does not have.
    """
    if not caps:
        return None
    regions = np.asarray(regions).astype(str)
    names = sorted(set(known) if known is not None else set(regions.tolist()))
    unknown = [name for name in caps if name not in set(names)]
    if unknown:
        shown = ", ".join(names[:12]) + (f", ... ({len(names)} in all)" if len(names) > 12
                                         else "")
        raise InputError(f"--region-budget names unknown {column} {', '.join(unknown)}: "
                         f"use one of {shown or '(none: no candidate)'}")
    order = list(caps)
    lookup = {name: i for i, name in enumerate(order)}
    code = np.array([lookup.get(r, -1) for r in regions.tolist()], dtype=np.int64)
    return RegionCaps(code, np.array([caps[n] for n in order], dtype=float), tuple(order))


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
    from hotspot_env.core.choices import unannounced
    from hotspot_env.interventions.equity import choose_zones
    from hotspot_env.interventions.optimise import check_budget

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
