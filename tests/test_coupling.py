"""Tests for the Real NVP maths and modules in skae.modules.coupling."""

from pathlib import Path

import pytest
import torch
from flow_checks import slogdet_of_jacobian
from torch import nn

from skae.distributions import flow_log_prob, flow_nll, standard_normal_log_prob
from skae.modules.coupling import (
    AffineCoupling,
    ElementwiseAffine,
    RealNVP,
    affine_coupling_forward,
    affine_coupling_inverse,
    alternating_masks,
    elementwise_affine_forward,
    elementwise_affine_inverse,
    random_masks,
)


@pytest.fixture
def seed() -> int:
    torch.manual_seed(0)
    return 0


def perturb_(module: nn.Module, scale: float = 0.1) -> nn.Module:
    """Add Gaussian noise to every parameter, so no layer is the identity."""
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.add_(scale * torch.randn_like(parameter))
    return module


def make_flow(
    n_features: int, mask: str = "alternating", scale: float = 0.1, **kwargs
) -> RealNVP:
    kwargs = {"n_layers": 4, "hidden_layer_sizes": (16, 16), **kwargs}
    return perturb_(RealNVP(n_features, mask=mask, **kwargs), scale)


@pytest.mark.parametrize("builder", [alternating_masks, random_masks])
@pytest.mark.parametrize("n_layers", [0, 1, 2, 5])
@pytest.mark.parametrize("n_features", [2, 3, 6, 7])
def test_masks(seed, n_features, n_layers, builder):
    masks = builder(n_features, n_layers)

    assert masks.shape == (n_layers, n_features)
    assert masks.dtype == torch.bool
    assert set(masks.sum(dim=1).tolist()) <= {n_features // 2, n_features // 2 + 1}
    for layer in range(1, n_layers, 2):
        assert torch.equal(masks[layer], ~masks[layer - 1])
    if n_layers >= 2:
        assert (~masks).any(dim=0).all(), "every feature is transformed somewhere"


def test_alternating_masks_split_halves():
    assert alternating_masks(5, 2).int().tolist() == [
        [1, 1, 0, 0, 0],
        [0, 0, 1, 1, 1],
    ]


def test_random_masks_follow_generator():
    first = random_masks(10, 4, torch.Generator().manual_seed(3))
    again = random_masks(10, 4, torch.Generator().manual_seed(3))
    other = random_masks(10, 4, torch.Generator().manual_seed(4))

    assert torch.equal(first, again)
    assert not torch.equal(first, other)


@pytest.mark.parametrize("builder", [alternating_masks, random_masks])
def test_masks_reject_bad_arguments(builder):
    with pytest.raises(ValueError, match="at least 2 features"):
        builder(1, 2)
    with pytest.raises(ValueError, match="non-negative"):
        builder(3, -1)


@pytest.mark.parametrize("n_features", [1, 4])
def test_pure_transforms_invert_and_log_det(seed, n_features):
    x = torch.randn(32, n_features)
    mask = (torch.arange(n_features) % 2).to(x.dtype)
    log_scale, shift = torch.randn(32, n_features), torch.randn(32, n_features)

    y, log_det = affine_coupling_forward(x, mask, log_scale, shift)
    assert torch.allclose(
        affine_coupling_inverse(y, mask, log_scale, shift), x, atol=1e-5
    )
    assert torch.allclose(log_det, ((1 - mask) * log_scale).sum(dim=1))
    assert torch.equal(y[:, mask.bool()], x[:, mask.bool()])

    log_scale, shift = torch.randn(n_features), torch.randn(n_features)
    y, log_det = elementwise_affine_forward(x, log_scale, shift)
    assert torch.allclose(elementwise_affine_inverse(y, log_scale, shift), x, atol=1e-5)
    assert torch.allclose(log_det, log_scale.sum().expand(32))


def test_log_prob_and_nll():
    z = torch.tensor([[0.0, 0.0], [1.0, -2.0]])
    log_det = torch.tensor([0.5, -1.0])
    expected = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(dim=1)

    assert torch.allclose(standard_normal_log_prob(z), expected)
    assert torch.allclose(flow_log_prob(z, log_det), expected + log_det)
    assert torch.allclose(flow_nll(z, log_det), -(expected + log_det))


@pytest.mark.parametrize("mask", ["alternating", "random"])
@pytest.mark.parametrize("n_features", [1, 2, 5])
def test_new_flow_is_identity(seed, n_features, mask):
    flow = RealNVP(n_features, mask=mask)
    x = torch.randn(16, n_features)
    z, log_det = flow(x)

    assert torch.equal(z, x)
    assert torch.equal(log_det, torch.zeros(16))


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("mask", ["alternating", "random"])
@pytest.mark.parametrize("n_features", [1, 2, 5])
def test_shapes_and_gradients(seed, n_features, mask, activation):
    flow = make_flow(n_features, mask, activation=activation)
    x = torch.randn(64, n_features)

    z, log_det = flow(x)
    log_p = flow.log_prob(x)
    assert z.shape == (64, n_features)
    assert log_det.shape == (64,)
    assert log_p.shape == (64,)
    assert log_p.requires_grad
    assert flow.inverse(z).shape == (64, n_features)
    assert flow.decode(torch.randn(7, n_features)).shape == (7, n_features)

    flow.zero_grad(set_to_none=True)
    flow_nll(z, log_det).mean().backward()
    for name, parameter in flow.named_parameters():
        assert parameter.grad is not None, name
        assert torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, name


@pytest.mark.parametrize("n_features", [1, 3])
def test_train_and_eval_log_prob_agree(seed, n_features):
    flow = make_flow(n_features)
    x = torch.randn(32, n_features)

    train_log_p = flow.train().log_prob(x)
    eval_log_p = flow.eval().log_prob(x)

    assert torch.allclose(train_log_p, eval_log_p)


@pytest.mark.parametrize(
    ("dtype", "scale"), [(torch.float32, 0.1), (torch.float64, 0.3)]
)
@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("mask", ["alternating", "random"])
@pytest.mark.parametrize("n_features", [1, 2, 3, 8])
def test_round_trip(seed, n_features, mask, activation, dtype, scale):
    flow = make_flow(n_features, mask, scale, activation=activation, n_layers=6)
    flow = flow.to(dtype)
    x = torch.randn(256, n_features, dtype=dtype)
    z = torch.randn(256, n_features, dtype=dtype)

    with torch.no_grad():
        assert not torch.allclose(flow(x)[0], x, atol=1e-2), "flow is not trivial"
        assert torch.allclose(flow.inverse(flow(x)[0]), x, atol=1e-4)
        assert torch.allclose(flow(flow.inverse(z))[0], z, atol=1e-4)


@pytest.mark.parametrize("mask", ["alternating", "random"])
@pytest.mark.parametrize("n_features", [1, 2, 5])
def test_log_det_matches_autograd_jacobian(seed, n_features, mask):
    flow = make_flow(n_features, mask, activation="tanh").double()
    x = torch.randn(4, n_features, dtype=torch.float64)

    hidden = x
    for layer in flow.layers:
        expected = slogdet_of_jacobian(lambda v, layer=layer: layer(v)[0], hidden)
        hidden, log_det = layer(hidden)
        assert torch.allclose(log_det, expected, atol=1e-8), layer

    expected = slogdet_of_jacobian(lambda v: flow(v)[0], x)
    assert torch.allclose(flow(x)[1], expected, atol=1e-8)


def test_coupling_layer_jacobian_is_triangular(seed):
    mask = torch.tensor([True, False, True, False], dtype=torch.bool)
    layer = perturb_(AffineCoupling(4, mask, (8,), "tanh")).double()
    x = torch.randn(4, dtype=torch.float64)

    jacobian = torch.autograd.functional.jacobian(
        lambda v: layer(v.unsqueeze(0))[0].squeeze(0), x
    )
    kept, changed = mask, ~mask

    assert torch.equal(jacobian[kept][:, kept], torch.eye(2, dtype=torch.float64))
    assert torch.equal(jacobian[kept][:, changed], torch.zeros(2, 2).double())
    assert torch.equal(
        jacobian[changed][:, changed], jacobian[changed][:, changed].diag().diag()
    )


@pytest.mark.parametrize("n_features", [1, 4])
def test_state_dict_round_trip(seed, tmp_path: Path, n_features):
    kwargs = {"mask": "random", "n_layers": 4, "hidden_layer_sizes": (8,)}
    flow = perturb_(
        RealNVP(n_features, generator=torch.Generator().manual_seed(1), **kwargs)
    )
    torch.save(flow.state_dict(), tmp_path / "flow.pt")

    flow_bis = RealNVP(n_features, generator=torch.Generator().manual_seed(2), **kwargs)
    masks = [layer.mask for layer in flow.layers[1:]]
    masks_bis = [layer.mask for layer in flow_bis.layers[1:]]
    assert n_features == 1 or not all(map(torch.equal, masks, masks_bis))
    flow_bis.load_state_dict(torch.load(tmp_path / "flow.pt"))

    x, z = torch.randn(16, n_features), torch.randn(16, n_features)
    with torch.no_grad():
        assert torch.equal(flow.log_prob(x), flow_bis.log_prob(x))
        assert torch.equal(flow.inverse(z), flow_bis.inverse(z))
        for name, buffer in flow.named_buffers():
            assert torch.equal(buffer, flow_bis.get_buffer(name)), name


def test_one_feature_flow_is_a_gaussian(seed):
    flow = make_flow(1, n_layers=5)
    assert len(flow.layers) == 1
    assert isinstance(flow.layers[0], ElementwiseAffine)

    log_scale, shift = flow.layers[0].log_scale.detach(), flow.layers[0].shift.detach()
    scale = (-log_scale).exp()
    gaussian = torch.distributions.Normal(-shift * scale, scale)
    x = torch.randn(50, 1)

    with torch.no_grad():
        assert torch.allclose(flow.log_prob(x).float(), gaussian.log_prob(x).squeeze(1))


@pytest.mark.parametrize("mask", ["alternating", "random"])
def test_density_integrates_to_one(seed, mask):
    flow = make_flow(2, mask, activation="tanh", n_layers=4).double()
    edges = torch.linspace(-10.0, 10.0, 401, dtype=torch.float64)
    grid = torch.cartesian_prod(edges, edges)
    cell_area = (edges[1] - edges[0]) ** 2

    with torch.no_grad():
        density = flow.log_prob(grid).exp()
    base_density = standard_normal_log_prob(grid).exp()

    assert (density - base_density).abs().sum() * cell_area > 0.1, "not the base"
    assert (density.sum() * cell_area).item() == pytest.approx(1.0, abs=0.02)


def test_initialize_from_data_standardises(seed):
    scale, offset = torch.tensor([2.0, 0.5, 0.0]), torch.tensor([1.0, -3.0, 7.0])
    x = torch.randn(500, 3) * scale + offset
    flow = RealNVP(3)
    flow.initialize_from_data(x)

    with torch.no_grad():
        z, log_det = flow(x)
    assert torch.allclose(z.mean(dim=0), torch.zeros(3), atol=1e-5)
    assert torch.allclose(z.std(dim=0, correction=0), torch.tensor([1.0, 1.0, 0.0]))
    expected_log_det = -x[:, :2].std(dim=0, correction=0).log().sum()
    assert torch.allclose(log_det, expected_log_det.expand(500))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_features": 0}, "n_features"),
        ({"n_features": 2, "n_layers": -1}, "n_layers"),
        ({"n_features": 2, "mask": "checkerboard"}, "mask"),
        ({"n_features": 2, "log_scale_bound": 0.0}, "log_scale_bound"),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RealNVP(**kwargs)


def test_coupling_rejects_wrong_mask_shape():
    with pytest.raises(ValueError, match="mask must have shape"):
        AffineCoupling(3, torch.tensor([True, False]))
