"""Exceptions raised by hotspot_env.

Every error a user can cause derives from :class:`HotspotEnvError` and carries a
one-line message that says what is wrong and how to fix it. The CLI turns these
into exit status 2 and the app shows them without a traceback.
"""

from __future__ import annotations


class HotspotEnvError(ValueError):
    """Base class for user-facing errors (bad input, impossible parameters)."""


class InputError(HotspotEnvError):
    """An input file or value cannot be used as given."""


class GridTooLargeError(HotspotEnvError):
    """The requested grid would exceed the cell-count ceiling."""


class NoIncidentsError(HotspotEnvError):
    """No incidents remain inside the study area."""


class OutputError(HotspotEnvError):
    """An output path cannot be written."""
