"""The one sentence that says whether the forecast beat counting, judged by its interval.

A point difference of +0.009 with a 95 % interval from -0.074 to +0.075 is no evidence that the
forecast ranks better than counting: only an interval that excludes zero says "better" or
"worse". Every face (the CLI's announcement, the report, the manifest, the model card and the
app) shows the sentence made here.
"""

from __future__ import annotations

import math
from typing import Any

from hotspot_env.models.validation.constants import LABELS

#: The three outcomes of the comparison (and None when it could not be made).
BETTER, UNCLEAR, WORSE = "better", "no clear difference", "worse"

#: Why a ranking that did not clearly win still matters to the reader.
GUIDE_RULE = ("A ranking is worth showing only if it predicts next period's incidents better "
              "than counting past incidents per cell (all past periods, and last period).")


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(float(value))


def outcome(difference: float | None, ci_low: float | None,
            ci_high: float | None) -> str | None:
    """``better``, ``no clear difference`` or ``worse`` from the interval of the difference.

    Parameters
    ----------
    difference : float or None
        Forecast minus best baseline (PEI at the treatable share); None or NaN when the
        rankings could not be compared.
    ci_low, ci_high : float or None
        The 95 % bootstrap interval of that difference (None or NaN without one).

    Returns
    -------
    str or None
        :data:`BETTER` only when the whole interval lies above zero, :data:`WORSE` only when it
        lies below zero, :data:`UNCLEAR` otherwise (an interval that includes zero, or none at
        all); None when there is no difference to judge.
    """
    if not _finite(difference):
        return None
    if not (_finite(ci_low) and _finite(ci_high)):
        return UNCLEAR
    if ci_low > 0:
        return BETTER
    if ci_high < 0:
        return WORSE
    return UNCLEAR


def verdict_sentence(comp: dict[str, Any]) -> str:
    """The comparison of :func:`~hotspot_env.models.validation.compare` in one plain sentence.

    ``comp`` needs ``pei`` (per method), ``best_baseline``, ``difference``, ``ci_low``,
    ``ci_high`` and ``treatable_share``.
    """
    best = comp.get("best_baseline")
    pei = comp.get("pei") or {}
    d = comp.get("difference")
    result = outcome(d, comp.get("ci_low"), comp.get("ci_high"))
    if best is None or result is None:
        return "no incidents in the test period: the rankings could not be compared"
    name = LABELS.get(best, str(best))
    share = f"{100 * float(comp.get('treatable_share', 0.05)):g} %"
    has_interval = _finite(comp.get("ci_low")) and _finite(comp.get("ci_high"))
    interval = (f"95 % interval {comp['ci_low']:+.3f} to {comp['ci_high']:+.3f}"
                if has_interval else "no bootstrap interval")
    numbers = (f"PEI at {share} of the area {pei.get('forecast', math.nan):.3f} against "
               f"{pei.get(best, math.nan):.3f}, a difference of {d:+.3f} ({interval})")
    if result == BETTER:
        return (f"The validated forecast ranked the held-out period better than {name}, the "
                f"best naive baseline: {numbers}, above zero.")
    if result == WORSE:
        return (f"The validated forecast ranked the held-out period worse than {name}, the "
                f"best naive baseline: {numbers}, below zero.")
    why = "interval includes zero" if has_interval else "no interval to judge by"
    return (f"The validated forecast showed no clear difference from {name}, the best naive "
            f"baseline, on the held-out period ({why}): {numbers}.")


def caution(comp: dict[str, Any] | None) -> str:
    """What a page must say prominently when the forecast did not clearly beat counting.

    Returns "" when the comparison says :data:`BETTER` (or was not made: no dates, no test
    incidents), else a short paragraph naming the outcome and the guide's rule.
    """
    if not comp:
        return ""
    result = outcome(comp.get("difference"), comp.get("ci_low"), comp.get("ci_high"))
    if result in (None, BETTER):
        return ""
    name = LABELS.get(comp.get("best_baseline"), str(comp.get("best_baseline")))
    if result == WORSE:
        head = (f"The forecast ranked the held-out period worse than {name}: counting past "
                "incidents per cell predicted the next period better than this ranking.")
    else:
        why = ("the 95 % interval of the difference includes zero"
               if _finite(comp.get("ci_low")) and _finite(comp.get("ci_high"))
               else "no interval of the difference could be computed")
        head = (f"Not shown to beat counting: on the held-out period the forecast showed no "
                f"clear difference from {name} ({why}). Treat its order as no better than "
                "counting past incidents per cell.")
    return f"{head} {GUIDE_RULE}"
