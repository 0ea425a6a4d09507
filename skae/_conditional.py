"""Conditional models ``p(x | y)``: the shared ``y=None`` surface, the flow
and the VAE.

A conditional estimator is an unconditional one whose part declares a
context (:meth:`skae._parts.ModelPart.context`), so the base carries ``y``
from ``fit(X, y)`` to every method.  :class:`ConditionalMixin` adds what
holds for every conditional model when ``y`` is not given:

* ``score_samples(X)`` is the marginal ``log p(x) = log sum_y p(y) p(x | y)``
  over the fitted classes weighted by their frequencies (numeric
  covariates: over up to 32 training rows of ``y``, equally weighted);
* ``transform(X)`` gives the codes under the most probable context
  ``argmax_y p(y) p(x | y)`` (what a pipeline calls without ``y``);
* ``sample(n)`` draws the contexts from ``p(y)`` first.

``sample(n, y=label)`` broadcasts one label to ``n`` rows; an array ``y``
gives one row per entry.
"""

import numpy as np
from scipy.special import logsumexp
from sklearn.utils import check_random_state

from skae._base import SkaeBase
from skae._params import checked_n_samples, document
from skae._parts import params_of
from skae._realnvp import RealNVPDensity
from skae._tabular import as_input_space
from skae._vae import VAE
from skae.parts.conditional import (
    ConditionalFlowPart,
    ConditionalImageVAEPart,
    ConditionalVAEPart,
)
from skae.utils._validation import check_is_fitted


class ConditionalMixin:
    """What every conditional skae estimator does without ``y`` (module doc)."""

    def _each_context(self, n_rows: int):
        """Each reference context repeated for ``n_rows`` rows, with its log-weight."""
        for reference, log_weight in zip(
            self.context_reference_, self.context_log_weights_, strict=True
        ):
            yield np.repeat(np.asarray(reference)[None], n_rows, axis=0), log_weight

    def joint_log_density(self, X) -> np.ndarray:
        """``log p(y_m) + log p(x | y_m)`` for every reference context ``y_m``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data in the user's units.

        Returns
        -------
        log_joint : ndarray of shape (n_samples, n_references)
            One column per entry of ``context_reference_`` (the classes, for
            labels).
        """
        check_is_fitted(self)
        n_rows = self._fitted_input(X).shape[0]
        columns = [
            SkaeBase.score_samples(self, X, y) + log_weight
            for y, log_weight in self._each_context(n_rows)
        ]
        return np.column_stack(columns)

    def score_samples(self, X, y=None):
        """``log p(x | y)`` in nats in the user's units; without ``y`` the
        marginal ``log p(x)`` (see the class docstring).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data in the user's units.
        y : array-like of shape (n_samples,) or (n_samples, n_context), default=None
            The context of each row.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
        """
        if y is not None:
            return SkaeBase.score_samples(self, X, y)
        return logsumexp(self.joint_log_density(X), axis=1)

    def transform(self, X, y=None):
        """The codes of ``X`` given ``y``; without ``y``, given the most
        probable context ``argmax_y p(y) p(x | y)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data in the user's units.
        y : array-like, default=None
            The context of each row.

        Returns
        -------
        Z : ndarray of shape (n_samples, n_latent)
        """
        if y is None:
            best = self.joint_log_density(X).argmax(axis=1)
            y = np.asarray(self.context_reference_)[best]
        return SkaeBase.transform(self, X, y)

    def _sample_context(self, n_samples, random_state, y) -> tuple:
        """``(n_samples, generator, y)`` of ``sample``: ``y`` drawn from the
        reference contexts' weights, broadcast, or one row per entry."""
        check_is_fitted(self)
        rng = check_random_state(random_state)
        references = np.asarray(self.context_reference_)
        numeric = self.context_encoder_.classes_ is None
        if y is None:
            n_samples = checked_n_samples(n_samples)
            weights = np.exp(self.context_log_weights_)
            picks = rng.choice(len(references), n_samples, p=weights / weights.sum())
            return n_samples, rng, references[picks]
        y = np.asarray(y)
        width = self.context_encoder_.n_context_
        if y.ndim == 0 or (numeric and width > 1 and y.shape == (width,)):
            n_samples = checked_n_samples(n_samples)
            return n_samples, rng, np.repeat(y[None], n_samples, axis=0)
        if n_samples != 1 and n_samples != len(y):
            raise ValueError(
                f"sample got n_samples={n_samples!r} and y with {len(y)} entries; "
                "an array y gives one sample per entry (leave n_samples out), a "
                "single label is broadcast to n_samples rows."
            )
        return len(y), rng, y

    def sample(self, n_samples=1, random_state=None, *, y=None):
        """Draw samples of ``x`` given ``y``.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples when ``y`` is a single label (broadcast) or None.
        random_state : int, RandomState instance or None, default=None
            Seed of the draws.
        y : scalar, array-like or None, default=None
            One label (or covariate row) for every sample, or one per sample
            (then ``n_samples`` is ``len(y)``); None draws ``y`` from its
            fitted frequencies first.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features_in_)
        """
        n_samples, rng, y = self._sample_context(n_samples, random_state, y)
        return super().sample(n_samples, rng, y=y)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.input_tags.sparse = False
        return tags


@document
class ConditionalRealNVPDensity(ConditionalMixin, RealNVPDensity):
    """Real NVP flow of ``p(x | y)``: the context ``y`` enters every coupling.

    As :class:`~skae.RealNVPDensity` (same parameters, whitening, boxes and
    training), except that ``fit(X, y)`` learns the density of ``X`` given
    ``y`` and every coupling's ``s`` and ``t`` networks read ``[b*x, y]``,
    with ``y`` encoded: class labels (a 1-D ``y`` of a classification target
    type) one-hot, numeric covariates (a float 1-D ``y`` or a 2-D one)
    standardised.  For class labels the base density is one Gaussian
    mixture per class, each the BIC-chosen ensemble that
    :class:`~skae.RealNVPDensity` fits to all rows (``n_base_components``),
    here fitted to the class's rows, with full or diagonal covariances as
    BIC says (full ones only where every component has more than twice as
    many rows as dimensions; :func:`skae.parts.conditional.class_mixtures`),
    beside a broad Gaussian centred on the class: the untrained flow is
    that per-class mixture, and with early stopping it is epoch 0.  For numeric
    covariates the base is the unconditional mixture and the couplings
    learn the dependence on ``y``.

    ``score_samples(X, y)`` is ``log p(x | y)`` in nats in the user's units,
    ``sample(n, y=label)`` draws ``x ~ p(x | y)`` and ``transform(X, y)`` /
    ``inverse_transform(Z, y)`` map to and from the base's space given
    ``y``.  Without ``y`` (:class:`~skae._conditional.ConditionalMixin`):
    ``score_samples(X)`` is the marginal ``log p(x)``, ``transform(X)``
    uses the most probable label, ``sample(n)`` draws labels from their
    fitted frequencies.  Labels unseen in ``fit`` are an error naming the
    known ones.  Images (``image_shape``) and sparse ``X`` are not
    supported.

    Parameters
    ----------
    n_layers : int, default=8
        Number of affine coupling layers.
    hidden_layer_sizes : tuple of int, default=(32, 32)
        Hidden widths of every ``s`` and ``t`` network (which also read the
        encoded ``y``).
    activation : {'relu', 'tanh', 'logistic', 'identity'}, default='relu'
        Non-linearity of the ``s`` and ``t`` networks.
    mask : {'alternating', 'random'}, default='alternating'
        As in :class:`~skae.RealNVPDensity`.
    log_scale_bound : float, default=2.0
        Bound on every log-scale ``s``.
    whiten : bool, default=True
        ZCA whitening of the standardised features (all classes together).
    noise_level : float, default=0.0
        Gaussian noise added to training batches (whitened space).
    n_base_components : 'bic', 'auto' or int, default='bic'
        Components of each class's base mixture, as
        :class:`~skae.RealNVPDensity`'s for the whole table.
    %(shared_parameters)s

    Attributes
    ----------
    %(fit_attributes)s
    context_encoder_ : skae._context.ContextEncoder
        The fitted encoding of ``y`` (``classes_`` for labels).
    context_reference_ : ndarray
        The classes (labels), or up to 32 training rows of ``y`` (numeric).
    context_log_weights_ : ndarray
        Log of the classes' frequencies (labels), or of equal weights.
    base_mixture_sizes_ : tuple
        Components of each averaged mixture, one tuple per class (labels).
    n_base_components_ : int
        Gaussian components of all the class mixtures together.

    See Also
    --------
    skae.RealNVPDensity : The unconditional flow.
    skae.GenerativeClassifier : A classifier by Bayes' rule over this model.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skae import ConditionalRealNVPDensity
    >>> X, y = load_iris(return_X_y=True)
    >>> flow = ConditionalRealNVPDensity(
    ...     n_layers=2, hidden_layer_sizes=(8,), max_iter=3, n_base_components=1,
    ...     random_state=0).fit(X, y)
    >>> flow.score_samples(X[:2], y[:2]).shape
    (2,)
    >>> flow.sample(3, y=2, random_state=0).shape
    (3, 4)
    >>> flow.sample(y=[0, 1], random_state=0).shape
    (2, 4)
    """

    def __init__(
        self,
        n_layers=8,
        *,
        hidden_layer_sizes=(32, 32),
        activation="relu",
        mask="alternating",
        log_scale_bound=2.0,
        coupling="affine",
        n_bins=8,
        tail_bound=3.0,
        dequantize="auto",
        whiten=True,
        noise_level=0.0,
        n_base_components="bic",
        image_shape=None,
        batch_size="auto",
        learning_rate_init=0.001,
        max_iter=1000,
        alpha=0.0001,
        early_stopping=True,
        validation_fraction=0.2,
        n_iter_no_change=30,
        tol=0.0001,
        callbacks=None,
        random_state=None,
        verbose=0,
        device="cpu",
        accelerator=None,
    ) -> None:
        # The affine couplings over per-class mixtures (RealNVPDensity's
        # defaults before its autoregressive splines).
        self._store_init_arguments(locals())

    def _make_part(self, image_shape) -> ConditionalFlowPart:
        if image_shape is not None:
            raise ValueError(
                "ConditionalRealNVPDensity has no image flow; fit it with "
                "image_shape=None (rows of pixels are tables too)."
            )
        return ConditionalFlowPart(params_of(self), image_shape)


@document
class ConditionalVAE(ConditionalMixin, VAE):
    """Variational autoencoder of ``p(x | y)``: the context maps what the
    encoder reads and what the decoder gives.

    As :class:`~skae.VAE` (same parameters, training and scoring), except
    that ``fit(X, y)`` learns the density of ``X`` given ``y`` (class labels
    one-hot, numeric covariates standardised, as
    :class:`~skae.ConditionalRealNVPDensity`): the model is ``x = M y + A_y
    (g(z) + e)``, ``z ~ N(0, I)``
    (:class:`~skae.modules.vae.ConditionalGaussianVAE`), with a learned
    linear map ``M`` and, for class labels, a fixed lower-triangular ``A_y``
    per class; the encoder reads ``v = A_y^{-1} (x - M y)`` and ``g``, its
    noise and the encoder are one VAE of ``v`` shared by the classes.  For
    class labels it starts at one factor model per class
    (:func:`skae.parts.conditional.class_factor_models`: ``M y`` the class's
    mean, ``A_y`` the Cholesky factor of its covariance, its count of
    factors chosen on the class's held-out rows) and the VAE's factor-model
    start on ``v``; with early stopping that start is epoch 0.  For numeric
    covariates (and with ``init='random'`` or images) ``A_y = I`` and ``M``
    starts at the least-squares regression of ``x`` on ``y``.  For class
    labels the defensive component is each class's classical density
    (:func:`skae.parts.conditional.class_densities`): its factor model, or
    the BIC mixture ensemble of ``ConditionalRealNVPDensity``'s base where
    that is better on the class's validation rows; with early stopping and
    ``defensive_weight='auto'`` its weight is then learnt on the validation
    rows, so that the model is at least as good there as the better of the
    network and the classical densities.  For numeric covariates it is the
    start's factor model.  With class factors ``noise_variance_``,
    ``noise_components_`` and ``start_*`` are in ``v``'s units.  With
    ``image_shape`` the networks are convolutional and ``M y`` a per-class
    image.

    ``score_samples(X, y)`` is the importance-weighted ``log p(x | y)``;
    without ``y`` the marginal (:class:`~skae._conditional.ConditionalMixin`).
    Only ``likelihood='gaussian'``, numeric columns, no missing values and
    dense ``X``.

    Parameters
    ----------
    n_components : int, default=2
        Dimension of the latent code.
    hidden_layer_sizes : tuple of int, default=(256, 128)
        Hidden widths of the encoder (the decoder mirrors them).
    activation : {'relu', 'tanh', 'logistic', 'identity'}, default='relu'
        Non-linearity of the networks.
    categorical_features : 'from_dtype', default='from_dtype'
        As :class:`~skae.VAE`'s; categorical columns are an error here.
    image_shape : tuple of int or None, default=None
        ``(C, H, W)`` of the flattened rows: convolutional networks.
    channels : int, default=32
        Hidden channels of the convolutional networks.
    beta : float, default=1.0
        Weight of the KL term.
    likelihood : {'gaussian'}, default='gaussian'
        Only the Gaussian decoder.
    n_importance_samples : int, default=50
        Draws of the importance-weighted ``log p(x | y)``.
    n_train_importance_samples : int, default=1
        Draws of the training bound.
    init : {'factor_analysis', 'random'}, default='factor_analysis'
        The start: per-class factor models then a factor model of ``v``
        (tables), or random networks on ``x - M y``.
    noise_rank : 'auto' or int, default='auto'
        As :class:`~skae.VAE`'s.
    defensive_weight : 'auto' or float, default='auto'
        Weight of the classical densities (per class, see above) beside the
        network; ``'auto'``: with class labels and early stopping, the
        maximum-likelihood weight on the validation rows (within
        ``[1 / (n + 1), n / (n + 1)]``), else ``1 / (n + 1)``.
    %(shared_parameters)s

    Attributes
    ----------
    %(fit_attributes)s
    context_encoder_ : skae._context.ContextEncoder
        The fitted encoding of ``y``.
    context_reference_ : ndarray
        The classes (labels), or up to 32 training rows of ``y`` (numeric).
    context_log_weights_ : ndarray
        Log of the classes' frequencies (labels), or of equal weights.
    class_densities_ : tuple or None
        Each class's defensive density, ``(weights, means, covariances)`` of
        a Gaussian mixture in the standardised space (class labels and the
        factor start; else None).

    See Also
    --------
    skae.VAE : The unconditional VAE.
    skae.ConditionalRealNVPDensity : An exact-likelihood conditional density.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skae import ConditionalVAE
    >>> X, y = load_iris(return_X_y=True)
    >>> vae = ConditionalVAE(hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    >>> vae.fit(X, y).score_samples(X[:2], y[:2]).shape
    (2,)
    >>> vae.sample(3, y=1, random_state=0).shape
    (3, 4)
    """

    def _make_part(self, image_shape) -> ConditionalVAEPart:
        if self.likelihood != "gaussian":
            raise ValueError(
                f"ConditionalVAE has likelihood='gaussian' only, got "
                f"likelihood={self.likelihood!r}."
            )
        kind = ConditionalVAEPart if image_shape is None else ConditionalImageVAEPart
        return kind(params_of(self), image_shape)

    def sample(self, n_samples=1, random_state=None, *, noise=False, y=None):
        """Draw ``z ~ N(0, I)`` and decode it given ``y``.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples when ``y`` is a single label or None.
        random_state : int, RandomState instance or None, default=None
            Seed of the draws.
        noise : bool, default=False
            Add the decoder's noise (draws from ``p(x | z, y)``), as
            :meth:`skae.VAE.sample`.
        y : scalar, array-like or None, default=None
            One label for all samples, one per sample, or None (drawn from
            the fitted frequencies).

        Returns
        -------
        X : ndarray of shape (n_samples, n_features_in_)
        """
        n_samples, rng, y = self._sample_context(n_samples, random_state, y)
        means, rng = self._sample_rows(n_samples, rng, y)
        context = self._context(y, n_samples)
        draws = self._fitted_part().conditional_draws(
            vars(self), means, rng, noise, context
        )
        return as_input_space(self, draws, rng)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.positive_only = False
        return tags
