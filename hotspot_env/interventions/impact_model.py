"""The impact model: each candidate's reach over (cell x stratum) groups, and what a set of
candidates prevents together.

:func:`hotspot_env.interventions.impact.build_impact` builds an :class:`ImpactModel`; its
methods give stand-alone effects, the joint effect of a portfolio (overlaps combined
multiplicatively, never double counted) and the weighted value the greedy and the
optimiser maximise.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from hotspot_env.errors import InputError
from hotspot_env.interventions.strata import CATEGORY_GROUPS

#: Quantiles of the reported interval (80 %).
INTERVAL: tuple[float, float] = (10.0, 90.0)


# ===================================================================== model
@dataclass
class PortfolioEffect:
    """Joint effect of a set of interventions (overlaps combined multiplicatively).

    Attributes
    ----------
    mean, lo, hi : float
        Expected prevented incidents per year and the 80 % interval.
    additive : float
        Sum of the members' stand-alone means (what double counting would say).
    draws : ndarray
        Prevented incidents per Monte Carlo draw.
    by_category : dict of str to float
        Mean prevented incidents per category group.
    """

    mean: float
    lo: float
    hi: float
    additive: float
    draws: np.ndarray = field(repr=False)
    by_category: dict[str, float] = field(default_factory=dict)

#: Number of category groups.
_G = len(CATEGORY_GROUPS)


@dataclass
class ImpactModel:
    """Per-candidate, per-cell, per-stratum effects and their Monte Carlo draws.

    Candidates are indexed ``0..n-1`` in the order of :attr:`ids` (sorted).
    An *entry* ``e`` says that candidate ``entry_cand[e]`` acts on group
    ``entry_group[e]`` (one cell x stratum) through evidence row
    ``entry_row[e]`` with cover ``entry_scale[e]`` (share of the cell in reach,
    plus/minus the diffusion/displacement ring). At most one entry exists per
    (candidate, group) because a type's evidence rows cover disjoint strata.

    Attributes
    ----------
    ids : ndarray of str
        Candidate ids (sorted).
    rows : DataFrame
        Evidence rows (all rows of the library, sorted by type and outcome).
    effect_draws : ndarray
        ``(n_rows, n_draws)``: ``1 - RR`` per draw.
    group_base : ndarray
        Expected incidents per year per group.
    group_cat : ndarray of int
        Category group of each group (index into :data:`CATEGORY_GROUPS`).
    group_cell : ndarray of int64
        Flat cell index of each group.
    group_key : ndarray of int64
        ``cell x n_strata + stratum``: identifies a group across models.
    entry_cand, entry_group, entry_row : ndarray of int
    entry_scale : ndarray of float
    baseline_reach : ndarray
        Expected incidents per year within reach of each candidate, all
        categories and hours (m: the type's largest ``reach_m``).
    baseline_covered : ndarray
        The part of it the candidate's evidence covers (categories and hours).
    dark_share : ndarray
        Share of ``baseline_reach`` in darkness.
    main_cell : ndarray of int64
        Flat index of the cell contributing most to ``baseline_reach``.
    reach_area : ndarray or None
        Area (m²) of each candidate's reach buffer (the type's largest
        ``reach_m``), for the "near harm" rule; not kept in the saved state.
    """

    ids: np.ndarray
    rows: pd.DataFrame
    effect_draws: np.ndarray
    group_base: np.ndarray
    group_cat: np.ndarray
    group_cell: np.ndarray
    group_key: np.ndarray
    entry_cand: np.ndarray
    entry_group: np.ndarray
    entry_row: np.ndarray
    entry_scale: np.ndarray
    baseline_reach: np.ndarray
    baseline_covered: np.ndarray
    dark_share: np.ndarray
    main_cell: np.ndarray
    reach_area: np.ndarray | None = None
    _stats: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------ basics
    @property
    def n(self) -> int:
        """Number of candidates."""
        return len(self.ids)

    @property
    def n_draws(self) -> int:
        """Number of Monte Carlo draws."""
        return int(self.effect_draws.shape[1])

    @property
    def mean_effect(self) -> np.ndarray:
        """Mean ``1 - RR`` over the draws, per evidence row."""
        return self.effect_draws.mean(axis=1)

    def index_of(self, ids: Iterable[str]) -> np.ndarray:
        """Candidate positions of ``ids``; raises on an unknown id."""
        ids = np.asarray(list(ids), dtype=str)
        pos = np.searchsorted(self.ids, ids)
        pos = np.minimum(pos, max(self.n - 1, 0))
        if ids.size and (self.n == 0 or not np.array_equal(self.ids[pos], ids)):
            missing = ids[(self.n == 0) | (self.ids[pos] != ids)] if self.n else ids
            raise InputError(f"unknown intervention id {missing[0]!r}: use ids from the table")
        return pos.astype(np.int64)

    def contributions(self) -> sp.csr_matrix:
        """``(n, n_rows)`` sparse: sum of base x cover per candidate and evidence row."""
        if "B" not in self._stats:
            data = self.group_base[self.entry_group] * self.entry_scale
            self._stats["B"] = sp.csr_matrix(
                (data, (self.entry_cand, self.entry_row)), shape=(self.n, len(self.rows)))
        return self._stats["B"]

    # ------------------------------------------------------ stand-alone
    def standalone(self) -> dict[str, np.ndarray]:
        """Stand-alone prevented incidents per year per candidate.

        Returns
        -------
        dict
            ``mean``, ``lo``, ``hi`` (10th/90th percentiles), ``point`` (at the
            rate ratios' point estimates) and ``by_category`` (``(n, G)`` means).
        """
        if "mean" not in self._stats:
            b = self.contributions()
            mean = np.zeros(self.n)
            lo = np.zeros(self.n)
            hi = np.zeros(self.n)
            step = max(1, 2_000_000 // max(self.n_draws, 1))
            for start in range(0, self.n, step):
                part = np.asarray(b[start:start + step] @ self.effect_draws)
                mean[start:start + step] = part.mean(axis=1)
                lo[start:start + step], hi[start:start + step] = np.percentile(
                    part, INTERVAL, axis=1)
            point = b @ (1.0 - self.rows["rate_ratio"].to_numpy(dtype=float))
            val = self.group_base[self.entry_group] * self.entry_scale * self.mean_effect[
                self.entry_row]
            by_cat = np.bincount(self.entry_cand * _G + self.group_cat[self.entry_group],
                                 weights=val, minlength=self.n * _G).reshape(self.n, _G)
            self._stats.update(mean=mean, lo=np.minimum(lo, mean), hi=np.maximum(hi, mean),
                               point=np.asarray(point).ravel(), by_category=by_cat)
        return {k: self._stats[k] for k in ("mean", "lo", "hi", "point", "by_category")}

    def main_row(self) -> np.ndarray:
        """Per candidate, the evidence row contributing most (-1 if none)."""
        b = self.contributions().toarray() * self.mean_effect[None, :] if self.n else np.zeros(
            (0, len(self.rows)))
        out = np.where(b.any(axis=1), np.argmax(np.abs(b), axis=1), -1) if self.n else np.zeros(
            0, np.int64)
        return out.astype(np.int64)

    # ---------------------------------------------------------- overlap
    def portfolio_prevented(self, selected: Iterable[str] | np.ndarray) -> PortfolioEffect:
        """Joint prevented incidents of a set of candidates, overlaps multiplied.

        Parameters
        ----------
        selected : iterable of str, or boolean mask of length ``n``
            Intervention ids, or a mask over :attr:`ids`.

        Returns
        -------
        PortfolioEffect
            Mean and 80 % interval over the Monte Carlo draws (incidents/year).
        """
        mask = self._mask(selected)
        if not mask.any():
            return PortfolioEffect(0.0, 0.0, 0.0, 0.0, np.zeros(self.n_draws),
                                   dict.fromkeys(CATEGORY_GROUPS, 0.0))
        sel = mask[self.entry_cand]
        grp = self.entry_group[sel]
        ugroups, local = np.unique(grp, return_inverse=True)
        scale = self.entry_scale[sel]
        rows = self.entry_row[sel]
        base = self.group_base[ugroups]
        cat = self.group_cat[ugroups]
        n_e = len(grp)
        summer = sp.csr_matrix((np.ones(n_e), (local, np.arange(n_e))), shape=(len(ugroups), n_e))
        draws = np.zeros(self.n_draws)
        by_cat = np.zeros(_G)
        step = max(1, 4_000_000 // max(n_e, 1))
        for d0 in range(0, self.n_draws, step):
            eff = self.effect_draws[rows, d0:d0 + step]
            logm = np.log(np.maximum(1.0 - scale[:, None] * eff, 1e-12))
            left = np.exp(summer @ logm)
            prevented = base[:, None] * (1.0 - left)
            draws[d0:d0 + step] = prevented.sum(axis=0)
            by_cat += np.bincount(cat, weights=prevented.sum(axis=1), minlength=_G)
        lo, hi = np.percentile(draws, INTERVAL)
        mean = float(draws.mean())
        additive = float(self.standalone()["mean"][mask].sum())
        return PortfolioEffect(mean, float(min(lo, mean)), float(max(hi, mean)), additive, draws,
                               dict(zip(CATEGORY_GROUPS, (by_cat / self.n_draws).tolist(),
                                        strict=True)))

    def expected_value(
        self, selected: Iterable[str] | np.ndarray, cat_weights: np.ndarray | None = None,
        type_bonus: np.ndarray | None = None,
    ) -> float:
        """Weighted joint prevented incidents at the mean effects (the optimiser's objective).

        ``sum_g w_cat(g) base_g (1 - prod_j (1 - scale_jg e_j))`` plus
        ``sum_j type_bonus_j`` over selected ``j``, with ``e`` the mean
        ``1 - RR`` per evidence row. Fast (no draws): used by the optimiser,
        the brute-force check and the greedy gap.
        """
        mask = self._mask(selected)
        w = np.ones(_G) if cat_weights is None else np.asarray(cat_weights, dtype=float)
        idx = self.entries_of(mask)
        grp = self.entry_group[idx]
        ell = np.log(np.maximum(
            1.0 - self.entry_scale[idx] * self.mean_effect[self.entry_row[idx]], 1e-12))
        total_log = np.bincount(grp, weights=ell, minlength=len(self.group_base))
        touched = np.zeros(len(self.group_base), dtype=bool)
        touched[grp] = True
        value = float(np.sum(w[self.group_cat[touched]] * self.group_base[touched]
                             * (1.0 - np.exp(total_log[touched]))))
        if type_bonus is not None:
            value += float(np.asarray(type_bonus)[mask].sum())
        return value

    def entries_of(self, mask: np.ndarray) -> np.ndarray:
        """Positions of the entries of the candidates where ``mask`` is True."""
        if "indptr" not in self._stats:
            self._stats["indptr"] = np.searchsorted(self.entry_cand, np.arange(self.n + 1))
        indptr = self._stats["indptr"]
        sel = np.flatnonzero(mask)
        lens = indptr[sel + 1] - indptr[sel]
        starts = np.repeat(indptr[sel] - np.cumsum(lens) + lens, lens)
        return starts + np.arange(int(lens.sum()))

    def _mask(self, selected: Iterable[str] | np.ndarray) -> np.ndarray:
        if isinstance(selected, np.ndarray) and selected.dtype == bool:
            if selected.shape != (self.n,):
                raise ValueError(f"mask has shape {selected.shape}, expected ({self.n},)")
            return selected
        mask = np.zeros(self.n, dtype=bool)
        mask[self.index_of(selected)] = True
        return mask

    # ---------------------------------------------------------- combine
    def subset(self, keep: np.ndarray) -> ImpactModel:
        """A model restricted to the candidates where ``keep`` is True."""
        keep = np.asarray(keep, dtype=bool)
        new_pos = np.cumsum(keep) - 1
        ent = keep[self.entry_cand]
        # groups still reached, renumbered in order (np.unique without sorting)
        reached = np.zeros(self.group_base.size, dtype=bool)
        reached[self.entry_group[ent]] = True
        used = np.flatnonzero(reached)
        g_new = (np.cumsum(reached) - 1)[self.entry_group[ent]]
        return ImpactModel(
            self.ids[keep], self.rows, self.effect_draws, self.group_base[used],
            self.group_cat[used], self.group_cell[used], self.group_key[used],
            new_pos[self.entry_cand[ent]],
            g_new.astype(np.int64), self.entry_row[ent], self.entry_scale[ent],
            self.baseline_reach[keep], self.baseline_covered[keep], self.dark_share[keep],
            self.main_cell[keep], None if self.reach_area is None else self.reach_area[keep])


def merge_models(a: ImpactModel, b: ImpactModel) -> ImpactModel:
    """One model with the candidates of both (ids must differ; same rows and draws)."""
    if len(np.intersect1d(a.ids, b.ids)):
        raise ValueError("models share candidate ids")
    keys = np.union1d(a.group_key, b.group_key)
    ga = np.searchsorted(keys, a.group_key)
    gb = np.searchsorted(keys, b.group_key)
    base = np.zeros(keys.size)
    cat = np.zeros(keys.size, dtype=np.int64)
    cell = np.zeros(keys.size, dtype=np.int64)
    for g, m in ((ga, a), (gb, b)):
        base[g], cat[g], cell[g] = m.group_base, m.group_cat, m.group_cell
    ids = np.concatenate([a.ids, b.ids])
    order = np.argsort(ids, kind="stable")
    new_pos = np.empty(ids.size, dtype=np.int64)
    new_pos[order] = np.arange(ids.size)
    e_cand = np.concatenate([new_pos[a.entry_cand], new_pos[a.n + b.entry_cand]])
    e_group = np.concatenate([ga[a.entry_group], gb[b.entry_group]])
    e_order = np.lexsort((e_group, e_cand))

    def cat_(name: str) -> np.ndarray:
        return np.concatenate([getattr(a, name), getattr(b, name)])[order]

    return ImpactModel(
        ids[order], a.rows, a.effect_draws, base, cat, cell, keys.astype(np.int64),
        e_cand[e_order], e_group[e_order],
        np.concatenate([a.entry_row, b.entry_row])[e_order],
        np.concatenate([a.entry_scale, b.entry_scale])[e_order],
        cat_("baseline_reach"), cat_("baseline_covered"), cat_("dark_share"), cat_("main_cell"),
        None if a.reach_area is None or b.reach_area is None else cat_("reach_area"))
