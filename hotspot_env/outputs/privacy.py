"""Public mode: places, never people, at every exit.

Three ideas, each in one place:

**Privacy by declaration.** Every output column declares its :class:`Kind`
where it is made (:func:`declare` for per-cell arrays, a ``{column: Kind}``
mapping next to each table writer). :func:`publish` is the one gate every
exit (files, report, map tooltips, app tables) goes through: it refuses a
column that declares nothing (:class:`UndeclaredColumnError`), and in public
mode it protects counts, coarsens statistics of true counts and passes the
rest. Nothing is decided by a column's name.

**Protected counts.** In public mode a count layer is released once per run
(:class:`Protection`): optional differential-privacy noise, then suppression
of values ``1..k-1`` as ``"<k"``. Statistics that are published unchanged
(Gi*, KDE, the forecast) are computed from the *imputed* protected counts
(:attr:`ProtectedCounts.imputed`: the published value, and one fixed
stand-in for every ``"<k"``), so they are a function of the published column
and a reader who inverts them learns nothing the column does not say.

**Differential privacy.** One budget ε per run, split by a stated accountant
(:class:`Budget`, sequential composition: the ε of the releases add up) over
the count releases listed in :data:`DP_RELEASES`. One incident changes one
count of a release by one (L1 sensitivity 1), so each release gets discrete
Laplace (two-sided geometric) noise of scale ``1/ε_release`` from OpenDP's
vetted sampler (``make_laplace`` on integers), then is post-processed:
clipped at zero, kept as integers (no float cast, so nothing can overflow).
OpenDP draws from the operating system's secure generator and cannot be
seeded: a seed is a secret that would remove the noise if it leaked.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hotspot_env import settings
from hotspot_env.errors import InputError
from hotspot_env.outputs.safe_text import neutralise_column

if TYPE_CHECKING:
    from hotspot_env.core.analysis import Analysis


class Kind(StrEnum):
    """What an output column holds, which decides what public mode does with it."""

    #: Incidents per place (true counts): protected (noise, "<k") in public mode.
    COUNT = "count"
    #: A statistic of true counts (score, z, p, trend): coarsened to a decile class.
    COUNT_DERIVED = "count-derived"
    #: A statistic computed from the protected counts only: published as is.
    PROTECTED_DERIVED = "protected-derived"
    #: A statistic of true counts over an area of many cells (district): rounded.
    AREA_DERIVED = "area-derived"
    #: A property of the place, not of incidents (lighting, land use, costs).
    FACTOR = "factor"
    #: Names and ids of places, periods, interventions.
    IDENTIFIER = "identifier"
    #: A class or sentence about a place (bins, "why" texts, categories).
    LABEL = "label"
    #: Cell or candidate geometry (never an incident point).
    GEOMETRY = "geometry"


class UndeclaredColumnError(RuntimeError):
    """A column reached an exit without declaring its :class:`Kind` (a programming error)."""


#: Count releases a public run may make, in the order the accountant lists them.
#: ``change`` is one two-column release (counts before and after the boundary):
#: each incident falls in one of the two periods, so its sensitivity is 1. ``trends_cube``
#: (cell x time step, read by the trend tests, never published as counts) likewise.
DP_RELEASES: tuple[str, ...] = ("cells", "forecast_cube", "change", "trends_cube")

#: The release each protected count layer belongs to.
RELEASE_OF: dict[str, str] = {"incidents": "cells", "forecast_cube": "forecast_cube",
                              "change_before": "change", "change_after": "change",
                              "trends_cube": "trends_cube"}

# ------------------------------------------------------------------ validation
def check_epsilon(epsilon: Any) -> float:
    """``epsilon`` as a float within the supported bounds, or a one-line :class:`InputError`."""
    low, high = settings.dp_epsilon_bounds
    ok = (isinstance(epsilon, int | float | np.number) and not isinstance(epsilon, bool)
          and math.isfinite(epsilon) and low <= epsilon <= high)
    if not ok:
        raise InputError(f"--dp-epsilon must be a number from {low:g} to {high:g} (e.g. 1.0; "
                         f"smaller is more private and noisier), got {epsilon!r}")
    return float(epsilon)


# ------------------------------------------------------------------ accountant
@dataclass
class Budget:
    """The run's privacy budget and how it is spent (sequential composition).

    Sequential composition (Dwork & Roth 2014, Thm 3.14): releases of
    ε_1-, ..., ε_n-differentially private mechanisms on the same incidents
    are together (Σ ε_i)-differentially private. The budget is split equally
    over :data:`DP_RELEASES` whether or not a stage makes its release, so the
    total never exceeds ε. Each release may be spent once; everything else
    published is post-processing of the releases (free) or coarsened.
    """

    epsilon: float
    releases: tuple[str, ...] = DP_RELEASES
    spent: dict[str, float] = field(default_factory=dict)

    @property
    def share(self) -> float:
        """ε of one release."""
        return self.epsilon / len(self.releases)

    def spend(self, release: str) -> float:
        """Charge ``release`` once and return its ε."""
        if release not in self.releases:
            raise UndeclaredColumnError(f"{release!r} is not a planned DP release "
                                        f"(planned: {', '.join(self.releases)})")
        if release in self.spent:
            raise UndeclaredColumnError(f"DP release {release!r} spent twice")
        self.spent[release] = self.share
        return self.share

    def to_dict(self) -> dict[str, Any]:
        """The statement written to every public file's metadata."""
        return {"epsilon": self.epsilon, "accountant": "sequential composition",
                "mechanism": "discrete Laplace (OpenDP make_laplace), L1 sensitivity 1",
                "split": {r: self.share for r in self.releases},
                "spent": dict(self.spent)}


def discrete_laplace(counts: np.ndarray, epsilon: float) -> np.ndarray:
    """Counts plus discrete Laplace noise of scale ``1/epsilon`` (OpenDP), clipped at zero.

    Parameters
    ----------
    counts : ndarray of int
        True counts; one incident changes one count by one (sensitivity 1).
    epsilon : float
        Privacy loss of this release (checked by :func:`check_epsilon` upstream).

    Returns
    -------
    ndarray of int64, same shape
        Non-negative integers (clipping is post-processing: it costs no ε).
    """
    import opendp.prelude as dp

    dp.enable_features("contrib")
    values = np.asarray(counts)
    if not np.issubdtype(values.dtype, np.integer):
        raise TypeError("discrete_laplace needs integer counts")
    space = dp.vector_domain(dp.atom_domain(T=int)), dp.l1_distance(T=int)
    mechanism = space >> dp.m.then_laplace(scale=1.0 / float(epsilon))
    noisy = np.fromiter(mechanism(values.ravel().tolist()), dtype=np.int64, count=values.size)
    return np.maximum(noisy, 0).reshape(values.shape)


# ------------------------------------------------------------------ counts
def suppress_small(counts: np.ndarray, k: int | None = None) -> np.ndarray:
    """Counts as strings with every value in ``1..k-1`` replaced by ``"<k"``."""
    k = settings.k_threshold if k is None else int(k)
    counts = np.asarray(counts)
    text = counts.astype(np.int64).astype(str).astype(object)
    small = (counts > 0) & (counts < k)
    text[small] = f"<{k}"
    return text


def stand_in(k: int) -> int:
    """The value every ``"<k"`` count enters derived statistics as: the middle of 1..k-1."""
    return max(1, round(k / 2))


def publishable_counts(counts: np.ndarray, privacy: str, k: int | None = None) -> np.ndarray:
    """Tallies that are not per-cell layers (categories of an upload) as a view may show them.

    Internal: unchanged. Public: 1..k-1 suppressed as ``"<k"`` (no noise: these
    tallies are shown to the uploader's session, never written to a file).
    """
    if privacy == "internal":
        return np.asarray(counts)
    if privacy != "public":
        raise InputError(f"privacy must be 'internal' or 'public', got {privacy!r}")
    return suppress_small(counts, k)


@dataclass(frozen=True)
class ProtectedCounts:
    """One count layer as public mode releases it.

    Attributes
    ----------
    values : ndarray of int64
        After noise (if any), before suppression.
    suppressed : ndarray of bool
        Values in ``1..k-1``, shown as ``"<k"``.
    k : int
        Suppression threshold.
    """

    values: np.ndarray
    suppressed: np.ndarray
    k: int

    @property
    def text(self) -> np.ndarray:
        """The published strings (``"<k"`` for suppressed values)."""
        return suppress_small(self.values, self.k)

    @property
    def imputed(self) -> np.ndarray:
        """Published numbers with :func:`stand_in` for each ``"<k"``: a function of the text."""
        return np.where(self.suppressed, stand_in(self.k), self.values).astype(np.int64)


def protect(counts: np.ndarray, k: int, epsilon: float | None = None) -> ProtectedCounts:
    """Noise (when ``epsilon`` is given) then suppression below ``k``."""
    values = np.nan_to_num(np.asarray(counts, dtype=float), nan=0.0).astype(np.int64)
    if epsilon is not None:
        values = discrete_laplace(values, epsilon)
    return ProtectedCounts(values, (values > 0) & (values < k), int(k))


@dataclass
class Protection:
    """A public run's releases: each count layer protected once, then reused by every view.

    Drawing the noise once per layer keeps every exit (file, report, map,
    app) showing the same value; drawing per view would spend ε again.
    """

    k: int
    budget: Budget | None = None
    layers: dict[str, ProtectedCounts] = field(default_factory=dict)

    def counts(self, name: str, values: np.ndarray) -> ProtectedCounts:
        """Protected ``values`` of layer ``name`` (released on first call)."""
        if name not in self.layers:
            epsilon = None
            if self.budget is not None:
                release = RELEASE_OF.get(name)
                if release is None:
                    raise UndeclaredColumnError(f"count layer {name!r} belongs to no DP release")
                # layers of one release (change before/after) share its ε: disjoint incidents
                epsilon = self.budget.spent.get(release) or self.budget.spend(release)
            self.layers[name] = protect(values, self.k, epsilon)
        return self.layers[name]

    def to_dict(self) -> dict[str, Any]:
        """Privacy metadata for every public file."""
        return {"mode": "public", "k_threshold": self.k,
                "suppressed_stand_in": stand_in(self.k),
                "min_cell_size_m": settings.public_min_cell_size_m,
                "differential_privacy": None if self.budget is None else self.budget.to_dict()}


def protection_for(analysis: Analysis) -> Protection | None:
    """The run's :class:`Protection` (``None`` in internal mode)."""
    return getattr(analysis, "protection", None)


def privacy_metadata(analysis: Analysis) -> dict[str, Any]:
    """What every output file records about its protection."""
    protection = protection_for(analysis)
    return {"mode": "internal"} if protection is None else protection.to_dict()


def published_counts(analysis: Analysis, name: str = "incidents",
                     privacy: str | None = None) -> np.ndarray:
    """A per-cell count layer of ``analysis`` as it may be shown, over the whole grid.

    Parameters
    ----------
    analysis : Analysis
        The analysis.
    name : str
        Count layer in ``analysis.arrays``.
    privacy : {"internal", "public"}, optional
        Override the analysis' mode (the co-design page is always public: an
        internal run shown there is suppressed without noise).

    Returns
    -------
    ndarray, shape ``grid.shape``
        Integers in internal mode; strings ("<k" for small counts) in public.
    """
    mode = privacy or analysis.parameters.get("privacy", "internal")
    values = np.asarray(analysis.arrays[name])
    if mode == "internal":
        return values
    if mode != "public":
        raise InputError(f"privacy must be 'internal' or 'public', got {privacy!r}")
    protection = protection_for(analysis)
    if protection is None:  # an internal run shown publicly: suppression only
        k = int(analysis.parameters.get("k_threshold") or settings.k_threshold)
        return suppress_small(values, k)
    return protection.counts(name, values).text


# ------------------------------------------------------------------ declaration
def declare(analysis: Analysis, name: str, values: np.ndarray, kind: Kind) -> None:
    """Add per-cell layer ``name`` to ``analysis.arrays`` with its declared kind."""
    analysis.arrays[name] = values
    analysis.kinds[name] = Kind(kind)


def coarsen(values: Any) -> np.ndarray:
    """Decile class 1..10 (10 = highest) of each finite value; empty where not finite.

    Ten ordered classes over thousands of places leave no linear system to
    solve: each class holds many places and its bounds are not published.
    """
    x = pd.to_numeric(pd.Series(np.asarray(values)), errors="coerce").to_numpy(dtype=float)
    out = np.full(x.shape, "", dtype=object)
    ok = np.isfinite(x)
    if ok.any():
        rank = pd.Series(x[ok]).rank(method="average", pct=True).to_numpy()
        out[ok] = [f"decile {int(d)}" for d in np.clip(np.ceil(rank * 10), 1, 10)]
    return out


def publish(analysis: Analysis, frame: pd.DataFrame, kinds: dict[str, Kind] | None = None,
            privacy: str | None = None) -> pd.DataFrame:
    """The one gate: ``frame`` as it may leave the tool.

    Parameters
    ----------
    analysis : Analysis
        The run (its mode, protection and per-cell declarations).
    frame : DataFrame or GeoDataFrame
        The table to publish; per-cell count columns hold the true counts
        (the gate protects them) and must align with ``analysis.grid.mask``
        cells when they are per-cell layers.
    kinds : dict of str to Kind, optional
        Declarations of the table's own columns; per-cell layers fall back to
        ``analysis.kinds``.
    privacy : {"internal", "public"}, optional
        Override the run's mode (the co-design page is always public).

    Returns
    -------
    DataFrame
        A copy: counts protected, count-derived statistics coarsened, every
        text neutralised.

    Raises
    ------
    UndeclaredColumnError
        A column with no declared kind.
    """
    mode = privacy or analysis.parameters.get("privacy", "internal")
    declared = {**getattr(analysis, "kinds", {}), **(kinds or {})}
    return publish_table(frame, declared, mode, analysis)


def publish_table(frame: pd.DataFrame, kinds: dict[str, Kind], privacy: str = "internal",
                  analysis: Analysis | None = None) -> pd.DataFrame:
    """The gate for a table that is not (only) per-cell layers of a run.

    Same rules as :func:`publish`; a :attr:`Kind.COUNT` column needs
    ``analysis`` (its protected release) and is refused without it.
    """
    if privacy not in ("internal", "public"):
        raise InputError(f"privacy must be 'internal' or 'public', got {privacy!r}")
    geometry = getattr(frame, "_geometry_column_name", None)
    out = frame.copy()
    for column in out.columns:
        if column == geometry:
            continue
        kind = kinds.get(column)
        if kind is None:
            raise UndeclaredColumnError(
                f"output column {column!r} declares no privacy kind: declare it where it is "
                "made (hotspot_env.outputs.privacy.declare or the writer's kinds mapping)")
        if privacy == "public":
            out[column] = _public_column(analysis, column, out[column], Kind(kind), privacy)
        out[column] = neutralise_column(out[column])
    return out


def _public_column(analysis: Analysis | None, name: str, column: pd.Series, kind: Kind,
                   mode: str) -> Any:
    if kind is Kind.COUNT:
        if analysis is None:
            raise UndeclaredColumnError(f"count column {name!r} has no run to protect it")
        protection = protection_for(analysis)
        if protection is not None and protection.budget is not None and name not in RELEASE_OF:
            return np.full(len(column), "withheld", dtype=object)  # no ε planned for it
        if name in analysis.arrays and len(column) == int(analysis.grid.mask.sum()):
            return published_counts(analysis, name, mode)[analysis.grid.mask]
        raise UndeclaredColumnError(f"count column {name!r} is not a per-cell layer: publish "
                                    "a protected layer or declare a coarser kind")
    if kind is Kind.COUNT_DERIVED:
        if pd.api.types.is_float_dtype(column):
            return coarsen(column.to_numpy())
        return column  # a class among a handful (integers or text) is already coarse
    if kind is Kind.AREA_DERIVED and pd.api.types.is_numeric_dtype(column):
        return np.round(column.to_numpy(dtype=float))
    return column


def public_totals(analysis: Analysis) -> dict[str, Any]:
    """The run's count summary as it may be published.

    Internal mode: unchanged. Public mode: the exact total is not published;
    ``incidents_used`` is the sum of the protected cell counts (imputed), and
    the other book-keeping counts are rounded to the nearest 10.
    """
    protection = protection_for(analysis)
    counts = dict(analysis.counts)
    if protection is None or "incidents" not in analysis.arrays:
        return counts
    cells = protection.counts("incidents", analysis.arrays["incidents"])
    out: dict[str, Any] = {k: int(round(v, -1)) if isinstance(v, int | np.integer) else v
                           for k, v in counts.items()}
    out["incidents_used"] = int(cells.imputed[analysis.grid.mask].sum())
    out["note"] = ("public mode: incidents_used is the sum of the protected cell counts "
                   "(each '<k' counted as its stand-in); the other counts are rounded to 10")
    return out


#: The public-mode cell-size floor; :data:`settings.public_min_cell_size_m`
#: may raise it, never lower it.
MIN_CELL_SIZE_FLOOR_M = 100.0


def min_cell_size() -> float:
    """The smallest cell side (m) public mode accepts: the setting, never below the floor."""
    return max(MIN_CELL_SIZE_FLOOR_M, float(settings.public_min_cell_size_m))


def count_basis(analysis: Analysis, name: str = "incidents") -> np.ndarray:
    """The counts a statistic that will be published unchanged may be computed from.

    Internal mode: the true counts. Public mode: the imputed protected counts
    (:attr:`ProtectedCounts.imputed`), so the statistic is post-processing of
    the published column.
    """
    values = np.asarray(analysis.arrays[name])
    protection = protection_for(analysis)
    if protection is None:
        return values
    return np.where(analysis.grid.mask, protection.counts(name, values).imputed, 0)


def basis_kind(analysis: Analysis) -> Kind:
    """The kind of a statistic computed from :func:`count_basis`."""
    return Kind.COUNT_DERIVED if protection_for(analysis) is None else Kind.PROTECTED_DERIVED


def protected_points(analysis: Analysis, x: np.ndarray, y: np.ndarray, times: np.ndarray,
                     periods: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stand-in incidents rebuilt from a protected cell-by-period count cube.

    The forecast (and anything else that needs incidents over time) is fitted
    on these in public mode: one point per protected count at its cell centre,
    dated in the middle of its period, so the fit is post-processing of the
    protected cube (its own DP release, ``forecast_cube``). With fewer than two
    periods the protected cell counts stand in, spread evenly over the record.

    Parameters
    ----------
    analysis : Analysis
        A public run (``analysis.protection`` set).
    x, y : ndarray
        True incident coordinates in ``grid.crs`` (read, never returned).
    times : ndarray of datetime64[ns]
        True incident times, naive UTC.
    periods : Periods or None
        The forecast's period scheme.

    Returns
    -------
    x, y, times : ndarray
        The stand-in points.
    """
    grid = analysis.grid
    cx, cy = grid.centres()
    if periods is None or periods.n < 2:
        basis = count_basis(analysis)
        reps = np.where(grid.mask, basis, 0).ravel()
        dated = times[~np.isnat(times)]
        n = int(reps.sum())
        if dated.size:
            span = np.linspace(0.0, 1.0, n) * (dated.max() - dated.min())
            stamps = dated.min() + span.astype("timedelta64[ns]")
        else:
            stamps = np.full(n, np.datetime64("NaT", "ns"))
        return np.repeat(cx.ravel(), reps), np.repeat(cy.ravel(), reps), stamps
    row, col = grid.cell_index(x, y)
    period = periods.index(times)
    ok = (row >= 0) & (period >= 0)
    cube = np.zeros((periods.n, *grid.shape), dtype=np.int64)
    np.add.at(cube, (period[ok], row[ok], col[ok]), 1)
    cube[:, ~grid.mask] = 0
    imputed = protection_for(analysis).counts("forecast_cube", cube).imputed
    imputed[:, ~grid.mask] = 0
    reps = imputed.reshape(periods.n, -1)
    middles = np.array([periods.start(k) + np.timedelta64(int(periods.days * 43200), "s")
                        for k in range(periods.n)], dtype="datetime64[ns]")
    px = np.concatenate([np.repeat(cx.ravel(), r) for r in reps])
    py = np.concatenate([np.repeat(cy.ravel(), r) for r in reps])
    pt = np.repeat(middles, reps.sum(axis=1))
    return px, py, pt


def publish_array(analysis: Analysis, name: str, privacy: str | None = None) -> np.ndarray:
    """Per-cell layer ``name`` as it may be drawn (raster, map colour), through the gate.

    Counts come back protected (strings in public mode), count-derived
    statistics as decile numbers 1..10 in public mode (NaN outside the
    study area), everything else unchanged.
    """
    mode = privacy or analysis.parameters.get("privacy", "internal")
    kind = getattr(analysis, "kinds", {}).get(name)
    if kind is None:
        raise UndeclaredColumnError(f"layer {name!r} declares no privacy kind")
    values = np.asarray(analysis.arrays[name])
    if mode != "public":
        return values
    if kind is Kind.COUNT:
        return published_counts(analysis, name, mode)
    if kind is Kind.COUNT_DERIVED and np.issubdtype(values.dtype, np.floating):
        mask = analysis.grid.mask
        out = np.full(values.shape, np.nan)
        classes = coarsen(values[mask])
        out[mask] = [float(c.split()[1]) if c else np.nan for c in classes]
        return out
    return values


#: A whole number in running text: not part of a decimal, a code (EPSG:32723),
#: a date (2018-07-31), a time (18:30) or a word (x10, P6), nor a percentage
#: (95 %, 90%) or a distance (300 m, 2 km): those are parameters (confidence
#: levels, quantiles, FDR levels, radii) or shares, not tallies of incidents.
_NOT_PERCENT = r"(?!\s?(?:%|percent\b|m\b|km\b|m²|km²|metres\b|meters\b))"
_WHOLE = re.compile(r"(?<![\w.:/-])\d{1,3}(?:,\d{3})+(?![\w.:/-]|,\d)" + _NOT_PERCENT  # 2,445
                    + r"|(?<![\w.:/,-])\d+(?![\w.:/,-])" + _NOT_PERCENT)  # 348


def _round_tally(match: re.Match) -> str:
    text = match.group(0)
    value = int(text.replace(",", ""))
    if value < 10 or ("," not in text and 1900 <= value <= 2100):  # small, or a year
        return text
    return f"~{int(round(value, -1)):,}"


def public_choice(analysis: Analysis, choice: Any) -> Any:
    """``choice`` as public mode shows it: whole numbers >= 10 rounded to the nearest 10.

    Announcements state tallies of incidents ("256 of 2,445 incidents have no
    time of day"); several exact tallies add up to the exact total, which
    public mode does not publish. Years, small numbers, percentages and
    distances ("95 % interval", "FDR 10 %", "smoothed over 300 m": parameters,
    not tallies) stay as written.
    Internal mode returns ``choice`` unchanged.
    """
    if protection_for(analysis) is None:
        return choice
    from hotspot_env.core.choices import Choice

    value = choice.value
    if isinstance(value, int | np.integer) and not isinstance(value, bool) and abs(value) >= 10:
        value = int(round(int(value), -1))
    return Choice(choice.name, value, _WHOLE.sub(_round_tally, str(choice.rule)))


def public_tally(analysis: Analysis, n: int) -> int:
    """An incident tally as a public output may state it (rounded to 10 in public mode)."""
    return tally_for(n, "internal" if protection_for(analysis) is None else "public")


def tally_for(n: int, privacy: str) -> int:
    """An incident tally in ``privacy`` mode without an analysis (a national manifest)."""
    return int(n) if privacy != "public" else int(round(int(n), -1))
