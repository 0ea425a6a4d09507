"""Conditional models p(x | y) and the generative classifier."""

import pickle

import numpy as np
import pytest
from scipy.special import logsumexp
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import KernelDensity

from skae import (
    ConditionalRealNVPDensity,
    ConditionalVAE,
    GenerativeClassifier,
    RealNVPDensity,
)
from skae.modules.mixture import ClassMixtureBase


def small_flow(**params):
    base = {
        "n_layers": 2,
        "hidden_layer_sizes": (8,),
        "max_iter": 5,
        "n_base_components": 1,
        "random_state": 0,
    }
    return ConditionalRealNVPDensity(**{**base, **params})


@pytest.fixture(scope="module")
def labelled():
    """Three classes in 3-D, each a correlated Gaussian of its own."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.array(["a", "b", "c"]), 60)
    centres = {"a": [0.0, 0.0, 0.0], "b": [4.0, 0.0, 2.0], "c": [0.0, 4.0, -2.0]}
    X = rng.normal(size=(180, 3)) @ np.array([[1, 0.5, 0], [0, 1, 0.5], [0, 0, 1]])
    X += np.array([centres[label] for label in y])
    return X, y


@pytest.fixture(scope="module")
def fitted(labelled):
    X, y = labelled
    return small_flow().fit(X, y)


def test_the_context_changes_the_density(fitted, labelled):
    X, y = labelled
    own = fitted.score_samples(X, y)
    other = fitted.score_samples(X, np.roll(y, 60))
    assert own.mean() > other.mean() + 5
    assert isinstance(fitted.net_.module_.base, ClassMixtureBase)
    assert fitted.score(X, y) == pytest.approx(own.mean())


def test_without_y_the_score_is_the_marginal(fitted, labelled):
    X, _ = labelled
    joint = np.column_stack(
        [fitted.score_samples(X, np.full(len(X), c)) for c in "abc"]
    ) + np.log(1 / 3)
    np.testing.assert_allclose(fitted.score_samples(X), logsumexp(joint, axis=1))
    np.testing.assert_allclose(fitted.joint_log_density(X), joint)
    # transform without y uses the most probable label
    best = np.array(list("abc"))[joint.argmax(axis=1)]
    np.testing.assert_array_equal(fitted.transform(X), fitted.transform(X, best))


def test_sample_broadcasts_a_label_and_follows_an_array(fitted):
    one = fitted.sample(5, y="b", random_state=0)
    assert one.shape == (5, 3)
    np.testing.assert_array_equal(one, fitted.sample(5, y=["b"] * 5, random_state=0))
    rows = fitted.sample(y=["a", "c", "c"], random_state=0)
    assert rows.shape == (3, 3)
    many = fitted.sample(300, y="b", random_state=0)
    assert np.allclose(many.mean(axis=0), [4.0, 0.0, 2.0], atol=0.5)
    assert fitted.sample(4, random_state=0).shape == (4, 3)  # labels drawn
    with pytest.raises(ValueError, match="one sample per entry"):
        fitted.sample(4, y=["a", "b"])


def test_inverse_transform_undoes_transform(fitted, labelled):
    X, y = labelled
    Z = fitted.transform(X[:10], y[:10])
    np.testing.assert_allclose(fitted.inverse_transform(Z, y[:10]), X[:10], atol=1e-6)


def test_bad_y_gets_a_clear_error(fitted, labelled):
    X, y = labelled
    with pytest.raises(ValueError, match="requires y to be passed"):
        small_flow().fit(X)
    with pytest.raises(ValueError, match="one row per row of X"):
        small_flow().fit(X, y[:-1])
    with pytest.raises(ValueError, match="NaN"):
        small_flow().fit(X, np.where(np.arange(180) == 3, np.nan, 1.0))
    with pytest.raises(ValueError, match=r"not seen in fit.*known labels"):
        fitted.score_samples(X[:2], ["a", "z"])
    with pytest.raises(ValueError, match=r"not seen in fit"):
        fitted.sample(2, y="z")
    with pytest.raises(ValueError, match="1d array"):
        fitted.score_samples(X[:2], np.array([["a", "b"], ["a", "b"]]))
    with pytest.raises(ValueError, match="rows"):
        fitted.score_samples(X[:3], y[:2])
    with pytest.raises(TypeError, match="sparse"):
        import scipy.sparse as sp

        small_flow().fit(sp.csr_matrix(X), y)


def test_numeric_context(labelled):
    X, _ = labelled
    covariate = X[:, 0] + np.random.default_rng(1).normal(size=len(X))
    model = small_flow(max_iter=20).fit(X[:, 1:], covariate)
    assert model.context_encoder_.classes_ is None
    scores = model.score_samples(X[:, 1:], covariate)
    assert scores.shape == (len(X),) and np.isfinite(scores).all()
    assert np.isfinite(model.score_samples(X[:, 1:])).all()  # marginal
    assert model.sample(3, y=1.5, random_state=0).shape == (3, 2)
    assert model.sample(y=[0.0, 1.0], random_state=0).shape == (2, 2)
    two = small_flow().fit(X[:, :1], X[:, 1:])  # 2-D covariates
    assert two.context_encoder_.n_context_ == 2
    assert two.sample(2, y=[0.0, 1.0], random_state=0).shape == (2, 1)


def test_reproducible_bit_for_bit(labelled):
    X, y = labelled
    a, b = small_flow().fit(X, y), small_flow().fit(X, y)
    np.testing.assert_array_equal(a.score_samples(X, y), b.score_samples(X, y))
    np.testing.assert_array_equal(
        a.sample(4, y="c", random_state=3), b.sample(4, y="c", random_state=3)
    )


def test_far_points_keep_a_sane_log_density(fitted, labelled):
    X, y = labelled
    far = X[:5] + 1e3
    scores = fitted.score_samples(far, y[:5])
    assert np.isfinite(scores).all()
    # of the order of a standard Gaussian's at that distance, not far below
    gaussian = -0.5 * ((far - X.mean(0)) / X.std(0)) ** 2
    assert (scores > 10 * gaussian.sum(axis=1)).all()


def test_the_start_is_one_gaussian_per_class(labelled):
    """Epoch 0 is each class's Gaussian beside a broad component of weight
    1 / (n + 1): GaussianMixture's density, to round-off."""
    from scipy.stats import multivariate_normal

    X, y = labelled
    model = small_flow(max_iter=1, learning_rate_init=1e-12, early_stopping=False)
    model.fit(X, y)
    scale = model.preprocessor_.scale_
    for label in "abc":
        rows = X[y == label]
        gm = GaussianMixture(1, reg_covar=1e-6 * scale.min() ** 2).fit(rows)
        weight = 1 / (len(rows) + 1)
        broad = multivariate_normal(rows.mean(axis=0), np.diag(scale**2))
        expected = np.logaddexp(
            np.log1p(-weight) + gm.score_samples(rows),
            np.log(weight) + broad.logpdf(rows),
        )
        got = model.score_samples(rows, np.full(len(rows), label))
        np.testing.assert_allclose(got, expected, atol=1e-3)


def test_classifier_over_the_conditional_flow(fitted, labelled):
    X, y = labelled
    clf = GenerativeClassifier(small_flow(), random_state=0).fit(X, y)
    np.testing.assert_array_equal(clf.classes_, ["a", "b", "c"])
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert clf.score(X, y) > 0.9  # chance is 1/3
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X)), proba)
    # Bayes' rule on the model's own log p(x | y)
    likelihood = clf.class_log_likelihood(X)
    expected = likelihood + np.log(clf.class_prior_)
    expected = np.exp(expected - logsumexp(expected, axis=1, keepdims=True))
    np.testing.assert_allclose(proba, expected)


@pytest.mark.parametrize(
    "density",
    [
        GaussianMixture(random_state=0),
        KernelDensity(bandwidth=0.5),
        RealNVPDensity(n_layers=2, hidden_layer_sizes=(8,), max_iter=5, random_state=0),
    ],
    ids=["GaussianMixture", "KernelDensity", "RealNVPDensity"],
)
def test_classifier_over_one_density_per_class(density, labelled):
    X, y = labelled
    clf = GenerativeClassifier(density).fit(X, y)
    assert len(clf.estimators_) == 3 and clf.estimator_ is None
    assert clf.score(X, y) > 0.9
    assert clf.predict(X[:3]).dtype == y.dtype


def test_classifier_priors_and_far_rows(labelled):
    X, y = labelled
    clf = GenerativeClassifier(KernelDensity(bandwidth=0.1), priors=[0.8, 0.1, 0.1])
    clf.fit(X, y)
    np.testing.assert_array_equal(clf.class_prior_, [0.8, 0.1, 0.1])
    far = clf.predict_proba(X[:2] + 1e4)
    assert np.isfinite(far).all()
    np.testing.assert_allclose(far.sum(axis=1), 1.0)
    uniform = GenerativeClassifier(KernelDensity(bandwidth=0.5)).fit(X, y)
    # the priors move the decision: class "a" wins where the likelihoods tie
    tie = X[(y == "a") | (y == "b")].mean(axis=0, keepdims=True)
    assert clf.predict_proba(tie)[0, 0] > uniform.predict_proba(tie)[0, 0]
    with pytest.raises(ValueError, match="priors"):
        GenerativeClassifier(KernelDensity(), priors=[0.5, 0.5]).fit(X, y)


@pytest.mark.parametrize("how", ["pickle", "skops"])
@pytest.mark.parametrize("model", ["flow", "vae"])
def test_persistence_round_trip(fitted, labelled, how, model):
    X, y = labelled
    if model == "vae":  # its class factors are buffers set by the start
        fitted = small_vae(max_iter=2).fit(X, y)
    if how == "skops":
        sio = pytest.importorskip("skops.io")
        data = sio.dumps(fitted)
        loaded = sio.loads(data, trusted=sio.get_untrusted_types(data=data))
    else:
        loaded = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(
        loaded.score_samples(X, y), fitted.score_samples(X, y)
    )
    np.testing.assert_array_equal(
        loaded.sample(3, y="a", random_state=0), fitted.sample(3, y="a", random_state=0)
    )


def test_onnx_export_names_what_is_not_exported(fitted, labelled):
    pytest.importorskip("skl2onnx")
    from skae.onnx import to_onnx

    with pytest.raises(NotImplementedError, match="context"):
        to_onnx(fitted, labelled[0][:1], method="score_samples")


# ------------------------------------------------------------ ConditionalVAE
def small_vae(**params):
    base = {"n_components": 2, "hidden_layer_sizes": (8,), "max_iter": 5}
    return ConditionalVAE(**{**base, "random_state": 0, **params})


def test_vae_starts_at_the_class_means(labelled):
    X, y = labelled
    model = small_vae(max_iter=1, learning_rate_init=1e-12, early_stopping=False)
    model.fit(X, y)
    # the decoded origin of each class is its mean plus the shared factor
    # model's mean (zero on the within-class residuals)
    for label in "abc":
        centre = model.inverse_transform(np.zeros((1, 2)), [label])[0]
        np.testing.assert_allclose(centre, X[y == label].mean(axis=0), atol=1e-6)
    own = model.score_samples(X, y)
    assert own.mean() > model.score_samples(X, np.roll(y, 60)).mean() + 5


def test_vae_surface(labelled):
    X, y = labelled
    model = small_vae().fit(X, y)
    assert len(model.class_densities_) == 3  # one defensive density per class
    assert 1 / (len(X) + 1) <= model.defensive_weight_ <= len(X) / (len(X) + 1)
    assert model.transform(X[:4], y[:4]).shape == (4, 2)
    assert model.transform(X[:4]).shape == (4, 2)
    assert np.isfinite(model.score_samples(X[:4])).all()
    one = model.sample(6, y="c", random_state=0, noise=True)
    assert one.shape == (6, 3)
    many = model.sample(400, y="c", random_state=0)
    assert np.allclose(many.mean(axis=0), X[y == "c"].mean(axis=0), atol=0.5)
    assert model.sample(y=["a", "b"], random_state=1).shape == (2, 3)
    again = small_vae().fit(X, y)
    np.testing.assert_array_equal(model.score_samples(X, y), again.score_samples(X, y))
    far = model.score_samples(X[:3] + 1e3, y[:3])
    assert np.isfinite(far).all()
    with pytest.raises(ValueError, match="not seen in fit"):
        model.score_samples(X[:1], ["q"])
    with pytest.raises(ValueError, match="likelihood='gaussian' only"):
        small_vae(likelihood="bernoulli").fit(np.clip(X, 0, 1), y)
    with pytest.raises(ValueError, match="missing"):
        small_vae().fit(np.where(X > 5, np.nan, X), y)


def test_vae_on_images(labelled):
    X, y = labelled
    X4 = np.hstack([X, X[:, :1]])
    model = small_vae(image_shape=(1, 2, 2), channels=4, max_iter=2).fit(X4, y)
    assert model.sample(3, y="a", random_state=0).shape == (3, 4)
    assert np.isfinite(model.score_samples(X4, y)).all()


def test_vae_starts_at_each_class_factor_model():
    """Classes of different spreads: the start gives each its own covariance."""
    rng = np.random.default_rng(1)
    y = np.repeat(["narrow", "wide"], 150)
    X = rng.normal(size=(300, 4)) @ np.array(
        [[1, 0.8, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0.5], [0, 0, 0, 1]]
    )
    X[y == "wide"] *= 3.0
    model = small_vae(max_iter=1, learning_rate_init=1e-12, early_stopping=False)
    model.fit(X, y)
    factors = model.net_.module_.class_factors
    assert factors is not None and factors.shape == (2, 4, 4)
    narrow = model.sample(3000, y="narrow", random_state=0, noise=True)
    wide = model.sample(3000, y="wide", random_state=0, noise=True)
    np.testing.assert_allclose(wide.std(axis=0) / narrow.std(axis=0), 3.0, rtol=0.2)
    # each class scored under its own Gaussian: far better than swapped labels
    own = model.score_samples(X, y).mean()
    assert own > model.score_samples(X, np.where(y == "wide", "narrow", "wide")).mean()
    # the start is each class's maximum-likelihood Gaussian (a factor model)
    for label in ("narrow", "wide"):
        rows = X[y == label]
        centred = rows - rows.mean(axis=0)
        cov = centred.T @ centred / len(rows)
        _, log_det = np.linalg.slogdet(cov)
        quad = np.einsum("ni,ij,nj->n", centred, np.linalg.inv(cov), centred)
        gaussian = -0.5 * (quad + log_det + 4 * np.log(2 * np.pi))
        score = model.score_samples(rows, [label] * len(rows))
        assert abs(score.mean() - gaussian.mean()) < 0.3


@pytest.mark.slow  # about 12 s: four BIC mixture ensembles per class
def test_vae_defensive_density_follows_a_class_of_two_groups():
    """A class of two far groups: its defensive density is a mixture, chosen
    on its validation rows, and the learnt weight makes the model follow both
    groups; without validation rows each class keeps its factor model."""
    rng = np.random.default_rng(2)
    y = np.repeat(["two", "one"], [200, 100])
    X = rng.normal(size=(300, 2)) * 0.3
    X[:100, 0] += 4.0  # "two": groups at x0 = +4 and x0 = -4
    X[100:200, 0] -= 4.0
    model = small_vae(max_iter=3).fit(X, y)
    assert list(model.context_reference_) == ["one", "two"]
    assert len(model.class_densities_[1][0]) >= 2  # "two": several components
    floor = 1.0 / (len(X) + 1)
    assert floor < model.defensive_weight_ <= 1 - floor
    # far above one Gaussian fitted to the two groups
    rows = X[y == "two"]
    centred = rows - rows.mean(axis=0)
    cov = centred.T @ centred / len(rows)
    _, log_det = np.linalg.slogdet(cov)
    quad = np.einsum("ni,ij,nj->n", centred, np.linalg.inv(cov), centred)
    gaussian = -0.5 * (quad + log_det + 2 * np.log(2 * np.pi))
    assert model.score_samples(rows, y[y == "two"]).mean() > gaussian.mean() + 1.0
    draws = model.sample(2000, y="two", random_state=0, noise=True)
    near = np.abs(np.abs(draws[:, 0]) - 4.0) < 1.5
    assert near.mean() > model.defensive_weight_ * 0.9
    plain = small_vae(max_iter=3, early_stopping=False).fit(X, y)
    assert [len(w) for w, _, _ in plain.class_densities_] == [1, 1]
    assert plain.defensive_weight_ == floor
