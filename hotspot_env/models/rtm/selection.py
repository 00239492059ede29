"""Fitting the risk terrain model: family, stepwise BIC selection, Holm correction (RTMDx).

:func:`fit` runs the RTMDx procedure (Caplan & Kennedy 2016, ch. 4) in named
steps: the count family (:func:`_choose_family`), each factor's best
operationalisation (:meth:`_Selection.best_per_factor`), bidirectional
stepwise BIC (:func:`_stepwise`), then an unpenalised refit with a Holm test
over every operationalisation tried (:func:`_holm_refit`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

# scipy.stats is imported in the functions that use it (see rtm.glm).
from hotspot_env.core.choices import Choice, announce
from hotspot_env.core.grid import Grid
from hotspot_env.errors import InputError
from hotspot_env.models.rtm.candidates import Candidate, block_length, candidate_indicators
from hotspot_env.models.rtm.constants import (
    BLOCK_MULTIPLES,
    FWER,
    OPERATIONS,
    TABLE_COLUMNS,
    TOP_PERCENT,
)
from hotspot_env.models.rtm.glm import Design, DesignStats, Fit
from hotspot_env.models.rtm.result import RTMResult, headline


def fit(
    grid: Grid,
    counts: np.ndarray,
    layers: dict[str, Any],
    *,
    streets: gpd.GeoDataFrame | None = None,
    block_length_m: float | None = None,
    multiples: tuple[float, ...] = BLOCK_MULTIPLES,
    operations: tuple[str, ...] = OPERATIONS,
    top_pct: float = TOP_PERCENT,
    fwer: float = FWER,
    protective: bool = False,
    family: str = "auto",
    design: DesignBuilder | None = None,
) -> RTMResult:
    """Fit a risk terrain model of incident counts per cell on factor layers.

    Parameters
    ----------
    grid : Grid
        The study grid.
    counts : ndarray of int
        Incidents per cell, ``grid.shape``.
    layers : dict of str to GeoDataFrame
        Candidate factors: name to features in ``grid.crs``.
    streets : GeoDataFrame, optional
        Street segments for :func:`block_length`.
    block_length_m : float, optional
        Distance unit in metres (default: measured from ``streets``, else 100 m).
    multiples : tuple of float
        Distances in block lengths (default 1, 2, 3).
    operations : tuple of str
        Operationalisations tested (default proximity and density).
    top_pct : float
        Share of cells (percent) in the headline (default 10).
    fwer : float
        Family-wise error rate of the Holm test over all candidates (default 0.05).
    protective : bool
        Also select factors with RRV < 1 (default False: a risk terrain maps
        aggravating factors only, as RTMDx reports them).
    family : {"auto", "poisson", "negative binomial"}
        Count model; "auto" (default) tests for overdispersion.
    design : callable, optional
        ``design(grid, counts, layers, block_length_m, multiples, operations)``
        returning the :class:`~hotspot_env.models.rtm.glm.DesignStats` the
        selection reads (default :func:`local_design`: the whole design matrix
        in this process; ``--engine dask`` gives one whose rows stay on the
        tiles, :class:`hotspot_env.scale.tiled_design.TiledDesignBuilder`).

    Returns
    -------
    RTMResult
    """
    choices: list[Choice] = []
    block_length_m = _checked_options(streets, block_length_m, multiples, operations, top_pct,
                                      choices)
    mask = grid.mask
    counts = np.asarray(counts)
    data = (design or local_design)(grid, counts, layers, block_length_m, multiples, operations)
    cands = data.candidates
    m = len(cands)
    if m == 0 or data.y_total == 0:
        return _not_fitted(grid, counts, data, m, block_length_m, top_pct, choices)
    sel = _Selection(data, m, math.log(data.n_rows), protective)
    fam, alpha, best, singles = _choose_family(sel, family, choices)
    current = _stepwise(sel, sorted(best.values()), alpha)
    selected, final, alpha = _holm_refit(sel, sorted(current), fam, alpha, fwer, choices)
    table = _factor_table(cands, selected, final)
    cand_table = _candidate_table(data, singles, best, selected)
    score = np.where(mask, np.exp(_linear_predictor(grid, data, selected, final)), np.nan)
    text, numbers = headline(score, counts, mask, top_pct)
    choices.append(_factors_choice(table, len(selected), len(sel.by_factor), m, text))
    chosen = list(best.values())
    indicators = dict(zip([cands[j].factor for j in chosen], data.indicators(chosen),
                          strict=True))
    return RTMResult(table, cand_table, score, text, choices, indicators, fam, float(alpha),
                     float(final.params[0]), block_length_m, numbers, m)


def _checked_options(streets: gpd.GeoDataFrame | None, block_length_m: float | None,
                     multiples: tuple[float, ...], operations: tuple[str, ...], top_pct: float,
                     choices: list[Choice]) -> float:
    """The block length (measured from ``streets`` unless given; announced), options checked."""
    if block_length_m is None:
        block_length_m, bl_choice = block_length(streets)
        choices.append(bl_choice)
    block_length_m = float(block_length_m)
    if not (math.isfinite(block_length_m) and block_length_m > 0):
        raise InputError(f"block length must be a positive number of metres, got "
                         f"{block_length_m!r}")
    if not (0 < top_pct <= 100):
        raise InputError(f"the headline share must be between 0 and 100 %, got {top_pct!r}")
    unknown = [op for op in operations if op not in OPERATIONS]
    if unknown or not multiples or min(multiples) <= 0:
        raise InputError(f"RTM operations must be among {', '.join(OPERATIONS)} and distances "
                         f"positive, got {list(operations)} and {list(multiples)}")
    return block_length_m


#: ``design(grid, counts, layers, block_length_m, multiples, operations)`` -> the design.
DesignBuilder = Callable[[Grid, np.ndarray, dict[str, Any], float, tuple[float, ...],
                          tuple[str, ...]], DesignStats]


def local_design(grid: Grid, counts: np.ndarray, layers: dict[str, Any], block_length_m: float,
                 multiples: tuple[float, ...], operations: tuple[str, ...]) -> Design:
    """The whole design in this process: every distinct candidate's indicator of every cell."""
    cands = _distinct(candidate_indicators(grid, layers, block_length_m, multiples, operations),
                      grid.mask)
    return _design(counts, grid.mask, cands)


def _distinct(cands: list[Candidate], mask: np.ndarray) -> list[Candidate]:
    """Candidates with distinct indicators (e.g. the same layer given twice is tested once)."""
    seen: dict[bytes, int] = {}
    unique: list[Candidate] = []
    for c in cands:
        key = np.packbits(c.indicator[mask]).tobytes()
        if key not in seen:
            seen[key] = len(unique)
            unique.append(c)
    return unique


def _design(counts: np.ndarray, mask: np.ndarray, cands: list[Candidate]) -> Design:
    """Counts and indicators of the study-area cells."""
    y = np.asarray(counts[mask], dtype=np.int64)
    # column-major, so that the columns of each fit are gathered cheaply
    X = np.empty((y.size, len(cands)), np.uint8, order="F")
    for j, c in enumerate(cands):
        X[:, j] = c.indicator[mask]
    return Design(y, X, cands)


def _empty_table() -> pd.DataFrame:
    """A factor table with no row and the columns of :data:`TABLE_COLUMNS`."""
    return pd.DataFrame({c: pd.Series(dtype=float if c not in ("factor", "operation")
                                      else object) for c in TABLE_COLUMNS})


def _not_fitted(grid: Grid, counts: np.ndarray, data: DesignStats, m: int,
                block_length_m: float, top_pct: float, choices: list[Choice]) -> RTMResult:
    """The result without a model: no incident, or no layer that varies (announced)."""
    mask = grid.mask
    score = np.where(mask, 1.0, np.nan)
    reason = ("no incidents in the study area" if data.y_total == 0
              else "no factor layer varies across the study area")
    choices.append(announce(Choice("rtm", "not fitted", reason)))
    text, numbers = headline(score, counts, mask, top_pct)
    return RTMResult(_empty_table(), pd.DataFrame(), score, text, choices, {}, "poisson", 0.0,
                     math.log(max(data.y_total / data.n_rows, 1e-12)) if data.n_rows
                     else float("nan"),
                     block_length_m, numbers, m)


@dataclass
class _Selection:
    """The design and the rules every selection step shares (BIC, the sign rule)."""

    data: DesignStats
    m: int
    log_n: float
    protective: bool
    by_factor: dict[str, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for j, c in enumerate(self.data.candidates):
            self.by_factor.setdefault(c.factor, []).append(j)

    def bic(self, fit_: Fit, k: int) -> float:
        """Schwarz's BIC of a fit with ``k`` indicators (and an intercept)."""
        return -2.0 * fit_.llf + (k + 1) * self.log_n

    def ok_sign(self, fit_: Fit) -> bool:
        """Converged, and aggravating only (every RRV > 1) unless protective factors are allowed."""
        return fit_.converged and (self.protective or bool(np.all(fit_.params[1:] > 0)))

    def best_per_factor(self, alpha: float
                        ) -> tuple[dict[str, int], dict[int, tuple[Fit, float]]]:
        """Each factor's operationalisation of lowest one-factor BIC, and every one-factor fit."""
        singles: dict[int, tuple[Fit, float]] = {}
        self.data.prefetch([[j] for j in range(self.m)])
        for j in range(self.m):
            f = self.data.fit([j], alpha)
            singles[j] = (f, self.bic(f, 1))
        best: dict[str, int] = {}
        for name, cols in self.by_factor.items():
            ok = [j for j in cols if self.ok_sign(singles[j][0])]
            if ok:
                best[name] = min(ok, key=lambda j: singles[j][1])
        return best, singles


def _choose_family(sel: _Selection, family: str, choices: list[Choice]
                   ) -> tuple[str, float, dict[str, int], dict[int, tuple[Fit, float]]]:
    """Step 1: Poisson or NB2, tested on each factor's best Poisson operationalisation.

    Returns the family, its dispersion (0 for Poisson) and each factor's best
    operationalisation with every one-factor fit, under that family.
    """
    from scipy import stats

    best, singles = sel.best_per_factor(0.0)
    full_cols = sorted(best.values()) or [max(range(sel.m), key=lambda j: singles[j][0].llf)]
    if family == "auto":
        pois = sel.data.fit(full_cols, 0.0)
        alpha_full, nb = sel.data.profile(full_cols)
        lr = max(0.0, 2.0 * (nb.llf - pois.llf))
        p_disp = 0.5 * stats.chi2.sf(lr, 1)  # boundary test (Self & Liang 1987)
        use_nb = p_disp < 0.05 and alpha_full > 1e-4
        fam = "negative binomial" if use_nb else "poisson"
        rule = (f"likelihood-ratio test of overdispersion p = {p_disp:.2g} "
                f"(NB2 dispersion alpha = {alpha_full:.3g})"
                + (", so counts are modelled as negative binomial" if use_nb
                   else ", so a Poisson model is adequate"))
        choices.append(announce(Choice("rtm_family", fam, rule)))
    elif family in ("poisson", "negative binomial"):
        fam = family
        alpha_full = sel.data.profile(full_cols)[0] if fam != "poisson" else 0.0
    else:
        raise InputError(f"RTM family must be auto, poisson or negative binomial, got {family!r}")
    alpha = alpha_full if fam != "poisson" else 0.0
    if alpha > 0:
        best, singles = sel.best_per_factor(alpha)
    return fam, alpha, best, singles


def _stepwise(sel: _Selection, pool: list[int], alpha: float) -> frozenset[int]:
    """Step 2: bidirectional stepwise BIC from the null model among ``pool`` (RTMDx)."""
    cache: dict[frozenset[int], tuple[Fit, float]] = {}

    def score_set(cols: frozenset[int]) -> tuple[Fit, float]:
        if cols not in cache:
            f = sel.data.fit(sorted(cols), alpha)
            cache[cols] = (f, sel.bic(f, len(cols)))
        return cache[cols]

    current: frozenset[int] = frozenset()
    current_bic = score_set(current)[1]
    for _ in range(4 * len(pool) + 4):
        moves = [current | {j} for j in pool if j not in current]
        moves += [current - {j} for j in current]
        sel.data.prefetch([sorted(cols) for cols in moves if cols not in cache])
        scored = []
        for cols in moves:
            f, b = score_set(cols)
            if len(cols) > len(current) and not sel.ok_sign(f):
                continue
            scored.append((b, sorted(cols), cols))
        if not scored:
            break
        b, _, cols = min(scored, key=lambda t: (t[0], t[1]))
        if b >= current_bic - 1e-9:
            break
        current, current_bic = cols, b
    return current


def _holm_refit(sel: _Selection, selected: list[int], fam: str, alpha: float, fwer: float,
                choices: list[Choice]) -> tuple[list[int], Fit, float]:
    """Step 3: refit, Holm over all ``m`` candidates, drop the failures (announced), refit.

    Returns the kept columns, their final fit and the dispersion (re-estimated
    for NB2 at every refit).
    """
    from scipy import stats

    cands = sel.data.candidates
    final: Fit | None = None
    for _ in range(len(selected) + 1):
        if not selected:
            break
        if fam != "poisson":
            alpha, final = sel.data.profile(selected)
        else:
            final = sel.data.fit(selected, 0.0)
        z = final.params[1:] / final.bse[1:]
        p = 2.0 * stats.norm.sf(np.abs(z))
        keep = holm(p, fwer, sel.m) & (final.params[1:] > 0 if not sel.protective else True)
        if keep.all():
            break
        dropped = [cands[selected[i]].factor for i in np.flatnonzero(~keep)]
        choices.append(announce(Choice(
            "rtm_dropped", dropped,
            f"selected by BIC but not significant after Holm correction for {sel.m} tested "
            f"operationalisations (family-wise error {fwer:g})")))
        selected = [selected[i] for i in np.flatnonzero(keep)]
        final = None
    if not selected:
        if fam == "poisson":
            final = sel.data.fit([], 0.0)
        else:
            alpha, final = sel.data.profile([])
    return selected, final, alpha


def holm(p: np.ndarray, fwer: float, m: int) -> np.ndarray:
    """Holm step-down over ``m`` tests of which ``p`` are the only candidates for rejection.

    The untested ``m - len(p)`` hypotheses are treated as p = 1, which is
    what the step-down gives for them anyway.
    """
    p = np.asarray(p, float)
    keep = np.zeros(p.size, dtype=bool)
    order = np.argsort(p, kind="stable")
    for rank, i in enumerate(order):
        if p[i] <= fwer / (max(m, p.size) - rank):
            keep[i] = True
        else:
            break
    return keep


def _factor_table(cands: list[Candidate], selected: list[int], final: Fit) -> pd.DataFrame:
    """One row per kept factor (:data:`TABLE_COLUMNS`), highest RRV first."""
    from scipy import stats

    rows = []
    zc = stats.norm.ppf(0.975)
    coef = final.params[1:] if selected else np.zeros(0)
    se = final.bse[1:] if selected else np.zeros(0)
    for i, j in enumerate(selected):
        c = cands[j]
        b, s_ = float(coef[i]), float(se[i])
        rows.append({"factor": c.factor, "operation": c.operation, "distance_m": c.distance_m,
                     "coefficient": b, "rrv": math.exp(b), "ci_low": math.exp(b - zc * s_),
                     "ci_high": math.exp(b + zc * s_),
                     "p_value": float(2.0 * stats.norm.sf(abs(b / s_)))})
    table = (pd.DataFrame(rows, columns=list(TABLE_COLUMNS)) if rows else _empty_table())
    if len(table):
        table = table.sort_values("rrv", ascending=False, kind="stable").reset_index(drop=True)
    return table


def _candidate_table(data: DesignStats, singles: dict[int, tuple[Fit, float]],
                     best: dict[str, int], selected: list[int]) -> pd.DataFrame:
    """Every operationalisation tested, with its one-factor fit and whether it was kept."""
    from scipy import stats

    rows: list[dict[str, Any]] = []
    for j, c in enumerate(data.candidates):
        f, b_ = singles[j]
        b1, s1 = float(f.params[1]), float(f.bse[1])
        rows.append({
            "factor": c.factor, "operation": c.operation, "distance_m": c.distance_m,
            "cells": data.cells(j), "coefficient": b1,
            "rrv": math.exp(b1) if abs(b1) < 700 else float("inf"),
            "p_value": float(2.0 * stats.norm.sf(abs(b1 / s1))) if s1 > 0 else float("nan"),
            "bic": b_, "converged": f.converged,
            "chosen": best.get(c.factor) == j, "selected": j in selected})
    return pd.DataFrame(rows)


def _linear_predictor(grid: Grid, data: DesignStats, selected: list[int], final: Fit
                      ) -> np.ndarray:
    """``sum_k coef_k * indicator_k`` per cell: the log risk terrain score."""
    if not selected:
        return np.zeros(grid.shape)
    return data.linear_predictor(selected, final.params[1:])


def _factors_choice(table: pd.DataFrame, n_selected: int, n_factors: int, m: int, text: str
                    ) -> Choice:
    """The announcement of the factors kept (or of none)."""
    if n_selected:
        names = ", ".join(f"{r.factor} (RRV {r.rrv:.2f})" for r in table.itertuples())
        return announce(Choice(
            "rtm_factors", list(table["factor"]),
            f"{n_selected} of {n_factors} factors kept after BIC stepwise selection and "
            f"Holm correction over {m} tested operationalisations: {names}; {text}"))
    return announce(Choice(
        "rtm_factors", [], f"none of the {n_factors} factors ({m} operationalisations) "
        "is associated with incidents strongly enough to be kept"))
