"""Rational-quadratic spline couplings (Durkan et al., 2019) for the table flow."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.datasets import load_wine, make_moons
from sklearn.preprocessing import StandardScaler

from skae import RealNVPDensity
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


def test_spline_flow_round_trip_and_log_det():
    flow = _perturbed(
        RealNVP(3, n_layers=4, hidden_layer_sizes=(8,), coupling="spline", n_bins=4),
        scale=0.3,
    )
    x = 2 * torch.randn(8, 3, generator=torch.Generator().manual_seed(1)).double()
    _jacobian_check(flow, x)


def test_new_spline_flow_is_the_identity():
    flow = RealNVP(3, n_layers=4, hidden_layer_sizes=(8,), coupling="spline").double()
    x = 4 * torch.randn(50, 3, dtype=torch.float64)
    z, log_det = flow(x)
    assert (z - x).abs().max() < 1e-13
    assert log_det.abs().max() < 1e-13


def test_spline_density_integrates_to_one():
    flow = _perturbed(
        RealNVP(2, n_layers=4, hidden_layer_sizes=(16,), coupling="spline", n_bins=6),
        seed=2,
        scale=0.4,
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


def test_spline_flow_starts_at_the_mixture(wine):
    """The warm start is kept exactly: epoch 0 is the affine flow's start."""
    common = {"n_base_components": 3, "early_stopping": False, "random_state": 0}
    spline = RealNVPDensity(coupling="spline", **common, **FROZEN).fit(wine)
    affine = RealNVPDensity(**common, **FROZEN).fit(wine)
    np.testing.assert_allclose(
        spline.score_samples(wine), affine.score_samples(wine), atol=1e-6
    )


@pytest.fixture(scope="module")
def moons() -> np.ndarray:
    return make_moons(300, noise=0.05, random_state=0)[0]


@pytest.fixture(scope="module")
def spline_flow(moons) -> RealNVPDensity:
    return RealNVPDensity(
        coupling="spline",
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
