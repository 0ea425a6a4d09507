"""Every model starts at its classical counterpart's solution (issue 12).

The autoencoders start at PCA, the VAE at the maximum-likelihood factor model
with its exact posterior, the flow at a Gaussian mixture; with early stopping
the start is epoch 0, so a fit that cannot improve on it returns it.
"""

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from sklearn.datasets import load_wine
from sklearn.decomposition import PCA, FactorAnalysis
from sklearn.mixture import GaussianMixture
from sklearn.preprocessing import StandardScaler

from skae import VAE, AutoencoderTransformer, DenoisingAE, RealNVPDensity, _warm_start
from skae._warm_start import (
    _count_score,
    _fold_summary,
    _held_out_splits,
    broad_weight,
    factor_model,
    gaussian_mixture,
    mixture_ensemble,
    principal_axes,
)
from skae.modules.mixture import GaussianMixtureBase

# A step this small leaves every parameter where it started.
FROZEN = {"learning_rate_init": 1e-12, "max_iter": 1, "alpha": 0.0}


@pytest.fixture(scope="module")
def wine() -> np.ndarray:
    X, _ = load_wine(return_X_y=True)
    return StandardScaler().fit_transform(X)


def _pca_reconstruction(X, k):
    pca = PCA(k).fit(X)
    return pca.inverse_transform(pca.transform(X))


@pytest.mark.parametrize("k", [1, 3, 13, 20])
def test_principal_axes_match_pca(wine, k):
    axes = principal_axes(wine, k)
    rank = min(k, wine.shape[1])
    pca = PCA(rank).fit(wine)
    np.testing.assert_allclose(axes.variances[:rank], pca.explained_variance_)
    np.testing.assert_allclose(
        np.abs(axes.components[:rank] @ pca.components_.T), np.eye(rank), atol=1e-8
    )
    assert not axes.components[rank:].any() and not axes.variances[rank:].any()


@pytest.mark.parametrize("estimator", [AutoencoderTransformer, DenoisingAE])
@pytest.mark.parametrize("early_stopping", [False, True])
def test_autoencoder_starts_at_pca(wine, estimator, early_stopping):
    model = estimator(3, early_stopping=early_stopping, random_state=0, **FROZEN)
    if estimator is DenoisingAE:
        model.set_params(noise_level=0.1)
    model.fit(wine)
    reconstruction = model.inverse_transform(model.transform(wine))
    np.testing.assert_allclose(reconstruction, _pca_reconstruction(wine, 3), atol=1e-6)


@pytest.mark.parametrize("estimator", [AutoencoderTransformer, DenoisingAE])
def test_float64_start_is_exact_at_full_rank(estimator):
    # A float64 model starts at PCA to float64 precision: with an exact linear
    # dependency (a total column) and k = rank, PCA's error is round-off (1e-31)
    # and so is the start's (it was 1e-15 when the start went through float32).
    rng = np.random.default_rng(0)
    parts = rng.normal(size=(300, 5))
    X = np.c_[parts, parts.sum(axis=1)]
    model = estimator(5, random_state=0, early_stopping=False, **FROZEN).fit(X)
    assert model.net_.module_.encoder.linear.weight.dtype == torch.float64
    error = np.mean((X - model.inverse_transform(model.transform(X))) ** 2)
    assert error < 1e-18  # Adam steps of size 1e-12 (FROZEN) move it a little


def test_random_init_is_a_plain_mlp(wine):
    model = AutoencoderTransformer(3, init="random", random_state=0, **FROZEN)
    model.fit(wine)
    assert isinstance(model.net_.module_.encoder, torch.nn.Sequential)
    error = np.mean((wine - model.inverse_transform(model.transform(wine))) ** 2)
    assert error > 1.5 * np.mean((wine - _pca_reconstruction(wine, 3)) ** 2)


def test_start_is_epoch_zero(wine):
    """A fit whose every epoch is worse than the start returns the start."""
    model = AutoencoderTransformer(
        2, learning_rate_init=1.0, max_iter=5, n_iter_no_change=3, random_state=0
    ).fit(wine)
    assert model.initial_validation_loss_ <= min(model.validation_loss_curve_)
    assert model.best_loss_ == model.initial_validation_loss_
    reconstruction = model.inverse_transform(model.transform(wine))
    np.testing.assert_allclose(reconstruction, _pca_reconstruction(wine, 2), atol=1e-6)


def test_autoencoder_never_worse_than_pca_on_validation(wine):
    model = AutoencoderTransformer(4, random_state=0).fit(wine)
    assert model.best_loss_ <= model.initial_validation_loss_


def test_denoising_validation_is_one_fixed_corruption(wine):
    model = DenoisingAE(
        3, noise="masking", noise_level=0.3, learning_rate_init=1e-12, max_iter=4
    )
    model.set_params(alpha=0.0, n_iter_no_change=10, random_state=0).fit(wine)
    curve = model.validation_loss_curve_
    np.testing.assert_allclose(curve, curve[0], rtol=1e-9)
    clean = DenoisingAE(3, noise_level=0.0, random_state=0, **FROZEN).fit(wine)
    assert curve[0] > clean.initial_validation_loss_


def test_factor_model_posterior_is_exact():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3)) @ rng.normal(size=(3, 6)) + rng.normal(
        scale=0.5, size=(400, 6)
    )
    model = factor_model(X, 4, seed=0)
    loadings, noise = model.loadings, model.noise_variance
    precision = loadings.T @ (loadings / noise[:, None])
    np.testing.assert_allclose(precision, np.diag(np.diag(precision)), atol=1e-8)
    covariance = loadings @ loadings.T + np.diag(noise)
    fa = FactorAnalysis(4, svd_method="lapack").fit(X)
    np.testing.assert_allclose(covariance, fa.get_covariance(), atol=1e-8)
    # Exact posterior mean and covariance of the linear-Gaussian model.
    posterior_cov = np.linalg.inv(np.eye(4) + precision)
    np.testing.assert_allclose(np.diag(posterior_cov), model.posterior_variance)
    expected = posterior_cov @ (loadings / noise[:, None]).T
    np.testing.assert_allclose(model.posterior_weight, expected, atol=1e-10)


def test_factor_count_chosen_on_validation_rows():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(600, 2)) @ rng.normal(size=(2, 8)) + 0.3 * rng.normal(
        size=(600, 8)
    )
    model = factor_model(X, 6, seed=0, validation=np.arange(0, 600, 5))
    assert model.n_factors == 2
    assert not model.loadings[:, 2:].any()
    np.testing.assert_array_equal(model.posterior_variance[2:], 1.0)


def test_few_validation_rows_choose_the_factor_count_by_cross_validation():
    # 20 validation rows are too few to rank factor counts: the counts are
    # scored by 5-fold CV over all rows instead, as FactorAnalysis in a
    # GridSearchCV over the same counts would be, each count by the mean of
    # its three middle fold scores.
    from scipy.stats import trim_mean
    from sklearn.model_selection import GridSearchCV, KFold

    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 5)) @ rng.normal(size=(5, 12))
    X += rng.normal(size=(200, 12)) * rng.uniform(0.2, 1.0, 12)
    validation = np.arange(0, 200, 10)
    model = factor_model(X, 8, seed=0, validation=validation)
    folds = KFold(5, shuffle=True, random_state=0)
    search = GridSearchCV(
        FactorAnalysis(svd_method="lapack", random_state=0),
        {"n_components": [1, 2, 3, 4, 6, 8]},
        cv=folds,
    ).fit(X)
    results = search.cv_results_
    per_fold = np.array([results[f"split{i}_test_score"] for i in range(5)])
    middle = np.sort(per_fold, axis=0)[1:-1].mean(axis=0)
    np.testing.assert_allclose(middle, trim_mean(per_fold, 0.2, axis=0))
    assert model.n_factors == results["param_n_components"][np.argmax(middle)]
    splits = _held_out_splits(200, validation, seed=0)
    assert [len(rows) for _, rows in splits] == [40] * 5
    assert len(_held_out_splits(2000, np.arange(0, 2000, 10), seed=0)) == 1


def test_one_extreme_fold_does_not_choose_the_factor_count():
    # A fold of extreme rows scores every count far below the others: its
    # score and the best fold's are left out of the mean.
    assert _fold_summary([-5.0, -5.2, -4.8, -5.1, -9.0]) == pytest.approx(-5.1)
    assert _fold_summary([-5.0, -5.2, -4.8, -5.1, -1.0]) == pytest.approx(-14.9 / 3)
    # One held-out split is its own score; a fold whose fit failed rules the
    # count out.
    assert _fold_summary([-3.0]) == -3.0
    assert _fold_summary([-5.0, -np.inf, -4.8, -5.1, -5.0]) == -np.inf


def test_one_extreme_validation_row_does_not_choose_the_factor_count():
    # One validation split: its rows fall into five seeded parts, whose means
    # are averaged without the best and the worst, so that one row at
    # -10,000 nats (modeldata/Chicago) leaves the other four parts to decide.
    rows = np.r_[np.full(99, -1.0), -10_000.0]
    assert rows.mean() < -100
    assert _count_score([rows], seed=0) == pytest.approx(-1.0)
    assert _count_score([rows[:3]], seed=0) == pytest.approx(-1.0)  # < 5 rows
    folds = [np.full(10, mean) for mean in (-1.0, -2.0, -9.0, -1.5, -2.5)]
    assert _count_score(folds, seed=0) == pytest.approx(-2.0)


def test_factor_counts_whose_fit_breaks_down_are_skipped(monkeypatch):
    """An EM whose SVD does not converge (as on many one-hot columns) is
    not a crash: that count is given up, the best other one is kept."""
    fit = FactorAnalysis.fit

    def failing(self, X, y=None):
        if self.n_components >= 3:
            raise np.linalg.LinAlgError("SVD did not converge")
        return fit(self, X, y)

    monkeypatch.setattr(FactorAnalysis, "fit", failing)
    rng = np.random.default_rng(1)
    X = rng.normal(size=(600, 4)) @ rng.normal(size=(4, 8))
    X += 0.3 * rng.normal(size=(600, 8))
    model = factor_model(X, 6, seed=0, validation=np.arange(0, 600, 5))
    assert model.n_factors == 2
    assert factor_model(X, 6, seed=0).n_factors == 2

    def always(self, X, y=None):
        raise np.linalg.LinAlgError("SVD did not converge")

    monkeypatch.setattr(FactorAnalysis, "fit", always)
    with pytest.raises(ValueError, match="init='random'"):
        factor_model(X, 6, seed=0)


def test_vae_starts_at_factor_analysis(wine):
    vae = VAE(5, random_state=0, **FROZEN).fit(wine)
    # FactorAnalysis stops at tol=1e-2; fitted in the VAE's (re-standardised)
    # space it stops at a slightly different point.
    fa = FactorAnalysis(vae.n_factors_start_, svd_method="lapack").fit(wine)
    np.testing.assert_allclose(
        vae.score_samples(wine), fa.score_samples(wine), atol=2e-3
    )
    np.testing.assert_allclose(vae.noise_variance_, fa.noise_variance_, rtol=2e-2)


def test_vae_validation_bound_is_the_elbo_at_the_start(wine):
    """At the exact posterior every draw gives log p(x): the bound is tight."""
    vae = VAE(5, random_state=0, **FROZEN).fit(wine)
    assert vae.initial_validation_loss_ == pytest.approx(vae.validation_loss_curve_[0])


def test_bernoulli_vae_ignores_factor_start():
    X = (np.random.default_rng(0).random((60, 5)) > 0.5).astype(float)
    vae = VAE(2, likelihood="bernoulli", max_iter=2, random_state=0).fit(X)
    assert isinstance(vae.net_.module_.encoder, torch.nn.Sequential)


def test_mixture_base_matches_scikit_learn(wine):
    mixture = gaussian_mixture(wine, 3, seed=0)
    base = GaussianMixtureBase(mixture.weights_, mixture.means_, mixture.covariances_)
    log_prob = base.log_prob(torch.from_numpy(wine)).numpy()
    np.testing.assert_allclose(log_prob, mixture.score_samples(wine), rtol=1e-10)
    draws = base.sample(20000, np.random.RandomState(0))
    np.testing.assert_allclose(
        draws.mean(axis=0), mixture.means_.T @ mixture.weights_, atol=0.05
    )


def test_bic_choice_matches_scikit_learn():
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(size=(200, 2)), rng.normal(size=(200, 2)) + 6]
    chosen = gaussian_mixture(X, "bic", seed=0)
    bics = [
        GaussianMixture(k, n_init=3, random_state=0).fit(X).bic(X) for k in range(1, 9)
    ]
    assert chosen.n_components == 1 + int(np.argmin(bics)) == 2


def twelve_blobs() -> np.ndarray:
    """Twelve well-separated Gaussian blobs of 60 points on a 4 x 3 grid."""
    rng = np.random.default_rng(0)
    centres = 10.0 * np.c_[np.arange(12) % 4, np.arange(12) // 4]
    return np.concatenate([c + rng.normal(size=(60, 2)) for c in centres])


def test_bic_range_grows_while_its_top_is_best():
    """Twelve well-separated blobs: BIC's best of 1..8 is 8, so the range
    doubles and the twelve are found (and no more).  Sizes up to 8 are fitted
    with three EM starts, larger ones with one; the size chosen among those is
    then fitted with three, the first of which is the scan's."""
    X = twelve_blobs()
    chosen = gaussian_mixture(X, "bic", seed=0)
    bics = [
        GaussianMixture(k, n_init=3 if k <= 8 else 1, random_state=0).fit(X).bic(X)
        for k in range(1, 17)
    ]
    assert chosen.n_components == 1 + int(np.argmin(bics)) == 12
    three = GaussianMixture(12, n_init=3, random_state=0).fit(X)
    np.testing.assert_array_equal(chosen.means_, three.means_)
    one = GaussianMixture(12, random_state=0).fit(X)
    assert chosen.lower_bound_ >= one.lower_bound_


def test_bic_scan_beyond_eight_components_uses_one_em_start(monkeypatch):
    fits = []

    class Recorded(GaussianMixture):
        def fit(self, X, y=None):
            fits.append((self.n_components, self.n_init))
            return super().fit(X, y)

    monkeypatch.setattr(_warm_start, "GaussianMixture", Recorded)
    X = twelve_blobs()
    assert gaussian_mixture(X, "bic", seed=0).n_components == 12
    scan = [(k, 3) for k in range(1, 9)] + [(k, 1) for k in range(9, 17)]
    assert fits == [*scan, (12, 3)]


@pytest.mark.parametrize("covariance_type, per_component", [("full", 6), ("diag", 2)])
def test_bic_scan_gives_every_component_enough_rows(
    monkeypatch, covariance_type, per_component
):
    """Twelve blobs of 5 rows in 5 dimensions: BIC would keep tiny
    components whose covariances are their ``reg_covar`` floor; the scan
    tries no more than one full component per ``d + 1`` rows (a diagonal
    one per 2 rows)."""
    sizes = []

    class Recorded(GaussianMixture):
        def fit(self, X, y=None):
            sizes.append(self.n_components)
            return super().fit(X, y)

    monkeypatch.setattr(_warm_start, "GaussianMixture", Recorded)
    rng = np.random.default_rng(0)
    X = np.repeat(10.0 * rng.normal(size=(12, 5)), 5, axis=0)
    X += rng.normal(size=X.shape)
    chosen = gaussian_mixture(X, "bic", seed=0, covariance_type=covariance_type)
    limit = len(X) // per_component
    assert max(sizes) <= limit and chosen.n_components <= limit
    if covariance_type == "full":  # twelve blobs, ten components at most
        assert max(sizes) == chosen.n_components == limit == 10


def test_bic_scan_on_many_rows_uses_a_sample_then_all_rows(monkeypatch):
    """Above ``_SCAN_ROWS`` rows the size is chosen on a sample of that many
    rows (the same choice as on those rows alone, one EM start per size) and
    EM then continues from that solution on all rows: a maximum-likelihood fit
    to every row."""
    monkeypatch.setattr(_warm_start, "_SCAN_ROWS", 300)
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])
    X = np.concatenate([c + rng.normal(size=(400, 2)) for c in centres])
    chosen = gaussian_mixture(X, "bic", seed=0)
    sample = np.random.RandomState(0).choice(len(X), 300, replace=False)
    on_sample = gaussian_mixture(X[sample], "bic", 0, n_init=1)
    assert chosen.n_components == on_sample.n_components
    assert chosen.n_components == 3
    # Fitted to all rows: one more EM step from it hardly moves it.
    full = GaussianMixture(3, random_state=0).fit(X)
    assert chosen.score(X) == pytest.approx(full.score(X), abs=1e-3)
    assert chosen.score(X) > on_sample.score(X)
    again = gaussian_mixture(X, "bic", seed=0)
    np.testing.assert_array_equal(chosen.means_, again.means_)


def test_auto_choice_is_made_on_held_out_rows():
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(size=(200, 2)), rng.normal(size=(200, 2)) + 6]
    validation = np.arange(0, 400, 5)
    train = np.setdiff1d(np.arange(400), validation)
    held_out = [
        GaussianMixture(k, n_init=3, random_state=0).fit(X[train]).score(X[validation])
        for k in range(1, 9)
    ]
    chosen = gaussian_mixture(X, "auto", seed=0, validation=validation)
    assert chosen.n_components == 1 + int(np.argmax(held_out))
    # refitted on all rows
    refit = GaussianMixture(chosen.n_components, n_init=3, random_state=0).fit(X)
    np.testing.assert_allclose(chosen.means_, refit.means_)
    assert gaussian_mixture(X, "auto", seed=0).n_components == 2  # BIC without


def test_one_class_digits_flow_ranks_the_other_digits_lower():
    # 178 zeros and 9 other digits in 51 pixels: BIC gives the base a
    # component of a few rows (its covariance the EM's reg_covar), so the flow
    # scores them far above the zeros (ROC-AUC 0.22 with this seed); the
    # held-out choice does not.
    from sklearn.datasets import load_digits
    from sklearn.metrics import roc_auc_score

    X, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(1)
    others = rng.choice(np.flatnonzero(y != 0), 9, replace=False)
    X = np.r_[X[y == 0], X[others]]
    outlier = np.r_[np.zeros((y == 0).sum()), np.ones(9)]
    X = X[:, X.std(axis=0) > 0]
    flow = RealNVPDensity(n_base_components="auto", random_state=0).fit(X)
    scores = flow.score_samples(X)
    assert scores[outlier == 1].max() < np.median(scores[outlier == 0])
    assert roc_auc_score(outlier, -scores) > 0.9


@pytest.mark.parametrize("n_base_components", [3, "bic"])
def test_flow_starts_at_the_mixture(wine, n_base_components):
    # An int: that one mixture; 'bic': the average of five BIC-chosen
    # mixtures from consecutive EM seeds.
    flow = RealNVPDensity(
        n_base_components=n_base_components,
        early_stopping=False,
        dequantize=False,  # the start fitted to the rows as they are
        random_state=0,
        **FROZEN,
    ).fit(wine)
    standardised = (wine - flow.mean_) / flow.scale_
    seed = flow.net_.iterator_train__seed
    mixtures = mixture_ensemble(standardised, n_base_components, seed)
    assert len(mixtures) == (1 if n_base_components == 3 else 5)
    assert flow.base_mixture_sizes_ == tuple(m.n_components for m in mixtures)
    assert flow.n_base_components_ == sum(flow.base_mixture_sizes_)
    if n_base_components == "bic":
        assert [m.random_state for m in mixtures] == [seed + i for i in range(5)]
    log_mixture = logsumexp(
        [m.score_samples(standardised) for m in mixtures], axis=0
    ) - np.log(len(mixtures))
    w = flow.whitening_
    broad = GaussianMixtureBase(np.ones(1), np.zeros((1, 13)), (w.T @ w)[None])
    whitened = torch.from_numpy(standardised @ flow.whitening_)
    broad_weight = 1 / (len(wine) + 1)  # no validation rows: one row's share
    expected = (
        np.logaddexp(
            np.log1p(-broad_weight) + log_mixture,
            np.log(broad_weight)
            + broad.log_prob(whitened).numpy()
            + np.linalg.slogdet(flow.whitening_)[1],
        )
        - np.log(flow.scale_).sum()
    )
    np.testing.assert_allclose(flow.score_samples(wine), expected, atol=1e-5)


@pytest.mark.parametrize("outlier_share", [0.0, 0.05, 0.2])
def test_broad_weight_maximises_the_held_out_likelihood(outlier_share):
    # The weight is the ML weight of the broad N(0, I) on the validation rows
    # (mixture fitted to the others), floored at one row's share.
    rng = np.random.default_rng(0)
    X = rng.normal(0, 0.1, (600, 2)) + rng.choice([-2, 2], (600, 1))
    far = rng.random(600) < outlier_share
    X[far] = rng.uniform(-4, 4, (far.sum(), 2))
    validation = np.arange(0, 600, 4)
    w = broad_weight(X, 2, seed=0, validation=validation)
    floor = 1 / 601
    mixture = gaussian_mixture(np.delete(X, validation, 0), 2, seed=0)
    log_mixture = mixture.score_samples(X[validation])
    log_broad = -0.5 * (X[validation] ** 2).sum(1) - np.log(2 * np.pi)

    def held_out(weight):
        return np.logaddexp(
            np.log1p(-weight) + log_mixture, np.log(weight) + log_broad
        ).sum()

    assert floor <= w <= 0.5
    # The maximum over [floor, 0.5]: no better weight just above or below.
    assert held_out(w) >= held_out(w * 1.1)
    if w > floor:
        assert held_out(w) >= held_out(w * 0.9)
    if outlier_share == 0:
        assert w == floor
    elif outlier_share == 0.05:  # the two tight components miss these rows
        assert w > 10 * floor
    assert broad_weight(X, 2, seed=0) == floor  # no validation rows


def test_broad_weight_on_many_rows_fits_a_sample(monkeypatch):
    # Above _SCAN_ROWS training rows the held-out mixtures are fitted to a
    # sample of them: the weight still finds rows off both clusters.
    monkeypatch.setattr(_warm_start, "_SCAN_ROWS", 200)
    rng = np.random.default_rng(1)
    X = rng.normal(0, 0.1, (1200, 2)) + rng.choice([-2, 2], (1200, 1))
    validation = np.arange(0, 1200, 4)
    floor = 1 / 1201
    assert broad_weight(X, 2, seed=0, validation=validation) == floor
    far = rng.random(1200) < 0.05
    X[far] = rng.uniform(-4, 4, (far.sum(), 2))
    assert broad_weight(X, 2, seed=0, validation=validation) > 10 * floor


def test_flow_with_one_base_component_is_the_standard_normal(wine):
    flow = RealNVPDensity(n_base_components=1, max_iter=2, random_state=0).fit(wine)
    assert flow.net_.module_.base is None


def test_far_point_keeps_a_gaussian_log_density(wine):
    flow = RealNVPDensity(n_base_components=4, max_iter=30, random_state=0).fit(wine)
    far = wine[:3] + 30.0
    assert np.all(flow.score_samples(far) > -1e4)
    assert np.all(np.isfinite(flow.sample(50, random_state=0)))


def test_autoencoder_branches_are_not_boxed(wine):
    """The autoencoder's residual branches read every input as it is."""
    model = AutoencoderTransformer(3, early_stopping=False, max_iter=5).fit(wine)
    for layer in (model.net_.module_.encoder, model.net_.module_.decoder):
        assert torch.isinf(layer.box_low).all() and torch.isinf(layer.box_high).all()


def test_vae_residual_branches_are_boxed(wine):
    """Beyond the training box the maps are affine: the residual stays put."""
    model = VAE(3, early_stopping=False, max_iter=20, random_state=0)
    model.fit(wine)
    encoder = model.net_.module_.encoder
    assert (
        torch.isfinite(encoder.box_low).all() and torch.isfinite(encoder.box_high).all()
    )
    beyond = 60.0 + 10.0 * np.arange(4)[:, None] + np.zeros((4, wine.shape[1]))
    far = torch.from_numpy(model.preprocessor_.transform(beyond))
    farther = 2.0 * far
    with torch.no_grad():
        step = encoder(farther) - encoder(far)
        linear = encoder.linear(farther) - encoder.linear(far)
    torch.testing.assert_close(step, linear, rtol=1e-7, atol=1e-7)
    assert np.all(np.isfinite(model.score_samples(beyond)))
