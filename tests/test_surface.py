"""The scikit-learn surface written once: the same rules for every estimator."""

import numpy as np
import pandas as pd
import pytest
from estimators import FAST
from sklearn.base import clone

from skae._base import SkaeBase

NAMES = list(FAST)


@pytest.fixture
def X(rng):
    return rng.normal(size=(60, 3)) @ rng.normal(size=(3, 3))


@pytest.mark.parametrize("fitted_on", ["ndarray", "dataframe"])
@pytest.mark.parametrize("name", NAMES)
def test_pandas_output_of_every_method(name, fitted_on, X):
    data = pd.DataFrame(X, columns=["a", "b", "c"]) if fitted_on == "dataframe" else X
    model = FAST[name]().set_output(transform="pandas").fit(data)
    inputs = ["a", "b", "c"] if fitted_on == "dataframe" else ["x0", "x1", "x2"]
    codes = model.transform(data)
    assert isinstance(codes, pd.DataFrame)
    assert list(codes.columns) == list(model.get_feature_names_out())
    prefix = type(model).__name__.lower()
    assert all(column.startswith(prefix) for column in codes.columns)
    for frame in (model.inverse_transform(codes), model.sample(4, random_state=0)):
        assert isinstance(frame, pd.DataFrame)
        assert list(frame.columns) == inputs
    default = clone(model).set_output(transform="default").fit(data)
    assert isinstance(default.sample(2, random_state=0), np.ndarray)


@pytest.mark.parametrize("name", NAMES)
def test_public_methods_are_the_bases(name):
    """Each estimator inherits the shared methods rather than rewriting them."""
    estimator = type(FAST[name]())
    for method in ("fit", "transform", "inverse_transform", "score_samples", "score"):
        assert getattr(estimator, method) is getattr(SkaeBase, method), method


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_network_computes_in_the_input_dtype(name, dtype, X):
    model = FAST[name]().fit(X.astype(dtype))
    parameter = next(model.net_.module_.parameters())
    assert str(parameter.dtype) == f"torch.{np.dtype(dtype).name}"
    assert model.transform(X.astype(dtype)).dtype == dtype


@pytest.mark.parametrize("name", NAMES)
def test_rows_score_the_same_in_any_batch(name, X):
    model = FAST[name]().fit(X)
    full = model.score_samples(X)
    one_by_one = np.concatenate([model.score_samples(row[None]) for row in X[:10]])
    np.testing.assert_allclose(one_by_one, full[:10], rtol=1e-12, atol=1e-12)
    codes = model.transform(X)
    np.testing.assert_allclose(model.transform(X[::-1]), codes[::-1], rtol=1e-12)
