"""VAE: the maths of seeds 001/003/004 (Kingma & Welling; Burda et al.) and its API.

The closed-form KL of a diagonal Gaussian against N(0, I) is checked against a
Monte-Carlo estimate on random parameters in
``tests/test_vae_math.py::test_kl_matches_monte_carlo``; here it is checked
again on a fitted encoder.
"""

import copy
import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import multivariate_normal
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.decomposition import FactorAnalysis

from skae import VAE
from skae.distributions import (
    diag_gaussian_log_prob,
    gaussian_kl_standard,
    importance_weighted_log_likelihood,
    standard_normal_log_prob,
)
from skae.parts.vae import VAEPart

# Largest accepted gap, in nats per sample, between the true average held-out
# log-likelihood of the linear-Gaussian data and the fitted VAE's score.
LINEAR_GAUSSIAN_MARGIN = 0.1


@pytest.fixture(scope="module")
def linear_gaussian():
    """x = W z + mu + eps: 5-D data, 2-D latent, diagonal noise; train and test."""
    rng = np.random.default_rng(0)
    n_features, n_components, n = 5, 2, 2000
    W = 2.0 * rng.normal(size=(n_features, n_components))
    mu = 3.0 * rng.normal(size=n_features)
    noise_variance = rng.uniform(0.2, 1.0, size=n_features)

    def draw(m):
        z = rng.normal(size=(m, n_components))
        eps = rng.normal(size=(m, n_features)) * np.sqrt(noise_variance)
        return z @ W.T + mu + eps

    X_train, X_test = draw(n), draw(n)
    truth = multivariate_normal(mu, W @ W.T + np.diag(noise_variance))
    return X_train, X_test, truth


@pytest.fixture(scope="module")
def linear_vae(linear_gaussian):
    X_train, _, _ = linear_gaussian
    return VAE(
        n_components=2,
        hidden_layer_sizes=(),
        activation="identity",
        alpha=0.0,
        learning_rate_init=1e-2,
        max_iter=200,
        n_iter_no_change=200,
        random_state=0,
    ).fit(X_train)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:500] / 16.0, y[:500]


@pytest.fixture(scope="module")
def digits_vaes(digits):
    X, _ = digits
    return {
        likelihood: VAE(
            n_components=2,
            hidden_layer_sizes=(32,),
            likelihood=likelihood,
            max_iter=40,
            # A random start, so that the posterior is an approximation: the
            # factor-model start's is exact (and stays the best epoch on
            # digits, whose near-constant pixels it determines), and every
            # bound then equals log p(x).
            init="random",
            random_state=0,
        ).fit(X)
        for likelihood in ("gaussian", "bernoulli")
    }


@pytest.fixture(scope="module")
def digits_vae(digits_vaes):
    return digits_vaes["gaussian"]


@pytest.fixture
def small(rng):
    return rng.normal(size=(60, 5)) @ rng.normal(size=(5, 5)) + 3.0


# ------------------------------------------------------------------- maths
def test_score_is_close_to_but_below_the_true_log_likelihood(
    linear_vae, linear_gaussian
):
    """On its own model family the VAE nearly attains the true log-likelihood."""
    _, X_test, truth = linear_gaussian
    scores = linear_vae.score_samples(X_test)
    true_log_likelihood = truth.logpdf(X_test)
    standard_error = np.std(scores - true_log_likelihood) / np.sqrt(len(X_test))
    gap = true_log_likelihood.mean() - scores.mean()
    assert gap > -3 * standard_error
    assert gap < LINEAR_GAUSSIAN_MARGIN
    # Factor analysis fits the same family by maximum likelihood.
    fa = FactorAnalysis(n_components=2).fit(linear_gaussian[0])
    assert linear_vae.score(X_test) > fa.score(X_test) - LINEAR_GAUSSIAN_MARGIN


def test_samples_match_the_data_mean_and_covariance(linear_vae, linear_gaussian):
    X_train, _, _ = linear_gaussian
    samples = linear_vae.sample(20_000, random_state=0, noise=True)
    data_cov = np.cov(X_train, rowvar=False)
    scale = np.sqrt(np.diag(data_cov))
    np.testing.assert_allclose(
        samples.mean(axis=0), X_train.mean(axis=0), atol=0.05 * scale.max()
    )
    correlation_error = (np.cov(samples, rowvar=False) - data_cov) / np.outer(
        scale, scale
    )
    assert np.abs(correlation_error).max() < 0.05


def test_sample_without_noise_lacks_the_decoder_variance(linear_vae):
    """Decoder means alone have covariance W W^T: the noise variance is missing."""
    means = linear_vae.sample(20_000, random_state=0)
    draws = linear_vae.sample(20_000, random_state=0, noise=True)
    missing = np.var(draws, axis=0) - np.var(means, axis=0)
    np.testing.assert_allclose(missing, linear_vae.noise_variance_, rtol=0.1)


def test_closed_form_kl_matches_monte_carlo_on_the_fitted_encoder(digits_vae, digits):
    X, _ = digits
    module = copy.deepcopy(digits_vae.net_.module_).double()
    x = torch.from_numpy(digits_vae.preprocessor_.transform(X)).double()
    with torch.no_grad():
        mu, logvar = module.posterior(x)
    generator = torch.Generator().manual_seed(0)
    eps = torch.randn((20_000, *mu.shape), generator=generator, dtype=mu.dtype)
    z = mu + torch.exp(0.5 * logvar) * eps
    log_ratio = diag_gaussian_log_prob(z, mu, logvar) - standard_normal_log_prob(z)
    torch.testing.assert_close(
        log_ratio.mean(dim=0), gaussian_kl_standard(mu, logvar), rtol=0.05, atol=0.02
    )


@pytest.mark.parametrize("likelihood", ["gaussian", "bernoulli"])
def test_importance_weighted_bound_grows_with_k(digits_vaes, digits, likelihood):
    """Burda et al.: E[L_K] increases with K; K=1 is the ELBO.

    Every row gets its own nested draws (the first K of 100), so the average
    over rows and repetitions estimates the expectation; the increases are
    more than 4 standard errors on this model.
    """
    X, _ = digits
    digits_vae = digits_vaes[likelihood]
    module = copy.deepcopy(digits_vae.net_.module_).double()
    x = torch.from_numpy(digits_vae.preprocessor_.transform(X)).double()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        mu, logvar = module.posterior(x)
        eps = torch.randn((100, 4, *mu.shape), generator=generator, dtype=mu.dtype)
        z = mu + torch.exp(0.5 * logvar) * eps
        log_weights = (
            module.decoder_log_likelihood(x, module.decoder_output(z))
            + standard_normal_log_prob(z)
            - diag_gaussian_log_prob(z, mu, logvar)
        )
    zero = torch.zeros(())
    bound = {
        K: importance_weighted_log_likelihood(log_weights[:K], zero, zero).mean()
        for K in (1, 10, 100)
    }
    assert bound[1] < bound[10] < bound[100]
    # The estimator's score, with its fixed draws, follows the same order.
    scores = {
        K: copy.deepcopy(digits_vae).set_params(n_importance_samples=K).score(X)
        for K in (1, 100)
    }
    assert scores[1] < scores[100]


def test_score_is_in_the_users_units(small):
    """Multiplying X by c shifts every log-density by -n_features * log c."""
    c = 4.0  # a power of two: the scaled data standardise to the same bits
    params = dict(n_components=2, hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    a = VAE(**params).fit(small)
    b = VAE(**params).fit(c * small)
    np.testing.assert_allclose(
        b.score_samples(c * small),
        a.score_samples(small) - small.shape[1] * np.log(c),
        rtol=1e-10,
    )
    np.testing.assert_allclose(b.noise_variance_, c**2 * a.noise_variance_)


# ----------------------------------------------------------------- history
@pytest.mark.parametrize("beta", [1.0, 0.25, 3.0])
@pytest.mark.parametrize("early_stopping", [False, True])
def test_history_records_kl_and_reconstruction(small, beta, early_stopping):
    vae = VAE(
        n_components=2,
        hidden_layer_sizes=(8,),
        beta=beta,
        batch_size=16,
        max_iter=6,
        early_stopping=early_stopping,
        n_iter_no_change=100,
        random_state=0,
    ).fit(small)
    assert len(vae.kl_curve_) == len(vae.reconstruction_curve_) == vae.n_iter_
    assert min(vae.kl_curve_) >= 0
    expected = np.add(vae.reconstruction_curve_, beta * np.asarray(vae.kl_curve_))
    np.testing.assert_allclose(vae.loss_curve_, expected, rtol=1e-5, atol=1e-5)
    if early_stopping:
        expected = np.add(
            vae.validation_reconstruction_curve_,
            beta * np.asarray(vae.validation_kl_curve_),
        )
        np.testing.assert_allclose(
            vae.validation_loss_curve_, expected, rtol=1e-5, atol=1e-5
        )
    else:
        assert vae.validation_kl_curve_ is None
        assert vae.validation_reconstruction_curve_ is None


# ---------------------------------------------------------------- contract
@pytest.mark.parametrize("likelihood", ["gaussian", "bernoulli"])
def test_score_samples_does_not_depend_on_batch_order_or_subset(
    digits_vaes, digits, likelihood, monkeypatch
):
    X, _ = digits
    vae = digits_vaes[likelihood]
    full = vae.score_samples(X)
    np.testing.assert_array_equal(vae.score_samples(X), full)
    order = np.random.default_rng(0).permutation(len(X))
    np.testing.assert_allclose(vae.score_samples(X[order]), full[order], rtol=1e-12)
    np.testing.assert_allclose(vae.score_samples(X[7:9]), full[7:9], rtol=1e-12)
    np.testing.assert_allclose(vae.score_samples(X[3:4]), full[3:4], rtol=1e-12)
    monkeypatch.setattr(VAEPart, "inference_rows", lambda self, fitted: 7)
    np.testing.assert_allclose(vae.score_samples(X), full, rtol=1e-12)


@pytest.mark.parametrize("likelihood", ["gaussian", "bernoulli"])
def test_pickle_round_trip(digits_vaes, digits, likelihood):
    X, _ = digits
    vae = digits_vaes[likelihood]
    loaded = pickle.loads(pickle.dumps(vae))
    np.testing.assert_array_equal(loaded.score_samples(X), vae.score_samples(X))
    np.testing.assert_array_equal(loaded.transform(X), vae.transform(X))
    np.testing.assert_array_equal(
        loaded.sample(3, random_state=0, noise=True),
        vae.sample(3, random_state=0, noise=True),
    )


def test_scoring_batches_fit_the_memory_budget(digits_vae):
    """K draws of every row of a batch, at the widest layer, stay within budget."""
    K = digits_vae.n_importance_samples
    rows = digits_vae._make_part(None).inference_rows(vars(digits_vae))
    assert rows * K * 64 <= 2**23
    huge = copy.deepcopy(digits_vae).set_params(n_importance_samples=10**7)
    assert huge._make_part(None).inference_rows(vars(huge)) == 1


def test_transform_is_the_deterministic_posterior_mean(digits_vae, digits):
    X, _ = digits
    Z = digits_vae.transform(X)
    np.testing.assert_array_equal(Z, digits_vae.transform(X))
    with torch.no_grad():
        mu = digits_vae.net_.module_.encode(
            torch.from_numpy(digits_vae.preprocessor_.transform(X))
        )
    np.testing.assert_allclose(Z, mu.double().numpy(), rtol=1e-6)


def test_inverse_transform_gives_decoder_means(digits_vae, digits):
    X, _ = digits
    Z = digits_vae.transform(X[:5])
    module = digits_vae.net_.module_
    with torch.no_grad():
        means = module.decode(torch.from_numpy(Z))
    expected = digits_vae.preprocessor_.inverse_transform(means.numpy())
    np.testing.assert_allclose(digits_vae.inverse_transform(Z), expected, rtol=1e-6)


@pytest.mark.parametrize("early_stopping", [False, True])
def test_same_random_state_same_model(small, early_stopping):
    params = dict(
        n_components=2,
        hidden_layer_sizes=(8,),
        max_iter=10,
        early_stopping=early_stopping,
        random_state=3,
    )
    a = VAE(**params).fit(small)
    b = clone(a).fit(small)
    for (name, pa), (_, pb) in zip(
        a.net_.module_.state_dict().items(),
        b.net_.module_.state_dict().items(),
        strict=True,
    ):
        assert torch.equal(pa, pb), name
    assert a.loss_curve_ == b.loss_curve_
    assert a.kl_curve_ == b.kl_curve_
    np.testing.assert_array_equal(a.score_samples(small), b.score_samples(small))
    np.testing.assert_array_equal(
        a.sample(5, random_state=0, noise=True), b.sample(5, random_state=0, noise=True)
    )
    c = VAE(**{**params, "random_state": 4}).fit(small)
    assert not np.array_equal(a.transform(small), c.transform(small))


def test_fit_leaves_global_torch_rng_alone(small):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    VAE(max_iter=2, random_state=0).fit(small)
    torch.testing.assert_close(torch.rand(3), expected)


def test_sample_draws_prior_codes_through_the_decoder(digits_vae):
    rng = np.random.RandomState(5)
    codes = rng.standard_normal((6, digits_vae.n_components))
    np.testing.assert_allclose(
        digits_vae.sample(6, random_state=5), digits_vae.inverse_transform(codes)
    )
    np.testing.assert_array_equal(
        digits_vae.sample(6, random_state=5, noise=True),
        digits_vae.sample(6, random_state=5, noise=True),
    )


@pytest.mark.parametrize("n_samples", [0, -1, 1.5])
def test_sample_rejects_bad_counts(digits_vae, n_samples):
    with pytest.raises((ValueError, TypeError), match="n_samples"):
        digits_vae.sample(n_samples)


def test_bernoulli_vae_on_unit_interval_data(digits_vaes, digits):
    X, _ = digits
    vae = digits_vaes["bernoulli"]
    assert vae.noise_variance_ is None
    np.testing.assert_array_equal(vae.mean_, 0.0)
    np.testing.assert_array_equal(vae.scale_, 1.0)
    means = vae.sample(20, random_state=0)
    assert means.min() >= 0 and means.max() <= 1
    draws = vae.sample(20, random_state=0, noise=True)
    assert set(np.unique(draws)) <= {0.0, 1.0}
    scores = vae.score_samples(X)
    assert np.all(np.isfinite(scores)) and np.all(scores <= 0)


@pytest.mark.parametrize(
    ("shift", "match"), [(-0.5, "Negative values"), (0.5, "Values above 1")]
)
def test_bernoulli_rejects_data_outside_the_unit_interval(digits, shift, match):
    """Negative data at fit; at scoring, anything outside [0, 1] once divided
    by the training maximum."""
    X, _ = digits
    vae = VAE(likelihood="bernoulli", max_iter=1, random_state=0)
    if shift < 0:
        with pytest.raises(ValueError, match=match + r".*\[0, 1\]"):
            vae.fit(X + shift)
    vae.fit(X)
    with pytest.raises(ValueError, match=match):
        vae.score_samples(X + shift)
    with pytest.raises(ValueError, match=match):
        vae.score(X + shift)


def test_dataframe_names_and_pandas_output(small):
    columns = [f"f{i}" for i in range(small.shape[1])]
    df = pd.DataFrame(small, columns=columns)
    vae = VAE(n_components=3, max_iter=2, random_state=0)
    vae.set_output(transform="pandas").fit(df)
    codes = vae.transform(df)
    assert list(codes.columns) == ["vae0", "vae1", "vae2"]
    back = vae.inverse_transform(codes)
    assert isinstance(back, pd.DataFrame) and list(back.columns) == columns
    for noise in (False, True):
        sampled = vae.sample(4, random_state=0, noise=noise)
        assert isinstance(sampled, pd.DataFrame)
        assert list(sampled.columns) == columns


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtypes(small, dtype):
    X = small.astype(dtype)
    vae = VAE(max_iter=2, random_state=0).fit(X)
    assert vae.transform(X).dtype == dtype
    assert vae.inverse_transform(vae.transform(X)).dtype == dtype
    assert vae.score_samples(X).dtype == np.float64


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"beta": -1.0}, "beta"),
        ({"likelihood": "poisson"}, "likelihood"),
        ({"n_importance_samples": 0}, "n_importance_samples"),
        ({"n_components": 0}, "n_components"),
    ],
)
def test_invalid_parameters(small, params, match):
    with pytest.raises(ValueError, match=match):
        VAE(**params).fit(small)


def test_bernoulli_divides_grey_levels_by_the_training_maximum(rng):
    """Data above 1 are divided by their training maximum: the same network
    as on the divided data, scores in the data's own units, draws back in
    them."""
    X = np.round(16 * rng.random((60, 4))) / 16
    settings = dict(likelihood="bernoulli", hidden_layer_sizes=(4,), max_iter=3)
    unit = VAE(**settings, random_state=0).fit(X)
    grey = VAE(**settings, random_state=0).fit(16 * X)
    np.testing.assert_allclose(grey.transform(16 * X), unit.transform(X))
    np.testing.assert_allclose(
        grey.score_samples(16 * X), unit.score_samples(X) - 4 * np.log(16)
    )
    np.testing.assert_allclose(
        grey.sample(5, random_state=0), 16 * unit.sample(5, random_state=0)
    )
    assert set(np.unique(grey.sample(20, random_state=0, noise=True))) <= {0.0, 16.0}


def test_bernoulli_transform_encodes_data_outside_the_unit_interval(rng):
    """Only the likelihood needs [0, 1]: a test row scaled above 1 still encodes."""
    X = rng.random((60, 4))
    vae = VAE(likelihood="bernoulli", hidden_layer_sizes=(4,), max_iter=2).fit(X)
    assert vae.transform(1.5 * X).shape == (60, 2)
    with pytest.raises(ValueError, match="needs data in"):
        vae.score_samples(1.5 * X)
