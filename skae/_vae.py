"""VAE: a variational autoencoder as a scikit-learn transformer and density model."""

import numbers
from typing import ClassVar

from sklearn.base import DensityMixin

from skae._base import SkaeBase
from skae._params import CODE_CONSTRAINTS, document
from skae._parts import params_of
from skae._tabular import ImputeMixin, as_input_space
from skae.parts.sequence import sequence_vae_part
from skae.parts.vae import VAEPart, vae_part
from skae.utils._validation import Interval, StrOptions


@document
class VAE(DensityMixin, ImputeMixin, SkaeBase):
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
    map.  With ``likelihood='bernoulli'`` the data must be non-negative and
    are divided by their training maximum when it exceeds 1 (data in ``[0,
    1]`` are used as given); on grey levels the Bernoulli log-likelihood is
    the usual continuous cross-entropy, so ``score_samples`` is then a score
    rather than a normalised log-density.

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
    n_train_importance_samples : int, default=1
        Latent draws per training row on a table with missing entries or
        categorical columns; above 1 the training loss is the
        importance-weighted bound of the observed entries (MIWAE, Mattei
        and Frellsen, 2019), which :class:`~skae.AutoencoderImputer`'s
        default model uses with 20.
    init : {'factor_analysis', 'random'}, default='factor_analysis'
        ``'factor_analysis'`` (Gaussian likelihood, tables): linear paths
        plus residual branches started at zero, the decoder at the
        maximum-likelihood factor model and the encoder at its exact
        posterior, so the starting ELBO is the factor model's
        log-likelihood; with early stopping the start is epoch 0.
        ``'random'``: plain MLPs with PyTorch's initialisation, as for a
        Bernoulli VAE and images.
        See docs/concepts.md#classical-starts-and-epoch-0.
    noise_rank : 'auto' or int, default='auto'
        Rank of a low-rank part ``F`` of the Gaussian decoder's noise,
        ``p(x|z) = N(g(z), diag sigma^2 + F F^T)``: with the factor-model
        start, the start's factors beyond the ``n_components`` latent ones
        (their count chosen on held-out rows, at most ``noise_rank`` and 128
        beyond the code); with a random start, small random values.
        ``'auto'``: no cap of its own, or 0 with a random start.  ``0``:
        diagonal noise.  Ignored for Bernoulli likelihoods and images.
        See docs/concepts.md#the-factor-count-and-low-rank-noise.
    defensive_weight : 'auto' or float in [0, 1), default='auto'
        Weight ``w`` of the start's factor model in the density
        ``(1 - w) p_VAE(x) + w p_start(x)`` that :meth:`score_samples` scores
        and :meth:`sample` draws from: it costs at most ``-log(1 - w)`` nats
        near the data and keeps far rows at the factor model's log-density
        less ``log(1 / w)``.  ``'auto'``: ``1 / (n + 1)`` for ``n`` training
        rows.  ``0``: the network alone, as without a factor-model start or
        with categorical columns.  See docs/concepts.md#the-defensive-component.
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
        "n_train_importance_samples": [
            Interval(numbers.Integral, 1, None, closed="left")
        ],
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

    def __init__(
        self,
        n_components=2,
        *,
        hidden_layer_sizes=(256, 128),
        activation="relu",
        categorical_features="from_dtype",
        image_shape=None,
        sequence_shape=None,
        channels=32,
        beta=1.0,
        likelihood="gaussian",
        n_importance_samples=50,
        n_train_importance_samples=1,
        init="factor_analysis",
        noise_rank="auto",
        defensive_weight="auto",
        batch_size="auto",
        learning_rate_init=0.001,
        max_iter="auto",
        alpha=0.0001,
        early_stopping=True,
        validation_fraction=0.2,
        n_iter_no_change=80,
        tol=0.0001,
        callbacks=None,
        random_state=None,
        verbose=0,
        device="cpu",
        accelerator=None,
    ) -> None:
        self._store_init_arguments(locals())

    score = SkaeBase.score  # DensityMixin's placeholder would shadow it

    def _make_part(self, image_shape) -> VAEPart:
        if self.sequence_shape is not None:
            return sequence_vae_part(params_of(self))
        return vae_part(params_of(self), image_shape)

    def sample(self, n_samples=1, random_state=None, *, noise=False, y=None):
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
        y : None
            The context of a conditional model; ignored.

        Returns
        -------
        X : ndarray or DataFrame of shape (n_samples, n_features_in_)
            Samples in the user's units; a DataFrame when pandas output is
            configured.
        """
        means, rng = self._sample_rows(n_samples, random_state, y)
        draws = self._fitted_part().draws(vars(self), means, rng, noise)
        return as_input_space(self, draws, rng)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = self._make_part(None).positive_only
        return tags
