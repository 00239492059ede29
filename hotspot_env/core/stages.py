"""The contract between pipeline stages: what each reads and adds on :class:`Analysis`.

Every later stage is a function ``f(analysis, **options) -> None`` that adds
its result to typed fields of :class:`~hotspot_env.core.analysis.Analysis` and never
reaches back. :func:`declares` writes down which of those fields a stage reads
and which it adds, next to the stage itself; :func:`check_order` lets the
pipeline refuse an order in which a stage would run before the stage that
produces what it reads (it would otherwise silently use ``None``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

StageFunction = TypeVar("StageFunction", bound=Callable[..., None])


def declares(*, reads: Iterable[str] = (), adds: Iterable[str] = ()
             ) -> Callable[[StageFunction], StageFunction]:
    """Mark a stage function with the :class:`Analysis` fields it reads and adds.

    Parameters
    ----------
    reads : iterable of str
        Fields added by earlier stages that this stage uses when present
        (the fields :func:`~hotspot_env.core.analysis.analyze` fills need no mention).
    adds : iterable of str
        Fields this stage sets.
    """
    def mark(func: StageFunction) -> StageFunction:
        func.reads = tuple(reads)  # type: ignore[attr-defined]
        func.adds = tuple(adds)  # type: ignore[attr-defined]
        return func
    return mark


def check_order(stages: Iterable[tuple[str, Callable[..., Any]]]) -> None:
    """Raise ``ValueError`` when a stage runs before a stage that adds what it reads.

    A run may leave stages out (a stage then finds ``None`` and says so, as
    without dates), but never put a reader before its producer. Stages without
    a declaration (e.g. a test's stand-in) read and add nothing.
    """
    stages = list(stages)
    for i, (name, func) in enumerate(stages):
        reads = set(getattr(func, "reads", ()))
        for later, later_func in stages[i + 1:]:
            early = sorted(reads & set(getattr(later_func, "adds", ())))
            if early:
                raise ValueError(f"stage {name!r} reads {', '.join(early)}, which the later "
                                 f"stage {later!r} adds: run {later!r} first")
