"""The interventions result: ranked table, fast re-ranking, persistence.

:class:`InterventionsResult` is what the pipeline stage leaves in
``analysis.interventions``. The app calls :meth:`~InterventionsResult.rerank`
after every budget or weight change (greedy, milliseconds); the optimiser's
portfolio is computed once per (budget, weights) and cached. The CLI's
``rank`` command re-ranks from the files :meth:`~InterventionsResult.save_state`
writes next to the analysis outputs, without recomputing the analysis:

``interventions_state.npz``
    The impact model (cell x stratum baselines of the cells in reach, cover
    shares, Monte Carlo draws of each evidence row), the per-cell strata
    shares and baselines, the zones, and a JSON header (grid, evidence, costs,
    parameters). Cell-level aggregates only: no incident coordinates, times or
    categories of single incidents. Integer arrays are stored in their
    narrowest type (the header's ``dtypes`` restores them) with zlib level 1
    (:func:`state_bytes`).
``interventions_candidates.parquet``
    The candidates (GeoParquet, grid CRS).
``interventions_basemap.parquet``
    OSM streets (``name``) and addressed buildings (``address``), to name the
    locations of new proposals and draw the work-order maps.
"""

from __future__ import annotations

import json
import os
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import scipy.sparse as sp
from pyproj import CRS

from hotspot_env._atomic import atomic_path, write_bytes
from hotspot_env.core.choices import Choice
from hotspot_env.core.grid import Grid
from hotspot_env.errors import InputError
from hotspot_env.interventions.baseline import StrataBaseline
from hotspot_env.interventions.candidates import (
    attach_costs,
    finalise,
    proposal_candidates,
)
from hotspot_env.interventions.equity import Zones, equity_table
from hotspot_env.interventions.evidence import (
    EvidenceLibrary,
    portable_reference,
    resolve_reference,
)
from hotspot_env.interventions.greedy import joint_greedy_value
from hotspot_env.interventions.impact import build_impact
from hotspot_env.interventions.impact_model import ImpactModel, PortfolioEffect, merge_models
from hotspot_env.interventions.optimise import (
    TIME_LIMIT_S,
    OptimisedPortfolio,
    check_budget,
    optimise,
)
from hotspot_env.interventions.region_budgets import (
    DEFAULT_REGION_COLUMN,
    RegionCaps,
    parse_region_budgets,
    region_caps,
)
from hotspot_env.interventions.state import (
    BASEMAP_FILE,
    CANDIDATES_FILE,
    STATE_FILE,
    STATE_VERSION,
    json_default,
    narrow_ints,
    split_basemap,
    state_bytes,
    text_codes,
)
from hotspot_env.interventions.strata import CATEGORY_GROUPS
from hotspot_env.interventions.weights import Weights, parse_weights, weighted_values


@dataclass
class Ranking:
    """One ranking of the candidates under a budget and weights.

    Attributes
    ----------
    budget : float or None
        USD per year; None ranks without selecting.
    weights : Weights
        Category and type weights used.
    score : ndarray
        Weighted prevented incidents per year per USD 1,000 per year.
    order : ndarray of int
        Candidate positions from best to worst score (ties by id).
    rank : ndarray of int
        1-based rank per candidate.
    greedy : ndarray of bool
        The fast re-rank's selection (overlap-aware lazy greedy).
    greedy_value, greedy_cost : float
        Its joint weighted value (overlaps included) and cost (USD/year).
    optimal : OptimisedPortfolio or None
        The optimiser's portfolio, when computed.
    seconds : float
        Time of the greedy re-rank (s).
    message : str
        One sentence for the user.
    region_budgets : dict of str to float or None
        Budget caps per region (USD/year) the selection respects, when given.
    """

    budget: float | None
    weights: Weights
    score: np.ndarray
    order: np.ndarray
    rank: np.ndarray
    greedy: np.ndarray
    greedy_value: float
    greedy_cost: float
    optimal: OptimisedPortfolio | None
    seconds: float
    message: str
    region_budgets: dict[str, float] | None = None

    @property
    def selected(self) -> np.ndarray:
        """The optimiser's portfolio when computed, else the greedy one."""
        return self.optimal.selected if self.optimal is not None else self.greedy

    @property
    def gap(self) -> float | None:
        """(optimal - greedy) / optimal joint value; None without the optimiser."""
        if self.optimal is None:
            return None
        if self.optimal.value <= 0:
            return 0.0
        return (self.optimal.value - self.greedy_value) / self.optimal.value

    def timings(self) -> dict[str, float]:
        """Wall-clock seconds of the re-rank and the optimiser (kept out of the manifest)."""
        out = {"rerank_ms": round(self.seconds * 1000, 3)}
        if self.optimal is not None:
            out["optimal_seconds"] = round(self.optimal.seconds, 3)
        return out

    def summary(self) -> dict[str, Any]:
        """JSON-ready, deterministic description (no timings: see :meth:`timings`)."""
        out: dict[str, Any] = {
            "budget": self.budget, "weights": self.weights.as_text(),
            "n_selected": int(self.selected.sum()), "greedy_value": self.greedy_value,
            "greedy_cost": self.greedy_cost, "greedy_n": int(self.greedy.sum()),
            "message": self.message}
        if self.region_budgets is not None:  # only when given: runs without caps unchanged
            out["region_budgets"] = dict(self.region_budgets)
        if self.optimal is not None:
            out.update(optimal_value=self.optimal.value, optimal_cost=self.optimal.cost,
                       optimal_status=self.optimal.status, optimal_bound=self.optimal.bound,
                       optimal_rounds=self.optimal.rounds, greedy_gap=self.gap)
        return out


@dataclass
class InterventionsResult:
    """Candidates, their impact model and the current ranking.

    Attributes
    ----------
    candidates : GeoDataFrame
        In ``model.ids`` order: ``intervention_id, type, location, quantity,
        unit, cost`` (USD/year), ``capital_cost``, ``district``, ``source``,
        ``note``, ``reason``, ``site`` and facts used by the reasons.
    model : ImpactModel
    baseline : StrataBaseline
    zones : Zones
    library : EvidenceLibrary
    parameters : dict
    choices : list of Choice
    why, timing : ndarray or None
        Per-cell explanation and timing text, when the analysis had them.
    basemap : GeoDataFrame or None
        Streets (``layer="street"``, ``label`` = name) and addressed buildings.
    ranking : Ranking or None
    """

    candidates: gpd.GeoDataFrame
    model: ImpactModel
    baseline: StrataBaseline
    zones: Zones
    library: EvidenceLibrary
    parameters: dict[str, Any]
    choices: list[Choice] = field(default_factory=list)
    why: np.ndarray | None = None
    timing: np.ndarray | None = None
    basemap: gpd.GeoDataFrame | None = None
    ranking: Ranking | None = None
    _cache: dict[Any, OptimisedPortfolio] = field(default_factory=dict, repr=False)
    #: Joint effects by selection (the app asks for the same selection on every rerun).
    _effects: dict[bytes, PortfolioEffect] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._types = self.candidates["type"].to_numpy(dtype=str)
        self._cost = self.candidates["cost"].to_numpy(dtype=float)
        site = self.candidates["site"].fillna("").astype(str).to_numpy()
        codes = np.unique(site, return_inverse=True)[1].astype(np.int64)
        self._site = np.where(site == "", -1, codes)
        types = sorted(set(self._types))
        cite = {t: self.library.short_citation(t) for t in types}
        verified = {t: ",".join(dict.fromkeys(self.library.rows_for(t)["verified"]))
                    for t in types}
        self._evidence = np.array([cite[t] for t in self._types], dtype=object)
        self._verified = np.array([verified[t] for t in self._types], dtype=object)
        known = {t: self.library.effect_known(t) for t in types}
        basis = {t: self.library.cost_basis(t) for t in types}
        year = {t: self.library.cost_year(t) for t in types}
        self._effect_known = np.array([known[t] for t in self._types], dtype=bool)
        self._cost_basis = np.array([basis[t] for t in self._types], dtype=object)
        self._cost_year = np.array([year[t] for t in self._types], dtype=object)

    @property
    def grid(self) -> Grid:
        """The study grid."""
        return self.baseline.grid

    # ------------------------------------------------------------ ranking
    def rerank(
        self,
        budget: float | None = None,
        weights: str | dict[str, float] | Weights | None = None,
        *,
        optimise_portfolio: bool = False,
        time_limit: float = TIME_LIMIT_S,
        region_budgets: dict[str, float] | list[str] | None = None,
        region_column: str = DEFAULT_REGION_COLUMN,
    ) -> Ranking:
        """Re-rank under a budget (USD/year) and weights without recomputing anything.

        The selection is the overlap-aware budgeted greedy (:func:`joint_greedy`:
        marginal joint value per cost with lazy evaluation, or the best single
        candidate when that is worth more), milliseconds for 10,000 candidates. With
        ``optimise_portfolio=True`` the exact portfolio (:func:`optimise`) is
        also computed, or taken from the cache for the same budget and
        weights, and the gap between the two is reported. ``region_budgets``
        (``{"D01": 50_000}`` or ``["D01=50000"]``) caps the spending in each named
        region of the candidates' ``region_column`` on top of ``budget``
        (:mod:`~hotspot_env.interventions.region_budgets`).

        Raises
        ------
        InputError
            Negative or non-numeric budget, unknown or negative weight, a region
            budget for an unknown region or with an amount that is not >= 0.
        """
        t0 = time.perf_counter()
        budget = check_budget(budget)
        w = parse_weights(weights, self.library.types)
        caps_given = parse_region_budgets(region_budgets)
        caps = self._region_caps(caps_given, region_column)
        value, type_w, bonus = weighted_values(self.model, w, self._types)
        eff = type_w * value
        cost = self._cost
        with np.errstate(divide="ignore", invalid="ignore"):
            score = np.where(cost > 0, eff / cost * 1000.0, 0.0)
        order = np.argsort(-np.where(cost > 0, score, -np.inf), kind="stable")
        cat_w = w.category_vector()
        sel = np.zeros(self.model.n, dtype=bool)
        g_value = 0.0
        if budget is not None and budget > 0:
            eligible = (cost > 0) & (cost <= budget * (1 + 1e-12)) & (eff > 0)
            sel, g_value = joint_greedy_value(self.model, cost, budget, cat_w, bonus, self._site,
                                              eligible, caps)
        rank = np.empty(self.model.n, dtype=np.int64)
        rank[order] = np.arange(1, self.model.n + 1)
        seconds = time.perf_counter() - t0
        key = (budget, w.key()) if caps is None else (budget, w.key(), tuple(caps_given.items()))
        optimal = self._cache.get(key)
        if optimal is None and optimise_portfolio and budget is not None:
            optimal = optimise(self.model, cost, budget, self._types, w, self._site,
                               time_limit=time_limit, caps=caps)
            self._cache[key] = optimal
        chosen = optimal.selected if optimal is not None else sel
        return Ranking(budget, w, score, order, rank, sel, g_value, float(cost[sel].sum()),
                       optimal, seconds, self._message(budget, chosen, caps is not None),
                       caps_given)

    def _region_caps(self, caps: dict[str, float] | None, column: str) -> RegionCaps | None:
        """The caps over the candidates' ``column`` (every district of the run is known)."""
        if not caps:
            return None
        if column not in self.candidates.columns:
            raise InputError(f"--region-budget needs a region column {column!r} in the "
                             "candidates, which have none")
        known = self.zones.names if column == DEFAULT_REGION_COLUMN else None
        return region_caps(self.candidates[column].to_numpy(), caps, known, column)

    def apply(self, ranking: Ranking) -> Ranking:
        """Make ``ranking`` the current one (used by the table and writers)."""
        self.ranking = ranking
        return ranking

    def _message(self, budget: float | None, selected: np.ndarray, capped: bool = False
                 ) -> str:
        if self.model.n == 0:
            return ("no candidate interventions were found: the analysis found no dark streets, "
                    "vacant land, short sightlines or youth-space gaps near harm; add proposals")
        if budget is None:
            return "no budget given: candidates are ranked and none is selected (pass a budget)"
        if budget == 0:
            return "the budget is 0: nothing is selected (pass a budget above 0 USD per year)"
        if not selected.any() and capped:
            return (f"no candidate fits a budget of {budget:,.0f} USD per year and the region "
                    "budgets (--region-budget) of its region")
        if not selected.any():
            cheapest = float(self._cost.min())
            return (f"no candidate fits a budget of {budget:,.0f} USD per year (the cheapest costs "
                    f"{cheapest:,.0f} USD per year)")
        return (f"{int(selected.sum())} of {self.model.n} candidates selected for "
                f"{self._cost[selected].sum():,.0f} of {budget:,.0f} USD per year")

    # ------------------------------------------------------------- results
    def portfolio_prevented(self, ids: Any) -> PortfolioEffect:
        """Joint prevented incidents per year of a set of ids (overlaps multiplied)."""
        return self.model.portfolio_prevented(ids)

    def table(self, ranking: Ranking | None = None) -> gpd.GeoDataFrame:
        """The ranked table (sorted by rank, then id); see :mod:`.workorders` for columns."""
        ranking = ranking or self.ranking or self.rerank()
        stats = self.model.standalone()
        frame = self.candidates.copy()
        cost = self._cost
        with np.errstate(divide="ignore", invalid="ignore"):
            per = np.where(cost > 0, stats["mean"] / cost * 1000.0, 0.0)
        # "effect unknown" options claim no number: blank rather than a made-up 0
        unknown = ~self._effect_known
        for col, values in (("prevented_mean", stats["mean"]), ("prevented_lo", stats["lo"]),
                            ("prevented_hi", stats["hi"]), ("prevented_point", stats["point"]),
                            ("prevented_per_cost", per)):
            frame[col] = np.where(unknown, np.nan, values)
        frame["effect_known"] = self._effect_known
        frame["cost_basis"] = self._cost_basis
        frame["cost_year"] = self._cost_year
        frame["score"] = ranking.score
        frame["selected"] = ranking.selected
        frame["selected_greedy"] = ranking.greedy
        frame["rank"] = ranking.rank
        frame["baseline"] = self.model.baseline_reach
        frame["evidence"] = self._evidence
        frame["verified"] = self._verified
        frame = frame.iloc[np.lexsort((frame["intervention_id"].to_numpy(), ranking.rank))]
        return frame.reset_index(drop=True)

    def cost_warnings(self, ranking: Ranking | None = None) -> list[str]:
        """One warning per selected intervention type whose cost is a placeholder."""
        ranking = ranking or self.ranking or self.rerank()
        sel = ranking.selected
        out = []
        for itype in sorted(set(self._types[sel & (self._cost_basis == "placeholder")])):
            n = int((sel & (self._types == itype)).sum())
            out.append(f"{n} selected {itype.replace('_', ' ')} intervention"
                       f"{'s rest' if n != 1 else ' rests'} on a placeholder cost "
                       f"({self.library.annual_unit_cost(itype):,.0f} USD per unit per year): "
                       "set a local cost in costs.csv before relying on this selection")
        return out

    def effect_unknown_types(self) -> list[str]:
        """Types offered as community-led options whose effect at a place is unknown."""
        return sorted(set(self._types[~self._effect_known]))

    def portfolio(self, ranking: Ranking | None = None) -> PortfolioEffect:
        """Joint effect of the ranking's selection."""
        ranking = ranking or self.ranking or self.rerank()
        key = np.packbits(ranking.selected).tobytes()
        effect = self._effects.get(key)
        if effect is None:
            effect = self.model.portfolio_prevented(ranking.selected)
            if len(self._effects) >= 32:  # a few recent selections are enough
                self._effects.pop(next(iter(self._effects)))
            self._effects[key] = effect
        return effect

    def equity(self, ranking: Ranking | None = None) -> pd.DataFrame:
        """Share of investment vs share of harm per district (:mod:`.equity`)."""
        ranking = ranking or self.ranking or self.rerank()
        return equity_table(self.zones, self.baseline.baseline,
                            self.candidates["district"].to_numpy(dtype=object), self._cost,
                            ranking.selected)

    # ----------------------------------------------------------- proposals
    def with_proposals(self, proposals: Any) -> InterventionsResult:
        """A new result with resident/user proposals scored the same way.

        Proposals identical (type and geometry) to an existing candidate add
        their note to it.
        """
        from hotspot_env.interventions.reasons import reasons

        grid = self.grid
        streets, buildings = split_basemap(self.basemap)
        props = proposal_candidates(proposals, self.library, grid.crs)
        if not len(props):
            return self
        props, _ = finalise(props, grid, streets, buildings)
        cands = self.candidates.copy()
        known = set(cands["intervention_id"])
        again = props["intervention_id"].isin(known).to_numpy()
        if again.any():
            notes = props[again].set_index("intervention_id")["note"]
            cur = cands.set_index("intervention_id")["note"].fillna("").astype(str)
            for i, note in notes.items():
                cur[i] = " | ".join(v for v in dict.fromkeys([cur[i], str(note)]) if v)
            cands["note"] = cur.reindex(cands["intervention_id"]).to_numpy()
        props = props[~again].reset_index(drop=True)
        if not len(props):
            return InterventionsResult(cands, self.model, self.baseline, self.zones,
                                       self.library, dict(self.parameters), list(self.choices),
                                       self.why, self.timing, self.basemap)
        props = attach_costs(props, self.library)
        new = build_impact(props, self.library, self.baseline, draws=self.model.effect_draws)
        props["district"] = self.zones.of_geometries(grid, props.geometry.to_numpy())
        props["reason"] = reasons(props, new, why=self.why, timing=self.timing,
                                  time_source=self.baseline.notes.get("time_source", ""))
        model = merge_models(self.model, new)
        allc = gpd.GeoDataFrame(pd.concat([cands, props], ignore_index=True), geometry="geometry",
                                crs=grid.crs)
        allc = allc.set_index("intervention_id", drop=False).loc[model.ids].reset_index(drop=True)
        params = dict(self.parameters)
        params["n_proposals"] = int(params.get("n_proposals", 0)) + len(props)
        return InterventionsResult(allc, model, self.baseline, self.zones, self.library, params,
                                   list(self.choices), self.why, self.timing, self.basemap)

    # --------------------------------------------------------- persistence
    def save_state(self, folder: str | os.PathLike[str], state: bytes | None = None
                   ) -> dict[str, Path]:
        """Write what re-ranking needs (module docstring); atomically.

        ``state`` is the content of the state file when the caller made it
        (``state_bytes(self.state_arrays())``, e.g. on another thread).
        """
        folder = Path(folder)
        if state is None:
            state = state_bytes(self.state_arrays())
        written = {STATE_FILE: write_bytes(folder / STATE_FILE, state)}
        cands = self.candidates.copy()
        for col in cands.columns:
            if cands[col].dtype == object and col != "geometry":
                cands[col] = cands[col].fillna("").astype(str)
        with atomic_path(folder / CANDIDATES_FILE) as tmp:
            cands.to_parquet(tmp, index=False)
        written[CANDIDATES_FILE] = folder / CANDIDATES_FILE
        if self.basemap is not None:
            with atomic_path(folder / BASEMAP_FILE) as tmp:
                self.basemap.to_parquet(tmp, index=False)
            written[BASEMAP_FILE] = folder / BASEMAP_FILE
        return written

    def state_arrays(self) -> dict[str, np.ndarray]:
        """The arrays of the state file, with its JSON header as ``meta`` (uint8)."""
        m, b = self.model, self.baseline
        arrays: dict[str, np.ndarray] = {
            "ids": m.ids.astype("U"), "effect_draws": m.effect_draws,
            "group_base": m.group_base, "group_cat": m.group_cat, "group_cell": m.group_cell,
            "group_key": m.group_key, "entry_cand": m.entry_cand, "entry_group": m.entry_group,
            "entry_row": m.entry_row, "entry_scale": m.entry_scale,
            "baseline_reach": m.baseline_reach, "baseline_covered": m.baseline_covered,
            "dark_share": m.dark_share, "main_cell": m.main_cell,
            "cell_baseline": b.baseline, "cells": b.cells, "shares_data": b.shares.data,
            "shares_indices": b.shares.indices, "shares_indptr": b.shares.indptr,
            "mask": b.grid.mask, "zone_index": self.zones.index,
        }
        if b.outdoor is not None:
            arrays["outdoor_share"] = b.outdoor
        texts: dict[str, list[str]] = {}
        for name, values in (("why", self.why), ("timing", self.timing)):
            if values is not None:
                uniq, codes = text_codes(values)
                arrays[f"{name}_codes"] = codes
                texts[name] = uniq
        g = b.grid
        ev = self.library.evidence.copy()
        ev["categories"] = ev["categories"].map(list)
        ev["window"] = ev["window"].map(lambda w: list(w) if w is not None else None)
        meta = {
            "version": STATE_VERSION,
            "grid": {"crs": g.crs.to_wkt(), "x0": g.x0, "y0": g.y0, "cell_size": g.cell_size,
                     "n_cols": g.n_cols, "n_rows": g.n_rows},
            "windows": [list(w) for w in b.windows], "notes": b.notes,
            "zones": {"names": self.zones.names, "source": self.zones.source},
            "evidence": ev.to_dict("records"),
            "costs": self.library.costs.reset_index().to_dict("records"),
            # where the tables were, as a reference that does not name this machine's folders
            "library": {"evidence_path": portable_reference(self.library.evidence_path),
                        "costs_path": portable_reference(self.library.costs_path),
                        "sha256": self.library.sha256},
            "parameters": self.parameters, "texts": texts,
        }
        # integers in the narrowest dtype that holds them: a third fewer bytes to deflate
        meta["dtypes"] = {}
        for name, value in list(arrays.items()):
            small = narrow_ints(value)
            if small.dtype != value.dtype:
                meta["dtypes"][name] = value.dtype.str
                arrays[name] = small
        arrays["meta"] = np.frombuffer(json.dumps(meta, default=json_default).encode("utf-8"),
                                       dtype=np.uint8)
        return arrays

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> InterventionsResult:
        """Read the state written by :meth:`save_state`.

        Raises
        ------
        InputError
            When the folder has no (or an unreadable) interventions state.
        """
        folder = Path(folder)
        path = folder / STATE_FILE
        if not path.is_file() or not (folder / CANDIDATES_FILE).is_file():
            raise InputError(f"{folder} has no {STATE_FILE}: run 'hotspot-env analyze' with the "
                             "interventions stage into that folder first")
        try:
            return cls._from_state(folder)
        except InputError:
            raise
        except (ValueError, KeyError, TypeError, IndexError, EOFError, zipfile.BadZipFile,
                pa.ArrowException) as exc:  # a cut, edited or foreign state file
            raise InputError(f"the analysis state in {folder} is damaged "
                             f"({exc.__class__.__name__}): re-run 'hotspot-env analyze' and "
                             "pass its new folder to --analysis") from exc

    @classmethod
    def _from_state(cls, folder: Path) -> InterventionsResult:
        """The body of :meth:`load`; any damage surfaces as a library exception."""
        path = folder / STATE_FILE
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
            meta = json.loads(arrays.pop("meta").tobytes().decode("utf-8"))
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(f"{path} cannot be read ({exc.__class__.__name__}): re-run "
                             "'hotspot-env analyze'") from exc
        if meta.get("version") not in (1, STATE_VERSION):
            raise InputError(f"{path} was written by another version: re-run 'hotspot-env analyze'")
        for name, dtype in meta.get("dtypes", {}).items():  # undo _narrow
            arrays[name] = arrays[name].astype(np.dtype(dtype))
        gm = meta["grid"]
        grid = Grid(CRS.from_wkt(gm["crs"]), gm["x0"], gm["y0"], gm["cell_size"], gm["n_cols"],
                    gm["n_rows"], arrays["mask"].astype(bool))
        ev = pd.DataFrame(meta["evidence"])
        ev["categories"] = ev["categories"].map(tuple)
        ev["window"] = ev["window"].map(lambda w: tuple(w) if w is not None else None)
        costs = pd.DataFrame(meta["costs"]).set_index("intervention_type")
        lib_meta = meta["library"]
        library = EvidenceLibrary(ev, costs, resolve_reference(lib_meta["evidence_path"]),
                                  resolve_reference(lib_meta["costs_path"]), lib_meta["sha256"])
        windows = tuple(tuple(w) for w in meta["windows"])
        n_strata = len(CATEGORY_GROUPS) * 2 ** (1 + len(windows))
        shares = sp.csr_matrix((arrays["shares_data"], arrays["shares_indices"],
                                arrays["shares_indptr"]), shape=(len(arrays["cells"]), n_strata))
        baseline = StrataBaseline(grid, arrays["cell_baseline"], windows, arrays["cells"], shares,
                                  meta["notes"], [], arrays.get("outdoor_share"))
        model = ImpactModel(
            arrays["ids"].astype(str), ev, arrays["effect_draws"], arrays["group_base"],
            arrays["group_cat"], arrays["group_cell"], arrays["group_key"], arrays["entry_cand"],
            arrays["entry_group"], arrays["entry_row"], arrays["entry_scale"],
            arrays["baseline_reach"], arrays["baseline_covered"], arrays["dark_share"],
            arrays["main_cell"])
        zones = Zones(arrays["zone_index"], list(meta["zones"]["names"]), meta["zones"]["source"])
        texts = {}
        for name in ("why", "timing"):
            if f"{name}_codes" in arrays:
                uniq = np.asarray(meta["texts"][name], dtype=object)
                texts[name] = uniq[arrays[f"{name}_codes"]].reshape(grid.shape)
        cands = gpd.read_parquet(folder / CANDIDATES_FILE)
        if not np.array_equal(cands["intervention_id"].to_numpy(dtype=str), model.ids):
            raise InputError(f"{folder / CANDIDATES_FILE} does not match {STATE_FILE}: re-run "
                             "'hotspot-env analyze'")
        basemap = gpd.read_parquet(folder / BASEMAP_FILE) if (folder / BASEMAP_FILE).is_file() \
            else None
        return cls(cands, model, baseline, zones, library, meta["parameters"], [],
                   texts.get("why"), texts.get("timing"), basemap)

