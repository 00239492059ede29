"""Every dask task computes on one thread, so N single-thread workers use N cores.

numba's thread count is per thread, and a worker process may load numba
before its environment is set, so the task functions hold numba (and BLAS,
OpenMP) to one thread themselves (:mod:`hotspot_env.scale.threads`). Outside a
worker nothing changes.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
from pyproj import CRS
from threadpoolctl import threadpool_info

pytest.importorskip("dask.distributed")  # the [scale] extra; `make test` installs it

from hotspot_env.scale import country, regions, tile_rtm, tile_tasks  # noqa: E402
from hotspot_env.scale.threads import (  # noqa: E402
    WORKER_ENV,
    one_compute_thread,
    single_threaded,
    worker_threads,
)

#: numba's threads in a fresh thread of this process (all cores unless the user set fewer).
DEFAULT_THREADS = numba.config.NUMBA_NUM_THREADS


def _probe() -> dict:
    """What a task sees: numba's threads in its thread, and the BLAS pools' threads."""
    blas = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    return {"numba": numba.get_num_threads(), "blas": blas}


@pytest.fixture(scope="module")
def client():
    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=":0") as cluster, Client(cluster) as c:
        yield c


def test_outside_a_worker_nothing_changes():
    before = numba.get_num_threads()
    with one_compute_thread() as threads:
        assert threads == before == numba.get_num_threads()
    assert numba.get_num_threads() == before
    assert single_threaded(_probe)()["numba"] == before


@pytest.mark.skipif(DEFAULT_THREADS < 2, reason="one core: every task already has one thread")
def test_a_wrapped_task_runs_on_one_thread_and_gives_the_thread_back(client):
    plain = client.submit(_probe, pure=False).result()
    assert plain["numba"] == DEFAULT_THREADS  # what an unwrapped task gets: every core
    held = client.submit(single_threaded(_probe), pure=False).result()
    assert held["numba"] == 1
    assert all(n == 1 for n in held["blas"])
    # the worker's thread is left as it was for whatever runs next
    assert client.submit(_probe, pure=False).result()["numba"] == DEFAULT_THREADS


def test_the_task_functions_are_held_to_one_thread():
    for task in (tile_tasks.tile_counts, tile_tasks.tile_surfaces, regions.analyze_region,
                 tile_rtm.build_tile):
        assert task.__wrapped__.__name__ == task.__name__  # wrapped by single_threaded
    assert "single_threaded" in country._map.__code__.co_names  # the generation tasks too


def test_a_kernel_gives_the_same_bits_on_one_thread(client):
    from hotspot_env.core.density import kde
    from hotspot_env.core.grid import Grid

    rng = np.random.default_rng(3)
    grid = Grid(CRS.from_epsg(32633), 0.0, 0.0, 50.0, 40, 30, np.ones((30, 40), dtype=bool))
    x, y = rng.uniform(0, 2000, 3000), rng.uniform(0, 1500, 3000)
    here = kde(grid, x, y, 180.0)
    there = client.submit(single_threaded(kde), grid, x, y, 180.0, pure=False).result()
    assert here.tobytes() == there.tobytes()


def test_the_record_reports_the_clusters_threads(client):
    record = worker_threads(client)
    assert record["workers"] == 1 and record["threads_per_worker"] == [1]
    assert record["compute_threads_per_task"] == 1 and "numba" in record["note"]
    assert set(WORKER_ENV) == {"NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                               "MKL_NUM_THREADS"}
    assert set(WORKER_ENV.values()) == {"1"}
