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

import numpy as np

from hotspot_env.errors import InputError

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
                         budget: object = "unchecked",
                         budget_option: str = "--budget") -> dict[str, float] | None:
    """Region caps from ``NAME=AMOUNT`` texts or a mapping; None when none is given.

    Parameters
    ----------
    given : mapping, iterable of str or None
        ``{"D01": 50_000}`` or ``["D01=50000", "D02=0"]`` (USD per year).
    budget : float or None, optional
        The overall budget, when the caller has one to check: caps without
        an overall budget (None) are refused, since nothing would be selected.
    budget_option : str
        The overall budget's option, for the message (``--national-budget``).

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
        raise InputError(f"--region-budget caps spending within {budget_option}: give "
                         f"{budget_option} too")
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
