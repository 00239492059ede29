"""Automatic choices, announced.

Whenever hotspot_env picks a parameter for the user (CRS, cell size, bandwidth,
block length, time step...), the stage that picks it returns a :class:`Choice`.
Choices are logged on the ``hotspot_env`` logger, printed by the CLI, shown in
the app and written to the run manifest, so the user always knows what was
assumed (the sfhotspot convention).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

logger = logging.getLogger("hotspot_env")


@dataclass(frozen=True)
class Choice:
    """One parameter chosen automatically.

    Parameters
    ----------
    name : str
        Parameter name as used in the API and manifest (e.g. ``"cell_size_m"``).
    value : Any
        The value chosen (JSON-serialisable).
    rule : str
        One sentence saying how the value was chosen.
    """

    name: str
    value: Any
    rule: str

    def message(self) -> str:
        """Return the sentence shown to the user."""
        return f"{self.name} set to {format_value(self.value)} automatically: {self.rule}"

    def to_dict(self) -> dict[str, Any]:
        """Return the choice as a JSON-ready dict."""
        return asdict(self)


def format_value(value: Any) -> str:
    """Format a number compactly for messages (``1,234.5``)."""
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.3g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


@contextlib.contextmanager
def unannounced() -> Iterator[None]:
    """Make choices without logging them, for a dry run ahead of the stage.

    A check made before the work (:func:`hotspot_env.core.pipeline.run`) may
    compute what a stage will choose; the stage announces it when it runs, so
    the check must not announce it a second time. Warnings still show.
    """
    level = logger.level
    logger.setLevel(max(logging.WARNING, level))
    try:
        yield
    finally:
        logger.setLevel(level)


def announce(choice: Choice) -> Choice:
    """Log ``choice`` on the ``hotspot_env`` logger and return it unchanged."""
    logger.info(choice.message())
    return choice
