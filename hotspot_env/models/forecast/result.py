"""The default forecast as fitted (:class:`ForecastResult`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from hotspot_env.core.choices import Choice
from hotspot_env.models.forecast.constants import TREATABLE_SHARE, UNIFORM_SHARE
from hotspot_env.models.forecast.rankers import Candidate


@dataclass
class ForecastResult:
    """The default forecast.

    Attributes
    ----------
    forecast : ndarray
        Expected incidents per cell over the next year (``grid.shape``, NaN
        outside the study area); ordered as the chosen ranking.
    next_period : ndarray
        Expected incidents per cell over the next period.
    model : Candidate or None
        The chosen ranking model (None for the rule-of-thumb fallback).
    description : str
        The model in plain words.
    bandwidth_m : float
        Kernel radius (m) of the model (0 for unsmoothed counts).
    period : str
        Period name ("year"...), or "none" without cross-validation.
    period_days : float
        Period length (days).
    n_periods : int
        Periods spanned (gaps included).
    gaps : list of str
        Start dates of the periods left out as gaps in recording.
    cv : DataFrame
        Cross-validation table (:func:`cross_validate`; empty without it).
    calibration : dict
        ``a``, ``b``, fold deviances of the calibrated and rescaled forecasts, rule.
    choices : list of Choice
        Announcements.
    tuned : bool
        True when the model came from cross-validation.
    treatable_share : float
        Share of the area at which candidates were ranked.
    baseline : str or None
        Plain name of the naive baseline when one won.
    """

    forecast: np.ndarray
    next_period: np.ndarray
    model: Candidate | None
    description: str
    bandwidth_m: float
    period: str
    period_days: float
    n_periods: int
    gaps: list[str]
    cv: pd.DataFrame
    calibration: dict[str, Any]
    choices: list[Choice]
    tuned: bool
    treatable_share: float = TREATABLE_SHARE
    baseline: str | None = None

    def cv_pei(self, name: str | None = None) -> float:
        """Mean fold PEI of candidate ``name`` (default: the chosen one), NaN without CV."""
        if self.cv.empty:
            return float("nan")
        name = name or (self.model.name if self.model else "")
        row = self.cv.loc[self.cv["candidate"] == name, "pei"]
        return float(row.iloc[0]) if len(row) else float("nan")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready parameters (NaN scores, without cross-validation, become None)."""
        def finite(v: float) -> float | None:
            return v if isinstance(v, float) and math.isfinite(v) else None

        m = self.model
        return {"model": m.name if m else "rule-of-thumb KDE",
                "description": self.description,
                "base": m.base if m else "all", "lookback": m.lookback if m else None,
                "radius_m": self.bandwidth_m, "blend": str(m.blend) if m else "smooth",
                "naive_baseline_won": self.baseline,
                "period": self.period, "period_days": self.period_days,
                "n_periods": self.n_periods, "recording_gaps": list(self.gaps),
                "tuned_by_cross_validation": self.tuned,
                "criterion": f"PEI at {100 * self.treatable_share:g} % of the area",
                "treatable_share": self.treatable_share,
                "cv_folds": int(self.cv["folds"].max()) if not self.cv.empty else 0,
                "cv_pei": finite(self.cv_pei()),
                "cv_pei_long_run_counts": finite(self.cv_pei("all")),
                "cv_pei_last_period_counts": finite(self.cv_pei("last1")),
                "calibration": {k: finite(v) if isinstance(v, float) else v
                                for k, v in self.calibration.items()},
                "uniform_share": UNIFORM_SHARE, "units": "incidents per year"}
