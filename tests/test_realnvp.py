"""Tests for RealNVPDensity: exactness of the flow maps, density and training."""

import copy

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal, norm
from sklearn.datasets import make_moons
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import NearestNeighbors

from skae import RealNVPDensity
from skae._data import holdout_indices

SMALL = {"n_layers": 4, "hidden_layer_sizes": (16,), "batch_size": 64}


@pytest.fixture
def moons(seed) -> np.ndarray:
    X, _ = make_moons(n_samples=300, noise=0.1, random_state=seed)
    return X * [3.0, 0.5] + [10.0, -2.0]  # not standardised on purpose


def fitted(X, **params) -> RealNVPDensity:
    params = {**SMALL, "max_iter": 30, "random_state": 0, **params}
    return RealNVPDensity(**params).fit(X)


def user_units_flow(estimator: RealNVPDensity):
    """The whole map x -> z in float64 torch, written out from the attributes."""
    flow = copy.deepcopy(estimator.net_.module_).double()
    mean = torch.from_numpy(estimator.mean_)
    scale = torch.from_numpy(estimator.scale_)
    whitening = torch.from_numpy(estimator.whitening_)

    def f(x: torch.Tensor) -> torch.Tensor:
        return flow(((x - mean) / scale) @ whitening)[0]

    return f


@pytest.mark.parametrize(
    "mask, whiten",
    [
        ("alternating", True),
        pytest.param("alternating", False, marks=pytest.mark.slow),
        pytest.param("random", True, marks=pytest.mark.slow),
        pytest.param("random", False, marks=pytest.mark.slow),
    ],
)
def test_inverse_transform_undoes_transform(moons, mask, whiten):
    estimator = fitted(moons, mask=mask, whiten=whiten)
    Z = estimator.transform(moons)
    assert Z.shape == moons.shape
    error = np.abs(estimator.inverse_transform(Z) - moons).max(axis=0)
    assert np.all(error <= 1e-4 * moons.std(axis=0))


def test_transform_maps_the_data_near_a_standard_normal(moons):
    # Whitened, over the normal base: the flow maps to N(0, I) (an unwhitened
    # autoregressive flow learns the correlation itself, in more epochs).
    Z = fitted(moons, max_iter=100, whiten=True).transform(moons)
    np.testing.assert_allclose(Z.mean(axis=0), 0.0, atol=0.2)
    np.testing.assert_allclose(np.cov(Z, rowvar=False), np.eye(2), atol=0.3)


def test_score_samples_is_the_change_of_variables_formula(moons):
    # The standard-normal base: the formula below is log N(z; 0, I) + log|det|.
    estimator = fitted(moons, noise_level=0.05, n_base_components=1)
    expected = estimator.score_samples(moons[:5])
    f = user_units_flow(estimator)
    by_hand = []
    for x in torch.from_numpy(moons[:5]):
        z = f(x.unsqueeze(0)).squeeze(0)
        jacobian = torch.autograd.functional.jacobian(
            lambda v: f(v.unsqueeze(0)).squeeze(0), x
        )
        log_det = torch.linalg.slogdet(jacobian).logabsdet
        log_normal = norm.logpdf(z.detach().numpy()).sum()
        by_hand.append(log_normal + log_det.item())
    np.testing.assert_allclose(expected, by_hand, rtol=1e-4, atol=1e-4)


def test_density_integrates_to_one(moons):
    estimator = fitted(moons)
    low, high = moons.min(axis=0), moons.max(axis=0)
    margin = high - low
    axes = [
        np.linspace(lo - m, hi + m, 301)
        for lo, hi, m in zip(low, high, margin, strict=True)
    ]
    grid = np.stack(np.meshgrid(*axes), axis=-1).reshape(-1, 2)
    cell = np.prod([a[1] - a[0] for a in axes])
    mass = np.exp(estimator.score_samples(grid)).sum() * cell
    assert mass == pytest.approx(1.0, abs=0.02)


def test_gradients_reach_every_parameter(moons):
    estimator = fitted(moons, mask="random")
    net, module = estimator.net_, estimator.net_.module_
    module.train()
    X_model = torch.from_numpy(estimator.preprocessor_.transform(moons))
    loss = net.get_loss(net.infer(X_model), X_model, X=X_model, training=True)
    loss.backward()
    for name, parameter in module.named_parameters():
        assert parameter.grad is not None, name
        assert parameter.grad.abs().sum() > 0, name


@pytest.mark.parametrize(
    "mask", ["alternating", pytest.param("random", marks=pytest.mark.slow)]
)
def test_same_random_state_gives_the_same_model(moons, mask):
    params = {"mask": mask, "noise_level": 0.1, "max_iter": 5}
    a, b = fitted(moons, **params), fitted(moons, **params)
    c = fitted(moons, **params, random_state=1)
    state_a, state_c = a.net_.module_.state_dict(), c.net_.module_.state_dict()
    for name, value in b.net_.module_.state_dict().items():
        assert torch.equal(value, state_a[name]), name
    np.testing.assert_array_equal(a.score_samples(moons), b.score_samples(moons))
    np.testing.assert_array_equal(a.sample(5, random_state=0), b.sample(5, 0))
    assert any(not torch.equal(v, state_c[k]) for k, v in state_a.items())
    assert not np.array_equal(a.score_samples(moons), c.score_samples(moons))


def test_one_feature_gives_the_gaussian_maximum_likelihood_fit(rng):
    x = rng.exponential(size=(200, 1)) * 4.0 + 1.0
    estimator = RealNVPDensity(
        early_stopping=False, n_base_components=1, random_state=0
    ).fit(x)
    expected = norm.logpdf(x[:, 0], loc=x.mean(), scale=x.std())
    # Adam keeps taking steps of about learning_rate_init around the optimum.
    np.testing.assert_allclose(estimator.score_samples(x), expected, atol=5e-3)


def test_no_coupling_layer_gives_the_full_covariance_gaussian_fit(rng):
    X = rng.normal(size=(200, 3)) @ [[2.0, 0.0, 0.0], [1.5, 0.5, 0.0], [0, 1, 3]]
    estimator = RealNVPDensity(n_layers=0, early_stopping=False, random_state=0)
    estimator.fit(X)
    gaussian = multivariate_normal(X.mean(axis=0), np.cov(X, rowvar=False, bias=True))
    np.testing.assert_allclose(
        estimator.score_samples(X), gaussian.logpdf(X), atol=5e-3
    )


def test_a_column_summing_others_is_not_whitened_into_a_huge_scale():
    # plm/Produc has pcap = hwy + water + util: its standardised covariance has
    # an eigenvalue of 3e-14, rounding noise, which was scaled by 5e6 (the
    # whitening's condition number 1.4e7) and broke the base mixture's
    # Cholesky factor.  Here the total carries 1e-7 relative noise.
    rng = np.random.default_rng(0)
    parts = rng.lognormal(0, 1, (600, 1)) * rng.lognormal(0, 0.5, (600, 3))
    total = parts.sum(axis=1) * (1 + 1e-7 * rng.standard_normal(600))
    X = np.c_[total, parts, rng.standard_normal((600, 2))]
    estimator = RealNVPDensity(max_iter=2, random_state=0).fit(X)
    assert np.linalg.cond(estimator.whitening_) < 100
    assert np.isfinite(estimator.score_samples(X)).all()
    np.testing.assert_allclose(estimator.inverse_transform(estimator.transform(X)), X)


def test_samples_look_like_the_two_moons(moons):
    estimator = fitted(
        moons,
        n_layers=6,
        hidden_layer_sizes=(32, 32),
        noise_level=0.05,
        learning_rate_init=3e-3,
        max_iter=100,
        early_stopping=False,
        n_iter_no_change=100,
    )
    samples = estimator.sample(3000, random_state=0)
    assert isinstance(samples, np.ndarray)
    assert samples.shape == (3000, 2)
    mean, std = moons.mean(axis=0), moons.std(axis=0)
    samples, data = (samples - mean) / std, (moons - mean) / std
    fresh, _ = make_moons(n_samples=3000, noise=0.1, random_state=1)
    fresh = (fresh * [3.0, 0.5] + [10.0, -2.0] - mean) / std
    np.testing.assert_allclose(samples.mean(axis=0), 0.0, atol=0.1)
    np.testing.assert_allclose(
        np.cov(samples, rowvar=False), np.cov(data, rowvar=False), atol=0.15
    )
    # Samples lie on the moons, not in the gap between them: they are about as
    # close to the training points as fresh data are (a Gaussian's are 3x as far).
    neighbours = NearestNeighbors(n_neighbors=1).fit(data)
    sample_gap = neighbours.kneighbors(samples)[0].mean()
    fresh_gap = neighbours.kneighbors(fresh)[0].mean()
    assert sample_gap < 2.0 * fresh_gap


def test_score_is_the_mean_of_score_samples(moons):
    estimator = fitted(moons, max_iter=3)
    assert estimator.score(moons) == pytest.approx(
        estimator.score_samples(moons).mean()
    )


@pytest.mark.parametrize("n_samples", [0, -1, 1.5])
def test_sample_rejects_a_bad_count(moons, n_samples):
    # The one-component base: no BIC scan for a check made before sampling.
    estimator = fitted(moons, max_iter=1, n_base_components=1)
    with pytest.raises(ValueError, match="n_samples"):
        estimator.sample(n_samples)


def test_early_stopping_restores_the_best_held_out_epoch(moons):
    estimator = fitted(
        moons,
        hidden_layer_sizes=(64, 64),
        max_iter=300,
        n_iter_no_change=5,
        tol=0,
        n_base_components=1,
    )
    curve = estimator.validation_loss_curve_
    best = int(np.argmin(curve))
    assert estimator.n_iter_ == best + 1 + 5 < 300
    assert estimator.best_loss_ == curve[best]
    _, valid = holdout_indices(
        len(moons), estimator.validation_fraction, estimator._seed()
    )
    held_out = torch.from_numpy(estimator.preprocessor_.transform(moons[valid]))
    with torch.no_grad():
        nll = -estimator.net_.module_.log_prob(held_out).mean().item()
    assert nll == pytest.approx(curve[best], abs=1e-5)


def test_feature_names_out(moons):
    estimator = fitted(moons, max_iter=1, n_base_components=1)
    names = estimator.get_feature_names_out()
    assert list(names) == ["realnvpdensity0", "realnvpdensity1"]


def test_points_far_from_the_data_keep_a_gaussian_like_log_density(moons):
    """No compounding scales outside the training box: never -1e7."""
    estimator = fitted(moons)
    gaussian = GaussianMixture(1, random_state=0).fit(moons)
    far = np.array([[30.0, 30.0], [100.0, -100.0], [-50.0, 0.0]])
    flow, base = estimator.score_samples(far), gaussian.score_samples(far)
    assert np.all(np.isfinite(flow))
    assert np.all(flow > 3 * base)  # same order as the Gaussian's (both < 0)
    np.testing.assert_allclose(
        estimator.inverse_transform(estimator.transform(far)), far, atol=1e-8
    )


def test_boxed_flow_log_det_is_the_jacobians_outside_the_box(moons):
    estimator = fitted(moons)
    module = estimator.net_.module_
    points = torch.tensor(
        [[5.0, -7.0], [0.3, 0.2], [-9.0, 4.0], [10.0, -2.0]], dtype=torch.float64
    )
    for x in points:
        jacobian = torch.autograd.functional.jacobian(
            lambda v: module(v[None])[0][0], x
        )
        expected = torch.linalg.slogdet(jacobian)[1]
        torch.testing.assert_close(module(x[None])[1][0], expected)
