"""Scenarios for the app: residents' proposals, budgeted portfolios, side-by-side comparison.

The interventions engine (``analysis.interventions``, an
:class:`~hotspot_env.interventions.result.InterventionsResult`) ranks
candidate interventions; this module is the app's view of it:

* :class:`Proposal` — a resident's idea placed on the map (type + note), with
  exports (:func:`proposals_csv`, :func:`proposals_geojson`).
* :class:`EngineView` — the engine's fast ``rerank(budget, weights)`` and
  ``table(ranking)``, with residents' proposals scored like generated
  candidates (``with_proposals``), as a :class:`Portfolio` whose columns have
  fixed names (:func:`normalise`).
* :func:`compare` — two portfolios side by side: prevented incidents (with
  intervals), cost, where the money goes.
* :func:`export_files` — CSV, GeoJSON, GeoPackage and the printable work
  orders, through the engine's own writers when it has them (every text
  escaped in HTML; CSV text made spreadsheet-safe).
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from hotspot_env import settings
from hotspot_env._memo import IdentityCache
from hotspot_env.app.redress import spreadsheet_safe
from hotspot_env.errors import HotspotEnvError, InputError
from hotspot_env.outputs import labels
from hotspot_env.outputs.labels import WEIGHT_GROUPS, WEIGHT_LABELS  # noqa: F401 - re-exported

if TYPE_CHECKING:
    from hotspot_env.core.analysis import Analysis

#: Longest proposal note kept.
MAX_NOTE_CHARS = 500

#: Most proposals one session may add (keeps pages and exports small).
MAX_PROPOSALS = 200

#: Priority weights offered when the engine names none: what matters most.
DEFAULT_WEIGHTS: dict[str, float] = {"violence": 1.0, "property": 1.0, "youth": 1.0}


#: Standard portfolio columns and the engine column names accepted for each
#: (first match wins).
COLUMN_SYNONYMS: dict[str, tuple[str, ...]] = {
    "site_id": ("site_id", "intervention_id", "candidate_id", "work_order_id"),
    "type": ("intervention_type", "type", "intervention", "kind"),
    "street": ("street", "street_name", "location", "address"),
    "cost": ("cost", "annual_cost", "total_cost", "cost_total"),
    "prevented": ("prevented", "prevented_mean", "expected_prevented", "prevented_per_year"),
    "prevented_low": ("prevented_low", "prevented_lo", "prevented_ci_low"),
    "prevented_high": ("prevented_high", "prevented_hi", "prevented_ci_high"),
    "selected": ("selected", "funded", "in_budget", "chosen", "in_portfolio"),
    "source": ("source", "origin"),
    "cell_id": ("cell_id",),
    "note": ("note", "proposal_note"),
}

#: Order of standard columns in a portfolio table.
PORTFOLIO_COLUMNS = ("rank", "site_id", "type", "street", "cost", "prevented", "prevented_low",
                     "prevented_high", "prevented_per_1000", "selected", "source", "cell_id",
                     "lat", "lon")


class EngineContractError(HotspotEnvError):
    """The interventions engine returned something the app cannot read."""


# --------------------------------------------------------------------------- proposals


@dataclass(frozen=True)
class Proposal:
    """A resident's proposal placed on the map.

    Attributes
    ----------
    proposal_id : str
        ``P001``, ``P002``... within a session.
    type : str
        Intervention type (e.g. ``streetlight_upgrade``).
    note : str
        Free text (escaped wherever it is shown).
    lat, lon : float
        Where (rounded to 6 decimals, about 0.1 m).
    cell_id : int or None
        The grid cell under the point.
    created_utc : str
        ISO time to the second.
    """

    proposal_id: str
    type: str
    note: str
    lat: float
    lon: float
    cell_id: int | None = None
    created_utc: str = ""


def intervention_types(engine: Any = None) -> list[str]:
    """Intervention types residents can propose.

    The engine's evidence library types when it has them, else the cost table
    ``data/costs.csv`` (one row per type).
    """
    types = getattr(getattr(engine, "library", None), "types", None)
    if types:
        return [str(t) for t in types]
    path = settings.data_folder / "costs.csv"
    try:
        costs = pd.read_csv(path)
        return [str(v) for v in pd.unique(costs["intervention_type"].dropna())]
    except (OSError, KeyError, pd.errors.ParserError):
        return ["streetlight_upgrade", "vacant_lot_greening", "youth_space", "sightline_clearing"]


def type_label(value: str) -> str:
    """``vacant_lot_greening`` -> ``Vacant lot greening`` (:mod:`~hotspot_env.outputs.labels`)."""
    return labels.type_label(value)


def make_proposal(
    existing: Sequence[Proposal], *, type: str, note: str, lat: float, lon: float,
    cell_id: int | None = None, allowed_types: Sequence[str] | None = None,
) -> Proposal:
    """Validate and build a proposal.

    Raises
    ------
    InputError
        Unknown type, coordinates that are not numbers, or too many proposals.
    """
    if len(existing) >= MAX_PROPOSALS:
        raise InputError(f"this session already has {MAX_PROPOSALS} proposals: export them and "
                         "start a new session")
    if allowed_types is not None and type not in allowed_types:
        raise InputError(f"choose one of the listed intervention types, not {str(type)[:40]!r}")
    try:
        lat_f, lon_f = float(lat), float(lon)
    except (TypeError, ValueError) as exc:
        raise InputError("click a place on the map first") from exc
    if not (math.isfinite(lat_f) and math.isfinite(lon_f) and -90 <= lat_f <= 90
            and -180 <= lon_f <= 180):
        raise InputError("click a place on the map first")
    note = " ".join(str(note or "").split())[:MAX_NOTE_CHARS]
    number = max([int(p.proposal_id[1:]) for p in existing if p.proposal_id[1:].isdigit()],
                 default=0) + 1
    now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    return Proposal(f"P{number:03d}", str(type), note, round(lat_f, 6), round(lon_f, 6),
                    None if cell_id is None else int(cell_id), now)


def proposals_frame(proposals: Sequence[Proposal]) -> gpd.GeoDataFrame:
    """Proposals as points in EPSG:4326 (columns of :class:`Proposal`)."""
    columns = [f for f in Proposal.__dataclass_fields__]
    rows = [asdict(p) for p in proposals]
    frame = pd.DataFrame(rows, columns=columns)
    geometry = shapely.points(frame["lon"].to_numpy(dtype=float),
                              frame["lat"].to_numpy(dtype=float)) if len(frame) else []
    return gpd.GeoDataFrame(frame, geometry=geometry, crs=4326)


def proposals_csv(proposals: Sequence[Proposal]) -> bytes:
    """Proposals as UTF-8 CSV (spreadsheet-safe text)."""
    frame = pd.DataFrame(proposals_frame(proposals).drop(columns="geometry"))
    for column in ("type", "note"):
        frame[column] = frame[column].map(spreadsheet_safe)
    return frame.to_csv(index=False).encode("utf-8")


def proposals_geojson(proposals: Sequence[Proposal]) -> str:
    """Proposals as a GeoJSON FeatureCollection (EPSG:4326)."""
    features = [{"type": "Feature", "id": p.proposal_id,
                 "geometry": {"type": "Point", "coordinates": [p.lon, p.lat]},
                 "properties": asdict(p)} for p in proposals]
    return json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False)


# --------------------------------------------------------------------------- portfolios


@dataclass
class Portfolio:
    """A ranked, budgeted set of interventions with standard columns.

    Attributes
    ----------
    table : DataFrame
        Columns among :data:`PORTFOLIO_COLUMNS` (those the engine provides),
        then any other engine columns. ``selected`` is True for the sites
        within the budget.
    geometry : GeoSeries or None
        Site geometry in EPSG:4326, aligned with ``table``.
    budget : float
    weights : dict
    """

    table: pd.DataFrame
    geometry: gpd.GeoSeries | None
    budget: float
    weights: dict[str, float] = field(default_factory=dict)
    result: Any = field(default=None, repr=False)
    ranking: Any = field(default=None, repr=False)
    joint: dict[str, float] = field(default_factory=dict)
    engine_table: Any = field(default=None, repr=False)
    warnings: list[str] = field(default_factory=list)

    @property
    def headline(self) -> str:
        """The one number, worded as on the work orders and in the CLI (joint effect, 80 %)."""
        if "prevented" not in self.joint:
            return ""
        from hotspot_env.interventions.impact_model import PortfolioEffect
        from hotspot_env.interventions.workorders import headline_text

        j = self.joint
        return headline_text(PortfolioEffect(j["prevented"], j["prevented_low"],
                                             j["prevented_high"], j.get("sum_over_sites", 0.0),
                                             np.zeros(0)))

    @property
    def sum_over_sites(self) -> float | None:
        """Sum of the chosen sites' stand-alone estimates: a secondary, labelled figure."""
        if "sum_over_sites" in self.joint:
            return self.joint["sum_over_sites"]
        if "prevented" not in self.chosen.columns:
            return None
        return float(pd.to_numeric(self.chosen["prevented"], errors="coerce").sum())

    @property
    def optimum_gap(self) -> float | None:
        """How far the fast re-rank is below the exact optimum, when that is known."""
        ranking = self.ranking
        return None if ranking is None else getattr(ranking, "gap", None)

    @property
    def chosen(self) -> pd.DataFrame:
        """Rows within the budget."""
        if "selected" in self.table.columns:
            return self.table[self.table["selected"].astype(bool)]
        return self.table

    @property
    def total_cost(self) -> float:
        """Cost of the chosen sites."""
        return float(pd.to_numeric(self.chosen.get("cost", pd.Series(dtype=float)),
                                   errors="coerce").sum())

    def total(self, column: str = "prevented") -> float | None:
        """Prevented incidents of the chosen sites (None when the engine gave none).

        The engine's joint effect (overlapping interventions combined, not
        double counted) when it gave one, else the sum over the sites.
        """
        if column in self.joint:
            return self.joint[column]
        if column not in self.chosen.columns:
            return None
        return float(pd.to_numeric(self.chosen[column], errors="coerce").sum())

    def by_type(self) -> pd.DataFrame:
        """Cost and prevented incidents of the chosen sites per intervention type."""
        chosen = self.chosen
        if "type" not in chosen.columns or chosen.empty:
            return pd.DataFrame(columns=["type", "sites", "cost", "prevented"])
        agg = {"sites": ("type", "size")}
        if "cost" in chosen.columns:
            agg["cost"] = ("cost", "sum")
        if "prevented" in chosen.columns:
            agg["prevented"] = ("prevented", "sum")
        return chosen.groupby("type", as_index=False).agg(**agg)

    def sites(self) -> gpd.GeoDataFrame | None:
        """The chosen sites with geometry (EPSG:4326), or None without geometry."""
        if self.geometry is None:
            return None
        chosen = self.chosen
        frame = gpd.GeoDataFrame(chosen.copy(), geometry=self.geometry.loc[chosen.index].values,
                                 crs=4326)
        return frame[~(frame.geometry.isna() | frame.geometry.is_empty)]


def _table_of(result: Any) -> pd.DataFrame | None:
    if isinstance(result, pd.DataFrame):
        return result
    for name in ("table", "ranked", "portfolio"):
        value = getattr(result, name, None)
        if isinstance(value, pd.DataFrame):
            return value
    if isinstance(result, Mapping):
        for name in ("table", "ranked", "portfolio"):
            if isinstance(result.get(name), pd.DataFrame):
                return result[name]
    return None


def _find_column(frame: pd.DataFrame, standard: str) -> str | None:
    lower = {str(c).lower(): c for c in frame.columns}
    for name in COLUMN_SYNONYMS.get(standard, (standard,)):
        if name in lower:
            return lower[name]
    return None


def normalise(table: pd.DataFrame, grid: Any = None, budget: float = math.inf,
              weights: Mapping[str, float] | None = None) -> Portfolio:
    """Rename an engine table to the standard columns and attach lon/lat geometry.

    Parameters
    ----------
    table : DataFrame or GeoDataFrame
        Rows in rank order.
    grid : Grid, optional
        Used to place rows that have only a ``cell_id``.
    budget : float
        The budget used (to mark ``selected`` when the engine did not).
    weights : mapping, optional
        The weights used.
    """
    frame = pd.DataFrame(table).copy()
    geometry = None
    if isinstance(table, gpd.GeoDataFrame) and table.geometry.name in table.columns:
        geoms = table.geometry
        if geoms.crs is None and grid is not None:
            geoms = geoms.set_crs(grid.crs)
        if geoms.crs is not None:
            geometry = geoms.to_crs(4326)
        frame = frame.drop(columns=[table.geometry.name])
    renames: dict[str, str] = {}
    for standard in COLUMN_SYNONYMS:
        col = _find_column(frame, standard)
        if col is not None and col != standard and standard not in frame.columns:
            renames[col] = standard
    frame = frame.rename(columns=renames)
    frame = frame.loc[:, ~frame.columns.duplicated()]
    frame = frame.reset_index(drop=True)
    if geometry is not None:
        geometry = geometry.reset_index(drop=True)
    for col in ("cost", "prevented", "prevented_low", "prevented_high"):
        if col in frame.columns:
            frame[col] = pd.to_numeric(frame[col], errors="coerce")
    if geometry is None and grid is not None and "cell_id" in frame.columns:
        cid = pd.to_numeric(frame["cell_id"], errors="coerce").fillna(-1).astype(np.int64)
        row, col = np.divmod(cid.to_numpy(), grid.n_cols)
        x = grid.x0 + (col + 0.5) * grid.cell_size
        y = grid.bounds[3] - (row + 0.5) * grid.cell_size
        pts = gpd.GeoSeries(shapely.points(x, y), crs=grid.crs).to_crs(4326)
        pts[cid.to_numpy() < 0] = None
        geometry = pts
    if geometry is not None:
        centroids = geometry.representative_point() if len(geometry) else geometry
        frame["lat"] = np.round([g.y if g is not None and not g.is_empty else np.nan
                                 for g in centroids], 6)
        frame["lon"] = np.round([g.x if g is not None and not g.is_empty else np.nan
                                 for g in centroids], 6)
    if "selected" not in frame.columns and "cost" in frame.columns:
        frame["selected"] = frame["cost"].fillna(0).cumsum() <= budget
    if "prevented" in frame.columns and "cost" in frame.columns:
        with np.errstate(divide="ignore", invalid="ignore"):
            frame["prevented_per_1000"] = np.where(
                frame["cost"] > 0, frame["prevented"] / frame["cost"] * 1000, np.nan)
    if "rank" not in frame.columns:
        frame.insert(0, "rank", np.arange(1, len(frame) + 1))
    if "source" not in frame.columns:
        frame["source"] = "generated"
    ordered = [c for c in PORTFOLIO_COLUMNS if c in frame.columns]
    frame = frame[ordered + [c for c in frame.columns if c not in ordered]]
    return Portfolio(frame, geometry, float(budget), dict(weights or {}))




def expand_weights(weights: Mapping[str, float], known: Sequence[str] | None = None
                   ) -> dict[str, float]:
    """Simple weights (``violence``, ``property``, ``youth``) as the engine's keys.

    Names of :data:`WEIGHT_GROUPS` set every key of their group; other names
    pass through. With ``known`` (the engine's categories and types), keys it
    does not know are dropped (e.g. ``youth_space`` when no evidence row has it).
    """
    out: dict[str, float] = {}
    for name, value in weights.items():
        for key in WEIGHT_GROUPS.get(name, (name,)):
            out[key] = float(value)
    if known is not None:
        allowed = set(known)
        out = {k: v for k, v in out.items() if k in allowed}
    return out


class EngineView:
    """The app's view of ``analysis.interventions``.

    Parameters
    ----------
    analysis : Analysis
        An analysis whose interventions stage ran.
    """

    def __init__(self, analysis: Analysis) -> None:
        self.analysis = analysis
        self.engine = _engine_of(analysis)
        if self.engine is None:
            raise EngineContractError("the interventions stage has not run for this analysis")

    @classmethod
    def of(cls, analysis: Analysis) -> EngineView | None:
        """The view, or None when the interventions stage has not run."""
        if analysis is None or _engine_of(analysis) is None:
            return None
        return cls(analysis)

    @property
    def can_score_proposals(self) -> bool:
        """True when the engine can score residents' proposals."""
        return callable(getattr(self.engine, "with_proposals", None))

    def types(self) -> list[str]:
        """Intervention types the engine knows (evidence rows)."""
        return intervention_types(self.engine)

    def weight_keys(self) -> list[str]:
        """Every weight key the engine accepts (crime categories and types)."""
        from hotspot_env.interventions.evidence import CATEGORIES

        return [*CATEGORIES, "other", *self.types()]

    def default_weights(self) -> dict[str, float]:
        """The simple priority weights offered by the app, all 1 (neutral)."""
        known = set(self.weight_keys())
        return {name: 1.0 for name, keys in WEIGHT_GROUPS.items() if known & set(keys)}

    def default_budget(self) -> float:
        """The run's budget (USD per year), else a quarter of all candidates' cost."""
        params = getattr(self.engine, "parameters", {}) or {}
        value = params.get("budget")
        if isinstance(value, int | float) and math.isfinite(value) and value > 0:
            return float(value)
        candidates = getattr(self.engine, "candidates", None)
        if isinstance(candidates, pd.DataFrame) and "cost" in candidates and len(candidates):
            costs = pd.to_numeric(candidates["cost"], errors="coerce").fillna(0)
            return float(round(max(costs.sum() / 4, costs.max()), -3))
        return 10_000.0

    def _result(self, proposals: Sequence[Proposal]) -> Any:
        if not proposals:
            return self.engine
        if not self.can_score_proposals:
            return self.engine
        engine = self.engine
        return _PROPOSAL_CACHE.get(engine, tuple(proposals),
                                   lambda: engine.with_proposals(proposals_frame(proposals)))

    def rank(self, budget: float, weights: Mapping[str, float],
             proposals: Sequence[Proposal] = ()) -> Portfolio:
        """Rank within ``budget`` with ``weights``, proposals scored like candidates.

        Parameters
        ----------
        budget : float
            Money available (USD per year, the cost table's annualised costs).
        weights : mapping of str to float
            Simple priority weights (see :func:`expand_weights`) or engine keys.
        proposals : sequence of Proposal
            Residents' proposals, scored with the engine's ``with_proposals``.

        Raises
        ------
        InputError
            Bad budget or weights (from the engine).
        EngineContractError
            When the engine's answer cannot be read.
        """
        if not (isinstance(budget, int | float) and math.isfinite(budget) and budget >= 0):
            raise InputError(f"the budget must be a number of at least 0, got {budget!r}")
        engine_weights = expand_weights(weights, self.weight_keys())
        result = self._result(proposals)
        try:
            if callable(getattr(result, "table", None)):
                ranking = result.rerank(float(budget), engine_weights)
                table = ranked_table(result, ranking)
            else:
                ranking = None
                table = _table_of(result.rerank(float(budget), engine_weights))
        except HotspotEnvError:
            raise
        except (TypeError, AttributeError, KeyError, ValueError) as exc:
            raise EngineContractError(
                f"the interventions engine could not re-rank: {type(exc).__name__}: {exc}"
            ) from exc
        if table is None:
            raise EngineContractError("the interventions engine returned no table")
        portfolio = normalise(table, self.analysis.grid, budget, weights)
        portfolio.result = result
        portfolio.ranking = ranking
        portfolio.engine_table = table
        if ranking is not None:
            # the headline is always the joint effect (overlaps combined), as in the CLI
            # and on the work orders; the sum over sites is only a secondary figure
            self.joint_effect(portfolio)
            if callable(getattr(result, "cost_warnings", None)):
                portfolio.warnings = list(result.cost_warnings(ranking))
        return portfolio

    def weight_notes(self, weights: Mapping[str, float]) -> dict[str, str]:
        """Per simple weight with nothing to act on, a sentence saying why.

        A weight acts only through candidates with a known effect on its
        categories or of its type: e.g. "Youth provision" does nothing when
        there is no youth-space candidate (no youth-service gap in the inputs)
        or when youth spaces are offered only as "effect unknown" options.
        """
        engine = self.engine
        model = getattr(engine, "model", None)
        if model is None:
            return {}
        from hotspot_env.interventions.strata import CATEGORY_GROUPS

        types = engine.candidates["type"].to_numpy(dtype=str)
        by_cat = model.standalone()["by_category"]
        known_type = {t: engine.library.effect_known(t) for t in np.unique(types)}
        known = np.array([known_type[t] for t in types], dtype=bool)
        notes: dict[str, str] = {}
        for name in weights:
            keys = WEIGHT_GROUPS.get(name, (name,))
            label = WEIGHT_LABELS.get(name, name)
            cats = [CATEGORY_GROUPS.index(k) for k in keys if k in CATEGORY_GROUPS]
            type_keys = [k for k in keys if k not in CATEGORY_GROUPS]
            if cats and not (by_cat[:, cats] > 0).any():
                notes[name] = (f"{label}: nothing to act on. No candidate here has a known "
                               "effect on these crimes, so this weight changes nothing.")
            for t in type_keys:
                of_type = types == t
                if not of_type.any():
                    notes[name] = (f"{label}: nothing to act on. There is no "
                                   f"{t.replace('_', ' ')} candidate: the inputs show no "
                                   "service gap, so this weight changes nothing.")
                elif not (known & of_type).any():
                    notes[name] = (f"{label}: nothing to act on. {type_label(t)}s have no "
                                   "measured effect at a place; they are listed as community-"
                                   "led options (effect unknown), so this weight changes "
                                   "nothing in the ranking.")
        return notes

    @staticmethod
    def joint_effect(portfolio: Portfolio) -> dict[str, float] | None:
        """The engine's joint effect of the chosen sites (overlaps combined).

        Also stored in ``portfolio.joint``, so :meth:`Portfolio.total` uses it.
        """
        result, ranking = portfolio.result, portfolio.ranking
        if result is None or ranking is None or not callable(getattr(result, "portfolio", None)):
            return None
        effect = result.portfolio(ranking)
        portfolio.joint = {"prevented": float(effect.mean), "prevented_low": float(effect.lo),
                           "prevented_high": float(effect.hi),
                           "sum_over_sites": float(effect.additive)}
        return portfolio.joint


def ranked_table(result: Any, ranking: Any) -> gpd.GeoDataFrame:
    """The engine's ranked table for ``ranking`` (``InterventionsResult.table``).

    The engine looks the evidence up once per intervention type, so the table
    is cheap enough to rebuild on every slider move.
    """
    return result.table(ranking)


#: Engine results with proposals, by (engine, proposals): scoring proposals
#: builds their impact model once, then re-ranking is fast.
_PROPOSAL_CACHE: IdentityCache[Any] = IdentityCache(maxsize=16)


def _engine_of(analysis: Analysis) -> Any | None:
    """``analysis.interventions`` (an ``InterventionsResult``), or None."""
    return analysis.interventions


# --------------------------------------------------------------------------- comparison


def compare(portfolios: Mapping[str, Portfolio]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scenarios side by side.

    Parameters
    ----------
    portfolios : mapping of str to Portfolio
        Scenario name -> portfolio.

    Returns
    -------
    summary : DataFrame
        One row per scenario: ``scenario, budget, sites, cost, prevented,
        prevented_low, prevented_high, cost_per_prevented, proposals_funded``.
    money : DataFrame
        ``scenario, type, sites, cost, prevented``: where the money goes.
    """
    rows, money = [], []
    for name, p in portfolios.items():
        chosen = p.chosen
        prevented = p.total("prevented")
        rows.append({
            "scenario": name, "budget": p.budget, "sites": int(len(chosen)),
            "cost": p.total_cost, "prevented": prevented,
            "prevented_low": p.total("prevented_low"), "prevented_high": p.total("prevented_high"),
            "cost_per_prevented": (p.total_cost / prevented) if prevented else None,
            "proposals_funded": int((chosen.get("source", pd.Series(dtype=str))
                                     == "proposal").sum()),
        })
        by_type = p.by_type()
        if not by_type.empty:
            money.append(by_type.assign(scenario=name))
    summary = pd.DataFrame(rows)
    money_df = (pd.concat(money, ignore_index=True) if money
                else pd.DataFrame(columns=["scenario", "type", "sites", "cost", "prevented"]))
    return summary, money_df


def scenario_csv(portfolios: Mapping[str, Portfolio]) -> bytes:
    """Every chosen site of every scenario in one CSV (``scenario`` column first)."""
    frames = [p.chosen.assign(scenario=name) for name, p in portfolios.items()]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if "scenario" in frame.columns:
        frame = frame[["scenario"] + [c for c in frame.columns if c != "scenario"]]
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = frame[column].map(spreadsheet_safe)
    return frame.to_csv(index=False).encode("utf-8")


def portfolio_csv(portfolio: Portfolio, chosen_only: bool = False) -> bytes:
    """The ranked list as CSV (spreadsheet-safe text)."""
    frame = (portfolio.chosen if chosen_only else portfolio.table).copy()
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = frame[column].map(spreadsheet_safe)
    return frame.to_csv(index=False).encode("utf-8")


def portfolio_geojson(portfolio: Portfolio) -> str:
    """The chosen sites as GeoJSON (EPSG:4326); an empty collection without geometry."""
    sites = portfolio.sites()
    if sites is None or sites.empty:
        return json.dumps({"type": "FeatureCollection", "features": []})
    return sites.to_json(drop_id=True, to_wgs84=True)


# --------------------------------------------------------------------------- exports


def export_files(portfolio: Portfolio, *, simulated: bool = False) -> dict[str, bytes]:
    """The quick downloads of a portfolio: ``csv``, ``geojson`` and ``gpkg`` bytes.

    Uses the engine's writers (:mod:`hotspot_env.interventions.workorders`:
    deterministic columns, every candidate) when the portfolio came from the
    engine, else the generic ones of this module. CSV text is made
    spreadsheet-safe. ``gpkg`` is absent when no site has a location. The
    printable sheet is :func:`work_orders_html` (slower: it draws maps).
    """
    out: dict[str, bytes] = {}
    frame = _output_frame(portfolio)
    if frame is not None:
        from hotspot_env.interventions import workorders

        safe = frame.copy()
        for col in safe.columns:
            if col != safe.geometry.name and safe[col].dtype == object:
                safe[col] = safe[col].map(spreadsheet_safe)
        out["csv"] = workorders.csv_text(safe).encode("utf-8")
        out["geojson"] = workorders.geojson_text(frame).encode("utf-8")
        if len(frame):
            out["gpkg"] = _gpkg_bytes(frame)
        return out
    out["csv"] = portfolio_csv(portfolio)
    out["geojson"] = portfolio_geojson(portfolio).encode("utf-8")
    sites = portfolio.sites()
    if sites is not None and len(sites):
        out["gpkg"] = _gpkg_bytes(sites)
    return out


def work_orders_html(portfolio: Portfolio, *, simulated: bool = False,
                     maps: bool = True) -> bytes:
    """The printable work-order sheet: the engine's (with district maps) when available."""
    if portfolio.result is not None and portfolio.ranking is not None:
        from hotspot_env.interventions import workorders

        return workorders.workorders_html(portfolio.result, portfolio.ranking,
                                          maps=maps).encode("utf-8")
    return work_order_sheet(portfolio, simulated=simulated).encode("utf-8")


def _output_frame(portfolio: Portfolio) -> gpd.GeoDataFrame | None:
    """The engine's published rows (``workorders.OUTPUT_COLUMNS``) from the fast table."""
    table = portfolio.engine_table
    if table is None or portfolio.result is None:
        return None
    from hotspot_env.interventions.workorders import published_rows

    return published_rows(table, portfolio.result.grid.crs,
                          portfolio.result.parameters.get("privacy", "internal"))


def _gpkg_bytes(frame: gpd.GeoDataFrame) -> bytes:
    import tempfile
    from pathlib import Path

    frame = frame.copy()
    for column in frame.columns:
        if column != frame.geometry.name and frame[column].dtype == object:
            frame[column] = frame[column].astype(str)
    with tempfile.TemporaryDirectory(prefix="hotspot_env_gpkg_") as tmp:
        path = Path(tmp) / "interventions.gpkg"
        frame.to_file(path, layer="interventions", driver="GPKG", engine="pyogrio")
        return path.read_bytes()


# --------------------------------------------------------------------------- work orders


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float | np.floating):
        return f"{value:,.{digits}f}"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    return str(value)


def work_order_sheet(portfolio: Portfolio, *, title: str = "Work orders",
                     simulated: bool = False, currency: str = "USD") -> str:
    """A printable HTML sheet: one block per chosen site, for crews.

    Every value is HTML-escaped; the page loads nothing from anywhere.

    Parameters
    ----------
    portfolio : Portfolio
    title : str
    simulated : bool
        Print a "simulated incidents" warning on the sheet.
    currency : str
    """
    chosen = portfolio.chosen
    today = dt.date.today().isoformat()
    esc = html.escape
    blocks = []
    for _, row in chosen.iterrows():
        where = row.get("street")
        lat, lon = row.get("lat"), row.get("lon")
        coords = (f"{lat:.5f}, {lon:.5f}" if isinstance(lat, float) and isinstance(lon, float)
                  and math.isfinite(lat) and math.isfinite(lon) else "–")
        interval = ""
        if "prevented_low" in row and "prevented_high" in row:
            interval = f" ({_fmt(row.get('prevented_low'))}–{_fmt(row.get('prevented_high'))})"
        blocks.append(
            '<section class="wo">'
            f"<h2>#{esc(_fmt(row.get('rank')))} · {esc(type_label(str(row.get('type', '–'))))}"
            f"</h2><table>"
            f"<tr><th>Site ID</th><td>{esc(_fmt(row.get('site_id')))}</td></tr>"
            f"<tr><th>Where</th><td>{esc(_fmt(where))} · {esc(coords)}</td></tr>"
            f"<tr><th>Cell</th><td>{esc(_fmt(row.get('cell_id')))}</td></tr>"
            f"<tr><th>Budgeted cost</th><td>{esc(_fmt(row.get('cost'), 0))} {esc(currency)}"
            "</td></tr>"
            f"<tr><th>Expected prevented incidents</th><td>{esc(_fmt(row.get('prevented'), 2))}"
            f"{esc(interval)}</td></tr>"
            + (f"<tr><th>Residents' note</th><td>{esc(str(row.get('note')))}</td></tr>"
               if isinstance(row.get("note"), str) and row.get("note") else "")
            + "<tr><th>Done (date, initials)</th><td class=blank></td></tr>"
            "<tr><th>Crew notes</th><td class=blank></td></tr></table></section>")
    warning = ('<p class="sim">Made from <strong>simulated incidents</strong> (demo): not for '
               "real work.</p>") if simulated else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #111; }}
h1 {{ font-size: 22px; margin: 0 0 .2em; }}
.sim {{ background: #fff3cd; border: 1px solid #d39e00; padding: .5em .8em; }}
.wo {{ border: 1px solid #999; padding: .6em 1em; margin: 1em 0; page-break-inside: avoid; }}
.wo h2 {{ font-size: 17px; margin: .2em 0 .5em; }}
th {{ text-align: left; padding-right: 1.5em; vertical-align: top; width: 16em; }}
td.blank {{ border-bottom: 1px solid #555; height: 2.2em; min-width: 20em; }}
@media print {{ body {{ margin: 1cm; }} }}
</style></head><body>
<h1>{esc(title)}</h1>
<p>{esc(today)} · {len(chosen):,} sites · budget {esc(_fmt(portfolio.budget, 0))}
{esc(currency)} · cost {esc(_fmt(portfolio.total_cost, 0))} {esc(currency)}</p>
{warning}
{''.join(blocks) or '<p>No site fits the budget.</p>'}
<p>Places, never people: sites are places; no incident is listed.</p>
</body></html>
"""
