"""One compute thread per dask worker thread, so N single-thread workers use N cores.

A dask worker of one thread is not one core by itself: numba's parallel
kernels (the KDE's kernel sum, the sightline rays) start a thread per core,
and BLAS or OpenMP may do the same. Two such workers on two cores then fight
over both cores, and "1 worker" already uses two: the 1 -> N speed-up measures
numba's threads, not the cluster.

Two layers hold every library to one thread inside a task:

* :data:`WORKER_ENV` is the environment of every LocalCluster worker process
  (``NUMBA_NUM_THREADS`` and the BLAS/OpenMP variables), read when a library
  is first loaded in the worker;
* :func:`single_threaded` wraps each task function that computes (tile
  tasks, a tile's risk-terrain rows, a region's analysis, a generated city):
  on a dask worker it sets ``numba.set_num_threads(1)`` in the task's own
  thread (numba's setting is per thread, and a worker spawned from a script
  that imports this package loads numba before the environment is set) and
  :func:`threadpoolctl.threadpool_limits` to 1 for BLAS and OpenMP,
  then restores both. Called outside a worker, it changes nothing.

Both kernels give bit-identical results for any number of threads
(:func:`hotspot_env.core.density._kernel_sum` splits rows, not sums), so the
answers do not change; only the cores used do.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import numba
from threadpoolctl import threadpool_limits

F = TypeVar("F", bound=Callable[..., Any])

#: Environment of each LocalCluster worker process: one thread per numeric library.
WORKER_ENV: dict[str, str] = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
                              "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

#: What the manifest and the announcement say about the workers' threads.
WORKER_THREADS_NOTE: str = (
    "each dask worker runs one task at a time on one thread, and inside a task numba's "
    "parallel kernels, BLAS and OpenMP use one thread too (numba.set_num_threads(1) and "
    "threadpool limits in the task; NUMBA_NUM_THREADS, OMP_NUM_THREADS, "
    "OPENBLAS_NUM_THREADS, MKL_NUM_THREADS = 1 on a LocalCluster), so N workers use N "
    "cores; the kernels give the same bits on any number of threads")


def on_dask_worker() -> bool:
    """True when called from a task running on a dask worker."""
    try:
        from dask.distributed import get_worker
    except ImportError:  # the [scale] extra is optional
        return False
    try:
        get_worker()
    except ValueError:
        return False
    return True


@contextlib.contextmanager
def one_compute_thread() -> Iterator[int]:
    """On a dask worker: numba, BLAS and OpenMP on one thread until the block ends.

    Yields the number of numba threads the block's kernels use (1 on a
    worker; the caller's setting elsewhere, left unchanged).
    """
    if not on_dask_worker():
        yield numba.get_num_threads()
        return
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield numba.get_num_threads()
    finally:
        numba.set_num_threads(before)


def single_threaded(func: F) -> F:
    """``func`` run under :func:`one_compute_thread` (a dask task function)."""
    @functools.wraps(func)
    def task(*args: Any, **kwargs: Any) -> Any:
        with one_compute_thread():
            return func(*args, **kwargs)

    return task  # type: ignore[return-value]


def worker_threads(client: Any) -> dict[str, Any]:
    """The manifest's record of the cluster's threads, as its scheduler reports them.

    ``threads_per_worker`` lists the distinct thread counts of ``client``'s
    workers (``[1]`` on the LocalCluster this package starts); every task
    holds its kernels to one compute thread (:func:`single_threaded`).
    """
    nthreads = client.nthreads()
    return {"workers": len(nthreads), "threads_per_worker": sorted(set(nthreads.values())),
            "compute_threads_per_task": 1, "note": WORKER_THREADS_NOTE}
