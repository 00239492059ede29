"""Public figures computed from protected information only, each checked by hand.

``tests/test_public_neighbours.py`` attacks the whole public writer with
neighbouring datasets; these tests pin each rule to a hand calculation: the
trends' protected cube and change counts, the study-area intervention mix from
k-suppressed stratum counts rounded to 10, the dark share from the protected
dark and not-dark counts, the area mix tilted to each place's published dark
share (and lighting's prevented incidents following it on the public demo), and
the work-timing shares to the nearest 10 %.
"""

from __future__ import annotations

import types

import numpy as np
import pandas as pd
import pytest
from _factor_data import box_grid

from hotspot_env.core.choices import Choice
from hotspot_env.factors import darkness
from hotspot_env.factors.base import FactorResult
from hotspot_env.interventions.public_mix import (
    area_shares,
    area_tallies,
    place_shares,
    protected_area_tally,
    public_outdoor_share,
    tilt_to_dark_share,
)
from hotspot_env.outputs.privacy import Kind, Protection
from hotspot_env.temporal.trends.cube import Cube
from hotspot_env.temporal.trends.public import protected_change_counts, protected_cube
from hotspot_env.temporal.work_timing import _percent

K = 5  # stand-in for 1..4 is round(5 / 2) = 2


def _run(public: bool) -> types.SimpleNamespace:
    return types.SimpleNamespace(protection=Protection(K) if public else None)


def test_the_trend_tests_read_the_protected_cube():
    counts = np.array([[0, 1, 4, 5, 7], [3, 0, 12, 2, 1]], dtype=np.int64)
    cube = Cube(counts, np.arange(5).astype("datetime64[D]"), "month")
    choices: list[Choice] = []
    public = protected_cube(_run(True), cube, choices)
    np.testing.assert_array_equal(public.counts, [[0, 2, 2, 5, 7], [2, 0, 12, 2, 2]])
    assert public.step == "month" and (public.starts == cube.starts).all()
    assert [c.name for c in choices] == ["trends_basis"]
    internal: list[Choice] = []
    assert protected_cube(_run(False), cube, internal) is cube and internal == []


def test_the_change_test_reads_the_released_counts():
    before = np.array([[1, 6], [0, 3]], dtype=np.int64)
    after = np.array([[4, 0], [9, 5]], dtype=np.int64)
    mask = np.array([[True, True], [False, True]])
    run = _run(True)
    b, a = protected_change_counts(run, before, after, mask)
    np.testing.assert_array_equal(b, [2, 6, 2])
    np.testing.assert_array_equal(a, [2, 0, 5])
    # the same release the gate publishes: one protection per layer
    assert run.protection.layers["change_before"].text[mask].tolist() == ["<5", "6", "<5"]
    b, a = protected_change_counts(_run(False), before, after, mask)
    np.testing.assert_array_equal(b, [1, 6, 3])
    np.testing.assert_array_equal(a, [4, 0, 5])


def test_the_public_mix_counts_are_k_suppressed_and_rounded_to_ten():
    area = np.array([3, 4, 5, 14, 15, 25, 0, 104, 96])
    choices: list[Choice] = []
    rounded = protected_area_tally(_run(True), area, choices)
    # 3, 4 below k -> 0; 5 -> 10 (half up); 14 -> 10; 15 -> 20; 25 -> 30; 104 -> 100; 96 -> 100
    np.testing.assert_array_equal(rounded, [0, 0, 10, 10, 20, 30, 0, 100, 100])
    assert [c.name for c in choices] == ["intervention_mix"]


def test_the_public_tallies_come_from_the_protected_codes():
    n_groups, n_time = 9, 4
    n_strata = n_groups * n_time
    area = np.zeros(n_strata + n_groups + n_time + 1)
    area[:n_strata] = 10          # both known: 360
    area[n_strata:n_strata + n_groups] = 20   # time unknown: 180
    area[n_strata + n_groups:-1] = 30         # category unknown: 120
    area[-1] = 40                              # neither
    assert area_tallies(area, n_time) == {"incidents": 700, "category_known": 540,
                                          "time_known": 480}


def test_the_public_outdoor_share_is_the_areas_of_rounded_counts():
    notes: dict = {}
    choices: list[Choice] = []
    assert public_outdoor_share(47, 23, K, notes, choices) is None  # no per-place shares
    assert notes["outdoor_share_area"] == pytest.approx(20 / 50)
    assert [c.value for c in choices] == [0.4]
    public_outdoor_share(47, 3, K, notes, choices)  # 3 outdoors: below k, none
    assert notes["outdoor_share_area"] == 0.0


def test_every_cell_takes_the_area_shares():
    share = np.array([0.5, 0.0, 0.25, 0.25])
    matrix = area_shares(share, 3)
    np.testing.assert_array_equal(matrix.toarray(), np.tile(share, (3, 1)))
    assert matrix.nnz == 9  # the zero share is not stored


def test_the_public_dark_share_comes_from_protected_counts():
    grid = box_grid(0, 0, 40, 10, 10)  # one row of four cells
    timed = np.array([[3.0, 1.0, 7.0, 0.0]])
    dark = np.array([[2.0, 1.0, 6.0, 0.0]])
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(timed > 0, dark / timed, np.nan)
    note = Choice("incidents_without_time", 12, "12 of 40 incidents have no time of day and are "
                  "left out of dark_share, never guessed (timed: 9 dark, 1 twilight, 1 day; "
                  "dark = sun below -6 deg)")
    result = FactorResult("darkness", {"dark_share": share, "timed_incidents": timed}, None,
                          [note], kinds={"dark_share": Kind.COUNT_DERIVED,
                                         "timed_incidents": Kind.COUNT})
    public = darkness.protected_share(result, K)
    got = public.values["dark_share"].ravel()
    # dark / not dark: 2/1 -> 2/2; 1/0 -> 2/0; 6/1 -> 6/2; no timed incident stays NaN
    np.testing.assert_allclose(got[:3], [2 / 4, 2 / 2, 6 / 8])
    assert np.isnan(got[3]) and grid.shape == share.shape
    np.testing.assert_array_equal(public.values["timed_incidents"], timed)
    (rule,) = [c.rule for c in public.choices]
    # (2 + 2 + 6) dark of (4 + 2 + 8) protected timed incidents: 71 %
    assert rule.startswith("12 of 40 incidents have no time of day")
    assert "71 % of the timed incidents in the dark" in rule and "twilight" not in rule


@pytest.mark.parametrize(("share", "internal", "public"), [
    (0.27, "27 %", "about 30 %"), (0.25, "25 %", "about 30 %"), (0.24, "24 %", "about 20 %"),
    (0.96, "96 %", "about 100 %")])
def test_timing_shares_on_a_fixed_scale(share, internal, public):
    assert _percent(share, False) == internal
    assert _percent(share, True) == public


def test_a_public_baseline_gives_every_place_the_same_mix(tmp_path):
    """The intervention baseline's per-place mix is the study area's in public mode only."""
    from hotspot_env.core.analysis import analyze
    from hotspot_env.interventions.baseline import build_baseline

    rng = np.random.default_rng(3)
    n = 800
    stamps = pd.Timestamp("2022-01-01") + pd.to_timedelta(rng.integers(0, 365 * 24, n), unit="h")
    pd.DataFrame({"lon": rng.uniform(24.91, 24.95, n), "lat": rng.uniform(60.16, 60.17, n),
                  "datetime": stamps.strftime("%Y-%m-%d %H:%M"),
                  "category": rng.choice(["robbery", "burglary", "assault"], n)}
                 ).to_csv(tmp_path / "incidents.csv", index=False)
    mixes = {}
    for mode in ("internal", "public"):
        analysis = analyze(tmp_path / "incidents.csv", bbox="24.90,60.15,24.96,60.18",
                           cell_size=100, privacy=mode)
        base = build_baseline(analysis, [(15, 19)])
        mixes[mode] = base.shares.toarray()
        if mode == "public":
            assert {c.name for c in base.choices} >= {"intervention_mix"}
            assert all(base.notes[k] % 10 == 0
                       for k in ("incidents", "category_known", "time_known"))
    assert len(np.unique(mixes["public"].round(12), axis=0)) == 1
    assert len(np.unique(mixes["internal"].round(12), axis=0)) > 1
    np.testing.assert_allclose(mixes["public"].sum(axis=1), 1.0)


# G = 2 groups x 4 time classes (bit 0 dark, bit 1 inside the window): dark 0.55, not 0.45
_AREA = np.array([0.1, 0.3, 0.1, 0.1, 0.2, 0.1, 0.05, 0.05])


def test_the_tilt_rescales_each_side_to_the_places_dark_share():
    got = tilt_to_dark_share(_AREA, np.array([0.8, 0.0, 1.0]), 4)
    # dark strata x 0.8 / 0.55, not-dark x 0.2 / 0.45 (by hand, in 55ths and 45ths)
    np.testing.assert_allclose(got[0], [2 / 45, 24 / 55, 2 / 45, 8 / 55,
                                        4 / 45, 8 / 55, 1 / 45, 4 / 55], rtol=1e-12)
    np.testing.assert_allclose(got[1], [2 / 9, 0, 2 / 9, 0, 4 / 9, 0, 1 / 9, 0], rtol=1e-12)
    np.testing.assert_allclose(got[2], [0, 6 / 11, 0, 2 / 11, 0, 2 / 11, 0, 1 / 11], rtol=1e-12)
    assert tilt_to_dark_share(_AREA, np.array([]), 4).shape == (0, 8)  # no place: no rows


def test_a_side_the_area_lacks_takes_the_other_sides_split():
    area = np.array([0.5, 0.0, 0.25, 0.0, 0.25, 0.0, 0.0, 0.0])  # nothing in the dark
    (got,) = tilt_to_dark_share(area, np.array([0.4]), 4)
    np.testing.assert_allclose(got, [0.3, 0.2, 0.15, 0.1, 0.15, 0.1, 0, 0], rtol=1e-12)


def _public_analysis(dark_share: np.ndarray | None) -> types.SimpleNamespace:
    if dark_share is None:
        return types.SimpleNamespace(factors={})
    result = FactorResult("darkness", {"dark_share": dark_share}, None, [],
                          kinds={"dark_share": Kind.COUNT_DERIVED})
    return types.SimpleNamespace(factors={"darkness": result})


def test_places_without_a_published_share_keep_the_area_mix():
    published = np.array([[0.8, np.nan, 0.0, 1.0]])  # a grid of four cells
    mix = Choice("intervention_mix", "study area, protected", "area mix; no place's own mix "
                 "is used")
    choices = [mix]
    got = place_shares(_public_analysis(published), _AREA, np.array([0, 1, 2]), 4, choices)
    np.testing.assert_allclose(got.toarray()[0], tilt_to_dark_share(_AREA, np.array([0.8]), 4)[0])
    np.testing.assert_allclose(got.toarray()[1], _AREA)
    np.testing.assert_allclose(got.toarray()[2, 1::2], 0.0)
    assert got.nnz == 8 + 8 + 4  # zero shares are not stored
    (choice,) = choices
    assert choice.value.endswith("tilted to each place's published dark share")
    assert "at the 2 of 3 places with a published dark share" in choice.rule
    # the darkness factor did not run: every place keeps the area's mix, announced as before
    choices = [mix]
    got = place_shares(_public_analysis(None), _AREA, np.array([0, 1, 2]), 4, choices)
    np.testing.assert_allclose(got.toarray(), np.tile(_AREA, (3, 1)))
    assert choices == [mix]
    # no kept cell at all (a study area without a baseline): an empty matrix
    got = place_shares(_public_analysis(published), _AREA, np.array([], dtype=np.int64), 4, [mix])
    assert got.shape == (0, 8)
    # no published share at any kept cell (no incident has a time): the area mix, as announced
    choices = [mix]
    got = place_shares(_public_analysis(published), _AREA, np.array([1]), 4, choices)
    np.testing.assert_allclose(got.toarray(), _AREA[None])
    assert choices == [mix]


@pytest.fixture(scope="module")
def public_demo():
    from hotspot_env.inputs.demo import run_demo

    return run_demo(privacy="public")


def _far_apart(cells: np.ndarray, n_cols: int, picks: list[np.ndarray]) -> list[int]:
    """One position from each group of candidates, each at least 3 cells from the others."""
    chosen: list[int] = []
    for group in picks:
        for pos in group:
            r, c = divmod(int(cells[pos]), n_cols)
            if all(max(abs(r - rr), abs(c - cc)) >= 3
                   for rr, cc in (divmod(int(cells[p]), n_cols) for p in chosen)):
                chosen.append(int(pos))
                break
    return chosen


def test_public_lighting_prevents_in_proportion_to_the_published_dark_share(public_demo):
    """Same baseline, published dark share 1, s and 0: streetlight upgrades prevent 1 : s : 0."""
    import dataclasses

    import geopandas as gpd

    from hotspot_env.interventions.baseline import build_baseline
    from hotspot_env.interventions.evidence import load_library
    from hotspot_env.interventions.impact import build_impact
    from hotspot_env.interventions.strata import evidence_windows

    analysis = public_demo
    library = load_library()
    full = build_baseline(analysis, evidence_windows(library))
    grid = full.grid
    published = analysis.factors["darkness"].values["dark_share"].ravel()[full.cells]
    finite = np.isfinite(published)
    # every place with a published share has it as its baseline's dark share; the others the area's
    np.testing.assert_allclose(full.dark_share()[finite], published[finite], atol=1e-12)
    np.testing.assert_allclose(full.dark_share()[~finite], full.notes["dark_share_area"],
                               atol=1e-12)
    pos = _far_apart(full.cells, grid.n_cols, [
        np.flatnonzero(published == 1.0), np.flatnonzero(finite & (published > 0.2)
                                                          & (published < 0.8)),
        np.flatnonzero(published == 0.0)])
    assert len(pos) == 3
    cells = full.cells[pos]
    order = np.argsort(cells)
    one = np.zeros(grid.shape)
    one.ravel()[cells] = 1.0  # the same baseline (1 incident a year) at the three places only
    base = dataclasses.replace(full, baseline=one, cells=cells[order],
                               shares=full.shares[np.asarray(pos)[order]])
    xs, ys = grid.centres()
    rows, cols = np.divmod(cells, grid.n_cols)
    candidates = gpd.GeoDataFrame(
        {"intervention_id": ["a", "b", "c"], "type": ["streetlight_upgrade"] * 3},
        geometry=gpd.points_from_xy(xs[rows, cols], ys[rows, cols]), crs=grid.crs)
    prevented = build_impact(candidates, library, base, seed=0).standalone()["point"]
    share = published[pos[1]]
    assert prevented[0] > 0
    np.testing.assert_allclose(prevented, [prevented[0], share * prevented[0], 0.0],
                               rtol=1e-9, atol=1e-12)
