"""Timing hooks: the pipeline, its stages and the writers name their steps.

A step is timed with ``with timed("kde"): ...``. Nothing is recorded unless a
caller (``hotspot-env bench``) opened a :class:`StageTimer` with
:func:`recording`; otherwise :func:`timed` costs one context-variable lookup.
The timer lives in a :class:`contextvars.ContextVar`, so two runs on two
threads (the Streamlit server) never share one, and no module attribute is
ever replaced to time a step.

Steps are *exclusive* by default: an exclusive step counts only when no other
exclusive step is running (a reprojection inside the study-area step counts
as ``area``, not twice). A non-exclusive step (``analyze``, ``export``, the
parts of a later stage) wraps others without hiding them, so its time is a
total of which the exclusive steps are parts.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar


class StageTimer:
    """Wall-clock and CPU seconds per step name, in first-seen order.

    CPU time (:func:`time.process_time`, all threads of this process) is kept
    beside wall time: on a shared machine other processes stretch wall time,
    while CPU time stays close to what the step itself costs.

    Attributes
    ----------
    stages : dict of str to float
        Wall-clock seconds per step.
    cpu : dict of str to float
        CPU seconds per step.
    """

    def __init__(self) -> None:
        self.stages: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self._depth = 0  # exclusive steps open right now

    def add(self, name: str, seconds: float, cpu_seconds: float = 0.0) -> None:
        """Add ``seconds`` (and ``cpu_seconds``) to step ``name``."""
        self.stages[name] = self.stages.get(name, 0.0) + seconds
        self.cpu[name] = self.cpu.get(name, 0.0) + cpu_seconds


_CURRENT: ContextVar[StageTimer | None] = ContextVar("hotspot_env_stage_timer", default=None)


@contextmanager
def recording(timer: StageTimer) -> Iterator[StageTimer]:
    """Record every :func:`timed` step run inside the block (this context only) into ``timer``."""
    token = _CURRENT.set(timer)
    try:
        yield timer
    finally:
        _CURRENT.reset(token)


@contextmanager
def timed(step: str, *, exclusive: bool = True) -> Iterator[None]:
    """Time the block as ``step`` in the timer being recorded, if any.

    Parameters
    ----------
    step : str
        Name in the benchmark's table (``"kde"``, ``"stage:rtm"``,
        ``"interventions/impact"``...).
    exclusive : bool
        Count only when no other exclusive step is open (see the module notes).
    """
    timer = _CURRENT.get()
    if timer is None or (exclusive and timer._depth):
        yield
        return
    if exclusive:
        timer._depth += 1
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        yield
    finally:
        if exclusive:
            timer._depth -= 1
        timer.add(step, time.perf_counter() - t0, time.process_time() - c0)
