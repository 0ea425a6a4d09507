"""Tests for the torch module ``skae.modules.vae.GaussianVAE``."""

import io
import math

import pytest
import torch
from torch import Tensor
from torch import distributions as D

from skae.distributions import (
    diag_gaussian_log_prob,
    gaussian_kl_standard,
    standard_normal_log_prob,
)
from skae.losses import NegativeELBO
from skae.modules.vae import GaussianVAE

N_FEATURES, N_COMPONENTS = 5, 2
F64 = torch.float64


@pytest.fixture
def seed() -> int:
    torch.manual_seed(0)
    return 0


@pytest.fixture
def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def make_data(likelihood: str, generator: torch.Generator, n: int = 12) -> Tensor:
    if likelihood == "bernoulli":
        return torch.rand(n, N_FEATURES, generator=generator, dtype=torch.float64)
    return torch.randn(n, N_FEATURES, generator=generator, dtype=torch.float64)


def negative_elbo(vae: GaussianVAE, x: Tensor, beta: float = 1.0) -> tuple:
    """``(loss, kl, nll)`` of the VAE's training criterion on ``x``."""
    loss = NegativeELBO(beta)(vae(x), x, module=vae, x=x)
    return loss.total, loss.terms["kl"], loss.terms["reconstruction"]


def make_vae(likelihood: str, **kwargs) -> GaussianVAE:
    options = {"hidden_layer_sizes": (8,), "activation": "tanh", **kwargs}
    return GaussianVAE(N_FEATURES, N_COMPONENTS, likelihood=likelihood, **options)


@pytest.mark.parametrize("likelihood", ["gaussian", "bernoulli"])
@pytest.mark.parametrize("hidden_layer_sizes", [(), (8,), (8, 4)])
def test_forward_returns_reconstruction_first(
    seed, generator, likelihood, hidden_layer_sizes
):
    vae = make_vae(likelihood, hidden_layer_sizes=hidden_layer_sizes).double()
    x = make_data(likelihood, generator)

    recon, mu, logvar, decoder_out, z = vae(x)

    assert recon.shape == decoder_out.shape == x.shape
    assert mu.shape == logvar.shape == z.shape == (12, N_COMPONENTS)
    torch.testing.assert_close(recon, vae.decoder_mean(decoder_out))
    torch.testing.assert_close(decoder_out, vae.decoder_output(z))
    torch.testing.assert_close(recon, vae.decode(z))
    if likelihood == "bernoulli":
        assert torch.all((recon > 0) & (recon < 1))
    else:
        torch.testing.assert_close(recon, decoder_out)


@pytest.mark.parametrize("likelihood", ["gaussian", "bernoulli"])
def test_training_mode_samples_with_the_global_generator(seed, generator, likelihood):
    vae = make_vae(likelihood).double().train()
    x = make_data(likelihood, generator)

    torch.manual_seed(3)
    first = vae(x)
    torch.manual_seed(3)
    again = vae(x)
    other = vae(x)

    _, mu, logvar, _, z = first
    torch.manual_seed(3)
    expected_eps = torch.randn_like(mu)
    torch.testing.assert_close(first[0], again[0])
    assert not torch.allclose(first[0], other[0])
    torch.testing.assert_close(z, mu + torch.exp(0.5 * logvar) * expected_eps)


@pytest.mark.parametrize("likelihood", ["gaussian", "bernoulli"])
def test_eval_mode_decodes_the_posterior_mean(seed, generator, likelihood):
    vae = make_vae(likelihood).double().eval()
    x = make_data(likelihood, generator)

    recon, mu, _, _, z = vae(x)
    loss_a, _, _ = negative_elbo(vae, x)
    loss_b, _, _ = negative_elbo(vae, x)

    torch.testing.assert_close(z, mu)
    torch.testing.assert_close(recon, vae(x)[0])
    torch.testing.assert_close(recon, vae.decode(vae.encode(x)))
    torch.testing.assert_close(loss_a, loss_b)


@pytest.mark.parametrize("likelihood", ["gaussian", "bernoulli"])
@pytest.mark.parametrize("beta", [0.0, 1.0, 4.0])
def test_negative_elbo_combines_its_terms(seed, generator, likelihood, beta):
    # Training mode: one reparameterised draw, the one ``forward`` decoded
    # (in eval mode the criterion averages 16 fixed draws instead).
    vae = make_vae(likelihood).double().train()
    x = make_data(likelihood, generator)
    torch.manual_seed(seed)
    _, mu, logvar, decoder_out, _ = vae(x)
    torch.manual_seed(seed)

    loss, kl, nll = negative_elbo(vae, x, beta=beta)

    torch.testing.assert_close(kl, gaussian_kl_standard(mu, logvar).mean())
    torch.testing.assert_close(nll, -vae.decoder_log_likelihood(x, decoder_out).mean())
    torch.testing.assert_close(loss, nll + beta * kl)
    assert loss.shape == kl.shape == nll.shape == ()


@pytest.mark.parametrize("likelihood", ["gaussian", "bernoulli"])
@pytest.mark.parametrize("hidden_layer_sizes", [(), (16,), (16, 12)])
@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
def test_gradients_reach_every_parameter(
    seed, generator, likelihood, hidden_layer_sizes, activation
):
    vae = make_vae(
        likelihood, hidden_layer_sizes=hidden_layer_sizes, activation=activation
    ).double()
    x = make_data(likelihood, generator, n=64)

    loss, _, _ = negative_elbo(vae, x, beta=1.0)
    loss.backward()

    names = {name for name, _ in vae.named_parameters()}
    assert ("decoder_logvar" in names) == (likelihood == "gaussian")
    for name, parameter in vae.named_parameters():
        assert parameter.grad is not None, name
        assert torch.all(torch.isfinite(parameter.grad)), name
        assert parameter.grad.abs().sum() > 0, name


@pytest.mark.parametrize("likelihood", ["gaussian", "bernoulli"])
@pytest.mark.parametrize("n_samples", [1, 8])
def test_log_likelihood_does_not_depend_on_the_batch(
    seed, generator, likelihood, n_samples
):
    vae = make_vae(likelihood).double().eval()
    x = make_data(likelihood, generator)
    eps = torch.randn(n_samples, N_COMPONENTS, generator=generator)
    permutation = torch.randperm(len(x), generator=generator)

    full = vae.log_prob(x, eps=eps)
    permuted = vae.log_prob(x[permutation], eps=eps)
    subset = vae.log_prob(x[3:7], eps=eps)
    one_by_one = torch.cat([vae.log_prob(row[None], eps=eps) for row in x])

    assert full.shape == (len(x),)
    torch.testing.assert_close(permuted, full[permutation])
    torch.testing.assert_close(subset, full[3:7])
    torch.testing.assert_close(one_by_one, full)


def test_log_likelihood_rejects_noise_of_the_wrong_shape(seed):
    vae = make_vae("gaussian")
    with pytest.raises(ValueError, match="eps must have shape"):
        vae.log_prob(torch.zeros(3, N_FEATURES), eps=torch.zeros(3, N_COMPONENTS + 1))


@pytest.mark.parametrize("likelihood", ["gaussian", "bernoulli"])
def test_single_draw_log_likelihood_averages_to_the_elbo(seed, generator, likelihood):
    vae = make_vae(likelihood).double().eval()
    x = make_data(likelihood, generator, n=4)
    n_repeats = 4_000
    eps = torch.randn(n_repeats, N_COMPONENTS, generator=generator, dtype=torch.float64)
    mu, logvar = vae.posterior(x)
    z = mu + torch.exp(0.5 * logvar) * eps[:, None, :]

    with torch.no_grad():
        single = torch.stack([vae.log_prob(x, eps=e[None]) for e in eps])
        decoder_term = vae.decoder_log_likelihood(x, vae.decoder_output(z))
    direct = (
        decoder_term
        + standard_normal_log_prob(z)
        - diag_gaussian_log_prob(z, mu, logvar)
    )
    # Same draws, two unbiased ELBO estimators: their difference has mean zero.
    difference = single - (decoder_term - gaussian_kl_standard(mu, logvar))
    standard_error = difference.std(0) / math.sqrt(n_repeats)

    torch.testing.assert_close(single, direct.detach())
    assert torch.all(difference.mean(0).abs() <= 5 * standard_error)


def linear_gaussian_vae(
    generator: torch.Generator,
) -> tuple[GaussianVAE, D.MultivariateNormal]:
    """An affine VAE whose encoder is the exact posterior, and the exact ``p(x)``.

    With ``W = diag(sigma) Q S`` (orthonormal ``Q``) the posterior covariance
    ``(I + W^T diag(sigma^-2) W)^-1 = (I + S^2)^-1`` is diagonal, so a diagonal
    Gaussian encoder can be exact.
    """
    vae = GaussianVAE(N_FEATURES, N_COMPONENTS, hidden_layer_sizes=()).double()
    sigma2 = torch.exp(0.4 * torch.randn(N_FEATURES, generator=generator, dtype=F64))
    q, _ = torch.linalg.qr(
        torch.randn(N_FEATURES, N_COMPONENTS, generator=generator, dtype=F64)
    )
    scales = torch.tensor([2.0, 0.7], dtype=F64)
    weight = sigma2.sqrt()[:, None] * q * scales
    bias = torch.randn(N_FEATURES, generator=generator, dtype=F64)
    posterior_var = 1.0 / (1.0 + scales**2)
    encoder_mean_weight = posterior_var[:, None] * (weight / sigma2[:, None]).T
    with torch.no_grad():
        vae.decoder[0].weight.copy_(weight)
        vae.decoder[0].bias.copy_(bias)
        vae.decoder_logvar.copy_(sigma2.log())
        vae.encoder[0].weight.copy_(
            torch.cat([encoder_mean_weight, torch.zeros_like(encoder_mean_weight)])
        )
        vae.encoder[0].bias.copy_(
            torch.cat([-encoder_mean_weight @ bias, posterior_var.log()])
        )
    covariance = weight @ weight.T + torch.diag(sigma2)
    return vae, D.MultivariateNormal(bias, covariance)


@pytest.mark.parametrize("n_samples", [1, 5])
def test_exact_posterior_gives_the_exact_log_likelihood(seed, generator, n_samples):
    vae, marginal = linear_gaussian_vae(generator)
    x = 2.0 * make_data("gaussian", generator)
    eps = torch.randn(n_samples, N_COMPONENTS, generator=generator)

    log_likelihood = vae.log_prob(x, eps=eps)

    torch.testing.assert_close(log_likelihood, marginal.log_prob(x).detach())


def test_inexact_posterior_stays_below_the_log_likelihood(seed, generator):
    vae, marginal = linear_gaussian_vae(generator)
    with torch.no_grad():
        vae.encoder[0].bias.add_(0.5)
    x = make_data("gaussian", generator, n=4)
    eps = torch.randn(2_000, N_COMPONENTS, generator=generator)

    with torch.no_grad():
        bounds = torch.stack([vae.log_prob(x, eps=e[None]) for e in eps])
    standard_error = bounds.std(0) / math.sqrt(len(bounds))

    assert torch.all(bounds.mean(0) < marginal.log_prob(x) + 4 * standard_error)
    assert torch.all(bounds.mean(0) < marginal.log_prob(x) - 0.05)


def test_log_variances_are_clamped(seed, generator):
    vae = make_vae(
        "gaussian", logvar_bounds=(-3.0, 2.0), decoder_logvar_bounds=(-3.0, 2.0)
    ).double()
    with torch.no_grad():
        vae.decoder_logvar.fill_(-100.0)
        vae.encoder[-1].bias[N_COMPONENTS:].fill_(1e3)
    x = make_data("gaussian", generator)

    _, logvar = vae.posterior(x)

    assert torch.all(vae.clamped_decoder_logvar() == -3.0)
    assert torch.all(logvar == 2.0)
    assert torch.all(torch.isfinite(negative_elbo(vae, x)[0]))


@pytest.mark.parametrize("likelihood", ["gaussian", "bernoulli"])
def test_state_dict_round_trip_gives_the_same_outputs(seed, generator, likelihood):
    vae = make_vae(likelihood).double().eval()
    x = make_data(likelihood, generator)
    eps = torch.randn(3, N_COMPONENTS, generator=generator)
    buffer = io.BytesIO()
    torch.save(vae.state_dict(), buffer)
    buffer.seek(0)

    reloaded = make_vae(likelihood).double().eval()
    reloaded.load_state_dict(torch.load(buffer))

    torch.testing.assert_close(reloaded(x)[0], vae(x)[0])
    torch.testing.assert_close(reloaded.log_prob(x, eps=eps), vae.log_prob(x, eps=eps))


def test_unknown_likelihood_is_rejected():
    with pytest.raises(ValueError, match="Unknown likelihood"):
        GaussianVAE(3, 2, likelihood="poisson")
