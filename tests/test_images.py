"""Images: the ``image_shape`` plumbing, per-channel scaling, conv networks."""

import numpy as np
import pytest

from skae import VAE, AutoencoderTransformer, DenoisingAE, RealNVPDensity
from skae._images import check_image_width, checked_image_shape, flattened_images
from skae._preprocessing import Standardizer

ESTIMATORS = [AutoencoderTransformer, DenoisingAE, VAE, RealNVPDensity]


def _images(rng, n=24, shape=(2, 5, 4)):
    return rng.uniform(size=(n, *shape))


def _small(estimator, **params):
    defaults = {"max_iter": 2, "random_state": 0}
    if estimator is RealNVPDensity:
        defaults.update(n_layers=1, hidden_layer_sizes=(4,), n_base_components=1)
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
    with pytest.raises(ValueError, match=r"expects 784 = 1x28x28 columns.*got 783"):
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
    build = estimator._build_module

    def spy(self, spec):
        seen.append(spec)
        return build(self, spec)

    monkeypatch.setattr(estimator, "_build_module", spy)
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
