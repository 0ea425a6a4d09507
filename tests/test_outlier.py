"""skae.OutlierDetector: the scikit-learn outlier-detector contract."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.neighbors import KernelDensity
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from skae import VAE, AutoencoderTransformer, OutlierDetector, RealNVPDensity
from skae.outlier import tukey_lower_fence

SMALL_AE = AutoencoderTransformer(n_components=2, hidden_layer_sizes=(8,), max_iter=20)


@parametrize_with_checks(
    [
        OutlierDetector(),
        OutlierDetector(estimator=PCA(2)),
        # PCA cannot score a one-row fit: a ValueError naming n_samples=1
        OutlierDetector(estimator=PCA(1), contamination=0.5),
    ]
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


# A given skae model with a set contamination (minutes): the default above
# checks a skae VAE inside, and the contamination tests below a given skae
# model at each contamination.
@pytest.mark.slow
@parametrize_with_checks(
    [OutlierDetector(estimator=VAE(n_components=2), contamination=0.05)]
)
def test_sklearn_compatible_with_a_full_size_model(estimator, check):
    check(estimator)


@pytest.fixture
def X(rng) -> np.ndarray:
    """300 correlated Gaussian rows in 5 dimensions."""
    return rng.normal(size=(300, 5)) @ rng.normal(size=(5, 5))


@pytest.fixture
def X_with_outliers(rng, X) -> tuple[np.ndarray, np.ndarray]:
    """``X`` plus 15 rows far out; the labels mark them 1."""
    far = rng.normal(size=(15, 5))
    far = 12 * X.std() * far / np.linalg.norm(far, axis=1, keepdims=True)
    return np.vstack([X, far]), np.r_[np.zeros(len(X)), np.ones(len(far))]


@pytest.mark.parametrize("contamination", [0.05, 0.1, 0.2])
@pytest.mark.parametrize(
    "estimator",
    [None, PCA(2), GaussianMixture(2, random_state=0), SMALL_AE],
    ids=["default", "PCA", "GaussianMixture", "AutoencoderTransformer"],
)
def test_contamination_is_the_flagged_share_of_training_rows(
    X, estimator, contamination, seed
):
    detector = OutlierDetector(estimator, contamination=contamination)
    flagged = np.mean(detector.set_params(random_state=seed).fit_predict(X) == -1)
    assert abs(flagged - contamination) <= 0.02


def test_auto_offset_is_tukeys_lower_fence_of_the_training_scores(X):
    detector = OutlierDetector(PCA(2)).fit(X)
    first, third = np.percentile(detector.score_samples(X), [25, 75])
    assert detector.offset_ == pytest.approx(first - 1.5 * (third - first))
    assert detector.offset_ == pytest.approx(
        tukey_lower_fence(detector.score_samples(X))
    )


def test_auto_flags_few_clean_rows_and_every_far_one(X, X_with_outliers, seed):
    clean_share = np.mean(OutlierDetector(PCA(2)).fit_predict(X) == -1)
    assert clean_share < 0.06  # chi-square tail of 5-D log-likelihoods: 2.8%
    rows, labels = X_with_outliers
    detector = OutlierDetector(GaussianMixture(random_state=seed)).fit(rows)
    assert np.all(detector.predict(rows)[labels == 1] == -1)


def test_auto_with_the_default_model_flags_the_far_rows(X_with_outliers, seed):
    rows, labels = X_with_outliers
    with warnings.catch_warnings():
        # The default model's epoch limit is skae's budget: nothing to act on.
        warnings.simplefilter("error", ConvergenceWarning)
        predicted = OutlierDetector(random_state=seed).fit_predict(rows)
    assert np.mean(predicted[labels == 1] == -1) >= 0.9
    assert np.mean(predicted[labels == 0] == -1) < 0.1


def test_decision_function_and_predict_follow_offset(X):
    detector = OutlierDetector(PCA(2), contamination=0.1).fit(X)
    decision = detector.decision_function(X)
    np.testing.assert_allclose(decision, detector.score_samples(X) - detector.offset_)
    np.testing.assert_array_equal(detector.predict(X), np.where(decision < 0, -1, 1))


def test_the_estimator_parameter_is_cloned_not_fitted(X):
    inner = PCA(2)
    detector = OutlierDetector(inner).fit(X)
    assert not hasattr(inner, "components_")
    assert detector.estimator_ is not inner
    assert clone(detector).get_params()["estimator"] is not inner
    assert clone(detector).get_params(deep=True)["estimator__n_components"] == 2


def test_pickle_round_trip_gives_identical_scores(X, seed):
    detector = OutlierDetector(SMALL_AE, random_state=seed).fit(X)
    loaded = pickle.loads(pickle.dumps(detector))
    np.testing.assert_array_equal(loaded.score_samples(X), detector.score_samples(X))
    np.testing.assert_array_equal(loaded.predict(X), detector.predict(X))
    assert loaded.offset_ == detector.offset_


def test_grid_search_over_models_and_contamination(X_with_outliers):
    rows, labels = X_with_outliers
    inlier = np.where(labels == 1, -1, 1)
    grid = {"estimator": [PCA(1), GaussianMixture(1)], "contamination": [0.05, 0.1]}
    folds = StratifiedKFold(3, shuffle=True, random_state=0)
    search = GridSearchCV(OutlierDetector(), grid, scoring="roc_auc", cv=folds)
    search.fit(rows, inlier)
    assert search.best_score_ > 0.9
    assert len(search.cv_results_["params"]) == 4
    assert search.best_estimator_.predict(rows).shape == (len(rows),)


@pytest.mark.parametrize(
    "estimator, where",
    [
        (VAE(n_components=2, max_iter=2), "random_state"),
        (make_pipeline(StandardScaler(), SMALL_AE), "autoencodertransformer"),
        (None, "vae"),
    ],
    ids=["VAE", "Pipeline", "default"],
)
def test_random_state_is_passed_to_the_inner_model(X, estimator, where):
    before = None if estimator is None else estimator.get_params(deep=True)
    fitted = OutlierDetector(estimator, random_state=7).fit(X).estimator_
    model = fitted.named_steps[where] if isinstance(fitted, Pipeline) else fitted
    assert model.random_state == 7
    if estimator is not None:
        assert estimator.get_params(deep=True) == before


def test_random_state_instance_gives_an_int_seed(X):
    rng = np.random.RandomState(0)
    fitted = OutlierDetector(SMALL_AE, random_state=rng).fit(X).estimator_
    assert isinstance(fitted.random_state, int)


def test_random_state_none_keeps_the_inner_seed(X):
    inner = clone(SMALL_AE).set_params(random_state=3)
    assert OutlierDetector(inner).fit(X).estimator_.random_state == 3


def test_same_random_state_gives_the_same_scores(X, seed):
    first = OutlierDetector(SMALL_AE, random_state=seed).fit(X).score_samples(X)
    second = OutlierDetector(SMALL_AE, random_state=seed).fit(X).score_samples(X)
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize(
    "density",
    [
        KernelDensity(bandwidth=0.5),
        GaussianMixture(2, random_state=0),
        pytest.param(
            RealNVPDensity(n_layers=2, hidden_layer_sizes=(8,), max_iter=5),
            marks=pytest.mark.slow,
        ),
    ],
    ids=["KernelDensity", "GaussianMixture", "RealNVPDensity"],
)
def test_pipeline_ending_in_a_density_model(X, density, seed):
    pipeline = make_pipeline(StandardScaler(), density)
    detector = OutlierDetector(pipeline, contamination=0.1, random_state=seed).fit(X)
    np.testing.assert_allclose(
        detector.score_samples(X), detector.estimator_.score_samples(X)
    )
    assert abs(np.mean(detector.predict(X) == -1) - 0.1) <= 0.02


def test_feature_names_come_from_the_inner_model(X):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    detector = OutlierDetector(PCA(2)).fit(frame)
    assert detector.n_features_in_ == X.shape[1]
    assert list(detector.feature_names_in_) == list(frame.columns)


def test_an_estimator_without_score_samples_is_a_type_error(X):
    with pytest.raises(TypeError, match="score_samples"):
        OutlierDetector(StandardScaler()).fit(X)


def test_a_failed_inner_fit_names_the_model_and_the_shape():
    with pytest.raises(ValueError, match="PCA on X with n_samples=4, n_features=3"):
        OutlierDetector(PCA(5)).fit(np.ones((4, 3)))


def test_refit_on_inliers_leaves_the_flagged_rows_out(X_with_outliers):
    X, outlier = X_with_outliers
    model = GaussianMixture(1, random_state=0)
    once = OutlierDetector(model, refit_inliers=False).fit(X)
    assert once.n_fit_samples_ == len(X)
    first = once.score_samples(X)
    keep = first >= tukey_lower_fence(first)
    assert np.all(~keep[outlier == 1])  # the far rows are flagged by the first fit

    refit = OutlierDetector(model).fit(X)
    assert refit.n_fit_samples_ == keep.sum() < len(X)
    expected = clone(model).fit(X[keep]).score_samples(X)
    np.testing.assert_allclose(refit.score_samples(X), expected)
    assert refit.offset_ == tukey_lower_fence(expected)
    # the trimmed model scores the far rows lower, relative to the normal ones
    gap = np.median(first[outlier == 0]) - np.median(first[outlier == 1])
    assert np.median(expected[outlier == 0]) - np.median(expected[outlier == 1]) > gap


def test_refit_keeps_at_least_half_the_rows(rng):
    X = rng.normal(size=(40, 2))
    detector = OutlierDetector(PCA(1), contamination=0.5).fit(X)
    assert detector.n_fit_samples_ >= 20
