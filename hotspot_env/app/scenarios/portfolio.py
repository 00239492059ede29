"""A ranked, budgeted set of interventions with fixed column names, and comparisons."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from hotspot_env.app.redress import spreadsheet_safe

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


def table_of(result: Any) -> pd.DataFrame | None:
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
