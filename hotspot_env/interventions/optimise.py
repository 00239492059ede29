"""The optimal portfolio: the best selection under a budget, overlaps included.

Objective
---------
With category weights ``w_k`` (e.g. ``violence=2``) and type weights ``u_t``
(e.g. ``youth_space=1.5``; :mod:`hotspot_env.interventions.weights`), a portfolio ``x``
(0/1 per candidate) is worth::

    V(x) = sum_g w_k(g) base_g (1 - prod_{j in x} (1 - s_jg e_j))
           + sum_{j in x} (u_t(j) - 1) v_j

where ``g`` runs over cell x stratum groups, ``s_jg`` is candidate ``j``'s
cover of the group's cell, ``e_j`` the mean ``1 - RR`` of its evidence row and
``v_j`` its stand-alone weighted value ``sum_g w_k base_g s_jg e_j``. The first
term is the joint expected prevented harm with overlaps combined
multiplicatively (never double counted); the second adds the type priority
on each candidate's own stand-alone value (a type weight of 1.5 counts the
incidents a youth space prevents on its own 1.5 times; overlaps are charged at
face value).

The fast re-rank of the same objective is the overlap-aware lazy greedy of
:mod:`hotspot_env.interventions.greedy`.

Optimal portfolio (:func:`optimise`)
    ``max V(x)`` subject to ``sum cost_j x_j <= budget`` and at most one
    candidate per site, solved by **outer approximation** (Duran & Grossmann
    1986) with HiGHS (``highspy``, through :mod:`hotspot_env.interventions._highs`):
    ``V`` is concave in ``L_g = sum_j ln(1 - s_jg e_j) x_j``, which is linear in ``x``, so
    each group shared by two or more candidates gets variables ``L_g`` and ``y_g``,
    ``y_g`` bounded by tangent planes of ``w base (1 - exp(L))``; groups
    reached by one candidate are exactly linear, and groups with identical
    candidates and effects are merged (exact). Each round solves the MILP,
    evaluates the true ``V`` at its solution, and adds tangents where the
    planes overestimated, until the MILP bound and the true value agree within
    ``tol`` (relative). The solver starts from an overlap-aware lazy greedy
    (:func:`~hotspot_env.interventions.greedy.joint_greedy`), runs single-threaded with a
    fixed seed and a node limit (deterministic), and reports ``"time limit"`` with its
    proven bound when the clock stops it. Ties between candidates of equal value and cost
    are settled by id afterwards.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import highspy
import numpy as np
import scipy.sparse as sp

from hotspot_env.errors import InputError
from hotspot_env.interventions._highs import lp_model, silent_highs
from hotspot_env.interventions.greedy import joint_greedy
from hotspot_env.interventions.impact_model import ImpactModel
from hotspot_env.interventions.region_budgets import RegionCaps
from hotspot_env.interventions.weights import Weights, weighted_values

#: Default time limit (s) of one optimiser run (all rounds together).
TIME_LIMIT_S: float = 60.0
#: Relative tolerance between the MILP bound and the true value: exact (1e-6)
#: for up to :data:`EXACT_SIZE` eligible candidates, 0.1 % above.
TOLERANCE: float = 1e-6
LARGE_TOLERANCE: float = 1e-3
EXACT_SIZE: int = 50
#: Spacing of the first tangent planes in L = sum ln(1 - s e) (error <= w base
#: step^2 / 8, 0.125 % of a group's harm), and their most per group.
TANGENT_STEP: float = 0.1
MAX_TANGENTS: int = 12
#: Branch-and-bound nodes per round (keeps big runs bounded and deterministic).
NODE_LIMIT: int = 20_000
#: Print the HiGHS log.
DISP: bool = False
#: HiGHS primal-heuristic effort (the joint greedy already gives a good start).
HEURISTIC_EFFORT: float = 0.0
#: Most outer-approximation rounds.
MAX_ROUNDS: int = 50


# ==================================================================== budgets
def check_budget(budget: float | None) -> float | None:
    """Validate a budget (USD per year); None means "rank only"."""
    if budget is None:
        return None
    try:
        value = float(budget)
    except (TypeError, ValueError):
        raise InputError(f"budget {budget!r} is not a number of USD per year") from None
    if not math.isfinite(value) or value < 0:
        raise InputError(f"budget must be a number >= 0 (USD per year), got {budget!r}")
    return value


#: Ceiling on the optimiser's time limit (seconds): an hour.
MAX_TIME_LIMIT_S = 3600.0


def check_time_limit(seconds: float) -> float:
    """The optimiser time limit, refused unless a number of seconds in (0, an hour]."""
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        raise InputError(f"--time-limit {seconds!r} is not a number of seconds") from None
    if not (math.isfinite(value) and 0 < value <= MAX_TIME_LIMIT_S):
        raise InputError(f"--time-limit must be a number of seconds above 0 and at most "
                         f"{MAX_TIME_LIMIT_S:,.0f}, got {seconds!r}")
    return value


# ================================================================== optimiser
@dataclass
class OptimisedPortfolio:
    """The optimiser's selection, with its proven bound and how the run ended.

    (The app's :class:`hotspot_env.app.scenarios.Portfolio` is a different thing: the table
    of a budgeted ranking as the app shows it.)

    Attributes
    ----------
    selected : ndarray of bool
        Mask over the model's candidates (id order).
    value : float
        ``V(x)`` at the mean effects (weighted prevented incidents per year).
    bound : float
        Upper bound on the optimum (MILP), ``>= value``.
    cost : float
        Annualised cost (USD/year).
    status : str
        ``"optimal"`` (within tolerance), ``"time limit"``, ``"round limit"``
        or ``"empty"``.
    rounds : int
        Outer-approximation rounds.
    seconds : float
        Wall time.
    """

    selected: np.ndarray
    value: float
    bound: float
    cost: float
    status: str
    rounds: int
    seconds: float

    @property
    def gap(self) -> float:
        """Relative gap between the bound and the value (0 when proven optimal)."""
        return (self.bound - self.value) / self.bound if self.bound > 0 else 0.0


@dataclass
class _Relaxation:
    """The outer approximation's data over the eligible candidates (values scaled by ``scale``).

    Columns are ``x`` (``n_x`` binaries) | ``L`` (``m``) | ``y`` (``m``). ``c_lin`` is the exact
    linear value of each ``x`` (groups it reaches alone, plus its type bonus); the merged
    shared groups have entries ``(m_local, m_x, m_ell)``, weight ``g_wb``, the lowest
    reachable ``L`` in ``l_min``, and ``lmat`` maps ``x`` to ``L``.
    """

    n_x: int
    scale: float
    c_lin: np.ndarray
    m_x: np.ndarray
    m_ell: np.ndarray
    m_local: np.ndarray
    g_wb: np.ndarray
    l_min: np.ndarray
    lmat: sp.csr_matrix

    @property
    def m(self) -> int:
        """Shared (merged) groups."""
        return int(self.g_wb.size)

    @property
    def n_var(self) -> int:
        """Columns of the MILP."""
        return self.n_x + 2 * self.m

    def state(self, x: np.ndarray) -> np.ndarray:
        """All columns at the selection ``x`` (``y`` on the true curve): a MILP start."""
        lx = np.asarray(self.lmat @ x.astype(float)).ravel()
        return np.r_[x.astype(float), lx, self.g_wb * (1.0 - np.exp(lx))]

    def value(self, x: np.ndarray) -> float:
        """True (scaled) ``V`` of the selection ``x``."""
        return _value_scaled(x, self.m_local, self.m_x, self.m_ell, self.g_wb, self.c_lin)


def optimise(
    model: ImpactModel,
    cost: np.ndarray,
    budget: float,
    types: np.ndarray,
    weights: Weights | None = None,
    site: np.ndarray | None = None,
    *,
    time_limit: float = TIME_LIMIT_S,
    tol: float | None = None,
    max_rounds: int = MAX_ROUNDS,
    node_limit: int = NODE_LIMIT,
    caps: RegionCaps | None = None,
) -> OptimisedPortfolio:
    """Best portfolio under a budget, overlaps included (see the module docstring).

    Parameters
    ----------
    model : ImpactModel
        Candidates in id order.
    cost : ndarray
        USD per year per candidate.
    budget : float
        USD per year.
    types : ndarray of str
        Type per candidate (for type weights).
    weights : Weights, optional
        Category and type weights.
    site : ndarray of int, optional
        Site code per candidate (-1 none): at most one per site.
    time_limit : float
        Seconds for all rounds together (a safety net: the node limit keeps
        runs deterministic; a run stopped by the clock says so in ``status``).
    tol : float, optional
        Relative tolerance between bound and value (default :data:`TOLERANCE`
        up to :data:`EXACT_SIZE` eligible candidates, else :data:`LARGE_TOLERANCE`).
    max_rounds : int
        Most outer-approximation rounds.
    node_limit : int
        Branch-and-bound nodes per round.
    caps : RegionCaps, optional
        Budget caps per region, on top of ``budget`` (none by default).
    """
    t0 = time.perf_counter()
    weights = weights or Weights()
    n = model.n
    cost = np.asarray(cost, dtype=float)
    site = np.full(n, -1) if site is None else np.asarray(site)
    cat_w = weights.category_vector()
    value, type_w, bonus = weighted_values(model, weights, types)
    eligible = (cost <= budget * (1 + 1e-12)) & (type_w * value > 0) & (cost > 0)
    if caps is not None:  # a candidate dearer than its region's cap can never be chosen
        eligible &= cost <= caps.of_candidates(cost) * (1 + 1e-12)
    if budget <= 0 or not eligible.any():
        return OptimisedPortfolio(np.zeros(n, dtype=bool), 0.0, 0.0, 0.0, "empty", 0,
                                  time.perf_counter() - t0)
    elig = np.flatnonzero(eligible)
    if tol is None:
        tol = TOLERANCE if elig.size <= EXACT_SIZE else LARGE_TOLERANCE
    # incumbent: overlap-aware greedy
    start = joint_greedy(model, cost, budget, cat_w, bonus, site, eligible, caps)
    start_val = model.expected_value(start, cat_w, bonus)
    relax = _relaxation(model, eligible, cat_w, bonus,
                        scale=float(np.max(type_w[elig] * value[elig])))
    h = _solver(relax, cost[elig], budget, site[elig], tol, node_limit,
                None if caps is None else (caps.code[elig], caps.cap))
    best_x, bound, status, rounds = _outer_approximation(h, relax, start[elig], tol,
                                                         max_rounds, t0, time_limit)
    selected = np.zeros(n, dtype=bool)
    selected[elig[best_x]] = True
    selected = _settle_ties(model, selected, eligible, value * type_w, cost, budget, site,
                            cat_w, bonus, caps)
    value_true = model.expected_value(selected, cat_w, bonus)
    if value_true < start_val:  # never worse than the incumbent
        selected, value_true = start, start_val
    bound_out = max(bound * relax.scale if math.isfinite(bound) else value_true, value_true)
    return OptimisedPortfolio(selected, value_true, bound_out, float(cost[selected].sum()),
                              status, rounds, time.perf_counter() - t0)


def _relaxation(model: ImpactModel, eligible: np.ndarray, cat_w: np.ndarray,
                bonus: np.ndarray, scale: float) -> _Relaxation:
    """Split the eligible candidates' reach into exactly linear groups and shared ones.

    A group reached by one candidate adds a fixed amount to that candidate's value; a group
    shared by two or more needs the concave ``w base (1 - exp(L))`` (merged when identical).
    """
    elig = np.flatnonzero(eligible)
    n_x = elig.size
    pos = np.full(model.n, -1)
    pos[elig] = np.arange(n_x)
    ent = eligible[model.entry_cand]
    e_x = pos[model.entry_cand[ent]]
    e_g = model.entry_group[ent]
    e_eff = model.entry_scale[ent] * model.mean_effect[model.entry_row[ent]]
    ell = np.log(np.maximum(1.0 - e_eff, 1e-12))
    wb = cat_w[model.group_cat[e_g]] * model.group_base[e_g] / scale
    good = ell < -1e-12
    counts = np.bincount(e_g[good], minlength=len(model.group_base))
    multi = good & (counts[e_g] >= 2)
    linear = ~multi
    c_lin = np.bincount(e_x[linear], weights=wb[linear] * (1.0 - np.exp(ell[linear])),
                        minlength=n_x) + bonus[elig] / scale
    m_x, m_ell, m_local, g_wb = _merge_groups(e_g[multi], e_x[multi], ell[multi], wb[multi])
    m = g_wb.size
    l_min = np.bincount(m_local, weights=m_ell, minlength=m)
    lmat = sp.csr_matrix((m_ell, (m_local, m_x)), shape=(m, n_x))
    return _Relaxation(n_x, scale, c_lin, m_x, m_ell, m_local, g_wb, l_min, lmat)


def _solver(relax: _Relaxation, cost: np.ndarray, budget: float, sites: np.ndarray,
            tol: float, node_limit: int,
            region_caps: tuple[np.ndarray, np.ndarray] | None = None) -> Any:
    """A HiGHS solver holding the first MILP: budget, one per site, ``L`` links, tangents.

    Single-threaded (as every solver of :func:`~hotspot_env.interventions._highs.silent_highs`)
    with a fixed seed and a node limit, so a run is deterministic.
    """
    h = silent_highs(log=DISP)
    h.setOptionValue("mip_rel_gap", tol * 0.5)
    h.setOptionValue("mip_abs_gap", 1e-12)
    h.setOptionValue("mip_max_nodes", int(node_limit))
    h.setOptionValue("random_seed", 0)
    h.setOptionValue("mip_heuristic_effort", HEURISTIC_EFFORT)
    n_x, m = relax.n_x, relax.m
    rows, row_lower, row_upper = _constraint_rows(relax, cost, budget, sites)
    if region_caps is not None:
        rows, row_lower, row_upper = _with_region_rows(rows, row_lower, row_upper, cost,
                                                       *region_caps)
    h.passModel(lp_model(
        np.r_[relax.c_lin, np.zeros(m), np.ones(m)],
        np.r_[np.zeros(n_x), relax.l_min, np.zeros(m)],
        np.r_[np.ones(n_x), np.zeros(m), relax.g_wb * (1.0 - np.exp(relax.l_min))],
        np.r_[np.ones(n_x, dtype=bool), np.zeros(2 * m, dtype=bool)],
        rows, row_lower, row_upper, maximise=True))
    # tangents evenly spaced over [L_min, 0], about every TANGENT_STEP in L
    n_tan = np.clip(np.ceil(-relax.l_min / TANGENT_STEP).astype(np.int64) + 1, 2, MAX_TANGENTS)
    for k in range(int(n_tan.max()) if m else 0):
        groups = np.flatnonzero(n_tan > k)
        _add_tangents(h, relax, groups, relax.l_min[groups] * k / (n_tan[groups] - 1))
    return h


def _constraint_rows(relax: _Relaxation, cost: np.ndarray, budget: float, sites: np.ndarray
                     ) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Rows of the budget, of at most one candidate per shared site, and ``L = sum ell x``."""
    m, n_var = relax.m, relax.n_var
    rows = [sp.csr_matrix(np.r_[cost, np.zeros(2 * m)][None, :])]
    lower, upper = [np.array([-np.inf])], [np.array([budget * (1 + 1e-12)])]
    shared = [s for s in np.unique(sites[sites >= 0]) if (sites == s).sum() > 1]
    if shared:
        r_i, c_i = [], []
        for i, s in enumerate(shared):
            members = np.flatnonzero(sites == s)
            r_i += [i] * members.size
            c_i += members.tolist()
        rows.append(sp.csr_matrix((np.ones(len(r_i)), (r_i, c_i)), shape=(len(shared), n_var)))
        lower.append(np.full(len(shared), -np.inf))
        upper.append(np.ones(len(shared)))
    if m:  # L_g - sum_e ell_e x_e = 0
        rows.append(sp.hstack([-relax.lmat, sp.identity(m, format="csr"), sp.csr_matrix((m, m))],
                              format="csr"))
        lower.append(np.zeros(m))
        upper.append(np.zeros(m))
    return sp.vstack(rows, format="csr"), np.concatenate(lower), np.concatenate(upper)


def _with_region_rows(rows: sp.csr_matrix, lower: np.ndarray, upper: np.ndarray,
                      cost: np.ndarray, code: np.ndarray, cap: np.ndarray
                      ) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Append ``sum cost_j x_j <= cap_r`` over the candidates ``x`` of each capped region."""
    member = np.flatnonzero(code >= 0)
    region_rows = sp.csr_matrix((cost[member], (code[member], member)),
                                shape=(cap.size, rows.shape[1]))
    return (sp.vstack([rows, region_rows], format="csr"),
            np.r_[lower, np.full(cap.size, -np.inf)], np.r_[upper, cap * (1 + 1e-12)])


def _add_tangents(h: Any, relax: _Relaxation, groups: np.ndarray, t: np.ndarray) -> None:
    """Cut ``y_g <= w base (1 - exp(t) + (t - L_g) exp(t))``: the tangent of each group at ``t``."""
    if groups.size == 0:
        return
    n_x, m, g_wb = relax.n_x, relax.m, relax.g_wb
    et = np.exp(t)
    k = groups.size
    idx = np.column_stack([n_x + groups, n_x + m + groups]).ravel()
    val = np.column_stack([g_wb[groups] * et, np.ones(k)]).ravel()
    h.addRows(k, np.full(k, -np.inf), g_wb[groups] * (1.0 - et + t * et), 2 * k,
              np.arange(0, 2 * k, 2, dtype=np.int32), idx.astype(np.int32), val)


def _outer_approximation(h: Any, relax: _Relaxation, start_x: np.ndarray, tol: float,
                         max_rounds: int, t0: float, time_limit: float
                         ) -> tuple[np.ndarray, float, str, int]:
    """Solve, check the tangents against the true curve, cut, repeat.

    Returns the best selection over the eligible candidates, the proven (scaled) bound,
    the status and the rounds run.
    """
    best_x = start_x
    best_val = relax.value(best_x)
    bound = math.inf
    status = "round limit"
    rounds = 0
    for rounds in range(1, max_rounds + 1):  # noqa: B007 (reported after the loop)
        left = time_limit - (time.perf_counter() - t0)
        if left <= 0:
            status = "time limit"
            break
        values, model_status, dual = _solve_from(h, relax.state(best_x), left)
        if values.size != relax.n_var:
            status = f"solver: {h.modelStatusToString(model_status)}"
            break
        x = values[:relax.n_x] > 0.5
        val = relax.value(x)
        if val > best_val + 1e-15:
            best_val, best_x = val, x.copy()
        if math.isfinite(dual):
            bound = min(bound, dual)
        stop = _stop_status(model_status, bound, best_val, tol)
        if stop:
            status = stop
            break
        n_x, m = relax.n_x, relax.m
        lx = values[n_x:n_x + m]
        f_true = relax.g_wb * (1.0 - np.exp(lx))
        viol = np.flatnonzero(values[n_x + m:] - f_true > tol * 0.01 * max(abs(bound), 1e-12))
        if viol.size == 0:
            status = "optimal"
            break
        _add_tangents(h, relax, viol, lx[viol])
    return best_x, bound, status, rounds


def _solve_from(h: Any, start: np.ndarray, left: float) -> tuple[np.ndarray, Any, float]:
    """One MILP solve from ``start`` within ``left`` seconds: column values, status, bound."""
    h.setOptionValue("time_limit", float(max(left, 0.1)))
    sol = highspy.HighsSolution()
    sol.col_value = start.tolist()
    sol.value_valid = True
    h.setSolution(sol)
    h.run()
    model_status = h.getModelStatus()
    dual = float(h.getInfo().mip_dual_bound)
    return np.asarray(h.getSolution().col_value), model_status, dual


def _stop_status(model_status: Any, bound: float, best_val: float, tol: float) -> str:
    """Why the rounds stop here ("" to go on): the solver stopped early, or bound and value
    agree within ``tol``."""
    if model_status != highspy.HighsModelStatus.kOptimal:
        return ("time limit" if model_status == highspy.HighsModelStatus.kTimeLimit
                else "node limit")
    if bound - best_val <= tol * max(abs(bound), 1e-12):
        return "optimal"
    return ""


def _merge_groups(group: np.ndarray, x: np.ndarray, ell: np.ndarray, wb: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Merge groups reached by the same candidates with the same log-effects.

    ``sum_g wb_g (1 - exp(L))`` over groups with an identical ``L`` (same
    candidates, same ``ln(1 - s e)``) equals ``(sum_g wb_g)(1 - exp(L))``: one
    variable serves them all (a lamp row lighting all the categories of a cell
    gives one group instead of one per category and hour). Exact.

    Returns
    -------
    x, ell, local : ndarray
        Entries of the merged groups (candidate position, log-effect, group).
    weight : ndarray
        Summed ``w x base`` per merged group.
    """
    if group.size == 0:
        return x, ell, group, np.zeros(0)
    key_ell = np.round(ell, 12)
    order = np.lexsort((key_ell, x, group))
    group, x, ell, key_ell, wb = group[order], x[order], ell[order], key_ell[order], wb[order]
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    ends = np.r_[starts[1:], group.size]
    signature: dict[bytes, int] = {}
    merged = np.empty(starts.size, dtype=np.int64)
    for i, (a, b) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
        key = x[a:b].tobytes() + b"|" + key_ell[a:b].tobytes()
        merged[i] = signature.setdefault(key, len(signature))
    weight = np.bincount(merged, weights=wb[starts], minlength=len(signature))
    first = np.zeros(len(signature), dtype=np.int64)
    first[merged[::-1]] = np.arange(starts.size)[::-1]
    keep = np.concatenate([np.arange(starts[f], ends[f]) for f in first])
    local = np.repeat(np.arange(len(signature)), ends[first] - starts[first])
    return x[keep], ell[keep], local, weight


def _value_scaled(x, m_local, m_x, m_ell, g_wb, c_lin) -> float:
    lx = np.bincount(m_local, weights=m_ell * x[m_x], minlength=g_wb.size)
    return float(c_lin[x].sum() + np.sum(g_wb * (1.0 - np.exp(lx))))


def _settle_ties(model, selected, eligible, score_value, cost, budget, site, cat_w, bonus,
                 caps=None):
    """Swap selected candidates for unselected ones with a smaller id, equal value and cost
    (and, under region caps, only where the caps still hold)."""
    if not selected.any():
        return selected
    key_v = np.round(score_value / max(float(np.max(np.abs(score_value))), 1e-300), 9)
    key_c = np.round(cost, 6)
    current = model.expected_value(selected, cat_w, bonus)
    for j in np.flatnonzero(selected)[::-1]:
        twins = np.flatnonzero(eligible & ~selected & (key_v == key_v[j]) & (key_c == key_c[j]))
        for k in twins[twins < j]:
            if site[k] >= 0 and site[k] != site[j] and (selected & (site == site[k])).any():
                continue
            trial = selected.copy()
            trial[j], trial[k] = False, True
            val = model.expected_value(trial, cat_w, bonus)
            if val >= current - 1e-12 * max(abs(current), 1e-300) and cost[trial].sum() <= (
                    budget * (1 + 1e-12)) and (caps is None or caps.fits(cost, trial)):
                selected, current = trial, val
                break
    return selected


def describe(portfolio: OptimisedPortfolio) -> dict[str, Any]:
    """JSON-ready summary of a portfolio run."""
    return {"status": portfolio.status, "value": portfolio.value, "bound": portfolio.bound,
            "gap": portfolio.gap, "cost": portfolio.cost, "rounds": portfolio.rounds,
            "seconds": round(portfolio.seconds, 3), "n_selected": int(portfolio.selected.sum())}
