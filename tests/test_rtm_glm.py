"""The risk terrain model's count regressions against statsmodels (an independent reference).

The RTM fits its Poisson and negative binomial (NB2) GLMs with its own IRLS on
grouped cells (:mod:`hotspot_env.models.rtm.glm`) and estimates the NB2
dispersion by a bounded profile-likelihood search. These tests simulate cell
counts with known coefficients and dispersion and compare every number the RTM
reports (coefficients, standard errors, dispersion alpha, log-likelihood) with
statsmodels fitted on the *ungrouped* cells, so the grouping by frequency
weights is checked too.

Tolerances
----------
At a fixed dispersion both sides solve the same score equations:
our IRLS stops when no coefficient moves by 1e-9 (and converges
quadratically, so the error left is far smaller) and statsmodels' IRLS is
run to a deviance change of 1e-12. Coefficients must agree to 1e-8, standard
errors (both the inverse expected information ``X'WX``) to 1e-6 relative and
log-likelihoods to 1e-10 relative: a sign, weight, link or pmf error would
show at 1e-2 or more.

The dispersion is found by Brent's bounded search on ``log alpha`` with
``xatol = 1e-4``, so alpha may differ from statsmodels' Newton MLE of the
full NB2 likelihood by about 1e-4 relative; the profile likelihood is flat at
its maximum, so the log-likelihood differs only to second order (1e-6 is
ample) and can never exceed the MLE's by more than round-off. The
coefficients at that alpha move by (d beta / d log alpha) x 1e-4, well under
1e-5 here. statsmodels' ``NegativeBinomial`` reports standard errors from the
*observed* Hessian of (beta, alpha), the RTM (like R's ``MASS::glm.nb``) from
the expected information at the fitted alpha; the two differ by O(n^-1/2)
(0.1 % here), so against ``NegativeBinomial`` they must agree to 1 %, and
against statsmodels' GLM at the same alpha to 1e-6.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import statsmodels.api as sm
from statsmodels.discrete.discrete_model import NegativeBinomial

from hotspot_env.models.rtm import glm

#: (cells, intercept and three indicator coefficients, NB2 alpha): moderate, strong and
#: almost no overdispersion; one indicator without effect.
CASES = [(4000, (0.2, 0.7, -0.4, 1.1), 0.8),
         (8000, (-1.5, 0.9, 0.3, 0.0), 2.5),
         (3000, (1.0, 0.5, 0.2, -0.3), 0.05)]


def simulate(seed: int, n: int, beta: tuple[float, ...], alpha: float
             ) -> tuple[np.ndarray, np.ndarray]:
    """NB2 counts (variance mu + alpha mu^2) on three yes/no indicators, as the RTM sees cells."""
    rng = np.random.default_rng(seed)
    X = (rng.random((n, 3)) < [0.3, 0.5, 0.1]).astype(np.uint8)
    mu = np.exp(beta[0] + X @ np.asarray(beta[1:]))
    r = 1.0 / alpha
    return rng.negative_binomial(r, r / (r + mu)), X


def reference_glm(y: np.ndarray, X: np.ndarray, alpha: float):
    """statsmodels' GLM on the cells: Poisson for alpha = 0, else NB2 at that fixed alpha."""
    family = (sm.families.Poisson() if alpha == 0
              else sm.families.NegativeBinomial(alpha=alpha))
    return sm.GLM(y, sm.add_constant(X.astype(float)), family=family).fit(tol=1e-12)


@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("which_alpha", ["poisson", "true", "wrong"])
def test_irls_at_a_fixed_dispersion_matches_statsmodels_glm(case, which_alpha):
    n, beta, true_alpha = CASES[case]
    y, X = simulate(case, n, beta, true_alpha)
    alpha = {"poisson": 0.0, "true": true_alpha, "wrong": 0.3}[which_alpha]
    ours = glm.irls(*glm.grouped(y, X), alpha)
    ref = reference_glm(y, X, alpha)
    assert ours.converged
    np.testing.assert_allclose(ours.params, ref.params, rtol=0, atol=1e-8)
    np.testing.assert_allclose(ours.bse, ref.bse, rtol=1e-6)
    assert ours.llf == pytest.approx(ref.llf, rel=1e-10)


@pytest.mark.parametrize("case", range(len(CASES)))
def test_profile_dispersion_matches_statsmodels_nb2_mle(case):
    n, beta, true_alpha = CASES[case]
    y, X = simulate(case, n, beta, true_alpha)
    alpha, ours = glm.profile_alpha(*glm.grouped(y, X))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Newton's start-up warnings on the first steps
        ref = NegativeBinomial(y, sm.add_constant(X.astype(float)), loglike_method="nb2").fit(
            method="newton", maxiter=200, tol=1e-12, disp=0)
    ref_beta, ref_alpha = ref.params[:-1], ref.params[-1]
    assert alpha == pytest.approx(ref_alpha, rel=1e-4)
    np.testing.assert_allclose(ours.params, ref_beta, rtol=0, atol=1e-5)
    assert ours.llf == pytest.approx(ref.llf, abs=1e-6)
    assert ours.llf <= ref.llf + 1e-9 * abs(ref.llf)  # the MLE is the maximum
    np.testing.assert_allclose(ours.bse, ref.bse[:-1], rtol=1e-2)  # observed vs expected info
    np.testing.assert_allclose(ours.bse, reference_glm(y, X, alpha).bse, rtol=1e-6)


def test_design_profile_is_the_nb2_fit_of_the_chosen_columns():
    """What :func:`hotspot_env.models.rtm.fit` calls: the NB2 fit of a subset of indicators."""
    n, beta, true_alpha = CASES[0]
    y, X = simulate(10, n, beta, true_alpha)
    design = glm.Design(y, np.asfortranarray(X), candidates=[])
    alpha, ours = design.profile([0, 2])
    ref = reference_glm(y, X[:, [0, 2]], alpha)
    np.testing.assert_allclose(ours.params, ref.params, rtol=0, atol=1e-8)
    np.testing.assert_allclose(ours.bse, ref.bse, rtol=1e-6)
    assert ours.llf == pytest.approx(ref.llf, rel=1e-10)
    # the dispersion is that of the simulation, within its sampling error
    assert abs(math.log(alpha / true_alpha)) < 0.2


def test_a_wrong_fit_would_be_caught():
    """Control: a fit at the wrong dispersion differs from the reference by far more than the
    tolerances above, so these tests can fail."""
    n, beta, true_alpha = CASES[0]
    y, X = simulate(0, n, beta, true_alpha)
    ours = glm.irls(*glm.grouped(y, X), 0.0)  # Poisson where NB2 holds
    ref = reference_glm(y, X, true_alpha)
    assert np.max(np.abs(ours.bse / ref.bse - 1)) > 0.1
    assert abs(ours.llf - ref.llf) > 100
