"""Images: the ``image_shape`` plumbing, per-channel scaling, conv networks."""

import numpy as np
import pytest
import torch
from torch import nn

from skae import VAE, AutoencoderTransformer, DenoisingAE, RealNVPDensity
from skae._images import (
    check_image_width,
    checked_image_shape,
    flattened_images,
    resolved_image_shape,
)
from skae._preprocessing import Standardizer
from skae.modules.conv import (
    ConvDecoder,
    ConvEncoder,
    axis_layers,
    conv_output_size,
    feature_map_sizes,
    image_layers,
    transposed_output_size,
)

ESTIMATORS = [AutoencoderTransformer, DenoisingAE, VAE, RealNVPDensity]


def _images(rng, n=24, shape=(2, 5, 4)):
    return rng.uniform(size=(n, *shape))


def _small(estimator, **params):
    defaults = {"max_iter": 2, "random_state": 0}
    if estimator is RealNVPDensity:
        defaults.update(hidden_layer_sizes=(4,))
        if params.get("image_shape") is None:  # the image flow has neither
            defaults.update(n_layers=1, n_base_components=1)
    return estimator(**{**defaults, **params})


# ---------------------------------------------------------------- parameter
@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, None),
        ((28, 28), (1, 28, 28)),
        ([3, 8, 6], (3, 8, 6)),
        (np.array([1, 2, 3]), (1, 2, 3)),
    ],
)
def test_checked_image_shape(given, expected):
    assert checked_image_shape(given) == expected


@pytest.mark.parametrize(
    "bad", [(0, 8, 8), (1, -2, 8), (8,), (1, 2, 3, 4), (2.5, 8), (True, 4), ()]
)
def test_bad_image_shape_is_named(bad):
    with pytest.raises(ValueError, match="image_shape must be"):
        checked_image_shape(bad)


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("bad", [(0, 8, 8), (2, 8, 8, 1), "ab"])
def test_fit_rejects_bad_image_shape(estimator, bad, rng):
    X = rng.uniform(size=(10, 64))
    with pytest.raises(ValueError, match="image_shape"):
        _small(estimator, image_shape=bad).fit(X)


def test_width_message_names_the_product():
    pattern = r"expects 784 = 1x28x28 columns.*got n_features=783"
    with pytest.raises(ValueError, match=pattern):
        check_image_width(783, (1, 28, 28), "AE")


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_fit_rejects_wrong_width(estimator, rng):
    with pytest.raises(ValueError, match=r"expects 40 = 2x5x4 columns"):
        _small(estimator, image_shape=(2, 5, 4)).fit(rng.uniform(size=(10, 41)))


@pytest.mark.parametrize(
    ("shape", "array_shape", "match"),
    [
        ((3, 5, 4), (6, 2, 5, 4), "2 channel"),
        ((2, 5, 4), (6, 2, 4, 5), "height x width 4x5"),
        ((2, 5, 4), (6, 5, 4), "2 channels"),
        ((1, 5, 4), (6, 5, 5), "5x5"),
    ],
)
def test_image_arrays_must_match(shape, array_shape, match):
    with pytest.raises(ValueError, match=match):
        flattened_images(np.zeros(array_shape), shape, "AE")


def test_tables_are_left_alone():
    X = np.zeros((4, 3, 2))
    assert flattened_images(X, None, "AE") is X
    table = [[1.0, 2.0]]
    assert flattened_images(table, (1, 1, 2), "AE") is table


# ------------------------------------------------------------- input shapes
@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_three_and_four_dimensional_input_equal_flat_rows(estimator, rng):
    images = _images(rng, shape=(1, 5, 4))
    flat = images.reshape(len(images), -1)
    model = _small(estimator, image_shape=(5, 4))
    reference = model.fit(flat).transform(flat)
    for X in (images, images[:, 0]):
        fitted = _small(estimator, image_shape=(1, 5, 4)).fit(X)
        np.testing.assert_array_equal(fitted.transform(X), reference)
        expected = model.score_samples(flat)
        np.testing.assert_array_equal(fitted.score_samples(X), expected)
    assert model.image_shape_ == (1, 5, 4)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_spec_reaches_build_module(estimator, rng, monkeypatch):
    seen = []
    make_part = estimator._make_part

    def spy(self, image_shape):
        part = make_part(self, image_shape)
        build = part.build
        part.build = lambda spec: seen.append(spec) or build(spec)
        return part

    monkeypatch.setattr(estimator, "_make_part", spy)
    _small(estimator, image_shape=(2, 5, 4)).fit(_images(rng))
    assert seen[0].image_shape == (2, 5, 4)
    assert seen[0].n_features == 40


# ------------------------------------------------------- per-channel scaling
def test_channel_standardizer_statistics(rng):
    X = rng.normal(size=(50, 3 * 6)) * np.repeat([1.0, 5.0, 0.1], 6)
    X += np.repeat([0.0, 10.0, -3.0], 6)
    scaler = Standardizer("channel", n_channels=3).fit(X)
    channels = X.reshape(50, 3, 6)
    np.testing.assert_allclose(scaler.mean_[::6], channels.mean(axis=(0, 2)))
    np.testing.assert_allclose(scaler.scale_[::6], channels.std(axis=(0, 2)))
    U = scaler.transform(X)
    np.testing.assert_allclose(U.reshape(50, 3, 6).mean(axis=(0, 2)), 0, atol=1e-12)
    np.testing.assert_allclose(U.reshape(50, 3, 6).std(axis=(0, 2)), 1)
    np.testing.assert_allclose(scaler.inverse_transform(U), X)


def test_channel_log_det_is_exact(rng):
    X = rng.normal(size=(40, 2 * 4)) * np.repeat([2.0, 0.5], 4)
    scaler = Standardizer("channel", n_channels=2).fit(X)
    # The map is diagonal: log|det| = H*W * sum_c -log scale_c.
    expected = -4 * np.log(scaler.scale_[[0, 4]]).sum()
    assert scaler.log_det() == pytest.approx(expected)
    jacobian = np.diag(1 / scaler.scale_)
    assert scaler.log_det() == pytest.approx(np.linalg.slogdet(jacobian)[1])


def test_constant_channel_keeps_unit_scale():
    X = np.column_stack([np.full((10, 4), 3.0), np.arange(40.0).reshape(10, 4)])
    scaler = Standardizer("channel", n_channels=2).fit(X)
    np.testing.assert_array_equal(scaler.scale_[:4], 1.0)


def test_channels_must_divide_features():
    with pytest.raises(ValueError, match="equal channels"):
        Standardizer("channel", n_channels=3).fit(np.zeros((4, 8)))


@pytest.mark.parametrize("estimator", [AutoencoderTransformer, DenoisingAE, VAE])
def test_images_are_scaled_per_channel(estimator, rng):
    images = _images(rng) * np.array([1.0, 4.0])[None, :, None, None]
    model = _small(estimator, image_shape=(2, 5, 4)).fit(images)
    scale = model.scale_.reshape(2, 20)
    assert np.all(scale == scale[:, :1])
    assert scale[1, 0] / scale[0, 0] == pytest.approx(4.0, rel=0.3)


def test_bernoulli_images_are_not_scaled(rng):
    model = _small(VAE, image_shape=(2, 5, 4), likelihood="bernoulli")
    model.fit(_images(rng))
    np.testing.assert_array_equal(model.scale_, 1.0)
    np.testing.assert_array_equal(model.mean_, 0.0)


def test_missing_pixels_are_rejected(rng):
    X = _images(rng).reshape(24, -1)
    X[0, 3] = np.nan
    with pytest.raises(ValueError, match="without missing values"):
        _small(AutoencoderTransformer, image_shape=(2, 5, 4)).fit(X)


def test_inferred_size():
    assert checked_image_shape((1, -1, 4)) == (1, -1, 4)
    with pytest.raises(ValueError, match="image_shape must be"):
        checked_image_shape((-1, -1, 4))
    with pytest.raises(ValueError, match="image_shape must be"):
        checked_image_shape((1, -2, 4))
    with pytest.raises(ValueError, match="multiple of 4 columns"):
        resolved_image_shape((1, -1, 4), 10, "AE")
    assert resolved_image_shape((2, -1, 3), 24, "AE") == (2, 4, 3)


@pytest.mark.parametrize("estimator", [AutoencoderTransformer, VAE])
def test_inferred_size_is_fitted(estimator, rng):
    model = _small(estimator, image_shape=(2, -1, 4)).fit(_images(rng))
    assert model.image_shape_ == (2, 5, 4)


# ------------------------------------------------------------ size arithmetic
@pytest.mark.parametrize(
    ("size", "kernel", "stride", "out"),
    [(28, 5, 1, 24), (24, 5, 1, 20), (20, 4, 2, 9), (9, 3, 2, 4), (4, 4, 1, 1)],
)
def test_conv_and_transposed_sizes(size, kernel, stride, out):
    assert conv_output_size(size, kernel, stride) == out
    # W = w + s q: the transposed convolution restores the size exactly.
    assert transposed_output_size(out, kernel, stride) == size


def test_kernel_larger_than_input_is_refused():
    with pytest.raises(ValueError, match="does not fit"):
        conv_output_size(3, 5)


def _conv_summary(layer):
    kernel, stride = layer.kernel_size[0], layer.stride[0]
    return (layer.in_channels, layer.out_channels, kernel, stride)


def test_notes_network_layer_by_layer():
    encoder = ConvEncoder((1, 28, 28), 8, 32, "relu")
    convs = [m for m in encoder.layers if isinstance(m, nn.Conv2d)]
    expected = [(1, 32, 5, 1), (32, 32, 5, 1), (32, 32, 4, 2), (32, 32, 3, 2)]
    expected.append((32, 8, 4, 1))
    assert [_conv_summary(c) for c in convs] == expected
    assert all(c.kernel_size[0] == c.kernel_size[1] for c in convs)
    assert all(isinstance(m, nn.ReLU) for m in encoder.layers[1::2])
    x = torch.zeros(2, 1, 28, 28)
    sizes = []
    for layer in convs:
        x = torch.relu(layer(x))
        sizes.append(tuple(x.shape[1:]))
    assert sizes == [(32, 24, 24), (32, 20, 20), (32, 9, 9), (32, 4, 4), (8, 1, 1)]
    decoder = ConvDecoder(8, (1, 28, 28), 32, "relu")
    transposed = [m for m in decoder.layers if isinstance(m, nn.ConvTranspose2d)]
    mirrored = [_conv_summary(c) for c in transposed]
    assert mirrored == [(o, i, k, s) for i, o, k, s in expected[::-1]]
    z = torch.zeros(2, 8, 1, 1)
    sizes = []
    for layer in transposed:
        z = layer(z)
        sizes.append(tuple(z.shape[1:]))
    assert sizes == [(32, 4, 4), (32, 9, 9), (32, 20, 20), (32, 24, 24), (1, 28, 28)]


@pytest.mark.parametrize(
    ("size", "schedule"),
    [
        (28, [(5, 1), (5, 1), (4, 2), (3, 2), (4, 1)]),
        (8, [(5, 1), (4, 1)]),
        (32, [(5, 1), (5, 1), (4, 2), (3, 2), (5, 1)]),
        (16, [(5, 1), (5, 1), (4, 2), (3, 1)]),
        (5, [(5, 1)]),
        (6, [(4, 2), (2, 1)]),
        (1, [(1, 1)]),
    ],
)
def test_axis_schedules(size, schedule):
    assert axis_layers(size) == schedule


@pytest.mark.parametrize("size", range(1, 80))
def test_every_axis_size_reaches_one_and_back(size):
    out = size
    for kernel, stride in axis_layers(size):
        assert (out - kernel) % stride == 0  # W = w + s q: exactly invertible
        out = conv_output_size(out, kernel, stride)
    assert out == 1
    for kernel, stride in axis_layers(size)[::-1]:
        out = transposed_output_size(out, kernel, stride)
    assert out == size


@pytest.mark.parametrize(
    "shape",
    [
        (1, 28, 28),
        (1, 8, 8),
        (3, 32, 32),
        (2, 16, 16),
        (1, 28, 20),
        (3, 5, 9),
        (1, 1, 7),
    ],
)
def test_encoder_decoder_shapes(shape):
    encoder = ConvEncoder(shape, 6, 4, "relu")
    decoder = ConvDecoder(3, shape, 4, "tanh")
    width = int(np.prod(shape))
    assert encoder(torch.zeros(5, width)).shape == (5, 6)
    assert decoder(torch.zeros(5, 3)).shape == (5, width)
    assert decoder(torch.zeros(2, 5, 3)).shape == (2, 5, width)
    assert feature_map_sizes(*shape[1:])[-1] == (1, 1)


def test_non_square_layers_are_aligned():
    layers = image_layers(28, 8)
    assert len(layers) == 5
    assert [k for k, _ in layers] == [(5, 5), (5, 1), (4, 1), (3, 1), (4, 4)]


# ---------------------------------------------------------------- estimators
IMAGE_MODELS = {
    "ae": lambda: AutoencoderTransformer(n_components=3, image_shape=(2, 6, 5)),
    "ae-random": lambda: AutoencoderTransformer(
        n_components=3, image_shape=(2, 6, 5), init="random"
    ),
    "dae": lambda: DenoisingAE(n_components=3, image_shape=(2, 6, 5), noise="masking"),
    "vae": lambda: VAE(n_components=3, image_shape=(2, 6, 5)),
    "vae-bernoulli": lambda: VAE(
        n_components=3, image_shape=(2, 6, 5), likelihood="bernoulli"
    ),
}


def _fit_image_model(name, X):
    model = IMAGE_MODELS[name]().set_params(max_iter=3, channels=4, random_state=0)
    return model.fit(X)


@pytest.mark.parametrize("name", list(IMAGE_MODELS))
def test_image_model_shapes(name, rng):
    X = _images(rng, n=30, shape=(2, 6, 5))
    model = _fit_image_model(name, X)
    flat = X.reshape(30, -1)
    module = model.net_.module_
    assert "Conv" in repr(module) and "ConvTranspose2d" in repr(module)
    assert model.transform(X).shape == (30, 3)
    assert model.inverse_transform(model.transform(flat)).shape == (30, 60)
    assert model.sample(4, random_state=0).shape == (4, 60)
    assert model.score_samples(X).shape == (30,)
    assert np.all(np.isfinite(model.score_samples(X)))
    assert model.transform(flat.astype(np.float32)).dtype == np.float32


@pytest.mark.parametrize("name", list(IMAGE_MODELS))
def test_image_fit_is_reproducible_bit_for_bit(name, rng):
    X = _images(rng, n=30, shape=(2, 6, 5)).reshape(30, -1)
    first, second = _fit_image_model(name, X), _fit_image_model(name, X)
    np.testing.assert_array_equal(first.transform(X), second.transform(X))
    np.testing.assert_array_equal(first.score_samples(X), second.score_samples(X))
    np.testing.assert_array_equal(
        first.sample(3, random_state=1), second.sample(3, random_state=1)
    )


@pytest.mark.parametrize(
    ("estimator", "classical"),
    [(AutoencoderTransformer, "pca"), (VAE, "factor_analysis")],
)
def test_images_start_at_random(estimator, classical, rng):
    X = _images(rng, n=30, shape=(1, 6, 5)).reshape(30, -1)
    fits = [
        _small(estimator, image_shape=(6, 5), channels=4, init=init).fit(X)
        for init in (classical, "random")
    ]
    np.testing.assert_array_equal(fits[0].transform(X), fits[1].transform(X))
    assert "ResidualMap" not in repr(fits[0].net_.module_)


@pytest.mark.parametrize("noise", ["gaussian", "masking", "salt_and_pepper"])
def test_denoising_corrupts_images(noise, rng):
    X = _images(rng, n=30, shape=(1, 6, 5))
    model = DenoisingAE(
        n_components=3, image_shape=(1, 6, 5), noise=noise, noise_level=0.3
    ).set_params(max_iter=2, channels=4, random_state=0)
    denoised = model.fit(X).denoise(X)
    assert denoised.shape == (30, 30)
    assert np.all(np.isfinite(denoised))


def test_tables_keep_their_mlp(rng):
    X = rng.normal(size=(30, 6))
    model = AutoencoderTransformer(max_iter=2, random_state=0).fit(X)
    assert "Conv" not in repr(model.net_.module_)
    assert model.image_shape_ is None


def _epochs(model, n_train: int) -> int:
    """The epochs of ``model``'s policy for ``n_train`` training rows."""
    policy = model._make_part(model.image_shape_).policy
    batches = -(-n_train // policy.batch_size(model.batch_size, n_train))
    return policy.epochs(model.max_iter, batches)


@pytest.mark.parametrize(
    ("image_shape", "epochs", "large", "batch"),
    # A table of 100,000 rows: 500 batches an epoch, 16 epochs of 8,000 steps.
    [(None, 200, 16, 200), ((1, 6, 5), 30, 30, 64)],
)
def test_auto_epochs_and_batches(image_shape, epochs, large, batch, rng):
    X = _images(rng, n=300, shape=(1, 6, 5)).reshape(300, -1)
    model = AutoencoderTransformer(image_shape=image_shape, random_state=0)
    model.set_params(max_iter=1, channels=2).fit(X)
    assert model.max_iter == 1
    model.set_params(max_iter="auto")
    policy = model._make_part(model.image_shape_).policy
    assert _epochs(model, 300) == epochs
    assert _epochs(model, 8000) == epochs
    assert _epochs(model, 100_000) == large
    assert policy.batch_size(model.batch_size, 300) == batch
    assert AutoencoderTransformer().max_iter == "auto"
    assert VAE().max_iter == "auto"


def test_vae_auto_epochs_stop_near_5000_steps(rng):
    # 500 epochs while that is at most about 5,000 batches of 200 rows, fewer
    # on larger tables; an explicit max_iter is taken as it is.
    vae = VAE(2, max_iter=1, random_state=0).fit(rng.normal(size=(60, 4)))
    vae.set_params(max_iter="auto")
    assert _epochs(vae, 300) == 500
    assert _epochs(vae, 2000) == 500
    assert _epochs(vae, 5893) == 167  # 30 batches an epoch
    assert _epochs(vae, 1_000_000) == 1
    assert _epochs(vae.set_params(max_iter=700), 5893) == 700


@pytest.mark.parametrize("name", ["ae", "vae"])
def test_image_models_persist(name, rng):
    import copy
    import pickle

    X = _images(rng, n=30, shape=(2, 6, 5)).reshape(30, -1)
    model = _fit_image_model(name, X)
    expected = model.transform(X)
    for restored in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        np.testing.assert_array_equal(restored.transform(X), expected)
    portable = type(model).__new__(type(model))
    portable.__setstate__(model.__getstate__())
    np.testing.assert_array_equal(portable.transform(X), expected)


def test_image_partial_fit(rng):
    X = _images(rng, n=30, shape=(2, 6, 5))
    model = AutoencoderTransformer(n_components=3, image_shape=(2, 6, 5), channels=4)
    model.set_params(random_state=0).partial_fit(X).partial_fit(X)
    assert model.n_iter_ == 2
    assert model.transform(X).shape == (30, 3)
