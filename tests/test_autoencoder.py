"""AutoencoderTransformer: the maths of seeds 000/001/003 and the sklearn contract."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split

from skae import AutoencoderTransformer
from skae._training import DivergenceError
from skae.losses import contractive, l1_sparsity, squared_error


@pytest.fixture(scope="module")
def digits_split():
    X = load_digits().data
    return train_test_split(X, test_size=0.25, random_state=0)


@pytest.fixture
def small(rng):
    return rng.normal(size=(60, 5)) @ rng.normal(size=(5, 5)) + 3.0


def held_out_mse(model, X_test):
    return float(
        np.mean((X_test - model.inverse_transform(model.transform(X_test))) ** 2)
    )


def test_linear_autoencoder_matches_pca(digits_split):
    """Seed 000: with f and g linear, the optimum is PCA's subspace.

    From a random start (``init='random'``), so the fit has to find it.
    """
    X_train, X_test = digits_split
    pca = PCA(n_components=8).fit(X_train)
    ae = AutoencoderTransformer(
        n_components=8,
        init="random",
        hidden_layer_sizes=(),
        activation="identity",
        alpha=0.0,
        learning_rate_init=1e-2,
        batch_size=64,
        max_iter=150,
        random_state=0,
    ).fit(X_train)
    assert held_out_mse(ae, X_test) <= 1.05 * held_out_mse(pca, X_test)


@pytest.mark.slow
def test_deep_autoencoder_beats_pca(digits_split):
    X_train, X_test = digits_split
    pca = PCA(n_components=8).fit(X_train)
    ae = AutoencoderTransformer(n_components=8, random_state=0).fit(X_train)
    assert held_out_mse(ae, X_test) <= 0.5 * held_out_mse(pca, X_test)


def test_contractive_penalty_is_frobenius_norm_of_jacobian(rng):
    encoder = torch.nn.Sequential(
        torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3)
    ).double()
    x = torch.from_numpy(rng.normal(size=(5, 4)))
    penalty = contractive(encoder, x)
    for row, value in zip(x, penalty, strict=True):
        jacobian = torch.autograd.functional.jacobian(encoder, row)
        torch.testing.assert_close(value, jacobian.pow(2).sum())


@pytest.mark.parametrize("penalty", ["sparsity_penalty", "contractive_penalty"])
def test_penalised_loss_adds_the_seed_term(small, penalty):
    """The training loss is reconstruction + lambda * penalty, batch-averaged."""
    weight = 0.3
    ae = AutoencoderTransformer(
        n_components=2,
        hidden_layer_sizes=(7,),
        activation="tanh",
        max_iter=2,
        random_state=0,
        **{penalty: weight},
    ).fit(small)
    net = ae.net_
    x = torch.from_numpy(ae.preprocessor_.transform(small))
    net.module_.eval()
    reconstruction, code = net.module_(x)
    loss = net.get_loss((reconstruction, code), x, X=x)
    extra = (
        l1_sparsity(code)
        if penalty == "sparsity_penalty"
        else contractive(net.module_.encoder, x)
    )
    expected = squared_error(x, reconstruction).mean() + weight * extra.mean()
    torch.testing.assert_close(loss, expected)


def test_training_loss_is_users_mse_up_to_one_scale(small):
    """A single global scale keeps the minimiser of the user's MSE."""
    ae = AutoencoderTransformer(n_components=2, max_iter=3, random_state=0).fit(small)
    assert np.all(ae.scale_ == ae.scale_[0])
    x = torch.from_numpy(ae.preprocessor_.transform(small))
    internal = squared_error(x, ae.net_.module_(x)[0]).mean().item()
    users = -ae.score(small)
    np.testing.assert_allclose(users, internal * ae.scale_[0] ** 2, rtol=1e-4)


def test_score_samples_is_negative_reconstruction_error(small):
    ae = AutoencoderTransformer(n_components=2, max_iter=5, random_state=0).fit(small)
    reconstruction = ae.inverse_transform(ae.transform(small))
    expected = -np.mean((small - reconstruction) ** 2, axis=1)
    np.testing.assert_allclose(ae.score_samples(small), expected, rtol=1e-5)
    assert ae.score(small) == pytest.approx(expected.mean(), rel=1e-5)


def test_sample_draws_from_gaussian_of_training_codes(small):
    ae = AutoencoderTransformer(
        n_components=3,
        hidden_layer_sizes=(),
        activation="identity",
        max_iter=20,
        init="random",
        random_state=0,
    ).fit(small)
    codes = ae.transform(small)
    np.testing.assert_allclose(ae.code_mean_, codes.mean(axis=0), atol=1e-5)
    np.testing.assert_allclose(ae.code_var_, codes.var(axis=0), rtol=1e-4)
    n = 20_000
    samples = ae.sample(n, random_state=1)
    assert samples.shape == (n, small.shape[1])
    # The decoder is affine, so the drawn codes are recovered exactly by least
    # squares through it, and must have the training codes' mean and variance.
    decoder = ae.net_.module_.decoder[0]
    W = decoder.weight.detach().double().numpy() * ae.scale_[:, None]
    b = decoder.bias.detach().double().numpy() * ae.scale_ + ae.mean_
    drawn = np.linalg.lstsq(W, (samples - b).T, rcond=None)[0].T
    tolerance = 4 * np.sqrt(ae.code_var_ / n)
    np.testing.assert_array_less(np.abs(drawn.mean(axis=0) - ae.code_mean_), tolerance)
    np.testing.assert_allclose(drawn.var(axis=0), ae.code_var_, rtol=0.05)
    np.testing.assert_array_equal(samples, ae.sample(n, random_state=1))


@pytest.mark.parametrize("n_samples", [0, -1, 1.5])
def test_sample_rejects_bad_counts(small, n_samples):
    ae = AutoencoderTransformer(max_iter=1, random_state=0).fit(small)
    with pytest.raises(ValueError, match="n_samples"):
        ae.sample(n_samples)


@pytest.mark.parametrize("early_stopping", [False, True])
def test_same_random_state_same_model(small, early_stopping):
    params = dict(
        n_components=2, max_iter=15, early_stopping=early_stopping, random_state=3
    )
    a = AutoencoderTransformer(**params).fit(small)
    b = clone(a).fit(small)
    for (name, pa), (_, pb) in zip(
        a.net_.module_.state_dict().items(),
        b.net_.module_.state_dict().items(),
        strict=True,
    ):
        assert torch.equal(pa, pb), name
    np.testing.assert_array_equal(a.transform(small), b.transform(small))
    assert a.loss_curve_ == b.loss_curve_
    c = AutoencoderTransformer(**{**params, "random_state": 4}).fit(small)
    assert not np.array_equal(a.transform(small), c.transform(small))


def test_fit_leaves_global_torch_rng_alone(small):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    AutoencoderTransformer(max_iter=2, random_state=0).fit(small)
    torch.testing.assert_close(torch.rand(3), expected)


def test_early_stopping_records_validation_and_stops(small):
    ae = AutoencoderTransformer(
        n_components=2,
        max_iter=500,
        early_stopping=True,
        n_iter_no_change=3,
        learning_rate_init=1e-2,
        random_state=0,
    ).fit(small)
    assert ae.n_iter_ < 500
    assert len(ae.validation_loss_curve_) == len(ae.loss_curve_) == ae.n_iter_
    assert ae.best_loss_ == min(
        [ae.initial_validation_loss_, *ae.validation_loss_curve_]
    )


def test_no_early_stopping_has_no_validation_curve(small):
    ae = AutoencoderTransformer(max_iter=3, early_stopping=False, random_state=0)
    ae.fit(small)
    assert ae.validation_loss_curve_ is None
    assert ae.n_iter_ == len(ae.loss_curve_) == 3


def test_diverging_fit_raises(small):
    # float32 data train in float32, where a step of 1e12 overflows quickly.
    with pytest.raises(DivergenceError, match="diverged"):
        AutoencoderTransformer(
            learning_rate_init=1e12, max_iter=50, random_state=0
        ).fit(np.float32(small * 1e15))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_outputs_keep_float_dtype(small, dtype):
    X = small.astype(dtype)
    ae = AutoencoderTransformer(max_iter=2, random_state=0).fit(X)
    assert ae.transform(X).dtype == dtype
    assert ae.inverse_transform(ae.transform(X)).dtype == dtype


def test_dataframe_names_and_pandas_output(small):
    columns = [f"pixel_{i}" for i in range(small.shape[1])]
    df = pd.DataFrame(small, columns=columns)
    ae = AutoencoderTransformer(n_components=3, max_iter=2, random_state=0)
    ae.set_output(transform="pandas").fit(df)
    np.testing.assert_array_equal(ae.feature_names_in_, columns)
    codes = ae.transform(df)
    assert list(codes.columns) == [f"autoencodertransformer{i}" for i in range(3)]
    back = ae.inverse_transform(codes)
    assert isinstance(back, pd.DataFrame)
    assert list(back.columns) == columns
    assert isinstance(ae.sample(4), pd.DataFrame)


BAD_INPUTS = [
    (  # a single NaN is a missing value (tests/test_tables.py); a row of them is not
        "nan row",
        lambda X: np.where(np.arange(X.shape[0])[:, None] == 3, np.nan, X),
        ValueError,
        "every entry missing",
    ),
    (
        "inf",
        lambda X: np.where(np.arange(X.size).reshape(X.shape) == 3, np.inf, X),
        ValueError,
        "infinity",
    ),
    (
        "sparse nan",
        lambda X: sp.csr_matrix(
            np.where(np.arange(X.size).reshape(X.shape) == 3, np.nan, X)
        ),
        ValueError,
        "NaN",
    ),
    ("1-D", lambda X: X[:, 0], ValueError, "2D array"),
    ("empty", lambda X: X[:0], ValueError, "0 sample"),
    ("strings", lambda X: X.astype(str).astype(object) + "x", ValueError, "convert"),
]


@pytest.mark.parametrize(("name", "make", "error", "match"), BAD_INPUTS)
@pytest.mark.parametrize("method", ["fit", "transform", "score_samples"])
def test_bad_input_gets_a_clear_error(small, name, make, error, match, method):
    ae = AutoencoderTransformer(max_iter=1, random_state=0)
    if method != "fit":
        ae.fit(small)
    with pytest.raises(error, match=match):
        getattr(ae, method)(make(small))


def test_wrong_number_of_features(small):
    ae = AutoencoderTransformer(max_iter=1, random_state=0).fit(small)
    with pytest.raises(ValueError, match="4 features, but AutoencoderTransformer"):
        ae.transform(small[:, :4])
    with pytest.raises(ValueError, match="Z has 3 columns"):
        ae.inverse_transform(np.zeros((2, 3)))


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"hidden_layer_sizes": (4, -1)}, "hidden_layer_sizes"),
        ({"activation": "swish"}, "activation"),
        ({"n_components": 0}, "n_components"),
        ({"device": "tpu9"}, "device"),
        ({"learning_rate_init": 0.0}, "learning_rate_init"),
    ],
)
def test_invalid_parameters(small, params, match):
    with pytest.raises(ValueError, match=match):
        AutoencoderTransformer(**params).fit(small)
