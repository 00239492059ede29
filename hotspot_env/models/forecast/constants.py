"""Settings of the default forecast: periods, candidates, folds, the treatable share."""

from __future__ import annotations

#: Candidate period lengths, longest first: name and length in days.
PERIODS: tuple[tuple[str, float], ...] = (
    ("year", 365.25), ("half-year", 365.25 / 2), ("quarter", 365.25 / 4), ("month", 365.25 / 12))

#: Fewest recorded periods needed to cross-validate (one train/test fold).
MIN_PERIODS: int = 2

#: Default share of the area a crew can treat: the ranking criterion's cut-off.
TREATABLE_SHARE: float = 0.05

#: Candidate kernel radii, in cells.
RADII_CELLS: tuple[float, ...] = (1.5, 2, 3, 5, 8, 12, 24)

#: Weights of the neighbour-smoothed counts added to the counts ("blend").
BLENDS: tuple[float, ...] = (0.1, 0.5)

#: Longest "last L periods" base tried (the long-run base covers the rest).
MAX_LOOKBACK: int = 6

#: Uniform share mixed into every count forecast, so no cell is forecast exactly zero.
UNIFORM_SHARE: float = 0.01

#: Most recent test periods used by the cross-validation.
MAX_FOLDS: int = 6

#: A period counts as full when the records cover at least 90 % of it: the
#: first and last incidents of a sparse record fall days inside the true
#: collection window (2,169 days of homicides are six years, not five).
PERIOD_SLACK: float = 0.1

#: Relative size of the neighbour tie-break: far below any difference of counts.
TIEBREAK: float = 1e-6
