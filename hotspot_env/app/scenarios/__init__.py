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

from hotspot_env.app.scenarios.engine import (
    DEFAULT_WEIGHTS,
    EngineContractError,
    EngineView,
    expand_weights,
    ranked_table,
)
from hotspot_env.app.scenarios.exports import export_files, work_order_sheet, work_orders_html
from hotspot_env.app.scenarios.portfolio import (
    COLUMN_SYNONYMS,
    PORTFOLIO_COLUMNS,
    Portfolio,
    compare,
    normalise,
    portfolio_csv,
    portfolio_geojson,
    scenario_csv,
)
from hotspot_env.app.scenarios.proposals import (
    MAX_NOTE_CHARS,
    MAX_PROPOSALS,
    Proposal,
    intervention_types,
    make_proposal,
    proposals_csv,
    proposals_frame,
    proposals_geojson,
    type_label,
)
from hotspot_env.outputs.labels import WEIGHT_GROUPS, WEIGHT_LABELS

__all__ = [
    "COLUMN_SYNONYMS",
    "DEFAULT_WEIGHTS",
    "MAX_NOTE_CHARS",
    "MAX_PROPOSALS",
    "PORTFOLIO_COLUMNS",
    "WEIGHT_GROUPS",
    "WEIGHT_LABELS",
    "EngineContractError",
    "EngineView",
    "Portfolio",
    "Proposal",
    "compare",
    "expand_weights",
    "export_files",
    "intervention_types",
    "make_proposal",
    "normalise",
    "portfolio_csv",
    "portfolio_geojson",
    "proposals_csv",
    "proposals_frame",
    "proposals_geojson",
    "ranked_table",
    "scenario_csv",
    "type_label",
    "work_order_sheet",
    "work_orders_html",
]
