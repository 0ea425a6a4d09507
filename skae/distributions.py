"""Every log-density, divergence and bound of skae, in one home.

The variational autoencoder's Gaussian and Bernoulli likelihoods, closed-form KL
and importance-weighted bound, and the normalizing flow's log-likelihood.

Every function here is pure: it reads tensors, returns a new tensor and keeps no
state. Per-sample quantities reduce over the last (feature or latent) axis only, so
any number of leading batch axes, for example ``(n_draws, n_samples)``, is allowed.
The formulas follow Kingma and Welling (2014) and, for the importance-weighted
bound, Burda, Grosse and Salakhutdinov (2016).
"""

import math

import torch
from torch import Tensor
from torch.nn import functional as F

LOG_2PI: float = math.log(2.0 * math.pi)


def reparameterize(mu: Tensor, logvar: Tensor, eps: Tensor) -> Tensor:
    """Turn standard-normal noise into a draw from ``N(mu, diag exp(logvar))``.

    Parameters
    ----------
    mu : Tensor of shape (..., n_components)
        Mean of the Gaussian.
    logvar : Tensor broadcastable with ``mu``
        Log-variance of each coordinate.
    eps : Tensor broadcastable with ``mu``
        Standard-normal noise.

    Returns
    -------
    z : Tensor
        ``mu + exp(logvar / 2) * eps``, differentiable in ``mu`` and ``logvar``.

    Examples
    --------
    >>> import torch
    >>> from skae.distributions import reparameterize
    >>> reparameterize(torch.tensor([1.0]), torch.tensor([0.0]), torch.tensor([2.0]))
    tensor([3.])
    """
    return mu + torch.exp(0.5 * logvar) * eps


def gaussian_kl_standard(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL divergence from ``N(mu, diag exp(logvar))`` to ``N(0, I)``, per sample.

    ``KL = 1/2 * sum_j (mu_j^2 + exp(logvar_j) - 1 - logvar_j)``.

    Parameters
    ----------
    mu : Tensor of shape (..., n_components)
        Mean of the approximate posterior.
    logvar : Tensor broadcastable with ``mu``
        Its log-variance.

    Returns
    -------
    kl : Tensor of shape (...)
        Non-negative divergence of each sample, summed over the last axis.

    Examples
    --------
    >>> import torch
    >>> from skae.distributions import gaussian_kl_standard
    >>> gaussian_kl_standard(torch.zeros(2, 3), torch.zeros(2, 3))
    tensor([0., 0.])
    >>> gaussian_kl_standard(torch.tensor([[1.0, 1.0]]), torch.zeros(1, 2))
    tensor([1.])
    """
    return 0.5 * torch.sum(mu.pow(2) + torch.exp(logvar) - 1.0 - logvar, dim=-1)


def diag_gaussian_log_prob(z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """Log-density of ``N(mu, diag exp(logvar))`` at ``z``, per sample.

    Parameters
    ----------
    z : Tensor of shape (..., n_dims)
        Points at which to evaluate the density.
    mu : Tensor broadcastable with ``z``
        Mean.
    logvar : Tensor broadcastable with ``z``
        Log-variance of each coordinate.

    Returns
    -------
    log_prob : Tensor
        Sum over the last axis of the coordinate-wise log-densities; the
        broadcast shape of the inputs without its last axis.

    Examples
    --------
    >>> import torch
    >>> from skae.distributions import diag_gaussian_log_prob
    >>> z = torch.tensor([[1.0]])
    >>> diag_gaussian_log_prob(z, torch.tensor([[1.0]]), torch.tensor([[0.0]]))
    tensor([-0.9189])
    """
    squared_error = (z - mu).pow(2) * torch.exp(-logvar)
    return -0.5 * torch.sum(squared_error + logvar + LOG_2PI, dim=-1)


def gaussian_log_likelihood(x: Tensor, mean: Tensor, logvar: Tensor) -> Tensor:
    """Log-likelihood of ``x`` under ``N(mean, diag exp(logvar))``, per sample.

    This is the decoder term ``log p(x | z)`` of a Gaussian VAE. ``logvar`` may be
    a learned per-feature vector of shape ``(n_features,)`` shared by all samples.

    Parameters
    ----------
    x : Tensor of shape (..., n_features)
        Observations.
    mean : Tensor broadcastable with ``x``
        Decoder mean.
    logvar : Tensor broadcastable with ``x``
        Decoder log-variance, for example of shape ``(n_features,)``.

    Returns
    -------
    log_likelihood : Tensor
        Sum over features; the broadcast shape without its last axis.

    See Also
    --------
    diag_gaussian_log_prob : The same density, named for latent variables.

    Examples
    --------
    >>> import torch
    >>> from skae.distributions import gaussian_log_likelihood
    >>> x = torch.zeros(2, 3)
    >>> gaussian_log_likelihood(x, torch.zeros(2, 3), torch.zeros(3))
    tensor([-2.7568, -2.7568])
    """
    return diag_gaussian_log_prob(x, mean, logvar)


def bernoulli_log_likelihood(x: Tensor, logits: Tensor) -> Tensor:
    """Log-likelihood of ``x`` in ``[0, 1]`` under Bernoulli(sigmoid(logits)).

    Computed as ``sum_j (x_j * logits_j - softplus(logits_j))``, which equals
    ``sum_j (x_j log p_j + (1 - x_j) log(1 - p_j))`` and stays finite for any
    finite logits. Values of ``x`` strictly between 0 and 1 give the continuous
    cross-entropy, the usual choice for grey levels.

    Parameters
    ----------
    x : Tensor of shape (..., n_features)
        Observations in ``[0, 1]``.
    logits : Tensor broadcastable with ``x``
        Decoder logits.

    Returns
    -------
    log_likelihood : Tensor
        Sum over features; the broadcast shape without its last axis.

    Examples
    --------
    >>> import torch
    >>> from skae.distributions import bernoulli_log_likelihood
    >>> bernoulli_log_likelihood(torch.tensor([[1.0, 0.0]]), torch.zeros(1, 2))
    tensor([-1.3863])
    >>> bernoulli_log_likelihood(torch.tensor([[1.0]]), torch.tensor([[-200.0]]))
    tensor([-200.])
    """
    return torch.sum(x * logits - F.softplus(logits), dim=-1)


def importance_weighted_log_likelihood(
    log_px_given_z: Tensor, log_pz: Tensor, log_qz: Tensor
) -> Tensor:
    """Importance-weighted lower bound on ``log p(x)`` from ``K`` latent draws.

    ``log (1/K) sum_k p(x | z_k) p(z_k) / q(z_k | x)`` with ``z_k ~ q(z | x)``,
    computed with ``logsumexp``. Its expectation is a lower bound on ``log p(x)``
    that grows with ``K`` and tends to ``log p(x)`` [1]_; ``K = 1`` is the ELBO.

    Parameters
    ----------
    log_px_given_z : Tensor of shape (K, ...)
        Decoder log-likelihood ``log p(x | z_k)`` of each draw, draws first.
    log_pz : Tensor of shape (K, ...)
        Prior log-density ``log p(z_k)``.
    log_qz : Tensor of shape (K, ...)
        Encoder log-density ``log q(z_k | x)``.

    Returns
    -------
    log_likelihood : Tensor of shape (...)
        The bound for each sample.

    References
    ----------
    .. [1] Y. Burda, R. Grosse and R. Salakhutdinov, "Importance Weighted
       Autoencoders", ICLR 2016.

    Examples
    --------
    >>> import torch
    >>> from skae.distributions import importance_weighted_log_likelihood
    >>> log_w = torch.log(torch.tensor([[1.0], [3.0]]))
    >>> importance_weighted_log_likelihood(log_w, torch.zeros(2, 1), torch.zeros(2, 1))
    tensor([0.6931])
    """
    log_weights = log_px_given_z + log_pz - log_qz
    return torch.logsumexp(log_weights, dim=0) - math.log(log_weights.shape[0])


def standard_normal_log_prob(z: Tensor) -> Tensor:
    """Log density of ``N(0, I)``: ``-(||z||^2 + d*log(2*pi)) / 2``, per sample.

    Examples
    --------
    >>> import torch
    >>> from skae.distributions import standard_normal_log_prob
    >>> standard_normal_log_prob(torch.zeros(1, 2))
    tensor([-1.8379])
    """
    return -0.5 * (z.square().sum(dim=-1) + z.shape[-1] * math.log(2 * math.pi))


def flow_log_prob(z: Tensor, log_det: Tensor) -> Tensor:
    """Log-likelihood of a flow in nats: ``log N(z; 0, I) + log|det dz/dx|``.

    Parameters
    ----------
    z : torch.Tensor of shape (n_samples, n_features)
        Latent points ``f(x)``.
    log_det : torch.Tensor of shape (n_samples,)
        ``log|det J_f(x)|``.

    Returns
    -------
    log_prob : torch.Tensor of shape (n_samples,)

    Examples
    --------
    >>> import torch
    >>> from skae.distributions import flow_log_prob
    >>> flow_log_prob(torch.zeros(1, 2), torch.tensor([2.0]))
    tensor([0.1621])
    """
    return standard_normal_log_prob(z) + log_det


def flow_nll(z: Tensor, log_det: Tensor) -> Tensor:
    """Per-sample negative log-likelihood of a flow, the training loss of seed 003.

    It is ``-flow_log_prob(z, log_det)``; the mean over a batch is the loss
    to minimise, and a flow's ``forward`` returns exactly ``(z, log_det)``.

    Examples
    --------
    >>> import torch
    >>> from skae.distributions import flow_log_prob, flow_nll
    >>> z, log_det = torch.zeros(3, 2), torch.zeros(3)
    >>> bool(torch.equal(flow_nll(z, log_det), -flow_log_prob(z, log_det)))
    True
    """
    return -flow_log_prob(z, log_det)


def _low_rank_terms(
    residual: Tensor, logvar: Tensor, factors: Tensor, mask: Tensor | None
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Woodbury pieces of ``N(0, diag exp(logvar) + F F^T)`` on observed entries.

    Returns ``(r, precision_r, chol, b)``: the masked residual, its product
    with the diagonal precision, the Cholesky factor of ``M = I + F_o^T
    Psi_o^{-1} F_o`` (one for every row when ``mask`` is None, else one per
    row) and the rows ``b = r^T Psi_o^{-1} F``, shape ``(..., n, rank)``.
    """
    inv_noise = torch.exp(-logvar)
    if mask is None:
        r = residual
        weighted = factors * inv_noise.unsqueeze(-1)
        m = factors.transpose(-1, -2) @ weighted
    else:
        r = residual * mask
        weighted = factors * (inv_noise * mask).unsqueeze(-1)  # (n, d, rank)
        m = factors.transpose(-1, -2) @ weighted
    eye = torch.eye(factors.shape[-1], dtype=factors.dtype, device=factors.device)
    chol = torch.linalg.cholesky(m + eye)
    precision_r = r * inv_noise
    return r, precision_r, chol, precision_r @ factors


def _solve(chol: Tensor, b: Tensor, solve) -> Tensor:
    """``solve(chol, b)`` for the rows ``b`` (..., n, rank): one solve with n
    right-hand sides when ``chol`` is shared, else one per row."""
    if chol.dim() == 2:
        return solve(chol, b.transpose(-1, -2)).transpose(-1, -2)
    return solve(chol, b.unsqueeze(-1)).squeeze(-1)


def _by_completeness(function, x, mean, logvar, factors, mask, *, row_axis: int):
    """``function`` evaluated apart on the complete rows of ``mask`` (one
    Woodbury factor for all of them) and on the others (one each), its
    results put back in row order along ``row_axis``; ``function`` without a
    mask when every row is complete; None when none is (``function`` then
    runs on them as they are)."""
    if mask is None:
        return None
    complete = mask.bool().all(-1)
    if complete.all():
        return function(x, mean, logvar, factors, None)
    if not complete.any():
        return None
    rows = [torch.nonzero(complete).squeeze(-1), torch.nonzero(~complete).squeeze(-1)]
    parts = [
        function(
            x.index_select(0, index),
            mean.index_select(mean.dim() - 2, index),
            logvar,
            factors,
            None if kind == 0 else mask.index_select(0, index),
        )
        for kind, index in enumerate(rows)
    ]
    order = torch.argsort(torch.cat(rows))
    return torch.cat(parts, dim=row_axis).index_select(row_axis % parts[0].dim(), order)


def low_rank_gaussian_log_likelihood(
    x: Tensor,
    mean: Tensor,
    logvar: Tensor,
    factors: Tensor,
    mask: Tensor | None = None,
) -> Tensor:
    """Log-likelihood under ``N(mean, diag exp(logvar) + factors factors^T)``.

    The noise of a factor model whose extra factors are integrated out: with
    ``Psi = diag exp(logvar)`` and ``F = factors`` (d, rank), Woodbury's
    identity and the matrix determinant lemma give ``log N`` from a
    ``rank x rank`` Cholesky factor, ``M = I + F^T Psi^{-1} F``.  With a
    ``mask`` (1 where observed) it is the marginal density of each row's
    observed entries: the rows of ``F`` and ``Psi`` of missing entries drop
    out, and ``M`` is one matrix per row.

    Parameters
    ----------
    x : Tensor of shape (n, d)
        Observations (missing entries anything finite).
    mean : Tensor of shape (..., n, d)
        Means; leading draw axes broadcast against ``x``.
    logvar : Tensor of shape (d,)
        Log-variances of the diagonal part.
    factors : Tensor of shape (d, rank)
        The low-rank part; ``rank = 0`` gives :func:`gaussian_log_likelihood`.
    mask : Tensor of shape (n, d) or None
        1 where observed; None when every entry is.

    Returns
    -------
    log_likelihood : Tensor of shape (..., n)

    Examples
    --------
    >>> import torch
    >>> from skae.distributions import low_rank_gaussian_log_likelihood
    >>> x, f = torch.tensor([[1.0, -1.0]]), torch.tensor([[1.0], [0.5]])
    >>> cov = torch.eye(2) + f @ f.T
    >>> reference = torch.distributions.MultivariateNormal(torch.zeros(2), cov)
    >>> zero = torch.zeros(2)
    >>> value = low_rank_gaussian_log_likelihood(x, zero[None], zero, f)
    >>> bool(torch.allclose(value, reference.log_prob(x)))
    True
    """
    split = _by_completeness(
        low_rank_gaussian_log_likelihood, x, mean, logvar, factors, mask, row_axis=-1
    )
    if split is not None:
        return split
    residual = x - mean
    r, precision_r, chol, b = _low_rank_terms(residual, logvar, factors, mask)
    solved = _solve(
        chol, b, lambda a, rhs: torch.linalg.solve_triangular(a, rhs, upper=False)
    )
    quadratic = (r * precision_r).sum(-1) - solved.pow(2).sum(-1)
    log_det_m = 2.0 * torch.diagonal(chol, dim1=-2, dim2=-1).log().sum(-1)
    if mask is None:
        log_det = logvar.sum(-1) + log_det_m
        observed = torch.full_like(quadratic, float(x.shape[-1]))
    else:
        log_det = (logvar * mask).sum(-1) + log_det_m
        observed = mask.sum(-1)
    return -0.5 * (quadratic + log_det + observed * LOG_2PI)


def low_rank_noise_mean(
    x: Tensor,
    mean: Tensor,
    logvar: Tensor,
    factors: Tensor,
    mask: Tensor | None = None,
) -> Tensor:
    """``E[F u | x_obs]``: the low-rank noise's conditional mean, every entry.

    For ``x = mean + F u + e`` with ``u ~ N(0, I)`` and ``e ~ N(0, Psi)``,
    the posterior mean of ``u`` given the observed residuals is ``M^{-1}
    F_o^T Psi_o^{-1} (x_o - mean_o)``; adding ``F`` times it to ``mean``
    gives ``E[x | x_obs]`` for the missing entries too.  Shapes as in
    :func:`low_rank_gaussian_log_likelihood`; returns ``(..., n, d)``.

    Examples
    --------
    >>> import torch
    >>> from skae.distributions import low_rank_noise_mean
    >>> x, f = torch.tensor([[2.0, 0.0]]), torch.tensor([[1.0], [1.0]])
    >>> mask = torch.tensor([[1.0, 0.0]])
    >>> low_rank_noise_mean(x, torch.zeros(1, 2), torch.zeros(2), f, mask)
    tensor([[1., 1.]])
    """
    split = _by_completeness(
        low_rank_noise_mean, x, mean, logvar, factors, mask, row_axis=-2
    )
    if split is not None:
        return split
    _, _, chol, b = _low_rank_terms(x - mean, logvar, factors, mask)
    u = _solve(chol, b, lambda a, rhs: torch.cholesky_solve(rhs, a))
    return u @ factors.transpose(-1, -2)
