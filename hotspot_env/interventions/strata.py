"""Strata: what an incident is (category group) and when it happened (time class).

Every cell's expected incidents are split into strata = category group x time class
(:mod:`hotspot_env.interventions.baseline`), and an evidence row acts only on the strata
its ``crime_categories`` and ``hours`` cover (:func:`row_strata`).

* category groups (:data:`CATEGORY_GROUPS`): incident categories are mapped by keyword
  (:data:`CATEGORY_KEYWORDS`, :func:`map_categories`);
* time classes (:func:`time_class`): dark or not x inside or outside each local-hour window
  the evidence uses (e.g. ``15-19``; :func:`evidence_windows`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from hotspot_env.errors import InputError
from hotspot_env.interventions.evidence import EvidenceLibrary

#: Incident category groups (strata), in order. ``violence`` means violence
#: other than gun violence; the evidence category ``violence`` covers both.
CATEGORY_GROUPS: tuple[str, ...] = (
    "gun_violence", "violence", "robbery", "burglary", "theft", "vandalism", "drugs", "disorder",
    "other",
)

#: Keywords that map an incident category (lower-case substring match, first
#: hit wins) to a group; anything else non-empty is ``other``. English terms
#: plus a few Portuguese/Spanish ones; override with ``category_map``.
CATEGORY_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("shoot", "gun_violence"), ("gun", "gun_violence"), ("firearm", "gun_violence"),
    ("arma de fogo", "gun_violence"), ("disparo", "gun_violence"),
    ("robber", "robbery"), ("mugging", "robbery"), ("roubo", "robbery"), ("robo", "robbery"),
    ("homicid", "violence"), ("murder", "violence"), ("manslaughter", "violence"),
    ("assault", "violence"), ("battery", "violence"), ("violen", "violence"),
    ("rape", "violence"), ("sexual", "violence"), ("stab", "violence"), ("wound", "violence"),
    ("kidnap", "violence"), ("lesao", "violence"), ("lesão", "violence"),
    ("latrocinio", "robbery"), ("latrocínio", "robbery"),
    ("burglar", "burglary"), ("break-in", "burglary"), ("break and enter", "burglary"),
    ("housebreak", "burglary"), ("breaking", "burglary"),
    ("theft", "theft"), ("larceny", "theft"), ("steal", "theft"), ("stolen", "theft"),
    ("shoplift", "theft"), ("furto", "theft"), ("hurto", "theft"), ("pickpocket", "theft"),
    ("vandal", "vandalism"), ("criminal damage", "vandalism"), ("graffiti", "vandalism"),
    ("arson", "vandalism"), ("damage", "vandalism"),
    ("drug", "drugs"), ("narcotic", "drugs"), ("cannabis", "drugs"), ("trafico", "drugs"),
    ("disorder", "disorder"), ("nuisance", "disorder"), ("anti-social", "disorder"),
    ("antisocial", "disorder"), ("public order", "disorder"), ("noise", "disorder"),
    ("drunk", "disorder"), ("loiter", "disorder"),
)

#: Cells on each side of a cell whose incidents give its strata shares

_G = len(CATEGORY_GROUPS)


# ====================================================================== strata
def category_groups_of(categories: Iterable[str]) -> np.ndarray:
    """Boolean mask over :data:`CATEGORY_GROUPS` covered by evidence categories."""
    cats = set(categories)
    if "all" in cats:
        return np.ones(_G, dtype=bool)
    mask = np.array([g in cats for g in CATEGORY_GROUPS])
    if "violence" in cats:
        mask[CATEGORY_GROUPS.index("gun_violence")] = True
    return mask


def map_categories(
    values: Sequence[Any] | np.ndarray, category_map: dict[str, str] | None = None
) -> np.ndarray:
    """Group index (into :data:`CATEGORY_GROUPS`) of incident categories; -1 when missing.

    Parameters
    ----------
    values : sequence of str or None
        Incident categories as read (any case).
    category_map : dict, optional
        Exact category (lower-case) -> group name; checked before the shipped
        portal map (``data/category_map.csv``), which is checked before the keywords.
    """
    from hotspot_env.inputs.formats import category_map as portal_map

    extra = {str(k).strip().lower(): v for k, v in {**portal_map(),
                                                     **(category_map or {})}.items()}
    for key, group in extra.items():
        if group not in CATEGORY_GROUPS:
            raise InputError(f"category_map sends {key!r} to {group!r}: use one of "
                             f"{', '.join(CATEGORY_GROUPS)}")
    # factorize (hashing) instead of sorting a million strings; only the few distinct
    # values are cleaned and matched
    codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    text = pd.Series(uniques, dtype=object).astype(str).str.strip().str.lower().to_numpy()
    out = np.empty(len(text) + 1, dtype=np.int64)
    out[-1] = -1  # code -1: missing
    for i, value in enumerate(text):
        if value in ("", "nan", "none", "unknown"):
            out[i] = -1
        elif value in extra:
            out[i] = CATEGORY_GROUPS.index(extra[value])
        elif value in CATEGORY_GROUPS:
            out[i] = CATEGORY_GROUPS.index(value)
        else:
            hit = next((g for k, g in CATEGORY_KEYWORDS if k in value), "other")
            out[i] = CATEGORY_GROUPS.index(hit)
    return out[codes]


def in_window(hour: np.ndarray, window: tuple[int, int]) -> np.ndarray:
    """True where a local hour (0-24, float) lies in ``[start, end)``, wrapping midnight."""
    start, end = window
    hour = np.asarray(hour, dtype=float)
    if start < end:
        return (hour >= start) & (hour < end)
    return (hour >= start) | (hour < end)


def time_class(
    dark: np.ndarray, hour: np.ndarray, windows: Sequence[tuple[int, int]]
) -> np.ndarray:
    """Time-class index: bit 0 = dark, bit ``1 + w`` = inside window ``w``."""
    cls = np.asarray(dark, dtype=np.int64).copy()
    for w, window in enumerate(windows):
        cls += in_window(hour, window).astype(np.int64) << (1 + w)
    return cls


def row_strata(rows: pd.DataFrame, windows: Sequence[tuple[int, int]]) -> np.ndarray:
    """Boolean ``(n_rows, n_strata)``: which strata each evidence row covers."""
    n_time = 2 ** (1 + len(windows))
    t = np.arange(n_time)
    out = np.zeros((len(rows), _G * n_time), dtype=bool)
    for i, rec in enumerate(rows.itertuples()):
        if rec.hours == "all":
            tmask = np.ones(n_time, dtype=bool)
        elif rec.hours == "dark":
            tmask = (t & 1) == 1
        else:
            tmask = (t >> (1 + list(windows).index(tuple(rec.window)))) & 1 == 1
        out[i] = np.outer(category_groups_of(rec.categories), tmask).ravel()
    return out



def evidence_windows(library: EvidenceLibrary) -> tuple[tuple[int, int], ...]:
    """The distinct local-hour windows of the evidence rows, sorted."""
    windows = {tuple(w) for w in library.evidence["window"] if w is not None}
    return tuple(sorted(windows))

