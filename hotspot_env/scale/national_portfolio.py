"""One national intervention portfolio over every region's candidates.

In the region-by-region runner (:mod:`hotspot_env.scale.regions`) each region
is analysed on its own, and by default chooses its own portfolio under its own
budget. With a **national budget** the choice is national instead:

1. each region's task ranks its candidates without selecting (no budget) and
   keeps what re-ranking needs (the interventions state,
   :meth:`~hotspot_env.interventions.result.InterventionsResult.save_state`) in
   the run's staging folder; only its *candidate list* comes back to the client
   (:class:`RegionCandidates`: the impact model, costs, types and sites, small
   next to the region's cells);
2. the client stacks the lists into one model (block-diagonal: regions are
   separate study areas, so no cell or group is shared) and chooses one
   portfolio with the exact optimiser under the national budget and the
   optional per-region caps (:mod:`hotspot_env.interventions.region_budgets`,
   region = the region's name);
3. each region's interventions table and work orders are then written with
   its part of the national selection (:func:`write_region_portfolio`).

The result equals the optimiser run on the merged candidate list in one
process (tested), and is announced (:func:`national_choice`).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hotspot_env.core.choices import Choice, announce
from hotspot_env.errors import InputError
from hotspot_env.interventions.greedy import joint_greedy_value
from hotspot_env.interventions.impact_model import ImpactModel
from hotspot_env.interventions.optimise import (
    TIME_LIMIT_S,
    OptimisedPortfolio,
    check_budget,
    optimise,
)
from hotspot_env.interventions.region_budgets import parse_region_budgets, region_caps
from hotspot_env.interventions.weights import parse_weights, weighted_values

#: Staging sub-folder holding each region's interventions state until the national choice.
STATE_DIR: str = ".portfolio-state"
#: Joins a region's name and a candidate id into the national id.
ID_SEP: str = "/"


@dataclass(frozen=True)
class RegionCandidates:
    """One region's candidate list, as the national choice needs it.

    Attributes
    ----------
    region : str
        The region's name.
    model : ImpactModel
        Its impact model (candidates in id order).
    cost : ndarray of float
        USD per year per candidate.
    types : ndarray of str
        Intervention type per candidate.
    site : ndarray of str
        Site per candidate ("" none): at most one candidate per site.
    known_types : tuple of str
        Every intervention type of the evidence library (to check weights).
    """

    region: str
    model: ImpactModel
    cost: np.ndarray
    types: np.ndarray
    site: np.ndarray
    known_types: tuple[str, ...] = ()


def candidates_of(result: Any, region: str) -> RegionCandidates:
    """The candidate list of one region's :class:`InterventionsResult`."""
    cands = result.candidates
    return RegionCandidates(region, result.model, cands["cost"].to_numpy(dtype=float),
                            cands["type"].to_numpy(dtype=str),
                            cands["site"].fillna("").astype(str).to_numpy(),
                            tuple(result.library.types))


def stack(lists: list[RegionCandidates]
          ) -> tuple[ImpactModel, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One impact model over every region's candidates, block-diagonal.

    Candidates get national ids ``<region>/<id>``; each region's groups are
    its own (regions share no cell). Every region must use the same evidence
    rows and Monte Carlo draws (the same library and seed), or the effects
    would not be comparable.

    Returns
    -------
    model : ImpactModel
        Candidates sorted by national id.
    cost, types : ndarray
        Per candidate of ``model``.
    site : ndarray of int64
        Site code per candidate (-1 none), national.
    region : ndarray of str
        Region of each candidate.
    """
    first = lists[0].model
    for item in lists[1:]:
        if not (np.array_equal(item.model.effect_draws, first.effect_draws)
                and item.model.rows.equals(first.rows)):
            raise InputError(f"region {item.region} used other evidence or draws than "
                             f"{lists[0].region}: give every region the same evidence and seed")
    ids = np.concatenate([[f"{c.region}{ID_SEP}{i}" for i in c.model.ids] for c in lists]
                         ).astype(str) if any(c.model.n for c in lists) else np.zeros(0, str)
    order = np.argsort(ids, kind="stable")
    new_pos = np.empty(ids.size, dtype=np.int64)
    new_pos[order] = np.arange(ids.size)
    cand_off = np.cumsum([0] + [c.model.n for c in lists])
    group_off = np.cumsum([0] + [c.model.group_base.size for c in lists])
    e_cand = np.concatenate([new_pos[c.model.entry_cand + off]
                             for c, off in zip(lists, cand_off, strict=False)])
    e_group = np.concatenate([c.model.entry_group + off
                              for c, off in zip(lists, group_off, strict=False)])
    e_order = np.lexsort((e_group, e_cand))

    def joined(name: str, per_group: bool = False) -> np.ndarray:
        values = np.concatenate([getattr(c.model, name) for c in lists])
        return values if per_group else values[order]

    def entries(name: str) -> np.ndarray:
        return np.concatenate([getattr(c.model, name) for c in lists])[e_order]

    model = ImpactModel(
        ids[order], first.rows, first.effect_draws, joined("group_base", True),
        joined("group_cat", True), joined("group_cell", True),
        np.arange(int(group_off[-1]), dtype=np.int64), e_cand[e_order], e_group[e_order],
        entries("entry_row"), entries("entry_scale"), joined("baseline_reach"),
        joined("baseline_covered"), joined("dark_share"), joined("main_cell"))
    site_text = np.concatenate([np.where(c.site == "", "", np.char.add(f"{c.region}{ID_SEP}",
                                                                       c.site.astype(str)))
                                for c in lists]).astype(str)[order]
    codes = np.unique(site_text, return_inverse=True)[1].astype(np.int64)
    region = np.concatenate([np.full(c.model.n, c.region, dtype=object) for c in lists])[order]
    return (model, np.concatenate([c.cost for c in lists])[order],
            np.concatenate([c.types for c in lists]).astype(str)[order],
            np.where(site_text == "", -1, codes), region.astype(str))


@dataclass(frozen=True)
class NationalPortfolio:
    """The national choice: the optimiser's portfolio and each region's part.

    Attributes
    ----------
    portfolio : OptimisedPortfolio
        Over the stacked candidates.
    greedy : ndarray of bool
        The overlap-aware greedy under the same budget and caps (the re-rank).
    ids : ndarray of str
        National candidate ids (``<region>/<id>``), the masks' order.
    region : ndarray of str
        Region per candidate.
    cost : ndarray of float
        Cost per candidate.
    budget : float
        The national budget.
    region_budgets : dict of str to float or None
        The per-region caps.
    """

    portfolio: OptimisedPortfolio
    greedy: np.ndarray
    ids: np.ndarray
    region: np.ndarray
    cost: np.ndarray
    budget: float
    region_budgets: dict[str, float] | None

    def selected_ids(self, region: str, greedy: bool = False) -> list[str]:
        """The region's own candidate ids in the national selection (or the greedy's)."""
        mask = (self.greedy if greedy else self.portfolio.selected) & (self.region == region)
        return [i.split(ID_SEP, 1)[1] for i in self.ids[mask]]

    def summary(self) -> dict[str, Any]:
        """JSON-ready: the budget, the caps, the portfolio, and each region's spending."""
        sel = self.portfolio.selected
        per_region = {
            r: {"n_selected": int((sel & (self.region == r)).sum()),
                "cost": float(self.cost[sel & (self.region == r)].sum()),
                "cap": None if not self.region_budgets else self.region_budgets.get(r)}
            for r in sorted(set(self.region.tolist()))}
        return {"scope": "national", "budget": self.budget,
                "region_budgets": self.region_budgets, "n_candidates": int(self.ids.size),
                "n_selected": int(sel.sum()), "cost": self.portfolio.cost,
                "value": self.portfolio.value, "bound": self.portfolio.bound,
                "status": self.portfolio.status, "per_region": per_region}


def choose(lists: list[RegionCandidates], budget: float,
           region_budgets: dict[str, float] | list[str] | None = None,
           weights: str | dict[str, float] | None = None, *,
           time_limit: float = TIME_LIMIT_S) -> NationalPortfolio:
    """One portfolio over every region's candidates under ``budget`` and the region caps.

    Parameters
    ----------
    lists : list of RegionCandidates
        One per region (regions without candidates included: a cap may name them).
    budget : float
        National budget (USD per year).
    region_budgets : dict or list of str, optional
        Caps per region name (``["city_00=50000"]``).
    weights : str or dict, optional
        Category and type weights, as the interventions stage takes them.
    time_limit : float
        Optimiser time limit (s).
    """
    budget = check_budget(budget)
    if budget is None:
        raise InputError("the national portfolio needs a national budget (USD per year)")
    caps_given = parse_region_budgets(region_budgets)
    model, cost, types, site, region = stack(lists)
    caps = region_caps(region, caps_given, [c.region for c in lists], "region")
    w = parse_weights(weights, list(lists[0].known_types) or sorted(set(types.tolist())))
    portfolio = optimise(model, cost, budget, types, w, site, time_limit=time_limit, caps=caps)
    value, type_w, bonus = weighted_values(model, w, types)
    eligible = (cost > 0) & (cost <= budget * (1 + 1e-12)) & (type_w * value > 0)
    greedy = (joint_greedy_value(model, cost, budget, w.category_vector(), bonus, site,
                                 eligible, caps)[0] if model.n else np.zeros(0, dtype=bool))
    return NationalPortfolio(portfolio, greedy, model.ids, region, cost, budget, caps_given)


def national_choice(national: NationalPortfolio) -> Choice:
    """The announcement: what is national and what is per region."""
    caps = national.region_budgets
    capped = (", ".join(f"{r} at most {v:,.0f}" for r, v in caps.items()) if caps
              else "no region capped")
    return announce(Choice(
        "portfolio_scope", "national",
        f"one intervention portfolio chosen over all {len(set(national.region.tolist()))} "
        f"regions' candidates ({national.ids.size}) under the national budget of "
        f"{national.budget:,.0f} USD per year ({capped}); every other model (grid, "
        "bandwidth, Gi*, FDR, risk terrain model, forecast) stays per region"))


def region_ranking(result: Any, national: NationalPortfolio, region: str,
                   weights: str | dict[str, float] | None = None) -> Any:
    """One region's ranking holding its part of the national selection.

    Scores and ranks are the region's own (they do not depend on the budget);
    the selection, its value and the message come from the national choice.
    """
    base = result.rerank(None, weights)
    ids = result.model.ids
    selected = np.isin(ids, national.selected_ids(region))
    greedy = np.isin(ids, national.selected_ids(region, greedy=True))
    _, _, bonus = weighted_values(result.model, base.weights, result.candidates["type"]
                                  .to_numpy(dtype=str))
    cat_w = base.weights.category_vector()
    value = result.model.expected_value(selected, cat_w, bonus)
    cost = result.candidates["cost"].to_numpy(dtype=float)
    part = OptimisedPortfolio(selected, value, value, float(cost[selected].sum()),
                              national.portfolio.status, national.portfolio.rounds, 0.0)
    message = (f"{int(selected.sum())} of {result.model.n} candidates selected in {region} for "
               f"{part.cost:,.0f} USD per year, part of one national portfolio of "
               f"{national.portfolio.cost:,.0f} of {national.budget:,.0f} USD per year")
    return dataclasses.replace(
        base, budget=national.budget, greedy=greedy,
        greedy_value=result.model.expected_value(greedy, cat_w, bonus),
        greedy_cost=float(cost[greedy].sum()), optimal=part, message=message,
        region_budgets=national.region_budgets)


def state_folder(stage_dir: str | os.PathLike[str], region: str) -> Path:
    """Where a region's interventions state waits for the national choice."""
    return Path(stage_dir) / STATE_DIR / region


def write_region_portfolio(stage_dir: str | os.PathLike[str], region: str,
                           national: NationalPortfolio, tags: dict[str, str],
                           weights: str | dict[str, float] | None = None) -> list[str]:
    """Write one region's interventions table and work orders with the national selection.

    Runs in a worker (or the client); reads the state the region's task left
    and removes it. Returns the files written, relative to ``stage_dir``.
    """
    from hotspot_env.interventions.result import InterventionsResult
    from hotspot_env.scale.outputs import write_region_interventions

    folder = state_folder(stage_dir, region)
    result = InterventionsResult.load(folder)
    ranking = result.apply(region_ranking(result, national, region, weights))
    files = write_region_interventions(result, ranking, region, Path(stage_dir), tags)
    shutil.rmtree(folder)
    return files


#: What the manifest says about the statistics of a run with a national portfolio.
NATIONAL_PORTFOLIO_NOTE: str = (
    "each region was analysed as its own study area: cell size, bandwidth, Gi* mean and "
    "variance, FDR threshold, risk terrain model and forecast choice are per region; the "
    "intervention portfolio is national: one selection over every region's candidates under "
    "the national budget (and the per-region caps given)")


def national_options(regions: list[str], budget: float | None,
                     region_budgets: dict[str, float] | list[str] | None,
                     options: dict[str, Any]) -> dict[str, Any]:
    """Check the national budget and caps (before any work); the regions' run options.

    Each region then ranks without selecting: no budget of its own, no optimiser.

    Raises
    ------
    InputError
        No national budget, a bad cap, a cap naming a region not in the run.
    """
    try:
        budget = check_budget(budget)
    except InputError as exc:  # name the option the national budget came from
        raise InputError(f"--national-budget: {exc}") from None
    caps = parse_region_budgets(region_budgets, budget, "--national-budget")
    if budget is None:
        raise InputError("the national portfolio needs a national budget (USD per year)")
    region_caps(np.asarray(regions, dtype=str), caps, regions, "region")
    stages = dict(options.get("stage_options") or {})
    inter = {k: v for k, v in (stages.get("interventions") or {}).items()
             if k not in ("region_budgets", "region_column")}
    if inter.get("budget") is not None:
        raise InputError("give the national budget only (a per-region budget in the "
                         "interventions options would be ignored)")
    stages["interventions"] = {**inter, "budget": None, "optimise_portfolio": False}
    return {**options, "stage_options": stages}


def national_portfolio(records: list[dict[str, Any]], stage_dir: Path, client: Any,
                       budget: float, region_budgets: dict[str, float] | list[str] | None,
                       options: dict[str, Any]) -> dict[str, Any]:
    """Choose the national portfolio from the regions' candidate lists and write each
    region's part; the manifest's ``portfolio`` and ``choices``.

    The lists leave ``records`` (they are not manifest material).
    """
    lists = [r.pop("candidates") for r in records if "candidates" in r]
    if not lists:
        raise InputError("the national portfolio needs the interventions stage in the run")
    weights = ((options.get("stage_options") or {}).get("interventions") or {}).get("weights")
    national = choose(lists, budget, region_budgets, weights)
    names = [c.region for c in lists]
    tags = {r["region"]: r["privacy"] for r in records}
    args = ([str(stage_dir)] * len(names), names, [national] * len(names),
            [tags[n] for n in names], [weights] * len(names))
    if client is None:
        written = [write_region_portfolio(*a) for a in zip(*args, strict=True)]
    else:
        written = client.gather(client.map(write_region_portfolio, *args, pure=False))
    by_region = {r["region"]: r for r in records}
    for name, files in zip(names, written, strict=True):
        by_region[name]["files"] = sorted(by_region[name]["files"] + files)
    (Path(stage_dir) / STATE_DIR).rmdir()
    return {"portfolio": national.summary(), "choices": [national_choice(national).message()]}
