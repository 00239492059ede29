"""The validation verdict says "better" or "worse" only when the interval excludes zero."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from hotspot_env.app.emptiness import ranking_caution
from hotspot_env.models import validation
from hotspot_env.models.validation.tables import report_section


def _comp(difference: float, low: float, high: float) -> dict:
    """A comparison as :func:`validation.compare` returns it, with a hand-made interval."""
    base = 0.272
    return {"treatable_share": 0.05, "best_baseline": "long_run_counts",
            "pei": {"forecast": base + difference, "long_run_counts": base},
            "difference": difference, "ci_low": low, "ci_high": high}


@pytest.mark.parametrize(("difference", "low", "high", "expected"), [
    (0.050, 0.010, 0.090, "better"),            # excludes zero, above
    (0.009, -0.074, 0.075, "no clear difference"),  # São Paulo's: includes zero
    (-0.002, -0.010, 0.004, "no clear difference"),  # includes zero, point below
    (0.020, 0.0, 0.040, "no clear difference"),  # touches zero: not excluded
    (-0.050, -0.090, -0.010, "worse"),          # excludes zero, below
    (0.050, math.nan, math.nan, "no clear difference"),  # no interval: no claim
])
def test_outcome_follows_the_interval_not_the_point(difference, low, high, expected):
    assert validation.outcome(difference, low, high) == expected


def test_no_difference_no_outcome():
    assert validation.outcome(math.nan, -0.1, 0.1) is None
    assert validation.outcome(None, None, None) is None


def test_sentence_better_only_above_zero():
    text = validation.verdict_sentence(_comp(0.050, 0.010, 0.090))
    assert text.startswith("The validated forecast ranked the held-out period better than "
                           "long-run counts (all past periods)")
    assert "0.322 against 0.272" in text and "+0.050" in text
    assert "95 % interval +0.010 to +0.090" in text
    assert validation.caution(_comp(0.050, 0.010, 0.090)) == ""


def test_sentence_includes_zero_says_no_clear_difference():
    comp = _comp(0.009, -0.074, 0.075)
    text = validation.verdict_sentence(comp)
    assert "better" not in text and "worse" not in text
    assert ("no clear difference from long-run counts (all past periods), the best naive "
            "baseline, on the held-out period (interval includes zero)") in text
    assert "95 % interval -0.074 to +0.075" in text
    warning = validation.caution(comp)
    assert warning.startswith("Not shown to beat counting") and validation.GUIDE_RULE in warning
    assert "(the 95 % interval of the difference includes zero)" in warning


def test_sentence_worse_only_below_zero():
    comp = _comp(-0.050, -0.090, -0.010)
    text = validation.verdict_sentence(comp)
    assert "ranked the held-out period worse than long-run counts" in text
    assert "better" not in text
    assert "counting past incidents per cell predicted the next period better" in \
        validation.caution(comp)


def test_json_round_trip_keeps_the_wording():
    """The manifest stores NaN as null: the sentence and the caution read it the same."""
    comp = validation.tables.json_safe(_comp(0.05, math.nan, math.nan))
    assert comp["ci_low"] is None
    assert "(no interval to judge by)" in validation.verdict_sentence(comp)
    assert "no bootstrap interval" in validation.verdict_sentence(comp)
    assert "(no interval of the difference could be computed)" in validation.caution(comp)


def test_compare_writes_the_outcome_and_the_one_sentence():
    rng = np.random.default_rng(3)
    lam = rng.gamma(0.3, 2.0, 4000)
    obs = rng.poisson(lam).astype(float)
    noisy = lam + rng.normal(0, 3.0, lam.size)
    comp = validation.compare({"forecast": lam, "last_period_counts": noisy,
                               "long_run_counts": noisy, "classic_kde": noisy}, obs, 0.05,
                              n_resamples=300)
    assert comp["ci_low"] > 0 and comp["outcome"] == "better"
    assert comp["verdict"] == validation.verdict_sentence(comp)
    # the same rankings the other way round: worse
    comp = validation.compare({"forecast": noisy, "last_period_counts": lam,
                               "long_run_counts": noisy, "classic_kde": noisy}, obs, 0.05,
                              n_resamples=300)
    assert comp["ci_high"] < 0 and comp["outcome"] == "worse"
    assert "worse than last period's counts" in comp["verdict"]


def _analysis_with(comp: dict) -> SimpleNamespace:
    table = pd.DataFrame({"method": ["forecast", "long_run_counts"] * 3,
                          "metric": ["pai", "pai", "pei", "pei", "poisson_deviance",
                                     "poisson_deviance"],
                          "area_pct": [5.0] * 4 + [np.nan] * 2, "decile": [np.nan] * 6,
                          "value": [5.6, 5.4, 0.28, 0.27, 421.0, 722.0]})
    table.attrs["meta"] = {"n_train": 284, "n_test": 64, "split_date": "2021-12-30",
                           "comparison": comp}
    return SimpleNamespace(validation=table, arrays={"forecast": np.ones(3)},
                           parameters={"validation": validation.tables.json_safe(comp)})


def test_report_and_explore_say_it_first_when_not_better():
    unclear = _analysis_with(_comp(0.009, -0.074, 0.075))
    title, body = report_section(unclear)
    assert body.startswith("<p><strong>Not shown to beat counting")
    assert "interval includes zero" in body
    assert ranking_caution(unclear).startswith("Not shown to beat counting")
    clear = _analysis_with(_comp(0.050, 0.010, 0.090))
    assert "<strong>" not in report_section(clear)[1]
    assert ranking_caution(clear) == ""
    unclear.arrays = {}  # no forecast shown: nothing to caution about
    assert ranking_caution(unclear) == ""
    assert ranking_caution(_analysis_with({})) == ""
