"""The candidate rankings: a base of past counts and a smoother."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hotspot_env.models.forecast.constants import BLENDS, MAX_LOOKBACK, TIEBREAK
from hotspot_env.models.forecast.cube import CountStack


@dataclass(frozen=True)
class Candidate:
    """One ranking model: a base of past counts and a smoother.

    Attributes
    ----------
    base : str
        "all" (long-run counts), "last" (last ``lookback`` periods) or "recent"
        (weights halving each period back).
    lookback : int or None
        Periods in the "last" base.
    radius_m : float
        Kernel radius (0 without smoothing).
    blend : float or str
        "none" (counts only), "tiebreak", a weight ``a`` of the smoothed
        counts added to the counts, or "smooth" (the smoothed counts only).
    """

    base: str
    lookback: int | None = None
    radius_m: float = 0.0
    blend: float | str = "none"

    @property
    def name(self) -> str:
        """Short label, e.g. ``all+0.1K450`` or ``last1``."""
        b = {"all": "all", "recent": "recent"}.get(self.base, f"last{self.lookback}")
        return self._with_blend(b, tiebreak="+tieK{radius:g}", smooth="_K{radius:g}",
                                weight="+{blend:g}K{radius:g}")

    @property
    def baseline(self) -> str | None:
        """Plain name when this candidate is a naive baseline, else None."""
        if self.blend != "none":
            return None
        if self.base == "all":
            return "long-run counts (every past period, unsmoothed)"
        if self.base == "last" and self.lookback == 1:
            return "last period's counts"
        return None

    def describe(self, period: str = "period") -> str:
        """Plain words, e.g. "counts of every past year plus 0.1 x their 450 m smooth"."""
        base = {"all": f"counts of every past {period}",
                "recent": f"recency-weighted counts (halving each {period} back)"}.get(
            self.base, f"counts of the last {self.lookback} {period}(s)")
        return self._with_blend(base,
                                tiebreak=", ties broken by the neighbours within {radius:,.0f} m",
                                smooth=", smoothed over {radius:,.0f} m",
                                weight=" plus {blend:g} x their {radius:,.0f} m smooth")

    def _with_blend(self, base: str, *, tiebreak: str, smooth: str, weight: str) -> str:
        """``base`` followed by the template of this candidate's blend (none: nothing).

        The templates are filled with ``blend`` (a weight's number) and ``radius``
        (metres), so a label and its plain words follow the same cases.
        """
        if self.blend == "none":
            return base
        template = {"tiebreak": tiebreak, "smooth": smooth}.get(self.blend, weight)
        return base + template.format(blend=self.blend, radius=self.radius_m)

    def weights(self, t: int) -> np.ndarray:
        """Weights of the ``t`` past periods (oldest first), summing to 1."""
        if self.base == "all":
            w = np.ones(t)
        elif self.base == "last":
            w = (np.arange(t) >= t - min(self.lookback or 1, t)).astype(float)
        else:
            w = 0.5 ** np.arange(t - 1, -1, -1, dtype=float)
        return w / w.sum()

    def score(self, stack: CountStack, t: int, top: float | None = None) -> np.ndarray:
        """Ranking score per cell for recorded period ``t`` from periods ``< t``.

        ``top`` is the tie-break's largest smoothed value over the whole area
        (default: over ``stack``; a tile is given the tiles' maximum).
        """
        w = self.weights(t)
        counts = w @ stack.counts[:t]
        if self.blend == "none":
            return counts
        smooth = w @ stack.kde(self.radius_m)[:t]
        if self.blend == "smooth":
            return smooth
        if self.blend == "tiebreak":
            # below the smallest positive weight: reorders no two distinct counts
            top = float(smooth.max(initial=0.0)) if top is None else top
            return counts + (TIEBREAK * float(w[w > 0].min()) / top) * smooth if top > 0 \
                else counts
        return counts + float(self.blend) * smooth

    def smooth_top(self, stack: CountStack, t: int) -> float:
        """The largest smoothed value of :meth:`score` over ``stack`` (0 without a tie-break)."""
        if self.blend != "tiebreak":
            return 0.0
        return float((self.weights(t) @ stack.kde(self.radius_m)[:t]).max(initial=0.0))


def candidates(n_recorded: int, radii_m: list[float]) -> list[Candidate]:
    """Every candidate for ``n_recorded`` periods, simplest first (ties go to the first).

    The naive baselines come first (long-run counts, then last period's
    counts), then the other bases, then each base with each smoother.
    """
    bases = [Candidate("all")] + [Candidate("last", L) for L in
                                  range(1, min(MAX_LOOKBACK, n_recorded - 1) + 1)]
    if n_recorded >= 2:
        bases.append(Candidate("recent"))
    out = list(bases)
    for blend in ("tiebreak", *BLENDS, "smooth"):
        for b in bases:
            for h in radii_m:
                out.append(Candidate(b.base, b.lookback, float(h), blend))
    return out
