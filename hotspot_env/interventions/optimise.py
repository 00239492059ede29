"""Choosing interventions: weighted ranking, a fast greedy re-rank and an exact portfolio.

Objective
---------
With category weights ``w_k`` (e.g. ``violence=2``) and type weights ``u_t``
(e.g. ``youth_space=1.5``), a portfolio ``x`` (0/1 per candidate) is worth::

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

Fast re-rank (:func:`joint_greedy`)
    Overlap-aware budgeted greedy: the best marginal *joint* value per cost
    given what is already chosen, with lazy evaluation (stale values are
    upper bounds), and the best single candidate when that is worth more
    (Khuller, Moss & Naor 1999; Leskovec et al. 2007). The loop is compiled
    (numba): tens of milliseconds of CPU for 10,000 overlapping candidates.
    :func:`greedy` (stand-alone values in rank order, overlaps ignored) is the
    earlier re-rank, kept as a baseline.

Optimal portfolio (:func:`optimise`)
    ``max V(x)`` subject to ``sum cost_j x_j <= budget`` and at most one
    candidate per site, solved by **outer approximation** (Duran & Grossmann
    1986) with HiGHS (``highspy``): ``V`` is concave in
    ``L_g = sum_j ln(1 - s_jg e_j) x_j``, which is linear in ``x``, so each
    group shared by two or more candidates gets variables ``L_g`` and ``y_g``,
    ``y_g`` bounded by tangent planes of ``w base (1 - exp(L))``; groups
    reached by one candidate are exactly linear, and groups with identical
    candidates and effects are merged (exact). Each round solves the MILP,
    evaluates the true ``V`` at its solution, and adds tangents where the
    planes overestimated, until the MILP bound and the true value agree within
    ``tol`` (relative). The solver starts from an overlap-aware lazy greedy
    (:func:`joint_greedy`), runs single-threaded with a fixed seed and a node
    limit (deterministic), and reports ``"time limit"`` with its proven bound
    when the clock stops it. Ties between candidates of equal value and cost
    are settled by id afterwards.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numba
import numpy as np
import scipy.sparse as sp

from hotspot_env.errors import InputError
from hotspot_env.interventions.evidence import CATEGORIES
from hotspot_env.interventions.impact import CATEGORY_GROUPS, ImpactModel

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
#: Lazy greedy: a re-evaluated candidate is taken when its ratio is at least this share of
#: the best stale ratio. 1 is the exact lazy greedy (the default: compiled, it is fast enough);
#: below 1 each pick is within that share of the best marginal ratio (the "threshold" idea of
#: Badanidiyuru & Vondrak 2014), fewer re-evaluations for a bounded loss.
LAZY_SLACK: float = 1.0
#: Most outer-approximation rounds.
MAX_ROUNDS: int = 50


# ==================================================================== weights
@dataclass(frozen=True)
class Weights:
    """User weights: per crime category and per intervention type (default 1).

    ``violence`` also weights ``gun_violence`` unless that is given itself.
    """

    categories: Mapping[str, float] = field(default_factory=dict)
    types: Mapping[str, float] = field(default_factory=dict)

    def category_vector(self) -> np.ndarray:
        """Weight per :data:`CATEGORY_GROUPS` entry."""
        cats = dict(self.categories)
        if "violence" in cats and "gun_violence" not in cats:
            cats["gun_violence"] = cats["violence"]
        return np.array([float(cats.get(g, 1.0)) for g in CATEGORY_GROUPS])

    def type_vector(self, types: np.ndarray) -> np.ndarray:
        """Weight per candidate type."""
        types = np.asarray(types, dtype=str)
        out = np.ones(types.size)
        for t, w in self.types.items():
            out[types == t] = float(w)
        return out

    def key(self) -> tuple:
        """Hashable form (for caching); weights of 1 (the default) are left out, so the
        same ranking has one key whether or not a neutral weight was given."""
        return (tuple(self.category_vector().tolist()),
                tuple(sorted((k, v) for k, v in self.types.items() if v != 1.0)))

    def as_text(self) -> str:
        """``"violence=2,youth_space=1.5"`` (empty when all weights are 1)."""
        items = sorted({**self.categories, **self.types}.items())
        # a neutral weight says nothing, except gun_violence=1 beside another violence weight
        keep = {k for k, v in items if v != 1.0}
        if "gun_violence" in self.categories and self.categories.get("violence", 1.0) != 1.0:
            keep.add("gun_violence")
        return ",".join(f"{k}={v:g}" for k, v in items if k in keep)


def parse_weights(
    weights: str | Mapping[str, float] | Weights | None, types: list[str] | None = None
) -> Weights:
    """Read weights from ``"violence=2,youth_space=1.5"`` or a dict.

    Keys are crime categories (:data:`CATEGORIES` or ``other``) or
    intervention types. Weights must be finite and >= 0.

    Raises
    ------
    InputError
        Unknown key, malformed pair or a negative weight.
    """
    if weights is None:
        return Weights()
    if isinstance(weights, Weights):
        return weights
    if isinstance(weights, str):
        pairs: dict[str, float] = {}
        for part in [p for p in weights.split(",") if p.strip()]:
            if "=" not in part:
                raise InputError(f"weight {part.strip()!r} must look like name=number, e.g. "
                                 "violence=2")
            name, value = part.split("=", 1)
            try:
                pairs[name.strip().lower()] = float(value)
            except ValueError:
                raise InputError(f"weight {part.strip()!r}: {value.strip()!r} is not a number"
                                 ) from None
    else:
        pairs = {str(k).strip().lower(): float(v) for k, v in weights.items()}
    cats: dict[str, float] = {}
    typ: dict[str, float] = {}
    categories = set(CATEGORIES) | {"other"}
    for name, value in pairs.items():
        if not (math.isfinite(value) and value >= 0):
            raise InputError(f"weight {name}={value:g} must be a number >= 0")
        if name in categories:
            cats[name] = value
        elif types is None or name in types:
            typ[name] = value
        else:
            raise InputError(f"unknown weight {name!r}: use a crime category "
                             f"({', '.join(sorted(categories))}) or an intervention type "
                             f"({', '.join(types)})")
    return Weights(cats, typ)


# ===================================================================== greedy
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


@dataclass
class Portfolio:
    """An optimised selection.

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


def weighted_values(model: ImpactModel, weights: Weights, types: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stand-alone weighted value, type weight and type bonus per candidate."""
    cat_w = weights.category_vector()
    value = model.standalone()["by_category"] @ cat_w
    type_w = weights.type_vector(types)
    return value, type_w, (type_w - 1.0) * value


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
) -> Portfolio:
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
    """
    t0 = time.perf_counter()
    weights = weights or Weights()
    n = model.n
    cost = np.asarray(cost, dtype=float)
    site = np.full(n, -1) if site is None else np.asarray(site)
    cat_w = weights.category_vector()
    value, type_w, bonus = weighted_values(model, weights, types)
    eligible = (cost <= budget * (1 + 1e-12)) & (type_w * value > 0) & (cost > 0)
    empty = np.zeros(n, dtype=bool)
    if budget <= 0 or not eligible.any():
        return Portfolio(empty, 0.0, 0.0, 0.0, "empty", 0, time.perf_counter() - t0)
    elig = np.flatnonzero(eligible)
    n_x = elig.size
    if tol is None:
        tol = TOLERANCE if n_x <= EXACT_SIZE else LARGE_TOLERANCE
    pos = np.full(n, -1)
    pos[elig] = np.arange(n_x)
    scale = float(np.max(type_w[elig] * value[elig]))

    # incumbent: overlap-aware greedy
    start = joint_greedy(model, cost, budget, cat_w, bonus, site, eligible)
    start_val = model.expected_value(start, cat_w, bonus)

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

    # variables: x (n_x, binary) | L (m) | y (m)
    n_var = n_x + 2 * m
    highspy, h = _highs()
    h.setOptionValue("output_flag", bool(DISP))
    h.setOptionValue("mip_rel_gap", tol * 0.5)
    h.setOptionValue("mip_abs_gap", 1e-12)
    h.setOptionValue("mip_max_nodes", int(node_limit))
    h.setOptionValue("random_seed", 0)
    h.setOptionValue("threads", 1)
    h.setOptionValue("mip_heuristic_effort", HEURISTIC_EFFORT)
    lp = highspy.HighsLp()
    lp.num_col_ = n_var
    lp.sense_ = highspy.ObjSense.kMaximize
    lp.col_cost_ = np.r_[c_lin, np.zeros(m), np.ones(m)]
    lp.col_lower_ = np.r_[np.zeros(n_x), l_min, np.zeros(m)]
    lp.col_upper_ = np.r_[np.ones(n_x), np.zeros(m), g_wb * (1.0 - np.exp(l_min))]
    lp.integrality_ = [highspy.HighsVarType.kInteger] * n_x + [
        highspy.HighsVarType.kContinuous] * (2 * m)
    rows = [sp.csr_matrix(np.r_[cost[elig], np.zeros(2 * m)][None, :])]
    lower, upper = [np.array([-np.inf])], [np.array([budget * (1 + 1e-12)])]
    sites_e = site[elig]
    shared = [s for s in np.unique(sites_e[sites_e >= 0]) if (sites_e == s).sum() > 1]
    if shared:
        r_i, c_i = [], []
        for i, s in enumerate(shared):
            members = np.flatnonzero(sites_e == s)
            r_i += [i] * members.size
            c_i += members.tolist()
        rows.append(sp.csr_matrix((np.ones(len(r_i)), (r_i, c_i)), shape=(len(shared), n_var)))
        lower.append(np.full(len(shared), -np.inf))
        upper.append(np.ones(len(shared)))
    if m:  # L_g - sum_e ell_e x_e = 0
        rows.append(sp.hstack([-lmat, sp.identity(m, format="csr"), sp.csr_matrix((m, m))],
                              format="csr"))
        lower.append(np.zeros(m))
        upper.append(np.zeros(m))
    base = sp.vstack(rows, format="csr")
    lp.num_row_ = base.shape[0]
    lp.row_lower_ = np.concatenate(lower)
    lp.row_upper_ = np.concatenate(upper)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = base.indptr
    lp.a_matrix_.index_ = base.indices
    lp.a_matrix_.value_ = base.data
    lp.a_matrix_.num_col_ = n_var
    lp.a_matrix_.num_row_ = base.shape[0]
    h.passModel(lp)

    def add_tangents(groups: np.ndarray, t: np.ndarray) -> None:
        if groups.size == 0:
            return
        et = np.exp(t)
        k = groups.size
        idx = np.column_stack([n_x + groups, n_x + m + groups]).ravel()
        val = np.column_stack([g_wb[groups] * et, np.ones(k)]).ravel()
        h.addRows(k, np.full(k, -np.inf), g_wb[groups] * (1.0 - et + t * et), 2 * k,
                  np.arange(0, 2 * k, 2, dtype=np.int32), idx.astype(np.int32), val)

    # tangents evenly spaced over [L_min, 0], about every TANGENT_STEP in L
    n_tan = np.clip(np.ceil(-l_min / TANGENT_STEP).astype(np.int64) + 1, 2, MAX_TANGENTS)
    for k in range(int(n_tan.max()) if m else 0):
        groups = np.flatnonzero(n_tan > k)
        add_tangents(groups, l_min[groups] * k / (n_tan[groups] - 1))

    def state(x: np.ndarray) -> np.ndarray:
        lx = np.asarray(lmat @ x.astype(float)).ravel()
        return np.r_[x.astype(float), lx, g_wb * (1.0 - np.exp(lx))]

    best_x = start[elig]
    best_val = _value_scaled(best_x, m_local, m_x, m_ell, g_wb, c_lin)
    bound = math.inf
    status = "round limit"
    rounds = 0
    for rounds in range(1, max_rounds + 1):  # noqa: B007 (reported after the loop)
        left = time_limit - (time.perf_counter() - t0)
        if left <= 0:
            status = "time limit"
            break
        h.setOptionValue("time_limit", float(max(left, 0.1)))
        sol = highspy.HighsSolution()
        sol.col_value = state(best_x).tolist()
        sol.value_valid = True
        h.setSolution(sol)
        h.run()
        model_status = h.getModelStatus()
        info = h.getInfo()
        values = np.asarray(h.getSolution().col_value)
        if values.size != n_var:
            status = f"solver: {h.modelStatusToString(model_status)}"
            break
        x = values[:n_x] > 0.5
        val = _value_scaled(x, m_local, m_x, m_ell, g_wb, c_lin)
        if val > best_val + 1e-15:
            best_val, best_x = val, x.copy()
        dual = float(info.mip_dual_bound)
        if math.isfinite(dual):
            bound = min(bound, dual)
        if model_status != highspy.HighsModelStatus.kOptimal:
            status = ("time limit" if model_status == highspy.HighsModelStatus.kTimeLimit
                      else "node limit")
            break
        if bound - best_val <= tol * max(abs(bound), 1e-12):
            status = "optimal"
            break
        lx = values[n_x:n_x + m]
        f_true = g_wb * (1.0 - np.exp(lx))
        viol = np.flatnonzero(values[n_x + m:] - f_true > tol * 0.01 * max(abs(bound), 1e-12))
        if viol.size == 0:
            status = "optimal"
            break
        add_tangents(viol, lx[viol])
    selected = np.zeros(n, dtype=bool)
    selected[elig[best_x]] = True
    selected = _settle_ties(model, selected, eligible, value * type_w, cost, budget, site,
                            cat_w, bonus)
    value_true = model.expected_value(selected, cat_w, bonus)
    if value_true < start_val:  # never worse than the incumbent
        selected, value_true = start, start_val
    bound_out = max(bound * scale if math.isfinite(bound) else value_true, value_true)
    return Portfolio(selected, value_true, bound_out, float(cost[selected].sum()), status,
                     rounds, time.perf_counter() - t0)


_BANNER_SHOWN = False
_BANNER_LOCK = threading.Lock()


def _highs() -> tuple[Any, Any]:
    """``(highspy, Highs())`` without the copyright banner HiGHS prints on stdout once.

    The solver's own ``output_flag`` (set by the caller) silences every log
    but this banner, which the C++ constructor writes to file descriptor 1
    before any option can be set (highspy 1.16). So the first construction in
    the process, and only that one, runs with descriptor 1 on ``/dev/null``,
    under a lock: two threads of the app's server redirecting at once could
    otherwise restore each other's ``/dev/null`` and lose stdout for good.
    """
    import highspy

    global _BANNER_SHOWN
    with _BANNER_LOCK:
        if _BANNER_SHOWN or DISP:
            return highspy, highspy.Highs()
        sys.stdout.flush()
        saved = os.dup(1)
        try:
            with open(os.devnull, "w") as null:
                os.dup2(null.fileno(), 1)
                h = highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        _BANNER_SHOWN = True
    return highspy, h


def joint_greedy(
    model: ImpactModel, cost: np.ndarray, budget: float, cat_w: np.ndarray,
    bonus: np.ndarray, site: np.ndarray, eligible: np.ndarray,
) -> np.ndarray:
    """Overlap-aware budgeted greedy with lazy evaluation, or the best single candidate.

    Takes, while the budget allows, the candidate with the largest marginal
    joint value per cost, ``(sum_g w base_g exp(L_g) s_jg e_j + bonus_j) /
    cost_j`` given the current selection (``exp(L_g)`` = share of group
    ``g``'s harm still left), at most one per site. With overlaps a marginal
    value only shrinks as the selection grows (the objective is submodular
    for effects in [0, 1]), so a stale value is an upper bound and only the
    heap's top needs re-evaluating (lazy evaluation: Minoux 1978; Leskovec et
    al. 2007, "Cost-effective outbreak detection in networks", KDD). The
    better of this selection and the best single affordable candidate is
    returned, which bounds the loss against the optimum (Khuller, Moss & Naor
    1999, "The budgeted maximum coverage problem", IPL 70(1)). This is the
    re-rank behind ``hotspot-env rank`` and the app, and the optimiser's
    starting point.

    Parameters
    ----------
    model : ImpactModel
    cost : ndarray
        USD per year per candidate (> 0 where eligible).
    budget : float
        USD per year.
    cat_w : ndarray
        Weight per category group.
    bonus : ndarray
        Type-weight bonus per candidate (``(u_t - 1) v_j``).
    site : ndarray of int
        Site code per candidate (-1 none).
    eligible : ndarray of bool
        Candidates that may be chosen.

    Returns
    -------
    ndarray of bool
        The selection.
    """
    return joint_greedy_value(model, cost, budget, cat_w, bonus, site, eligible)[0]


def joint_greedy_value(
    model: ImpactModel, cost: np.ndarray, budget: float, cat_w: np.ndarray,
    bonus: np.ndarray, site: np.ndarray, eligible: np.ndarray,
) -> tuple[np.ndarray, float]:
    """:func:`joint_greedy` and the selection's weighted joint value at the mean effects.

    The value is the sum of the marginal gains taken, which is exactly
    ``model.expected_value(selection, cat_w, bonus)`` (the gains telescope).
    """
    n = model.n
    indptr, group, factor, base_effect, cat = _greedy_arrays(model)
    # w base s e per entry: the marginal value of j is  contrib_e . left[g_e]  (+ bonus)
    contrib = np.asarray(cat_w, dtype=float)[cat] * base_effect
    bonus = np.asarray(bonus, dtype=float)
    gains = np.bincount(model.entry_cand, weights=contrib, minlength=n) + bonus
    cost = np.asarray(cost, dtype=float)
    pool = np.flatnonzero(eligible & (gains > 0) & (cost > 0)).astype(np.int64)
    site = np.asarray(site, dtype=np.int64)
    selected, value = _lazy_greedy(indptr, group, contrib, factor, len(model.group_base), gains,
                                   cost, site, bonus, pool, float(budget) * (1 + 1e-12),
                                   float(LAZY_SLACK))
    single = np.flatnonzero(eligible & (cost <= budget * (1 + 1e-12)) & (cost > 0))
    if single.size:
        best = single[np.argmax(gains[single])]
        if gains[best] > value:  # a lone candidate's gain is its whole value
            one = np.zeros(n, dtype=bool)
            one[best] = True
            return one, float(gains[best])
    return selected, float(value)


def _greedy_arrays(model: ImpactModel) -> tuple[np.ndarray, ...]:
    """Weight-free per-entry arrays of the greedy, cached on the model.

    ``indptr`` (entries of each candidate), ``group`` (int64), ``factor`` =
    ``1 - s e`` (share of the group's harm left by the entry), ``base x (1 -
    factor)`` and the entry's category group (to apply the category weights).
    """
    stats = model._stats
    if "greedy" not in stats:
        factor = np.maximum(1.0 - model.entry_scale * model.mean_effect[model.entry_row], 1e-12)
        group = model.entry_group.astype(np.int64)
        stats["greedy"] = (
            np.searchsorted(model.entry_cand, np.arange(model.n + 1)).astype(np.int64), group,
            factor, model.group_base[group] * (1.0 - factor), model.group_cat[group])
    return stats["greedy"]


@numba.njit(cache=True)
def _heap_less(key: np.ndarray, ids: np.ndarray, a: int, b: int) -> bool:
    """Heap order: larger ratio first (keys are negated), ties to the smaller position."""
    return key[a] < key[b] or (key[a] == key[b] and ids[a] < ids[b])


@numba.njit(cache=True)
def _sift_down(key: np.ndarray, ids: np.ndarray, size: int, i: int) -> None:
    while True:
        left = 2 * i + 1
        if left >= size:
            return
        best = left
        if left + 1 < size and _heap_less(key, ids, left + 1, left):
            best = left + 1
        if not _heap_less(key, ids, best, i):
            return
        key[i], key[best] = key[best], key[i]
        ids[i], ids[best] = ids[best], ids[i]
        i = best


@numba.njit(cache=True)
def _lazy_greedy(indptr, group, contrib, factor, n_groups, gains, cost, site, bonus, pool,
                 budget, slack):  # pragma: no cover - compiled; tested through joint_greedy
    """The loop of :func:`joint_greedy`, compiled: a binary heap of ``-gain / cost``.

    A popped candidate that does not fit or whose site is taken is dropped; else
    its marginal value is re-evaluated and it is taken when its ratio is at least
    ``slack`` x the best remaining (stale, so upper-bound) ratio, or pushed back.
    """
    n = gains.size
    m = pool.size
    key = np.empty(m)
    ids = np.empty(m, dtype=np.int64)
    for i in range(m):
        j = pool[i]
        key[i] = -gains[j] / cost[j]
        ids[i] = j
    for i in range(m // 2 - 1, -1, -1):
        _sift_down(key, ids, m, i)
    left = np.ones(n_groups)
    selected = np.zeros(n, dtype=np.bool_)
    n_sites = 1
    for j in range(n):
        if site[j] + 1 > n_sites:
            n_sites = site[j] + 1
    used = np.zeros(n_sites, dtype=np.bool_)
    cheapest = np.inf
    for i in range(m):
        if cost[pool[i]] < cheapest:
            cheapest = cost[pool[i]]
    remaining = budget
    total = 0.0
    size = m
    while size > 0 and remaining >= cheapest:
        j = ids[0]
        cj = cost[j]
        if cj > remaining or (site[j] >= 0 and used[site[j]]):
            size -= 1  # drop it: it will never fit or its site is taken
            key[0], ids[0] = key[size], ids[size]
            _sift_down(key, ids, size, 0)
            continue
        gain = bonus[j]
        for e in range(indptr[j], indptr[j + 1]):
            gain += contrib[e] * left[group[e]]
        if gain <= 0:
            size -= 1
            key[0], ids[0] = key[size], ids[size]
            _sift_down(key, ids, size, 0)
            continue
        ratio = gain / cj
        # the best other stale ratio is at one of the root's children
        other = np.inf
        if size > 1:
            other = key[1]
        if size > 2 and key[2] < other:
            other = key[2]
        if size > 1 and ratio < -other * slack - 1e-15:
            key[0] = -ratio  # stale value refreshed: push it down
            _sift_down(key, ids, size, 0)
            continue
        selected[j] = True
        total += gain
        remaining -= cj
        for e in range(indptr[j], indptr[j + 1]):
            left[group[e]] *= factor[e]
        if site[j] >= 0:
            used[site[j]] = True
        size -= 1
        key[0], ids[0] = key[size], ids[size]
        _sift_down(key, ids, size, 0)
    return selected, total


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


def _settle_ties(model, selected, eligible, score_value, cost, budget, site, cat_w, bonus):
    """Swap selected candidates for unselected ones with a smaller id, equal value and cost."""
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
                    budget * (1 + 1e-12)):
                selected, current = trial, val
                break
    return selected


def describe(portfolio: Portfolio) -> dict[str, Any]:
    """JSON-ready summary of a portfolio run."""
    return {"status": portfolio.status, "value": portfolio.value, "bound": portfolio.bound,
            "gap": portfolio.gap, "cost": portfolio.cost, "rounds": portfolio.rounds,
            "seconds": round(portfolio.seconds, 3), "n_selected": int(portfolio.selected.sum())}
