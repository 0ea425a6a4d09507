"""AutoencoderImputer: observed entries kept, fills reproducible, MIWAE protocol."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
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


def _mixed_frame(n=400, seed=0):
    """Two numbers and a category that the first number's sign decides."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    frame = pd.DataFrame(
        {
            "x": x,
            "y": x + 0.1 * rng.normal(size=n),
            "sign": pd.Categorical(np.where(x > 0, "pos", "neg")),
            "flag": rng.random(n) < 0.5,
        },
        index=pd.RangeIndex(100, 100 + n),
    )
    holes = frame.copy()
    holes["sign"] = holes["sign"].astype(object)
    gone = rng.random(n) < 0.3
    holes.loc[gone, "sign"] = None
    holes["sign"] = holes["sign"].astype(frame["sign"].dtype)
    holes.loc[rng.random(n) < 0.2, "y"] = np.nan
    return frame, holes, gone


@pytest.mark.parametrize(
    "model",
    [
        VAE(hidden_layer_sizes=(16,), max_iter=60, batch_size=32),
        AutoencoderTransformer(hidden_layer_sizes=(16,), max_iter=60, batch_size=32),
    ],
    ids=lambda m: type(m).__name__,
)
def test_table_with_categories_comes_back_filled(model):
    frame, holes, gone = _mixed_frame()
    imputer = AutoencoderImputer(model, n_importance_samples=100, random_state=0)
    filled = imputer.fit_transform(holes)
    assert list(filled.columns) == list(frame.columns)
    assert filled.index.equals(frame.index)
    assert (filled.dtypes == frame.dtypes).all()
    assert not filled.isna().any().any()
    observed = holes.notna()
    for column in frame:
        kept = observed[column].to_numpy()
        assert (filled[column][kept] == holes[column][kept]).all()
    # The category follows the observed number: far better than the mode.
    accuracy = np.mean(filled["sign"][gone] == frame["sign"][gone])
    assert accuracy > 0.9
    assert set(filled["sign"]) <= {"neg", "pos"}


def test_table_given_as_an_object_array_with_categorical_indices():
    _, holes, _ = _mixed_frame(n=150)
    array = holes[["x", "y", "sign"]].astype(object).to_numpy()
    array[pd.isna(array)] = None
    model = VAE(hidden_layer_sizes=(8,), max_iter=5, categorical_features=[2])
    filled = AutoencoderImputer(model, n_importance_samples=20).fit_transform(array)
    assert isinstance(filled, np.ndarray) and filled.dtype == object
    assert not pd.isna(filled).any()
    assert set(filled[:, 2]) <= {"neg", "pos"}


def test_table_with_an_unseen_category_is_a_clear_error():
    _, holes, _ = _mixed_frame(n=150)
    imputer = AutoencoderImputer(VAE(hidden_layer_sizes=(8,), max_iter=2)).fit(holes)
    other = holes.copy()
    other["sign"] = other["sign"].cat.add_categories("zero")
    other.iloc[0, 2] = "zero"
    with pytest.raises(ValueError, match="categories not seen in fit"):
        imputer.transform(other)


def test_feature_names_and_pandas_output():
    _, X_missing, _ = _missing(n=60, d=3)
    frame = pd.DataFrame(X_missing, columns=["a", "b", "c"], index=range(5, 65))
    imputer = AutoencoderImputer(
        VAE(hidden_layer_sizes=(8,), max_iter=2), n_importance_samples=10
    ).set_output(transform="pandas")
    out = imputer.fit_transform(frame)
    assert list(imputer.get_feature_names_out()) == ["a", "b", "c"]
    assert list(out.columns) == ["a", "b", "c"] and out.index.equals(frame.index)
    assert not out.isna().any().any()


@settings(max_examples=10, deadline=None)
@given(
    n_numeric=st.integers(0, 3),
    n_categorical=st.integers(1, 3),
    n_categories=st.integers(1, 4),
    rate=st.floats(0.0, 0.5),
    seed=st.integers(0, 2**16),
)
def test_any_mixed_table_comes_back_complete(
    n_numeric, n_categorical, n_categories, rate, seed
):
    """Drawn mixed tables with holes: complete, same dtypes, observed kept."""
    rng = np.random.default_rng(seed)
    n = 40
    columns = {f"x{j}": rng.normal(size=n) for j in range(n_numeric)}
    for j in range(n_categorical):
        labels = np.array([f"c{i}" for i in range(n_categories)])
        columns[f"g{j}"] = pd.Series(rng.choice(labels, size=n), dtype=object)
    frame = pd.DataFrame(columns)
    holes = frame.mask(rng.random(frame.shape) < rate)
    for j in range(n_categorical):
        if holes[f"g{j}"].isna().all():
            holes.loc[0, f"g{j}"] = frame.loc[0, f"g{j}"]
    empty = holes.isna().all(axis=1).to_numpy()
    holes.iloc[np.flatnonzero(empty), 0] = frame.iloc[np.flatnonzero(empty), 0]
    model = VAE(2, hidden_layer_sizes=(8,), max_iter=3)
    filled = AutoencoderImputer(model, n_importance_samples=10, random_state=0)
    out = filled.fit_transform(holes)
    assert list(out.columns) == list(frame.columns)
    assert (out.dtypes == holes.dtypes).all()
    assert not out.isna().any().any()
    seen = holes.notna().to_numpy()
    assert (
        out.to_numpy(dtype=object)[seen] == holes.to_numpy(dtype=object)[seen]
    ).all()
    for j in range(n_categorical):
        assert set(out[f"g{j}"]) <= set(holes[f"g{j}"].dropna())


def test_default_picks_its_epochs_on_held_out_entries(monkeypatch):
    """The default trains as many epochs as filled hidden entries best, then
    refits on every entry; reproducible for a given random_state."""
    from skae import impute

    small = VAE(
        2,
        n_train_importance_samples=20,
        hidden_layer_sizes=(8,),
        batch_size=32,
        max_iter=40,
    )
    monkeypatch.setattr(impute, "default_estimator", lambda: clone(small))
    X, X_missing, missing = _missing(n=80, d=4)
    imputer = AutoencoderImputer(random_state=0, n_importance_samples=20)
    filled = imputer.fit_transform(X_missing)
    model = imputer.estimator_
    assert not model.early_stopping
    # Blocks of 10 epochs on the held-in entries, then 10 on every entry,
    # within max_iter.
    assert model.n_iter_ % 10 == 0 and 20 <= model.n_iter_ <= 40
    assert len(model.loss_curve_) == model.n_iter_
    np.testing.assert_array_equal(filled[~missing], X[~missing])
    again = AutoencoderImputer(random_state=0, n_importance_samples=20)
    np.testing.assert_array_equal(again.fit_transform(X_missing), filled)
