"""skae.metrics: the error equals the hand-computed one for any reducer."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits
from sklearn.decomposition import NMF, PCA, KernelPCA, TruncatedSVD
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from skae import AutoencoderTransformer
from skae.metrics import (
    bits_per_dim,
    dequantize,
    reconstruction_error,
    reconstruction_scorer,
)


def _tiny_autoencoder(n_components=3, **params):
    return AutoencoderTransformer(
        n_components=n_components,
        hidden_layer_sizes=(16,),
        max_iter=15,
        random_state=0,
        **params,
    )


def _by_hand(X, X_hat) -> float:
    X = np.asarray(X, dtype=np.float64)
    return float(np.mean((X - np.asarray(X_hat)) ** 2))


@pytest.fixture(scope="module")
def digits():
    X = load_digits().data[:400]
    return X[:300], X[300:]


@pytest.mark.parametrize(
    "reducer",
    [
        PCA(n_components=5),
        KernelPCA(n_components=5, kernel="rbf", fit_inverse_transform=True),
        TruncatedSVD(n_components=5, random_state=0),
        NMF(n_components=5, init="nndsvda", max_iter=400),
        _tiny_autoencoder(),
    ],
    ids=lambda est: type(est).__name__,
)
def test_error_equals_hand_computed_mse(reducer, digits):
    X_train, X_test = digits
    reducer.fit(X_train)
    expected = _by_hand(X_test, reducer.inverse_transform(reducer.transform(X_test)))

    assert reconstruction_error(reducer, X_test) == pytest.approx(expected, rel=1e-12)
    assert reconstruction_scorer(reducer, X_test) == pytest.approx(-expected, rel=1e-12)
    assert expected > 0


def test_scorer_equals_autoencoder_score(digits):
    X_train, X_test = digits
    ae = _tiny_autoencoder().fit(X_train)

    assert reconstruction_scorer(ae, X_test) == pytest.approx(ae.score(X_test))


def test_full_rank_pca_reconstructs_exactly(digits):
    X_train, _ = digits
    pca = PCA(n_components=X_train.shape[1]).fit(X_train)

    assert reconstruction_error(pca, X_train) == pytest.approx(0.0, abs=1e-20)


@pytest.mark.parametrize(
    "reducer",
    [PCA(n_components=4), _tiny_autoencoder(n_components=4)],
    ids=lambda est: type(est).__name__,
)
def test_pipeline_reconstructs_back_to_input_units(reducer, digits):
    X_train, X_test = digits
    pipe = make_pipeline(StandardScaler(), reducer).fit(X_train)
    scaler, fitted = pipe[0], pipe[1]
    codes = fitted.transform(scaler.transform(X_test))
    by_hand = _by_hand(
        X_test, scaler.inverse_transform(fitted.inverse_transform(codes))
    )
    in_scaled_units = reconstruction_error(fitted, scaler.transform(X_test))

    assert reconstruction_error(pipe, X_test) == pytest.approx(by_hand, rel=1e-12)
    assert reconstruction_scorer(pipe, X_test) == pytest.approx(-by_hand, rel=1e-12)
    # The pixels' units, not the standardised ones: the two numbers differ.
    assert not np.isclose(by_hand, in_scaled_units, rtol=0.1)


@pytest.mark.parametrize(
    "reducer",
    [PCA(n_components=4), _tiny_autoencoder(n_components=4)],
    ids=lambda est: type(est).__name__,
)
def test_pandas_output_and_dataframe_input(reducer, digits):
    X_train, X_test = digits
    columns = [f"pixel_{i}" for i in range(X_train.shape[1])]
    df_train = pd.DataFrame(X_train, columns=columns)
    df_test = pd.DataFrame(X_test, columns=columns)
    plain = make_pipeline(MinMaxScaler(), clone(reducer)).fit(X_train)
    framed = make_pipeline(MinMaxScaler(), clone(reducer))
    framed.set_output(transform="pandas")
    framed.fit(df_train)

    assert isinstance(framed.transform(df_test), pd.DataFrame)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no feature-name warnings
        error = reconstruction_error(framed, df_test)
    assert error == pytest.approx(reconstruction_error(plain, X_test), rel=1e-6)


def test_sparse_input(digits):
    X_train, X_test = digits
    svd = TruncatedSVD(n_components=5, random_state=0).fit(sp.csr_matrix(X_train))
    dense = reconstruction_error(svd, X_test)

    assert reconstruction_error(svd, sp.csr_matrix(X_test)) == pytest.approx(dense)


@pytest.mark.parametrize(
    "estimator",
    [
        KMeans(n_clusters=2, n_init=1, random_state=0),
        make_pipeline(StandardScaler(), PCA(2), LogisticRegression()),
    ],
    ids=["no inverse_transform", "ends in a classifier"],
)
def test_rejects_estimators_that_cannot_reconstruct(estimator, digits):
    X_train, X_test = digits
    estimator.fit(X_train, np.arange(len(X_train)) % 2)

    with pytest.raises(TypeError, match="transform and inverse_transform"):
        reconstruction_error(estimator, X_test)


def test_cross_val_score_matches_folds_by_hand(digits):
    X, _ = digits
    cv = KFold(n_splits=3, shuffle=True, random_state=0)
    scores = cross_val_score(
        PCA(n_components=6), X, scoring=reconstruction_scorer, cv=cv
    )
    by_hand = []
    for train, test in cv.split(X):
        pca = PCA(n_components=6).fit(X[train])
        by_hand.append(
            -_by_hand(X[test], pca.inverse_transform(pca.transform(X[test])))
        )

    np.testing.assert_allclose(scores, by_hand, rtol=1e-12)


def test_scorer_pickles_by_reference():
    assert pickle.loads(pickle.dumps(reconstruction_scorer)) is reconstruction_scorer


# ------------------------------------------------ image densities: bits/dim
def test_dequantize_adds_uniform_noise_within_each_level():
    X = np.arange(12).reshape(3, 2, 2)
    D = dequantize(X, random_state=0)

    assert D.shape == X.shape and D.dtype == np.float64
    assert np.array_equal(np.floor(D), X)
    np.testing.assert_array_equal(D, dequantize(X, random_state=0))
    assert not np.array_equal(D, dequantize(X, random_state=1))


def test_dequantize_rejects_continuous_data():
    with pytest.raises(ValueError, match="integer-valued"):
        dequantize(np.array([[0.5, 1.0]]))


def test_bits_per_dim_of_a_uniform_density():
    # U[0, 2**b)^d has log-density -d*b*log(2): b bits per dimension.
    assert bits_per_dim(-10 * 3 * np.log(2), n_dims=10) == pytest.approx(3.0)
    # The same density on data scaled by 1/2**b: bin width 2**-b.
    assert bits_per_dim(0.0, n_dims=10, bin_width=2.0**-3) == pytest.approx(3.0)
    per_sample = bits_per_dim(np.array([0.0, -64 * np.log(2)]), n_dims=64)
    np.testing.assert_allclose(per_sample, [0.0, 1.0])


@pytest.mark.parametrize(("n_dims", "bin_width"), [(0, 1.0), (4, 0.0), (4, -1.0)])
def test_bits_per_dim_rejects_bad_arguments(n_dims, bin_width):
    with pytest.raises(ValueError):
        bits_per_dim(-1.0, n_dims=n_dims, bin_width=bin_width)
