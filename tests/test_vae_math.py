"""Tests for the pure VAE maths in ``skae.distributions``."""

import math

import pytest
import torch
from torch import Tensor
from torch import distributions as D
from torch.nn import functional as F

from skae.distributions import (
    bernoulli_log_likelihood,
    diag_gaussian_log_prob,
    gaussian_kl_standard,
    gaussian_log_likelihood,
    importance_weighted_log_likelihood,
    reparameterize,
    standard_normal_log_prob,
)

DTYPE = torch.float64


@pytest.fixture
def seed() -> int:
    torch.manual_seed(0)
    return 0


@pytest.fixture
def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def randn(generator: torch.Generator, *shape: int) -> Tensor:
    return torch.randn(*shape, generator=generator, dtype=DTYPE)


def mean_and_standard_error(values: Tensor, dim: int = 0) -> tuple[Tensor, Tensor]:
    return values.mean(dim), values.std(dim) / math.sqrt(values.shape[dim])


# --------------------------------------------------------------------------- KL


@pytest.mark.parametrize("n_components", [1, 4])
@pytest.mark.parametrize("scale", [0.3, 1.5])
def test_kl_matches_monte_carlo(generator, n_components, scale):
    mu = scale * randn(generator, 3, n_components)
    logvar = scale * randn(generator, 3, n_components)
    n_draws = 100_000
    q = D.Normal(mu, torch.exp(0.5 * logvar))
    z = q.sample((n_draws,))
    log_ratio = q.log_prob(z).sum(-1) - D.Normal(0.0, 1.0).log_prob(z).sum(-1)
    estimate, standard_error = mean_and_standard_error(log_ratio)

    kl = gaussian_kl_standard(mu, logvar)

    assert kl.shape == (3,)
    assert torch.all(torch.abs(kl - estimate) <= 5 * standard_error + 1e-12)


@pytest.mark.parametrize("n_components", [1, 5])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_kl_matches_torch_and_vanishes_at_prior(generator, n_components, dtype):
    mu = randn(generator, 6, n_components).to(dtype)
    logvar = randn(generator, 6, n_components).to(dtype)
    expected = D.kl_divergence(
        D.Normal(mu, torch.exp(0.5 * logvar)), D.Normal(0.0, 1.0)
    ).sum(-1)

    kl = gaussian_kl_standard(mu, logvar)

    torch.testing.assert_close(kl, expected)
    assert torch.all(kl >= 0)
    assert torch.all(gaussian_kl_standard(0 * mu, 0 * logvar) == 0)


# ------------------------------------------------------------- log-likelihoods


@pytest.mark.parametrize("logvar_shape", ["per_feature", "per_entry"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gaussian_log_likelihood_matches_torch(generator, logvar_shape, dtype):
    x = randn(generator, 7, 3).to(dtype)
    mean = randn(generator, 7, 3).to(dtype)
    shape = (3,) if logvar_shape == "per_feature" else (7, 3)
    logvar = randn(generator, *shape).to(dtype)
    expected = D.Normal(mean, torch.exp(0.5 * logvar)).log_prob(x).sum(-1)

    log_likelihood = gaussian_log_likelihood(x, mean, logvar)

    assert log_likelihood.shape == (7,)
    torch.testing.assert_close(log_likelihood, expected)


@pytest.mark.parametrize("n_draws", [1, 4])
def test_gaussian_log_likelihood_broadcasts_over_draws(generator, n_draws):
    x = randn(generator, 5, 3)
    means = randn(generator, n_draws, 5, 3)
    logvar = randn(generator, 3)

    log_likelihood = gaussian_log_likelihood(x, means, logvar)

    assert log_likelihood.shape == (n_draws, 5)
    for k in range(n_draws):
        torch.testing.assert_close(
            log_likelihood[k], gaussian_log_likelihood(x, means[k], logvar)
        )


@pytest.mark.parametrize("n_dims", [1, 4])
@pytest.mark.parametrize("scale", [0.5, 3.0])
def test_latent_log_probs_match_torch(generator, n_dims, scale):
    z = scale * randn(generator, 8, n_dims)
    mu = randn(generator, 8, n_dims)
    logvar = randn(generator, 8, n_dims)
    expected_prior = D.MultivariateNormal(
        torch.zeros(n_dims, dtype=DTYPE), torch.eye(n_dims, dtype=DTYPE)
    ).log_prob(z)
    expected_posterior = D.Independent(
        D.Normal(mu, torch.exp(0.5 * logvar)), 1
    ).log_prob(z)

    torch.testing.assert_close(standard_normal_log_prob(z), expected_prior)
    torch.testing.assert_close(
        diag_gaussian_log_prob(z, mu, logvar), expected_posterior
    )


@pytest.mark.parametrize("logit_scale", [1.0, 30.0])
@pytest.mark.parametrize("n_features", [1, 6])
def test_bernoulli_log_likelihood_matches_torch_on_binary_data(
    generator, logit_scale, n_features
):
    logits = logit_scale * randn(generator, 9, n_features)
    x = torch.bernoulli(
        torch.full((9, n_features), 0.5, dtype=DTYPE), generator=generator
    )
    expected = D.Bernoulli(logits=logits).log_prob(x).sum(-1)

    torch.testing.assert_close(bernoulli_log_likelihood(x, logits), expected)


@pytest.mark.parametrize("logit_scale", [1.0, 30.0])
@pytest.mark.parametrize("n_features", [1, 6])
def test_bernoulli_log_likelihood_is_cross_entropy_on_grey_levels(
    generator, logit_scale, n_features
):
    logits = logit_scale * randn(generator, 9, n_features)
    x = torch.rand(9, n_features, generator=generator, dtype=DTYPE)
    expected = -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)

    torch.testing.assert_close(bernoulli_log_likelihood(x, logits), expected)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_bernoulli_log_likelihood_is_finite_for_extreme_logits(dtype):
    logits = torch.tensor([[1e4, -1e4], [-1e4, 1e4]], dtype=dtype)
    x = torch.tensor([[1.0, 0.0], [1.0, 0.0]], dtype=dtype)

    log_likelihood = bernoulli_log_likelihood(x, logits)

    torch.testing.assert_close(log_likelihood, torch.tensor([0.0, -2e4], dtype=dtype))


# ----------------------------------------------------- importance-weighted bound


def test_reparameterize_has_the_target_moments(generator):
    mu = torch.tensor([1.0, -2.0], dtype=DTYPE)
    logvar = torch.tensor([0.0, math.log(4.0)], dtype=DTYPE)

    z = reparameterize(mu, logvar, randn(generator, 200_000, 2))

    torch.testing.assert_close(z.mean(0), mu, atol=0.02, rtol=0)
    torch.testing.assert_close(z.var(0), torch.exp(logvar), atol=0.05, rtol=0)


@pytest.mark.parametrize("batch_shape", [(5,), (2, 3)])
def test_single_draw_bound_is_the_elbo_term(generator, batch_shape):
    log_px_given_z, log_pz, log_qz = (randn(generator, 1, *batch_shape) for _ in "abc")

    bound = importance_weighted_log_likelihood(log_px_given_z, log_pz, log_qz)

    assert bound.shape == batch_shape
    torch.testing.assert_close(bound, (log_px_given_z + log_pz - log_qz)[0])


@pytest.mark.parametrize("n_draws", [2, 10, 100])
@pytest.mark.parametrize("spread", [0.1, 5.0])
def test_bound_is_at_least_the_average_elbo_of_its_draws(generator, n_draws, spread):
    log_px_given_z = spread * randn(generator, n_draws, 6) - 50.0
    log_pz, log_qz = randn(generator, n_draws, 6), randn(generator, n_draws, 6)
    elbo_terms = log_px_given_z + log_pz - log_qz

    bound = importance_weighted_log_likelihood(log_px_given_z, log_pz, log_qz)
    permuted = importance_weighted_log_likelihood(
        log_px_given_z.flip(0), log_pz.flip(0), log_qz.flip(0)
    )

    assert torch.all(bound >= elbo_terms.mean(0))
    assert torch.all(bound <= elbo_terms.max(0).values)
    torch.testing.assert_close(bound, permuted)


def test_bound_is_exact_and_finite_for_equal_huge_weights():
    log_weights = torch.full((50, 3), -1e5, dtype=DTYPE)
    zeros = torch.zeros_like(log_weights)

    bound = importance_weighted_log_likelihood(log_weights, zeros, zeros)

    torch.testing.assert_close(bound, log_weights[0])


class LinearGaussian:
    """``z ~ N(0, I)``, ``x | z ~ N(W z + b, diag exp(logvar_x))`` and a diagonal
    Gaussian encoder that is deliberately not the exact posterior."""

    def __init__(self, generator: torch.Generator, n: int = 4, n_features: int = 3):
        n_components = 2
        self.W = randn(generator, n_features, n_components)
        self.b = randn(generator, n_features)
        self.logvar_x = 0.3 * randn(generator, n_features) - 0.5
        self.x = 1.5 * randn(generator, n, n_features)
        noise_var = torch.exp(self.logvar_x)
        covariance = self.W @ self.W.T + torch.diag(noise_var)
        self.log_px = D.MultivariateNormal(self.b, covariance).log_prob(self.x)
        precision = torch.eye(n_components, dtype=DTYPE) + self.W.T @ (
            self.W / noise_var[:, None]
        )
        posterior_cov = torch.linalg.inv(precision)
        posterior_mean = ((self.x - self.b) / noise_var) @ self.W @ posterior_cov
        self.mu = posterior_mean + 0.3
        self.logvar = torch.log(torch.diagonal(posterior_cov)).expand_as(self.mu) + 0.4

    def bound(self, eps: Tensor) -> Tensor:
        """Importance-weighted bound; ``eps`` has shape (K, *repeats, n, 2)."""
        z = reparameterize(self.mu, self.logvar, eps)
        return importance_weighted_log_likelihood(
            gaussian_log_likelihood(self.x, z @ self.W.T + self.b, self.logvar_x),
            standard_normal_log_prob(z),
            diag_gaussian_log_prob(z, self.mu, self.logvar),
        )

    def analytic_elbo(self) -> Tensor:
        mean_x = self.mu @ self.W.T + self.b
        spread = torch.exp(self.logvar) @ (self.W**2).T
        expected_sq_error = (self.x - mean_x) ** 2 + spread
        expected_log_px_given_z = -0.5 * torch.sum(
            math.log(2 * math.pi)
            + self.logvar_x
            + expected_sq_error / torch.exp(self.logvar_x),
            dim=-1,
        )
        return expected_log_px_given_z - gaussian_kl_standard(self.mu, self.logvar)


def test_single_draw_bound_is_unbiased_for_the_analytic_elbo(generator):
    model = LinearGaussian(generator)
    n_repeats = 20_000

    bounds = model.bound(randn(generator, 1, n_repeats, *model.mu.shape))
    estimate, standard_error = mean_and_standard_error(bounds)
    elbo = model.analytic_elbo()

    assert torch.all(elbo < model.log_px)
    assert torch.all(torch.abs(estimate - elbo) <= 5 * standard_error)


@pytest.mark.parametrize("n_draws", [1, 10, 100])
def test_bound_stays_below_the_true_log_likelihood(generator, n_draws):
    model = LinearGaussian(generator)
    n_repeats = 2_000

    bounds = model.bound(randn(generator, n_draws, n_repeats, *model.mu.shape))
    estimate, standard_error = mean_and_standard_error(bounds)

    assert torch.all(estimate <= model.log_px + 4 * standard_error)
    assert torch.all(estimate >= model.analytic_elbo() - 4 * standard_error)


def test_bound_grows_with_the_number_of_draws_towards_the_log_likelihood(generator):
    model = LinearGaussian(generator)
    n_repeats = 2_000
    estimates, errors = [], []
    for n_draws in (1, 4, 16, 64):
        eps = randn(generator, n_draws, n_repeats, *model.mu.shape)
        estimate, standard_error = mean_and_standard_error(model.bound(eps))
        estimates.append(estimate)
        errors.append(standard_error)

    for previous, current, e_prev, e_cur in zip(
        estimates[:-1], estimates[1:], errors[:-1], errors[1:], strict=True
    ):
        assert torch.all(current >= previous - 4 * torch.hypot(e_prev, e_cur))
    gap_first = model.log_px - estimates[0]
    gap_last = model.log_px - estimates[-1]
    assert torch.all(gap_last < 0.25 * gap_first)
    assert torch.all(
        estimates[-1] - estimates[0] > 4 * torch.hypot(errors[0], errors[-1])
    )
