"""DenoisingAE and its corruption processes (Vincent et al., 2010)."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from skae import AutoencoderTransformer, DenoisingAE
from skae._data import BatchIterator, TensorDataset
from skae.noise import (
    GaussianNoise,
    MaskingNoise,
    SaltAndPepperNoise,
    additive_gaussian,
    masking,
    salt_and_pepper,
)

NOISES = ["gaussian", "masking", "salt_and_pepper"]
N_ROWS, N_COLS = 4000, 50
DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=[
            pytest.mark.gpu,
            pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA"),
        ],
    ),
]


def binomial_tolerance(p: float, n: int, n_sigma: float = 5.0) -> float:
    """Half-width of a ``n_sigma`` interval for a proportion of ``n`` draws."""
    return n_sigma * np.sqrt(p * (1 - p) / n) + 1e-12


def small_dae(noise: str, noise_level: float, seed: int, **params) -> DenoisingAE:
    return DenoisingAE(
        n_components=3,
        noise=noise,
        noise_level=noise_level,
        hidden_layer_sizes=(8,),
        max_iter=3,
        batch_size=32,
        early_stopping=False,
        random_state=seed,
        **params,
    )


def one_epoch(estimator: DenoisingAE, X: np.ndarray, *, training: bool):
    """The (input, target) batches the fitted net draws for ``X``, in user units."""
    dataset = TensorDataset(torch.from_numpy(estimator.preprocessor_.transform(X)))
    batches = list(estimator.net_.get_iterator(dataset, training=training))
    corrupted = torch.cat([b[0] for b in batches]).numpy()
    clean = torch.cat([b[1] for b in batches]).numpy()
    return estimator.preprocessor_.inverse_transform(
        corrupted
    ), estimator.preprocessor_.inverse_transform(clean)


@pytest.fixture
def X(rng) -> np.ndarray:
    return rng.uniform(1.0, 3.0, size=(200, 6)) * np.arange(1, 7)


# ------------------------------------------------------ corruption processes
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 0.9, 1.0])
def test_masking_destroys_the_requested_fraction(fraction, device, seed):
    g = torch.Generator(device=device).manual_seed(seed)
    x = torch.rand(N_ROWS, N_COLS, device=device) + 1.0
    x_tilde = masking(x, fraction, g)
    destroyed = x_tilde == 0
    assert x_tilde.device == x.device
    assert abs(destroyed.double().mean().item() - fraction) <= binomial_tolerance(
        fraction, x.numel()
    )
    assert torch.equal(x_tilde[~destroyed], x[~destroyed])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("sigma", [0.1, 1.0, 3.0])
def test_gaussian_noise_has_standard_deviation_sigma(sigma, device, seed):
    g = torch.Generator(device=device).manual_seed(seed)
    x = torch.randn(N_ROWS, N_COLS, device=device, dtype=torch.float64)
    noise = (additive_gaussian(x, sigma, g) - x).cpu().numpy()
    n = noise.size
    assert abs(noise.mean()) <= 5 * sigma / np.sqrt(n)
    assert abs(noise.std() - sigma) <= 5 * sigma / np.sqrt(2 * n)
    # the noise is independent across entries and of x
    assert abs(np.corrcoef(noise[:, 0], noise[:, 1])[0, 1]) < 5 / np.sqrt(N_ROWS)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("fraction", [0.0, 0.2, 0.7, 1.0])
def test_salt_and_pepper_uses_the_feature_extremes(fraction, device, seed):
    g = torch.Generator(device=device).manual_seed(seed)
    low = torch.linspace(-3.0, -1.0, N_COLS)
    high = torch.linspace(2.0, 4.0, N_COLS)
    x = torch.rand(N_ROWS, N_COLS, device=device)  # strictly inside (low, high)
    x_tilde = salt_and_pepper(x, fraction, low, high, g)
    salt = x_tilde == high.to(device)
    pepper = x_tilde == low.to(device)
    destroyed = salt | pepper
    assert abs(destroyed.double().mean().item() - fraction) <= binomial_tolerance(
        fraction, x.numel()
    )
    assert torch.equal(x_tilde[~destroyed], x[~destroyed])
    if fraction > 0:
        n_destroyed = int(destroyed.sum())
        assert abs(salt.sum().item() / n_destroyed - 0.5) <= binomial_tolerance(
            0.5, n_destroyed
        )


@pytest.mark.parametrize(
    "transform",
    [GaussianNoise(0.3), MaskingNoise(0.3), SaltAndPepperNoise(0.3, [-1.0], [1.0])],
)
def test_batch_transforms_pickle_and_keep_the_clean_target(transform, seed):
    x = torch.rand(64, 1)
    restored = pickle.loads(pickle.dumps(transform))
    a = transform(x, torch.Generator().manual_seed(seed))
    b = restored(x, torch.Generator().manual_seed(seed))
    assert torch.equal(a[0], b[0])
    assert a[1] is x
    assert not torch.equal(a[0], x)


# ----------------------------------------------- corruption inside the fit
def test_fitted_gaussian_noise_has_sigma_noise_level_times_scale(X, seed):
    dae = small_dae("gaussian", 0.4, seed).fit(X)
    corrupted, clean = one_epoch(dae, np.repeat(X, 50, axis=0), training=True)
    noise = corrupted - clean
    # sigma is noise_level in model space, noise_level * scale_ in user units
    np.testing.assert_allclose(noise.std(axis=0), 0.4 * dae.scale_, rtol=0.05)
    np.testing.assert_allclose(noise.mean(axis=0), 0.0, atol=0.05 * dae.scale_[0])


def test_fitted_masking_sets_entries_to_the_training_mean(X, seed):
    dae = small_dae("masking", 0.3, seed).fit(X)
    corrupted, clean = one_epoch(dae, np.repeat(X, 20, axis=0), training=True)
    destroyed = ~np.isclose(corrupted, clean, rtol=1e-5, atol=0)
    assert abs(destroyed.mean() - 0.3) <= binomial_tolerance(0.3, destroyed.size)
    mean = np.broadcast_to(dae.mean_, corrupted.shape)
    np.testing.assert_allclose(corrupted[destroyed], mean[destroyed], rtol=1e-5)


def test_fitted_salt_and_pepper_uses_the_training_min_and_max(X, seed):
    dae = small_dae("salt_and_pepper", 0.3, seed).fit(X)
    np.testing.assert_array_equal(dae.data_min_, X.min(axis=0))
    np.testing.assert_array_equal(dae.data_max_, X.max(axis=0))
    corrupted, clean = one_epoch(dae, np.repeat(X, 20, axis=0), training=True)
    low = np.broadcast_to(X.min(axis=0), corrupted.shape)
    high = np.broadcast_to(X.max(axis=0), corrupted.shape)
    pepper = np.isclose(corrupted, low, rtol=1e-5, atol=0)
    salt = np.isclose(corrupted, high, rtol=1e-5, atol=0)
    unchanged = np.isclose(corrupted, clean, rtol=1e-5, atol=0)
    # clean entries that happen to equal the min or max are ambiguous: skip them
    clear = ~(np.isclose(clean, low, rtol=1e-5) | np.isclose(clean, high, rtol=1e-5))
    assert np.all((pepper | salt | unchanged)[clear])
    destroyed = (pepper | salt)[clear]
    assert abs(destroyed.mean() - 0.3) <= binomial_tolerance(0.3, destroyed.size)
    assert abs(salt[clear].sum() / destroyed.sum() - 0.5) <= binomial_tolerance(
        0.5, destroyed.sum()
    )


@pytest.mark.parametrize("noise", NOISES)
def test_corruption_is_fresh_for_every_batch_and_epoch(noise, X, seed):
    dae = small_dae(noise, 0.5, seed).fit(X)
    X_model = torch.from_numpy(
        dae.preprocessor_.transform(np.repeat(X[:1], 64, axis=0))
    )
    iterator = BatchIterator(
        TensorDataset(X_model),
        16,
        shuffle=True,
        seed=seed,
        batch_transform=dae.net_.iterator_train__batch_transform,
    )
    epoch_1 = [inputs for inputs, _ in iterator]
    epoch_2 = [inputs for inputs, _ in iterator]
    assert not torch.equal(epoch_1[0], epoch_1[1])
    assert not torch.equal(epoch_1[0], epoch_2[0])
    assert all(torch.equal(target, X_model[:16]) for _, target in iterator)


# --------------------------------------------------------------- inference
@pytest.mark.parametrize("noise", NOISES)
def test_inference_sees_the_clean_input(noise, X, seed):
    dae = small_dae(noise, 0.5, seed).fit(X)
    inputs, targets = one_epoch(dae, X, training=False)
    np.testing.assert_array_equal(inputs, targets)

    codes = dae.transform(X)
    np.testing.assert_array_equal(codes, dae.transform(X))
    with torch.no_grad():
        expected = dae.net_.module_.encoder(
            torch.from_numpy(dae.preprocessor_.transform(X))
        )
    np.testing.assert_allclose(codes, expected.numpy(), rtol=1e-6, atol=1e-6)

    denoised = dae.denoise(X)
    np.testing.assert_array_equal(denoised, dae.denoise(X))
    np.testing.assert_allclose(
        denoised, dae.inverse_transform(codes), rtol=1e-6, atol=1e-6
    )
    np.testing.assert_allclose(
        dae.score_samples(X), -np.mean((X - denoised) ** 2, axis=1), rtol=1e-6
    )


def test_denoise_follows_pandas_output(X, seed):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    dae = small_dae("masking", 0.2, seed).set_output(transform="pandas").fit(frame)
    denoised = dae.denoise(frame)
    assert list(denoised.columns) == list(frame.columns)
    assert dae.get_feature_names_out().tolist() == [
        "denoisingae0",
        "denoisingae1",
        "denoisingae2",
    ]


# ----------------------------------------------------------- reproducibility
@pytest.mark.parametrize("noise", NOISES)
def test_same_random_state_gives_identical_parameters(noise, X, seed):
    a = small_dae(noise, 0.5, seed).fit(X).net_.module_.state_dict()
    b = small_dae(noise, 0.5, seed).fit(X).net_.module_.state_dict()
    c = small_dae(noise, 0.5, seed + 1).fit(X).net_.module_.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


@pytest.mark.parametrize("noise", NOISES)
def test_corruption_changes_training(noise, X, seed):
    dae = small_dae(noise, 0.5, seed).fit(X)
    ae = AutoencoderTransformer(
        **{k: v for k, v in dae.get_params().items() if not k.startswith("noise")}
    ).fit(X)
    assert dae.loss_curve_ != ae.loss_curve_


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize("noise", ["masking", "salt_and_pepper"])
def test_destroyed_fraction_above_one_is_rejected(noise, X):
    with pytest.raises(ValueError, match=r"must be in \[0, 1\]"):
        DenoisingAE(noise=noise, noise_level=1.5).fit(X)


def test_gaussian_sigma_may_exceed_one(X, seed):
    small_dae("gaussian", 2.5, seed).fit(X)


# --------------------------------------------------------------- denoising
def test_dae_trained_on_noisy_digits_denoises(seed):
    X, _ = load_digits(return_X_y=True)
    X = X / 16.0
    rng = np.random.default_rng(seed)
    X_noisy = X + rng.normal(scale=0.25, size=X.shape)
    train, test = slice(0, 1200), slice(1200, None)
    dae = DenoisingAE(
        n_components=32,
        noise="gaussian",
        noise_level=1.0,
        hidden_layer_sizes=(128,),
        max_iter=40,
        random_state=seed,
    ).fit(X_noisy[train])
    mse_noisy = np.mean((X_noisy[test] - X[test]) ** 2)
    mse_denoised = np.mean((dae.denoise(X_noisy[test]) - X[test]) ** 2)
    assert mse_denoised < 0.6 * mse_noisy


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA")
@pytest.mark.parametrize("noise", NOISES)
def test_fit_on_cuda_matches_the_cpu_contract(noise, X, seed):
    dae = small_dae(noise, 0.3, seed, device="cuda").fit(X)
    restored = pickle.loads(pickle.dumps(dae))
    np.testing.assert_allclose(restored.denoise(X), dae.denoise(X), rtol=1e-5)
    assert dae.transform(X).shape == (X.shape[0], 3)
