"""Rational-quadratic spline couplings (Durkan et al., 2019) for the table flow."""

import pickle
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal
from sklearn.datasets import load_wine, make_moons
from sklearn.preprocessing import StandardScaler

from skae import RealNVPDensity
from skae.modules.autoregressive import AutoregressiveSpline, made_network
from skae.modules.coupling import RealNVP, SplineCoupling
from skae.modules.transforms import SplineTransform

FROZEN = {"learning_rate_init": 1e-12, "max_iter": 1, "alpha": 0.0}


def _perturbed(module: torch.nn.Module, seed: int = 0, scale: float = 0.5):
    """``module`` in float64, its parameters drawn away from the identity."""
    torch.manual_seed(seed)
    module = module.double()
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.normal_(0, scale)
    return module


def _random_parameters(shape, n_bins, seed=0, scale=2.0):
    generator = torch.Generator().manual_seed(seed)
    return [
        scale * torch.randn(*shape, k, generator=generator, dtype=torch.float64)
        for k in (n_bins, n_bins, n_bins - 1)
    ]


def test_spline_inverts_and_its_log_derivative_is_exact():
    spline = SplineTransform(n_bins=6, tail_bound=2.5)
    x = torch.linspace(-4, 4, 401, dtype=torch.float64)
    params = _random_parameters(x.shape, 6)
    y, log_derivative = spline.forward(x, *params)
    shared = [p[:1].expand(len(x), -1) for p in params]
    assert (spline.forward(x, *shared)[0].diff() > 0).all(), "increasing"
    assert (spline.inverse(y, *params) - x).abs().max() < 1e-10
    x_ = x.clone().requires_grad_()
    (derivative,) = torch.autograd.grad(spline.forward(x_, *params)[0].sum(), x_)
    torch.testing.assert_close(log_derivative, derivative.log(), atol=1e-9, rtol=0)


def test_spline_tails_are_the_identity():
    spline = SplineTransform(n_bins=5, tail_bound=3.0)
    x = torch.tensor([-100.0, -3.5, -3.0, 3.0, 3.01, 50.0], dtype=torch.float64)
    params = _random_parameters(x.shape, 5, seed=1)
    y, log_derivative = spline.forward(x, *params)
    torch.testing.assert_close(y, x, atol=1e-12, rtol=0)
    outside = x.abs() > 3
    assert (log_derivative[outside] == 0).all()
    torch.testing.assert_close(spline.inverse(y, *params), x, atol=1e-12, rtol=0)


def test_zero_parameters_are_the_identity():
    spline = SplineTransform(n_bins=8, tail_bound=3.0)
    x = torch.linspace(-5, 5, 201, dtype=torch.float64)
    zeros = _random_parameters(x.shape, 8, scale=0.0)
    y, log_derivative = spline.forward(x, *zeros)
    assert (y - x).abs().max() < 1e-14
    assert log_derivative.abs().max() < 1e-14


def test_spline_transform_validates_and_compares():
    with pytest.raises(ValueError, match="n_bins"):
        SplineTransform(n_bins=0)
    with pytest.raises(ValueError, match="tail_bound"):
        SplineTransform(tail_bound=0.0)
    assert SplineTransform(4, 2.0) == SplineTransform(4, 2.0) != SplineTransform(5)


def _jacobian_check(layer, x):
    y, log_det = layer(x)
    for row, value in zip(x, log_det, strict=True):
        jacobian = torch.autograd.functional.jacobian(
            lambda r: layer(r[None])[0][0], row
        )
        _, expected = torch.linalg.slogdet(jacobian)
        torch.testing.assert_close(value, expected, atol=1e-9, rtol=0)
    assert (layer.inverse(y) - x).abs().max() < 1e-5
    return y


@pytest.mark.parametrize("boxed", [False, True])
def test_spline_coupling_log_det_is_the_jacobians_slogdet(boxed):
    layer = _perturbed(SplineCoupling(4, torch.tensor([1, 0, 1, 0]), (8,), n_bins=5))
    x = 1.5 * torch.randn(12, 4, generator=torch.Generator().manual_seed(3)).double()
    if boxed:
        layer.fit_box(x[:6], margin=0.0)  # the other rows partly outside
    y = _jacobian_check(layer, x)
    torch.testing.assert_close(y[:, [0, 2]], x[:, [0, 2]], atol=0, rtol=0)


@pytest.mark.parametrize("boxed", [False, True])
def test_autoregressive_layer_log_det_is_the_jacobians_slogdet(boxed):
    order = torch.tensor([3, 0, 4, 1, 2])
    layer = _perturbed(AutoregressiveSpline(5, order, (16, 16), n_bins=5), scale=0.3)
    x = 1.5 * torch.randn(12, 5, generator=torch.Generator().manual_seed(3)).double()
    if boxed:
        layer.fit_box(x[:6], margin=0.0)  # the other rows partly outside
    _jacobian_check(layer, x)
    # Triangular in the order: no feature depends on one after it.
    jacobian = torch.autograd.functional.jacobian(lambda r: layer(r[None])[0][0], x[0])
    in_order = jacobian[order][:, order]
    assert in_order.triu(1).abs().max() == 0
    assert in_order.diagonal().min() > 0


@pytest.mark.parametrize("n_context", [0, 2])
def test_made_network_reads_only_the_features_before(n_context):
    order = torch.tensor([2, 0, 3, 1])
    network = made_network(order, (7, 5), 3, "tanh", n_context)
    _perturbed(network, scale=1.0)
    x = torch.randn(4 + n_context, dtype=torch.float64)
    jacobian = torch.autograd.functional.jacobian(network, x).reshape(4, 3, -1)
    rank = torch.empty(4, dtype=torch.long)
    rank[order] = torch.arange(4)
    reads = jacobian.abs().sum(dim=1) > 0
    for feature in range(4):
        before = (rank < rank[feature]).tolist() + [True] * n_context
        assert reads[feature].tolist() == before


def test_autoregressive_layer_refuses_a_non_permutation():
    with pytest.raises(ValueError, match="permutation"):
        AutoregressiveSpline(3, torch.tensor([0, 0, 1]))


@pytest.mark.parametrize("coupling", ["spline", "autoregressive"])
@pytest.mark.parametrize("mask", ["alternating", "random"])
def test_spline_flow_round_trip_and_log_det(coupling, mask):
    flow = _perturbed(
        RealNVP(
            3,
            n_layers=4,
            hidden_layer_sizes=(8,),
            coupling=coupling,
            mask=mask,
            n_bins=4,
            generator=torch.Generator().manual_seed(0),
        ),
        scale=0.3,
    )
    x = 2 * torch.randn(8, 3, generator=torch.Generator().manual_seed(1)).double()
    _jacobian_check(flow, x)


@pytest.mark.parametrize("coupling", ["spline", "autoregressive"])
def test_new_spline_flow_is_the_identity(coupling):
    flow = RealNVP(3, n_layers=4, hidden_layer_sizes=(8,), coupling=coupling).double()
    x = 4 * torch.randn(50, 3, dtype=torch.float64)
    z, log_det = flow(x)
    assert (z - x).abs().max() < 1e-13
    assert log_det.abs().max() < 1e-13


@pytest.mark.parametrize("coupling", ["spline", "autoregressive"])
def test_spline_density_integrates_to_one(coupling):
    flow = _perturbed(
        RealNVP(2, n_layers=4, hidden_layer_sizes=(16,), coupling=coupling, n_bins=6),
        seed=2,
        # Every autoregressive layer moves both features: a gentler draw
        # keeps the density smooth at the grid's step.
        scale=0.4 if coupling == "spline" else 0.25,
    )
    grid = torch.linspace(-9, 9, 601, dtype=torch.float64)
    step = grid[1] - grid[0]
    points = torch.cartesian_prod(grid, grid)
    with torch.no_grad():
        density = flow.log_prob(points).exp()
        identity = RealNVP(2, n_layers=0).double().log_prob(points).exp()
    assert abs(float(density.sum() * step**2) - 1) < 1e-3
    assert (density - identity).abs().max() > 1e-2, "the spline moved the density"


@pytest.fixture(scope="module")
def wine() -> np.ndarray:
    X, _ = load_wine(return_X_y=True)
    return StandardScaler().fit_transform(X)


@pytest.mark.parametrize("coupling", ["spline", "autoregressive"])
def test_spline_flow_starts_at_the_mixture(wine, coupling):
    """The warm start is kept exactly: epoch 0 is the affine flow's start."""
    common = {"n_base_components": 3, "early_stopping": False, "random_state": 0}
    spline = RealNVPDensity(coupling=coupling, **common, **FROZEN).fit(wine)
    affine = RealNVPDensity(**common, **FROZEN).fit(wine)
    np.testing.assert_allclose(
        spline.score_samples(wine), affine.score_samples(wine), atol=1e-6
    )


@pytest.fixture(scope="module")
def moons() -> np.ndarray:
    return make_moons(300, noise=0.05, random_state=0)[0]


@pytest.fixture(scope="module", params=["spline", "autoregressive"])
def spline_flow(moons, request) -> RealNVPDensity:
    return RealNVPDensity(
        coupling=request.param,
        n_bins=4,
        tail_bound=2.0,
        hidden_layer_sizes=(8,),
        max_iter=5,
        early_stopping=False,  # trained: the splines away from the identity
        learning_rate_init=1e-2,
        random_state=0,
    ).fit(moons)


def test_spline_flow_fits_persists_and_inverts(spline_flow, moons):
    flow, X = spline_flow, moons
    last = flow.net_.module_.layers[1].spline_net[-1]
    assert last.weight.abs().max() > 1e-3, "the couplings were trained"
    scores = flow.score_samples(X)
    assert np.isfinite(scores).all()
    np.testing.assert_allclose(flow.inverse_transform(flow.transform(X)), X, atol=1e-5)
    restored = pickle.loads(pickle.dumps(flow))
    np.testing.assert_array_equal(restored.score_samples(X), scores)
    again = RealNVPDensity(**flow.get_params()).fit(X)
    np.testing.assert_array_equal(again.score_samples(X), scores)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"coupling": "quadratic"}, "coupling"),
        ({"coupling": "spline", "n_bins": 0}, "n_bins"),
        ({"n_bins": 1}, "n_bins"),
        ({"coupling": "spline", "tail_bound": -1.0}, "tail_bound"),
    ],
)
def test_bad_spline_parameters_are_clear_errors(params, match):
    with pytest.raises(ValueError, match=match):
        RealNVPDensity(**params).fit(np.random.default_rng(0).normal(size=(20, 2)))


def test_image_flow_refuses_spline_couplings():
    X = np.random.default_rng(0).random((10, 4))
    with pytest.raises(ValueError, match="coupling"):
        RealNVPDensity(coupling="spline", image_shape=(1, 2, 2)).fit(X)


def test_spline_flow_skops_round_trip_is_exact(spline_flow, moons):
    sio = pytest.importorskip("skops.io")
    from skae import io

    data = sio.dumps(spline_flow)
    untrusted = sio.get_untrusted_types(data=data)
    assert all(t.startswith("skae.") for t in untrusted), untrusted
    for loaded in (sio.loads(data, trusted=untrusted), io.loads(io.dumps(spline_flow))):
        np.testing.assert_array_equal(
            loaded.score_samples(moons), spline_flow.score_samples(moons)
        )
        np.testing.assert_array_equal(
            loaded.sample(3, random_state=0), spline_flow.sample(3, random_state=0)
        )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_onnx_export_of_spline_couplings_agrees(spline_flow, moons, dtype):
    """Bin search as comparisons and a gather; onnxruntime agrees with the flow,
    inside the splines' interval, in their tails and beyond the boxes."""
    rt = pytest.importorskip("onnxruntime")
    from skae.onnx import to_onnx

    tolerance = 1e-5 if dtype == np.float64 else 1e-3
    X = np.r_[moons, 3 * moons[:20], 50 * moons[:5]]
    for method, rows in [
        ("score_samples", X),
        ("transform", X),
        ("inverse_transform", spline_flow.transform(X)),
    ]:
        onx = to_onnx(spline_flow, rows[:2].astype(dtype), method=method)
        session = rt.InferenceSession(onx.SerializeToString())
        got = session.run(None, {session.get_inputs()[0].name: rows.astype(dtype)})[0]
        want = getattr(spline_flow, method)(rows)
        scale = np.maximum(1, np.abs(want)) if dtype == np.float32 else 1
        assert np.max(np.abs(got - want) / scale) < tolerance, method


def test_the_default_flow_is_autoregressive_unwhitened_and_budgeted(wine):
    from skae.parts.flow import AUTOREGRESSIVE_WORK, RealNVPPart

    flow = RealNVPDensity(max_iter=1, random_state=0).fit(wine)
    layers = flow.net_.module_.layers[1:]
    assert len(layers) == 3
    assert all(isinstance(layer, AutoregressiveSpline) for layer in layers)
    assert layers[0].spline_net[0].out_features == 64
    np.testing.assert_array_equal(flow.whitening_, np.eye(wine.shape[1]))
    part = RealNVPPart(SimpleNamespace(**RealNVPDensity().get_params()), None)
    rows, width = 1_000, 50
    epochs = part.policy.epochs("auto", 5, epoch_work=rows * width)
    assert epochs == -(-AUTOREGRESSIVE_WORK // (rows * width))
    affine = RealNVPPart(
        SimpleNamespace(**RealNVPDensity(coupling="affine").get_params()), None
    )
    assert affine.policy.epochs("auto", 5, epoch_work=rows * width) == 1000
    assert affine.n_layers == 8 and affine.hidden_layer_sizes == (32, 32)


def test_one_gaussian_start_without_whitening_has_its_full_covariance():
    """Unwhitened, a start of one Gaussian is that Gaussian, not the
    standard normal of the standardised rows (a diagonal one)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3)) @ [[2.0, 0.0, 0.0], [1.5, 0.5, 0.0], [0, 1, 3]]
    flow = RealNVPDensity(
        whiten=False, early_stopping=False, random_state=0, **FROZEN
    ).fit(X)
    assert flow.base_mixture_sizes_ == (1,) * 5
    gaussian = multivariate_normal(X.mean(axis=0), np.cov(X, rowvar=False, bias=True))
    # Up to the broad component (weight about 1 / (n + 1), felt on outer rows).
    gap = np.abs(flow.score_samples(X) - gaussian.logpdf(X))
    assert np.median(gap) < 3e-3 and gap.max() < 0.1
    diagonal = multivariate_normal(X.mean(axis=0), np.diag(X.var(axis=0)))
    assert np.mean(gaussian.logpdf(X) - diagonal.logpdf(X)) > 0.5
