"""One national portfolio over every region's candidates, with per-region budget caps.

References: brute force over every subset of a small stacked instance, each region's
own model for the block-diagonal stacking, and the written partitions read back.
"""

from __future__ import annotations

import dataclasses
import itertools
import json

import geopandas as gpd
import numpy as np
import pytest
from test_interventions_fixtures import random_model

from hotspot_env.errors import InputError
from hotspot_env.interventions.weights import Weights, weighted_values
from hotspot_env.scale.country import country_tiles, write_country
from hotspot_env.scale.national_portfolio import (
    RegionCandidates,
    choose,
    national_options,
    stack,
)
from hotspot_env.scale.regions import run_national

SEED = 11


def _lists(seed: int = 3) -> list[RegionCandidates]:
    out = []
    first = None
    for k, region in enumerate(("north", "south")):
        model = random_model(6, 5, 3, seed=seed + k)
        first = first or model
        # one evidence library and seed for the whole country: the same rows and draws
        model = dataclasses.replace(model, rows=first.rows, effect_draws=first.effect_draws,
                                    _stats={})
        rng = np.random.default_rng(seed + 10 * k)
        cost = rng.uniform(1, 10, 6).round(1)
        types = np.array(["a", "b", "c"])[rng.integers(0, 3, 6)]
        site = np.array(["s1", "s1", "", "s2", "s2", ""])  # same names, other regions' sites
        out.append(RegionCandidates(region, model, cost, types, site))
    return out


def test_stacking_is_block_diagonal():
    lists = _lists()
    model, cost, types, site, region = stack(lists)
    assert model.n == 12 and list(model.ids) == sorted(model.ids)
    w = Weights({"violence": 2.0})
    rng = np.random.default_rng(0)
    for _ in range(20):
        parts = [rng.random(c.model.n) < 0.5 for c in lists]
        whole = np.zeros(model.n, dtype=bool)
        expected = 0.0
        for c, part in zip(lists, parts, strict=True):
            _, _, bonus = weighted_values(c.model, w, c.types)
            expected += c.model.expected_value(part, w.category_vector(), bonus)
            ids = [f"{c.region}/{i}" for i in c.model.ids[part]]
            whole |= np.isin(model.ids, ids)
        _, _, bonus = weighted_values(model, w, types)
        assert model.expected_value(whole, w.category_vector(), bonus) == pytest.approx(
            expected, rel=1e-12)
    # the same site name in two regions is two sites
    assert len(set(site[site >= 0].tolist())) == 4
    assert sorted(set(region.tolist())) == ["north", "south"]


def _brute_force(model, cost, types, site, region, budget, caps):
    w = Weights()
    _, _, bonus = weighted_values(model, w, types)
    best = 0.0
    for bits in itertools.product([False, True], repeat=model.n):
        mask = np.array(bits)
        if cost[mask].sum() > budget:
            continue
        if any(cost[mask & (region == r)].sum() > cap for r, cap in caps.items()):
            continue
        s = site[mask]
        s = s[s >= 0]
        if len(s) != len(set(s.tolist())):
            continue
        best = max(best, model.expected_value(mask, w.category_vector(), bonus))
    return best


@pytest.mark.parametrize("seed", [3, 4])
def test_national_choice_matches_brute_force_with_and_without_caps(seed):
    lists = _lists(seed)
    model, cost, types, site, region = stack(lists)
    budget = float(cost.sum() / 2)
    free = choose(lists, budget)
    spent_north = float(cost[free.portfolio.selected & (region == "north")].sum())
    caps = {"north": round(spent_north / 2, 1)}
    capped = choose(lists, budget, [f"north={caps['north']}"])
    for got, given in ((free, {}), (capped, caps)):
        best = _brute_force(model, cost, types, site, region, budget, given)
        assert got.portfolio.status == "optimal"
        assert got.portfolio.value == pytest.approx(best, rel=1e-6)
    summary = capped.summary()
    assert summary["per_region"]["north"]["cost"] <= caps["north"] + 1e-9
    assert summary["cost"] <= budget + 1e-9 and summary["scope"] == "national"
    assert capped.portfolio.value < free.portfolio.value  # the cap binds
    with pytest.raises(InputError, match="unknown region west"):
        choose(lists, budget, ["west=3"])


@pytest.fixture(scope="module")
def country(tmp_path_factory):
    folder = tmp_path_factory.mktemp("country") / "c"
    write_country(folder, "test", SEED, tiles=country_tiles("test", SEED, n_cities=2),
                  block_m=500.0)
    return folder


@pytest.fixture(scope="module")
def national(country, tmp_path_factory):
    out = tmp_path_factory.mktemp("national") / "run"
    manifest = run_national(country, out, cell_size=50.0, national_budget=20_000,
                            region_budgets=["city_00=5000"])
    return out, manifest


def test_the_national_run_writes_one_portfolio_per_region_parts(national):
    out, manifest = national
    assert json.loads((out / "manifest.json").read_text()) == manifest
    portfolio = manifest["portfolio"]
    assert portfolio["scope"] == "national" and portfolio["budget"] == 20_000
    assert portfolio["region_budgets"] == {"city_00": 5000.0}
    assert "portfolio is national" in manifest["statistics"]
    assert any(c.startswith("portfolio_scope set to national") for c in manifest["choices"])
    total_cost, total_n = 0.0, 0
    for region in ("city_00", "city_01"):
        table = gpd.read_parquet(out / "interventions" / f"{region}.parquet")
        chosen = table[table["selected"].astype(bool)]
        part = portfolio["per_region"][region]
        assert len(chosen) == part["n_selected"]
        assert float(chosen["cost"].sum()) == pytest.approx(part["cost"])
        csv = (out / "workorders" / region / "interventions.csv").read_text()
        assert csv.count("\n") == len(table) + 1
        html = (out / "workorders" / region / "workorders.html").read_text()
        assert "part of one national portfolio" in html
        total_cost += part["cost"]
        total_n += part["n_selected"]
    assert portfolio["per_region"]["city_00"]["cost"] <= 5000.0
    assert total_cost == pytest.approx(portfolio["cost"]) and total_cost <= 20_000
    assert total_n == portfolio["n_selected"] > 0
    assert portfolio["status"] == "optimal"
    assert not list(out.glob(".*"))  # no staging, no state left behind


def test_the_national_run_equals_the_choice_over_the_regions_lists(national, country,
                                                                   tmp_path):
    from hotspot_env.scale.regions import analyze_region

    out, manifest = national
    options = national_options(["city_00", "city_01"], 20_000, None, {"cell_size": 50.0})
    lists = []
    for region in ("city_00", "city_01"):
        record = analyze_region(country, region, tmp_path, options, national=True)
        lists.append(record["candidates"])
    again = choose(lists, 20_000, ["city_00=5000"])
    for region in ("city_00", "city_01"):
        table = gpd.read_parquet(out / "interventions" / f"{region}.parquet")
        written = sorted(table.loc[table["selected"].astype(bool), "intervention_id"])
        assert written == sorted(again.selected_ids(region))


@pytest.mark.parametrize(("budget", "caps", "message"), [
    (None, ["city_00=5"], "give --national-budget too"),
    (100.0, ["nowhere=5"], "unknown region nowhere"),
    (100.0, ["city_00=-5"], ">= 0"),
    (-1.0, None, ">= 0"),
])
def test_bad_national_budgets_are_refused_before_any_work(country, tmp_path, budget, caps,
                                                          message):
    out = tmp_path / "never"
    with pytest.raises(InputError, match=message) as err:
        run_national(country, out, national_budget=budget, region_budgets=caps)
    assert "\n" not in str(err.value)
    assert not out.exists()


def test_regions_with_other_draws_are_refused():
    lists = _lists()
    other = dataclasses.replace(lists[1].model, effect_draws=lists[1].model.effect_draws * 0.5,
                                _stats={})
    with pytest.raises(InputError, match="same evidence and seed"):
        stack([lists[0], dataclasses.replace(lists[1], model=other)])
