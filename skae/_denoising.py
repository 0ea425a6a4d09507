"""DenoisingAE: an autoencoder trained to undo a corruption of its input."""

import numbers
from typing import ClassVar

import numpy as np

from skae._autoencoder import AutoencoderTransformer
from skae.noise import GaussianNoise, MaskingNoise, SaltAndPepperNoise
from skae.utils._validation import Interval, StrOptions, check_is_fitted


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

    With ``early_stopping=True`` the validation loss is the reconstruction
    error of the *uncorrupted* held-out samples.

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
    batch_size : int or 'auto', default='auto'
        Mini-batch size; ``'auto'`` means ``min(200, n_samples)``.
    learning_rate_init : float, default=1e-3
        Adam's step size.
    max_iter : int, default=200
        Maximum number of epochs.
    alpha : float, default=1e-4
        L2 penalty (Adam ``weight_decay``).
    early_stopping : bool, default=False
        Stop on a held-out validation loss and restore the best epoch.
    validation_fraction : float, default=0.1
        Share of the data held out when ``early_stopping=True``.
    n_iter_no_change : int, default=10
        Epochs without an improvement of at least ``tol`` before stopping.
    tol : float, default=1e-4
        Minimum improvement of the monitored loss.
    sparsity_penalty : float, default=0.0
        Weight of the L1 penalty on the code.
    contractive_penalty : float, default=0.0
        Weight of the contractive penalty ``||df/dx||_F^2`` (taken at the
        corrupted input).
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, batch order, validation split and the
        corruption; an int gives bit-identical models on CPU.
    verbose : int, default=0
        Print skorch's per-epoch table when positive.
    device : str, default='cpu'
        Torch device, e.g. ``'cuda'``.

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The trained skorch net; ``net_.module_`` is the torch module and
        ``net_.batch_transform`` the corruption process.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when ``X`` has string column names.
    n_iter_ : int
        Epochs run.
    loss_curve_ : list of float
        Training loss (on corrupted inputs) per epoch, in model space.
    validation_loss_curve_ : list of float or None
        Validation loss per epoch when ``early_stopping=True``, else None.
    best_loss_ : float
        Lowest monitored loss.
    mean_ : ndarray of shape (n_features_in_,)
        Per-feature mean removed before the network.
    scale_ : ndarray of shape (n_features_in_,)
        Divisor applied after centring (one global value repeated).
    data_min_ : ndarray of shape (n_features_in_,)
        Per-feature minimum of the training data (pepper value).
    data_max_ : ndarray of shape (n_features_in_,)
        Per-feature maximum of the training data (salt value).
    code_mean_ : ndarray of shape (n_components,)
        Mean of the (clean) training codes.
    code_var_ : ndarray of shape (n_components,)
        Variance of the training codes, used by :meth:`sample`.

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
        **AutoencoderTransformer._parameter_constraints,
        "noise": [StrOptions({"gaussian", "masking", "salt_and_pepper"})],
        "noise_level": [Interval(numbers.Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        n_components=2,
        *,
        noise="gaussian",
        noise_level=0.5,
        hidden_layer_sizes=(256, 128),
        activation="relu",
        batch_size="auto",
        learning_rate_init=1e-3,
        max_iter=200,
        alpha=1e-4,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        sparsity_penalty=0.0,
        contractive_penalty=0.0,
        random_state=None,
        verbose=0,
        device="cpu",
    ):
        self._store_init_arguments(locals())

    def _check_fit_input(self, X: np.ndarray) -> None:
        if self.noise != "gaussian" and self.noise_level > 1:
            raise ValueError(
                f"noise_level is the fraction of entries destroyed by "
                f"noise={self.noise!r} and must be in [0, 1], got {self.noise_level}."
            )

    def _fit_scaling(self, X: np.ndarray) -> None:
        super()._fit_scaling(X)
        self.data_min_ = np.min(X, axis=0).astype(np.float64)
        self.data_max_ = np.max(X, axis=0).astype(np.float64)

    def _corruption(self):
        if self.noise == "gaussian":
            return GaussianNoise(self.noise_level)
        if self.noise == "masking":
            return MaskingNoise(self.noise_level)
        return SaltAndPepperNoise(
            self.noise_level,
            self._to_model(self.data_min_),
            self._to_model(self.data_max_),
        )

    def _net_kwargs(self) -> dict:
        return {**super()._net_kwargs(), "batch_transform": self._corruption()}

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
        check_is_fitted(self)
        X = self._validated(X, reset=False)
        return self._as_input_space(self._reconstruct(X))
