"""RealNVPDensity: an exact-likelihood density estimator from affine couplings."""

import numbers
from typing import ClassVar

import numpy as np
from sklearn.base import DensityMixin

from skae._base import SkaeBase
from skae._params import document
from skae._parts import params_of
from skae.modules.coupling import COUPLINGS, MASK_STRATEGIES
from skae.parts.flow import RealNVPPart, flow_part
from skae.utils._validation import Interval, StrOptions


@document
class RealNVPDensity(DensityMixin, SkaeBase):
    """Real NVP normalizing flow as a density estimator, trained by maximum likelihood.

    The flow ``f`` maps a sample ``x`` to a latent ``z = f(x)`` of the same
    dimension whose distribution is the standard normal.  ``f`` is a fixed
    affine map fitted to the data, ``u = ((x - mean_) / scale_) @ whitening_``
    (per-feature standardisation, then ZCA whitening), followed by the
    trained flow: a learned elementwise affine layer and ``n_layers`` affine
    coupling layers ``y = b*u + (1-b)*(u*exp(s(b*u)) + t(b*u))`` (Dinh et al.),
    whose masks ``b`` alternate between a half of the features and its
    complement.  The density is exact:

    ``log p(x) = log N(f(x); 0, I) + log|det df/dx|``,

    where the log-determinant includes the fixed affine map, so that
    :meth:`score_samples` is a log-density in nats in the user's units.
    :meth:`transform` is the whole ``f`` (the Gaussianised data, fixed map
    included), :meth:`inverse_transform` is ``f^{-1}`` and :meth:`sample`
    returns ``f^{-1}(z)`` with ``z ~ N(0, I)``.

    That is the Real NVP of the lecture notes (``coupling='affine'``).  By
    default (``coupling='autoregressive'``) the trained layers are instead
    three autoregressive rational-quadratic splines, a neural spline flow:
    every layer transforms every feature given those before it in an order
    (docs/concepts.md#autoregressive-splines), on standardised features
    (``whiten='auto'`` does not whiten them), within a budget of epochs that
    follows the table's size (``max_iter='auto'``).

    An untrained flow is the identity, so training starts from the base
    density: a Gaussian mixture fitted to the whitened data
    (``n_base_components``; with one component the standard normal, i.e. the
    Gaussian with the data's mean and covariance when ``whiten=True``), and
    the coupling layers only have to learn how the data depart from it; with
    early stopping the start is epoch 0 (docs/concepts.md#the-mixtures-bic-scan).
    An EM optimum is sharp: plain gradient steps on couplings over it lose
    nats from the first epoch.  So with held-out rows (``early_stopping=True``)
    and a mixture base, the couplings are trained over the standard normal,
    and after training the base is chosen on the validation rows
    (``base_choice_``): the start (untrained couplings over the start mixture,
    epoch 0), the trained couplings over the standard normal, or the trained
    couplings over a mixture fitted, as the start one, to their latent codes
    of the training rows; the start wins ties, so a fit is never below its
    start on the validation rows.  ``best_epoch_`` is the epoch kept.
    With a mixture base, ``transform`` maps to the base's space and ``sample``
    draws from the base, so ``N(0, I)`` above reads "the base density".
    Coupling layers mix features slowly; on strongly correlated tables the
    whitening is what makes a full-covariance Gaussian the starting point.

    Training minimises the mean negative log-likelihood with Adam.  A flow
    over-fits small data sets quickly.  With ``early_stopping=True`` (the
    default) ``validation_fraction`` of the data is held out, its negative
    log-likelihood is monitored and the parameters of the best epoch are
    restored; the standardisation and whitening are then estimated on the
    training part only, so that the validation loss stays an honest held-out
    estimate.  ``noise_level`` adds Gaussian noise to every training batch,
    which smooths the learned density (a strong regulariser on a few hundred
    samples).

    Once trained, every coupling layer is given the box of its own input on
    the training data (widened by 10 % of its range on each side): its ``s``
    and ``t`` networks read the conditioning features clamped to that box,
    and outside it the transformed features continue with slope one
    (:func:`~skae.modules.coupling.boxed_affine_forward`), so a point far
    from the data keeps a log-density of the order of the whitened
    Gaussian's.  The flow stays an exact bijection with an exact
    log-determinant everywhere
    (docs/concepts.md#boxed-couplings-and-boxed-residual-branches).

    With one feature there is nothing for a coupling layer to condition on:
    the flow is the elementwise affine layer alone, and the model is the
    univariate Gaussian fitted by maximum likelihood (``n_layers``,
    ``hidden_layer_sizes``, ``activation`` and ``mask`` are then unused).
    Likewise ``n_layers=0`` gives the maximum-likelihood Gaussian: with full
    covariance when ``whiten=True``, diagonal otherwise.

    **Images.**  With ``image_shape=(C, H, W)`` the flow is the multiscale
    Real NVP of Dinh et al. (:class:`~skae.modules.image_flow.MultiscaleRealNVP`):
    the rows are scaled per channel (one mean and one standard deviation per
    channel, no whitening), then a learned per-pixel affine layer
    (initialised to standardise every pixel of the training part), then up
    to three scales; each scale but the last has 3 affine couplings with a
    checkerboard mask, a squeeze ``(c, h, w) -> (4c, h/2, w/2)``, 3
    couplings with a channel mask and the factoring-out of half the
    channels, and the last scale has 4 checkerboard couplings.  A scale
    squeezes only when both its sides are even, so any image size works
    (an odd side makes that scale the last; see
    :func:`~skae.modules.image_flow.multiscale_plan`).  Every ``s`` and
    ``t`` comes from a residual network of 3x3 convolutions whose hidden
    widths are ``hidden_layer_sizes`` and whose last layer starts at zero,
    so the untrained flow is the per-pixel Gaussian.  The base density is
    the standard normal over all the latent variables, the factored-out
    ones included; ``transform``, ``inverse_transform`` and ``sample`` use
    flat rows of ``C*H*W`` values, the latent ones in the flow's order (the
    last scale's variables, then those factored out, latest first).
    ``n_layers``, ``activation``, ``mask``, ``whiten``,
    ``n_base_components``, ``coupling``, ``n_bins``, ``tail_bound`` and
    ``dequantize`` must keep their defaults (the image couplings are
    affine).  The couplings are boxed after training as for tables.

    Integer images (pixels 0..255, say) have no density: dequantise them
    first, ``X + U[0, 1)`` (:func:`skae.metrics.dequantize`), and fit and
    score the continuous data; :meth:`score_samples` is then in nats per
    image in pixel units, and :func:`skae.metrics.bits_per_dim` converts it
    to bits per dimension, ``-log p(x) / (C*H*W * log 2)``.

    Parameters
    ----------
    n_layers : int or 'auto', default='auto'
        Number of layers; ``'auto'``: 3 autoregressive layers, or 8 coupling
        layers (``coupling='affine'`` or ``'spline'``).
    hidden_layer_sizes : tuple of int or 'auto', default='auto'
        Hidden widths of every layer's networks (the couplings' ``s``
        (log-scale) and ``t`` (shift) networks, a spline's network, an
        autoregressive layer's masked network); ``'auto'``: (64, 64) for
        autoregressive layers, (32, 32) otherwise (and the image flow's
        channels).
    activation : {'relu', 'tanh', 'logistic', 'identity'}, default='relu'
        Non-linearity of those networks.
    mask : {'alternating', 'random'}, default='alternating'
        ``'alternating'``: the first half of the features conditions the
        second, then the reverse, in turn (autoregressive layers: the
        features' order, then its reverse).  ``'random'``: each even layer
        keeps a random half of the features, the next layer its complement
        (autoregressive layers: random orders), drawn from ``random_state``.
    log_scale_bound : float, default=2.0
        Every log-scale ``s`` is squashed into ``(-log_scale_bound,
        log_scale_bound)`` by ``bound * tanh(s / bound)``, which keeps training
        stable: one layer stretches a feature by at most ``exp(bound)``.
        See docs/concepts.md#boxed-couplings-and-boxed-residual-branches.
        Unused by spline couplings.
    coupling : {'autoregressive', 'affine', 'spline'}, default='autoregressive'
        ``'autoregressive'``: every layer transforms every feature with a
        monotonic rational-quadratic spline (Durkan et al., 2019,
        :class:`~skae.modules.transforms.SplineTransform`) whose parameters
        depend on the features before it in an order, computed by a masked
        network (a neural spline flow;
        :class:`~skae.modules.autoregressive.AutoregressiveSpline`,
        docs/concepts.md#autoregressive-splines).  ``'affine'``: Real NVP's
        affine couplings; ``'spline'``: couplings with the spline.  The
        splines have ``n_bins`` bins on ``[-tail_bound, tail_bound]`` of the
        flow's space and are the identity outside; every layer's last
        network layer starts at zero, so the untrained flow is exactly its
        base mixture.  Table flows only (``image_shape`` needs ``'affine'``);
        all three export to ONNX.
    n_bins : int, default=8
        Bins of every spline; at least 2.
    tail_bound : float, default=3.0
        Half-width of the interval on which every spline acts.
    dequantize : 'auto' or bool, default='auto'
        Lattice columns (integer-valued or rounded: survey items, counts,
        codes; :func:`skae.metrics.lattice_steps` of the training rows) have
        no density: a flexible model piles its mass onto the lattice.  With
        ``'auto'`` every training batch gets uniform noise of one lattice
        step on those columns (:func:`skae.metrics.dequantize_lattice`,
        fresh for every batch; the base mixture and the choice of the base
        see one fixed draw), so the flow learns a continuous density of
        ``x + u``.  Then ``score_samples`` of dequantised rows plus
        ``sum(log(lattice_steps_))`` (the lattice columns) is a lower bound
        on the log-probability of the discrete values (Theis et al., 2016);
        ``score_samples`` of a raw lattice point is the density at the lower
        corner of its cell.  ``True``: the same, but every column must be a
        lattice (else a ValueError); ``False``: no dequantisation.  Table
        flows only (for images, dequantise the pixels first).
    whiten : bool or 'auto', default='auto'
        Decorrelate the standardised features with the inverse square root of
        their covariance (ZCA whitening) before the flow.  Directions of
        (numerically) zero variance are left unscaled.  ``'auto'``: whiten
        for the affine and spline couplings, which mix features slowly, not
        for ``coupling='autoregressive'`` layers, each of which reads all
        the features before each one (docs/concepts.md#autoregressive-splines).
    noise_level : float, default=0.0
        Standard deviation of the Gaussian noise added to every training batch
        in the whitened space (noise regularisation).  Validation batches and
        inference see clean data.
    n_base_components : 'bic', 'auto' or int, default='bic'
        Base density: a Gaussian mixture fitted to the whitened rows, plus a
        broad ``N(0, I)`` component that keeps far points' density.
        ``'bic'``: the average of five mixtures, each sized by BIC among 1 to
        8 components, doubling up to 32 while the largest size wins.
        ``'auto'``: one mixture sized on the validation rows; use it when the
        training rows themselves are scored, as in outlier detection.  An
        int: that many components; ``1`` is the paper's standard normal.
        See docs/concepts.md#the-mixtures-bic-scan.
    %(shared_parameters)s

    Attributes
    ----------
    %(fit_attributes)s
    loss_curve_ : list of float
        Training negative log-likelihood per epoch (whitened space, noisy
        batches when ``noise_level > 0``).
    validation_loss_curve_ : list of float or None
        Held-out negative log-likelihood per epoch when
        ``early_stopping=True``, else None.
    preprocessor_ : skae._preprocessing.Whitener or Standardizer
        The fitted standardisation and whitening; with ``image_shape``, the
        per-channel :class:`~skae._preprocessing.Standardizer`.
    mean_ : ndarray of shape (n_features_in_,)
        Per-feature mean removed before the flow.
    scale_ : ndarray of shape (n_features_in_,)
        Per-feature standard deviation divided out before the flow.
    n_base_components_ : int
        Gaussian components of the fitted base, summed over its averaged
        mixtures (the broad component not counted); 1 means the standard
        normal base.
    base_mixture_sizes_ : tuple of int
        Components of each averaged mixture (one entry unless
        ``n_base_components='bic'``); empty with ``image_shape``.
    lattice_steps_ : ndarray of shape (n_features_in_,)
        The lattice step of every column that ``dequantize`` dequantised,
        in the user's units; 0 for the others (all 0 with
        ``dequantize=False``).  Absent with ``image_shape``.
    base_choice_ : {'start', 'normal', 'mixture'}
        The base kept after training (only with ``early_stopping=True`` and
        ``n_base_components`` other than 1): ``'start'``, the untrained flow
        over the start mixture (epoch 0); ``'normal'``, the trained couplings
        over the standard normal; ``'mixture'``, the trained couplings over a
        mixture fitted to their latent codes of the training rows, then
        refitted at its sizes to every row's code.
    best_epoch_ : int
        The epoch whose couplings the model has; 0: the start.
    whitening_ : ndarray of shape (n_features_in_, n_features_in_)
        Symmetric matrix applied (on the right) to the standardised data; the
        identity when ``whiten=False`` or ``image_shape`` is set.

    See Also
    --------
    sklearn.mixture.GaussianMixture : Density from a mixture of Gaussians.
    sklearn.neighbors.KernelDensity : Non-parametric kernel density.
    skae.VAE : Latent-variable model with a likelihood bound instead of the
        exact likelihood.

    References
    ----------
    L. Dinh, D. Krueger and Y. Bengio. NICE: Non-linear independent components
    estimation. ICLR 2015 workshop, arXiv:1410.8516.

    L. Dinh, J. Sohl-Dickstein and S. Bengio. Density estimation using Real
    NVP. ICLR 2017, arXiv:1605.08803.

    Examples
    --------
    >>> from sklearn.datasets import make_moons
    >>> from skae import RealNVPDensity
    >>> X, _ = make_moons(n_samples=200, noise=0.05, random_state=0)
    >>> flow = RealNVPDensity(hidden_layer_sizes=(16,), max_iter=5, random_state=0)
    >>> flow.fit(X).score_samples(X[:3]).shape
    (3,)
    >>> Z = flow.transform(X)
    >>> bool(abs(flow.inverse_transform(Z) - X).max() < 1e-4)
    True
    >>> flow.sample(4, random_state=0).shape
    (4, 2)

    A flow on 8x8 images, here the digits dequantised:

    >>> from sklearn.datasets import load_digits
    >>> from skae.metrics import bits_per_dim, dequantize
    >>> X = dequantize(load_digits().data[:200], random_state=0)
    >>> images = RealNVPDensity(
    ...     image_shape=(1, 8, 8), hidden_layer_sizes=(8,), max_iter=2, random_state=0
    ... ).fit(X)
    >>> images.sample(3, random_state=0).shape
    (3, 64)
    >>> bool(bits_per_dim(images.score(X), n_dims=64) > 0)
    True
    """

    _parameter_constraints: ClassVar[dict] = {
        **SkaeBase._parameter_constraints,
        "n_layers": [
            StrOptions({"auto"}),
            Interval(numbers.Integral, 0, None, closed="left"),
        ],
        "hidden_layer_sizes": [StrOptions({"auto"}), "array-like"],
        "mask": [StrOptions(set(MASK_STRATEGIES))],
        "log_scale_bound": [Interval(numbers.Real, 0, None, closed="neither")],
        "coupling": [StrOptions(set(COUPLINGS))],
        "n_bins": [Interval(numbers.Integral, 2, None, closed="left")],
        "tail_bound": [Interval(numbers.Real, 0, None, closed="neither")],
        "dequantize": [StrOptions({"auto"}), "boolean"],
        "whiten": [StrOptions({"auto"}), "boolean"],
        "noise_level": [Interval(numbers.Real, 0, None, closed="left")],
        "n_base_components": [
            StrOptions({"auto", "bic"}),
            Interval(numbers.Integral, 1, None, closed="left"),
        ],
    }

    def __init__(
        self,
        n_layers="auto",
        *,
        hidden_layer_sizes="auto",
        activation="relu",
        mask="alternating",
        log_scale_bound=2.0,
        coupling="autoregressive",
        n_bins=8,
        tail_bound=3.0,
        dequantize="auto",
        whiten="auto",
        noise_level=0.0,
        n_base_components="bic",
        image_shape=None,
        batch_size="auto",
        learning_rate_init=0.001,
        max_iter="auto",
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
        self._store_init_arguments(locals())

    # A file saved before ``coupling`` existed holds affine couplings.
    _saved_before_it_existed: ClassVar[dict] = {"coupling": "affine"}

    score = SkaeBase.score  # DensityMixin's placeholder would shadow it

    def _make_part(self, image_shape) -> RealNVPPart:
        return flow_part(params_of(self), image_shape)

    @property
    def whitening_(self) -> np.ndarray:
        """Symmetric matrix applied (on the right) to the standardised data."""
        return self.preprocessor_.whitening_
