"""The VAE's low-rank noise: ``p(x|z) = N(g(z), diag sigma^2 + F F^T)``."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.decomposition import FactorAnalysis

from skae import VAE, AutoencoderImputer
from skae._warm_start import factor_model
from skae.distributions import (
    gaussian_log_likelihood,
    low_rank_gaussian_log_likelihood,
    low_rank_noise_mean,
)

FROZEN = {"learning_rate_init": 1e-12, "max_iter": 1, "alpha": 0.0}


@pytest.fixture(scope="module")
def eight_factors() -> np.ndarray:
    """600 rows, 12 features, 8 factors: more than a 3-dimensional code."""
    rng = np.random.default_rng(0)
    loadings = rng.normal(size=(8, 12))
    return rng.normal(size=(600, 8)) @ loadings + 0.3 * rng.normal(size=(600, 12))


@settings(max_examples=25, deadline=None)
@given(
    d=st.integers(1, 6),
    rank=st.integers(0, 3),
    draws=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_log_likelihood_is_the_multivariate_normal_of_observed_entries(
    d, rank, draws, seed
):
    g = torch.Generator().manual_seed(seed)
    n = 4
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    mean = torch.randn(draws, n, d, generator=g, dtype=torch.float64)
    logvar = 0.5 * torch.randn(d, generator=g, dtype=torch.float64)
    factors = torch.randn(d, rank, generator=g, dtype=torch.float64)
    mask = (torch.rand(n, d, generator=g) > 0.4).double()
    mask[:, 0] = 1.0
    got = low_rank_gaussian_log_likelihood(x, mean, logvar, factors, mask)
    filled = low_rank_noise_mean(x, mean, logvar, factors, mask) + mean
    covariance = torch.diag(logvar.exp()) + factors @ factors.T
    for k in range(draws):
        for i in range(n):
            o, m = mask[i].bool(), ~mask[i].bool()
            sub = covariance[o][:, o]
            want = torch.distributions.MultivariateNormal(mean[k, i, o], sub)
            torch.testing.assert_close(got[k, i], want.log_prob(x[i, o]))
            regression = covariance[m][:, o] @ torch.linalg.solve(
                sub, x[i, o] - mean[k, i, o]
            )
            torch.testing.assert_close(filled[k, i, m], mean[k, i, m] + regression)
    if rank == 0:
        diagonal = gaussian_log_likelihood(x, mean, logvar)
        torch.testing.assert_close(
            low_rank_gaussian_log_likelihood(x, mean, logvar, factors), diagonal
        )


def test_extra_factors_are_the_least_determined_ones(eight_factors):
    model = factor_model(
        eight_factors, 3, seed=0, validation=np.arange(0, 600, 5), max_noise_rank=12
    )
    # At least the 8 of the data (a few more may score as well on 120 rows).
    assert 8 <= model.n_factors <= 11
    extra = model.n_factors - 3
    assert model.loadings.shape == (12, 3) and model.noise_factors.shape == (12, extra)
    fa = FactorAnalysis(model.n_factors, svd_method="lapack", random_state=0)
    fa.fit(eight_factors)
    covariance = (
        model.loadings @ model.loadings.T
        + model.noise_factors @ model.noise_factors.T
        + np.diag(model.noise_variance)
    )
    np.testing.assert_allclose(covariance, fa.get_covariance(), atol=1e-8)
    inv = 1.0 / model.noise_variance
    latent = np.diag(model.loadings.T @ (model.loadings * inv[:, None]))
    extra = np.diag(model.noise_factors.T @ (model.noise_factors * inv[:, None]))
    assert latent.min() >= extra.max()


def test_vae_starts_at_the_factor_model_with_more_factors(eight_factors):
    vae = VAE(3, random_state=0, **FROZEN).fit(eight_factors)
    assert vae.n_factors_start_ >= 8
    assert vae.noise_rank_ == vae.n_factors_start_ - 3
    assert vae.transform(eight_factors).shape == (600, 3)
    # FactorAnalysis stops at tol=1e-2, at a slightly different point in the
    # VAE's re-standardised space.
    fa = FactorAnalysis(vae.n_factors_start_, svd_method="lapack").fit(eight_factors)
    np.testing.assert_allclose(
        vae.score_samples(eight_factors), fa.score_samples(eight_factors), atol=1e-2
    )
    covariance = np.diag(vae.noise_variance_) + (
        vae.noise_components_.T @ vae.noise_components_
    )
    assert vae.noise_components_.shape == (vae.noise_rank_, 12)
    # The code's directions carry the rest of FactorAnalysis's covariance.
    assert np.all(np.linalg.eigvalsh(fa.get_covariance() - covariance) > -1e-2)


def test_diagonal_noise_on_request(eight_factors):
    vae = VAE(3, noise_rank=0, random_state=0, **FROZEN).fit(eight_factors)
    assert vae.noise_rank_ == 0 and vae.net_.module_.noise_factors is None
    assert vae.noise_components_.shape == (0, 12)
    assert vae.n_factors_start_ <= 3
    capped = VAE(3, noise_rank=2, random_state=0, **FROZEN).fit(eight_factors)
    assert capped.noise_rank_ <= 2 and capped.n_factors_start_ <= 5


def test_more_factors_score_higher_on_held_out_rows(eight_factors):
    train, test = eight_factors[:450], eight_factors[450:]
    low_rank = VAE(3, random_state=0).fit(train)
    diagonal = VAE(3, noise_rank=0, random_state=0).fit(train)
    assert low_rank.score(test) > diagonal.score(test) + 1.0


def test_random_start_learns_its_noise_factors(eight_factors):
    vae = VAE(3, init="random", noise_rank=2, max_iter=3, random_state=0)
    vae.fit(eight_factors)
    assert vae.noise_rank_ == 2
    start = 0.01 * torch.randn(12, 2, generator=torch.Generator().manual_seed(0))
    assert not np.allclose(vae.noise_components_.T / vae.scale_[:, None], start)
    assert VAE(3, init="random").fit(eight_factors[:50]).noise_rank_ == 0


def test_noisy_samples_have_the_model_covariance(eight_factors):
    linear = VAE(
        3, hidden_layer_sizes=(), activation="identity", random_state=0, **FROZEN
    ).fit(eight_factors)
    draws = linear.sample(40_000, random_state=0, noise=True)
    fa = FactorAnalysis(linear.n_factors_start_, svd_method="lapack").fit(eight_factors)
    np.testing.assert_allclose(np.cov(draws.T), fa.get_covariance(), atol=0.25)


def test_samples_without_noise_keep_the_noise_factors(eight_factors):
    """``noise=False`` drops only the per-feature noise ``diag sigma^2``."""
    linear = VAE(
        3, hidden_layer_sizes=(), activation="identity", random_state=0, **FROZEN
    ).fit(eight_factors)
    assert linear.noise_rank_ > 0
    means = linear.sample(40_000, random_state=0)
    draws = linear.sample(40_000, random_state=1, noise=True)
    gap = np.cov(draws.T) - np.cov(means.T)
    np.testing.assert_allclose(gap, np.diag(linear.noise_variance_), atol=0.25)
    diagonal = VAE(
        3, hidden_layer_sizes=(), activation="identity", noise_rank=0, **FROZEN
    ).fit(eight_factors)
    # Without noise factors the decoder means span only the 3-dimensional code.
    assert np.linalg.matrix_rank(diagonal.sample(50, random_state=0), tol=1e-6) <= 4


def test_imputation_is_the_gaussian_conditional_mean(eight_factors):
    """A linear VAE at its start imputes as its Gaussian model does."""
    X = eight_factors.copy()
    rng = np.random.default_rng(1)
    X[rng.random(X.shape) < 0.2] = np.nan
    model = VAE(3, hidden_layer_sizes=(), activation="identity", **FROZEN)
    imputer = AutoencoderImputer(model, n_importance_samples=4_000, random_state=0)
    filled = imputer.fit_transform(X)
    vae = imputer.estimator_
    assert vae.noise_rank_ > 0
    # The model's covariance in user units, from its fitted parts.
    module = vae.net_.module_
    loadings = module.decoder.linear.weight.detach().numpy() * vae.scale_[:, None]
    covariance = (
        loadings @ loadings.T
        + vae.noise_components_.T @ vae.noise_components_
        + np.diag(vae.noise_variance_)
    )
    centre = module.decoder.linear.bias.detach().numpy() * vae.scale_ + vae.mean_
    errors = []
    for i in np.flatnonzero(np.isnan(X).any(axis=1))[:40]:
        o, m = ~np.isnan(X[i]), np.isnan(X[i])
        want = centre[m] + covariance[np.ix_(m, o)] @ np.linalg.solve(
            covariance[np.ix_(o, o)], X[i, o] - centre[o]
        )
        errors.extend(np.abs(filled[i, m] - want))
    # Self-normalised importance sampling from q(z | x with means filled in)
    # and q widened: consistent, an error of a hundredth or two at 4,000
    # draws against fills of unit scale (0.9 from the truth).
    assert np.median(errors) < 0.03 and np.max(errors) < 0.3


def test_complete_rows_share_one_woodbury_factor():
    """Rows whose entries are all observed give the same log-likelihood and
    noise mean with a mask as without one, mixed with incomplete rows too."""
    import torch

    from skae.distributions import low_rank_gaussian_log_likelihood, low_rank_noise_mean

    g = torch.Generator().manual_seed(0)
    n, d, rank = 7, 5, 2
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    mean = torch.randn(3, n, d, generator=g, dtype=torch.float64)
    logvar = 0.1 * torch.randn(d, generator=g, dtype=torch.float64)
    factors = torch.randn(d, rank, generator=g, dtype=torch.float64)
    mask = torch.ones(n, d, dtype=torch.float64)
    mask[[1, 4], [0, 3]] = 0.0
    for function in (low_rank_gaussian_log_likelihood, low_rank_noise_mean):
        mixed = function(x, mean, logvar, factors, mask)
        for i in range(n):  # each row alone: its own mask, or none
            alone = function(
                x[i : i + 1], mean[:, i : i + 1], logvar, factors, mask[i : i + 1]
            )
            torch.testing.assert_close(mixed[:, i : i + 1], alone)
        torch.testing.assert_close(
            function(x, mean, logvar, factors, torch.ones_like(mask)),
            function(x, mean, logvar, factors, None),
        )
