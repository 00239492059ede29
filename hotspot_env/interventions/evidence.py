"""The evidence library and cost table: load, validate, look up.

Every effect size and every price lives in two editable CSV files,
``data/evidence.csv`` and ``data/costs.csv`` (columns in ``docs/evidence.md``),
found in :data:`hotspot_env.settings.data_folder` unless other paths are given.
This module holds **no** effect sizes: it reads the tables, checks them, and
turns any problem into a one-line :class:`~hotspot_env.errors.InputError` that
names the file, the line (line 1 is the header) and the fix.

Annualised cost
---------------
Prevented incidents are per year, so costs are per year too: one unit costs
``unit_cost / lifetime_years + annual_maintenance`` USD per year (capital spread
evenly over its lifetime, no discounting). A budget is therefore a yearly
budget in the same units (see ``docs/interventions.md``).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hotspot_env import settings
from hotspot_env._hashing import file_sha256
from hotspot_env.errors import InputError

EVIDENCE_COLUMNS: tuple[str, ...] = (
    "intervention_type", "outcome", "crime_categories", "hours", "places", "population",
    "rate_ratio", "ci_low", "ci_high", "ci_source", "reach_m", "displacement",
    "diffusion_factor", "study", "design", "citation", "doi_or_url", "verified", "caveat",
    "notes",
)
COST_COLUMNS: tuple[str, ...] = (
    "intervention_type", "unit", "unit_cost", "currency", "lifetime_years",
    "annual_maintenance", "cost_basis", "year", "source", "notes",
)

#: Columns a table may leave out, and the value they then take (older tables
#: and users' own tables keep loading; ``cost_basis`` is derived from ``source``).
OPTIONAL_DEFAULTS: dict[str, str] = {
    "places": "all", "population": "all", "ci_source": "", "caveat": "", "notes": "",
    "source": "", "currency": "USD", "year": "",
}

#: Where a row applies: every incident, or only incidents outdoors (premise field
#: ``outdoor``, else an announced outdoor share; :mod:`.impact`).
PLACES: tuple[str, ...] = ("all", "outdoor")
#: Population a row's estimate holds for. Only ``all`` rows are applied by
#: default; subgroup rows (``below_poverty``) need a layer saying where they hold.
POPULATIONS: tuple[str, ...] = ("all", "below_poverty")
#: Where the 95 % interval comes from (docs/evidence.md, "Conversions used").
CI_SOURCES: tuple[str, ...] = ("paper", "p_rule", "assumed", "")
#: How far a row was checked. ``unverified`` rows are kept out of the ranking:
#: their types are offered as "effect unknown" options (``no`` is read as it).
VERIFIED: tuple[str, ...] = ("yes", "partial", "unverified")
#: What a cost figure rests on; selections resting on a placeholder are warned about.
COST_BASES: tuple[str, ...] = ("published study", "city tender", "placeholder")

#: Crime categories an evidence row may name (``all`` stands alone).
CATEGORIES: tuple[str, ...] = (
    "violence", "robbery", "burglary", "theft", "vandalism", "drugs", "disorder", "gun_violence",
)

#: Category pairs that overlap: every gun_violence incident is also violence.
OVERLAPPING: frozenset[frozenset[str]] = frozenset({frozenset({"gun_violence", "violence"})})

DISPLACEMENT_VALUES: tuple[str, ...] = ("none", "diffusion", "displacement")

#: Words that mark surveillance or policing measures, out of scope by design
#: (``docs/evidence.md``, "Why surveillance measures are excluded").
SURVEILLANCE_WORDS: tuple[str, ...] = (
    "cctv", "camera", "surveillance", "predictive", "patrol", "facial", "plate_reader", "lpr",
)

_SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
_WINDOW = re.compile(r"^(\d{1,2})-(\d{1,2})$")
_YEAR = re.compile(r"(1[89]\d\d|20\d\d)")


@dataclass(frozen=True)
class EvidenceLibrary:
    """The validated evidence and cost tables.

    Attributes
    ----------
    evidence : DataFrame
        One row per ``intervention_type`` x ``outcome``, sorted by both, with
        the CSV columns plus ``line`` (line number in the file), ``active``
        (applied by default: not ``unverified`` and population ``all``), ``categories``
        (tuple of str), ``window`` (``(start, end)`` local hours or None),
        ``sigma`` (log-scale SD from the 95 % CI) and ``short`` (citation
        short form, e.g. "Chalfin et al. 2022").
    costs : DataFrame
        Indexed by ``intervention_type``, with the CSV columns plus
        ``annual_unit_cost`` (USD per unit per year).
    evidence_path, costs_path : Path
        The files read.
    sha256 : dict of str to str
        File name to SHA-256 of its bytes (for the manifest).
    """

    evidence: pd.DataFrame
    costs: pd.DataFrame
    evidence_path: Path
    costs_path: Path
    sha256: dict[str, str] = field(default_factory=dict)

    @property
    def types(self) -> list[str]:
        """Intervention types with both evidence and a cost, sorted."""
        return sorted(set(self.evidence["intervention_type"]))

    def rows_for(self, intervention_type: str) -> pd.DataFrame:
        """Evidence rows of one intervention type (empty frame if none)."""
        return self.evidence[self.evidence["intervention_type"] == intervention_type]

    def short_citation(self, intervention_type: str) -> str:
        """Short citations of a type's rows, ``"; "``-joined without repeats."""
        shorts = self.rows_for(intervention_type)["short"]
        return "; ".join(dict.fromkeys(shorts))

    def effect_known(self, intervention_type: str) -> bool:
        """True when some row of the type is applied by default (verified, whole population)."""
        return bool(self.rows_for(intervention_type)["active"].any()) if "active" in \
            self.evidence else True

    def cost_basis(self, intervention_type: str) -> str:
        """``published study``, ``city tender`` or ``placeholder`` (``unstated`` if unknown)."""
        if "cost_basis" not in self.costs or intervention_type not in self.costs.index:
            return "unstated"
        return str(self.costs.loc[intervention_type, "cost_basis"]) or "unstated"

    def cost_year(self, intervention_type: str) -> str:
        """Price year of a type's cost ("" when not known)."""
        if "year" not in self.costs or intervention_type not in self.costs.index:
            return ""
        return str(self.costs.loc[intervention_type, "year"])

    def annual_unit_cost(self, intervention_type: str) -> float:
        """Cost of one unit per year (USD): capital / lifetime + maintenance."""
        return float(self.costs.loc[intervention_type, "annual_unit_cost"])


def load_library(
    evidence_path: str | os.PathLike[str] | None = None,
    costs_path: str | os.PathLike[str] | None = None,
) -> EvidenceLibrary:
    """Read and validate both tables.

    Parameters
    ----------
    evidence_path, costs_path : path-like, optional
        Defaults: ``evidence.csv`` and ``costs.csv`` in
        :data:`hotspot_env.settings.data_folder`.

    Returns
    -------
    EvidenceLibrary

    Raises
    ------
    InputError
        On the first problem found, naming file, line and fix.
    """
    ev_path = Path(evidence_path) if evidence_path is not None else (
        Path(settings.data_folder) / "evidence.csv")
    cost_path = Path(costs_path) if costs_path is not None else (
        Path(settings.data_folder) / "costs.csv")
    evidence = load_evidence(ev_path)
    costs = load_costs(cost_path)
    ev_types = set(evidence["intervention_type"])
    for itype, line in zip(costs.index, costs["line"], strict=True):
        if itype not in ev_types:
            raise InputError(
                f"{cost_path} line {line}: intervention type {itype!r} has no row in "
                f"{ev_path.name}: add its evidence there or remove the cost row")
    missing = sorted(ev_types - set(costs.index))
    if missing:
        first = evidence.loc[evidence["intervention_type"] == missing[0], "line"].iloc[0]
        raise InputError(
            f"{ev_path} line {first}: intervention type {missing[0]!r} has no cost row in "
            f"{cost_path.name}: add one (unit, unit_cost, lifetime_years, annual_maintenance)")
    return EvidenceLibrary(evidence, costs, ev_path, cost_path,
                           {p.name: file_sha256(p) for p in (ev_path, cost_path)})


def portable_reference(path: str | os.PathLike[str]) -> str:
    """A reference to a table that does not depend on where the run happened.

    ``data:<relative path>`` for a file in :data:`hotspot_env.settings.data_folder` (the
    library shipped with the package, or the folder a user pointed that setting at);
    ``file:<name>`` for any other file. Outputs record this reference beside the file's
    SHA-256 (which identifies its content), never the absolute path: the same run in two
    checkouts, or two machines, writes the same bytes.
    """
    path = Path(path)
    try:
        rel = path.resolve().relative_to(Path(settings.data_folder).resolve())
    except ValueError:
        return f"file:{path.name}"
    return f"data:{rel.as_posix()}"


def resolve_reference(reference: str) -> Path:
    """The file a :func:`portable_reference` names, as far as it can be found here.

    ``data:`` references resolve in the current data folder; ``file:`` ones (and an older
    state's absolute path) give the name or path as recorded.
    """
    kind, _, rest = str(reference).partition(":")
    if kind == "data" and rest:
        return Path(settings.data_folder) / rest
    if kind == "file" and rest:
        return Path(rest)
    return Path(reference)


def load_evidence(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read and validate ``evidence.csv`` (see :func:`load_library`)."""
    path = Path(path)
    frame = _read_csv(path, EVIDENCE_COLUMNS)
    if frame.empty:
        raise InputError(f"{path} has no rows: add at least one intervention_type x outcome row")
    for col in ("rate_ratio", "ci_low", "ci_high", "reach_m", "diffusion_factor"):
        frame[col] = _numeric(frame, col, path)
    for col in ("intervention_type", "outcome", "crime_categories", "hours", "displacement",
                "study", "citation"):
        _require_text(frame, col, path)
    frame["verified"] = frame["verified"].replace({"no": "unverified"})
    rows = []
    for rec in frame.to_dict("records"):
        tag = f"{path} line {rec['line']} ({rec['intervention_type']}/{rec['outcome']})"
        _check_type(tag, rec["intervention_type"])
        _check_effect(tag, rec)
        cats = _row_categories(tag, rec)
        hours, window = _row_hours(tag, rec)
        lo, hi = rec["ci_low"], rec["ci_high"]
        rec.update(categories=cats, hours=hours, window=window,
                   active=rec["verified"] != "unverified" and rec["population"] == "all",
                   sigma=(math.log(hi) - math.log(lo)) / (2 * 1.96),
                   short=short_citation(rec["study"]))
        rows.append(rec)
    out = pd.DataFrame(rows)
    _check_one_row_per_incident(out, path)
    return out.sort_values(["intervention_type", "outcome"], kind="stable").reset_index(drop=True)



def _check_type(tag: str, itype: str) -> None:
    """A snake_case intervention type, and never a surveillance or policing measure."""
    if not _SNAKE.match(itype):
        raise InputError(f"{tag}: intervention_type must be snake_case (e.g. new_streetlight)")
    if any(word in itype for word in SURVEILLANCE_WORDS):
        raise InputError(f"{tag}: surveillance and policing measures are out of scope "
                         "(places, never people): remove this row")


def _check_effect(tag: str, rec: dict[str, Any]) -> None:
    """The rate ratio inside a positive 95 % CI, a reach, a diffusion factor in [0, 1] and
    known values in the categorical columns."""
    rr, lo, hi = rec["rate_ratio"], rec["ci_low"], rec["ci_high"]
    if not lo > 0:
        raise InputError(f"{tag}: ci_low must be above 0, got {lo:g}: a rate ratio is positive")
    if not lo <= hi:
        raise InputError(f"{tag}: ci_low {lo:g} is above ci_high {hi:g}: swap them")
    if not lo <= rr <= hi:
        raise InputError(f"{tag}: rate_ratio {rr:g} lies outside its 95 % CI [{lo:g}, {hi:g}]: "
                         "correct rate_ratio, ci_low or ci_high")
    if not rec["reach_m"] > 0:
        raise InputError(f"{tag}: reach_m must be a positive distance in metres")
    if not 0 <= rec["diffusion_factor"] <= 1:
        raise InputError(f"{tag}: diffusion_factor must lie in [0, 1], got "
                         f"{rec['diffusion_factor']:g}")
    if rec["displacement"] not in DISPLACEMENT_VALUES:
        raise InputError(f"{tag}: displacement {rec['displacement']!r} must be one of "
                         f"{', '.join(DISPLACEMENT_VALUES)}")
    for col, allowed in (("places", PLACES), ("population", POPULATIONS),
                         ("ci_source", CI_SOURCES), ("verified", VERIFIED)):
        if rec[col] not in allowed:
            raise InputError(f"{tag}: {col} {rec[col]!r} must be one of "
                             f"{', '.join(repr(a) for a in allowed)}")


def _row_categories(tag: str, rec: dict[str, Any]) -> tuple[str, ...]:
    """The row's crime categories: ``("all",)`` or known categories."""
    cats = tuple(c.strip() for c in str(rec["crime_categories"]).split(";"))
    if cats != ("all",) and not set(cats) <= set(CATEGORIES):
        bad = sorted(set(cats) - set(CATEGORIES) - {"all"})
        extra = f"unknown categories {bad}" if bad else "'all' must stand alone"
        raise InputError(f"{tag}: crime_categories has {extra}: use 'all' or ;-separated "
                         f"{', '.join(CATEGORIES)}")
    return cats


def _row_hours(tag: str, rec: dict[str, Any]) -> tuple[str, tuple[int, int] | None]:
    """The row's hours (``dark``, ``all`` or a window) and the window as local hours."""
    hours = str(rec["hours"]).strip()
    window = None
    if hours not in ("dark", "all"):
        match = _WINDOW.match(hours)
        if not (match and 0 <= int(match[1]) <= 24 and 0 <= int(match[2]) <= 24
                and int(match[1]) != int(match[2])):
            raise InputError(f"{tag}: hours {hours!r} must be 'dark', 'all' or a local-time "
                             "window like '15-19'")
        window = (int(match[1]) % 24, int(match[2]) % 24)
    if "light" in rec["intervention_type"] and hours != "dark":
        raise InputError(f"{tag}: lighting rows must have hours 'dark' (lighting only changes "
                         "what happens in darkness)")
    return hours, window


def _check_one_row_per_incident(out: pd.DataFrame, path: Path) -> None:
    """One row per type and outcome, and no two rows of a type reducing the same incident."""
    dupes = out.duplicated(["intervention_type", "outcome"], keep="first")
    if dupes.any():
        rec = out[dupes].iloc[0]
        raise InputError(f"{path} line {rec['line']}: {rec['intervention_type']}/{rec['outcome']} "
                         "appears twice: give each row its own outcome or delete one")
    for itype, group in out.groupby("intervention_type", sort=True):
        recs = group.to_dict("records")
        for a in range(len(recs)):
            for b in range(a + 1, len(recs)):
                if categories_overlap(set(recs[a]["categories"]), set(recs[b]["categories"])):
                    raise InputError(
                        f"{path} lines {recs[a]['line']} and {recs[b]['line']}: two {itype} rows "
                        "cover overlapping crime categories, so an incident would be reduced "
                        "twice: make their crime_categories disjoint")


#: Bounds on ``lifetime_years`` in ``costs.csv``: a month to a century.
MIN_LIFETIME_YEARS = 1 / 12
MAX_LIFETIME_YEARS = 100.0


def load_costs(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read and validate ``costs.csv`` (see :func:`load_library`)."""
    path = Path(path)
    frame = _read_csv(path, COST_COLUMNS)
    for col in ("unit_cost", "lifetime_years", "annual_maintenance"):
        frame[col] = _numeric(frame, col, path)
    for col in ("intervention_type", "unit"):
        _require_text(frame, col, path)
    if "cost_basis" not in frame.columns:  # older tables: a placeholder says so in its source
        frame["cost_basis"] = np.where(frame["source"].str.lower().str.startswith("placeholder"),
                                       "placeholder", "published study")
    seen: dict[str, int] = {}
    for rec in frame.to_dict("records"):
        tag = f"{path} line {rec['line']} ({rec['intervention_type']})"
        if rec["intervention_type"] in seen:
            raise InputError(f"{tag}: second cost row for this type (first on line "
                             f"{seen[rec['intervention_type']]}): keep one")
        seen[rec["intervention_type"]] = rec["line"]
        for col in ("unit_cost", "annual_maintenance"):
            if rec[col] < 0:
                raise InputError(f"{tag}: {col} is negative ({rec[col]:g}): costs must be >= 0 USD")
            if not math.isfinite(rec[col]):
                raise InputError(f"{tag}: {col} is not a finite number: give USD")
        if not rec["lifetime_years"] > 0:
            raise InputError(f"{tag}: lifetime_years must be above 0 (years the capital lasts)")
        if not MIN_LIFETIME_YEARS <= rec["lifetime_years"] <= MAX_LIFETIME_YEARS:
            # 1e-308 years would make the yearly cost infinite (and its shares NaN)
            raise InputError(f"{tag}: lifetime_years {rec['lifetime_years']:g} must be between "
                             f"{MIN_LIFETIME_YEARS:g} and {MAX_LIFETIME_YEARS:g} years")
        if rec["unit_cost"] + rec["annual_maintenance"] <= 0:
            raise InputError(f"{tag}: unit_cost and annual_maintenance are both 0, so the "
                             "intervention would be free: set a local cost")
        currency = str(rec.get("currency", "USD")).strip() or "USD"
        if currency != "USD":
            raise InputError(f"{tag}: currency {currency!r}: convert the figures to USD")
        if rec["cost_basis"] not in COST_BASES:
            raise InputError(f"{tag}: cost_basis {rec['cost_basis']!r} must be one of "
                             f"{', '.join(repr(b) for b in COST_BASES)}")
        if rec["year"] and not re.fullmatch(r"(19|20)\d\d", rec["year"]):
            raise InputError(f"{tag}: year {rec['year']!r} must be the price year (e.g. 2016) "
                             "or empty when unknown")
    frame["annual_unit_cost"] = frame["unit_cost"] / frame["lifetime_years"] + frame[
        "annual_maintenance"]
    return frame.set_index("intervention_type").sort_index()


def categories_overlap(a: set[str], b: set[str]) -> bool:
    """True when two category sets can hold the same incident."""
    if "all" in a or "all" in b or a & b:
        return True
    return any(frozenset({x, y}) in OVERLAPPING for x in a for y in b)


def short_citation(study: str) -> str:
    """Short form of a ``study`` field (e.g. "Chalfin et al. 2022").

    Parenthesised remarks are dropped; one or two authors are kept as they are.
    """
    text = re.sub(r"\([^)]*\)", "", str(study)).strip()
    years = _YEAR.findall(text)
    if not years:
        return text
    year = years[-1]
    authors = text[: text.rfind(year)].strip().rstrip(",")
    if "et al" in authors:
        return f"{authors.split('et al')[0].strip()} et al. {year}"
    names = [n.strip() for n in re.split(r",|&| and ", authors) if n.strip()]
    if len(names) >= 3:
        return f"{names[0]} et al. {year}"
    return f"{' & '.join(names)} {year}" if names else text


# ------------------------------------------------------------------ helpers
def _read_csv(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(f"{path} does not exist: restore it from the repository's data/ folder "
                         "or pass the right path")
    try:
        frame = pd.read_csv(path, encoding="utf-8", dtype=str, keep_default_na=False)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"{path} cannot be read as UTF-8 CSV ({exc.__class__.__name__}): save it "
                         "as comma-separated UTF-8 with a header line") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    optional = set(OPTIONAL_DEFAULTS) | {"cost_basis"}
    missing = [c for c in columns if c not in frame.columns and c not in optional]
    if missing:
        raise InputError(f"{path} line 1: missing column {missing[0]!r}: the header must name "
                         f"{', '.join(columns)}")
    for col in columns:
        if col not in frame.columns and col in OPTIONAL_DEFAULTS:
            frame[col] = OPTIONAL_DEFAULTS[col]
    frame = frame.apply(lambda s: s.str.strip())
    frame["line"] = np.arange(len(frame)) + 2
    return frame


def _numeric(frame: pd.DataFrame, col: str, path: Path) -> pd.Series:
    values = pd.to_numeric(frame[col], errors="coerce")
    bad = ~np.isfinite(values.to_numpy(dtype=float))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"{path} line {frame['line'].iloc[i]}: {col} {frame[col].iloc[i]!r} "
                         "is not a number: write a plain number such as 0.86")
    return values.astype(float)


def _require_text(frame: pd.DataFrame, col: str, path: Path) -> None:
    empty = frame[col].astype(str).str.strip() == ""
    if empty.any():
        i = int(np.flatnonzero(empty.to_numpy())[0])
        raise InputError(f"{path} line {frame['line'].iloc[i]}: {col} is empty: fill it in")
