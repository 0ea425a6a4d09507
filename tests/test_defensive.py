"""The VAE's defensive mixture with the factor model it started from."""

import copy

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import multivariate_normal
from sklearn.datasets import load_wine
from sklearn.decomposition import FactorAnalysis

from skae import VAE
from skae._defensive import (
    defensive_mixture,
    factor_covariance,
    factor_model_draws,
    gaussian_log_density,
)


@pytest.fixture(scope="module")
def wine() -> np.ndarray:
    return load_wine().data


@pytest.fixture(scope="module")
def curve() -> np.ndarray:
    """A noisy curve in 5-D, where the VAE trains away from its factor-model start."""
    rng = np.random.default_rng(0)
    t = rng.uniform(-2, 2, 300)
    X = np.c_[np.cos(2 * t), np.sin(2 * t), t**2, t, rng.normal(size=300)]
    return X + 0.05 * rng.normal(size=X.shape)


@pytest.fixture(scope="module")
def fitted(curve):
    """The same fit with the default weight and with none."""
    kwargs = {"n_components": 2, "max_iter": 40, "random_state": 0}
    return VAE(**kwargs).fit(curve), VAE(defensive_weight=0, **kwargs).fit(curve)


def _start_log_density(model, X):
    covariance = factor_covariance(model.start_components_, model.start_noise_variance_)
    return gaussian_log_density(X, model.start_mean_, covariance)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), d=st.integers(1, 5), missing=st.floats(0, 0.7))
def test_gaussian_log_density_is_the_marginal_of_the_observed_entries(seed, d, missing):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(d, d))
    covariance, mean = A @ A.T + 0.1 * np.eye(d), rng.normal(size=d)
    X = rng.normal(size=(12, d))
    X[rng.random(X.shape) < missing] = np.nan
    out = gaussian_log_density(X, mean, covariance)
    for row, value in zip(X, out, strict=True):
        seen = np.isfinite(row)
        expected = 0.0
        if seen.any():
            expected = multivariate_normal(
                mean[seen], covariance[np.ix_(seen, seen)]
            ).logpdf(row[seen])
        np.testing.assert_allclose(value, expected, rtol=1e-10, atol=1e-10)


def test_score_is_the_mixture_and_training_ignores_the_weight(fitted, curve):
    model, alone = fitted
    X = np.vstack([curve, 5 * curve[:5]])  # and far from the data
    assert model.defensive_weight_ == pytest.approx(1 / (len(curve) + 1))
    assert alone.defensive_weight_ == 0
    # The weight only enters the density: the two fits are the same network.
    np.testing.assert_array_equal(alone.transform(X), model.transform(X))
    network = alone.score_samples(X)
    part = model._make_part(None)
    np.testing.assert_array_equal(part.network_scores(vars(model), X), network)
    expected = np.logaddexp(
        np.log1p(-model.defensive_weight_) + network,
        np.log(model.defensive_weight_) + _start_log_density(model, X),
    )
    np.testing.assert_allclose(model.score_samples(X), expected, rtol=1e-12)
    # Near the data the mixture costs at most -log(1 - w) nats per row.
    assert np.all(
        model.score_samples(X) >= network + np.log1p(-model.defensive_weight_)
    )
    assert not np.allclose(model.score_samples(X), network, rtol=1e-6)


def test_start_is_the_factor_model_in_the_users_units(wine):
    model = VAE(n_components=3, max_iter=2, random_state=0).fit(wine)
    assert model.start_components_.shape == (model.n_factors_start_, wine.shape[1])
    fa = FactorAnalysis(model.n_factors_start_, tol=1e-8, max_iter=5000).fit(wine)
    np.testing.assert_allclose(model.start_mean_, wine.mean(axis=0), rtol=1e-10)
    start = _start_log_density(model, wine).mean()
    assert start == pytest.approx(fa.score(wine), abs=0.05)


def test_a_far_point_keeps_the_start_density(fitted, curve):
    model, _ = fitted
    far = curve.mean(axis=0) + 50 * curve.std(axis=0) * np.linspace(-1, 1, 5)
    far = far[None]
    floor = np.log(model.defensive_weight_) + _start_log_density(model, far)
    assert model.score_samples(far)[0] >= floor[0] - 1e-9


def test_missing_entries_use_the_start_marginal(fitted, curve):
    model, alone = fitted
    X = np.vstack([curve[:20], 5 * curve[:5]])
    X[::2, 3] = np.nan
    X[1, :3] = np.nan
    expected = defensive_mixture(
        alone.score_samples(X), _start_log_density(model, X), model.defensive_weight_
    )
    np.testing.assert_allclose(model.score_samples(X), expected, rtol=1e-12)


def test_samples_come_from_the_start_with_its_weight(wine):
    model = VAE(n_components=3, max_iter=5, defensive_weight=0.999, random_state=0)
    model.fit(wine)
    draws = model.sample(20_000, random_state=0, noise=True)
    covariance = factor_covariance(model.start_components_, model.start_noise_variance_)
    scale = np.sqrt(np.diag(covariance))
    np.testing.assert_allclose(
        draws.mean(axis=0), model.start_mean_, atol=0.05 * scale.max()
    )
    correlation = np.cov(draws.T) / np.outer(scale, scale)
    np.testing.assert_allclose(
        correlation, covariance / np.outer(scale, scale), atol=0.05
    )
    rng = np.random.RandomState(0)
    mean_only = factor_model_draws(
        5, model.start_mean_, model.start_components_, np.ones(13), rng, noise=False
    )
    assert mean_only.shape == (5, 13)


@pytest.mark.parametrize(
    "kwargs",
    [{"init": "random"}, {"likelihood": "bernoulli"}],
)
def test_no_component_without_a_factor_model_start(wine, kwargs):
    X = wine / wine.max(axis=0)
    model = VAE(n_components=2, max_iter=3, random_state=0, **kwargs).fit(X)
    assert model.defensive_weight_ == 0
    assert model.start_mean_ is None and model.start_components_ is None


def test_no_component_with_categorical_columns(wine):
    frame = pd.DataFrame(wine[:, :4], columns=list("abcd"))
    frame["kind"] = pd.Categorical(np.where(wine[:, 4] > 100, "high", "low"))
    model = VAE(n_components=2, max_iter=3, random_state=0).fit(frame)
    assert model.defensive_weight_ == 0
    assert np.all(np.isfinite(model.score_samples(frame)))


def test_partial_fit_keeps_the_fits_component(wine):
    model = VAE(n_components=3, max_iter=3, random_state=0).fit(wine)
    mean, weight = model.start_mean_.copy(), model.defensive_weight_
    model.partial_fit(wine[:50])
    np.testing.assert_array_equal(model.start_mean_, mean)
    assert model.defensive_weight_ == weight
    first = VAE(n_components=3, random_state=0).partial_fit(wine[:50])
    assert first.defensive_weight_ == pytest.approx(1 / 51)


def test_onnx_scores_the_mixture(fitted, curve):
    rt = pytest.importorskip("onnxruntime")
    skae_onnx = pytest.importorskip("skae.onnx")
    model, alone = fitted
    X = np.vstack([curve[:10], 5 * curve[:5]])  # and far from the data
    onx = skae_onnx.to_onnx(model, X[:1], method="score_samples")
    session = rt.InferenceSession(onx.SerializeToString())
    got = session.run(None, {session.get_inputs()[0].name: X})[0]
    np.testing.assert_allclose(got, model.score_samples(X), rtol=1e-9)
    assert not np.allclose(got, alone.score_samples(X), rtol=1e-6)


def test_a_model_saved_before_the_component_scores_with_the_network(fitted, curve):
    model, alone = fitted
    older = copy.deepcopy(model)
    del older.defensive_weight_  # as unpickled from a version without it
    expected = alone.score_samples(curve)
    np.testing.assert_array_equal(older.score_samples(curve), expected)
    assert older.sample(3, random_state=0).shape == (3, curve.shape[1])
