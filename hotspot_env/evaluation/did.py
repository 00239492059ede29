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

from hotspot_env.core.choices import Choice, announce
from hotspot_env.errors import InputError
from hotspot_env.evaluation.estimation import (
    LEVEL,
    PRIOR_UPDATE_WEIGHT,
    Estimate,
    did_poisson,
    update_prior,
)
from hotspot_env.evaluation.table import (
    OVERALL,
    RECORDING_ALPHA,
    TABLE_COLUMNS,
    effect_row,
    overall_row,
)
from hotspot_env.interventions.evidence import EvidenceLibrary
from hotspot_env.interventions.strata import CATEGORY_GROUPS, category_groups_of, map_categories

#: Control places matched to each treated place (nearest neighbours, with replacement).
MATCH_K: int = 3
#: Width of the displacement ring, as a multiple of the intervention's reach.
RING_FACTOR: float = 1.0
#: Radius (m) of the neighbourhood whose pre-period record count sets a place's district type.
DISTRICT_RADIUS_M: float = 500.0
#: Source value of records a patrol created itself.
OFFICER_SOURCE: str = "officer_initiated"


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
    crs = pool.crs
    ledger = ledger.to_crs(crs)
    choices: list[Choice] = []
    notes: list[str] = []
    records = _records(incidents, crs, timezone, choices, notes)
    month = records.month
    done_month = month_index(pd.to_datetime(ledger["done_date"].astype(str), utc=True))
    first, last = _check_period(month, done_month, ledger)
    _announce_design(records.inc, choices)
    types = sorted(set(ledger["type"].astype(str)))
    outcomes = {t: outcome_for(t, library) for t in types}
    done_ids = set(ledger["intervention_id"].astype(str))
    pool = pool[~pool["intervention_id"].astype(str).isin(done_ids)]
    treated_reach = np.array([outcomes[t].reach_m for t in ledger["type"].astype(str)])
    panels, rows = [], []
    for itype in types:
        panel, row = _evaluate_type(itype, outcomes[itype], records, ledger, done_month, pool,
                                    treated_reach, (first, last), notes)
        panels.append(panel)
        rows.append(row)
    table = pd.DataFrame(rows)
    overall = overall_row(pd.concat(panels, ignore_index=True), ledger, records.has_source)
    table = pd.concat([table, pd.DataFrame([overall])], ignore_index=True)[list(TABLE_COLUMNS)]
    notes += _recording_notes(table)
    if update_evidence:
        _add_posteriors(table, choices)
    params = {"level": LEVEL, "match_k": MATCH_K, "ring_factor": RING_FACTOR,
              "district_radius_m": DISTRICT_RADIUS_M, "recording_alpha": RECORDING_ALPHA,
              "timezone": timezone, "update_evidence": bool(update_evidence),
              "first_month": month_label(first), "last_month": month_label(last),
              "outcomes": {t: o.describe() for t, o in outcomes.items()}}
    return Evaluation(table, ledger, choices, notes, params)


@dataclass
class _Records:
    """The dated incidents (in the pool's CRS) and what the evaluation needs of each."""

    inc: gpd.GeoDataFrame
    points: np.ndarray
    month: np.ndarray
    light: np.ndarray
    hour: np.ndarray
    counted: np.ndarray
    officer: np.ndarray
    has_source: bool


def _records(incidents: gpd.GeoDataFrame, crs: Any, timezone: str | None,
             choices: list[Choice], notes: list[str]) -> _Records:
    """Dated incidents with their month, light class, local hour, and whether they count.

    With a ``source`` field the outcome counts records not initiated by officers (they
    follow where patrols go); every record is refused as the outcome when all are.
    """
    from hotspot_env.core.analysis import DEFAULT_EXCLUDED_SOURCES
    from hotspot_env.factors.darkness import light_classes

    inc = incidents[incidents["datetime"].notna()].reset_index(drop=True)
    if not len(inc):
        raise InputError("the incidents have no dates: an evaluation compares months before "
                         "and after the work")
    light, _ = light_classes(inc)
    inc = inc.to_crs(crs)
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
    return _Records(inc, inc.geometry.to_numpy(), month, light, hour, counted, officer,
                    has_source)


def _check_period(month: np.ndarray, done_month: np.ndarray, ledger: gpd.GeoDataFrame
                  ) -> tuple[int, int]:
    """First and last month of the incidents, which must cover months before the first
    work and after the last."""
    first, last = int(month[month >= 0].min()), int(month.max())
    if done_month.min() <= first:
        raise InputError(f"the incidents start in {month_label(first)}, not before the first "
                         f"work ({ledger['done_date'].min()}): pass incidents that cover the "
                         "months before the work too")
    if done_month.max() >= last:
        raise InputError(f"the incidents end in {month_label(last)}, before any month after the "
                         f"last work ({ledger['done_date'].max()}): pass incidents that cover the "
                         "months after it")
    return first, last


def _announce_design(inc: gpd.GeoDataFrame, choices: list[Choice]) -> None:
    """Announce the design's fixed choices: outdoor records, months, matching, the ring."""
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


def _evaluate_type(itype: str, out: Outcome, records: _Records, ledger: gpd.GeoDataFrame,
                   done_month: np.ndarray, pool: gpd.GeoDataFrame, treated_reach: np.ndarray,
                   period: tuple[int, int], notes: list[str]) -> tuple[pd.DataFrame, dict]:
    """One type's panel (treated places, rings, matched controls) and its table row."""
    first, last = period
    points, month = records.points, records.month
    treated_geoms = ledger.geometry.to_numpy()
    reach, ring_w = out.reach_m, RING_FACTOR * out.reach_m
    mine = (ledger["type"].astype(str) == itype).to_numpy()
    sites_t = treated_geoms[mine]
    cands = pool[pool["type"].astype(str) == itype]
    cands = cands[_far_from_treated(cands.geometry.to_numpy(), treated_geoms, treated_reach,
                                    reach)]
    cgeoms = cands.geometry.to_numpy()
    is_outcome = outcome_mask(records.inc, out, records.light, records.hour)
    # places: treated sites first, then eligible candidates
    geoms = np.concatenate([sites_t, cgeoms])
    site_of = assign_nearest(points, geoms, reach)
    ring_of = np.full(len(points), -1, dtype=np.int64)
    free = site_of < 0
    ring_of[free] = assign_nearest(points[free], sites_t, reach + ring_w)
    n_t = len(sites_t)
    counted = records.counted
    matched = _match(points, month, counted & is_outcome, site_of, geoms, n_t,
                     int(done_month.min()), cands, notes, itype)
    unit_start = np.concatenate([done_month[mine], np.full(len(cgeoms), -1)])
    panel = _panel(itype, month, site_of, ring_of, n_t, matched, unit_start, first, last,
                   {"y": counted & is_outcome, "y_all": is_outcome, "records": np.ones(
                       len(points), dtype=bool), "officer": records.officer})
    return panel, _type_row(itype, out, panel, ledger[mine], len(matched), records.has_source)


def _far_from_treated(cgeoms: np.ndarray, treated_geoms: np.ndarray, treated_reach: np.ndarray,
                      reach: float) -> np.ndarray:
    """Controls must be farther than their reach + any treated place's reach and ring."""
    far = np.ones(len(cgeoms), dtype=bool)
    if len(cgeoms):
        gap = reach + treated_reach * (1 + RING_FACTOR)
        ci, ti = shapely.STRtree(treated_geoms).query(cgeoms, predicate="dwithin",
                                                      distance=float(gap.max()))
        close = shapely.distance(cgeoms[ci], treated_geoms[ti]) <= gap[ti]
        far[ci[close]] = False
    return far


def _recording_notes(table: pd.DataFrame) -> list[str]:
    """A note per type whose officer-initiated share changed at treated places."""
    notes = []
    for rec in table.itertuples():
        if rec.recording_flag and rec.type != OVERALL:
            notes.append(f"{rec.type}: the share of officer-initiated records changed at treated "
                         f"places ({rec.officer_share_treated_before:.0%} -> "
                         f"{rec.officer_share_treated_after:.0%}; controls "
                         f"{rec.officer_share_control_before:.0%} -> "
                         f"{rec.officer_share_control_after:.0%}): recording, not harm, may "
                         "have changed there.")
    return notes


def _add_posteriors(table: pd.DataFrame, choices: list[Choice]) -> None:
    """``posterior_*`` columns: each prior updated by the local estimate (a power prior)."""
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


def _type_row(itype: str, out: Outcome, panel: pd.DataFrame, done: gpd.GeoDataFrame,
              n_controls: int, has_source: bool) -> dict[str, Any]:
    est = did_poisson(panel, "y", ("treated_post", "ring_post"))
    est_all = did_poisson(panel, "y_all", ("treated_post",)) if has_source else est
    split = int(np.median(panel.loc[panel["role"] == "treated", "start"]))
    return effect_row(itype, panel, est, est_all, done, n_controls, has_source, split,
                out.describe(), (out.prior_rr, out.prior_lo, out.prior_hi), out.prior_source,
                out.reach_m)
