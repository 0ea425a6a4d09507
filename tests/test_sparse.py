"""Sparse input: densified one batch at a time, the same result as dense input."""

import numpy as np
import pytest
import scipy.sparse as sp
from estimators import FAST
from sklearn.base import clone

NAMES = sorted(FAST)


@pytest.fixture(scope="module")
def X():
    X = np.random.default_rng(0).normal(size=(120, 6)) * [1, 2, 3, 1, 1, 4]
    X[np.abs(X) < 1.0] = 0.0
    return X


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("name", NAMES)
def test_fit_on_sparse_gives_the_dense_result(X, name, fmt):
    dense = FAST[name]().fit(X)
    sparse = FAST[name]().fit(sp.csr_matrix(X).asformat(fmt))
    # A flow whitens: its covariance is accumulated in another order, and
    # training amplifies that rounding a little.
    tolerance = 1e-3 if name == "RealNVPDensity" else 1e-5
    for method in ("transform", "score_samples"):
        got = getattr(sparse, method)(sp.csr_matrix(X).asformat(fmt))
        np.testing.assert_allclose(got, getattr(dense, method)(X), atol=tolerance)


@pytest.mark.parametrize("name", NAMES)
def test_inference_on_sparse_rows_matches_dense_rows(X, name):
    model = FAST[name]().fit(X)
    for method in ("transform", "score_samples"):
        np.testing.assert_allclose(
            getattr(model, method)(sp.csr_matrix(X)),
            getattr(model, method)(X),
            rtol=0,
            atol=1e-12,
        )


@pytest.mark.parametrize("name", NAMES)
def test_partial_fit_on_sparse_gives_the_dense_result(X, name):
    dense = FAST[name]().partial_fit(X[:60]).partial_fit(X[60:])
    sparse = FAST[name]().partial_fit(sp.csr_matrix(X[:60]))
    sparse.partial_fit(sp.csr_matrix(X[60:]))
    np.testing.assert_allclose(
        sparse.transform(X), dense.transform(X), rtol=0, atol=1e-5
    )


def test_the_whole_matrix_is_never_densified(monkeypatch):
    """Dense copies stay within a batch or a 2**19-entry statistics block."""
    big = sp.random(20_000, 40, density=0.05, format="csr", random_state=0)
    densified = []
    original = sp.csr_matrix.toarray

    def recording_toarray(self, *args, **kwargs):
        densified.append(self.shape[0] * self.shape[1])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(sp.csr_matrix, "toarray", recording_toarray)
    model = clone(FAST["AutoencoderTransformer"]()).set_params(max_iter=1)
    model.fit(big)
    model.transform(big)
    model.score_samples(big)
    assert densified and max(densified) <= 2**19 < big.shape[0] * big.shape[1]


def test_sparse_tag_is_set():
    assert all(FAST[name]().__sklearn_tags__().input_tags.sparse for name in NAMES)
