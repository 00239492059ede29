"""Out-of-sample validation: fit on an earlier period, predict the next, score the maps.

:func:`validate` splits the dated incidents at ``split_date`` (default: the
start of the last full period of :func:`hotspot_env.models.forecast.choose_period`,
the last year for multi-year records). Every method sees only incidents before
the split and predicts a value per cell; the incidents of the test window
(``split_date`` up to the midnight after the last record) score them.

Methods
-------
``forecast``
    The default ranking (:func:`hotspot_env.models.forecast.fit_forecast`), chosen
    by rolling-origin cross-validation on the training periods only.
``last_period_counts``
    Naive baseline: incidents per cell in the last recorded training period
    (of the forecast's period scheme; without one, the window of the test's
    length just before the split).
``long_run_counts``
    Naive baseline: incidents per cell over every training period, unsmoothed.
``classic_kde``
    Quartic KDE of every training incident at the rule-of-thumb radius
    (:func:`hotspot_env.core.density.choose_bandwidth` on the training points).
``rtm``
    The risk terrain score (:func:`hotspot_env.models.rtm.fit` on training counts).
    Place features do not change with the split, so no test information leaks.
``rtm_x_kde``
    Risk terrain score x KDE: risky places weighted by where incidents have
    concentrated (a common RTM + hot spot combination, Caplan & Kennedy 2016).

The three naive methods are the *baselines* (:data:`BASELINES`): the
forecast is compared with the best of them by PEI at the treatable share,
with a paired bootstrap interval over cells (:func:`compare`).

Metrics (one tidy table: ``method, metric, area_pct, decile, value``)
---------------------------------------------------------------------
``hit_rate`` at 1, 5 and 10 % of the cells
    Share of test incidents in the ``ceil(a x n)`` cells ranked highest.
    Cells tied at the cut-off are counted pro rata (the expected hit rate
    under random tie-breaking), so a flat map scores exactly its area share;
    values within :data:`~hotspot_env.models.scores.TIE_RTOL` of the largest
    tie, as in the forecast's cross-validation and backtest.
``pai``
    Predictive accuracy index (Chainey, Tompson & Uhlig 2008):
    hit rate / area share. 1 = no better than chance.
``pei``
    Predictive efficiency index (Hunt 2016): incidents in the flagged cells
    over the most that many cells held. 1 = the best possible ranking.
``poisson_deviance``, ``mse``
    Over all cells, with each method scaled to its expected test total
    (training rate x test length for the long-run counts, KDE and RTM
    methods; last period's counts and the forecast keep their own totals)
    and 1 % of a uniform rate mixed in for the deviance (every method
    alike), so zero forecasts stay scoreable.
``calibration_predicted``, ``calibration_observed``
    Sums per decile of cells ranked by prediction (decile 10 = highest;
    ties broken by cell order).

References
----------
Efron, B. & Tibshirani, R. (1993). An Introduction to the Bootstrap. Chapman & Hall.
Hanley, J. A. & MacGibbon, B. (2006). Creating non-parametric bootstrap samples
using Poisson frequencies. Computer Methods and Programs in Biomedicine 83, 57-62.
Hit rate, PAI, PEI and their tie rule: :mod:`hotspot_env.models.scores` (Chainey,
Tompson & Uhlig 2008; Hunt 2016), where they are implemented and referenced.

Modules
-------
``constants``, ``holdout``
    Settings; the split and every method's fit (:func:`validate`).
``metrics``, ``comparison``
    The tidy metric table; the forecast against the best baseline (paired bootstrap).
``verdict``
    Better, no clear difference or worse, by the bootstrap interval; the one sentence.
``tables``, ``pipeline_stage``
    Summary, verdict, report section and files; the pipeline stage.
"""

from hotspot_env.models.validation.comparison import compare, pei_difference_bootstrap
from hotspot_env.models.validation.constants import (
    AREA_PCTS,
    BASELINES,
    BOOTSTRAP_RESAMPLES,
    COLUMNS,
    LABELS,
    METHODS,
    STAGE_METHODS,
)
from hotspot_env.models.validation.holdout import HoldOut, factor_results, validate
from hotspot_env.models.validation.metrics import calibration, score_methods
from hotspot_env.models.validation.pipeline_stage import stage
from hotspot_env.models.validation.tables import (
    chart_frame,
    report_section,
    summary,
    verdict,
    write_stage_validation,
    write_validation,
)
from hotspot_env.models.validation.verdict import (
    BETTER,
    GUIDE_RULE,
    UNCLEAR,
    WORSE,
    caution,
    outcome,
    verdict_sentence,
)

__all__ = ["AREA_PCTS", "BASELINES", "BETTER", "BOOTSTRAP_RESAMPLES", "COLUMNS", "GUIDE_RULE",
           "LABELS", "METHODS", "STAGE_METHODS", "UNCLEAR", "WORSE", "HoldOut", "calibration",
           "caution", "chart_frame", "compare", "factor_results", "outcome",
           "pei_difference_bootstrap", "report_section", "score_methods", "stage", "summary",
           "validate", "verdict", "verdict_sentence", "write_stage_validation",
           "write_validation"]
