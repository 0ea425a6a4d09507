"""Gaussian-encoder variational autoencoder as a plain ``torch.nn.Module``."""

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from skae._vae_math import (
    bernoulli_log_likelihood,
    diag_gaussian_log_prob,
    gaussian_kl_standard,
    gaussian_log_likelihood,
    importance_weighted_log_likelihood,
    reparameterize,
    standard_normal_log_prob,
)
from skae.modules.mlp import make_mlp

LIKELIHOODS: tuple[str, ...] = ("bernoulli", "gaussian")


class GaussianVAE(nn.Module):
    """Variational autoencoder with a diagonal Gaussian encoder and an N(0, I) prior.

    The encoder maps ``x`` to ``(mu, logvar)`` of ``q(z | x) = N(mu, diag
    exp(logvar))``. The decoder maps ``z`` to the parameters of ``p(x | z)``:

    - ``'gaussian'``: the mean of ``N(mean(z), diag exp(decoder_logvar))``, with
      a learned log-variance vector shared by all samples (one per feature);
    - ``'bernoulli'``: the logits of independent Bernoulli variables; the
      reconstruction is ``sigmoid(logits)``.

    All log-variances are clamped to ``logvar_bounds`` for numerical stability.

    Parameters
    ----------
    n_features : int
        Dimension of ``x``.
    n_components : int
        Dimension of the latent code ``z``.
    hidden_layer_sizes : sequence of int, default=(100,)
        Hidden widths of the encoder; the decoder uses them in reverse order.
        An empty sequence makes both maps affine.
    activation : {'relu', 'tanh', 'logistic', 'identity'}, default='relu'
        Non-linearity between hidden layers.
    likelihood : {'gaussian', 'bernoulli'}, default='gaussian'
        Observation model ``p(x | z)``.
    logvar_bounds : tuple of float, default=(-10.0, 10.0)
        Interval into which every encoder and decoder log-variance is clamped.

    Attributes
    ----------
    encoder : torch.nn.Sequential
        MLP ``n_features -> 2 * n_components``; the first half is ``mu``, the
        second ``logvar``.
    decoder : torch.nn.Sequential
        MLP ``n_components -> n_features`` giving the mean or the logits.
    decoder_logvar : torch.nn.Parameter of shape (n_features,) or None
        Unclamped per-feature decoder log-variance (Gaussian likelihood only).

    Notes
    -----
    ``forward`` samples ``z = mu + exp(logvar / 2) * eps`` with ``eps`` from
    torch's global generator in training mode, so seeding torch seeds training.
    In evaluation mode it uses ``z = mu``: reconstructions and the loss are then
    deterministic, as the seed prescribes for inference ("we do not sample, and
    instead use mu^f and mu^g as prediction"). Use :meth:`log_likelihood` for a
    proper stochastic bound on ``log p(x)``.

    Examples
    --------
    >>> import torch
    >>> from skae.modules.vae import GaussianVAE
    >>> _ = torch.manual_seed(0)
    >>> vae = GaussianVAE(4, 2, hidden_layer_sizes=(8,))
    >>> x = torch.randn(5, 4)
    >>> recon, mu, logvar, decoder_out, z = vae(x)
    >>> recon.shape, mu.shape, z.shape
    (torch.Size([5, 4]), torch.Size([5, 2]), torch.Size([5, 2]))
    >>> loss, kl, nll = vae.negative_elbo(x, beta=1.0)
    >>> loss.backward()
    >>> eps = torch.randn(10, 2)
    >>> vae.log_likelihood(x, n_samples=10, eps=eps).shape
    torch.Size([5])
    """

    def __init__(
        self,
        n_features: int,
        n_components: int,
        hidden_layer_sizes: Sequence[int] = (100,),
        activation: str = "relu",
        likelihood: str = "gaussian",
        *,
        logvar_bounds: tuple[float, float] = (-10.0, 10.0),
    ) -> None:
        super().__init__()
        if likelihood not in LIKELIHOODS:
            raise ValueError(
                f"Unknown likelihood {likelihood!r}; expected one of {LIKELIHOODS}."
            )
        hidden = list(hidden_layer_sizes)
        self.n_features = n_features
        self.n_components = n_components
        self.likelihood = likelihood
        self.logvar_bounds = logvar_bounds
        self.encoder = make_mlp([n_features, *hidden, 2 * n_components], activation)
        self.decoder = make_mlp([n_components, *hidden[::-1], n_features], activation)
        self.decoder_logvar: nn.Parameter | None
        if likelihood == "gaussian":
            self.decoder_logvar = nn.Parameter(torch.zeros(n_features))
        else:
            self.register_parameter("decoder_logvar", None)

    def _clamp_logvar(self, logvar: Tensor) -> Tensor:
        low, high = self.logvar_bounds
        return logvar.clamp(low, high)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Parameters of ``q(z | x)``.

        Parameters
        ----------
        x : Tensor of shape (..., n_features)

        Returns
        -------
        mu : Tensor of shape (..., n_components)
        logvar : Tensor of shape (..., n_components)
            Clamped to ``logvar_bounds``.
        """
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return mu, self._clamp_logvar(logvar)

    def decode(self, z: Tensor) -> Tensor:
        """Decoder output: the Gaussian mean or the Bernoulli logits.

        Parameters
        ----------
        z : Tensor of shape (..., n_components)

        Returns
        -------
        decoder_out : Tensor of shape (..., n_features)
            Pass it to :meth:`decoder_mean` for a reconstruction and to
            :meth:`decoder_log_likelihood` for ``log p(x | z)``.
        """
        return self.decoder(z)

    def decoder_mean(self, decoder_out: Tensor) -> Tensor:
        """Mean of ``p(x | z)``: ``decoder_out`` itself or ``sigmoid(decoder_out)``."""
        if self.likelihood == "bernoulli":
            return torch.sigmoid(decoder_out)
        return decoder_out

    def clamped_decoder_logvar(self) -> Tensor:
        """Per-feature decoder log-variance after clamping (Gaussian only)."""
        if self.decoder_logvar is None:
            raise AttributeError("A Bernoulli decoder has no variance parameter.")
        return self._clamp_logvar(self.decoder_logvar)

    def decoder_log_likelihood(self, x: Tensor, decoder_out: Tensor) -> Tensor:
        """``log p(x | z)`` summed over features.

        Parameters
        ----------
        x : Tensor of shape (n, n_features)
        decoder_out : Tensor of shape (..., n, n_features)
            Output of :meth:`decode`; leading draw axes broadcast against ``x``.

        Returns
        -------
        log_likelihood : Tensor of shape (..., n)
        """
        if self.likelihood == "bernoulli":
            return bernoulli_log_likelihood(x, decoder_out)
        return gaussian_log_likelihood(x, decoder_out, self.clamped_decoder_logvar())

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Encode, draw (training) or take the mean (evaluation), decode.

        Parameters
        ----------
        x : Tensor of shape (n, n_features)

        Returns
        -------
        recon : Tensor of shape (n, n_features)
            Decoder mean; first so that skorch's ``predict`` returns it.
        mu : Tensor of shape (n, n_components)
        logvar : Tensor of shape (n, n_components)
        decoder_out : Tensor of shape (n, n_features)
            Gaussian mean or Bernoulli logits, for :meth:`decoder_log_likelihood`.
        z : Tensor of shape (n, n_components)
            The latent code that was decoded.
        """
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar, torch.randn_like(mu)) if self.training else mu
        decoder_out = self.decode(z)
        return self.decoder_mean(decoder_out), mu, logvar, decoder_out, z

    def negative_elbo_from_output(
        self,
        x: Tensor,
        output: tuple[Tensor, Tensor, Tensor, Tensor, Tensor],
        beta: float = 1.0,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``beta * KL(q(z|x) || p(z)) - log p(x|z)`` from an output of ``forward``.

        Parameters
        ----------
        x : Tensor of shape (n, n_features)
        output : tuple
            What ``self(x)`` returned (a skorch ``y_pred``).
        beta : float, default=1.0
            Weight of the KL term; 1 gives the negative ELBO.

        Returns
        -------
        loss : Tensor of shape ()
            Mean over samples of ``beta * kl + nll``.
        kl : Tensor of shape ()
            Mean KL divergence.
        nll : Tensor of shape ()
            Mean reconstruction negative log-likelihood ``-log p(x | z)``.
        """
        _, mu, logvar, decoder_out, _ = output
        kl = gaussian_kl_standard(mu, logvar).mean()
        nll = -self.decoder_log_likelihood(x, decoder_out).mean()
        return nll + beta * kl, kl, nll

    def negative_elbo(
        self, x: Tensor, beta: float = 1.0
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Run ``forward`` on ``x`` and return its ``(loss, kl, nll)``.

        See :meth:`negative_elbo_from_output` for the terms; in evaluation mode
        ``z = mu`` and the value is deterministic.
        """
        return self.negative_elbo_from_output(x, self(x), beta)

    def log_likelihood(
        self,
        x: Tensor,
        n_samples: int = 1,
        eps: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Importance-weighted estimate of ``log p(x)`` for each row.

        With ``z_k = mu(x) + sigma(x) * eps_k`` it returns
        ``log (1/K) sum_k p(x | z_k) p(z_k) / q(z_k | x)``; ``K = 1`` is the ELBO.
        The same noise ``eps`` is used for every row (common random numbers), so
        a row's value does not depend on the batch it is computed in: pass the
        same ``eps`` to every batch.

        Parameters
        ----------
        x : Tensor of shape (n, n_features)
        n_samples : int, default=1
            Number ``K`` of importance samples.
        eps : Tensor of shape (n_samples, n_components), default=None
            Standard-normal noise shared by all rows; converted to the dtype
            and device of the model's output. Drawn from ``generator`` if None.
        generator : torch.Generator, default=None
            CPU generator used only when ``eps`` is None; None means torch's
            global generator.

        Returns
        -------
        log_likelihood : Tensor of shape (n,)
        """
        if eps is None:
            eps = torch.randn(n_samples, self.n_components, generator=generator)
        elif tuple(eps.shape) != (n_samples, self.n_components):
            raise ValueError(
                f"eps must have shape {(n_samples, self.n_components)}, "
                f"got {tuple(eps.shape)}."
            )
        mu, logvar = self.encode(x)
        eps = eps.to(dtype=mu.dtype, device=mu.device).unsqueeze(1)
        z = reparameterize(mu, logvar, eps)
        log_px_given_z = self.decoder_log_likelihood(x, self.decode(z))
        log_pz = standard_normal_log_prob(z)
        log_qz = diag_gaussian_log_prob(z, mu, logvar)
        return importance_weighted_log_likelihood(log_px_given_z, log_pz, log_qz)

    def sample(
        self, n_samples: int = 1, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """Draw ``z ~ N(0, I)`` and then ``x ~ p(x | z)``.

        Parameters
        ----------
        n_samples : int, default=1
            Number of draws.
        generator : torch.Generator, default=None
            Generator on the model's device; None means torch's global one.

        Returns
        -------
        x : Tensor of shape (n_samples, n_features)
            Gaussian draws, or 0/1 draws for a Bernoulli decoder.
        z : Tensor of shape (n_samples, n_components)
        """
        reference = self.decoder[0].weight
        z = torch.randn(
            n_samples,
            self.n_components,
            generator=generator,
            dtype=reference.dtype,
            device=reference.device,
        )
        decoder_out = self.decode(z)
        mean = self.decoder_mean(decoder_out)
        if self.likelihood == "bernoulli":
            return torch.bernoulli(mean, generator=generator), z
        noise = torch.randn(
            mean.shape, generator=generator, dtype=mean.dtype, device=mean.device
        )
        return reparameterize(mean, self.clamped_decoder_logvar(), noise), z
