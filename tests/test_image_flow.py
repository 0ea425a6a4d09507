"""Fidelity tests of the multiscale image Real NVP (skae.modules.image_flow)."""

import io
import math

import numpy as np
import pytest
import torch
from flow_checks import slogdet_of_jacobian
from torch import nn

from skae.distributions import standard_normal_log_prob
from skae.modules.image_flow import (
    ImageCoupling,
    MultiscaleRealNVP,
    Squeeze,
    channel_mask,
    checkerboard_mask,
    multiscale_plan,
    squeeze,
    unsqueeze,
)
from skae.modules.mixture import GaussianMixtureBase

SHAPES = [(1, 4, 4), (2, 4, 4), (1, 8, 8), (3, 6, 4), (2, 7, 5), (1, 1, 3), (3, 1, 1)]


@pytest.fixture
def seed() -> int:
    torch.manual_seed(0)
    return 0


def perturbed_flow(shape, scale: float = 0.1, **kwargs) -> MultiscaleRealNVP:
    """A float64 flow with every parameter moved off its (identity) start."""
    kwargs = {"hidden_channels": (4, 4), **kwargs}
    flow = MultiscaleRealNVP(shape, **kwargs).double()
    with torch.no_grad():
        for parameter in flow.parameters():
            parameter.add_(scale * torch.randn_like(parameter))
    return flow


@pytest.mark.parametrize("shape", [(1, 2, 2), (3, 4, 6), (2, 8, 2)])
def test_squeeze_folds_blocks_and_unsqueeze_inverts_it(seed, shape):
    c, h, w = shape
    x = torch.randn(2, *shape)
    y = squeeze(x)

    assert y.shape == (2, 4 * c, h // 2, w // 2)
    for k in range(c):
        for i in range(2):
            for j in range(2):
                assert torch.equal(y[:, 4 * k + 2 * i + j], x[:, k, i::2, j::2])
    assert torch.equal(unsqueeze(y), x)


def test_squeeze_rejects_odd_sides_and_unsqueeze_bad_channels():
    with pytest.raises(ValueError, match="even"):
        squeeze(torch.zeros(1, 1, 3, 4))
    with pytest.raises(ValueError, match="multiple of 4"):
        unsqueeze(torch.zeros(1, 3, 2, 2))


def test_checkerboard_mask_alternates_in_both_directions():
    mask = checkerboard_mask((2, 3, 4), 0)

    assert mask.shape == (2, 3, 4) and mask.dtype == torch.bool
    assert torch.equal(mask[0], mask[1])
    assert bool(mask[0, 0, 0]) and not bool(mask[0, 0, 1]) and not bool(mask[0, 1, 0])
    assert (mask[:, :, 1:] != mask[:, :, :-1]).all()
    assert (mask[:, 1:, :] != mask[:, :-1, :]).all()
    assert torch.equal(checkerboard_mask((2, 3, 4), 1), ~mask)


@pytest.mark.parametrize("c", [2, 3, 4, 8])
def test_channel_mask_keeps_a_half_of_the_channels(c):
    mask = channel_mask((c, 2, 3), 0)

    assert mask[: c // 2].all() and not mask[c // 2 :].any()
    assert torch.equal(channel_mask((c, 2, 3), 1), ~mask)


def test_plan_of_digits_follows_dinh_et_al():
    plan = multiscale_plan((1, 8, 8))
    kinds = [step.kind for step in plan]

    stage = ["checkerboard"] * 3 + ["squeeze"] + ["channel"] * 3
    assert kinds == stage + stage + ["checkerboard"] * 4
    assert [step.shape for step in plan if step.kind == "squeeze"] == [
        (1, 8, 8),
        (2, 4, 4),
    ]
    assert plan[-1].shape == (4, 2, 2)  # half the channels factored out twice
    assert [step.parity for step in plan[:3]] == [0, 1, 0]


@pytest.mark.parametrize(
    ("shape", "n_squeezes", "last"),
    [
        ((1, 28, 28), 2, (4, 7, 7)),  # 28 -> 14 -> 7: odd, no more squeezes
        ((3, 16, 16), 2, (12, 4, 4)),
        ((2, 7, 5), 0, (2, 7, 5)),  # an odd side: no squeeze at all
        ((1, 6, 8), 1, (2, 3, 4)),
        ((1, 2, 2), 1, (2, 1, 1)),  # one pixel left: channel couplings
    ],
)
def test_plan_stops_squeezing_at_an_odd_side(shape, n_squeezes, last):
    plan = multiscale_plan(shape)

    assert sum(step.kind == "squeeze" for step in plan) == n_squeezes
    assert plan[-1].shape == last
    expected_kind = "checkerboard" if last[1] * last[2] >= 2 else "channel"
    assert plan[-1].kind == expected_kind


def test_plan_of_a_single_value_has_no_coupling():
    assert multiscale_plan((1, 1, 1)) == []


def test_plan_rejects_bad_shapes():
    with pytest.raises(ValueError, match="image_shape"):
        multiscale_plan((1, 0, 4))
    with pytest.raises(ValueError, match="image_shape"):
        multiscale_plan((4, 4))
    with pytest.raises(ValueError, match="n_scales"):
        multiscale_plan((1, 4, 4), 0)


@pytest.mark.parametrize("shape", SHAPES)
def test_new_flow_is_a_permutation(seed, shape):
    flow = MultiscaleRealNVP(shape, hidden_channels=(4,)).double()
    x = torch.randn(5, math.prod(shape), dtype=torch.float64)
    z, log_det = flow(x)

    assert torch.equal(z.sort(dim=1).values, x.sort(dim=1).values)
    assert torch.equal(log_det, torch.zeros(5, dtype=torch.float64))


@pytest.mark.parametrize("shape", SHAPES)
def test_shapes_round_trip_and_log_prob(seed, shape):
    flow = perturbed_flow(shape)
    d = math.prod(shape)
    x = torch.randn(6, d, dtype=torch.float64)
    z, log_det = flow(x)

    assert z.shape == (6, d) and log_det.shape == (6,)
    assert flow.encode(x).shape == (6, d)
    assert (flow.inverse(z) - x).abs().max() <= 1e-6
    assert torch.equal(flow.decode(z), flow.inverse(z))
    expected = standard_normal_log_prob(z) + log_det
    assert torch.allclose(flow.log_prob(x), expected)


@pytest.mark.parametrize("shape", [(1, 4, 4), (2, 4, 4), (1, 3, 2), (3, 1, 1)])
def test_log_det_matches_autograd_jacobian(seed, shape):
    # Moderate weights: the Jacobian of 20 random layers can be so badly
    # conditioned that slogdet itself loses digits.
    flow = perturbed_flow(shape, scale=0.1)
    x = torch.randn(3, math.prod(shape), dtype=torch.float64)
    _, log_det = flow(x)
    expected = slogdet_of_jacobian(lambda v: flow(v)[0], x)

    assert torch.allclose(log_det, expected, atol=1e-8)
    assert not torch.allclose(log_det, torch.zeros_like(log_det))


def test_coupling_jacobian_is_triangular_in_the_mask_order(seed):
    mask = checkerboard_mask((2, 2, 3), 1)
    layer = ImageCoupling(mask, (4,)).double()
    with torch.no_grad():
        for parameter in layer.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    x = torch.randn(12 + 5, dtype=torch.float64)
    jacobian = torch.autograd.functional.jacobian(
        lambda v: layer(v.unsqueeze(0))[0].squeeze(0), x
    )
    kept = torch.cat([mask.flatten(), torch.ones(5, dtype=torch.bool)])

    # Kept pixels and factored-out values pass unchanged ...
    assert torch.equal(jacobian[kept], torch.eye(17, dtype=torch.float64)[kept])
    # ... and a transformed pixel depends on no other transformed pixel.
    changed = jacobian[~kept][:, ~kept]
    assert torch.equal(changed, torch.diag(changed.diagonal()))


def test_squeeze_layer_is_a_permutation_with_zero_log_det(seed):
    layer = Squeeze((2, 4, 2))
    x = torch.randn(3, 16 + 4)
    y, log_det = layer(x)

    assert torch.equal(y[:, 16:], x[:, 16:])
    assert torch.equal(y[:, :16].sort(dim=1).values, x[:, :16].sort(dim=1).values)
    assert torch.equal(log_det, torch.zeros(3))
    assert torch.equal(layer.inverse(y), x)


def test_gradients_reach_every_parameter(seed):
    flow = perturbed_flow((2, 4, 4))
    flow.log_prob(torch.randn(8, 32, dtype=torch.float64)).mean().backward()

    for name, parameter in flow.named_parameters():
        assert parameter.grad is not None, name
        assert parameter.grad.abs().sum() > 0, name


def test_conditioners_start_at_zero():
    flow = MultiscaleRealNVP((1, 4, 4), hidden_channels=(4,))
    couplings = [layer for layer in flow.layers if isinstance(layer, ImageCoupling)]

    assert couplings
    for layer in couplings:
        assert not layer.conditioner.out.weight.any()
        assert not layer.conditioner.out.bias.any()


def test_train_and_eval_log_prob_agree(seed):
    flow = perturbed_flow((1, 4, 4))
    x = torch.randn(5, 16, dtype=torch.float64)
    train = flow.train().log_prob(x)

    assert torch.equal(flow.eval().log_prob(x), train)


def test_float32_round_trip(seed):
    flow = perturbed_flow((1, 8, 8)).float()
    x = torch.randn(4, 64)

    assert (flow.inverse(flow(x)[0]) - x).abs().max() < 1e-4


def test_state_dict_round_trip_with_a_mixture_base(seed):
    flow = perturbed_flow((1, 4, 4))
    eye = torch.eye(16, dtype=torch.float64).numpy()
    flow.set_base(GaussianMixtureBase([0.5, 0.5], eye[:2], [eye, 2 * eye]))
    buffer = io.BytesIO()
    torch.save(flow.state_dict(), buffer)
    buffer.seek(0)
    again = MultiscaleRealNVP((1, 4, 4), hidden_channels=(4, 4)).double()
    again.load_state_dict(torch.load(buffer))
    x = torch.randn(3, 16, dtype=torch.float64)

    assert torch.equal(again.log_prob(x), flow.log_prob(x))
    assert torch.equal(again.inverse(again(x)[0]), flow.inverse(flow(x)[0]))


def test_boxes_keep_the_data_and_a_gaussian_like_far_density(seed):
    flow = perturbed_flow((1, 4, 4))
    x = torch.randn(200, 16, dtype=torch.float64)
    before = flow.log_prob(x[:5])
    flow.fit_boxes(x)
    far = 1e6 * torch.randn(3, 16, dtype=torch.float64)
    z, log_det = flow(far)

    assert torch.allclose(flow.log_prob(x[:5]), before)
    assert (flow.inverse(z) - far).abs().max() / 1e6 < 1e-10
    # Far out no coupling scales: only the per-pixel affine layer's log-det.
    assert torch.allclose(log_det, flow.layers[0].log_scale.sum().expand(3))
    gaussian = standard_normal_log_prob(flow.layers[0](far)[0]) + log_det
    assert torch.allclose(flow.log_prob(far), gaussian, rtol=1e-3)


def test_boxed_log_det_matches_autograd_outside_the_box(seed):
    flow = perturbed_flow((1, 4, 4), scale=0.3)
    flow.fit_boxes(torch.randn(100, 16, dtype=torch.float64))
    x = 3 * torch.randn(3, 16, dtype=torch.float64)  # partly outside the box

    expected = slogdet_of_jacobian(lambda v: flow(v)[0], x)
    assert torch.allclose(flow(x)[1], expected, atol=1e-8)


def test_rejects_a_mask_that_is_not_an_image():
    with pytest.raises(ValueError, match=r"\(c, h, w\)"):
        ImageCoupling(torch.ones(4, dtype=torch.bool), (4,))


def test_module_is_an_nn_module_with_the_protocol():
    flow = MultiscaleRealNVP((1, 4, 4), hidden_channels=(4,))

    assert isinstance(flow, nn.Module)
    for method in ("encode", "decode", "log_prob", "inverse", "base_log_prob"):
        assert callable(getattr(flow, method))
    for method in ("set_base", "fit_boxes", "initialize_from_data"):
        assert callable(getattr(flow, method))


# ------------------------------------------------------------------ estimator
@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    from skae.metrics import dequantize

    return dequantize(load_digits().data[:240], random_state=0)


@pytest.fixture(scope="module")
def fitted_digits(digits):
    from skae import RealNVPDensity

    return RealNVPDensity(
        image_shape=(1, 8, 8), hidden_layer_sizes=(8,), max_iter=3, random_state=0
    ).fit(digits)


def test_estimator_builds_the_image_flow_on_per_channel_scaling(fitted_digits):
    from skae._preprocessing import Standardizer

    module = fitted_digits.net_.module_
    assert isinstance(module, MultiscaleRealNVP)
    assert module.image_shape == (1, 8, 8)
    assert type(fitted_digits.preprocessor_) is Standardizer
    assert len(set(fitted_digits.scale_)) == 1  # one channel: one scale
    assert np.array_equal(fitted_digits.whitening_, np.eye(64))


def test_score_samples_is_the_change_of_variables_in_user_units(fitted_digits, digits):
    flow = fitted_digits
    X = digits[:3]
    pre = flow.preprocessor_
    module = flow.net_.module_
    u = torch.from_numpy(pre.transform(X, np.float32))
    with torch.no_grad():
        z, log_det = module(u)
    expected = (
        standard_normal_log_prob(z.double())
        + log_det.double()
        - np.log(pre.scale_).sum()
    )
    np.testing.assert_allclose(flow.score_samples(X), expected.numpy(), rtol=1e-6)
    np.testing.assert_allclose(flow.transform(X), z.numpy(), rtol=1e-6)


def test_transform_inverse_transform_and_sample_give_flat_rows(fitted_digits, digits):
    Z = fitted_digits.transform(digits[:5])

    assert Z.shape == (5, 64)
    back = fitted_digits.inverse_transform(Z)
    assert back.shape == (5, 64)
    assert np.abs(back - digits[:5]).max() < 1e-4 * np.abs(digits).max()
    samples = fitted_digits.sample(7, random_state=0)
    assert samples.shape == (7, 64) and np.all(np.isfinite(samples))
    np.testing.assert_array_equal(samples, fitted_digits.sample(7, random_state=0))


def test_image_arrays_score_as_their_flat_rows(fitted_digits, digits):
    images = digits[:4].reshape(4, 1, 8, 8)

    np.testing.assert_array_equal(
        fitted_digits.score_samples(images), fitted_digits.score_samples(digits[:4])
    )


def test_same_random_state_gives_the_same_flow_bit_for_bit(digits, fitted_digits):
    from sklearn.base import clone

    again = clone(fitted_digits).fit(digits)

    np.testing.assert_array_equal(
        again.score_samples(digits[:10]), fitted_digits.score_samples(digits[:10])
    )
    assert again.loss_curve_ == fitted_digits.loss_curve_


def test_far_images_keep_a_gaussian_like_log_density(fitted_digits, digits):
    far = fitted_digits.score_samples(1e3 * digits[:3] - 5e3)

    assert np.all(np.isfinite(far))
    # The per-channel Gaussian of the training data, for comparison.
    scale = fitted_digits.scale_[0]
    u = (1e3 * digits[:3] - 5e3 - fitted_digits.mean_) / scale
    gaussian = -0.5 * (u**2).sum(1) - 32 * np.log(2 * np.pi) - 64 * np.log(scale)
    assert np.all(far > 100 * gaussian)  # of that order, not -1e12


@pytest.mark.parametrize("shape", [(1, 5, 4), (2, 3, 3), (3, 4, 4)])
def test_estimator_fits_other_image_sizes(shape):
    from skae import RealNVPDensity

    X = np.random.default_rng(0).uniform(size=(40, math.prod(shape)))
    flow = RealNVPDensity(
        image_shape=shape, hidden_layer_sizes=(4,), max_iter=2, random_state=0
    ).fit(X)

    assert flow.score_samples(X).shape == (40,)
    assert flow.sample(2, random_state=0).shape == (2, math.prod(shape))
    with pytest.raises(ValueError, match="columns"):
        RealNVPDensity(image_shape=shape).fit(X[:, :-1])


def test_onnx_export_of_the_image_flow_is_refused(fitted_digits, digits):
    onnx = pytest.importorskip("skae.onnx")

    with pytest.raises(NotImplementedError, match="image_shape"):
        onnx.to_onnx(fitted_digits, digits[:1], method="score_samples")


@pytest.mark.parametrize("how", ["pickle", "skops"])
def test_saved_and_reloaded_image_flow_gives_the_same_outputs(
    fitted_digits, digits, how
):
    import pickle

    if how == "pickle":
        loaded = pickle.loads(pickle.dumps(fitted_digits))
    else:
        sio = pytest.importorskip("skops.io")
        data = sio.dumps(fitted_digits)
        loaded = sio.loads(data, trusted=sio.get_untrusted_types(data=data))
    X = digits[:6]

    assert isinstance(loaded.net_.module_, MultiscaleRealNVP)
    np.testing.assert_array_equal(
        loaded.score_samples(X), fitted_digits.score_samples(X)
    )
    np.testing.assert_array_equal(loaded.transform(X), fitted_digits.transform(X))
    np.testing.assert_array_equal(
        loaded.sample(3, random_state=0), fitted_digits.sample(3, random_state=0)
    )


def test_table_only_parameters_are_an_error_for_images():
    """The image flow's dead parameters: an error naming them, not ignored."""
    import inspect

    from skae import RealNVPDensity
    from skae.parts.flow import TABLE_ONLY

    defaults = inspect.signature(RealNVPDensity).parameters
    assert {name: defaults[name].default for name in TABLE_ONLY} == TABLE_ONLY
    X = np.random.default_rng(0).random((40, 16))
    for name, value in [("n_layers", 2), ("mask", "random"), ("whiten", False)]:
        flow = RealNVPDensity(image_shape=(1, 4, 4), max_iter=1, **{name: value})
        with pytest.raises(ValueError, match=name):
            flow.fit(X)
        assert not hasattr(flow, "net_")
