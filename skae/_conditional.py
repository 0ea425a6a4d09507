"""Conditional models ``p(x | y)``: the shared ``y=None`` surface and the flow.

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
from skae.parts.conditional import ConditionalFlowPart
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
    here fitted to the class's rows: the untrained flow is that per-class
    mixture, and with early stopping it is epoch 0, so the fitted model is
    at least the per-class mixture on held-out rows.  For numeric
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

    def _make_part(self, image_shape) -> ConditionalFlowPart:
        if image_shape is not None:
            raise ValueError(
                "ConditionalRealNVPDensity has no image flow; fit it with "
                "image_shape=None (rows of pixels are tables too)."
            )
        return ConditionalFlowPart(params_of(self), image_shape)

