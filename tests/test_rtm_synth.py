"""The risk terrain model recovers the planted model of synthetic cities (hotspot_env.inputs.synth).

Each quick-scale city plants bars (RRV 2.5), vacant lots (1.8) and dark street
segments (1.6) within one block (100 m), protective youth spaces (0.75) and two
decoy layers without effect. Every planted factor with RRV >= 1.5 must be
selected with its RRV within +-20 % (the model is fitted on 50 m cells while
the truth lives on a 10 m lattice, which attenuates RRVs a little), and no
decoy may be selected at p < 0.01.
"""

from __future__ import annotations

import pytest

from hotspot_env.core.density import count_incidents  # noqa: E402
from hotspot_env.core.grid import Grid  # noqa: E402
from hotspot_env.inputs import synth
from hotspot_env.models import rtm


def check_recovery(table, truth: dict) -> None:
    rows = table.set_index("factor")
    for name, planted in truth["factors"].items():
        if name in synth.DECOYS:
            assert name not in rows.index or rows.loc[name, "p_value"] >= 0.01, (
                f"decoy {name} selected: {rows.loc[name].to_dict()}")
        elif planted["rrv"] >= 1.5:
            assert name in rows.index, f"planted factor {name} not selected:\n{table}"
            got = rows.loc[name]
            assert abs(got["rrv"] / planted["rrv"] - 1) <= 0.20, (name, got["rrv"])
            assert got["operation"] == "proximity"
            assert got["distance_m"] == pytest.approx(planted["distance_m"])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rtm_recovers_planted_factors(seed):
    city = synth.simulate_city(seed, scale="quick")
    grid = Grid.from_area(city.boundary, city.crs, 50.0)
    inc = city.incidents
    counts = count_incidents(grid, inc.geometry.x.to_numpy(), inc.geometry.y.to_numpy())
    # every layer handed over as a user layer, as `--layers layers.gpkg` does
    layers = rtm.collect_layers(None, {f"user:{k}": v for k, v in city.layers.items()})
    assert "streets" not in layers and "bars" in layers
    result = rtm.fit(grid, counts, layers, streets=city.layers["streets"])
    assert result.block_length_m == pytest.approx(city.truth["block_m"], rel=0.05)
    check_recovery(result.table, city.truth)
    print(f"\nseed {seed}:\n{result.table[['factor', 'rrv', 'ci_low', 'ci_high']]}")


def test_rtm_from_written_files(tmp_path):
    """The user path: incidents.csv + layers.gpkg through analyze() and the RTM stage."""
    from hotspot_env.core.analysis import analyze

    city = synth.simulate_city(4, scale="quick")
    paths = city.write(tmp_path / "city")
    analysis = analyze(paths["incidents"], layers=paths["layers"], cell_size=50.0)
    rtm.stage(analysis)
    result = analysis.rtm
    check_recovery(result.table, city.truth)
    assert analysis.arrays["why"][analysis.grid.mask].size == analysis.grid.n_cells
    assert "headline" in analysis.parameters["rtm"]
