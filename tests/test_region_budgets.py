"""Budget caps per region: the optimiser against brute force, the greedy, the options."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from test_interventions_fixtures import random_model

from hotspot_env.bench import bare_result
from hotspot_env.errors import InputError
from hotspot_env.interventions.greedy import joint_greedy
from hotspot_env.interventions.optimise import optimise
from hotspot_env.interventions.region_budgets import parse_region_budgets, region_caps
from hotspot_env.interventions.weights import Weights, weighted_values

REGIONS = np.array(["north", "south", "east"])


def _instance(seed: int):
    model = random_model(12, 10, 4, seed=seed)  # 12 overlapping candidates on 10 groups
    rng = np.random.default_rng(seed)
    cost = rng.uniform(1, 10, 12).round(1)
    types = np.array(["a", "b", "c"])[rng.integers(0, 3, 12)]
    site = np.array([0, 0, -1, 1, 1, -1, -1, 2, 2, -1, -1, -1])
    regions = REGIONS[rng.integers(0, 3, 12)]
    return model, cost, types, site, regions


def _brute_force(model, cost, budget, types, weights, site, regions, caps):
    """The best selection by enumerating all 4,096 subsets (independent of the MILP)."""
    cat_w = weights.category_vector()
    _, _, bonus = weighted_values(model, weights, types)
    best = 0.0
    for bits in itertools.product([False, True], repeat=model.n):
        mask = np.array(bits)
        if cost[mask].sum() > budget:
            continue
        if any(cost[mask & (regions == r)].sum() > cap for r, cap in caps.items()):
            continue
        s = site[mask]
        s = s[s >= 0]
        if len(s) != len(set(s.tolist())):
            continue
        best = max(best, model.expected_value(mask, cat_w, bonus))
    return best


def _spent(cost, selected, regions):
    return {r: float(cost[selected & (regions == r)].sum()) for r in REGIONS}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_optimiser_with_region_caps_matches_brute_force(seed):
    model, cost, types, site, regions = _instance(seed)
    weights = Weights({"violence": 2.0}, {"b": 1.5})
    budget = float(cost.sum() / 2)
    uncapped = optimise(model, cost, budget, types, weights, site)
    # cap the region the uncapped portfolio spends most in at a third of that spending,
    # and another region at 0: the caps bind
    spent = _spent(cost, uncapped.selected, regions)
    top = max(spent, key=spent.__getitem__)
    zero = next(r for r in REGIONS if r != top)
    caps = {top: round(spent[top] / 3, 1), zero: 0.0}
    rc = region_caps(regions, caps, known=REGIONS)
    port = optimise(model, cost, budget, types, weights, site, caps=rc)
    best = _brute_force(model, cost, budget, types, weights, site, regions, caps)
    assert port.status == "optimal"
    assert port.value == pytest.approx(best, rel=1e-6)
    assert port.value < uncapped.value  # the caps cost something
    after = _spent(cost, port.selected, regions)
    assert after[top] <= caps[top] + 1e-9 and after[zero] == 0.0
    assert port.cost <= budget + 1e-9


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_greedy_keeps_every_region_cap(seed):
    model, cost, types, site, regions = _instance(seed)
    w = Weights()
    _, _, bonus = weighted_values(model, w, types)
    caps = {"north": 6.0, "south": 0.0}
    rc = region_caps(regions, caps, known=REGIONS)
    eligible = np.ones(model.n, dtype=bool)
    sel = joint_greedy(model, cost, 40.0, w.category_vector(), bonus, site, eligible, rc)
    spent = _spent(cost, sel, regions)
    assert spent["north"] <= 6.0 + 1e-9 and spent["south"] == 0.0
    assert sel.any() and cost[sel].sum() <= 40.0 + 1e-9
    # caps no lower than the budget change nothing
    loose = region_caps(regions, {r: 1e9 for r in REGIONS}, known=REGIONS)
    plain = joint_greedy(model, cost, 40.0, w.category_vector(), bonus, site, eligible)
    assert np.array_equal(
        joint_greedy(model, cost, 40.0, w.category_vector(), bonus, site, eligible, loose),
        plain)


def test_no_region_budget_gives_todays_portfolio():
    model, cost, types, site, regions = _instance(4)
    result = bare_result(model, cost, types)
    result.candidates["district"] = regions
    plain = result.rerank(20.0, optimise_portfolio=True)
    assert "region_budgets" not in plain.summary()
    again = optimise(model, cost, 20.0, types, Weights(), result._site)
    assert np.array_equal(plain.optimal.selected, again.selected)
    loose = region_caps(regions, {r: 20.0 for r in REGIONS}, known=REGIONS)
    capped = optimise(model, cost, 20.0, types, Weights(), result._site, caps=loose)
    assert np.array_equal(capped.selected, again.selected)
    assert capped.value == again.value


def test_rerank_reads_the_region_column_and_reports_the_caps():
    model, cost, types, site, regions = _instance(5)
    result = bare_result(model, cost, types)
    result.candidates["region"] = regions
    ranking = result.rerank(25.0, optimise_portfolio=True, region_budgets=["north=0"],
                            region_column="region")
    assert not (ranking.selected & (regions == "north")).any()
    assert not (ranking.greedy & (regions == "north")).any()
    assert ranking.summary()["region_budgets"] == {"north": 0.0}
    with pytest.raises(InputError, match="unknown region west"):
        result.rerank(25.0, region_budgets={"west": 5}, region_column="region")
    with pytest.raises(InputError, match="region column 'zone'"):
        result.rerank(25.0, region_budgets={"north": 5}, region_column="zone")


@pytest.mark.parametrize(("given", "message"), [
    (["D01"], "is not NAME=AMOUNT"),
    (["=5"], "is not NAME=AMOUNT"),
    (["D01=lots"], "not a number"),
    (["D01=-1"], "must be a number >= 0"),
    (["D01=nan"], "must be a number >= 0"),
    (["D01=inf"], "must be a number >= 0"),
    (["D01=1", "D01=2"], "given twice"),
])
def test_bad_region_budgets_are_one_line_errors(given, message):
    with pytest.raises(InputError, match=message) as err:
        parse_region_budgets(given)
    assert "\n" not in str(err.value)


def test_region_budgets_parse():
    assert parse_region_budgets(None) is None
    assert parse_region_budgets([]) is None
    assert parse_region_budgets(["D01=50000", " D02 = 0 "]) == {"D01": 50000.0, "D02": 0.0}
    assert parse_region_budgets({"north": 3}) == {"north": 3.0}


def test_cli_refuses_bad_region_budgets_before_reading_anything(tmp_path):
    from typer.testing import CliRunner

    from hotspot_env.cli import app

    runner = CliRunner()
    for value, fragment in (("D01=-5", ">= 0"), ("D01", "NAME=AMOUNT"), ("D01=x", "number")):
        out = tmp_path / f"out{len(fragment)}"
        result = runner.invoke(app, ["analyze", "--incidents", str(tmp_path / "never.csv"),
                                     "--out", str(out), "--budget", "100",
                                     "--region-budget", value])
        assert result.exit_code == 2, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0]
        assert not out.exists()


def test_stage_caps_the_spending_per_district_and_announces_it():
    from test_interventions_candidates import _rich_analysis

    from hotspot_env.interventions import stage

    free = _rich_analysis()
    stage(free, budget=3000, seed=11)
    chosen = free.interventions.candidates[free.interventions.ranking.selected]
    spent = chosen.groupby("district")["cost"].sum()
    top = str(spent.idxmax())  # the district the uncapped portfolio spends most in
    cap = float(spent[top]) / 2
    capped = _rich_analysis()
    stage(capped, budget=3000, seed=11, region_budgets=[f"{top}={cap}"])
    ranking = capped.interventions.ranking
    table = capped.interventions.candidates
    in_top = (table["district"] == top).to_numpy()
    assert 0 < table["cost"].to_numpy()[ranking.selected & in_top].sum() <= cap
    assert capped.parameters["interventions"]["region_budgets"] == {
        "column": "district", "caps": {top: cap}}
    zero = _rich_analysis()
    stage(zero, budget=3000, seed=11, region_budgets=[f"{top}=0"])
    ranking = zero.interventions.ranking
    assert not (ranking.selected & in_top).any()
    assert "region budget" in ranking.message
    assert any(c.name == "region_budgets" for c in capped.choices)
    assert "region_budgets" not in free.parameters["interventions"]
    assert not any(c.name == "region_budgets" for c in free.choices)
    with pytest.raises(InputError, match="give --budget too"):
        stage(_rich_analysis(), region_budgets=["D01=5"])
    with pytest.raises(InputError, match="unknown district Nowhere"):
        stage(_rich_analysis(), budget=3000, seed=11, region_budgets={"Nowhere": 5})


def test_rank_re_ranks_a_finished_run_under_district_caps(tmp_path):
    import pandas as pd
    from test_interventions_candidates import _rich_analysis
    from typer.testing import CliRunner

    from hotspot_env.cli import app
    from hotspot_env.interventions import stage, write_interventions

    analysis = _rich_analysis()
    stage(analysis, budget=3000, seed=11)
    write_interventions(analysis, tmp_path / "run")
    table = analysis.interventions.candidates
    top = str(table["district"].mode()[0])
    runner = CliRunner()
    out = tmp_path / "ranked"
    result = runner.invoke(app, ["rank", "--analysis", str(tmp_path / "run"), "--budget", "3000",
                                 "--region-budget", f"{top}=0", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    csv = pd.read_csv(out / "interventions.csv")
    assert not csv.loc[csv["district"] == top, "selected"].astype(bool).any()
    bad = runner.invoke(app, ["rank", "--analysis", str(tmp_path / "run"), "--budget", "3000",
                              "--region-budget", "Nowhere=5", "--out", str(tmp_path / "no")])
    assert bad.exit_code == 2 and "unknown district Nowhere" in bad.stderr
    assert not (tmp_path / "no").exists()
