"""Gaussian-encoder variational autoencoder as a plain ``torch.nn.Module``."""

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

from skae.distributions import (
    bernoulli_log_likelihood,
    diag_gaussian_log_prob,
    gaussian_log_likelihood,
    importance_weighted_log_likelihood,
    low_rank_gaussian_log_likelihood,
    reparameterize,
    standard_normal_log_prob,
)
from skae.modules.codec import encoder_decoder
from skae.modules.residual import ResidualMap

LIKELIHOODS: tuple[str, ...] = ("bernoulli", "gaussian")


class VAEOutput(NamedTuple):
    """What :meth:`GaussianVAE.forward` returns, by name.

    ``reconstruction`` is the decoder mean, ``mu`` and ``logvar`` the
    parameters of ``q(z|x)``, ``decoder_out`` the Gaussian mean or the
    Bernoulli logits, ``z`` the decoded latent point.
    """

    reconstruction: Tensor
    mu: Tensor
    logvar: Tensor
    decoder_out: Tensor
    z: Tensor


class GaussianVAE(nn.Module):
    """Variational autoencoder with a diagonal Gaussian encoder and an N(0, I) prior.

    The encoder maps ``x`` to ``(mu, logvar)`` of ``q(z | x) = N(mu, diag
    exp(logvar))``. The decoder maps ``z`` to the parameters of ``p(x | z)``:

    - ``'gaussian'``: the mean of ``N(mean(z), diag exp(decoder_logvar))``, with
      a learned log-variance vector shared by all samples (one per feature);
    - ``'bernoulli'``: the logits of independent Bernoulli variables; the
      reconstruction is ``sigmoid(logits)``.

    Log-variances are clamped (``logvar_bounds``, ``decoder_logvar_bounds``)
    for numerical stability.

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
        Interval into which every posterior log-variance is clamped.
    decoder_logvar_bounds : tuple of float, default=(-10.0, 10.0)
        Interval of the decoder's per-feature log-variance.  (A lower floor,
        -16, let the VAE over-fit near-deterministic features of two real
        tables by 20 and 280 nats on held-out rows.)
    linear_path : bool, default=False
        If True, encoder and decoder are linear maps plus residual branches
        that start at zero (:class:`~skae.modules.residual.ResidualMap`),
        for :meth:`start_at_factor_model`.
    image_shape : tuple of 3 int or None, default=None
        ``(C, H, W)`` of the flattened rows: the networks (the residual
        branches with ``linear_path``) are convolutional
        (:mod:`skae.modules.conv`); the encoder's last layer gives ``mu`` and
        ``logvar`` as ``2 * n_components`` channels, the decoder's the mean
        or logits of every pixel.  ``hidden_layer_sizes`` is then unused.
    channels : int, default=32
        Hidden channels of the convolutional networks, or units of the
        recurrent state with ``sequence_shape``.
    sequence_shape : tuple of 2 int or None, default=None
        ``(T, F)`` of the flattened rows: the networks (the residual
        branches with ``linear_path``) are the GRU encoder and decoder of
        :mod:`skae.modules.sequence`; ``hidden_layer_sizes`` is then unused.

    Attributes
    ----------
    encoder : torch.nn.Sequential
        MLP ``n_features -> 2 * n_components``; the first half is ``mu``, the
        second ``logvar``.
    decoder : torch.nn.Sequential
        MLP ``n_components -> n_features`` giving the mean or the logits.
    decoder_logvar : torch.nn.Parameter of shape (n_features,) or None
        Unclamped per-feature decoder log-variance (Gaussian likelihood only).
    decoder_logvar_floor : Tensor of shape (n_features,) or None
        A buffer: the decoder log-variance's lower bound is its minimum with
        ``decoder_logvar_bounds[0]``; ``+inf`` unless
        :meth:`start_at_factor_model` set it to the factor model's own log
        noise (features the factors determine have less than ``exp(-10)``).
    noise_factors : torch.nn.Parameter of shape (n_features, rank) or None
        The low-rank part ``F`` of the decoder's noise covariance
        ``diag exp(decoder_logvar) + F F^T`` (Gaussian likelihood); None for
        diagonal noise.  Set by :meth:`set_noise_factors`.

    Notes
    -----
    ``forward`` samples ``z = mu + exp(logvar / 2) * eps`` with ``eps`` from
    torch's global generator in training mode, so seeding torch seeds training.
    In evaluation mode it uses ``z = mu``: reconstructions and the loss are then
    deterministic, as the seed prescribes for inference ("we do not sample, and
    instead use mu^f and mu^g as prediction"). Use :meth:`log_prob` for a
    proper stochastic bound on ``log p(x)``.  The objective is
    :class:`skae.losses.NegativeELBO`.

    Examples
    --------
    >>> import torch
    >>> from skae.modules.vae import GaussianVAE
    >>> _ = torch.manual_seed(0)
    >>> vae = GaussianVAE(4, 2, hidden_layer_sizes=(8,))
    >>> x = torch.randn(5, 4)
    >>> output = vae(x)
    >>> output.reconstruction.shape, output.mu.shape, output.z.shape
    (torch.Size([5, 4]), torch.Size([5, 2]), torch.Size([5, 2]))
    >>> vae.encode(x).shape, vae.decode(torch.zeros(3, 2)).shape
    (torch.Size([5, 2]), torch.Size([3, 4]))
    >>> vae.log_prob(x, eps=torch.randn(10, 2)).shape
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
        decoder_logvar_bounds: tuple[float, float] = (-10.0, 10.0),
        linear_path: bool = False,
        image_shape: tuple[int, int, int] | None = None,
        channels: int = 32,
        sequence_shape: tuple[int, int] | None = None,
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
        self.decoder_logvar_bounds = decoder_logvar_bounds
        self.encoder, self.decoder = encoder_decoder(
            n_features,
            2 * n_components,
            n_components,
            hidden,
            activation,
            linear_path=linear_path,
            image_shape=image_shape,
            channels=channels,
            sequence_shape=sequence_shape,
        )
        self.decoder_logvar: nn.Parameter | None
        if likelihood == "gaussian":
            self.decoder_logvar = nn.Parameter(torch.zeros(n_features))
            floor = torch.full((n_features,), float("inf"))
            self.register_buffer("decoder_logvar_floor", floor)
        else:
            self.register_parameter("decoder_logvar", None)
            self.register_buffer("decoder_logvar_floor", None)
        self.noise_factors: nn.Parameter | None = None

    def set_noise_factors(self, factors: Tensor | None) -> None:
        """Make ``factors`` (n_features, rank) the low-rank part of the noise.

        ``None`` or a rank of 0 makes the noise diagonal again.  A new
        parameter: call it before an optimiser is built over the module.
        """
        if factors is not None and factors.shape[-1] > 0:
            if self.decoder_logvar is None:
                raise TypeError("A Bernoulli decoder has no noise covariance.")
            if factors.shape != (self.n_features, factors.shape[-1]):
                raise ValueError(
                    f"factors must have shape ({self.n_features}, rank), "
                    f"got {tuple(factors.shape)}."
                )
            self.noise_factors = nn.Parameter(factors.detach().clone())
        else:
            self.noise_factors = None

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # A fitted module's noise rank is chosen by its warm start: a module
        # rebuilt from its constructor takes the saved one.
        factors = state_dict.get(prefix + "noise_factors")
        if factors is not None and (
            self.noise_factors is None or self.noise_factors.shape != factors.shape
        ):
            self.set_noise_factors(torch.zeros_like(factors))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @torch.no_grad()
    def start_at_factor_model(
        self,
        mean: Tensor,
        loadings: Tensor,
        noise_variance: Tensor,
        posterior_weight: Tensor,
        posterior_variance: Tensor,
        noise_factors: Tensor | None = None,
    ) -> None:
        """Make the module the factor model ``x = L z + mean + e`` and its posterior.

        The decoder's linear path is ``L z + mean`` with per-feature variance
        ``noise_variance``; the encoder's is the exact Gaussian posterior
        (``posterior_weight`` (k, d) applied to ``x - mean``, variances
        ``posterior_variance``), diagonal because the loadings are rotated so
        (:func:`skae._warm_start.factor_model`).  The residual branches add
        nothing yet; their outputs are scaled by the posterior and noise
        standard deviations.  So the untrained ELBO equals the factor model's
        log-likelihood.  The decoder's log-variance floor is lowered, per
        feature, to the factor model's noise where that lies below
        ``decoder_logvar_bounds[0]`` (features the factors determine), so
        the start is representable.  ``noise_factors`` (d, rank): more
        factors of the same model, integrated out into the noise covariance
        ``diag noise_variance + F F^T`` (:meth:`set_noise_factors`); the
        posterior of the latent factors is then the marginal of the joint
        one, still exact.  Needs ``linear_path=True`` and a Gaussian
        likelihood.
        """
        if not isinstance(self.encoder, ResidualMap) or self.decoder_logvar is None:
            raise TypeError(
                "start_at_factor_model needs a Gaussian VAE with linear_path=True."
            )
        k = self.n_components
        weight = torch.cat(
            [posterior_weight, posterior_weight.new_zeros(k, mean.numel())]
        )
        bias = torch.cat([-(posterior_weight @ mean), posterior_variance.log()])
        out_scale = torch.cat(
            [posterior_variance.sqrt(), posterior_variance.new_ones(k)]
        )
        self.encoder.start_at(weight, bias, out_scale=out_scale)
        self.decoder.start_at(loadings, mean, out_scale=noise_variance.sqrt())
        log_noise = noise_variance.log().to(self.decoder_logvar)
        self.decoder_logvar_floor.copy_(log_noise)
        self.decoder_logvar.copy_(log_noise)
        self.set_noise_factors(noise_factors)

    @torch.no_grad()
    def fit_boxes(self, x: Tensor) -> None:
        """Box the residual branches to the training inputs and latent draws.

        The decoder's box is the posterior means' range widened by three
        prior standard deviations, where draws from ``q(z|x)`` and the prior
        land.  A no-op for plain MLPs.
        """
        if isinstance(self.encoder, ResidualMap):
            self.encoder.fit_box(x)
            self.decoder.fit_box(self.posterior(x)[0], pad=3.0)

    def _clamp_logvar(self, logvar: Tensor) -> Tensor:
        low, high = self.logvar_bounds
        return logvar.clamp(low, high)

    def posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Parameters ``(mu, logvar)`` of ``q(z | x)``, ``logvar`` clamped.

        Parameters
        ----------
        x : Tensor of shape (..., n_features)

        Returns
        -------
        mu, logvar : Tensor of shape (..., n_components)
        """
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return mu, self._clamp_logvar(logvar)

    def encode(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """The posterior mean ``mu(x)``: the code of ``transform``."""
        return self.posterior(x)[0]

    def decoder_output(self, z: Tensor) -> Tensor:
        """Raw decoder output: the Gaussian mean or the Bernoulli logits."""
        return self.decoder(z)

    def decoder_mean(self, decoder_out: Tensor) -> Tensor:
        """Mean of ``p(x | z)``: ``decoder_out`` itself or ``sigmoid(decoder_out)``."""
        if self.likelihood == "bernoulli":
            return torch.sigmoid(decoder_out)
        return decoder_out

    def decode(self, z: Tensor, context: Tensor | None = None) -> Tensor:
        """The decoder mean ``E[x | z]`` (probabilities for Bernoulli)."""
        return self.decoder_mean(self.decoder_output(z))

    def clamped_decoder_logvar(self) -> Tensor:
        """Per-feature decoder log-variance after clamping (Gaussian only)."""
        if self.decoder_logvar is None:
            raise AttributeError("A Bernoulli decoder has no variance parameter.")
        low, high = self.decoder_logvar_bounds
        floor = self.decoder_logvar_floor.to(self.decoder_logvar).clamp(max=low)
        return torch.maximum(self.decoder_logvar, floor).clamp(max=high)

    def decoder_log_likelihood(self, x: Tensor, decoder_out: Tensor) -> Tensor:
        """``log p(x | z)`` summed over features.

        Parameters
        ----------
        x : Tensor of shape (n, n_features)
        decoder_out : Tensor of shape (..., n, n_features)
            Output of :meth:`decoder_output`; leading draw axes broadcast
            against ``x``.

        Returns
        -------
        log_likelihood : Tensor of shape (..., n)
        """
        if self.likelihood == "bernoulli":
            return bernoulli_log_likelihood(x, decoder_out)
        logvar = self.clamped_decoder_logvar()
        if self.noise_factors is not None:
            return low_rank_gaussian_log_likelihood(
                x, decoder_out, logvar, self.noise_factors
            )
        return gaussian_log_likelihood(x, decoder_out, logvar)

    def forward(
        self, x: Tensor, context: Tensor | None = None, mask: Tensor | None = None
    ) -> VAEOutput:
        """Encode, draw (training) or take the mean (evaluation), decode.

        Parameters
        ----------
        x : Tensor of shape (n, n_features)

        Returns
        -------
        output : VAEOutput
            Its first field, the decoder mean, is what skorch's ``predict``
            returns.
        """
        mu, logvar = self.posterior(x)
        z = reparameterize(mu, logvar, torch.randn_like(mu)) if self.training else mu
        decoder_out = self.decoder_output(z)
        return VAEOutput(self.decoder_mean(decoder_out), mu, logvar, decoder_out, z)

    def log_prob(
        self, x: Tensor, context: Tensor | None = None, *, eps: Tensor
    ) -> Tensor:
        """Importance-weighted estimate of ``log p(x)`` for each row.

        With ``z_k = mu(x) + sigma(x) * eps_k`` it returns
        ``log (1/K) sum_k p(x | z_k) p(z_k) / q(z_k | x)``; ``K = 1`` is the ELBO.
        The same noise ``eps`` is used for every row (common random numbers), so
        a row's value does not depend on the batch it is computed in.  The
        ``K`` draws of a batch go through the decoder as one
        ``(K * n, n_components)`` pass.

        Parameters
        ----------
        x : Tensor of shape (n, n_features)
        eps : Tensor of shape (K, n_components)
            Standard-normal noise shared by all rows; converted to the dtype
            and device of the model's output.

        Returns
        -------
        log_likelihood : Tensor of shape (n,)
        """
        if eps.ndim != 2 or eps.shape[1] != self.n_components:
            raise ValueError(
                f"eps must have shape (K, {self.n_components}), got {tuple(eps.shape)}."
            )
        mu, logvar = self.posterior(x)
        eps = eps.to(dtype=mu.dtype, device=mu.device).unsqueeze(1)
        z = reparameterize(mu, logvar, eps)
        log_px_given_z = self.decoder_log_likelihood(x, self.decoder_output(z))
        log_pz = standard_normal_log_prob(z)
        log_qz = diag_gaussian_log_prob(z, mu, logvar)
        return importance_weighted_log_likelihood(log_px_given_z, log_pz, log_qz)


class ConditionalGaussianVAE(GaussianVAE):
    """A Gaussian VAE of ``p(x | y)``: ``x = M y + A_y v``, ``v`` a shared VAE.

    The context ``y`` (encoded: one-hot labels or standardised covariates)
    shifts the data by a learned linear map ``M y`` (``context_shift``) and,
    once :meth:`set_class_factors` is called (class labels), maps each class
    by a fixed lower-triangular ``A_y``: the encoder reads ``v = A_y^{-1} (x
    - M y)``, the decoder's mean is ``A_y decoder(z) + M y``, and ``log p(x
    | y)`` is the VAE's log-density of ``v`` less ``log |det A_y|``.  Without
    class factors ``A_y = I`` (a translation: no Jacobian).  Started at the
    class means and, per class, ``A_y`` the Cholesky factor of the class's
    factor-model covariance (the VAE on ``v`` at a factor model of the
    whitened rows), the untrained module is the classical per-class model.

    Parameters
    ----------
    n_features, n_components : int
        As :class:`GaussianVAE`.
    n_context : int
        Width of the encoded context.
    **kwargs
        :class:`GaussianVAE`'s other arguments.

    Attributes
    ----------
    class_factors : Tensor of shape (n_context, n_features, n_features) or None
        A buffer: ``A_y`` of each class (None: the identity).
    class_whitening : Tensor of the same shape or None
        A buffer: the inverses ``A_y^{-1}``.
    class_log_det : Tensor of shape (n_context,) or None
        A buffer: ``log |det A_y^{-1}|``.

    Examples
    --------
    >>> import torch
    >>> from skae.modules.vae import ConditionalGaussianVAE
    >>> vae = ConditionalGaussianVAE(4, 2, 3, hidden_layer_sizes=(8,))
    >>> x, c = torch.randn(5, 4), torch.eye(3)[[0, 1, 2, 0, 1]]
    >>> vae.log_prob(x, c, eps=torch.randn(10, 2)).shape
    torch.Size([5])
    >>> vae.set_class_factors(2.0 * torch.eye(4).repeat(3, 1, 1))
    >>> vae.decode(torch.zeros(1, 2), c[:1]).shape
    torch.Size([1, 4])
    """

    _CLASS_BUFFERS = ("class_factors", "class_whitening", "class_log_det")

    def __init__(self, n_features: int, n_components: int, n_context: int, **kwargs):
        super().__init__(n_features, n_components, **kwargs)
        self.context_shift = nn.Linear(n_context, n_features, bias=False)
        nn.init.zeros_(self.context_shift.weight)
        for name in self._CLASS_BUFFERS:
            self.register_buffer(name, None)

    @torch.no_grad()
    def set_class_factors(self, factors: Tensor | None) -> None:
        """Make ``factors`` (n_context, d, d), lower-triangular with a positive
        diagonal, the classes' ``A_y``; None: the identity."""
        if factors is None:
            for name in self._CLASS_BUFFERS:
                setattr(self, name, None)
            return
        eye = torch.eye(factors.shape[-1], dtype=factors.dtype).expand_as(factors)
        self.class_factors = factors.detach().clone()
        self.class_whitening = torch.linalg.solve_triangular(factors, eye, upper=False)
        self.class_log_det = -torch.diagonal(factors, dim1=-2, dim2=-1).log().sum(-1)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # The class factors are set by the warm start: a module rebuilt from
        # its constructor takes the saved ones.
        for name in self._CLASS_BUFFERS:
            if state_dict.get(prefix + name) is not None:
                setattr(self, name, torch.zeros_like(state_dict[prefix + name]))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def shift(self, context: Tensor) -> Tensor:
        """``M y`` of each row."""
        if context is None:
            raise ValueError("A conditional VAE needs the context y.")
        return self.context_shift(context.to(self.context_shift.weight.dtype))

    def _per_class(self, matrices: Tensor, rows: Tensor, context: Tensor) -> Tensor:
        """``matrices[y] @ row`` of each row, ``y`` its one-hot ``context``."""
        context = context.to(rows.dtype)
        mapped = torch.einsum("kij,...nj->...nki", matrices.to(rows.dtype), rows)
        return torch.einsum("nk,...nki->...ni", context, mapped)

    def model_rows(self, x: Tensor, context: Tensor) -> Tensor:
        """``v = A_y^{-1} (x - M y)``: what the shared VAE models."""
        residual = x - self.shift(context)
        if self.class_whitening is None:
            return residual
        return self._per_class(self.class_whitening, residual, context)

    def log_det(self, context: Tensor) -> Tensor:
        """``log |det A_y^{-1}|`` of each row (zeros without class factors)."""
        if self.class_log_det is None:
            return context.new_zeros(context.shape[0])
        return context.to(self.class_log_det.dtype) @ self.class_log_det

    def unwhitened(self, v: Tensor, context: Tensor) -> Tensor:
        """``A_y v + M y`` (the decoder's side of :meth:`model_rows`)."""
        if self.class_factors is not None:
            v = self._per_class(self.class_factors, v, context)
        return v + self.shift(context)

    def forward(self, x, context=None, mask=None) -> VAEOutput:
        """:class:`GaussianVAE`'s outputs for ``v`` (the objective maps its
        target likewise); the reconstruction is mapped back to ``x``."""
        output = super().forward(self.model_rows(x, context), mask=mask)
        reconstruction = self.unwhitened(output.reconstruction, context)
        return output._replace(reconstruction=reconstruction)

    def encode(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        return super().encode(self.model_rows(x, context))

    def decode(self, z: Tensor, context: Tensor | None = None) -> Tensor:
        return self.unwhitened(super().decode(z), context)

    def log_prob(self, x: Tensor, context: Tensor | None = None, *, eps: Tensor):
        """``log p(x | y)``: the VAE's importance-weighted bound at ``v`` plus
        ``log |det A_y^{-1}|``."""
        log_v = super().log_prob(self.model_rows(x, context), eps=eps)
        return log_v + self.log_det(context).to(log_v)

    @torch.no_grad()
    def fit_boxes(self, x: Tensor, context: Tensor | None = None) -> None:
        super().fit_boxes(self.model_rows(x, context))
