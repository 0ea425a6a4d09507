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
from sklearn.decomposition import FactorAnalysis
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from sklearn.utils._testing import ignore_warnings


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


@dataclass(frozen=True)
class FactorModel:
    """``x = loadings @ z + mean + e``, ``z ~ N(0, I)``, ``e ~ N(0, diag noise)``.

    The loadings (d, k) are rotated so that ``loadings.T @ diag(1/noise) @
    loadings`` is diagonal; then the exact posterior ``p(z | x)`` is the
    diagonal Gaussian with mean ``posterior_weight @ (x - mean)`` and variance
    ``posterior_variance``.  Unused latent dimensions (beyond the chosen
    factor count) have zero loadings and the prior as posterior.
    """

    mean: np.ndarray
    loadings: np.ndarray
    noise_variance: np.ndarray
    posterior_weight: np.ndarray
    posterior_variance: np.ndarray
    n_factors: int


def _rotated(
    fa: FactorAnalysis, mean: np.ndarray, n_latent: int, min_noise: float
) -> FactorModel:
    loadings = fa.components_.T
    noise = np.maximum(fa.noise_variance_, min_noise)
    precision = loadings.T @ (loadings / noise[:, None])
    eigenvalues, rotation = np.linalg.eigh(precision)
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues, rotation = np.clip(eigenvalues[order], 0, None), rotation[:, order]
    loadings = loadings @ rotation
    k = loadings.shape[1]
    posterior_variance = np.ones(n_latent)
    posterior_variance[:k] = 1.0 / (1.0 + eigenvalues)
    padded = np.zeros((mean.shape[0], n_latent))
    padded[:, :k] = loadings
    weight = (padded / noise[:, None]).T * posterior_variance[:, None]
    weight[k:] = 0.0
    return FactorModel(mean, padded, noise, weight, posterior_variance, k)


@ignore_warnings(category=ConvergenceWarning)
def _fit_fa(X: np.ndarray, k: int, seed: int) -> FactorAnalysis:
    # Exact SVDs on small tables; scikit-learn's randomized SVD (its default)
    # once every EM iteration's full SVD would cost seconds.
    method = "lapack" if X.shape[0] * X.shape[1] <= 200_000 else "randomized"
    return FactorAnalysis(k, svd_method=method, random_state=seed).fit(X)


def factor_model(
    X: np.ndarray,
    n_latent: int,
    seed: int,
    validation: np.ndarray | None = None,
    min_noise: float = 0.0,
) -> FactorModel:
    """The maximum-likelihood factor model of ``X`` with at most ``n_latent`` factors.

    With ``validation`` rows (indices into ``X``), the number of factors is the
    one among ``1, 2, 4, ..., n_latent`` whose model, fitted on the other rows,
    has the highest held-out log-likelihood; the chosen model is then refitted
    on all rows.  Without, it is ``min(n_latent, n_features)``.  Noise
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
        return _rotated(_fit_fa(X, cap, seed), mean, n_latent, min_noise)
    train = np.setdiff1d(np.arange(n), validation)
    candidates = sorted({min(2**i, cap) for i in range(cap.bit_length() + 1)})
    held_out = [
        _fit_fa(X[train], k, seed).score(X[validation]) if len(train) > k else -np.inf
        for k in candidates
    ]
    best = candidates[int(np.argmax(held_out))]
    return _rotated(_fit_fa(X, best, seed), mean, n_latent, min_noise)


@ignore_warnings(category=ConvergenceWarning)
def gaussian_mixture(
    X: np.ndarray,
    n_components,
    seed: int,
    validation: np.ndarray | None = None,
) -> GaussianMixture | None:
    """A full-covariance :class:`~sklearn.mixture.GaussianMixture` of ``X``.

    ``n_components='bic'`` fits 1, 2, ... up to 8 components (no more than
    half the rows) and keeps the one of lowest BIC.  ``'auto'`` with
    ``validation`` rows (indices into ``X``) fits the same sizes to the other
    rows, keeps the one with the highest mean log-likelihood on the
    validation rows and refits it on all rows; without validation rows it is
    ``'bic'``.  BIC can keep a component of a few rows in many dimensions,
    whose covariance is set by ``reg_covar`` rather than by the data and whose
    log-density on those rows is far above the others' (on 178 zeros and 9
    other digits in 51 pixels it gave the nine such a component); the
    held-out choice does not, at the price of a noisier choice on small
    validation sets.  An int fits that many.  Each fit keeps the best of three
    EM starts (``n_init=3``); a size whose EM fails (a component collapsing
    onto tied rows) is refitted with a larger ``reg_covar`` (1e-4, then 1e-2)
    and skipped if it still fails.  Returns None when no size can be fitted.

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

    def fit(rows: np.ndarray, k: int) -> GaussianMixture | None:
        # EM fails when a component collapses onto a few tied rows (discrete
        # columns): retry with a larger covariance floor, then give up on k.
        for reg_covar in (1e-6, 1e-4, 1e-2):
            try:
                return GaussianMixture(
                    k,
                    covariance_type="full",
                    n_init=3,
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
    rows = X[np.setdiff1d(np.arange(n), validation)] if held_out else X
    best, best_score = None, -np.inf
    # Neither criterion is unimodal in k on discrete columns: try every size.
    for k in range(1, min(8, max(len(rows) // 2, 1)) + 1):
        model = fit(rows, k)
        if model is None:
            continue
        score = model.score(X[validation]) if held_out else -model.bic(X)
        if np.isfinite(score) and score > best_score:
            best, best_score = model, score
    if held_out and best is not None:
        return fit(X, best.n_components)
    return best
