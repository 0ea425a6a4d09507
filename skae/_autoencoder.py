"""AutoencoderTransformer: a deep MLP autoencoder as a scikit-learn transformer."""

import numbers
from typing import ClassVar

import numpy as np
import torch

from skae._base import SkaeBase
from skae._params import (
    AUTOENCODER_TRAINING,
    CODE_CONSTRAINTS,
    CODE_DEFAULTS,
    document,
    estimator_init,
)
from skae._preprocessing import block_rows
from skae._tabular import TableMixin
from skae._warm_start import principal_axes, probabilistic_pca_noise
from skae.losses import ReconstructionLoss
from skae.modules.autoencoder import Autoencoder
from skae.modules.protocol import InputSpec
from skae.noise import BatchCorruption, GaussianNoise
from skae.utils._validation import Interval, StrOptions

# Values of the widest layer held at once when encoding or decoding images.
_ACTIVATION_BUDGET = 2**22


@document
class AutoencoderTransformer(TableMixin, SkaeBase):
    """Deep autoencoder: encoder ``f``, mirrored decoder ``g``, quadratic loss, Adam.

    ``transform`` returns the codes ``f(x)``, ``inverse_transform`` decodes them,
    and ``score_samples`` is the negative per-sample mean squared reconstruction
    error, in the user's units.  With ``hidden_layer_sizes=()`` and
    ``activation='identity'`` it is a linear autoencoder, whose optimum spans
    the same subspace as PCA.

    A DataFrame may hold categorical columns and missing values (see
    ``categorical_features``).  ``score_samples`` is then minus the mean, over
    each row's observed columns, of the squared error (numeric columns, user
    units) and the cross-entropy in nats (categorical columns); the training
    loss weighs the columns the same way, in model space.

    The network sees centred data divided by one global scale (the root mean
    feature variance).  A single scale keeps the training loss proportional to
    the mean squared error in the user's units, the error PCA minimises; every
    output is mapped back to the user's units.

    With ``image_shape=(C, H, W)`` each row is a flattened image: the network
    sees it centred and divided by one mean and one scale per channel, the
    encoder is convolutional down to an ``n_components x 1 x 1`` map and the
    decoder mirrors it with transposed convolutions
    (:mod:`skae.modules.conv`; for 28x28 the lecture notes' ``Conv2d(1, 32,
    5)``, ``Conv2d(32, 32, 5)``, ``Conv2d(32, 32, 4, stride=2)``,
    ``Conv2d(32, 32, 3, stride=2)``, ``Conv2d(32, n_components, 4)``; any
    ``H, W >= 1``), ``channels`` wide.  It starts at PyTorch's random
    initialisation (``init`` applies to tables) and computes in float32.

    Parameters
    ----------
    n_components : int, default=2
        Size of the code; may exceed ``n_features`` (over-complete).
    hidden_layer_sizes : tuple of int, default=(256, 128)
        Encoder widths between input and code; the decoder mirrors them.
        ``()`` gives a linear autoencoder.
    activation : {'relu', 'tanh', 'logistic', 'identity'}, default='relu'
        Non-linearity of the hidden layers; code and output layers are linear.
    sparsity_penalty : float, default=0.0
        Weight ``lambda`` of the L1 penalty ``lambda * sum_i |h_i|`` on the code
        (sparse autoencoder).
    contractive_penalty : float, default=0.0
        Weight ``lambda`` of the contractive penalty ``lambda * ||df/dx||_F^2``,
        with the Jacobian taken in the network's (scaled) input space.
    init : {'pca', 'random'}, default='pca'
        ``'pca'``: encoder and decoder are a linear path plus non-linear
        residual branches (:class:`~skae.modules.residual.ResidualMap`); the
        linear path starts at PCA's solution, fitted on all rows given to
        ``fit`` (encoder ``W (x - mu)``, decoder ``W^T z + mu``), and the
        residual branches start at exactly zero.  With early stopping (the
        default) the PCA start counts as epoch 0: the held-out error has to
        improve on PCA's for the network to move, so the fitted model is never
        worse than PCA on the validation rows.  ``'random'``: plain MLPs with
        PyTorch's default initialisation (the lecture notes' deep
        autoencoder).  With ``image_shape`` both mean the random start of
        the convolutional networks (see below).
    warmup_noise : 'auto' or float >= 0, default='auto'
        Standard deviation, in the network's scaled input space, of the
        Gaussian noise of a denoising warm-up: training begins as a denoising
        autoencoder (each training batch corrupted afresh, the clean rows as
        targets; Vincent et al., 2010), which regularises the non-linear
        branches, then goes on with clean inputs, as denoising pre-training
        followed by fine-tuning.  The warm-up ends where early stopping would
        stop (``n_iter_no_change`` epochs without a better held-out error,
        measured on clean validation rows) or after ``max_iter`` epochs; the
        best weights so far are restored and the clean phase has to beat
        them; the two phases together run at most ``2 * max_iter`` epochs
        (with ``max_iter='auto'`` on a large table they share its budget of
        optimiser steps).  ``'auto'``: the noise
        probabilistic PCA with ``n_components`` factors attributes to the
        data, the root mean variance of the principal components beyond the
        first ``n_components`` (Tipping and Bishop, 1999); it is zero (no
        warm-up) without a PCA start (``init='random'``, images), for a
        linear network (``hidden_layer_sizes=()`` or ``activation='identity'``,
        whose optimum is PCA's), without early stopping, and when the code
        keeps every component.  ``0``: the plain autoencoder.
        :meth:`partial_fit` trains without warm-up.
    %(shared_parameters)s

    Attributes
    ----------
    %(fit_attributes)s
    warmup_noise_ : float
        ``warmup_noise`` resolved for the training data: the noise level of
        ``fit``'s denoising warm-up, 0 for none (``partial_fit`` has no
        warm-up whatever its value; ``warmup_epochs_`` counts the epochs).
    loss_curve_ : list of float
        Training loss per epoch (model space, on corrupted inputs during the
        warm-up); with a penalty,
        ``net_.history`` also holds ``train_reconstruction`` and the
        penalty's own term per epoch.
    validation_loss_curve_ : list of float or None
        Validation loss per epoch when ``early_stopping=True``, else None.
    preprocessor_ : skae._preprocessing.Standardizer
        The fitted map to the network's input space.
    mean_ : ndarray of shape (n_features_in_,)
        Per-feature mean removed before the network.
    scale_ : ndarray of shape (n_features_in_,)
        Divisor applied after centring (one global value repeated).
    code_mean_ : ndarray of shape (n_components,)
        Mean of the training codes.
    code_var_ : ndarray of shape (n_components,)
        Variance of the training codes; with ``code_mean_`` it defines the
        diagonal Gaussian that :meth:`sample` draws from.
    %(table_attributes)s

    See Also
    --------
    sklearn.decomposition.PCA : The linear, closed-form counterpart.
    skae.DenoisingAE : Trained to undo a corruption of its input.
    skae.VAE : Probabilistic autoencoder with a likelihood score.

    References
    ----------
    G. E. Hinton and R. R. Salakhutdinov. Reducing the dimensionality of data
    with neural networks. Science, 313(5786):504-507, 2006.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skae import AutoencoderTransformer
    >>> X, _ = load_digits(return_X_y=True)
    >>> ae = AutoencoderTransformer(n_components=4, max_iter=5, random_state=0)
    >>> ae.fit_transform(X).shape
    (1797, 4)
    >>> ae.inverse_transform(ae.transform(X[:2])).shape
    (2, 64)
    """

    _parameter_constraints: ClassVar[dict] = {
        **SkaeBase._parameter_constraints,
        **CODE_CONSTRAINTS,
        "sparsity_penalty": [Interval(numbers.Real, 0, None, closed="left")],
        "contractive_penalty": [Interval(numbers.Real, 0, None, closed="left")],
        "init": [StrOptions({"pca", "random"})],
        "warmup_noise": [
            StrOptions({"auto"}),
            Interval(numbers.Real, 0, None, closed="left"),
        ],
    }

    __init__ = estimator_init(
        "n_components",
        AUTOENCODER_TRAINING,
        **CODE_DEFAULTS,
        sparsity_penalty=0.0,
        contractive_penalty=0.0,
        init="pca",
        warmup_noise="auto",
    )

    # max_iter='auto' on a large table: at most about 8,000 optimiser steps
    # (200 epochs up to about 8,000 training rows), so that a fit stays near a
    # minute (COUNT/rwm5yr, 13,235 training rows, k = 2: 200 epochs in 60.3 s,
    # AE/PCA 0.221; 120 epochs in 38.7 s, 0.250).
    _auto_steps = 8000

    def _starts_at_pca(self) -> bool:
        # A PCA path with a zero-initialised convolutional branch stayed at
        # 1.006x PCA's error for 7 epochs on MNIST-5k (k=30), where the random
        # start reached 1.3x in 3: images start at random.
        return self.init == "pca" and self._fitted_image_shape() is None

    @property
    def _inference_rows(self) -> int:
        if self._fitted_image_shape() is None:
            return SkaeBase._inference_rows
        return max(1, _ACTIVATION_BUDGET // self._widest_activation())

    def _build_module(self, spec: InputSpec) -> Autoencoder:
        return Autoencoder(
            *self._mlp_arguments(spec),
            linear_path=self._starts_at_pca(),
            **self._network_options(spec),
        )

    def _warm_start(
        self, module: Autoencoder, X_model: np.ndarray, validation, seed: int
    ) -> None:
        axes = None
        if self._starts_at_pca():
            axes = principal_axes(X_model, self.n_components)
            module.start_at_pca(
                *(
                    torch.from_numpy(a)
                    for a in (axes.mean, axes.components, axes.variances)
                )
            )
        self.warmup_noise_ = self._resolved_warmup_noise(X_model, axes, validation)

    def _resolved_warmup_noise(self, X_model: np.ndarray, axes, validation) -> float:
        if self.warmup_noise != "auto":
            return float(self.warmup_noise)
        nonlinear = bool(self.hidden_layer_sizes) and self.activation != "identity"
        if axes is None or not nonlinear or validation is None:
            return 0.0
        return probabilistic_pca_noise(X_model, axes)

    def _warmup_corruption(self) -> BatchCorruption | None:
        return GaussianNoise(self.warmup_noise_) if self.warmup_noise_ > 0 else None

    def _criterion(self) -> ReconstructionLoss:
        return ReconstructionLoss(
            self.sparsity_penalty, self.contractive_penalty, self.heads_
        )

    def _on_fitted(self, X_model: torch.Tensor) -> None:
        # The residual branches are not boxed (unlike the VAE's and the
        # flow's): an autoencoder has no density to protect, and on the
        # bench_tables test rows the unboxed maps extrapolate better (median
        # AE/PCA 0.659 against 0.705 boxed; midwest k=16 1.000 against 1.098).
        # In blocks of rows: the activations of one block stay small and in cache.
        rows = block_rows(X_model.shape[1])
        if self._fitted_image_shape() is not None:
            rows = self._inference_rows
        blocks = X_model.split(rows)
        encode = self.net_.module_.encode
        codes = torch.cat([encode(block) for block in blocks]).double().cpu().numpy()
        self.code_mean_ = codes.mean(axis=0)
        self.code_var_ = codes.var(axis=0)

    def _sample_latent(self, n_samples: int, rng: np.random.RandomState) -> np.ndarray:
        noise = rng.standard_normal((n_samples, self.n_components))
        return self.code_mean_ + np.sqrt(self.code_var_) * noise

    def _reconstruct(self, X: np.ndarray) -> np.ndarray:
        return self._apply(
            lambda batch: self.net_.module_(batch)[0],
            X,
            user_output=True,
            dtype=X.dtype,
        )

    def _scores(self, X: np.ndarray) -> np.ndarray:
        if self._needs_table_scoring(X):
            return -self._table_error(X, self._reconstruct(X))
        return -np.mean((X - self._reconstruct(X)) ** 2, axis=1, dtype=np.float64)

    def _fill_missing(self, X: np.ndarray) -> np.ndarray:
        """The model's values for every entry of ``X`` (user units): its
        reconstruction from the observed entries."""
        return self._reconstruct(X)
