"""The part of ``dask.distributed.Client`` the tiled stages use, run in this process.

Tile tasks are plain functions of picklable payloads, so the unit tests can run
them here, in order, and compare the merged answers with one machine's without
starting a cluster (``tests/test_scale_engine.py`` does that on a real one).
"""

from __future__ import annotations


class InProcessClient:
    """``scatter``, ``map`` and ``gather`` that run every task at once, in order."""

    def scatter(self, data, hash=True):  # noqa: A002 - dask's keyword
        return list(data)

    def map(self, func, *iterables, pure=True, **kwargs):
        return [func(*args, **kwargs) for args in zip(*iterables, strict=True)]

    def gather(self, futures):
        return futures
