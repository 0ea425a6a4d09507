"""AutoencoderTransformer: a deep MLP autoencoder as a scikit-learn transformer."""

import numbers
from typing import ClassVar

import numpy as np
import torch
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_random_state

from skae._base import SkaeBase, _block_rows
from skae._nets import AutoencoderNet
from skae.modules.autoencoder import Autoencoder
from skae.utils._validation import Interval, check_is_fitted


class AutoencoderTransformer(
    ClassNamePrefixFeaturesOutMixin, TransformerMixin, SkaeBase
):
    """Deep autoencoder: encoder ``f``, mirrored decoder ``g``, quadratic loss, Adam.

    ``transform`` returns the codes ``f(x)``, ``inverse_transform`` decodes them,
    and ``score_samples`` is the negative per-sample mean squared reconstruction
    error, in the user's units.  With ``hidden_layer_sizes=()`` and
    ``activation='identity'`` it is a linear autoencoder, whose optimum spans
    the same subspace as PCA.

    The network sees centred data divided by one global scale (the root mean
    feature variance).  A single scale keeps the training loss proportional to
    the mean squared error in the user's units, the error PCA minimises; every
    output is mapped back to the user's units.

    Parameters
    ----------
    n_components : int, default=2
        Size of the code; may exceed ``n_features`` (over-complete).
    hidden_layer_sizes : tuple of int, default=(256, 128)
        Encoder widths between input and code; the decoder mirrors them.
        ``()`` gives a linear autoencoder.
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
        Weight ``lambda`` of the L1 penalty ``lambda * sum_i |h_i|`` on the code
        (sparse autoencoder).
    contractive_penalty : float, default=0.0
        Weight ``lambda`` of the contractive penalty ``lambda * ||df/dx||_F^2``,
        with the Jacobian taken in the network's (scaled) input space.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, batch order and validation split; an int gives
        bit-identical models on CPU.
    verbose : int, default=0
        Print skorch's per-epoch table when positive.
    device : str, default='cpu'
        Torch device, e.g. ``'cuda'``.

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The trained skorch net; ``net_.module_`` is the torch module.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when ``X`` has string column names.
    n_iter_ : int
        Epochs run.
    loss_curve_ : list of float
        Training loss per epoch (model space).
    validation_loss_curve_ : list of float or None
        Validation loss per epoch when ``early_stopping=True``, else None.
    best_loss_ : float
        Lowest monitored loss.
    mean_ : ndarray of shape (n_features_in_,)
        Per-feature mean removed before the network.
    scale_ : ndarray of shape (n_features_in_,)
        Divisor applied after centring (one global value repeated).
    code_mean_ : ndarray of shape (n_components,)
        Mean of the training codes.
    code_var_ : ndarray of shape (n_components,)
        Variance of the training codes; with ``code_mean_`` it defines the
        diagonal Gaussian that :meth:`sample` draws from.

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
        "n_components": [Interval(numbers.Integral, 1, None, closed="left")],
        "sparsity_penalty": [Interval(numbers.Real, 0, None, closed="left")],
        "contractive_penalty": [Interval(numbers.Real, 0, None, closed="left")],
    }
    _net_class = AutoencoderNet

    def __init__(
        self,
        n_components=2,
        *,
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

    def _build_module(self, n_features: int) -> Autoencoder:
        return Autoencoder(
            n_features,
            self.n_components,
            self._checked_hidden_layer_sizes(),
            self.activation,
        )

    def _net_kwargs(self) -> dict:
        return {
            "sparsity": self.sparsity_penalty,
            "contraction": self.contractive_penalty,
        }

    def _on_fitted(self, X_model: torch.Tensor) -> None:
        # In blocks of rows: the activations of one block stay small and in cache.
        blocks = X_model.split(_block_rows(X_model.shape[1]))
        encoder = self.net_.module_.encoder
        codes = torch.cat([encoder(block) for block in blocks]).double().cpu().numpy()
        self.code_mean_ = codes.mean(axis=0)
        self.code_var_ = codes.var(axis=0)

    @property
    def _n_features_out(self) -> int:
        return self.n_components

    def transform(self, X):
        """Encode ``X`` into its codes ``f(x)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data in the user's units.

        Returns
        -------
        codes : ndarray of shape (n_samples, n_components)
            Same float dtype as ``X`` (float64 for other dtypes).
        """
        check_is_fitted(self)
        X = self._validated(X, reset=False)
        return self._batched(self.net_.module_.encoder, X, dtype=X.dtype)

    def inverse_transform(self, X):
        """Decode codes back to the input space, ``g(z)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)
            Codes, e.g. from :meth:`transform` or :meth:`sample`'s Gaussian.

        Returns
        -------
        X_original : ndarray or DataFrame of shape (n_samples, n_features_in_)
            Reconstruction in the user's units; a DataFrame with the original
            column names when pandas output is configured.
        """
        Z = self._checked_latent(X, self.n_components)
        decoded = self._batched(
            self.net_.module_.decoder,
            Z,
            scale_input=False,
            unscale_output=True,
            dtype=Z.dtype,
        )
        return self._as_input_space(decoded)

    def _reconstruct(self, X: np.ndarray) -> np.ndarray:
        return self._batched(
            lambda batch: self.net_.module_(batch)[0],
            X,
            unscale_output=True,
            dtype=X.dtype,
        )

    def score_samples(self, X):
        """Negative mean squared reconstruction error of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data in the user's units.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            ``-mean_j (x_j - g(f(x))_j)**2``; higher is better.
        """
        check_is_fitted(self)
        X = self._validated(X, reset=False)
        return -np.mean((X - self._reconstruct(X)) ** 2, axis=1, dtype=np.float64)

    def score(self, X, y=None):
        """Mean of :meth:`score_samples`: minus the mean squared error.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data in the user's units.
        y : None
            Ignored.

        Returns
        -------
        score : float
        """
        return float(np.mean(self.score_samples(X)))

    def sample(self, n_samples=1, random_state=None):
        """Decode draws from the diagonal Gaussian fitted to the training codes.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples.
        random_state : int, RandomState instance or None, default=None
            Seed of the draws.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features_in_)
            Generated samples in the user's units.
        """
        check_is_fitted(self)
        n_samples = self._checked_n_samples(n_samples)
        rng = check_random_state(random_state)
        noise = rng.standard_normal((n_samples, self.n_components))
        codes = self.code_mean_ + np.sqrt(self.code_var_) * noise
        return self.inverse_transform(codes)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
