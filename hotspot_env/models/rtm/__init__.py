"""Risk terrain modeling (RTM): which place features go with incidents, and how strongly.

Risk terrain modeling (Caplan, Kennedy & Miller 2011; Caplan & Kennedy 2016)
asks which features of the environment (bars, vacant lots, dark streets...)
have a *spatial influence* on incidents, operationalises each as a yes/no
layer on the grid, and fits a count regression of incidents per cell on those
layers. The exponentiated coefficients are *relative risk values* (RRV): a
cell exposed to a factor with RRV 2 is expected to have twice the incidents of
an otherwise equal cell. The product of the RRVs present in a cell is its
*risk terrain score* (1 = no selected factor present).

This module follows the RTMDx utility (Caplan & Kennedy 2016, ch. 4):

Operationalisations
    For each candidate factor (a layer of features) and each distance
    ``d`` in 1, 2 and 3 *block lengths* (median street-segment length, see
    :func:`block_length`):

    * **proximity**: 1 if the cell centre lies within ``d`` of a feature
      (:func:`proximity_indicators`, module :mod:`.proximity`);
    * **density**: 1 if the kernel density of the features, with a quartic
      kernel of radius ``d``, exceeds the mean + 2 standard deviations over the
      study area (:func:`density_indicators`, module :mod:`.density`; the RTMDx
      convention).

Selection (:func:`fit`, module :mod:`.selection`; the GLMs in :mod:`.glm`)
    1. Counts are checked for overdispersion with a likelihood-ratio test of
       the negative binomial (NB2) dispersion against Poisson; negative
       binomial is used when the test rejects at 5 %.
    2. Per factor, the operationalisation with the lowest BIC in a one-factor
       model (positive coefficients only, unless ``protective=True``).
    3. Bidirectional stepwise selection by BIC among those, from the null
       model (the RTMDx procedure).
    4. Unpenalised refit of the selected set (NB dispersion re-estimated by
       maximum likelihood), then a Holm step-down test over *all* the
       operationalisations tried (family-wise error 5 %): factors that fail it
       are dropped and the model refitted. Because the search tries several
       operationalisations per factor, unadjusted p-values would let
       irrelevant layers in; this rule keeps every reported factor at
       ``p <= 0.05 / m`` or better for ``m`` candidates.

All fits group cells with the same indicator pattern and count and pass the
group sizes as frequency weights: the likelihood is exactly that of the
cell-level model, and a fit on 240,000 cells takes milliseconds.

References
----------
Caplan, J. M., Kennedy, L. W. & Miller, J. (2011). Risk terrain modeling:
brokering criminological theory and GIS methods for crime forecasting.
Justice Quarterly 28(2), 360-381.
Caplan, J. M. & Kennedy, L. W. (2016). Risk Terrain Modeling: Crime
Prediction and Risk Reduction. University of California Press.
Schwarz, G. (1978). Estimating the dimension of a model. Annals of Statistics
6(2), 461-464.
Holm, S. (1979). A simple sequentially rejective multiple test procedure.
Scandinavian Journal of Statistics 6(2), 65-70.

Modules
-------
``constants``
    Distances tested, error rate, table columns, display names.
``candidates``
    Block length and every operationalisation of every layer.
``proximity``, ``density``
    The two operationalisations (geometry helpers in ``_geometry``).
``glm``
    Poisson and NB2 GLMs by IRLS, NB2 dispersion by profile likelihood.
``selection``, ``result``
    The RTMDx selection (:func:`fit`) and :class:`RTMResult`.
``reasons``
    Plain-language reasons per cell (:func:`explain`).
``pipeline_stage``
    Candidate layers, the pipeline stage and ``rtm.csv``.
"""

from hotspot_env.models.rtm.candidates import Candidate, block_length, candidate_indicators
from hotspot_env.models.rtm.constants import (
    BLOCK_MULTIPLES,
    DEFAULT_BLOCK_LENGTH_M,
    DISPLAY_NAMES,
    FWER,
    OPERATIONS,
    STREET_LAYER_NAMES,
    TABLE_COLUMNS,
    TOP_PERCENT,
    USE_LAYER,
)
from hotspot_env.models.rtm.density import density_indicators
from hotspot_env.models.rtm.pipeline_stage import (
    RTM_KINDS,
    candidate_layers,
    collect_layers,
    stage,
    street_layer,
    write_rtm,
)
from hotspot_env.models.rtm.proximity import proximity_indicators
from hotspot_env.models.rtm.reasons import explain, segments_per_cell
from hotspot_env.models.rtm.result import RTMResult, headline
from hotspot_env.models.rtm.selection import fit, holm

__all__ = ["BLOCK_MULTIPLES", "DEFAULT_BLOCK_LENGTH_M", "DISPLAY_NAMES", "FWER", "OPERATIONS",
           "RTM_KINDS", "STREET_LAYER_NAMES", "TABLE_COLUMNS", "TOP_PERCENT", "USE_LAYER",
           "Candidate", "RTMResult", "block_length", "candidate_indicators", "candidate_layers",
           "collect_layers", "density_indicators", "explain", "fit", "headline", "holm",
           "proximity_indicators", "segments_per_cell", "stage", "street_layer", "write_rtm"]
