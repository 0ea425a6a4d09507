"""The classical solutions a skae model starts from, computed in model space.

* :func:`principal_axes`: PCA's axes and variances (the autoencoder's start);
* :func:`factor_model`: the maximum-likelihood factor model, rotated so that
  its exact posterior is diagonal (the VAE's start);
* :func:`gaussian_mixture`: a full-covariance Gaussian mixture, the number of
  components chosen by BIC (the flow's base density).

Each takes float64 model-space rows and returns plain NumPy arrays.
"""

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp
from scipy.stats import trim_mean
from sklearn.decomposition import FactorAnalysis
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import KFold
from sklearn.utils._testing import ignore_warnings

_MAX_MIXTURE = 32  # most components of a Gaussian-mixture base
_BASE_MIXTURES = 5  # BIC-chosen mixtures averaged by mixture_ensemble
_SCAN_ROWS = 2500  # more rows: a mixture's size is chosen on a sample of this many
# More rows x features^2 (an EM step's cost): one EM start per scanned size.
_SCAN_START_WORK = 8e6
_MAX_NOISE_FACTORS = 128  # most factors of a low-rank decoder noise
_MIN_HELD_OUT = 100  # fewer validation rows: factor counts scored by K-fold CV
_FOLDS = 5
_SCAN_TOL = 1e-4  # a factor count's EM stops below this rise per row and step
_TRIMMED = 0.2  # share of the fold scores cut from each end before averaging
# Work budgets, in SVD multiply-adds (rows x columns x rank per EM iteration,
# about 1e9 a second here): the factor-count scan's fits, then the final fit
# (docs/concepts.md#the-factor-count-and-low-rank-noise).
_SCAN_WORK = 3e9
_FIT_WORK = 2e9
_MIN_SCAN_ITER = 20  # fewest EM iterations a scanned count gets
_MIN_FIT_ITER = 100  # fewest EM iterations of the final fit


@dataclass(frozen=True)
class PrincipalAxes:
    """PCA of the rows: ``mean``, ``components`` (k, d) and their ``variances``.

    Components beyond the rank of the data (an over-complete code, or fewer
    rows than components) are zero rows with zero variance.
    """

    mean: np.ndarray
    components: np.ndarray
    variances: np.ndarray


def principal_axes(X: np.ndarray, n_components: int) -> PrincipalAxes:
    """The first ``n_components`` principal axes of ``X`` (deterministic signs).

    Examples
    --------
    >>> import numpy as np
    >>> from skae._warm_start import principal_axes
    >>> X = np.array([[0.0, 0.0], [2.0, 0.0], [4.0, 0.1]])
    >>> axes = principal_axes(X, 3)
    >>> axes.components.shape, bool(axes.variances[2] == 0)
    ((3, 2), True)
    """
    n, d = X.shape
    mean = X.mean(axis=0)
    _, singular, vt = np.linalg.svd(X - mean, full_matrices=False)
    rank = min(n_components, vt.shape[0])
    signs = np.sign(vt[np.arange(vt.shape[0]), np.argmax(np.abs(vt), axis=1)])
    vt = vt * np.where(signs == 0, 1.0, signs)[:, None]
    components = np.zeros((n_components, d))
    components[:rank] = vt[:rank]
    variances = np.zeros(n_components)
    variances[:rank] = singular[:rank] ** 2 / max(n - 1, 1)
    return PrincipalAxes(mean, components, variances)


def probabilistic_pca_noise(X: np.ndarray, axes: PrincipalAxes) -> float:
    """Probabilistic PCA's noise standard deviation beyond ``axes``.

    The maximum-likelihood isotropic noise variance of probabilistic PCA
    with ``k`` factors is the mean variance of the ``d - k`` discarded
    principal components (Tipping and Bishop, 1999, eq. 8): the total
    variance of ``X`` less that of the ``k`` axes, over ``d - k``.  Zero when
    ``k >= d``.

    Examples
    --------
    >>> import numpy as np
    >>> from skae._warm_start import principal_axes, probabilistic_pca_noise
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(2000, 1)) @ [[3.0, 3.0, 3.0]] + rng.normal(size=(2000, 3))
    >>> round(probabilistic_pca_noise(X, principal_axes(X, 1)), 1)
    1.0
    """
    n, d = X.shape
    k = axes.components.shape[0]
    if k >= d:
        return 0.0
    total = np.sum((X - axes.mean) ** 2) / max(n - 1, 1)
    rest = max(float(total - axes.variances.sum()), 0.0)
    return float(np.sqrt(rest / (d - k)))


@dataclass(frozen=True)
class FactorModel:
    """``x = loadings @ z + mean + e``, ``z ~ N(0, I)``, ``e ~ N(0, diag noise)``.

    The loadings (d, k) are rotated so that ``loadings.T @ diag(1/noise) @
    loadings`` is diagonal; then the exact posterior ``p(z | x)`` is the
    diagonal Gaussian with mean ``posterior_weight @ (x - mean)`` and variance
    ``posterior_variance``.  Unused latent dimensions (beyond the chosen
    factor count) have zero loadings and the prior as posterior.  Factors
    beyond the latent dimensions (the least determined ones, of smallest
    ``loadings.T @ diag(1/noise) @ loadings`` eigenvalue) are
    ``noise_factors`` (d, rank): integrated out, they make the noise
    covariance ``diag(noise) + noise_factors @ noise_factors.T``, and the
    posterior of the latent factors stays the exact, diagonal one.
    """

    mean: np.ndarray
    loadings: np.ndarray
    noise_variance: np.ndarray
    posterior_weight: np.ndarray
    posterior_variance: np.ndarray
    n_factors: int
    noise_factors: np.ndarray


def _rotated(
    fa: FactorAnalysis,
    mean: np.ndarray,
    n_latent: int,
    min_noise: float,
    max_noise_rank: int = 0,
) -> FactorModel:
    noise = np.maximum(fa.noise_variance_, min_noise)
    # The SVD of the whitened loadings Psi^{-1/2} L = U S V^T rotates them
    # (L V = Psi^{1/2} U S) and gives the posterior's precision 1 + S^2
    # without squaring the condition number: features the factors determine
    # (noise 1e-12) need the posterior mean to about 1e-6.
    root = np.sqrt(noise)
    u, singular, _ = np.linalg.svd(
        fa.components_.T / root[:, None], full_matrices=False
    )
    signs = np.sign(u[np.argmax(np.abs(u), axis=0), np.arange(u.shape[1])])
    u = u * np.where(signs == 0, 1.0, signs)
    loadings = root[:, None] * u * singular
    extra = loadings[:, n_latent : n_latent + max_noise_rank]
    loadings, u, singular = (
        loadings[:, :n_latent],
        u[:, :n_latent],
        singular[:n_latent],
    )
    k = loadings.shape[1]
    posterior_variance = np.ones(n_latent)
    posterior_variance[:k] = 1.0 / (1.0 + singular**2)
    padded = np.zeros((mean.shape[0], n_latent))
    padded[:, :k] = loadings
    weight = np.zeros((n_latent, mean.shape[0]))
    weight[:k] = (u / root[:, None]).T * (singular * posterior_variance[:k])[:, None]
    n_factors = k + extra.shape[1]
    return FactorModel(
        mean, padded, noise, weight, posterior_variance, n_factors, extra
    )


def _iteration_work(n: int, d: int, k: int) -> float:
    """Multiply-adds of one EM iteration of FactorAnalysis(k) on ``n x d`` rows
    (its SVD: exact on small tables, randomized beyond, as :func:`_fit_fa`)."""
    rank = min(n, d) if n * d <= 200_000 else min(n, d, 8 * (k + 10))
    return float(n * d * rank)


@ignore_warnings(category=ConvergenceWarning)
def _fit_fa(
    X: np.ndarray, k: int, seed: int, tol: float = 1e-2, max_iter: int = 1000
) -> FactorAnalysis | None:
    """FactorAnalysis(k) of ``X``, or None when its EM breaks down.

    ``tol`` is FactorAnalysis's: the smallest rise of the total (not per-row)
    log-likelihood that keeps EM going; ``max_iter`` its most EM iterations.
    Exact SVDs on small tables; scikit-learn's randomized SVD (its default)
    once every EM iteration's full SVD would cost seconds.  On some tables
    (many one-hot columns) an EM iteration's SVD fails to converge for a
    large ``k``; the other SVD is tried, then the count is given up.
    """
    methods = ["lapack", "randomized"]
    if X.shape[0] * X.shape[1] > 200_000:
        methods.reverse()
    for method in methods:
        try:
            # Constant or duplicated columns (a one-category one-hot block)
            # give zero singular values, whose log FactorAnalysis takes; the
            # result is checked below.
            with np.errstate(divide="ignore", invalid="ignore"):
                fa = FactorAnalysis(
                    k, svd_method=method, tol=tol, max_iter=max_iter, random_state=seed
                ).fit(X)
        except (np.linalg.LinAlgError, ValueError):
            continue
        if np.isfinite(fa.components_).all() and np.isfinite(fa.noise_variance_).all():
            return fa
    return None


def _fa_log_likelihood(fa: FactorAnalysis, X: np.ndarray) -> np.ndarray:
    """``fa.score_samples(X)`` through the Woodbury identity: O(d k^2), not the
    O(d^3) of the full precision matrix on wide tables."""
    W, psi = fa.components_, fa.noise_variance_
    centred = X - fa.mean_
    scaled = W / psi  # (k, d)
    inner = np.eye(len(W)) + scaled @ W.T  # I + W Psi^-1 W^T
    chol = np.linalg.cholesky(inner)
    projected = np.linalg.solve(chol, scaled @ centred.T)  # (k, n)
    quadratic = (centred**2 / psi).sum(axis=1) - (projected**2).sum(axis=0)
    log_det = np.log(psi).sum() + 2.0 * np.log(np.diagonal(chol)).sum()
    return -0.5 * (quadratic + log_det + X.shape[1] * np.log(2 * np.pi))


class _ScanBudget:
    """EM iterations for the scan's fits, drawn from one work budget.

    Each fit gets the iterations that an equal share of what is left buys
    (at least ``_MIN_SCAN_ITER``, at most 1000); a fit that converges sooner
    leaves its share to the next.  The budget depends only on the data, so
    the scan stays reproducible.
    """

    def __init__(self, n_fits: int, work: float = _SCAN_WORK) -> None:
        self.fits_left, self.work_left = n_fits, work

    def max_iter(self, per_iteration: float) -> int:
        share = self.work_left / max(self.fits_left, 1) / per_iteration
        return int(np.clip(share, _MIN_SCAN_ITER, 1000))

    def spend(self, fa: FactorAnalysis | None, per_iteration: float) -> None:
        self.fits_left -= 1
        if fa is not None:
            self.work_left = max(self.work_left - fa.n_iter_ * per_iteration, 0.0)


def _held_out_rows(
    X, train, validation, k: int, seed: int, budget: _ScanBudget
) -> np.ndarray:
    """Per-row log-likelihoods of ``validation`` under FactorAnalysis(k) of ``train``.

    All -inf when the count cannot be fitted.
    """
    if len(train) <= k:
        budget.spend(None, 1.0)
        return np.full(len(validation), -np.inf)
    # Ranking counts needs each held-out score to about 0.01 nats, not EM
    # run to FactorAnalysis's 1e-2 nats in total: 1e-4 nats per row stops EM
    # far sooner on large tables at a negligible cost in held-out score
    # (docs/concepts.md#the-factor-count-and-low-rank-noise).
    per_iteration = _iteration_work(len(train), X.shape[1], k)
    fa = _fit_fa(
        X[train],
        k,
        seed,
        tol=_SCAN_TOL * len(train),
        max_iter=budget.max_iter(per_iteration),
    )
    budget.spend(fa, per_iteration)
    if fa is None:
        return np.full(len(validation), -np.inf)
    return _fa_log_likelihood(fa, X[validation])


def _count_score(per_split: list[np.ndarray], seed: int) -> float:
    """A factor count's held-out score from its rows' log-likelihoods.

    The rows fall into ``_FOLDS`` groups: the folds, or, for one validation
    split, a seeded partition of its rows.  The group means are averaged
    without the best and the worst (:func:`_fold_summary`).
    """
    if len(per_split) > 1:
        return _fold_summary([rows.mean() for rows in per_split])
    rows = per_split[0]
    if len(rows) < _FOLDS:
        return float(rows.mean())
    order = np.random.RandomState(seed).permutation(len(rows))
    return _fold_summary(
        [rows[group].mean() for group in np.array_split(order, _FOLDS)]
    )


def _held_out_splits(n: int, validation: np.ndarray, seed: int) -> list[tuple]:
    """``(train, held_out)`` index pairs on which a factor count is scored.

    The validation split itself, or, when it holds fewer than
    ``_MIN_HELD_OUT`` rows, ``_FOLDS``-fold cross-validation over all rows:
    a few validation rows choose the count poorly
    (docs/concepts.md#the-factor-count-and-low-rank-noise).
    """
    if len(validation) >= _MIN_HELD_OUT or n < 2 * _FOLDS:
        return [(np.setdiff1d(np.arange(n), validation), validation)]
    return list(KFold(_FOLDS, shuffle=True, random_state=seed).split(np.empty((n, 1))))


def _fold_summary(scores: list[float]) -> float:
    """The held-out score of a factor count: its group scores' trimmed mean.

    The best and the worst of the five group scores are left out (with fewer
    than five, ``trim_mean`` cuts none), so that a few extreme rows (or one
    extreme fold) do not decide
    (docs/concepts.md#the-factor-count-and-low-rank-noise).  A count whose
    fit failed on any fold (score -inf) stays at -inf.
    """
    if not np.isfinite(scores).all():
        return float(np.mean(scores))
    return float(trim_mean(scores, _TRIMMED))


def _first_fit(X: np.ndarray, counts, seed: int) -> FactorAnalysis:
    """The model of the first count in ``counts`` whose fit succeeds, with
    the EM iterations ``_FIT_WORK`` buys (``_MIN_FIT_ITER`` to 1000)."""
    for k in counts:
        per_iteration = _iteration_work(*X.shape, k)
        max_iter = int(np.clip(_FIT_WORK / per_iteration, _MIN_FIT_ITER, 1000))
        fa = _fit_fa(X, k, seed, max_iter=max_iter)
        if fa is not None:
            return fa
    raise ValueError(
        "Factor analysis of the training rows failed for every factor count; "
        "use init='random'."
    )


def factor_model(
    X: np.ndarray,
    n_latent: int,
    seed: int,
    validation: np.ndarray | None = None,
    min_noise: float = 0.0,
    max_noise_rank: int = 0,
) -> FactorModel:
    """The maximum-likelihood factor model of ``X``, ``n_latent`` factors and more.

    With ``validation`` rows (indices into ``X``), the number of factors is the
    one among ``1, 2, 3, 4, 6, 8, 12, ...`` (steps of about 1.5, and the cap)
    up to ``n_latent + max_noise_rank`` (and below the number of features and
    of rows) whose model, fitted on the other rows, has the highest held-out
    log-likelihood (5-fold cross-validated over all rows when there are
    fewer than 100 validation rows; the held-out rows in five groups, the
    folds or five parts of the validation rows, whose means are averaged
    without the best and the worst); the chosen model is then refitted on
    all rows.  Without,
    it is ``min(n_latent, n_features)``.  The factors beyond ``n_latent``
    become ``noise_factors``.  Noise
    variances are floored at ``min_noise`` (the decoder's smallest variance)
    before the posterior is computed, so that the posterior stays the exact
    one of the model the VAE can represent.

    Examples
    --------
    >>> import numpy as np
    >>> from skae._warm_start import factor_model
    >>> X = np.random.default_rng(0).normal(size=(200, 4))
    >>> model = factor_model(X, 3, seed=0)
    >>> model.loadings.shape, model.posterior_weight.shape
    ((4, 3), (3, 4))
    """
    n, d = X.shape
    cap = max(1, min(n_latent, d, max(n - 1, 1)))
    mean = X.mean(axis=0)
    if validation is None or len(validation) == 0 or cap == 1:
        fa = _first_fit(X, range(cap, 0, -1), seed)
        return _rotated(fa, mean, n_latent, min_noise)
    if max_noise_rank > 0:
        # More factors than latents: fewer than the features (d factors
        # leave FactorAnalysis no noise to estimate), and at most
        # _MAX_NOISE_FACTORS beyond the code (FactorAnalysis with hundreds
        # of factors takes minutes on wide tables;
        # docs/concepts.md#the-factor-count-and-low-rank-noise).
        extra = min(max_noise_rank, _MAX_NOISE_FACTORS)
        cap = max(cap, min(n_latent + extra, d - 1, n - 1))
    splits = _held_out_splits(n, validation, seed)
    candidates = _affordable(
        sorted({min(k, cap) for k in _factor_grid(cap)}), splits, d
    )
    budget = _ScanBudget(len(candidates) * len(splits))
    held_out = [
        _count_score(
            [_held_out_rows(X, train, rows, k, seed, budget) for train, rows in splits],
            seed,
        )
        for k in candidates
    ]
    # Best held-out score first (the smaller count on a tie, as argmax).
    order = sorted(range(len(candidates)), key=lambda i: (-held_out[i], i))
    ranked = [candidates[i] for i in order]
    fa = _first_fit(X, ranked, seed)
    return _rotated(fa, mean, n_latent, min_noise, max_noise_rank)


def _affordable(candidates: list[int], splits: list[tuple], d: int) -> list[int]:
    """``candidates`` thinned (every other one, the first and the last kept)
    until each fit of the scan can have ``_MIN_SCAN_ITER`` EM iterations
    within ``_SCAN_WORK``, or three are left."""

    def work(counts):
        return sum(
            _MIN_SCAN_ITER * _iteration_work(len(train), d, k)
            for k in counts
            for train, _ in splits
        )

    while len(candidates) > 3 and work(candidates) > _SCAN_WORK:
        candidates = sorted({*candidates[::2], candidates[-1]})
    return candidates


def _factor_grid(cap: int) -> list[int]:
    """``1, 2, 3, 4, 6, 8, 12, 16, ...`` up to ``cap``, and ``cap``."""
    grid, k = [1, 2, 3], 4
    while k < cap:
        grid += [k, k * 3 // 2]
        k *= 2
    return [g for g in grid if g < cap] + [cap]


@ignore_warnings(category=ConvergenceWarning)
def gaussian_mixture(
    X: np.ndarray,
    n_components,
    seed: int,
    validation: np.ndarray | None = None,
    n_init: int = 3,
    covariance_type: str = "full",
    max_components: int = _MAX_MIXTURE,
) -> GaussianMixture | None:
    """A full-covariance :class:`~sklearn.mixture.GaussianMixture` of ``X``.

    (``covariance_type='diag'``: a diagonal one, chosen the same way;
    :func:`full_covariances` gives its matrices.  ``max_components`` caps
    the sizes a scan tries.)

    ``n_components='bic'`` fits 1, 2, ... up to 8 components (no more than
    one per ``d + 1`` rows, the fewest that give a full covariance more than
    its ``reg_covar`` floor; one per 2 rows for diagonal ones) and keeps the
    size of lowest BIC; while the best size is the largest one tried, the
    range doubles (9 to 16, then 17 to 32, the most), with one EM start per
    size beyond 8, and a size chosen there is then fitted with ``n_init``
    starts, the first of which is the scan's.  On more than ``_SCAN_ROWS``
    (2,500) rows the scan runs on a sample of that many (drawn with
    ``seed``), with one EM start per size, and the chosen mixture's EM then
    continues on all rows; on wide tables (rows times ``d**2`` above
    ``_SCAN_START_WORK``, 8e6: 1,100 rows of 85 columns) it has one EM
    start per size too.  ``'auto'`` with ``validation`` rows (indices
    into ``X``) fits the same sizes to the other rows, keeps the one with
    the highest mean log-likelihood on the validation rows and refits it on
    all rows; without validation rows it is ``'bic'``.  BIC can keep a
    component of a few rows in many dimensions, whose covariance is set by
    ``reg_covar`` rather than by the data and whose log-density on those
    rows is far above the others' (docs/concepts.md#the-mixtures-bic-scan);
    the held-out choice does not, at the price of a noisier choice on small
    validation sets; its scan keeps ``n_init`` starts per size.  An int fits
    that many, with ``n_init`` starts.  A size whose EM fails (a component
    collapsing onto tied rows) is refitted with a larger ``reg_covar``
    (1e-4, then 1e-2) and skipped if it still fails.  Returns None when no
    size can be fitted.

    Examples
    --------
    >>> import numpy as np
    >>> from skae._warm_start import gaussian_mixture
    >>> X = np.r_[np.zeros((50, 2)), np.ones((50, 2))] + 0.1 * np.eye(2)[[0]]
    >>> X = X + np.random.default_rng(0).normal(0, 0.1, X.shape)
    >>> gaussian_mixture(X, "bic", seed=0).n_components
    2
    >>> held_out = np.arange(0, 100, 5)
    >>> gaussian_mixture(X, "auto", seed=0, validation=held_out).n_components
    2
    """

    def fit(rows: np.ndarray, k: int, starts: int = n_init) -> GaussianMixture | None:
        # EM fails when a component collapses onto a few tied rows (discrete
        # columns): retry with a larger covariance floor, then give up on k.
        for reg_covar in (1e-6, 1e-4, 1e-2):
            try:
                return GaussianMixture(
                    k,
                    covariance_type=covariance_type,
                    n_init=starts,
                    reg_covar=reg_covar,
                    random_state=seed,
                ).fit(rows)
            except ValueError:
                continue
        return None

    n = X.shape[0]
    if n_components not in ("auto", "bic"):
        return fit(X, min(int(n_components), n))
    held_out = (
        n_components == "auto" and validation is not None and 0 < len(validation) < n
    )
    wide = n_init > 1 and n * X.shape[1] ** 2 > _SCAN_START_WORK
    if not held_out and (n > _SCAN_ROWS or wide):
        # The scan's cost grows with rows x d^2 x sizes x EM starts (minutes
        # on tables of ten thousand rows; docs/concepts.md#the-mixtures-bic-scan):
        # scan a sample, one EM start per size (mixture_ensemble's members
        # are the restarts), then continue the chosen mixture's EM on all rows.
        sample = _scan_sample(X, seed)
        chosen = gaussian_mixture(
            sample, "bic", seed, None, 1, covariance_type, max_components
        )
        if chosen is None or sample is X:
            return chosen
        return _continued(chosen, X, seed)
    rows = X[np.setdiff1d(np.arange(n), validation)] if held_out else X
    # BIC's scan beyond 8 components: one EM start per size, then the chosen
    # size's n_init starts (the first of which is the scan's): n_init starts
    # at every size up to 32 cost most of a fit.  Within 1..8 every size
    # keeps n_init starts: one start there under-fits the larger sizes and
    # BIC then picks too few (docs/concepts.md#the-mixtures-bic-scan).
    best, best_score = None, -np.inf
    # A full covariance needs d + 1 rows to be more than its reg_covar floor
    # (a diagonal one, 2): no more components than the rows give each.
    per_component = X.shape[1] + 1 if covariance_type == "full" else 2
    limit = min(max_components, max(len(rows) // per_component, 1))
    sizes = range(1, min(8, limit) + 1)
    while sizes:
        # Neither criterion is unimodal in k on discrete columns: try every
        # size of the range.
        for k in sizes:
            model = fit(rows, k, n_init if held_out or k <= 8 else 1)
            if model is None:
                continue
            score = model.score(X[validation]) if held_out else -model.bic(X)
            if np.isfinite(score) and score > best_score:
                best, best_score = model, score
        # A best size at the range's top may not be the best: double it.
        top = sizes[-1]
        at_top = best is not None and best.n_components == top
        sizes = range(top + 1, min(2 * top, limit) + 1) if at_top else range(0)
    if best is not None and (held_out or best.n_init < n_init):
        return fit(X, best.n_components) or best
    return best


def _scan_sample(X: np.ndarray, seed: int) -> np.ndarray:
    """``X``, or ``_SCAN_ROWS`` of its rows drawn with ``seed`` when it has more."""
    if len(X) <= _SCAN_ROWS:
        return X
    return X[np.random.RandomState(seed).choice(len(X), _SCAN_ROWS, replace=False)]


@ignore_warnings(category=ConvergenceWarning)
def _continued(mixture: GaussianMixture, X: np.ndarray, seed: int) -> GaussianMixture:
    """``mixture``'s EM continued on the rows ``X`` (one start, from its fit).

    ``mixture`` itself when that EM fails (a component collapsing).
    """
    try:
        return GaussianMixture(
            mixture.n_components,
            covariance_type=mixture.covariance_type,
            reg_covar=mixture.reg_covar,
            weights_init=mixture.weights_,
            means_init=mixture.means_,
            precisions_init=mixture.precisions_,
            random_state=seed,
        ).fit(X)
    except ValueError:
        return mixture


def mixture_ensemble(
    X: np.ndarray,
    n_components,
    seed: int,
    validation: np.ndarray | None = None,
    covariance_type: str = "full",
    max_components: int = _MAX_MIXTURE,
    n_init: int = 3,
) -> list[GaussianMixture]:
    """The mixtures whose average density is a flow's base (:func:`gaussian_mixture`).

    ``'bic'``: five mixtures, each chosen by BIC (:func:`gaussian_mixture`)
    from its own EM seeds (``seed``, ``seed + 1``, ...); their densities are
    averaged with equal weights (Ormoneit and Tresp, "Averaging, maximum
    penalized likelihood and Bayesian estimation for improving Gaussian
    mixture probability density estimates", 1998).  On tables with discrete
    columns one EM solution's held-out log-likelihood moves by nats from one
    seed to the next (docs/concepts.md#the-mixtures-bic-scan); the average
    is at least the members' mean log-likelihood and much steadier.
    ``'auto'`` or an int: the one mixture.  Mixtures that cannot be fitted
    are left out.  ``covariance_type``, ``max_components`` and ``n_init``
    (EM starts per size) are :func:`gaussian_mixture`'s.

    Examples
    --------
    >>> import numpy as np
    >>> from skae._warm_start import mixture_ensemble
    >>> X = np.random.default_rng(0).normal(size=(300, 2))
    >>> [m.n_components for m in mixture_ensemble(X, "bic", seed=0)]
    [1, 1, 1, 1, 1]
    >>> [m.n_components for m in mixture_ensemble(X, 3, seed=0)]
    [3]
    """
    kind = {
        "covariance_type": covariance_type,
        "max_components": max_components,
        "n_init": n_init,
    }
    if n_components == "bic":
        members = [
            gaussian_mixture(X, "bic", seed + i, **kind) for i in range(_BASE_MIXTURES)
        ]
    else:
        members = [gaussian_mixture(X, n_components, seed, validation, **kind)]
    return [member for member in members if member is not None]


def refitted_mixtures(
    X: np.ndarray, sizes, seed: int, covariance_type: str = "full"
) -> list[GaussianMixture]:
    """Mixtures of ``X`` of the given ``sizes`` (EM seeds ``seed``, ``seed +
    1``, ..., as :func:`mixture_ensemble`'s members), those that can be
    fitted: an ensemble's sizes fitted again to other rows.

    Examples
    --------
    >>> import numpy as np
    >>> from skae._warm_start import refitted_mixtures
    >>> X = np.random.default_rng(0).normal(size=(300, 2))
    >>> [m.n_components for m in refitted_mixtures(X, (1, 2), seed=0)]
    [1, 2]
    """
    fits = (
        gaussian_mixture(X, size, seed + i, covariance_type=covariance_type)
        for i, size in enumerate(sizes)
    )
    return [mixture for mixture in fits if mixture is not None]


def broad_weight(
    X: np.ndarray,
    n_components,
    seed: int,
    validation: np.ndarray | None = None,
    covariance_type: str = "full",
) -> float:
    """Weight of a broad ``N(0, I)`` component beside a mixture of ``X``.

    The weight of a background component whose partner is the average of
    mixtures of the sizes ``n_components`` (an int, or one size per mixture
    of :func:`mixture_ensemble`, fitted with seeds ``seed``, ``seed + 1``,
    ...): its maximum-likelihood value on the ``validation`` rows (indices
    into ``X``) when the mixtures are fitted to the other rows (a sample of
    ``_SCAN_ROWS`` of them when there are more), found by EM on that one
    weight.  Held-out rows that no component explains (heavy
    tails) raise it; on clean data it falls to its floor, one row's share
    ``1 / (n + 1)`` (add-one smoothing), so that a point near the data pays
    only about ``1 / n`` nats for the safety.  Without validation rows it is
    the floor.

    Examples
    --------
    >>> import numpy as np
    >>> from skae._warm_start import broad_weight
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(0, 0.1, (999, 2)) + rng.choice([-1, 1], (999, 1))
    >>> held_out = np.arange(0, 999, 3)
    >>> broad_weight(X, 2, seed=0, validation=held_out)
    0.001
    >>> X[::20] = rng.uniform(-3, 3, (50, 2))  # one row in 20 off both clusters
    >>> round(broad_weight(X, 2, seed=0, validation=held_out), 2)
    0.04
    """
    n, d = X.shape
    floor = 1.0 / (n + 1)
    if validation is None or not 0 < len(validation) < n:
        return floor
    train = np.delete(X, validation, 0)
    train = _scan_sample(train, seed)  # as gaussian_mixture's scan
    sizes = [n_components] if np.isscalar(n_components) else list(n_components)
    members = refitted_mixtures(train, sizes, seed, covariance_type)
    if not members:
        return floor
    held_out = X[validation]
    log_mixture = logsumexp(
        [member.score_samples(held_out) for member in members], axis=0
    ) - np.log(len(members))
    log_broad = -0.5 * (held_out**2).sum(axis=1) - 0.5 * d * np.log(2 * np.pi)
    return mixture_weight(log_mixture, log_broad, floor, 0.5)


def mixture_weight(
    log_main: np.ndarray, log_other: np.ndarray, floor: float, cap: float
) -> float:
    """The maximum-likelihood weight ``w`` of ``(1 - w) p_main + w p_other``.

    EM on that one weight over the rows whose log-densities under the two
    components are ``log_main`` and ``log_other``, started at ``floor`` and
    kept within ``[floor, cap]``; ``floor`` when a density is degenerate.

    Examples
    --------
    >>> import numpy as np
    >>> from skae._warm_start import mixture_weight
    >>> main, other = np.array([0.0, 0.0, -50.0]), np.array([-50.0, -50.0, 0.0])
    >>> round(mixture_weight(main, other, 0.01, 0.99), 3)
    0.333
    """
    weight = floor
    for _ in range(200):
        log_other_part = np.log(weight) + log_other
        log_total = np.logaddexp(np.log1p(-weight) + log_main, log_other_part)
        with np.errstate(invalid="ignore"):
            share = np.exp(log_other_part - log_total).mean()
        if not np.isfinite(share):  # a degenerate held-out density
            return floor
        update = float(np.clip(share, floor, cap))
        if abs(update - weight) < 1e-6 * weight:
            return update
        weight = update
    return weight


def full_covariances(mixture: GaussianMixture) -> np.ndarray:
    """The ``(k, d, d)`` covariance matrices of a full or diagonal mixture.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.mixture import GaussianMixture
    >>> from skae._warm_start import full_covariances
    >>> X = np.random.default_rng(0).normal(size=(50, 2))
    >>> full_covariances(GaussianMixture(2, covariance_type="diag").fit(X)).shape
    (2, 2, 2)
    """
    if mixture.covariance_type == "diag":
        return np.stack([np.diag(row) for row in mixture.covariances_])
    return mixture.covariances_
