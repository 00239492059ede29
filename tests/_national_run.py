"""A small national run for the app's tests (not a test module).

Two cities of the test country (1.5 km each) analysed region by region at
100 m cells, once internal and once public. Import the fixture::

    from tests._national_run import national_runs  # noqa: F401
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hotspot_env.scale.country import country_tiles, write_country
from hotspot_env.scale.regions import run_national

SEED = 11


@pytest.fixture(scope="session")
def national_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``{"root", "internal", "public"}``: the runs' parent folder and the two run folders."""
    root = tmp_path_factory.mktemp("national-app")
    country = root / "country"
    write_country(country, "test", SEED, tiles=country_tiles("test", SEED, n_cities=2),
                  block_m=500.0)
    runs = {"root": root}
    for mode in ("internal", "public"):
        run_national(country, root / mode, cell_size=100.0, privacy=mode)
        runs[mode] = root / mode
    return runs
