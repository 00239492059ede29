"""Public mode's intervention mix: one study-area mix from protected, rounded stratum counts.

The intervention baseline's magnitude is the protected forecast; how it splits
into category groups and time classes (dark or not, inside the evidence's hour
windows) came from the true incidents around each cell, so one incident could
move a published ``prevented_*`` figure (``tests/test_public_neighbours.py``).
In public mode every cell takes the **study area's** mix, computed from the
per-code area tally coarsened like the other public tallies: codes holding
fewer than k incidents entered as none, every other code count rounded to the
nearest 10. A privacy engineer can state what it reveals: a few dozen
area-wide counts on a fixed coarse scale, no place's mix; one incident
changes a figure only when it tips a code's rounded count, and even then
tells nothing about where it happened. Like the rounded totals it is outside
the formal ε of ``--dp-epsilon`` (no noise: one release per stratum would
thin every other release's share of ε for a mix the rounding already hides).
Lighting still acts on each place's darkness: where the darkness factor
publishes a cell's dark share (from its protected dark and not-dark counts),
the area mix is tilted to it (:func:`place_shares`), so the mix uses only
figures public mode publishes anyway.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from hotspot_env.core.choices import Choice, announce
from hotspot_env.outputs.privacy import protection_for

if TYPE_CHECKING:
    from hotspot_env.core.analysis import Analysis

#: The fixed scale of the public mix's code counts (the public tallies' rounding).
ROUND_TO: int = 10


def is_public(analysis: Analysis) -> bool:
    """Whether the run publishes (its intervention mix must be the protected one)."""
    return protection_for(analysis) is not None


def protected_area_tally(analysis: Analysis, area: np.ndarray,
                         choices: list[Choice]) -> np.ndarray:
    """The per-code area tally as public mode may use it (announced).

    Parameters
    ----------
    analysis : Analysis
        A public run.
    area : ndarray
        Incidents per code over the study area (strata, then unknown category,
        unknown time, neither).
    choices : list of Choice
        The baseline's choices; the mix's basis is announced there.

    Returns
    -------
    ndarray of float
        Protected counts: 1..k-1 as 0, the rest rounded to the nearest ``ROUND_TO``.
    """
    rounded = _coarsened(np.rint(area), protection_for(analysis).k)
    choices.append(announce(Choice(
        "intervention_mix", "study area, protected",
        f"public mode: every place's expected incidents split by the study area's category "
        f"and time-of-day mix, from its counts per category group and time class with fewer "
        f"than k as none and the rest rounded to the nearest {ROUND_TO}; no place's own mix "
        "is used")))
    return rounded


def _coarsened(counts: np.ndarray, k: int) -> np.ndarray:
    """Counts as the public mix uses them: below k none, else to the nearest ``ROUND_TO``."""
    kept = np.where(counts < k, 0.0, counts)
    return (np.floor(kept / ROUND_TO + 0.5) * ROUND_TO).astype(float)


def _rounded(n: int, k: int) -> int:
    """One tally coarsened as :func:`_coarsened` does."""
    return int(_coarsened(np.asarray(float(n)), k))


def public_outdoor_share(n_known: int, n_out: int, k: int, notes: dict,
                         choices: list[Choice]) -> None:
    """Public mode's outdoor share: the study area's, from k-suppressed counts rounded to 10.

    Every place then takes it (no place's own share of outdoor incidents is
    used); recorded in ``notes`` and announced. Returns None (no per-cell shares).
    """
    known, out = _rounded(n_known, k), _rounded(n_out, k)
    share = out / known if known else 0.5
    notes["outdoor_share_area"] = share
    notes["outdoor_source"] = "incidents' outdoor column (public: the study area's share)"
    choices.append(announce(Choice(
        "outdoor_share", round(share, 3),
        f"public mode: evidence for outdoor incidents only acts on the study area's outdoor "
        f"share at every place, from the incidents saying whether they happened outdoors "
        f"counted with fewer than k as none and rounded to the nearest {ROUND_TO}")))
    return None


def area_tallies(area: np.ndarray, n_time: int) -> dict[str, int]:
    """The baseline's tallies (incidents, with a category, with a time) from the protected codes.

    Codes: ``G x T`` strata (both known), ``G`` with the time unknown, ``T``
    with the category unknown, one with neither (see the baseline's tally).
    """
    n_groups = (area.size - n_time - 1) // (n_time + 1)
    n_strata = n_groups * n_time
    return {"incidents": int(area.sum()),
            "category_known": int(area[:n_strata + n_groups].sum()),
            "time_known": int(area[:n_strata].sum() + area[n_strata + n_groups:-1].sum())}


def area_shares(share: np.ndarray, n_cells: int) -> sp.csr_matrix:
    """Every kept cell's strata shares: the study area's (``share``) on each row."""
    share = np.asarray(share, dtype=float)
    nonzero = np.flatnonzero(share >= 1e-12)
    data = np.tile(share[nonzero], n_cells)
    indices = np.tile(nonzero, n_cells).astype(np.int32)
    indptr = (np.arange(n_cells + 1) * nonzero.size).astype(np.int64)
    return sp.csr_matrix((data, indices, indptr), shape=(n_cells, share.size))


def tilt_to_dark_share(share: np.ndarray, dark: np.ndarray, n_time: int) -> np.ndarray:
    """Strata shares tilted so their dark time classes sum to each place's ``dark`` share.

    Within each side (dark, not dark) the area's split over category groups x
    hour-window classes is kept: a dark stratum's share is the area's times
    ``dark / D`` (``D`` the area's dark share), a not-dark one's times
    ``(1 - dark) / (1 - D)``. A side the area has nothing on takes the other
    side's split, moved to the matching time class (same group and windows).

    Parameters
    ----------
    share : ndarray
        The study area's strata shares (``n_groups * n_time``, sum 1; dark
        time classes are the odd ones).
    dark : ndarray
        Each place's dark share (finite, 0-1).
    n_time : int
        Number of time classes.

    Returns
    -------
    ndarray
        ``(len(dark), share.size)``: each row sums to 1 with ``dark`` in the dark classes.
    """
    share = np.asarray(share, dtype=float).reshape(-1, n_time)
    split = []
    for side in (1, 0):  # dark classes are the odd ones
        own, other = share[:, side::2], share[:, 1 - side::2]
        total = own.sum()
        split.append(own / total if total > 0 else other / other.sum())
    dark = np.clip(np.asarray(dark, dtype=float), 0.0, 1.0)
    rows = np.empty((dark.size, *share.shape))
    rows[:, :, 1::2] = dark[:, None, None] * split[0][None]
    rows[:, :, 0::2] = (1.0 - dark)[:, None, None] * split[1][None]
    return rows.reshape(dark.size, share.size)


def place_shares(analysis: Analysis, share: np.ndarray, cells: np.ndarray, n_time: int,
                 choices: list[Choice]) -> sp.csr_matrix:
    """Public mode's strata shares: the area's mix, tilted to each place's published dark share.

    The darkness factor's ``dark_share`` is the published one in public runs
    (from protected dark / not-dark counts, :func:`hotspot_env.factors.darkness.
    protected_share`), so a streetlight acts on each place's own published
    darkness without any true count entering. Cells without a finite share,
    and every cell when the darkness factor did not run or published no
    share, keep the area mix (and the announcement stays the area mix's).
    The ``intervention_mix`` announcement says which.
    """
    factors = analysis.factors or {}
    if "darkness" not in factors:
        return area_shares(share, len(cells))
    published = np.asarray(factors["darkness"].values["dark_share"], dtype=float).ravel()[cells]
    tilted = np.flatnonzero(np.isfinite(published))
    if tilted.size == 0:  # e.g. no incident has a time of day: the area mix, announced as such
        return area_shares(share, len(cells))
    dense = np.tile(np.asarray(share, dtype=float), (len(cells), 1))
    dense[tilted] = tilt_to_dark_share(share, published[tilted], n_time)
    dense[dense < 1e-12] = 0.0  # as area_shares: shares below 1e-12 are not stored
    for i, choice in enumerate(choices):
        if choice.name == "intervention_mix":
            choices[i] = announce(Choice(
                choice.name, "study area, protected, tilted to each place's published dark share",
                choice.rule.replace("; no place's own mix is used", "") +
                f"; at the {tilted.size:,} of {len(cells):,} places with a published dark share "
                "(the darkness factor's, from protected dark and not-dark counts) the dark time "
                "classes are rescaled to sum to it and the others to the rest, keeping the "
                "area's split within each side; no place's own count enters"))
    return sp.csr_matrix(dense)
