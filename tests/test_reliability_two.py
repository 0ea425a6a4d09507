"""Regression tests of the second reliability round (issue 32): one column
policy, the trimmed refit's categories, budgets of the factor-count scan,
extreme scales and damaged files."""

import pickle
import time

import numpy as np
import pandas as pd
import pytest
import skorch
import torch

import skae._warm_start as warm_start
from skae import VAE, AutoencoderTransformer, OutlierDetector, RealNVPDensity


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.mark.parametrize(
    "values", [[1, "a", 2.5, None], [True, "no"], [3, "three", 4.0]], ids=str
)
def test_a_mixed_object_column_reads_its_own_training_data(values, rng):
    column = pd.Series(values * (40 // len(values)), dtype=object)
    frame = pd.DataFrame({"x": rng.normal(size=len(column)), "m": column})
    model = AutoencoderTransformer(max_iter=2, random_state=0).fit(frame)
    assert np.isfinite(model.score_samples(frame)).all()
    assert model.column_encoder_.categories_[0].dtype == object
    with pytest.raises(ValueError, match="not seen in fit: \\['new'\\]"):
        model.transform(frame.assign(m=["new"] * len(frame)))


def _frames(rng, n=60):
    numbers = rng.normal(size=n)
    return {
        "numeric strings": pd.DataFrame(
            {"a": rng.normal(size=n), "s": pd.array([f"{v:.6f}" for v in numbers])}
        ),
        "numeric objects": pd.DataFrame(
            {"a": rng.normal(size=n), "s": pd.Series(list(numbers), dtype=object)}
        ),
        "sparse, NaN fill": pd.DataFrame(
            {
                "a": pd.arrays.SparseArray(rng.normal(size=n)),
                "s": pd.arrays.SparseArray(np.r_[np.zeros(n - 10), numbers[:10]]),
            }
        ),
        "sparse, mixed": pd.DataFrame(
            {
                "a": rng.normal(size=n),
                "s": pd.arrays.SparseArray(np.r_[np.zeros(n - 10), numbers[:10]]),
            }
        ),
        "sparse, zero fill": pd.DataFrame(
            {
                "a": pd.arrays.SparseArray(rng.normal(size=n), fill_value=0.0),
                "s": pd.arrays.SparseArray(
                    np.r_[np.zeros(n - 10), numbers[:10]], fill_value=0.0
                ),
            }
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "numeric strings",
        "numeric objects",
        "sparse, NaN fill",
        "sparse, mixed",
        "sparse, zero fill",
    ],
)
def test_every_estimator_reads_a_column_the_same_way(case, rng):
    frame = _frames(rng)[case]
    numbers = np.column_stack(
        [pd.to_numeric(np.asarray(frame.iloc[:, j]).astype(object)) for j in (0, 1)]
    ).astype(float)
    for make in (AutoencoderTransformer, VAE, RealNVPDensity):
        from_frame = make(max_iter=2, random_state=0).fit(frame)
        from_numbers = make(max_iter=2, random_state=0).fit(numbers)
        assert from_frame.n_features_in_ == 2
        assert getattr(from_frame, "column_encoder_", None) is None
        np.testing.assert_allclose(
            from_frame.score_samples(frame), from_numbers.score_samples(numbers)
        )


def test_a_named_categorical_column_of_numbers_stays_categorical(rng):
    frame = pd.DataFrame({"a": rng.normal(size=60), "s": ["1", "2", "3"] * 20})
    model = VAE(max_iter=2, categorical_features=["s"], random_state=0).fit(frame)
    assert model.column_encoder_.categories_[0].tolist() == ["1", "2", "3"]


def test_declared_categories_are_known_even_when_unseen(rng):
    dtype = pd.CategoricalDtype(["a", "b", "c"])
    frame = pd.DataFrame(
        {"x": rng.normal(size=40), "s": pd.Series(["a", "b"] * 20, dtype=dtype)}
    )
    model = VAE(max_iter=2, random_state=0).fit(frame)
    assert model.column_encoder_.categories_[0].tolist() == ["a", "b", "c"]
    unseen = frame.assign(s=pd.Series(["c"] * 40, dtype=dtype))
    assert np.isfinite(model.score_samples(unseen)).all()


@pytest.mark.parametrize("estimator", [None, "vae"])
def test_outlier_refit_knows_the_categories_of_the_rows_it_flags(estimator, rng):
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=200),
            "b": rng.normal(size=200),
            "c": ["x", "y"] * 99 + ["rare", "rarer"],
        }
    )
    frame.loc[198:, "a"] = 8.0
    model = None if estimator is None else VAE(max_iter=20)
    detector = OutlierDetector(model, random_state=0).fit(frame)
    assert detector.n_fit_samples_ < len(frame)
    assert (detector.predict(frame.iloc[198:]) == -1).all()


@pytest.mark.parametrize(
    "case", ["wide", pytest.param("one hundred categories", marks=pytest.mark.slow)]
)
def test_the_factor_count_scan_keeps_to_its_budget(case, rng, monkeypatch):
    if case == "wide":
        X = rng.normal(size=(50, 600))
    else:
        X = pd.DataFrame(
            {"a": rng.normal(size=100), "c": [f"k{i % 50}" for i in range(100)]}
        )
    spent = []
    fit_fa = warm_start._fit_fa

    def counted(rows, k, seed, tol=1e-2, max_iter=1000):
        fa = fit_fa(rows, k, seed, tol, max_iter)
        if fa is not None:
            spent.append(fa.n_iter_ * warm_start._iteration_work(*rows.shape, k))
        return fa

    monkeypatch.setattr(warm_start, "_fit_fa", counted)
    VAE(n_components=2, hidden_layer_sizes=(8,), max_iter=1, random_state=0).fit(X)
    final = spent.pop()
    assert sum(spent) <= warm_start._SCAN_WORK * 1.05
    assert final <= max(warm_start._FIT_WORK * 1.05, 0)


def test_the_scan_budget_leaves_small_tables_alone(rng):
    X = rng.normal(size=(300, 6)) @ rng.normal(size=(6, 6))
    validation = np.arange(0, 300, 3)
    budgeted = warm_start.factor_model(X, 3, 0, validation, max_noise_rank=2)
    monkey = warm_start._SCAN_WORK, warm_start._FIT_WORK
    try:
        warm_start._SCAN_WORK = warm_start._FIT_WORK = 1e30
        free = warm_start.factor_model(X, 3, 0, validation, max_noise_rank=2)
    finally:
        warm_start._SCAN_WORK, warm_start._FIT_WORK = monkey
    np.testing.assert_array_equal(budgeted.loadings, free.loadings)


@pytest.mark.slow
def test_wide_and_many_category_vae_fits_take_seconds(rng):
    cases = [
        rng.normal(size=(50, 2000)),
        pd.DataFrame({"a": rng.normal(size=100), "c": [f"k{i}" for i in range(100)]}),
    ]
    for X in cases:
        start = time.perf_counter()
        VAE(n_components=2, hidden_layer_sizes=(8,), max_iter=5).fit(X)
        assert time.perf_counter() - start < 20.0


@pytest.mark.parametrize("make", [AutoencoderTransformer, VAE])
def test_values_whose_squares_overflow_are_refused_at_fit(make, rng):
    X = rng.normal(size=(40, 3))
    with pytest.raises(ValueError, match=r"magnitude up to .*Rescale X"):
        make(max_iter=2).fit(X * 1e200)
    model = make(max_iter=2, random_state=0).fit(X)
    assert not np.isnan(model.score_samples(X * 1e200)).any()


def test_the_flow_fits_huge_scales(rng):
    X = rng.normal(size=(60, 3)) * 1e300
    assert np.isfinite(RealNVPDensity(max_iter=2).fit(X).score_samples(X)).all()


def test_float32_rows_far_out_keep_finite_reconstruction_scores(rng):
    X = rng.normal(size=(60, 3)).astype(np.float32) * 1e30
    detector = OutlierDetector(AutoencoderTransformer(max_iter=3), random_state=0)
    detector.fit(X)
    assert np.isfinite(detector.offset_)
    assert np.isfinite(detector.score_samples(X)).all()


def test_an_outlier_threshold_that_cannot_be_set_is_an_error(rng):
    class Infinite(AutoencoderTransformer):
        def score_samples(self, X):
            return np.full(len(X), -np.inf)

    with pytest.raises(ValueError, match="no threshold"):
        OutlierDetector(Infinite(max_iter=1)).fit(rng.normal(size=(30, 2)))


@pytest.fixture(scope="module")
def saved():
    X = np.random.default_rng(1).normal(size=(60, 4))
    return X, pickle.dumps(VAE(max_iter=3, random_state=0).fit(X))


def test_a_changed_weight_is_caught_on_load(saved):
    model = pickle.loads(saved[1])
    state = model.__reduce_ex__(4)[2]  # the digest of the weights as they are
    with torch.no_grad():
        next(model.net_.module_.parameters()).view(-1)[0] += 1e-6
    with pytest.raises(ValueError, match="damaged"):
        type(model).__new__(type(model)).__setstate__(state)


def test_damaged_net_bytes_never_advise_an_unsafe_load(saved):
    data = saved[1]
    position = data.index(b"__cuda_dependent_attributes__") + 200
    damaged = data[:position] + bytes([data[position] ^ 0xFF]) + data[position + 1 :]
    try:
        pickle.loads(damaged)
    except Exception as error:
        assert "weights_only=False" not in str(error)
        assert "weights_only=False" not in str(error.__cause__ or "")
    else:  # the flipped byte was in a weight: the digest must catch it
        pytest.fail("a damaged file loaded silently")


def _real_table():
    from sklearn.datasets import load_breast_cancer
    from sklearn.preprocessing import StandardScaler

    X = StandardScaler().fit_transform(load_breast_cancer().data[:, :10])
    frame = pd.DataFrame(X, columns=[f"x{j}" for j in range(10)])
    frame["size"] = pd.cut(frame["x0"], 3, labels=["small", "medium", "large"])
    frame["kind"] = np.where(frame["x1"] > 0, "rough", "smooth").astype(object)
    frame.loc[::17, "x2"] = np.nan
    return frame


@pytest.mark.parametrize("make", [VAE, AutoencoderTransformer])
def test_skae_io_and_pickle_keep_a_real_table_fit_with_every_part(make):
    import skae.io

    frame = _real_table()
    model = make(max_iter=3, random_state=0).fit(frame)
    assert model.heads_ is not None and model.column_encoder_ is not None
    if make is VAE:
        assert model.noise_rank_ > 0
    expected = model.score_samples(frame)
    for loaded in (
        skae.io.loads(skae.io.dumps(model)),
        pickle.loads(pickle.dumps(model)),
    ):
        np.testing.assert_array_equal(loaded.score_samples(frame), expected)
        pd.testing.assert_frame_equal(
            loaded.sample(5, random_state=0), model.sample(5, random_state=0)
        )


class _Threads(skorch.callbacks.Callback):
    def on_epoch_begin(self, net, **kwargs):
        self.seen = torch.get_num_threads()


@pytest.mark.parametrize("make", [AutoencoderTransformer, VAE, RealNVPDensity])
def test_flat_networks_train_on_one_thread_and_restore_the_setting(make, rng):
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        callback = _Threads()
        X = rng.normal(size=(40, 3))
        make(max_iter=2, callbacks=[callback]).fit(X)
        assert callback.seen == 1
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_only_a_users_own_epoch_limit_warns(rng):
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    X = rng.normal(size=(20, 2))
    settings = dict(early_stopping=False, n_iter_no_change=10_000, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = AutoencoderTransformer(**settings).fit(X)  # 'auto': skae's budget
    assert model.n_iter_ == model.net_.max_epochs
    with pytest.warns(ConvergenceWarning, match="max_iter=3"):
        AutoencoderTransformer(max_iter=3, **settings).fit(X)
