"""Did it work? Difference-in-differences at treated places against matched controls.

Design (see ``docs/evaluation.md`` for the reasoning and references)
-------------------------------------------------------------------
Places
    Each completed intervention (a ledger row) is a *treated place*: the
    area within the evidence library's ``reach_m`` of its street or lot.
    Candidates of the same type that were not carried out are the *control
    pool*: the tool flagged them for the same reasons, so they share the risk
    profile. Candidates within reach of a treated place, or of its ring, are
    excluded, so a control cannot catch the intervention's own effect or its
    displacement. An incident belongs to the nearest place within reach.
Matched controls
    Within the same *district type* (tercile of the records within
    :data:`DISTRICT_RADIUS_M` before the work), each treated place is matched
    to its :data:`MATCH_K` nearest control candidates (with replacement) on
    the standardised pre-period outcome rate, all-records rate and expected
    harm (``prevented_mean`` of the ranking), found with a k-d tree
    (:class:`scipy.spatial.cKDTree`).
Outcome
    Only the records the intervention could affect: the categories and hours
    of its evidence rows (dark outdoor incidents for lighting: sun below civil
    twilight, :mod:`hotspot_env.factors.darkness`, and not placed indoors by a
    premise field). When the data has a
    ``source`` field the outcome counts records *not* initiated by officers:
    where patrols go is a decision an intervention can change, so officer
    records measure enforcement, not harm.
Model
    Place-by-month counts, a Poisson quasi-likelihood GLM (statsmodels) with a
    fixed effect per place and per month (per type and month when types are
    pooled) and an indicator for "after the work" at treated places; its
    exponentiated coefficient is the rate ratio. Intervals are cluster-robust
    by place (robust to overdispersion and serial correlation; Wooldridge
    1999; Cameron & Miller 2015). The month of the work is left out at
    treated places and rings.
Displacement and diffusion
    A ring of width :data:`RING_FACTOR` x reach around each treated place gets
    its own "after" indicator (rate ratio > 1: displacement; < 1: diffusion
    of benefits), and the weighted displacement quotient of Bowers & Johnson
    (2003) as used in Bowers et al. (2011) is reported.
Recording guard
    Beside each effect: the share of officer-initiated records before and
    after at treated and control places, and the DiD ratio of that share
    (officer records with all records as exposure); a significant change is
    flagged, because then recording, not harm, may have changed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import stats

from hotspot_env.core.choices import Choice, announce
from hotspot_env.errors import InputError
from hotspot_env.interventions.evidence import EvidenceLibrary
from hotspot_env.interventions.strata import CATEGORY_GROUPS, category_groups_of, map_categories

#: Level of the reported intervals of measured effects.
LEVEL: float = 0.90
#: Control places matched to each treated place (nearest neighbours, with replacement).
MATCH_K: int = 3
#: Width of the displacement ring, as a multiple of the intervention's reach.
RING_FACTOR: float = 1.0
#: Radius (m) of the neighbourhood whose pre-period record count sets a place's district type.
DISTRICT_RADIUS_M: float = 500.0
#: Two-sided p-value below which a change in the officer-initiated share is flagged.
RECORDING_ALPHA: float = 0.05
#: Smallest change (share points, treated minus control) of the officer share that is flagged.
RECORDING_MIN_CHANGE: float = 0.02
#: Weight of the local likelihood in the conservative prior update (a power prior).
PRIOR_UPDATE_WEIGHT: float = 0.25
#: Source value of records a patrol created itself.
OFFICER_SOURCE: str = "officer_initiated"
OVERALL: str = "all"


# ==================================================================== outcome
@dataclass(frozen=True)
class Outcome:
    """What an intervention type could affect, and the library's prior effect.

    Attributes
    ----------
    intervention_type : str
    groups : ndarray of bool
        Mask over :data:`~hotspot_env.interventions.strata.CATEGORY_GROUPS`.
    all_categories : bool
        True when the evidence covers every category (incidents without one too).
    dark_only : bool
        Only incidents in darkness (sun below civil twilight).
    window : tuple of int or None
        Local-hour window ``[start, end)`` when the evidence names one.
    reach_m : float
        Largest reach of the type's evidence rows (metres).
    prior_rr, prior_lo, prior_hi : float
        Prior rate ratio and 95 % interval, pooled over the type's evidence
        rows by inverse variance on the log scale.
    prior_source : str
        Short citations of the rows.
    """

    intervention_type: str
    groups: np.ndarray = field(repr=False)
    all_categories: bool
    dark_only: bool
    window: tuple[int, int] | None
    reach_m: float
    prior_rr: float
    prior_lo: float
    prior_hi: float
    prior_source: str

    def describe(self) -> str:
        """Plain words: which records count as the outcome."""
        cats = ("all categories" if self.all_categories else
                ", ".join(g for g, on in zip(CATEGORY_GROUPS, self.groups, strict=True) if on))
        hours = ("in darkness" if self.dark_only else
                 f"between {self.window[0]}h and {self.window[1]}h" if self.window else
                 "at any hour")
        return f"{cats}, {hours}, within {self.reach_m:g} m"


def outcome_for(intervention_type: str, library: EvidenceLibrary) -> Outcome:
    """The outcome and pooled prior of ``intervention_type`` from the evidence library."""
    rows = library.evidence[library.evidence["intervention_type"] == intervention_type]
    if not len(rows):
        raise InputError(f"the evidence library {library.evidence_path.name} has no row for "
                         f"{intervention_type!r}: add its evidence before evaluating it")
    cats = set().union(*[set(c) for c in rows["categories"]])
    windows = [w for w in rows["window"] if w is not None]
    log_rr = np.log(rows["rate_ratio"].to_numpy(dtype=float))
    weight = 1.0 / np.maximum(rows["sigma"].to_numpy(dtype=float), 1e-6) ** 2
    mean, se = float(np.sum(weight * log_rr) / weight.sum()), float(1.0 / math.sqrt(weight.sum()))
    return Outcome(
        intervention_type=intervention_type, groups=category_groups_of(cats),
        all_categories="all" in cats, dark_only=bool((rows["hours"] == "dark").any()),
        window=tuple(windows[0]) if windows and not (rows["hours"] == "dark").any() else None,
        reach_m=float(rows["reach_m"].max()), prior_rr=math.exp(mean),
        prior_lo=math.exp(mean - 1.959964 * se), prior_hi=math.exp(mean + 1.959964 * se),
        prior_source="; ".join(dict.fromkeys(rows["short"].astype(str))))


def outcome_mask(incidents: pd.DataFrame, outcome: Outcome, light: np.ndarray,
                 local_hour: np.ndarray) -> np.ndarray:
    """True for the incidents ``outcome`` counts (category, darkness or hours).

    Parameters
    ----------
    incidents : DataFrame
        With a ``category`` column.
    light : ndarray of str
        Light class per incident (:func:`hotspot_env.factors.darkness.light_classes`).
    local_hour : ndarray of float
        Local hour per incident (NaN when unknown).
    """
    group = map_categories(incidents["category"].to_numpy(dtype=object))
    mask = np.ones(len(incidents), dtype=bool) if outcome.all_categories else np.where(
        group >= 0, outcome.groups[np.clip(group, 0, None)], False)
    if outcome.dark_only:
        # lighting changes what happens outdoors after dark: records known to be indoors
        # (a premise field through data/category_map.csv) are left out, unknown ones kept
        mask &= np.asarray(light) == "dark"
        if "outdoor" in incidents:
            mask &= ~incidents["outdoor"].astype("boolean").eq(False).fillna(False).to_numpy(
                dtype=bool)
    elif outcome.window is not None:
        from hotspot_env.interventions.strata import in_window

        mask &= np.isfinite(local_hour) & in_window(np.nan_to_num(local_hour), outcome.window)
    return mask


# ===================================================================== places
def assign_nearest(points: np.ndarray, sites: np.ndarray, distance: float) -> np.ndarray:
    """Index of the nearest site within ``distance`` of each point, -1 where none."""
    out = np.full(len(points), -1, dtype=np.int64)
    if not len(points) or not len(sites):
        return out
    pt, site = shapely.STRtree(sites).query(points, predicate="dwithin", distance=distance)
    if not len(pt):
        return out
    d = shapely.distance(points[pt], sites[site])
    order = np.lexsort((site, d, pt))  # per point: nearest first, ties to the lower index
    pt, site = pt[order], site[order]
    first = np.r_[True, pt[1:] != pt[:-1]]
    out[pt[first]] = site[first]
    return out


def month_index(stamps: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Months since year 0 (UTC): ``12 * year + month - 1``; -1 where unknown."""
    s = pd.DatetimeIndex(pd.to_datetime(stamps, utc=True))
    out = (s.year.to_numpy(dtype=float) * 12 + s.month.to_numpy(dtype=float) - 1)
    return np.where(np.isfinite(out), out, -1).astype(np.int64)


def month_label(index: int) -> str:
    """``YYYY-MM`` of a :func:`month_index`."""
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


# ====================================================================== model
@dataclass(frozen=True)
class Estimate:
    """A rate ratio with its interval (``NaN`` when it cannot be estimated)."""

    rr: float = math.nan
    lo: float = math.nan
    hi: float = math.nan
    p: float = math.nan
    note: str = ""

    @property
    def ok(self) -> bool:
        """True when the estimate exists."""
        return bool(np.isfinite(self.rr))


def fe_poisson(y: np.ndarray, x: np.ndarray, unit: np.ndarray, period: np.ndarray,
               offset: np.ndarray | None = None, max_iter: int = 100,
               base_periods: tuple[int, ...] = (0,)) -> tuple[np.ndarray, np.ndarray, int]:
    """Poisson regression with a fixed effect per unit and per period, clustered by unit.

    The unit effects are profiled out exactly (for Poisson, given the other
    coefficients ``b``, ``alpha_i = log(sum_t y_it) - log(sum_t exp(z_it b))``),
    so Newton's method runs on the few columns ``z = [x, period dummies]``
    instead of one dummy per place. The estimates and the cluster-robust
    covariance are those of statsmodels' ``GLM(Poisson)`` with a dummy per unit
    and period and ``cov_type="cluster"`` (with its small-sample correction
    ``G/(G-1) (N-1)/(N-K)``), which the tests check, at a fraction of the
    cost: the full dummy design is dense.

    Parameters
    ----------
    y : ndarray of float, shape (n,)
        Counts.
    x : ndarray, shape (n, p)
        Regressors of interest.
    unit, period : ndarray of int, shape (n,)
        Codes ``0..G-1`` and ``0..T-1``; every unit must have a positive total.
    offset : ndarray, optional
        Log exposure per row.
    max_iter : int
        Newton steps at most.
    base_periods : tuple of int
        Periods without a dummy: one per group of units that shares period
        effects (the first period; one per type when types are pooled).

    Returns
    -------
    params : ndarray, shape (p,)
    cov : ndarray, shape (p, p)
        Cluster-robust covariance of ``params``.
    groups : int
        Number of clusters (units).
    """
    from threadpoolctl import threadpool_limits

    # products of a few thousand rows by ~50 columns: BLAS threads only contend (10x slower
    # on a busy 2-core machine)
    with threadpool_limits(1):
        return _fe_poisson(y, x, unit, period, offset, max_iter, base_periods)


def _fe_poisson(y: np.ndarray, x: np.ndarray, unit: np.ndarray, period: np.ndarray,
                offset: np.ndarray | None, max_iter: int, base_periods: tuple[int, ...]
                ) -> tuple[np.ndarray, np.ndarray, int]:
    y = np.asarray(y, dtype=float)
    off = np.zeros(len(y)) if offset is None else np.asarray(offset, dtype=float)
    n_t = int(period.max()) + 1
    keep = np.setdiff1d(np.arange(n_t), base_periods)
    z = np.column_stack([np.asarray(x, dtype=float), np.eye(n_t)[period][:, keep]])
    n_g = int(unit.max()) + 1
    sum_y = np.bincount(unit, weights=y, minlength=n_g)
    b = np.zeros(z.shape[1])
    for _ in range(max_iter):
        mu = _profiled_mean(z @ b + off, unit, sum_y, n_g)
        grad = z.T @ (y - mu)
        zt = _within(z, mu, unit, n_g)
        hess = zt.T @ (zt * mu[:, None])
        step = np.linalg.solve(hess, grad)
        b += step
        if np.max(np.abs(step)) < 1e-10:
            break
    mu = _profiled_mean(z @ b + off, unit, sum_y, n_g)
    zt = _within(z, mu, unit, n_g)
    bread = np.linalg.inv(zt.T @ (zt * mu[:, None]))
    scores = _unit_sums(z * (y - mu)[:, None], unit, n_g)
    n, k = len(y), z.shape[1] + n_g
    correction = n_g / (n_g - 1) * (n - 1) / (n - k)
    cov = correction * bread @ (scores.T @ scores) @ bread
    p = np.asarray(x).shape[1]
    return b[:p], cov[:p, :p], n_g


def _profiled_mean(eta: np.ndarray, unit: np.ndarray, sum_y: np.ndarray, n_g: int) -> np.ndarray:
    """Poisson means with each unit's effect at its maximum given ``eta``."""
    shift = np.full(n_g, -np.inf)
    np.maximum.at(shift, unit, eta)  # for numerical safety before exp
    e = np.exp(eta - shift[unit])
    return e * (sum_y / np.bincount(unit, weights=e, minlength=n_g))[unit]


def _within(z: np.ndarray, w: np.ndarray, unit: np.ndarray, n_g: int) -> np.ndarray:
    """``z`` minus its ``w``-weighted mean within each unit."""
    tot = np.bincount(unit, weights=w, minlength=n_g)
    return z - (_unit_sums(z * w[:, None], unit, n_g) / tot[:, None])[unit]


def _unit_sums(values: np.ndarray, unit: np.ndarray, n_g: int) -> np.ndarray:
    """Column sums of ``values`` per unit, shape ``(n_g, k)``."""
    return np.column_stack([np.bincount(unit, weights=values[:, j], minlength=n_g)
                            for j in range(values.shape[1])])


def did_poisson(panel: pd.DataFrame, y: str, terms: tuple[str, ...],
                level: float = LEVEL, exposure: str | None = None) -> dict[str, Estimate]:
    """Two-way fixed-effects Poisson DiD: ``y ~ terms + place + period``; ratios per term.

    Parameters
    ----------
    panel : DataFrame
        One row per place and period: ``unit``, ``period`` and the columns
        named by ``y``, ``terms`` (0/1 indicators) and ``exposure``.
    y : str
        Count column.
    terms : tuple of str
        Indicator columns whose exponentiated coefficients are returned.
    level : float
        Interval level (default 90 %).
    exposure : str, optional
        Column whose log is an offset (e.g. all records, to model a share).

    Returns
    -------
    dict of str to Estimate
        Rate ratios with cluster-robust (by place) intervals on a t reference
        with ``G - 1`` degrees of freedom (:func:`fe_poisson`).
    """
    data = panel
    if exposure is not None:
        data = data[data[exposure] > 0]
    # places and periods without any count carry no information under fixed effects
    data = data[data.groupby("unit")[y].transform("sum") > 0]
    data = data[data.groupby("period")[y].transform("sum") > 0]
    out: dict[str, Estimate] = {}
    usable = [t for t in terms if t in data and data[t].nunique() > 1
              and data.loc[data[t] == 1, y].sum() > 0]
    for t in terms:
        if t not in usable:
            out[t] = Estimate(note="too few records to estimate")
    units = pd.factorize(data["unit"])[0]
    periods = pd.factorize(data["period"], sort=True)[0]
    # one period without a dummy per group of units sharing period effects (pooled types)
    group = data["type"].to_numpy() if "type" in data else np.zeros(len(data))
    base = tuple(int(periods[np.flatnonzero(group == g)].min()) for g in pd.unique(group))
    if not usable or (len(units) and units.max() < 2):
        return {t: out.get(t, Estimate(note="too few places to estimate")) for t in terms}
    offset = np.log(data[exposure].to_numpy(dtype=float)) if exposure else None
    try:
        params, cov, groups = fe_poisson(data[y].to_numpy(dtype=float),
                                         data[usable].to_numpy(dtype=float), units,
                                         periods, offset, base_periods=base)
    except np.linalg.LinAlgError:
        return {t: Estimate(note="the model could not be estimated") for t in terms}
    crit = stats.t.ppf(0.5 + level / 2, df=groups - 1)
    for i, t in enumerate(usable):
        b, se = float(params[i]), float(math.sqrt(max(cov[i, i], 0.0)))
        if not (np.isfinite(b) and np.isfinite(se)) or se <= 0 or abs(b) > 20:
            out[t] = Estimate(note="the model did not converge")
            continue
        p = float(2 * stats.t.sf(abs(b / se), df=groups - 1))
        out[t] = Estimate(math.exp(b), math.exp(b - crit * se), math.exp(b + crit * se), p)
    return out


def wdq(treated: tuple[float, float], ring: tuple[float, float],
        control: tuple[float, float]) -> float:
    """Weighted displacement quotient (Bowers & Johnson 2003).

    ``WDQ = (Ra/Ca - Rb/Cb) / (Ta/Ca - Tb/Cb)`` with ``b`` before and ``a``
    after, for the treated area ``T``, the ring ``R`` and the control ``C``.
    Defined only when the treated area improved relative to the control
    (denominator < 0); then WDQ > 0 means a diffusion of benefits into the
    ring, WDQ < 0 displacement, and WDQ < -1 more displaced than prevented.

    Parameters
    ----------
    treated, ring, control : tuple of float
        ``(before, after)`` counts (or rates over equal windows).

    Returns
    -------
    float
        NaN when undefined.
    """
    (tb, ta), (rb, ra), (cb, ca) = treated, ring, control
    if min(cb, ca) <= 0:
        return math.nan
    success = ta / ca - tb / cb
    if not success < 0:
        return math.nan
    return (ra / ca - rb / cb) / success


def update_prior(prior: tuple[float, float, float], measured: Estimate,
                 weight: float = PRIOR_UPDATE_WEIGHT, level: float = LEVEL
                 ) -> tuple[float, float, float]:
    """Conservative normal-normal update of a prior rate ratio by a local estimate.

    On the log scale, the prior is ``N(log rr, sigma^2)`` with ``sigma`` from
    its 95 % interval; the local estimate enters as a power prior (Ibrahim &
    Chen 2000) with weight ``weight`` (its variance divided by ``weight``), so
    one city's result moves the library only part of the way.

    Returns
    -------
    tuple of float
        Posterior rate ratio and 95 % interval.
    """
    rr, lo, hi = prior
    mu0, s0 = math.log(rr), (math.log(hi) - math.log(lo)) / (2 * 1.959964)
    z = stats.norm.ppf(0.5 + level / 2)
    mu1, s1 = math.log(measured.rr), (math.log(measured.hi) - math.log(measured.lo)) / (2 * z)
    p0, p1 = 1 / s0**2, weight / s1**2
    mean, sd = (p0 * mu0 + p1 * mu1) / (p0 + p1), 1 / math.sqrt(p0 + p1)
    return math.exp(mean), math.exp(mean - 1.959964 * sd), math.exp(mean + 1.959964 * sd)


# ================================================================= evaluation
@dataclass
class Evaluation:
    """The measured effects and everything needed to report them.

    Attributes
    ----------
    table : DataFrame
        One row per intervention type and an ``all`` row (see :data:`TABLE_COLUMNS`).
    ledger : GeoDataFrame
        The completed interventions evaluated.
    choices : list of Choice
    warnings : list of str
    parameters : dict
    """

    table: pd.DataFrame
    ledger: gpd.GeoDataFrame
    choices: list[Choice]
    warnings: list[str]
    parameters: dict[str, Any]


TABLE_COLUMNS: tuple[str, ...] = (
    "type", "n_done", "n_controls", "outcome", "rate_ratio", "rr_lo", "rr_hi", "p_value",
    "rr_all_records", "prior_rr", "prior_lo", "prior_hi", "prior_source", "ring_rr", "ring_lo",
    "ring_hi", "wdq", "treated_before", "treated_after", "ring_before", "ring_after",
    "control_before", "control_after", "months_before", "months_after",
    "officer_share_treated_before", "officer_share_treated_after",
    "officer_share_control_before", "officer_share_control_after", "recording_ratio",
    "recording_p", "recording_flag", "prevented_expected", "prevented_measured",
    "prevented_measured_lo", "prevented_measured_hi", "capital_cost", "cost", "note", "reach_m",
    "officer_treated_before", "officer_treated_after", "records_treated_before",
    "records_treated_after", "officer_control_before", "officer_control_after",
    "records_control_before", "records_control_after",
)


def evaluate(
    ledger: gpd.GeoDataFrame,
    incidents: gpd.GeoDataFrame,
    pool: gpd.GeoDataFrame,
    library: EvidenceLibrary,
    *,
    timezone: str | None = None,
    update_evidence: bool = False,
) -> Evaluation:
    """Measure the effect of completed interventions (see the module docstring).

    Parameters
    ----------
    ledger : GeoDataFrame
        Completed interventions (:mod:`hotspot_env.evaluation.ledger`).
    incidents : GeoDataFrame
        Incident points with ``datetime``, ``category`` and, when known,
        ``source`` and ``time_known``; covering months before and after the work.
    pool : GeoDataFrame
        Every candidate of the analysis the ledger came from (controls are
        drawn from those not done).
    library : EvidenceLibrary
        Outcome definitions and prior effects.
    timezone : str, optional
        IANA zone for local-hour windows (default: local mean solar time).
    update_evidence : bool
        Also compute the conservative Bayesian update of each prior
        (``posterior_*`` columns; off by default).

    Returns
    -------
    Evaluation
    """
    from hotspot_env.core.analysis import DEFAULT_EXCLUDED_SOURCES
    from hotspot_env.factors.darkness import light_classes

    choices: list[Choice] = []
    notes: list[str] = []
    crs = pool.crs
    ledger = ledger.to_crs(crs)
    inc = incidents[incidents["datetime"].notna()].reset_index(drop=True)
    if not len(inc):
        raise InputError("the incidents have no dates: an evaluation compares months before "
                         "and after the work")
    light, _ = light_classes(inc)
    inc = inc.to_crs(crs)
    points = inc.geometry.to_numpy()
    month = month_index(inc["datetime"])
    stamps = pd.to_datetime(inc["datetime"], utc=True)
    hour = _local_hour(stamps, timezone, inc)
    source = inc["source"] if "source" in inc else pd.Series(None, index=inc.index)
    has_source = bool(source.notna().any())
    officer = source.astype("string").str.lower().isin(DEFAULT_EXCLUDED_SOURCES).to_numpy(
        dtype=bool)
    if has_source:
        if officer.all():
            raise InputError("every record is officer-initiated: an evaluation on officer "
                             "records alone measures where patrols went, not harm; add the "
                             "residents' calls")
        counted = ~officer
        choices.append(announce(Choice(
            "outcome_source", "records not initiated by officers",
            "the outcome counts residents' calls and other reports, not officer-initiated "
            "records, which follow where patrols go; the all-records estimate is shown beside "
            "it and the officer share is checked")))
    else:
        counted = np.ones(len(inc), dtype=bool)
        notes.append("The incidents have no source field, so it cannot be checked whether "
                     "recording (e.g. more patrols) rather than harm changed.")
    done_month = month_index(pd.to_datetime(ledger["done_date"].astype(str), utc=True))
    first, last = int(month[month >= 0].min()), int(month.max())
    if done_month.min() <= first:
        raise InputError(f"the incidents start in {month_label(first)}, not before the first "
                         f"work ({ledger['done_date'].min()}): pass incidents that cover the "
                         "months before the work too")
    if done_month.max() >= last:
        raise InputError(f"the incidents end in {month_label(last)}, before any month after the "
                         f"last work ({ledger['done_date'].max()}): pass incidents that cover the "
                         "months after it")
    if "outdoor" in inc and inc["outdoor"].notna().any():
        choices.append(announce(Choice(
            "outdoor_only", "for lighting",
            "the lighting outcome leaves out records the premise field places indoors "
            f"({int(inc['outdoor'].astype('boolean').eq(False).sum()):,}); records without a "
            "premise are kept")))
    choices.append(announce(Choice(
        "evaluation_period", "calendar month",
        "counts per place and month (UTC); the month of the work is left out at treated places "
        "and their rings, as it is partly before and partly after")))
    choices.append(announce(Choice(
        "match_controls", MATCH_K,
        f"each treated place is matched to its {MATCH_K} nearest not-done candidates of the same "
        "type (with replacement) on the standardised pre-work outcome rate, all-records rate and "
        f"expected harm, within the same district type (tercile of records within "
        f"{DISTRICT_RADIUS_M:g} m before the work); candidates within reach of a treated place "
        "or its ring are excluded")))
    choices.append(announce(Choice(
        "ring_width_m", f"{RING_FACTOR:g} x reach",
        "displacement and diffusion are looked for in a ring this wide around each treated place")))

    types = sorted(set(ledger["type"].astype(str)))
    outcomes = {t: outcome_for(t, library) for t in types}
    done_ids = set(ledger["intervention_id"].astype(str))
    pool = pool[~pool["intervention_id"].astype(str).isin(done_ids)]
    treated_geoms = ledger.geometry.to_numpy()
    treated_reach = np.array([outcomes[t].reach_m for t in ledger["type"].astype(str)])
    pre_first = int(done_month.min())
    panels, rows = [], []
    for itype in types:
        out = outcomes[itype]
        reach, ring_w = out.reach_m, RING_FACTOR * out.reach_m
        mine = (ledger["type"].astype(str) == itype).to_numpy()
        sites_t = treated_geoms[mine]
        start_t = done_month[mine]
        cands = pool[pool["type"].astype(str) == itype]
        cgeoms = cands.geometry.to_numpy()
        # controls must be farther than their reach + any treated place's reach and ring
        far = np.ones(len(cgeoms), dtype=bool)
        if len(cgeoms):
            gap = reach + treated_reach * (1 + RING_FACTOR)
            ci, ti = shapely.STRtree(treated_geoms).query(cgeoms, predicate="dwithin",
                                                          distance=float(gap.max()))
            close = shapely.distance(cgeoms[ci], treated_geoms[ti]) <= gap[ti]
            far[ci[close]] = False
        cgeoms, cands = cgeoms[far], cands[far]
        is_outcome = outcome_mask(inc, out, light, hour)
        # places: treated sites first, then eligible candidates
        geoms = np.concatenate([sites_t, cgeoms])
        site_of = assign_nearest(points, geoms, reach)
        ring_of = np.full(len(points), -1, dtype=np.int64)
        free = site_of < 0
        ring_of[free] = assign_nearest(points[free], sites_t, reach + ring_w)
        n_t = len(sites_t)
        matched = _match(points, month, counted & is_outcome, site_of, geoms, n_t, pre_first,
                         cands, notes, itype)
        unit_start = np.concatenate([start_t, np.full(len(cgeoms), -1)])
        panel = _panel(itype, month, site_of, ring_of, n_t, matched, unit_start, first, last,
                       {"y": counted & is_outcome, "y_all": is_outcome, "records": np.ones(
                           len(points), dtype=bool), "officer": officer})
        panels.append(panel)
        rows.append(_type_row(itype, out, panel, ledger[mine], len(matched), has_source))
    table = pd.DataFrame(rows)
    overall = _overall_row(pd.concat(panels, ignore_index=True), ledger, has_source, outcomes)
    table = pd.concat([table, pd.DataFrame([overall])], ignore_index=True)[list(TABLE_COLUMNS)]
    for rec in table.itertuples():
        if rec.recording_flag and rec.type != OVERALL:
            notes.append(f"{rec.type}: the share of officer-initiated records changed at treated "
                         f"places ({rec.officer_share_treated_before:.0%} -> "
                         f"{rec.officer_share_treated_after:.0%}; controls "
                         f"{rec.officer_share_control_before:.0%} -> "
                         f"{rec.officer_share_control_after:.0%}): recording, not harm, may "
                         "have changed there.")
    if update_evidence:
        choices.append(announce(Choice(
            "prior_update_weight", PRIOR_UPDATE_WEIGHT,
            "the local estimate updates each prior as a power prior with this weight (its "
            "variance divided by it), so one city moves the evidence only part of the way")))
        post = [update_prior((r.prior_rr, r.prior_lo, r.prior_hi),
                             Estimate(r.rate_ratio, r.rr_lo, r.rr_hi))
                if np.isfinite(r.rate_ratio) and np.isfinite(r.prior_rr)
                else (math.nan,) * 3 for r in table.itertuples()]
        table["posterior_rr"], table["posterior_lo"], table["posterior_hi"] = (
            np.array(post).T if post else ([], [], []))
    params = {"level": LEVEL, "match_k": MATCH_K, "ring_factor": RING_FACTOR,
              "district_radius_m": DISTRICT_RADIUS_M, "recording_alpha": RECORDING_ALPHA,
              "timezone": timezone, "update_evidence": bool(update_evidence),
              "first_month": month_label(first), "last_month": month_label(last),
              "outcomes": {t: o.describe() for t, o in outcomes.items()}}
    return Evaluation(table, ledger, choices, notes, params)


# ==================================================================== helpers
def _local_hour(stamps: pd.Series, timezone: str | None, inc: gpd.GeoDataFrame) -> np.ndarray:
    known = stamps.notna().to_numpy()
    if "time_known" in inc:
        known = known & inc["time_known"].fillna(False).astype(bool).to_numpy()
    if timezone:
        local = stamps.dt.tz_convert(timezone)
        hours = (local.dt.hour + local.dt.minute / 60).to_numpy(dtype=float)
    else:
        lon = inc.geometry.to_crs(4326).x.to_numpy() if len(inc) else np.zeros(0)
        hours = np.mod((stamps.dt.hour + stamps.dt.minute / 60).to_numpy(dtype=float)
                       + lon / 15.0, 24.0)
    return np.where(known, hours, np.nan)


def _match(points: np.ndarray, month: np.ndarray, is_y: np.ndarray, site_of: np.ndarray,
           geoms: np.ndarray, n_t: int, pre_first: int, cands: gpd.GeoDataFrame,
           notes: list[str], itype: str) -> np.ndarray:
    """Indices (into the eligible control candidates) of the matched controls."""
    from scipy.spatial import cKDTree

    n = len(geoms)
    n_c = n - n_t
    if n_c == 0 or n_t == 0:
        return np.zeros(0, dtype=np.int64)
    pre = (month >= 0) & (month < pre_first)
    months = max(1, pre_first - int(month[month >= 0].min()))
    inside = site_of >= 0
    y_rate = np.bincount(site_of[inside & pre & is_y], minlength=n) / months
    all_rate = np.bincount(site_of[inside & pre], minlength=n) / months
    feats = np.column_stack([np.log1p(y_rate), np.log1p(all_rate)])
    if "prevented_mean" in cands:
        harm = np.nan_to_num(cands["prevented_mean"].to_numpy(dtype=float))
        if np.ptp(harm) > 0:
            # the ranking's expected harm is known for candidates only; treated places take
            # the median so this column never pulls a match either way
            col = np.r_[np.full(n_t, np.median(np.log1p(np.clip(harm, 0, None)))),
                        np.log1p(np.clip(harm, 0, None))]
            feats = np.column_stack([feats, col])
    scale = feats.std(axis=0)
    feats = (feats - feats.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
    # district type: tercile of the records near the place before the work
    near, _ = shapely.STRtree(points[pre]).query(shapely.point_on_surface(geoms),
                                                 predicate="dwithin",
                                                 distance=DISTRICT_RADIUS_M)
    density = np.bincount(near, minlength=n)
    cuts = np.quantile(density, [1 / 3, 2 / 3])
    stratum = np.searchsorted(cuts, density, side="right")
    chosen: list[np.ndarray] = []
    for s in np.unique(stratum[:n_t]):
        treated = np.flatnonzero(stratum[:n_t] == s)
        pool = np.flatnonzero(stratum[n_t:] == s)
        if not len(pool):
            notes.append(f"{itype}: no control candidate in the same district type as "
                         f"{len(treated)} treated place(s); they were matched across types.")
            pool = np.arange(n_c)
        k = min(MATCH_K, len(pool))
        _, idx = cKDTree(feats[n_t + pool]).query(feats[treated], k=k)
        chosen.append(pool[np.reshape(idx, (len(treated), k)).ravel()])
    return np.unique(np.concatenate(chosen))


def _panel(itype: str, month: np.ndarray, site_of: np.ndarray, ring_of: np.ndarray, n_t: int,
           matched: np.ndarray, unit_start: np.ndarray, first: int, last: int,
           columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """Place x month counts for treated places, their rings and matched controls.

    ``site_of``/``ring_of`` give each incident's place (treated ``0..n_t-1``,
    then control candidates) and ring (treated index); ``columns`` are the
    incident masks counted (outcome, all records, officer records...).
    """
    n_months = last - first + 1
    n_c = len(matched)
    # unit codes: treated 0..n_t-1, rings n_t..2n_t-1, matched controls 2n_t..2n_t+n_c-1
    size = max(int(site_of.max(initial=-1)) + 1 - n_t, int(matched.max(initial=-1)) + 1, 1)
    control_code = np.full(size, -1, dtype=np.int64)
    control_code[matched] = 2 * n_t + np.arange(n_c)
    code = np.where((site_of >= 0) & (site_of < n_t), site_of,
                    np.where(site_of >= n_t, control_code[np.clip(site_of - n_t, 0, None)],
                             np.where(ring_of >= 0, n_t + ring_of, -1)))
    keep = (code >= 0) & (month >= 0)
    n_units = 2 * n_t + n_c
    cell = code[keep] * n_months + (month[keep] - first)
    panel = pd.DataFrame({
        "unit": np.repeat([f"{itype}:T{i}" for i in range(n_t)]
                          + [f"{itype}:R{i}" for i in range(n_t)]
                          + [f"{itype}:C{j}" for j in matched], n_months),
        "role": np.repeat(["treated"] * n_t + ["ring"] * n_t + ["control"] * n_c, n_months),
        "type": itype,
        "start": np.repeat(np.r_[unit_start[:n_t], unit_start[:n_t], np.full(n_c, -1)]
                           .astype(np.int64), n_months),
        "period": np.tile(np.arange(first, last + 1), n_units)})
    for col, mask in columns.items():
        panel[col] = np.bincount(cell[mask[keep]], minlength=n_units * n_months)
    started = panel["start"] >= 0
    panel = panel[~(started & (panel["period"] == panel["start"]))]  # the month of the work
    after = started & (panel["period"] > panel["start"])
    panel["treated_post"] = ((panel["role"] == "treated") & after).astype(np.int8)
    panel["ring_post"] = ((panel["role"] == "ring") & after).astype(np.int8)
    return panel.reset_index(drop=True)


def _before_after(panel: pd.DataFrame, role: str, col: str, split: int
                  ) -> tuple[int, int, int, int]:
    """Counts and unit-months before and after (controls split at ``split``)."""
    part = panel[panel["role"] == role]
    if role == "control":
        after = part["period"] > split
        before = part["period"] < split
    else:
        after = part["period"] > part["start"]
        before = part["period"] < part["start"]
    return (int(part.loc[before, col].sum()), int(part.loc[after, col].sum()),
            int(before.sum()), int(after.sum()))


def _type_row(itype: str, out: Outcome, panel: pd.DataFrame, done: gpd.GeoDataFrame,
              n_controls: int, has_source: bool) -> dict[str, Any]:
    est = did_poisson(panel, "y", ("treated_post", "ring_post"))
    est_all = did_poisson(panel, "y_all", ("treated_post",)) if has_source else est
    split = int(np.median(panel.loc[panel["role"] == "treated", "start"]))
    return _row(itype, panel, est, est_all, done, n_controls, has_source, split,
                out.describe(), (out.prior_rr, out.prior_lo, out.prior_hi), out.prior_source,
                out.reach_m)


def _overall_row(panel: pd.DataFrame, ledger: gpd.GeoDataFrame, has_source: bool,
                 outcomes: dict[str, Outcome]) -> dict[str, Any]:
    pooled = panel.assign(period=panel["type"] + ":" + panel["period"].astype(str))
    est = did_poisson(pooled, "y", ("treated_post", "ring_post"))
    est_all = did_poisson(pooled, "y_all", ("treated_post",)) if has_source else est
    split = int(np.median(panel.loc[panel["role"] == "treated", "start"]))
    n_controls = int(panel.loc[panel["role"] == "control", "unit"].nunique())
    return _row(OVERALL, panel, est, est_all, ledger, n_controls, has_source, split,
                "each type's own outcome", (math.nan,) * 3, "", math.nan, pooled=pooled)


def _row(itype: str, panel: pd.DataFrame, est: dict[str, Estimate],
         est_all: dict[str, Estimate], done: gpd.GeoDataFrame, n_controls: int,
         has_source: bool, split: int, outcome_text: str, prior: tuple[float, float, float],
         prior_source: str, reach: float, pooled: pd.DataFrame | None = None
         ) -> dict[str, Any]:
    """One row of the evaluation table: estimates, WDQ, recording guard, money, counts."""
    t = est["treated_post"]
    r = est["ring_post"]
    tb, ta, tbm, tam = _before_after(panel, "treated", "y", split)
    rb, ra, rbm, ram = _before_after(panel, "ring", "y", split)
    cb, ca, cbm, cam = _before_after(panel, "control", "y", split)
    quotient = math.nan
    if min(tbm, tam, rbm, ram, cbm, cam) > 0:
        quotient = wdq((tb / tbm, ta / tam), (rb / rbm, ra / ram), (cb / cbm, ca / cam))
    # officer share and its DiD odds ratio (treated vs controls)
    shares, officer = {}, {}
    for role in ("treated", "control"):
        ob, oa, _, _ = _before_after(panel, role, "officer", split)
        nb, na, _, _ = _before_after(panel, role, "records", split)
        shares[role] = (ob / nb if nb else math.nan, oa / na if na else math.nan)
        officer.update({f"officer_{role}_before": ob, f"officer_{role}_after": oa,
                        f"records_{role}_before": nb, f"records_{role}_after": na})
    rec = Estimate()
    if has_source:
        guard = (pooled if pooled is not None else panel)
        guard = guard[guard["role"] != "ring"]
        rec = did_poisson(guard, "officer", ("treated_post",), exposure="records")[
            "treated_post"]
    change = (shares["treated"][1] - shares["treated"][0]) - (
        shares["control"][1] - shares["control"][0])
    flag = bool(rec.ok and rec.p < RECORDING_ALPHA and abs(change) >= RECORDING_MIN_CHANGE)
    years_after = tam / 12.0 / max(1, len(done))  # per place: months after / 12
    measured = lo = hi = math.nan
    if t.ok and years_after > 0:
        # incidents that would have happened without the work, minus those that did, per year
        per_year = ta / years_after
        measured, lo, hi = (per_year * (1 / t.rr - 1), per_year * (1 / t.hi - 1),
                            per_year * (1 / t.lo - 1))
    return {
        "type": itype, "n_done": int(len(done)), "n_controls": int(n_controls),
        "outcome": outcome_text, "rate_ratio": t.rr, "rr_lo": t.lo, "rr_hi": t.hi,
        "p_value": t.p, "rr_all_records": est_all["treated_post"].rr,
        "prior_rr": prior[0], "prior_lo": prior[1], "prior_hi": prior[2],
        "prior_source": prior_source, "ring_rr": r.rr, "ring_lo": r.lo, "ring_hi": r.hi,
        "wdq": quotient, "treated_before": tb, "treated_after": ta, "ring_before": rb,
        "ring_after": ra, "control_before": cb, "control_after": ca,
        "months_before": tbm, "months_after": tam,
        "officer_share_treated_before": shares["treated"][0],
        "officer_share_treated_after": shares["treated"][1],
        "officer_share_control_before": shares["control"][0],
        "officer_share_control_after": shares["control"][1],
        "recording_ratio": rec.rr, "recording_p": rec.p, "recording_flag": flag,
        "prevented_expected": float(np.nansum(done["prevented_mean"].to_numpy(dtype=float)))
        if "prevented_mean" in done else math.nan,
        "prevented_measured": measured, "prevented_measured_lo": lo,
        "prevented_measured_hi": hi,
        "capital_cost": float(np.nansum(done["capital_cost"].to_numpy(dtype=float)))
        if "capital_cost" in done else math.nan,
        "cost": float(np.nansum(done["cost"].to_numpy(dtype=float))) if "cost" in done
        else math.nan,
        "note": t.note, "reach_m": reach, **officer,
    }
