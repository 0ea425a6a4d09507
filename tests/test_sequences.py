"""Sequences: the ``sequence_shape`` plumbing and the GRU autoencoders."""

import pickle

import numpy as np
import pytest
import skl2onnx
import torch
from sklearn.base import clone
from sklearn.decomposition import PCA

from skae import VAE, AutoencoderTransformer, DenoisingAE, io
from skae._sequences import (
    checked_sequence_shape,
    flattened_sequences,
    resolved_sequence_shape,
)
from skae._warm_start import principal_axes
from skae.modules.autoencoder import Autoencoder
from skae.modules.residual import ResidualMap
from skae.modules.sequence import (
    BRANCH_INPUT_GAIN,
    GRUDecoder,
    GRUEncoder,
    start_beside_linear_path,
)
from skae.onnx import to_onnx

ESTIMATORS = [AutoencoderTransformer, DenoisingAE, VAE]


def _sinusoids(rng, n=200, steps=12, features=2, noise=0.05):
    """Noisy sinusoids whose phase and frequency vary from row to row."""
    t = np.arange(steps)[None, :, None]
    phase = rng.uniform(0, 2 * np.pi, (n, 1, 1))
    frequency = rng.uniform(0.2, 0.6, (n, 1, 1))
    offsets = np.arange(features)[None, None, :]
    clean = np.sin(frequency * t + phase + offsets)
    return clean + noise * rng.normal(size=clean.shape)


def _small(estimator, **params):
    return estimator(
        **{"n_components": 2, "channels": 4, "max_iter": 3, "random_state": 0, **params}
    )


# ---------------------------------------------------------------- parameter
@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, None),
        ((12, 2), (12, 2)),
        ([-1, 1], (-1, 1)),
        (np.array([4, -1]), (4, -1)),
    ],
)
def test_checked_sequence_shape(given, expected):
    assert checked_sequence_shape(given) == expected


@pytest.mark.parametrize(
    "bad", [(0, 2), (-1, -1), (3,), (1, 2, 3), (2.5, 1), (True, 2), (), "ab", 3]
)
def test_bad_sequence_shape_is_named(bad):
    with pytest.raises(ValueError, match="sequence_shape must be"):
        checked_sequence_shape(bad)
    model = AutoencoderTransformer(sequence_shape=bad, max_iter=1)
    with pytest.raises(ValueError, match="sequence_shape"):
        model.fit(np.zeros((5, 4)))


def test_inferred_size_and_width_errors():
    assert resolved_sequence_shape((-1, 2), 12, "AE") == (6, 2)
    assert resolved_sequence_shape((3, -1), 12, "AE") == (3, 4)
    with pytest.raises(ValueError, match="positive multiple of 2 columns"):
        resolved_sequence_shape((-1, 2), 7, "AE")
    with pytest.raises(ValueError, match="expects 24 = 12 steps x 2 features"):
        resolved_sequence_shape((12, 2), 23, "AE")


def test_flattened_sequences_reads_step_then_feature():
    X = np.arange(24.0).reshape(2, 6, 2)
    flat = flattened_sequences(X, (6, 2), "AE")
    np.testing.assert_array_equal(flat[1], np.arange(12.0, 24.0))
    assert flattened_sequences(X[:, :, 0], (6, 2), "AE").shape == (2, 6)
    with pytest.raises(ValueError, match="wrong number of steps"):
        flattened_sequences(X, (5, 2), "AE")
    with pytest.raises(ValueError, match="wrong number of features per step"):
        flattened_sequences(X, (6, 1), "AE")


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_image_and_sequence_shape_together_are_refused(estimator):
    model = _small(estimator, image_shape=(1, 2, 2), sequence_shape=(2, 2))
    with pytest.raises(ValueError, match="image_shape or sequence_shape, not both"):
        model.fit(np.zeros((6, 4)))


@pytest.mark.parametrize("estimator", [AutoencoderTransformer, DenoisingAE])
def test_greedy_pretraining_needs_the_mlp(estimator):
    model = _small(estimator, sequence_shape=(2, 2), pretrain="greedy")
    with pytest.raises(ValueError, match="pretrain='greedy' pre-trains"):
        model.fit(np.zeros((6, 4)))


def test_sequences_refuse_missing_values(rng):
    X = _sinusoids(rng, n=20).reshape(20, -1)
    X[3, 4] = np.nan
    with pytest.raises(ValueError, match="sequence_shape needs numeric steps"):
        _small(AutoencoderTransformer, sequence_shape=(12, 2)).fit(X)
    assert (
        not AutoencoderTransformer(sequence_shape=(12, 2))
        .__sklearn_tags__()
        .input_tags.allow_nan
    )


# ------------------------------------------------------------------ modules
def test_gru_networks_shapes_and_gradients():
    encoder, decoder = GRUEncoder((5, 3), 4, 6), GRUDecoder(4, (5, 3), 6)
    x = torch.randn(7, 15)
    z = encoder(x)
    out = decoder(z)
    assert z.shape == (7, 4) and out.shape == (7, 15)
    out.square().sum().backward()
    for network in (encoder, decoder):
        assert all(
            p.grad is not None and p.grad.abs().sum() > 0 for p in network.parameters()
        )
    # Leading axes (a VAE's draws) are kept.
    assert decoder(torch.zeros(3, 7, 4)).shape == (3, 7, 15)


def test_encoder_reads_the_last_step_first():
    torch.manual_seed(0)
    encoder = GRUEncoder((5, 3), 4, 6)
    x = torch.randn(7, 5, 3)
    with torch.no_grad():
        code = encoder(x.reshape(7, 15))
        backwards, forwards = encoder.gru(x.flip(1))[1], encoder.gru(x)[1]
        torch.testing.assert_close(code, encoder.head(backwards[-1]))
        assert not torch.allclose(code, encoder.head(forwards[-1]), atol=1e-3)


def test_linear_start_is_pca_of_the_flattened_windows(rng):
    rows = _sinusoids(rng, n=100, steps=6).reshape(100, -1)
    rows = rows - rows.mean(axis=0)
    module = Autoencoder(
        12, 3, (), "relu", linear_path=True, sequence_shape=(6, 2), channels=5
    ).double()
    assert isinstance(module.encoder, ResidualMap)
    assert isinstance(module.encoder.residual, GRUEncoder)
    axes = principal_axes(rows, 3)
    module.start_at_pca(
        *(torch.from_numpy(a) for a in (axes.mean, axes.components, axes.variances))
    )
    weights = module.encoder.residual.gru.weight_ih_l0.clone()
    start_beside_linear_path(module.encoder, module.decoder)
    torch.testing.assert_close(
        module.encoder.residual.gru.weight_ih_l0, BRANCH_INPUT_GAIN * weights
    )
    x = torch.from_numpy(rows)
    with torch.no_grad():
        reconstruction, code = (t.numpy() for t in module(x))
        # The decoder branch's per-step guess is PCA's centred reconstruction.
        branch = module.decoder.residual
        guess = branch.per_step(torch.from_numpy(code) * module.decoder.in_scale)
    pca = PCA(3).fit(rows)
    expected = pca.inverse_transform(pca.transform(rows))
    np.testing.assert_allclose(reconstruction, expected, atol=1e-10)
    np.testing.assert_allclose(guess.numpy(), expected - axes.mean, atol=1e-10)


# --------------------------------------------------------------- estimators
@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_methods_on_flat_rows_and_3d_arrays(estimator, rng):
    X = _sinusoids(rng, n=60, steps=6)
    flat = X.reshape(60, -1)
    model = _small(estimator, sequence_shape=(-1, 2)).fit(X)
    assert model.sequence_shape_ == (6, 2)
    Z = model.transform(flat)
    np.testing.assert_array_equal(Z, model.transform(X))
    assert Z.shape == (60, 2)
    assert model.inverse_transform(Z).shape == (60, 12)
    assert np.all(np.isfinite(model.score_samples(X)))
    assert model.sample(5, random_state=0).shape == (5, 12)
    again = clone(model).fit(flat)
    np.testing.assert_array_equal(again.transform(flat), Z)  # same seed, same bits


def test_bernoulli_sequence_vae(rng):
    X = (rng.uniform(size=(40, 8)) < 0.3).astype(float)
    model = _small(VAE, sequence_shape=(4, 2), likelihood="bernoulli").fit(X)
    assert np.all(np.isfinite(model.score_samples(X)))


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_classical_start_beside_the_grus_and_random_start(estimator, rng):
    X = _sinusoids(rng, n=40, steps=6).reshape(40, -1)
    module = _small(estimator, sequence_shape=(6, 2)).fit(X).net_.module_
    assert isinstance(module.encoder, ResidualMap)
    assert isinstance(module.encoder.residual, GRUEncoder)
    assert isinstance(module.decoder.residual, GRUDecoder)
    module = _small(estimator, sequence_shape=(6, 2), init="random").fit(X).net_.module_
    assert isinstance(module.encoder, GRUEncoder)
    assert isinstance(module.decoder, GRUDecoder)


def test_pca_start_is_epoch_zero(rng):
    X = _sinusoids(rng, n=80, steps=6).reshape(80, -1)
    model = _small(AutoencoderTransformer, sequence_shape=(6, 2), max_iter=2)
    model.fit(X)
    assert model.best_loss_ <= model.initial_validation_loss_


def test_sequence_autoencoder_beats_pca_on_held_out_sinusoids(rng):
    X = _sinusoids(rng, n=500, steps=16, features=1).reshape(500, -1)
    train, test = X[:400], X[400:]
    pca = PCA(2).fit(train)
    pca_error = np.mean((test - pca.inverse_transform(pca.transform(test))) ** 2)
    model = AutoencoderTransformer(
        2,
        sequence_shape=(16, 1),
        channels=16,
        init="random",
        max_iter=60,
        random_state=0,
    ).fit(train)
    assert -model.score(test) < pca_error


def test_onnx_names_what_is_not_exported(rng):
    X = _sinusoids(rng, n=30, steps=4).reshape(30, -1)
    model = _small(AutoencoderTransformer, sequence_shape=(4, 2)).fit(X)
    with pytest.raises(NotImplementedError, match=r"sequence_shape \(its GRU encoder"):
        to_onnx(model, X[:1])
    with pytest.raises(NotImplementedError, match="No ONNX export for GRUEncoder"):
        skl2onnx.to_onnx(model, X[:1])


@pytest.mark.parametrize("estimator", [AutoencoderTransformer, VAE])
def test_saved_sequence_models_give_the_same_codes(estimator, rng):
    X = _sinusoids(rng, n=30, steps=4).reshape(30, -1)
    model = _small(estimator, sequence_shape=(-1, 2)).fit(X)
    for back in (io.loads(io.dumps(model)), pickle.loads(pickle.dumps(model))):
        assert back.sequence_shape_ == (4, 2)
        np.testing.assert_array_equal(back.transform(X), model.transform(X))
