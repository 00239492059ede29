"""Environmental interventions: candidates, expected prevented incidents, portfolio, work orders.

The pipeline stage :func:`stage` turns an analysis into ranked candidate
interventions (``analysis.interventions``, an
:class:`~hotspot_env.interventions.result.InterventionsResult`), and
:func:`write_interventions` writes the table, the work-order sheet and the
state that ``hotspot-env rank`` re-ranks from. Modules, one idea each:

===============  ==============================================================
evidence         load and validate ``data/evidence.csv`` and ``data/costs.csv``
candidate_table  the candidate table's columns, stable ids and site keys
candidates       candidates from dark streets, vacant land, sightlines and
                 proposals; locations, alternatives on one site
youth_sites      youth-space candidates: maximal covering model over gaps
strata           category groups and time classes, what a row acts on
incident_times   local hours, darkness, the time prior for undated records
baseline         expected incidents per cell, split into strata
coverage         exact share of each cell inside a candidate's reach
impact_model     the impact model: stand-alone and joint (overlap) effects
impact           build the model: evidence effects, Monte Carlo draws
weights          category and type weights
greedy           fast overlap-aware greedy re-rank (compiled)
optimise         exact portfolio under a budget (outer approximation, MILP)
region_budgets   optional budget caps per region (district, or a national run's region)
district_caps    the caps' district names checked once the grid is known (before the stages)
_highs           the one way to HiGHS (highspy), silent and single-threaded
equity           districts and the harm-vs-investment check
reasons          plain-words reason per candidate
audit            "audit this place" when nothing is left to rank
result           result object and re-ranking
state            the saved state ``rank`` re-ranks from
workorders       CSV, GeoPackage, GeoJSON, equity CSV, printable work orders
===============  ==============================================================

Method and limits: ``docs/interventions.md``. Only environmental measures at
places: the evidence loader rejects surveillance and policing ids.
"""

from __future__ import annotations

import html
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from hotspot_env._atomic import prepare_folder
from hotspot_env.core.choices import Choice, announce
from hotspot_env.core.stages import declares
from hotspot_env.core.timing import timed
from hotspot_env.interventions.audit import audit_places
from hotspot_env.interventions.baseline import StrataBaseline, build_baseline
from hotspot_env.interventions.candidates import attach_costs, generate
from hotspot_env.interventions.equity import Zones, choose_zones, rule_text
from hotspot_env.interventions.evidence import EvidenceLibrary, load_library
from hotspot_env.interventions.impact import N_DRAWS, build_impact
from hotspot_env.interventions.impact_model import ImpactModel
from hotspot_env.interventions.optimise import (
    TIME_LIMIT_S,
    check_budget,
    check_time_limit,
)
from hotspot_env.interventions.reasons import reasons
from hotspot_env.interventions.region_budgets import DEFAULT_REGION_COLUMN, parse_region_budgets
from hotspot_env.interventions.result import InterventionsResult, Ranking
from hotspot_env.interventions.state import make_basemap, state_bytes
from hotspot_env.interventions.strata import evidence_windows, row_strata
from hotspot_env.interventions.weights import Weights, parse_weights
from hotspot_env.interventions.workorders import (
    headline_text,
    secondary_text,
    write_intervention_files,
)

if TYPE_CHECKING:
    from hotspot_env.core.analysis import Analysis

__all__ = ["InterventionsResult", "Ranking", "load_library", "rank_folder", "report_section",
           "stage", "write_interventions"]

#: Generated candidates are kept when the expected incidents per km² in their
#: reach are at least this multiple of the study area's mean ("near harm").
#: Proposals and covering-model youth sites are always kept.
MIN_HARM_RATIO: float = 1.0


@declares(reads=("factors", "arrays.forecast", "arrays.why", "arrays.timing"),
          adds=("interventions", "audit_places", "stage_timings"))
def stage(
    analysis: Analysis,
    budget: float | None = None,
    weights: str | dict[str, float] | None = None,
    proposals: gpd.GeoDataFrame | str | os.PathLike[str] | None = None,
    seed: int | None = None,
    *,
    n_draws: int = N_DRAWS,
    evidence_path: str | os.PathLike[str] | None = None,
    costs_path: str | os.PathLike[str] | None = None,
    boundaries: gpd.GeoDataFrame | str | os.PathLike[str] | None = None,
    default_category: str | None = None,
    category_map: dict[str, str] | None = None,
    timezone: str | None = None,
    min_harm_ratio: float = MIN_HARM_RATIO,
    optimise_portfolio: bool = True,
    time_limit: float = TIME_LIMIT_S,
    outdoor_share: float | None = None,
    region_budgets: dict[str, float] | list[str] | None = None,
    region_column: str = DEFAULT_REGION_COLUMN,
) -> None:
    """Pipeline stage: rank environmental interventions for ``analysis``.

    Parameters
    ----------
    analysis : Analysis
        After the factor and (optionally) forecast/RTM stages.
    budget : float, optional
        USD per year (annualised costs). None ranks without selecting.
    weights : str or dict, optional
        ``"violence=2,youth_space=1.5"``: crime-category and type weights.
    proposals : GeoDataFrame or path, optional
        Resident/user proposals (``type``, ``note``, geometry).
    seed : int, optional
        Monte Carlo seed (default :data:`hotspot_env.settings.default_seed`).
    n_draws : int
        Monte Carlo draws (>= 1,000; default 2,000).
    evidence_path, costs_path : path, optional
        Other evidence/cost tables (default: ``settings.data_folder``).
    boundaries : GeoDataFrame or path, optional
        Neighbourhood polygons for districts and equity.
    default_category : str, optional
        Category group of all incidents when none has a category (e.g.
        ``"violence"`` for a homicide file).
    category_map : dict, optional
        Exact incident category -> category group.
    timezone : str, optional
        IANA zone for local-hour windows.
    min_harm_ratio : float
        "Near harm" rule (:data:`MIN_HARM_RATIO`).
    optimise_portfolio, time_limit : bool, float
        Also compute the exact portfolio (when a budget is given), within this many s.
    outdoor_share : float, optional
        Share of incidents outdoors when the incidents have no ``outdoor``
        column (default ``baseline.DEFAULT_OUTDOOR_SHARE``, announced).
    region_budgets, region_column : optional
        Caps per region within ``budget`` (``["D01=50000"]``, USD/year) over the
        candidates' ``region_column`` (default ``district``; :mod:`.region_budgets`).

    Adds ``analysis.interventions``, ``analysis.parameters
    ["interventions"]`` and the choices made.
    """
    library = load_library(evidence_path, costs_path)
    w = parse_weights(weights, library.types)
    budget = check_budget(budget)
    caps = parse_region_budgets(region_budgets, budget)  # a bad cap fails before the work
    baseline = _strata_baseline(analysis, library, timezone, default_category, category_map,
                                outdoor_share)
    choices: list[Choice] = list(baseline.choices)
    cands, model = _candidates_and_model(analysis, library, baseline, proposals, n_draws, seed,
                                         choices)
    cands, model = _keep_near_harm(cands, model, library, baseline, min_harm_ratio, choices)
    zones = _add_districts_and_reasons(analysis, cands, model, baseline, boundaries, choices)
    why, timing = analysis.arrays.get("why"), analysis.arrays.get("timing")
    params = _stage_parameters(analysis, library, baseline, w, budget, n_draws, seed,
                               min_harm_ratio, len(cands))
    result = InterventionsResult(cands, model, baseline, zones, library, params, choices,
                                 why, timing, _basemap(analysis))
    _rank_into(analysis, result, budget, w, optimise_portfolio, time_limit, params, choices,
               (caps, region_column))


def _basemap(analysis: Analysis) -> gpd.GeoDataFrame | None:
    """Streets and addressed buildings for the work orders' maps."""
    with timed("interventions/basemap", exclusive=False):
        return make_basemap({n: analysis.layer(n) for n in ("streets", "buildings")},
                            analysis.grid.crs)


def _candidates_and_model(analysis: Analysis, library: EvidenceLibrary,
                          baseline: StrataBaseline, proposals: Any, n_draws: int,
                          seed: int | None, choices: list[Choice]
                          ) -> tuple[gpd.GeoDataFrame, ImpactModel]:
    """Every candidate (generated and proposed) with its costs, and their impact model."""
    youth_demand = _youth_demand(library, baseline)
    with timed("interventions/candidates", exclusive=False):
        cands, cand_choices = generate(analysis, library, youth_demand, proposals)
    choices += cand_choices
    cands = attach_costs(cands, library)
    with timed("interventions/impact", exclusive=False):
        model = build_impact(cands, library, baseline, n_draws=n_draws, seed=seed)
    return cands, model


def _strata_baseline(analysis: Analysis, library: EvidenceLibrary, timezone: str | None,
                     default_category: str | None, category_map: dict[str, str] | None,
                     outdoor_share: float | None) -> StrataBaseline:
    """The baseline split into the strata and hour windows the evidence uses."""
    ev = library.evidence
    with timed("interventions/baseline", exclusive=False):
        return build_baseline(
            analysis, evidence_windows(library), timezone=timezone,
            default_category=default_category, category_map=category_map,
            outdoor_share=outdoor_share,
            # outdoor shares are measured (and announced) only when used
            outdoor_rows=bool((ev["active"] & (ev["places"] == "outdoor")).any()))


def _stage_parameters(analysis: Analysis, library: EvidenceLibrary, baseline: StrataBaseline,
                      w: Weights, budget: float | None, n_draws: int, seed: int | None,
                      min_harm_ratio: float, n_candidates: int) -> dict[str, Any]:
    """What the stage ran with, for ``analysis.parameters["interventions"]`` and the manifest."""
    return {
        "n_draws": int(n_draws), "seed": seed, "budget": budget, "weights": w.as_text(),
        "evidence": library.sha256, "baseline": baseline.notes,
        "cost_basis": "annualised USD per year (capital / lifetime + maintenance)",
        "simulated": bool(analysis.parameters.get("simulated")),
        "privacy": analysis.parameters.get("privacy", "internal"),
        "min_harm_ratio": float(min_harm_ratio), "n_candidates": int(n_candidates),
        "crs": analysis.grid.crs.to_string(),
    }


def _rank_into(analysis: Analysis, result: InterventionsResult, budget: float | None,
               w: Weights, optimise_portfolio: bool, time_limit: float,
               params: dict[str, Any], choices: list[Choice],
               regions: tuple[dict[str, float] | None, str] = (None, DEFAULT_REGION_COLUMN)
               ) -> None:
    """Rank under the budget (and the region caps ``regions``: caps, column) and record the
    result, its choices and timings on ``analysis``; with no candidate, the places to audit
    instead."""
    with timed("interventions/ranking", exclusive=False):
        ranked = result.rerank(budget, w, optimise_portfolio=optimise_portfolio,
                               time_limit=time_limit, region_budgets=regions[0],
                               region_column=regions[1])
    if regions[0] is not None:
        params["region_budgets"] = {"column": regions[1], "caps": regions[0]}
        choices.append(announce(Choice(
            "region_budgets", regions[0],
            f"the portfolio spends at most the given amount in each named {regions[1]} "
            f"(USD/year), within the overall budget of {budget or 0:,.0f}; other "
            f"{regions[1]}s are bounded by the overall budget only")))
    ranking = result.apply(ranked)
    if ranking.optimal is not None and ranking.optimal.status != "optimal":
        choices.append(announce(Choice(
            "portfolio_status", ranking.optimal.status,
            f"the optimiser stopped before proving optimality (gap {ranking.optimal.gap:.2%})")))
    params["ranking"] = ranking.summary()
    if not len(result.candidates):  # nothing measured to rank: still a list of places to survey
        audit, audit_choice = audit_places(analysis)
        choices.append(audit_choice)
        analysis.audit_places = audit
        params["audit_places"] = int(len(audit))
    analysis.stage_timings["ranking"] = ranking.timings()
    analysis.interventions = result
    analysis.parameters["interventions"] = params
    analysis.choices.extend(choices)


def _add_districts_and_reasons(analysis: Analysis, cands: gpd.GeoDataFrame, model: ImpactModel,
                               baseline: StrataBaseline, boundaries: Any,
                               choices: list[Choice]) -> Zones:
    """Give each candidate its district (the zones, announced) and its plain-words reason."""
    with timed("interventions/zones", exclusive=False):
        zones, zone_choice = choose_zones(analysis, boundaries)
    choices.append(zone_choice)
    cands["district"] = zones.of_geometries(analysis.grid, cands.geometry.to_numpy())
    with timed("interventions/reasons", exclusive=False):
        cands["reason"] = reasons(cands, model, why=analysis.arrays.get("why"),
                                  timing=analysis.arrays.get("timing"),
                                  time_source=baseline.notes.get("time_source", ""),
                                  youth_walk_m=analysis.youth_walk_m)
    return zones


def _youth_demand(library: EvidenceLibrary, baseline: StrataBaseline) -> np.ndarray:
    """Per cell: the expected incidents the youth-space evidence covers (its categories and
    hours), the demand the covering model serves."""
    youth_rows = library.evidence[library.evidence["intervention_type"] == "youth_space"]
    youth_demand = np.zeros(baseline.grid.shape)
    if len(youth_rows):
        mask = row_strata(youth_rows, baseline.windows).any(axis=0)
        youth_demand.ravel()[baseline.cells] = (baseline.baseline.ravel()[baseline.cells]
                                                * baseline.covered_share(mask))
    return youth_demand


def _keep_near_harm(cands: gpd.GeoDataFrame, model: ImpactModel, library: EvidenceLibrary,
                    baseline: StrataBaseline, ratio: float, choices: list[Choice]
                    ) -> tuple[gpd.GeoDataFrame, ImpactModel]:
    """Candidates (and their model) near harm, the rule announced (:func:`_near_harm`)."""
    keep, rule = _near_harm(cands, model, library, baseline, ratio)
    dropped = int((~keep).sum())
    if len(cands):
        choices.append(announce(Choice("candidates_near_harm", int(keep.sum()), rule + (
            f" ({dropped:,} of {len(cands):,} left out)" if dropped else ""))))
    cands = cands[keep].reset_index(drop=True)
    model = model.subset(keep)
    # Monte Carlo statistics once, for the kept candidates only (the subset starts
    # with an empty cache), so every re-rank is fast
    model.standalone()
    return cands, model


def _near_harm(cands, model, library: EvidenceLibrary, baseline, ratio: float):
    n = len(cands)
    if n == 0:
        return np.zeros(0, dtype=bool), "no candidates"
    grid = baseline.grid
    area_km2 = grid.n_cells * grid.cell_area_km2
    mean_density = float(baseline.baseline.sum()) / area_km2 if area_km2 else 0.0
    if model.reach_area is not None:  # the same buffers, already measured by build_impact
        buf_km2 = model.reach_area / 1e6
    else:
        reach = library.evidence.groupby("intervention_type")["reach_m"].max()
        radius = reach.reindex(cands["type"]).to_numpy(dtype=float)
        buf_km2 = shapely.area(shapely.buffer(cands.geometry.to_numpy(), radius)) / 1e6
    with np.errstate(invalid="ignore", divide="ignore"):
        density = model.baseline_reach / np.maximum(buf_km2, 1e-12)
    always = cands["source"].isin(["proposal", "youth-space gap"]).to_numpy()
    # "effect unknown" types (no applied evidence row) cover nothing by construction:
    # they are kept near harm as community-led options, never ranked by prevented incidents
    # one evidence look-up per type, not per candidate (thousands of rows at metro)
    known = {t: library.effect_known(t) for t in pd.unique(cands["type"])}
    unknown = ~np.array([known[t] for t in cands["type"]], dtype=bool)
    near = (density >= ratio * mean_density) & ((model.baseline_covered > 0) | unknown)
    rule = (f"generated candidates are kept where the expected incidents per km² in reach are "
            f"at least {ratio:g} x the study area's mean ({mean_density:.2f}) and some fall in "
            "the categories and hours their evidence covers (effect-unknown options: any harm); "
            "proposals are always kept")
    return always | near, rule


def write_interventions(analysis: Analysis, folder: str | os.PathLike[str]) -> dict[str, Path]:
    """Write the interventions outputs and the re-ranking state into ``folder``.

    Returns ``{}`` when the stage has not run. Files: ``interventions.csv``,
    ``interventions.gpkg``, ``interventions.geojson``, ``equity.csv``,
    ``workorders.html`` and the state (``interventions_state.npz``,
    ``interventions_candidates.parquet``, ``interventions_basemap.parquet``).
    """
    result = analysis.interventions
    if result is None:
        return {}
    written = _write_all(result, folder)
    audit = analysis.audit_places
    if audit is not None:
        written.update(write_audit_places(audit, folder,
                                          analysis.parameters.get("privacy", "internal")))
    return written


def write_audit_places(audit: gpd.GeoDataFrame, folder: str | os.PathLike[str],
                       privacy: str = "internal") -> dict[str, Path]:
    """``audit_places.csv`` (no geometry) and ``audit_places.geojson`` (WGS 84), atomically.

    The table passes the privacy gate (:data:`~hotspot_env.interventions.audit.AUDIT_KINDS`,
    texts neutralised).

    Both are byte-identical for the same inputs: fixed column order, ``\\n``
    line ends, GeoJSON coordinates rounded to 1e-7 degrees.
    """
    import json

    from hotspot_env._atomic import write_text
    from hotspot_env.interventions.audit import AUDIT_COLUMNS, AUDIT_KINDS
    from hotspot_env.outputs.privacy import publish_table

    folder = Path(folder)
    table = publish_table(pd.DataFrame(audit[list(AUDIT_COLUMNS)]), AUDIT_KINDS, privacy)
    csv_path = write_text(folder / "audit_places.csv",
                          table.to_csv(index=False, lineterminator="\n"))
    wgs = audit.to_crs(4326)
    geoms = shapely.transform(wgs.geometry.to_numpy(), lambda c: np.round(c, 7))
    shapes = shapely.to_geojson(geoms) if len(geoms) else []
    rows = table.astype(object).where(table.notna(), None).to_dict("records")
    features = [{"type": "Feature", "properties": {k: _plain(v) for k, v in row.items()},
                 "geometry": json.loads(shape)} for row, shape in zip(rows, shapes, strict=True)]
    doc = {"type": "FeatureCollection", "name": "audit_places", "features": features}
    geojson_path = write_text(folder / "audit_places.geojson",
                              json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n")
    return {"audit_places_csv": csv_path, "audit_places_geojson": geojson_path}


def _plain(value: object) -> object:
    """numpy scalars as plain Python values for JSON."""
    return value.item() if isinstance(value, np.generic) else value


def _write_all(result: InterventionsResult, folder: str | os.PathLike[str],
               ranking: Ranking | None = None) -> dict[str, Path]:
    """The output files and the state; the state file is compressed on a second thread.

    Compressing the state (numpy arrays, zlib) releases the GIL, so it overlaps
    with the tables and work-order maps written here, on a core that would idle
    otherwise. The thread gets plain arrays only; pandas work stays here.
    """
    folder = prepare_folder(folder)
    arrays = result.state_arrays()
    with ThreadPoolExecutor(max_workers=1) as pool:
        state = pool.submit(state_bytes, arrays)
        written = write_intervention_files(result, folder, ranking)
        written.update(result.save_state(folder, state.result()))
    return written


def rank_folder(
    analysis_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    budget: float | None,
    weights: str | None = None,
    proposals: str | os.PathLike[str] | None = None,
    *,
    time_limit: float = TIME_LIMIT_S,
    region_budgets: dict[str, float] | list[str] | None = None,
) -> tuple[InterventionsResult, Ranking, dict[str, Path]]:
    """Re-rank a finished analysis (``hotspot-env rank``) without recomputing it.

    Reads the state in ``analysis_dir``, adds ``proposals``, ranks under
    ``budget`` (USD/year), the district caps ``region_budgets`` and ``weights``
    with the greedy and the optimiser, and writes the outputs (and the updated
    state) into ``out``.
    """
    budget = check_budget(budget)
    time_limit = check_time_limit(time_limit)  # before the state is read
    region_budgets = parse_region_budgets(region_budgets, budget)
    result = InterventionsResult.load(analysis_dir)
    if proposals is not None:
        result = result.with_proposals(proposals)
    ranking = result.apply(result.rerank(budget, weights, optimise_portfolio=True,
                                         time_limit=time_limit, region_budgets=region_budgets))
    return result, ranking, _write_all(result, out, ranking)


def _effect_cell(r: object) -> str:
    if not np.isfinite(r.prevented_mean):
        return "effect unknown"
    return f"{r.prevented_mean:.2f} ({r.prevented_lo:.2f}-{r.prevented_hi:.2f})"


def report_section(analysis: Analysis) -> tuple[str, str] | None:
    """A section for ``report.html``: portfolio, top candidates, equity flags."""
    result = analysis.interventions
    if result is None:
        return None
    ranking = result.ranking or result.rerank()
    table = result.table(ranking)
    esc = html.escape
    effect = result.portfolio(ranking)
    parts = [f"<p>{esc(ranking.message)}.</p><p><strong>{esc(headline_text(effect))}"
             f"</strong></p><p>{esc(secondary_text(effect))}. Costs are annualised USD per "
             "year. See workorders.html and interventions.csv.</p>"]
    parts += [f"<p>Warning: {esc(w)}.</p>" for w in result.cost_warnings(ranking)]
    unknown = result.effect_unknown_types()
    if unknown:
        parts.append("<p>Effect unknown, offered as community-led options and never ranked by "
                     "prevented incidents: " + esc(", ".join(t.replace("_", " ")
                                                            for t in unknown)) + ".</p>")
    if ranking.optimal is not None and ranking.gap is not None:
        parts.append(f"<p>Optimiser: {esc(ranking.optimal.status)} in "
                     f"{ranking.optimal.seconds:.2f} s; the fast re-rank (overlap-aware greedy) "
                     f"reaches {(1 - ranking.gap):.1%} of its value.</p>")
    head = ("<tr><th>rank</th><th>id</th><th>type</th><th>location</th><th>USD/year</th>"
            "<th>prevented/year (80 %)</th><th>selected</th><th>evidence</th></tr>")
    rows = "".join(
        f"<tr><td>{int(r.rank)}</td><td>{esc(r.intervention_id)}</td>"
        f"<td>{esc(str(r.type))}</td><td>{esc(str(r.location))}</td><td>{r.cost:,.0f}</td>"
        f"<td>{_effect_cell(r)}</td>"
        f"<td>{'yes' if r.selected else ''}</td><td>{esc(str(r.evidence))}</td></tr>"
        for r in table.head(10).itertuples())
    parts.append(f"<table>{head}{rows}</table>")
    eq = result.equity(ranking)
    flagged = eq[eq["flagged"]]
    if len(flagged) and ranking.selected.any():
        parts.append(f"<p>Equity ({esc(rule_text())}): "
                     + ", ".join(esc(str(d)) for d in flagged["district"]) + ".</p>")
    return "Environmental interventions", "".join(parts)
