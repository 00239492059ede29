"""What both national benchmarks share: the cluster they start and the scaling model."""

from __future__ import annotations

import logging
import math
from typing import Any

from hotspot_env.errors import InputError
from hotspot_env.scale.checks import SCHEDULER_PROBE_S
from hotspot_env.scale.threads import WORKER_ENV

#: Worker counts the projection is given for.
PROJECTED_WORKERS: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)

#: Cell side of the benchmark (as the metro benchmark).
NATIONAL_CELL_SIZE_M: float = 50.0


def local_cluster(n_workers: int, scheduler: str | None = None) -> Any:
    """A dask client: on ``scheduler`` if given, else a LocalCluster of single-thread workers."""
    from dask.distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout=f"{SCHEDULER_PROBE_S}s")
        except (OSError, TimeoutError) as exc:  # it answered the probe, then went away
            raise InputError(f"cannot reach the dask scheduler at {scheduler}: start it (dask "
                             "scheduler) and its workers, or drop --scheduler for a local "
                             "cluster") from exc
    else:
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                               memory_limit=0, dashboard_address=":0", env=WORKER_ENV,
                               silence_logs=logging.ERROR)
        client = Client(cluster)
    # long-lived workers have the package imported: keep import time out of the stages
    client.run(_warm_worker)
    return client


def _warm_worker() -> None:
    """Import what a region's task uses (runs once in each worker)."""
    import hotspot_env.core.pipeline  # noqa: F401
    import hotspot_env.outputs.export  # noqa: F401
    import hotspot_env.scale.outputs  # noqa: F401


def close_client(client: Any) -> None:
    """Close ``client`` and the LocalCluster it started, if any."""
    cluster = getattr(client, "cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()


def projection(region_seconds: list[float], reduction_s: float,
               workers: tuple[int, ...] = PROJECTED_WORKERS) -> dict[str, float]:
    """Expected wall seconds on ``workers`` workers from measured per-region costs.

    The model: regions are independent tasks of (about) equal cost, handed out
    in waves, so ``T(W) = ceil(R / W) x mean region cost + reduction``; it
    ignores scheduler overhead (milliseconds per task) and assumes inputs are
    read from storage that keeps up with W readers.
    """
    n = len(region_seconds)
    mean = sum(region_seconds) / n if n else 0.0
    return {str(w): round(math.ceil(n / w) * mean + reduction_s, 2) for w in workers}
