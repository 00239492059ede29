"""The default forecast: expected incidents per cell next year, chosen by how well it ranks places.

Periods and gaps
----------------
Time is cut into equal periods counted back from the last recorded day: the
longest of year, half-year, quarter and month that gives at least two
*recorded* periods (:func:`choose_period`), so a year-ahead forecast is tuned
on year-ahead folds whenever the record holds two years. A period with no
record anywhere in the area is a gap in recording, not zero incidents: it is
left out and announced. The oldest period may be only partly covered by the
time span; it is kept when it holds nearly a full period's records (records
kept at a coarser resolution than their dates, such as one monthly file per
year) and dropped otherwise.

Candidates
----------
With ``C_1..C_t`` the counts per cell of the recorded periods before the one
forecast, every candidate is a *base* and a *smoother* (:func:`candidates`):

* bases: long-run counts (mean of every past period), counts over the last
  ``L`` periods (``L = 1`` is last period's counts), recency-weighted counts
  (weights halving each period back);
* smoothers: none (the naive baselines themselves), a tie-break by the
  neighbours (``base + eps K_h(base)``, ``eps`` too small to reorder any
  distinct counts), blends ``base + a K_h(base)`` (``a`` = 0.1, 0.5) and the
  pure kernel smooth ``K_h(base)``, with ``K_h`` a quartic kernel of radius
  ``h`` = 1.5 to 24 cells that keeps the total inside the study area.

Choice
------
Candidates are scored on rolling-origin folds (Hyndman & Athanasopoulos 2021,
sec. 5.10; up to the last six recorded periods, each forecast from the
periods before it only) by the decision criterion: the predictive efficiency
index (PEI; Hunt 2016) at the treatable share of the area (default 5 %): the
incidents in the cells a crew could treat, over the most those cells could
hold. The simplest candidate within one standard error of the best mean PEI
wins (:func:`one_se_choice`; bases before tie-breaks, blends and smooths), so
when a naive baseline ranks as well as anything the default **is** that
baseline, announced in plain words. No infinite or NaN score can win
(:func:`best_finite`).

Calibration
-----------
The winner is a ranking. For expected incidents (the intervention baseline) it
is calibrated on the same folds by a Poisson regression ``log mu = a + b log s``
(statsmodels GLM; Gneiting 2011 for the deviance as a proper score), which is
strictly increasing in ``s`` when ``b > 0`` and so keeps the ranking; otherwise
the score is only rescaled to the recent total. One model thus serves both the
map and the count forecast.

References
----------
Mohler, G. O. et al. (2011). Self-exciting point process modeling of crime.
JASA 106(493), 100-108.
Gneiting, T. (2011). Making and evaluating point forecasts. JASA 106(494), 746-762.
Hyndman, R. J. & Athanasopoulos, G. (2021). Forecasting: principles and
practice, 3rd ed. OTexts.
Hastie, T., Tibshirani, R. & Friedman, J. (2009). The Elements of Statistical
Learning, 2nd ed. Springer.
The PEI and its tie rule: :mod:`hotspot_env.models.scores` (Chainey, Tompson &
Uhlig 2008; Hunt 2016), where they are implemented and referenced.

Modules
-------
``constants``, ``periods``
    Settings; periods back from the last record and gaps in recording.
``cube``, ``rankers``
    The count cube and its kernel smooths; the candidate rankings.
``scoring``, ``result``
    Cross-validation (PEI by :func:`hotspot_env.models.scores.pei`), the one-SE choice and
    calibration; :class:`ForecastResult`.
``fitting``, ``pipeline_stage``
    :func:`fit_forecast`, :func:`fit_stack`, :func:`backtest`; the pipeline stage.
"""

from hotspot_env.models.forecast.constants import (
    BLENDS,
    MAX_FOLDS,
    MAX_LOOKBACK,
    MIN_PERIODS,
    PERIOD_SLACK,
    PERIODS,
    RADII_CELLS,
    TIEBREAK,
    TREATABLE_SHARE,
    UNIFORM_SHARE,
)
from hotspot_env.models.forecast.cube import CountStack, count_stack, cube_stack, radii
from hotspot_env.models.forecast.fitting import backtest, fit_forecast, fit_stack
from hotspot_env.models.forecast.periods import (
    Periods,
    choose_period,
    month_periods,
    recording_gaps,
)
from hotspot_env.models.forecast.pipeline_stage import stage
from hotspot_env.models.forecast.rankers import Candidate, candidates
from hotspot_env.models.forecast.result import ForecastResult
from hotspot_env.models.forecast.scoring import (
    best_finite,
    calibrate,
    check_share,
    cross_validate,
    one_se_choice,
    poisson_deviance,
    with_floor,
)

__all__ = ["BLENDS", "MAX_FOLDS", "MAX_LOOKBACK", "MIN_PERIODS", "PERIODS", "PERIOD_SLACK",
           "RADII_CELLS", "TIEBREAK", "TREATABLE_SHARE", "UNIFORM_SHARE", "Candidate",
           "CountStack", "ForecastResult", "Periods", "backtest", "best_finite", "calibrate",
           "candidates", "check_share", "choose_period", "count_stack", "cross_validate",
           "cube_stack", "fit_forecast", "fit_stack", "month_periods", "one_se_choice",
           "poisson_deviance", "radii", "recording_gaps", "stage", "with_floor"]
