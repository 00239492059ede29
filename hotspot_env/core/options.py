"""Options of :func:`hotspot_env.core.analysis.analyze` refused before anything is read.

Each refusal is one actionable sentence naming the option (the CLI prints it as
``error: ...`` and exits 2).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from hotspot_env import settings
from hotspot_env.errors import InputError
from hotspot_env.outputs.privacy import check_epsilon


def check_options(privacy: str, cell_size: float | None, bandwidth: float | None,
                 dp_epsilon: float | None, dp_seed: int | None) -> float | None:
    """Refuse impossible options before anything is read; return the checked ε."""
    if privacy not in ("internal", "public"):
        raise InputError(f"--privacy must be 'internal' or 'public', got {privacy!r}")
    if cell_size is not None and not _positive(cell_size):
        raise InputError(f"--cell-size must be a positive number of metres, got {cell_size!r}")
    if bandwidth is not None and not _positive(bandwidth):
        raise InputError(f"--bandwidth must be a positive number of metres, got {bandwidth!r}")
    if bandwidth is not None and not (
            settings.min_bandwidth_m <= bandwidth <= settings.max_bandwidth_m):
        raise InputError(
            f"--bandwidth {bandwidth:g} m is out of bounds: it must be between "
            f"{settings.min_bandwidth_m:g} and {settings.max_bandwidth_m:,.0f} m")
    if dp_seed is not None:
        raise InputError("--dp-seed is not supported: the noise comes from OpenDP's secure "
                         "sampler, which cannot be seeded (a leaked seed removes the noise); "
                         "drop --dp-seed")
    if dp_epsilon is not None:
        dp_epsilon = check_epsilon(dp_epsilon)
        if privacy != "public":
            raise InputError("--dp-epsilon adds noise to published counts and only applies in "
                             "public mode: add --privacy public or drop --dp-epsilon")
    return dp_epsilon


def _positive(value: Any) -> bool:
    """True for a finite real number greater than zero."""
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(value) and value > 0)
