"""The app's view of the interventions engine: re-rank, weights, proposals scored."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd

from hotspot_env._memo import IdentityCache
from hotspot_env.app.scenarios.portfolio import Portfolio, normalise, table_of
from hotspot_env.app.scenarios.proposals import (
    Proposal,
    intervention_types,
    proposals_frame,
    type_label,
)
from hotspot_env.errors import HotspotEnvError, InputError
from hotspot_env.outputs.labels import WEIGHT_GROUPS, WEIGHT_LABELS

if TYPE_CHECKING:
    from hotspot_env.core.analysis import Analysis

#: Priority weights offered when the engine names none: what matters most.
DEFAULT_WEIGHTS: dict[str, float] = {"violence": 1.0, "property": 1.0, "youth": 1.0}


class EngineContractError(HotspotEnvError):
    """The interventions engine returned something the app cannot read."""


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
                table = table_of(result.rerank(float(budget), engine_weights))
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
