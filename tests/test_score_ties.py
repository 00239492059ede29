"""One tie rule for every ranking score: forecast CV (one machine and tiled), backtest, validation.

A ranking whose cells are equal in exact arithmetic but come out a few ulps
apart (sums in different orders) must score as the exactly tied ranking does:
the tied cells count pro rata at the cut-off (the expected value of random
tie-breaking), in every place that scores a ranking. Each test also shows
that the exact-equality rule gives another figure, so it can fail.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pytest
from pyproj import CRS

from hotspot_env.core.grid import Grid
from hotspot_env.models import scores, topk
from hotspot_env.models.forecast import CountStack, cross_validate, fitting
from hotspot_env.models.forecast.periods import Periods
from hotspot_env.models.validation import compare, comparison, score_methods

N_ROWS, N_COLS = 5, 8
N = N_ROWS * N_COLS  # 5 % of 40 cells: k = 2
TIED = [3, 17, 30]  # the three cells equal in exact arithmetic, apart in the tiles below


def ranking() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(pred, exact, obs)``: a ranking with three cells at 0.6 computed as sums in different
    orders, the same ranking with those cells exactly equal, and the observed counts.

    One clear top cell (2.0, 3 incidents), the three 0.6 cells (1, 4 and 1 incidents, the
    one with 1 is the ulp-largest), 36 low distinct cells (one incident in one of them).
    """
    pred = 0.001 * np.arange(N, dtype=float)  # low and distinct, far below 0.6
    pred[0] = 2.0
    pred[TIED] = [0.1 + 0.2 + 0.3, 0.3 + 0.2 + 0.1, 0.2 + 0.3 + 0.1]
    exact = pred.copy()
    exact[TIED] = 0.6
    obs = np.zeros(N)
    obs[0], obs[TIED], obs[10] = 3.0, [1.0, 4.0, 1.0], 1.0
    return pred, exact, obs


# by hand, k = 2 at 5 %: the top cell (3) and one of three tied cells, pro rata (1 + 4 + 1) / 3
HITS = 3.0 + (1.0 + 4.0 + 1.0) / 3  # 5 of 10 incidents
HIT_RATE, PAI, PEI = HITS / 10.0, (HITS / 10.0) / (2 / N), HITS / (4.0 + 3.0)
# the exact rule: 0.1 + 0.2 + 0.3 is the largest of the three, alone at the cut-off
HITS_EXACT = 3.0 + 1.0


def test_the_constructed_cells_are_equal_in_exact_arithmetic_but_not_in_floats():
    pred, _, _ = ranking()
    exact = [sum(Fraction(str(a)) for a in order)
             for order in ((0.1, 0.2, 0.3), (0.3, 0.2, 0.1), (0.2, 0.3, 0.1))]
    assert len(set(exact)) == 1 and exact[0] == Fraction(3, 5)
    assert np.unique(pred[TIED]).size == 2  # a few ulps apart in floating point
    assert np.ptp(pred[TIED]) <= 2 * np.spacing(0.6)


def test_pro_rata_is_the_mean_over_every_order_of_the_tied_cells():
    """Independent reference: enumerate the 3! orders of the tied cells of the exactly tied
    ranking; the mean observed total in the top 2 is the pro rata hand figure."""
    _, exact, obs = ranking()
    totals = []
    for perm in itertools.permutations(range(len(TIED))):
        key = np.zeros(N)
        key[TIED] = perm
        order = np.lexsort((key, -exact))
        totals.append(obs[order[:2]].sum())
    assert np.mean(totals) == pytest.approx(HITS, abs=1e-12)
    assert scores.top_hits(exact, obs, 2) == pytest.approx(HITS, abs=1e-12)


def test_validation_scores_ulps_apart_as_exact_ties_and_the_exact_rule_differs():
    pred, exact, obs = ranking()
    table = score_methods({"ulps": pred, "exact": exact}, obs, area_pcts=(5.0,))
    for method in ("ulps", "exact"):
        got = table[table["method"] == method].set_index("metric")["value"]
        assert got["hit_rate"] == pytest.approx(HIT_RATE, abs=1e-12)
        assert got["pai"] == pytest.approx(PAI, abs=1e-12)
        assert got["pei"] == pytest.approx(PEI, abs=1e-12)
    # the exact-equality rule ranks the ulp-largest cell alone: another figure
    assert scores.hit_rate(pred, obs, 5.0, tie_rtol=0.0) == pytest.approx(HITS_EXACT / 10)
    assert scores.pai(pred, obs, 5.0, tie_rtol=0.0) == pytest.approx(HITS_EXACT / 10 / (2 / N))
    assert scores.pei(pred, obs, 5.0, tie_rtol=0.0) == pytest.approx(HITS_EXACT / 7)
    assert HITS_EXACT != pytest.approx(HITS)


def test_validation_comparison_and_its_bootstrap_see_the_same_ties(monkeypatch):
    """PEI of the forecast with ties a few ulps apart and of a baseline with exact ties are
    equal, and so is every bootstrap resample of them; with the exact rule they are not."""
    pred, exact, obs = ranking()
    out = compare({"forecast": pred, "last_period_counts": exact}, obs, 0.05, n_resamples=200)
    assert out["pei"]["forecast"] == pytest.approx(PEI, abs=1e-12)
    assert out["difference"] == 0.0
    diffs = comparison.pei_difference_bootstrap(pred, exact, obs, 0.05, n_resamples=200)
    assert np.all(diffs[np.isfinite(diffs)] == 0.0) and np.isfinite(diffs).sum() > 150
    monkeypatch.setattr(comparison, "ranking_tolerance", lambda pred: 0.0)  # the exact rule
    diffs = comparison.pei_difference_bootstrap(pred, exact, obs, 0.05, n_resamples=200)
    assert np.any(diffs[np.isfinite(diffs)] != 0.0)


@dataclass(frozen=True)
class FixedRanking:
    """A candidate whose score is a given ranking (what a fitted smoother would return)."""

    pred: np.ndarray
    name: str = "fixed"
    base: str = "fixed"
    lookback: int | None = None
    radius_m: float | None = None
    blend: str = "none"

    def score(self, stack: CountStack, t: int) -> np.ndarray:
        return self.pred


def test_forecast_cross_validation_scores_the_ties_pro_rata():
    pred, exact, obs = ranking()
    stack = CountStack(grid=None, padded=np.zeros((2, 1, 1)),  # type: ignore[arg-type]
                       counts=np.vstack([np.zeros(N), obs]), pad=0)
    cv = cross_validate(stack, [FixedRanking(pred), FixedRanking(exact, name="exact")],
                        share=0.05, max_folds=1)
    assert cv["pei"].tolist() == pytest.approx([PEI, PEI], abs=1e-12)
    assert cv.loc[0, "pei"] == cv.loc[1, "pei"]


def test_tiled_cross_validation_adds_the_same_ties_over_parts():
    """The tiled CV's exact distributed selection (:mod:`hotspot_env.models.topk`) with the
    tied cells in different parts gives the one-array figure."""
    pred, _, obs = ranking()
    parts = np.split(np.arange(N), [10, 25])  # TIED = 3, 17, 30: one in each part
    k, tol = 2, scores.ranking_tolerance(pred)
    lo, hi = topk.bracket([topk.sketch(pred[p], 4) for p in parts], k)
    tables = [topk.bracket_table(pred[p], obs[p], lo, hi, tol) for p in parts]
    assert topk.part_hits(tables, k, tol) == pytest.approx(HITS, abs=1e-12)
    assert topk.part_hits(tables, k, 0.0) == pytest.approx(HITS_EXACT, abs=1e-12)


def test_backtest_scores_the_forecast_with_the_same_ties(monkeypatch):
    """The backtest's PEI of the forecast (its fit replaced by the constructed ranking: only
    the scoring is under test) is the pro rata hand figure."""
    pred, _, obs = ranking()
    grid = Grid(CRS.from_epsg(32633), 0.0, 0.0, 100.0, N_COLS, N_ROWS,
                np.ones((N_ROWS, N_COLS), bool))
    cx, cy = (c[grid.mask] for c in grid.centres())
    periods = Periods("year", 365.0, np.datetime64("2024-01-01T00:00:00", "ns"), 3)
    cells = np.repeat(np.arange(N), obs.astype(int))  # the test year's incidents
    x = np.r_[cx[cells], cx[[5, 6]]]
    y = np.r_[cy[cells], cy[[5, 6]]]
    day = np.timedelta64(10, "D")
    times = np.r_[np.full(cells.size, periods.start(2) + day),
                  [periods.start(0) + day, periods.start(1) + day]]

    class Fit:
        next_period = pred.reshape(N_ROWS, N_COLS)

        def to_dict(self) -> dict[str, str]:
            return {"model": "fixed"}

    monkeypatch.setattr(fitting, "fit_forecast", lambda *a, **k: Fit())
    table = fitting.backtest(grid, x, y, times, n_tests=1, treatable_share=0.05,
                             periods=periods)
    assert table["incidents"].tolist() == [10]
    assert table.loc[0, "pei_forecast"] == pytest.approx(PEI, abs=1e-12)
    assert scores.pei(pred, obs, 5.0, tie_rtol=0.0) == pytest.approx(HITS_EXACT / 7)


@pytest.mark.parametrize("seed", range(4))
def test_resample_weights_count_a_cell_that_many_times(seed):
    """``top_hits`` with rows of weights (the bootstrap's variant) equals the one-array rule on
    the cells repeated by their weights: ties within the tolerance and all."""
    rng = np.random.default_rng(seed)
    n = 300
    pred = rng.integers(0, 12, n) / 7.0 + rng.integers(-2, 3, n) * np.spacing(1.0)
    obs = rng.poisson(1.0, n).astype(float)
    w = rng.poisson(1.0, (5, n)).astype(float)
    k, tol = 40, scores.ranking_tolerance(pred)
    got = scores.top_hits(pred, obs, k, tol, w)
    for r in range(w.shape[0]):
        reps = w[r].astype(int)
        ref = scores.top_hits(np.repeat(pred, reps), np.repeat(obs, reps), k, tol)
        assert got[r] == pytest.approx(ref, abs=1e-9)


def test_the_risk_headline_keeps_ulps_apart_ties_together():
    """The risk terrain headline flags the top share with every tied cell kept (its stated
    rule): the three cells equal in exact arithmetic are all flagged, not the ulp-largest one."""
    from hotspot_env.models import rtm

    pred, _, obs = ranking()
    score = 10.0 * pred  # above the no-factor score 1 where it matters
    assert np.unique(score[TIED]).size == 2
    _, nums = rtm.headline(score, obs, np.ones(N, bool), 5.0)  # k = 2 of 40 cells
    assert nums["n_cells"] == 4 and nums["area_pct"] == pytest.approx(10.0)
    assert nums["incident_pct"] == pytest.approx(90.0)  # 3 + 1 + 4 + 1 of 10
    exact = scores.top_cells(score, 2, tie_rtol=0.0)  # the exact rule: only the ulp-largest
    assert exact.sum() == 2 and obs[exact].sum() == 4.0
