"""Training objectives: one pure function per formula, one criterion per model.

The functions return *per-sample* tensors of shape ``(n_samples,)``.  The
criteria are the skorch ``criterion`` of each model: a ``torch.nn.Module``
holding the objective's weights (``beta``, penalty strengths) whose
``forward(output, target, module=..., x=...)`` returns :class:`LossTerms`, the
total to minimise and its named parts.  The skorch net records the named
parts in its history, next to ``train_loss`` and ``valid_loss``.
"""

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn

from skae.distributions import (
    diag_gaussian_log_prob,
    flow_nll,
    gaussian_kl_standard,
    reparameterize,
    standard_normal_log_prob,
)
from skae.modules.heads import ColumnHeads


class LossTerms(NamedTuple):
    """A batch's loss and its named, unweighted parts (batch means).

    ``total`` is what the optimiser minimises; ``terms`` maps each name of the
    criterion's ``term_names`` to its value, for the history.
    """

    total: Tensor
    terms: dict[str, Tensor]


def squared_error(
    x: Tensor, reconstruction: Tensor, mask: Tensor | None = None
) -> Tensor:
    """Mean over features of ``(x - r)**2``: the quadratic loss of seed 000.

    With a ``mask`` (1 where an entry is observed), the mean runs over the
    observed entries of each row only.

    Examples
    --------
    >>> import torch
    >>> from skae.losses import squared_error
    >>> squared_error(torch.tensor([[1.0, 2.0]]), torch.tensor([[1.0, 0.0]]))
    tensor([2.])
    >>> squared_error(torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 0.0]]),
    ...               mask=torch.tensor([[1.0, 0.0]]))
    tensor([1.])
    """
    squares = (x - reconstruction).pow(2)
    if mask is None:
        return squares.mean(dim=1)
    return (squares * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1.0)


def l1_sparsity(code: Tensor) -> Tensor:
    """Sparse-autoencoder penalty ``sum_i |h_i|`` of seed 001.

    Examples
    --------
    >>> import torch
    >>> from skae.losses import l1_sparsity
    >>> l1_sparsity(torch.tensor([[1.0, -2.0]]))
    tensor([3.])
    """
    return code.abs().sum(dim=1)


def contractive(encoder: nn.Module, x: Tensor) -> Tensor:
    """Contractive penalty ``||df/dx||_F^2`` of seed 001, one value per sample.

    The Jacobian of the encoder is computed exactly, row by row, with
    :func:`torch.func.jacrev` under :func:`torch.func.vmap`; the result stays in
    the autograd graph so that it can be minimised.

    Parameters
    ----------
    encoder : torch.nn.Module
        Maps ``(n_samples, n_features)`` to ``(n_samples, n_components)``
        sample-wise (no batch statistics).
    x : torch.Tensor of shape (n_samples, n_features)
        Points at which the Jacobian is taken.

    Returns
    -------
    penalty : torch.Tensor of shape (n_samples,)

    Examples
    --------
    >>> import torch
    >>> from skae.losses import contractive
    >>> linear = torch.nn.Linear(3, 2, bias=False)
    >>> with torch.no_grad():
    ...     _ = linear.weight.copy_(torch.tensor([[1.0, 0.0, 2.0], [0.0, 1.0, 0.0]]))
    >>> contractive(linear, torch.zeros(1, 3))
    tensor([6.], grad_fn=<SumBackward1>)
    """

    def encode_one(row: Tensor) -> Tensor:
        return encoder(row.unsqueeze(0)).squeeze(0)

    jacobians = torch.func.vmap(torch.func.jacrev(encode_one))(x)
    return jacobians.pow(2).sum(dim=(1, 2))


class Objective(nn.Module):
    """A skae training criterion: the skorch ``criterion`` of one model.

    skorch's net calls ``criterion(output, target, module=..., x=..., mask=...,
    context=...)``; a subclass implements :meth:`terms` and lists in
    ``term_names`` the named parts it returns (empty when the loss is a
    single term).
    """

    term_names: tuple[str, ...] = ()
    conditional: bool = False  # True: terms() also takes the batch's context

    def forward(
        self,
        output,
        target: Tensor,
        *,
        module: nn.Module,
        x: Tensor,
        mask: Tensor | None = None,
        context: Tensor | None = None,
    ) -> LossTerms:
        if not self.conditional:
            return self.terms(output, target, module, x, mask)
        return self.terms(output, target, module, x, mask, context=context)

    def terms(self, output, target, module, x, mask) -> LossTerms:
        """The batch's :class:`LossTerms` (``mask``: observed entries or None).

        A conditional objective (``conditional = True``) also takes
        ``context=``, the batch's encoded ``y``; the others ignore it.
        """
        raise NotImplementedError  # pragma: no cover - every objective defines it


class ReconstructionLoss(Objective):
    """Autoencoder objective: quadratic error plus optional penalties.

    ``mean_j (x_j - r_j)**2 + sparsity * ||h||_1 + contraction * ||df/dx||_F^2``
    averaged over the batch, for a module whose output is
    ``(reconstruction, code)`` and which has an ``encoder``.  The contractive
    Jacobian is taken at the module's input ``x`` (the corrupted input of a
    denoising autoencoder), the error against ``target``.

    Parameters
    ----------
    sparsity : float, default=0.0
        Weight of the L1 penalty on the code.
    contraction : float, default=0.0
        Weight of the contractive penalty.
    heads : ColumnHeads or None, default=None
        For a table with categorical columns or missing entries: the error
        is :meth:`~skae.modules.heads.ColumnHeads.reconstruction_error`
        (squared error and cross-entropy, observed columns only).

    Examples
    --------
    >>> import torch
    >>> from skae.losses import ReconstructionLoss
    >>> from skae.modules.autoencoder import Autoencoder
    >>> module = Autoencoder(3, 2, (), "identity")
    >>> x = torch.randn(4, 3)
    >>> loss = ReconstructionLoss(sparsity=0.1)(module(x), x, module=module, x=x)
    >>> sorted(loss.terms)
    ['reconstruction', 'sparsity']
    """

    def __init__(
        self,
        sparsity: float = 0.0,
        contraction: float = 0.0,
        heads: ColumnHeads | None = None,
    ) -> None:
        super().__init__()
        self.sparsity = sparsity
        self.contraction = contraction
        self.heads = heads

    @property
    def term_names(self) -> tuple[str, ...]:
        """The named parts; empty when the loss is the reconstruction alone."""
        penalties = tuple(
            name
            for name, weight in (
                ("sparsity", self.sparsity),
                ("contraction", self.contraction),
            )
            if weight
        )
        return ("reconstruction", *penalties) if penalties else ()

    def terms(self, output, target, module, x, mask) -> LossTerms:
        reconstruction, code = output
        if self.heads is None:
            error = squared_error(target, reconstruction, mask).mean()
        else:
            error = self.heads.reconstruction_error(target, reconstruction, mask).mean()
        terms = {"reconstruction": error}
        total = error
        if self.sparsity:
            terms["sparsity"] = l1_sparsity(code).mean()
            total = total + self.sparsity * terms["sparsity"]
        if self.contraction:
            with torch.enable_grad():
                terms["contraction"] = contractive(module.encoder, x).mean()
            total = total + self.contraction * terms["contraction"]
        return LossTerms(total, terms)


class NegativeELBO(Objective):
    """VAE objective ``beta * KL(q(z|x) || N(0, I)) - log p(x|z)``, batch mean.

    For a module whose output has ``mu``, ``logvar`` and ``decoder_out`` and
    which scores ``decoder_log_likelihood(target, decoder_out)``; the terms
    ``kl`` and ``reconstruction`` are in nats per sample, and
    ``total = reconstruction + beta * kl``.

    Parameters
    ----------
    beta : float, default=1.0
        Weight of the KL term; 1 gives the negative evidence lower bound.
    heads : ColumnHeads or None, default=None
        For a table with categorical columns or missing entries:
        ``log p(x|z)`` is :meth:`~skae.modules.heads.ColumnHeads.log_likelihood`
        on the observed entries only (Mattei and Frellsen, 2019).
    n_samples : int, default=1
        Latent draws per row.  Above 1 (with ``heads``) the loss is minus the
        importance-weighted bound of Burda et al. on the observed entries
        (MIWAE); ``reconstruction`` is then that loss minus ``beta * kl``.
    n_validation_draws : int, default=16
        Draws from ``q(z|x)`` per held-out row in eval mode (validation), the
        same draws at every pass; training uses the module's one
        reparameterised draw.
    """

    term_names: tuple[str, ...] = ("kl", "reconstruction")

    def __init__(
        self,
        beta: float = 1.0,
        heads: ColumnHeads | None = None,
        n_samples: int = 1,
        n_validation_draws: int = 16,
    ) -> None:
        super().__init__()
        self.beta = beta
        self.heads = heads
        self.n_samples = n_samples
        self.n_validation_draws = n_validation_draws

    def _held_out_reconstruction(self, output, target, module) -> Tensor:
        """``-E_q log p(x|z)`` over fixed draws, shared by rows and epochs.

        In eval mode the module decodes the posterior mean only; a held-out
        bound needs draws from ``q(z|x)``.  The same ``n_validation_draws``
        standard-normal draws are used at every validation pass, so epochs
        compare.
        """
        k = output.mu.shape[-1]
        draws = torch.Generator().manual_seed(0)
        eps = torch.randn(self.n_validation_draws, 1, k, generator=draws)
        eps = eps.to(dtype=output.mu.dtype, device=output.mu.device)
        z = reparameterize(output.mu, output.logvar, eps)
        log_likelihood = module.decoder_log_likelihood(target, module.decoder_output(z))
        return -log_likelihood.mean()

    def terms(self, output, target, module, x, mask) -> LossTerms:
        kl = gaussian_kl_standard(output.mu, output.logvar).mean()
        if self.heads is None and module.training:
            nll = -module.decoder_log_likelihood(target, output.decoder_out).mean()
        elif self.heads is None:
            nll = self._held_out_reconstruction(output, target, module)
        elif self.n_samples == 1 or not module.training:
            nll = -observed_log_likelihood(
                module, self.heads, target, output.decoder_out, mask
            ).mean()
        else:
            total = -observed_iwae_bound(
                module,
                self.heads,
                target,
                output.mu,
                output.logvar,
                mask,
                torch.randn(
                    (self.n_samples, *output.mu.shape),
                    dtype=output.mu.dtype,
                    device=output.mu.device,
                ),
            ).mean()
            return LossTerms(
                total, {"kl": kl, "reconstruction": total - self.beta * kl}
            )
        return LossTerms(nll + self.beta * kl, {"kl": kl, "reconstruction": nll})


def observed_log_likelihood(
    module: nn.Module,
    heads: ColumnHeads,
    x: Tensor,
    decoder_out: Tensor,
    mask: Tensor | None,
) -> Tensor:
    """``log p(x_obs | z)`` of a VAE module's decoder output, per row."""
    if module.likelihood != "gaussian":
        return heads.log_likelihood(x, decoder_out, mask)
    logvar = module.clamped_decoder_logvar()
    return heads.log_likelihood(x, decoder_out, mask, logvar, module.noise_factors)


def observed_log_weights(
    module: nn.Module,
    heads: ColumnHeads,
    x: Tensor,
    mu: Tensor,
    logvar: Tensor,
    mask: Tensor | None,
    eps: Tensor,
    widen: float = 1.0,
) -> tuple[Tensor, Tensor]:
    """Log-weights ``log p(x_obs|z_k) p(z_k) / q(z_k|x)`` and decoder outputs.

    ``eps`` of shape ``(K, n, d)`` or ``(K, 1, d)`` gives ``z_k = mu + sigma * eps_k``;
    returns log-weights of shape ``(K, n)`` and decoder outputs ``(K, n, width)``.
    With ``widen > 1`` the second half of the draws comes from ``q`` with its
    standard deviations times ``widen`` and every weight divides by the
    half-and-half mixture of the two (defensive importance sampling,
    Hesterberg 1995): the weights stay bounded where ``q`` is narrower than
    the posterior, as it is when ``x`` has missing entries.
    """
    if widen == 1.0:
        z = reparameterize(mu, logvar, eps)
        log_q = diag_gaussian_log_prob(z, mu, logvar)
    else:
        scale = torch.ones(eps.shape[0], 1, 1, dtype=eps.dtype, device=eps.device)
        scale[eps.shape[0] // 2 :] = widen
        z = reparameterize(mu, logvar, eps * scale)
        wide = logvar + 2.0 * math.log(widen)
        log_q = torch.logaddexp(
            diag_gaussian_log_prob(z, mu, logvar), diag_gaussian_log_prob(z, mu, wide)
        ) - math.log(2.0)
    decoder_out = module.decoder_output(z)
    log_px = observed_log_likelihood(module, heads, x, decoder_out, mask)
    log_w = log_px + standard_normal_log_prob(z) - log_q
    return log_w, decoder_out


def observed_iwae_bound(module, heads, x, mu, logvar, mask, eps) -> Tensor:
    """The importance-weighted bound on ``log p(x_obs)`` from draws ``eps``, per row."""
    log_w, _ = observed_log_weights(module, heads, x, mu, logvar, mask, eps)
    return torch.logsumexp(log_w, dim=0) - math.log(log_w.shape[0])


class NegativeLogLikelihood(Objective):
    """Flow objective: the batch mean of ``-(log p_Z(z) + log|det dz/dx|)``.

    For a module whose output is ``(z, log_det)``; in nats per sample.  The
    base ``p_Z`` is the module's ``base_log_prob`` when it has one (a fitted
    mixture), else ``N(0, I)`` (:func:`~skae.distributions.flow_nll`).
    """

    def terms(self, output, target, module, x, mask) -> LossTerms:
        z, log_det = output
        base = getattr(module, "base_log_prob", None)
        if base is None:
            return LossTerms(flow_nll(z, log_det).mean(), {})
        return LossTerms(-(base(z) + log_det).mean(), {})


class ConditionalNegativeLogLikelihood(NegativeLogLikelihood):
    """A conditional flow's objective: ``-(log p_Z(z | y) + log|det dz/dx|)``.

    The batch's context reaches the base (one mixture per class, say)
    through the module's ``base_log_prob(z, context)``.
    """

    conditional = True

    def terms(self, output, target, module, x, mask, context=None) -> LossTerms:
        z, log_det = output
        return LossTerms(-(module.base_log_prob(z, context) + log_det).mean(), {})


class ConditionalNegativeELBO(NegativeELBO):
    """A conditional VAE's objective: :class:`NegativeELBO` of ``x`` given ``y``.

    The module (:class:`~skae.modules.vae.ConditionalGaussianVAE`) encodes
    and decodes ``v = A_y^{-1} (x - M y)``; the target is mapped likewise and
    the reconstruction term gains ``-log |det A_y^{-1}|``, so that the loss
    is the negative ELBO of ``x`` given ``y``.
    """

    conditional = True

    def terms(self, output, target, module, x, mask, context=None) -> LossTerms:
        rows = module.model_rows(target, context)
        loss = super().terms(output, rows, module, x, mask)
        log_det = module.log_det(context).to(loss.total).mean()
        terms = {**loss.terms, "reconstruction": loss.terms["reconstruction"] - log_det}
        return LossTerms(loss.total - log_det, terms)
