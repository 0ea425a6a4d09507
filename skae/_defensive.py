"""A defensive Gaussian component beside a density model (Hesterberg, 1995).

:class:`~skae.VAE` mixes its density with the factor model it started from,
``(1 - w) p_VAE(x) + w p_start(x)``, with a small weight ``w``: near the data
the mixture loses at most ``-log(1 - w)`` nats, and a row that the trained
network places far in its tails keeps at least ``log w + log p_start(x)``,
the factor model's log-density less ``log(1 / w)``.  The flow's broad base
component plays the same role (:func:`skae._warm_start.broad_weight`).  See
docs/concepts.md#the-defensive-component.

The component is the Gaussian ``N(mean, C^T C + diag(noise))`` of a factor
model with components ``C`` (one row per factor, as
:attr:`sklearn.decomposition.FactorAnalysis.components_`); rows with missing
entries get the density of their observed entries (its marginal).
"""

import numpy as np
from scipy.linalg import solve_triangular

_LOG_2PI = float(np.log(2 * np.pi))


def factor_covariance(components: np.ndarray, noise_variance: np.ndarray) -> np.ndarray:
    """``C^T C + diag(noise_variance)``, a factor model's covariance.

    Examples
    --------
    >>> import numpy as np
    >>> from skae._defensive import factor_covariance
    >>> factor_covariance(np.ones((1, 2)), np.array([1.0, 2.0]))
    array([[2., 1.],
           [1., 3.]])
    """
    return components.T @ components + np.diag(noise_variance)


def gaussian_log_density(
    X: np.ndarray, mean: np.ndarray, covariance: np.ndarray
) -> np.ndarray:
    """``log N(x_obs; mean_obs, covariance_obs)`` of each row, in nats.

    NaN entries are missing: each row is scored on its observed entries
    (the Gaussian's marginal there), so that rows with different numbers of
    observed entries are not on the same scale; a row without any observed
    entry scores 0.  Rows are grouped by their pattern of observed entries,
    with one Cholesky factor per pattern, so a row's score does not depend
    on the other rows.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    mean : ndarray of shape (n_features,)
    covariance : ndarray of shape (n_features, n_features)
        Positive definite.

    Returns
    -------
    log_density : ndarray of shape (n_samples,)

    Examples
    --------
    >>> import numpy as np
    >>> from skae._defensive import gaussian_log_density
    >>> X = np.array([[0.0, 0.0], [0.0, np.nan]])
    >>> gaussian_log_density(X, np.zeros(2), np.eye(2)).round(4)
    array([-1.8379, -0.9189])
    """
    X = np.asarray(X, dtype=np.float64)
    observed = np.isfinite(X)
    patterns, inverse = np.unique(observed, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    out = np.zeros(X.shape[0])
    for index, pattern in enumerate(patterns):
        if not pattern.any():
            continue
        rows = inverse == index
        chol = np.linalg.cholesky(covariance[np.ix_(pattern, pattern)])
        centred = X[np.ix_(rows, pattern)] - mean[pattern]
        y = solve_triangular(chol, centred.T, lower=True)
        log_det = 2.0 * np.log(np.diagonal(chol)).sum()
        with np.errstate(over="ignore"):  # -inf: beyond float64, far out
            quadratic = (y**2).sum(axis=0)
        out[rows] = -0.5 * (quadratic + log_det + pattern.sum() * _LOG_2PI)
    return out


def defensive_mixture(
    log_main: np.ndarray, log_defensive: np.ndarray, weight: float
) -> np.ndarray:
    """``log((1 - w) exp(log_main) + w exp(log_defensive))``, elementwise.

    Examples
    --------
    >>> import numpy as np
    >>> from skae._defensive import defensive_mixture
    >>> main, start = np.array([0.0, -1000.0]), np.array([0.0, -10.0])
    >>> defensive_mixture(main, start, 0.01).round(3)
    array([  0.   , -14.605])
    """
    if weight <= 0:
        return log_main
    return np.logaddexp(
        np.log1p(-weight) + log_main, np.log(weight) + np.asarray(log_defensive)
    )


def factor_model_draws(
    n_samples: int,
    mean: np.ndarray,
    components: np.ndarray,
    noise_variance: np.ndarray,
    rng: np.random.RandomState,
    *,
    noise: bool,
) -> np.ndarray:
    """Draws ``mean + C^T u`` (``u ~ N(0, I)``), plus the noise when ``noise``.

    Examples
    --------
    >>> import numpy as np
    >>> from skae._defensive import factor_model_draws
    >>> rng = np.random.RandomState(0)
    >>> factor_model_draws(2, np.zeros(3), np.ones((1, 3)), np.ones(3), rng,
    ...                    noise=False).round(3)
    array([[1.764, 1.764, 1.764],
           [0.4  , 0.4  , 0.4  ]])
    """
    draws = mean + rng.standard_normal((n_samples, components.shape[0])) @ components
    if noise:
        draws = draws + np.sqrt(noise_variance) * rng.standard_normal(draws.shape)
    return draws
