"""AutoencoderTransformer: a deep MLP autoencoder as a scikit-learn transformer."""

import numbers
from typing import ClassVar

from skae._base import SkaeBase
from skae._params import (
    CODE_CONSTRAINTS,
    document,
)
from skae._parts import params_of
from skae._tabular import ImputeMixin
from skae.parts.autoencoder import AutoencoderPart, autoencoder_part
from skae.parts.sequence import sequence_autoencoder_part
from skae.utils._validation import Interval, StrOptions


@document
class AutoencoderTransformer(ImputeMixin, SkaeBase):
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
    feature variance), so that the training loss stays proportional to the
    mean squared error in the user's units, the error PCA minimises; every
    output is mapped back to the user's units (docs/concepts.md#units).

    With ``image_shape=(C, H, W)`` each row is a flattened image: the network
    sees it centred and divided by one mean and one scale per channel, the
    encoder is convolutional down to an ``n_components x 1 x 1`` map and the
    decoder mirrors it with transposed convolutions
    (:mod:`skae.modules.conv`; for 28x28 the lecture notes' ``Conv2d(1, 32,
    5)``, ``Conv2d(32, 32, 5)``, ``Conv2d(32, 32, 4, stride=2)``,
    ``Conv2d(32, 32, 3, stride=2)``, ``Conv2d(32, n_components, 4)``; any
    ``H, W >= 1``), ``channels`` wide.  It starts at PyTorch's random
    initialisation (``init`` applies to tables) and computes in float32.

    With ``sequence_shape=(T, F)`` each row is a sequence of ``T`` steps of
    ``F`` features: a GRU encoder reads it into the code and a GRU decoder,
    fed the code at every step, regenerates it (:mod:`skae.modules.sequence`),
    ``channels`` units wide; with ``init='pca'`` they are the non-linear
    branches beside the PCA start.

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
        ``'pca'``: encoder and decoder are a linear path started at PCA's
        solution on all rows given to ``fit`` plus non-linear residual
        branches started at zero; with early stopping the PCA start is epoch
        0, so on the validation rows the fitted model is never worse than
        PCA.  ``'random'``: plain MLPs with PyTorch's initialisation (the
        lecture notes' deep autoencoder).  Images always start at random.
        See docs/concepts.md#classical-starts-and-epoch-0.
    pretrain : {None, 'greedy'}, default=None
        ``'greedy'``: greedy layer-wise pre-training (Hinton and Salakhutdinov,
        2006; Bengio et al., 2007): each encoder layer and its mirror decoder
        layer are first trained as a shallow autoencoder on the codes of the
        layers below, with their own early stopping and every callback, then
        the stack is fine-tuned by the usual training.  The network is then the
        plain MLP whatever ``init`` says (no PCA start, no warm-up); tables only.
        See the guide's 'Stacked autoencoders' (docs/guide.md).
    warmup_noise : 'auto' or float >= 0, default='auto'
        Standard deviation, in the network's scaled input space, of the
        Gaussian noise of a denoising warm-up: ``fit`` first trains on
        corrupted inputs until early stopping would stop, then on clean ones
        from the best weights.  ``'auto'``: probabilistic PCA's noise level
        for ``n_components`` factors; 0 (no warm-up) without a PCA start, for
        a linear network, without early stopping or when the code keeps every
        component.  ``0``: the plain autoencoder.
        See docs/concepts.md#the-denoising-warm-up.
    %(shared_parameters)s

    Attributes
    ----------
    %(fit_attributes)s
    warmup_noise_ : float
        ``warmup_noise`` resolved for the training data: the noise level of
        ``fit``'s denoising warm-up, 0 for none (``partial_fit`` has no
        warm-up whatever its value; ``warmup_epochs_`` counts the epochs).
    pretrain_losses_ : list of list of float
        With ``pretrain='greedy'``: per layer pair, bottom first, its training
        loss per pre-training epoch (in its input's model space).
    pretrain_validation_losses_ : list of list of float or None
        The same on the held-out rows; None without early stopping.
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
        "pretrain": [StrOptions({"greedy"}), None],
        "warmup_noise": [
            StrOptions({"auto"}),
            Interval(numbers.Real, 0, None, closed="left"),
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
        sparsity_penalty=0.0,
        contractive_penalty=0.0,
        init="pca",
        pretrain=None,
        warmup_noise="auto",
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

    def _make_part(self, image_shape) -> AutoencoderPart:
        if self.sequence_shape is not None:
            return sequence_autoencoder_part(params_of(self))
        return autoencoder_part(params_of(self), image_shape)
