"""Public mode: places, never people, at every exit.

Every exit takes counts from :func:`published_counts` so that in public mode
small counts are suppressed (shown as ``"<k"``) and, optionally, Laplace noise
gives epsilon-differential privacy to the published counts (Dwork et al. 2006):
each incident changes one cell count by one, so the L1 sensitivity is 1 and
noise ``Laplace(0, 1/epsilon)`` per cell suffices. The noise can be seeded so a
published run can be reproduced by its owner, but the seed must stay secret:
anyone who knows it can regenerate the noise and subtract it. So the noise is
never drawn from the public :data:`settings.default_seed`; without a seed it
comes from the operating system's entropy (see ``docs/privacy.md``).
"""

from __future__ import annotations

import secrets
import zlib
from typing import TYPE_CHECKING

import numpy as np

from hotspot_env import settings
from hotspot_env.errors import InputError

if TYPE_CHECKING:
    from hotspot_env.analysis import Analysis


def laplace_noise(counts: np.ndarray, epsilon: float, seed: int | None = None) -> np.ndarray:
    """Counts plus Laplace(0, 1/epsilon) noise, rounded and clipped at zero.

    Parameters
    ----------
    counts : ndarray
        True counts (one incident changes one count by one: sensitivity 1).
    epsilon : float
        Privacy-loss parameter; smaller is more private and noisier.
    seed : int, optional
        Secret seed for reproducible noise. ``None`` (default) draws fresh
        entropy from the operating system: a seed anyone knows (such as
        :data:`settings.default_seed`) would let them subtract the noise.
    """
    if not (isinstance(epsilon, int | float | np.number) and np.isfinite(epsilon)
            and epsilon > 0):
        raise InputError(f"--dp-epsilon must be a positive number (e.g. 1.0), got {epsilon!r}")
    rng = np.random.default_rng(seed)
    noisy = np.asarray(counts, dtype=float) + rng.laplace(0.0, 1.0 / epsilon, np.shape(counts))
    return np.clip(np.rint(noisy), 0, None).astype(np.int64)


def suppress_small(counts: np.ndarray, k: int | None = None) -> np.ndarray:
    """Counts as strings with every value in ``1..k-1`` replaced by ``"<k"``."""
    k = settings.k_threshold if k is None else int(k)
    counts = np.asarray(counts)
    text = counts.astype(np.int64).astype(str).astype(object)
    small = (counts > 0) & (counts < k)
    text[small] = f"<{k}"
    return text


def publishable_counts(
    counts: np.ndarray, privacy: str, k: int | None = None, epsilon: float | None = None,
    seed: int | None = None,
) -> np.ndarray:
    """Counts as they may leave the tool in the given privacy mode.

    Parameters
    ----------
    counts : ndarray of int
        True counts.
    privacy : {"internal", "public"}
        Internal returns the counts unchanged (integers); public adds optional
        noise and suppresses values below ``k`` (strings).
    k : int, optional
        Suppression threshold (default :data:`settings.k_threshold`).
    epsilon : float, optional
        If given in public mode, add Laplace noise first.
    seed : int, optional
        Secret seed for the noise (default: fresh entropy, see :func:`laplace_noise`).
    """
    if privacy == "internal":
        return np.asarray(counts)
    if privacy != "public":
        raise InputError(f"privacy must be 'internal' or 'public', got {privacy!r}")
    if epsilon is not None:
        counts = laplace_noise(counts, epsilon, seed)
    return suppress_small(counts, k)


def published_counts(analysis: Analysis, name: str = "incidents",
                     privacy: str | None = None) -> np.ndarray:
    """A per-cell count layer of ``analysis`` as it may be shown, over the whole grid.

    The one place every exit (files, report, map, app tables) takes counts
    from, so each view shows the *same* published value: the Laplace noise is
    drawn once per layer from the run's secret seed (``analysis.dp_seed``,
    created here when public mode asks for noise and none was given), never
    independently per view, which would multiply the privacy cost.

    Parameters
    ----------
    analysis : Analysis
        The analysis; ``parameters`` gives ``privacy``, ``k_threshold`` and
        ``dp_epsilon``.
    name : str
        Count layer in ``analysis.arrays``.
    privacy : {"internal", "public"}, optional
        Override the analysis' mode (the co-design page is always public).

    Returns
    -------
    ndarray, shape ``grid.shape``
        Integers in internal mode; strings ("<k" for small counts) in public.
    """
    params = analysis.parameters
    mode = privacy or params.get("privacy", "internal")
    epsilon = params.get("dp_epsilon") if mode == "public" else None
    seed = analysis.dp_seed
    if epsilon is not None and seed is None:
        seed = analysis.dp_seed = secrets.randbits(32)
    offset = zlib.crc32(name.encode("utf-8")) % 100_000
    values = np.asarray(analysis.arrays[name])
    flat = publishable_counts(values.ravel(), mode, params.get("k_threshold"), epsilon,
                              None if seed is None else seed + offset)
    return np.asarray(flat).reshape(values.shape)
