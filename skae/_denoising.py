"""DenoisingAE: an autoencoder trained to undo a corruption of its input."""

import numbers
from typing import ClassVar

from skae._autoencoder import AutoencoderTransformer
from skae._params import document
from skae._tabular import as_input_space
from skae.utils._validation import Interval, StrOptions

_AE_CONSTRAINTS = AutoencoderTransformer._parameter_constraints


@document
class DenoisingAE(AutoencoderTransformer):
    """Denoising autoencoder: trained on ``L(x, g(f(x~)))``, ``x~`` a corrupted ``x``.

    Every training batch is corrupted afresh, from the estimator's
    ``random_state``, while the loss compares the reconstruction with the clean
    batch (Vincent et al., 2010).  Inference never corrupts: ``transform``,
    ``inverse_transform``, ``score_samples``, ``sample`` and :meth:`denoise`
    behave as for :class:`~skae.AutoencoderTransformer`, and are deterministic.

    The network sees ``(x - mean_) / scale_`` with one global ``scale_`` (the
    root mean feature variance), and the corruption acts in that space:

    * ``'gaussian'``: ``x~ = x + noise_level * eps`` with ``eps ~ N(0, I)``;
      in the user's units the noise standard deviation is
      ``noise_level * scale_`` for every feature.
    * ``'masking'``: each entry is set to zero with probability
      ``noise_level``; zero in the centred model space means the feature's
      training mean ``mean_`` in the user's units.
    * ``'salt_and_pepper'``: each entry is destroyed with probability
      ``noise_level`` and set to its feature's training minimum ``data_min_``
      or maximum ``data_max_``, each with probability 1/2.

    With ``image_shape`` the network is the convolutional one of
    :class:`~skae.AutoencoderTransformer`, the scale is per channel and each
    corruption acts pixel by pixel in that scaled space.

    With ``early_stopping=True`` (the default) the validation loss is the
    denoising loss of the held-out samples: their reconstruction from a
    corruption that is drawn once (from ``random_state``) and kept for every
    epoch, against the clean rows.  With ``init='pca'`` the PCA start is
    epoch 0 of that comparison.

    Parameters
    ----------
    n_components : int, default=2
        Size of the code; may exceed ``n_features`` (over-complete), which the
        corruption keeps from learning the identity.
    noise : {'gaussian', 'masking', 'salt_and_pepper'}, default='gaussian'
        Corruption process applied to training batches.
    noise_level : float, default=0.5
        Standard deviation of the Gaussian noise in the scaled space, or the
        fraction of entries destroyed (in ``[0, 1]``) for ``'masking'`` and
        ``'salt_and_pepper'``.  ``0`` trains a plain autoencoder.
    hidden_layer_sizes : tuple of int, default=(256, 128)
        Encoder widths between input and code; the decoder mirrors them.
    activation : {'relu', 'tanh', 'logistic', 'identity'}, default='relu'
        Non-linearity of the hidden layers; code and output layers are linear.
    sparsity_penalty : float, default=0.0
        Weight of the L1 penalty on the code.
    contractive_penalty : float, default=0.0
        Weight of the contractive penalty ``||df/dx||_F^2`` (taken at the
        corrupted input).
    init : {'pca', 'random'}, default='pca'
        Start of the network, as in :class:`~skae.AutoencoderTransformer`.
        See docs/concepts.md#classical-starts-and-epoch-0.
    pretrain : {None, 'greedy'}, default=None
        ``'greedy'``: greedy layer-wise pre-training of a stacked denoising
        autoencoder (Vincent et al., 2010): each encoder layer and its mirror
        decoder layer are first trained as a shallow denoising autoencoder on
        the codes of the layers below, with their own early stopping and
        every callback, then the stack is fine-tuned by the usual training.
        The network is then the plain MLP whatever ``init`` says (no PCA
        start); tables only.  See the guide's 'Stacked autoencoders'
        (docs/guide.md).
    %(shared_parameters)s

    Attributes
    ----------
    %(fit_attributes)s
    pretrain_losses_ : list of list of float
        With ``pretrain='greedy'``: per layer pair, bottom first, its training
        loss per pre-training epoch (in its input's model space).
    pretrain_validation_losses_ : list of list of float or None
        The same on the held-out rows; None without early stopping.
    loss_curve_ : list of float
        Training loss (on corrupted inputs) per epoch, in model space.
    validation_loss_curve_ : list of float or None
        Validation loss per epoch when ``early_stopping=True``, else None.
    mean_ : ndarray of shape (n_features_in_,)
        Per-feature mean removed before the network.
    scale_ : ndarray of shape (n_features_in_,)
        Divisor applied after centring (one global value repeated).
    data_min_ : ndarray of shape (n_features_in_,)
        Per-feature minimum of the training rows (pepper value).
    data_max_ : ndarray of shape (n_features_in_,)
        Per-feature maximum of the training rows (salt value).
    code_mean_ : ndarray of shape (n_components,)
        Mean of the (clean) training codes.
    code_var_ : ndarray of shape (n_components,)
        Variance of the training codes, used by :meth:`sample`.
    %(table_attributes)s

    See Also
    --------
    skae.AutoencoderTransformer : The same model trained without corruption.
    sklearn.decomposition.KernelPCA : Denoises through ``inverse_transform``.

    References
    ----------
    P. Vincent, H. Larochelle, I. Lajoie, Y. Bengio and P.-A. Manzagol.
    Stacked denoising autoencoders: learning useful representations in a deep
    network with a local denoising criterion. JMLR, 11:3371-3408, 2010.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> from skae import DenoisingAE
    >>> X, _ = load_digits(return_X_y=True)
    >>> X = X / 16
    >>> X_noisy = X + np.random.default_rng(0).normal(scale=0.25, size=X.shape)
    >>> dae = DenoisingAE(n_components=16, noise="masking", noise_level=0.25,
    ...                   max_iter=5, random_state=0).fit(X_noisy)
    >>> dae.transform(X_noisy[:3]).shape
    (3, 16)
    >>> X_denoised = dae.denoise(X_noisy)
    >>> bool(np.mean((X_denoised - X) ** 2) < np.mean((X_noisy - X) ** 2))
    True
    """

    _parameter_constraints: ClassVar[dict] = {
        **{
            name: constraint
            for name, constraint in _AE_CONSTRAINTS.items()
            if name != "warmup_noise"
        },
        "noise": [StrOptions({"gaussian", "masking", "salt_and_pepper"})],
        "noise_level": [Interval(numbers.Real, 0, None, closed="left")],
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
        noise="gaussian",
        noise_level=0.5,
        sparsity_penalty=0.0,
        contractive_penalty=0.0,
        init="pca",
        pretrain=None,
        batch_size="auto",
        learning_rate_init=0.001,
        max_iter="auto",
        alpha=0.0001,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=20,
        tol=0.0001,
        callbacks=None,
        random_state=None,
        verbose=0,
        device="cpu",
        accelerator=None,
    ) -> None:
        self._store_init_arguments(locals())

    def denoise(self, X):
        """Reconstruct ``X``, ``g(f(x))``: the denoised version of a noisy ``X``.

        Equal to ``inverse_transform(transform(X))``, in one pass.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Possibly noisy data in the user's units.

        Returns
        -------
        X_denoised : ndarray or DataFrame of shape (n_samples, n_features_in_)
            Reconstruction in the user's units; a DataFrame with the original
            column names when pandas output is configured.
        """
        X = self._fitted_input(X)
        return as_input_space(self, self._fitted_part().reconstruct(vars(self), X))
