"""AutoencoderImputer: observed entries kept, fills reproducible, MIWAE protocol."""

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

from skae import VAE, AutoencoderImputer, AutoencoderTransformer, DenoisingAE


def _missing(seed=0, n=120, d=5, rate=0.3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2)) @ rng.normal(size=(2, d)) + 0.1 * rng.normal(
        size=(n, d)
    )
    missing = rng.random(X.shape) < rate
    missing[missing.all(axis=1), 0] = False
    return X, np.where(missing, np.nan, X), missing


MODELS = [
    VAE(hidden_layer_sizes=(16,), max_iter=100, batch_size=32),
    AutoencoderTransformer(hidden_layer_sizes=(16,), max_iter=100, batch_size=32),
    DenoisingAE(
        noise="masking",
        noise_level=0.2,
        hidden_layer_sizes=(16,),
        max_iter=100,
        batch_size=32,
    ),
]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: type(m).__name__)
def test_fills_missing_and_keeps_observed(model):
    X, X_missing, missing = _missing()
    imputer = AutoencoderImputer(model, n_importance_samples=50, random_state=0)
    filled = imputer.fit_transform(X_missing)
    assert np.isfinite(filled).all()
    np.testing.assert_array_equal(filled[~missing], X[~missing])
    again = AutoencoderImputer(model, n_importance_samples=50, random_state=0)
    np.testing.assert_array_equal(again.fit_transform(X_missing), filled)
    mean_fill = np.nanmean(X_missing, axis=0)
    model_error = np.mean((filled - X)[missing] ** 2)
    mean_error = np.mean((np.where(missing, mean_fill, X) - X)[missing] ** 2)
    assert model_error < mean_error


def test_a_row_with_every_entry_missing_is_a_clear_error():
    _, X_missing, _ = _missing()
    imputer = AutoencoderImputer(VAE(hidden_layer_sizes=(8,), max_iter=2)).fit(
        X_missing
    )
    X_missing[3] = np.nan
    with pytest.raises(ValueError, match="every entry missing"):
        imputer.transform(X_missing)


def test_estimator_without_fill_is_rejected():
    from sklearn.decomposition import PCA

    with pytest.raises(ValueError, match="skae VAE, AutoencoderTransformer"):
        AutoencoderImputer(PCA()).fit(_missing()[1])


@pytest.mark.slow
def test_miwae_protocol_on_breast_cancer():
    """MIWAE's notebook: standardised breast cancer, 50% MCAR, MSE <= 0.30."""
    X = load_breast_cancer().data
    X = (X - X.mean(0)) / X.std(0)
    np.random.seed(1234)
    mask = np.random.rand(*X.shape) < 0.5
    X_missing = np.where(mask, np.nan, X)
    filled = AutoencoderImputer(random_state=0).fit_transform(X_missing)
    np.testing.assert_array_equal(filled[~mask], X[~mask])
    assert np.mean((filled - X)[mask] ** 2) <= 0.30
