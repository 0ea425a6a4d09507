"""Held-out reconstruction error for any transformer with ``inverse_transform``.

:func:`reconstruction_error` is the plain function; :func:`reconstruction_scorer`
is the same number with the sign that scikit-learn's model selection expects
(higher is better), so that PCA, NMF, KernelPCA, TruncatedSVD, the skae
estimators, and pipelines of them, compete under one criterion::

    GridSearchCV(pipeline, param_grid, scoring=skae.metrics.reconstruction_scorer)

Nothing is registered in scikit-learn's table of scorer names: pass the
function itself as ``scoring=``.

For density models of images, :func:`dequantize` turns integer pixels into
continuous data (pixels + U[0, 1)) and :func:`bits_per_dim` converts a
log-likelihood in nats (``score_samples``, ``score``) into the bits per
dimension that the image-density literature reports.
"""

import math

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_array, check_random_state

__all__ = [
    "bits_per_dim",
    "dequantize",
    "dequantize_lattice",
    "lattice_steps",
    "reconstruction_error",
    "reconstruction_scorer",
]


def reconstruction_error(estimator, X) -> float:
    """Mean squared error of ``inverse_transform(transform(X))`` against ``X``.

    The error is averaged over all ``n_samples * n_features`` entries, in the
    units of ``X``.  For a :class:`~sklearn.pipeline.Pipeline` whose steps all
    have ``inverse_transform`` (a scaler then a reducer, say), the
    reconstruction goes back through every step to the pipeline's input
    space, so pipelines with different scalers are compared in the same units.

    Parameters
    ----------
    estimator : fitted transformer
        Anything with ``transform`` and ``inverse_transform``: PCA,
        KernelPCA(fit_inverse_transform=True), TruncatedSVD, NMF, the skae
        estimators, or a Pipeline of such steps.  Pandas output
        (``set_output(transform="pandas")``) is accepted.
    X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
        Data to reconstruct, in the estimator's input units; typically held
        out from the fit.

    Returns
    -------
    error : float
        ``mean((X - inverse_transform(transform(X))) ** 2)``; lower is better.

    Raises
    ------
    TypeError
        If ``estimator`` lacks ``transform`` or ``inverse_transform``, e.g. a
        Pipeline that ends in a classifier.

    See Also
    --------
    reconstruction_scorer : The negated error, for ``scoring=``.
    skae.AutoencoderTransformer.score : The same quantity, negated, for an
        autoencoder on its own.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.decomposition import PCA
    >>> from skae.metrics import reconstruction_error
    >>> X, _ = load_digits(return_X_y=True)
    >>> pca = PCA(n_components=8).fit(X[:1000])
    >>> round(reconstruction_error(pca, X[1000:]), 2)
    6.74
    >>> round(reconstruction_error(PCA(n_components=64).fit(X), X), 6)
    0.0
    """
    missing = [
        method
        for method in ("transform", "inverse_transform")
        if not hasattr(estimator, method)
    ]
    if missing:
        raise TypeError(
            "reconstruction_error needs a fitted transformer with transform and "
            f"inverse_transform; {type(estimator).__name__} has no "
            f"{' or '.join(missing)}."
        )
    reconstruction = estimator.inverse_transform(estimator.transform(X))
    reconstruction = np.asarray(reconstruction, dtype=np.float64)
    X = check_array(X, accept_sparse=True, dtype=np.float64)
    if sp.issparse(X):
        X = X.toarray()
    if reconstruction.shape != X.shape:
        raise ValueError(
            f"{type(estimator).__name__}.inverse_transform returned shape "
            f"{reconstruction.shape}; expected the input's shape {X.shape}."
        )
    return float(np.mean((X - reconstruction) ** 2))


def reconstruction_scorer(estimator, X, y=None) -> float:
    """Minus the held-out reconstruction error: a scorer for model selection.

    Use it as ``scoring=`` in :class:`~sklearn.model_selection.GridSearchCV`,
    :func:`~sklearn.model_selection.cross_val_score` and friends, with
    ``y=None``.  Following scikit-learn's convention that higher is better, it
    returns ``-reconstruction_error(estimator, X)`` (like the
    ``'neg_mean_squared_error'`` scorer), so a search keeps the candidate
    with the smallest error.  For an :class:`~skae.AutoencoderTransformer` it
    equals ``estimator.score(X)``.

    Parameters
    ----------
    estimator : fitted transformer
        See :func:`reconstruction_error`.
    X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
        Held-out data.
    y : None
        Ignored; scikit-learn passes the (absent) targets.

    Returns
    -------
    score : float
        Minus the mean squared reconstruction error; at most 0.

    See Also
    --------
    reconstruction_error : The error itself (lower is better).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.decomposition import PCA
    >>> from sklearn.model_selection import GridSearchCV
    >>> from skae.metrics import reconstruction_scorer
    >>> X, _ = load_digits(return_X_y=True)
    >>> search = GridSearchCV(
    ...     PCA(), {"n_components": [2, 8, 16]}, scoring=reconstruction_scorer
    ... ).fit(X)
    >>> search.best_params_
    {'n_components': 16}
    >>> bool(search.best_score_ < 0)
    True
    """
    return -reconstruction_error(estimator, X)


def dequantize(X, random_state=None) -> np.ndarray:
    """Uniform dequantisation: integer pixels plus independent U[0, 1) noise.

    A density model of integer-valued data (pixels 0..255, the digits'
    0..16) would put infinite density on the integers.  Adding ``u ~ U[0,
    1)`` to every entry spreads each level over a bin of width 1, and the
    log-likelihood of a continuous density on the dequantised data is a
    lower bound on the log-probability of the integer data (Theis et al.,
    2016); :func:`bits_per_dim` converts it.  Fit and score on
    dequantised data, drawing the noise once per data set.

    Parameters
    ----------
    X : array-like of any shape
        Integer-valued entries (of any numeric dtype), e.g. ``(n_samples,
        n_features)`` rows or ``(n, H, W)`` images.
    random_state : int, RandomState instance or None, default=None
        Seed of the noise.

    Returns
    -------
    X_continuous : ndarray of the shape of ``X``, float64
        ``X + u``.

    Raises
    ------
    ValueError
        If an entry is not an integer (already continuous data).

    See Also
    --------
    bits_per_dim : The log-likelihood of dequantised data in bits per
        dimension.

    References
    ----------
    L. Theis, A. van den Oord and M. Bethge. A note on the evaluation of
    generative models. ICLR 2016, arXiv:1511.01844.

    Examples
    --------
    >>> import numpy as np
    >>> from skae.metrics import dequantize
    >>> X = dequantize(np.array([[0, 16], [3, 7]]), random_state=0)
    >>> X.dtype, bool(np.all(np.floor(X) == [[0, 16], [3, 7]]))
    (dtype('float64'), True)
    """
    X = check_array(X, dtype=np.float64, ensure_2d=False, allow_nd=True)
    if not np.array_equal(X, np.round(X)):
        raise ValueError(
            "dequantize expects integer-valued entries (e.g. pixels 0..255); "
            "X has non-integer entries."
        )
    rng = check_random_state(random_state)
    return X + rng.uniform(size=X.shape)


def lattice_steps(X, max_levels: float = 0.5) -> np.ndarray:
    """The lattice step of every column of ``X``; 0 where a column is continuous.

    A column is a lattice (integer-valued, counts, codes, survey items,
    values rounded to a unit) when every gap between its distinct values is
    a whole multiple of the smallest one, its step, and it has at most
    ``max_levels * n_samples`` distinct values (its values repeat).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        The rows the lattice is read from (the training rows).
    max_levels : float, default=0.5
        Most distinct values of a lattice column, as a share of the rows.

    Returns
    -------
    steps : ndarray of shape (n_features,)
        The step of each lattice column, 0 for the others.

    Examples
    --------
    >>> import numpy as np
    >>> from skae.metrics import lattice_steps
    >>> items, halves = [1, 2, 2, 4, 1, 1], [0.0, 0.5, 0.5, 1.5, 0.0, 0.0]
    >>> X = np.c_[items, halves, np.arange(6) ** 1.5]
    >>> lattice_steps(X)
    array([1. , 0.5, 0. ])
    """
    X = check_array(X, dtype=np.float64)
    steps = np.zeros(X.shape[1])
    for j, column in enumerate(X.T):
        ordered = np.sort(column)
        # Values within round-off of each other (a standardised level) are one.
        gaps = np.diff(ordered)
        gaps = gaps[gaps > 1e-9 * (ordered[-1] - ordered[0])]
        if len(gaps) == 0 or len(gaps) + 1 > max_levels * len(column):
            continue
        multiples = gaps / gaps.min()
        if np.allclose(multiples, np.round(multiples), rtol=1e-6, atol=1e-6):
            steps[j] = gaps.min()
    return steps


def dequantize_lattice(X, steps, random_state=None) -> np.ndarray:
    """Lattice columns plus uniform noise of one step: ``X + steps * U[0, 1)``.

    The tabular form of :func:`dequantize`: on the columns of a non-zero
    ``steps`` (:func:`lattice_steps` of the training rows) each value is
    spread over the bin of one step above it; the others are unchanged.  A
    continuous density fitted and scored on such rows has a log-likelihood
    that, plus ``sum(log(steps))`` over the lattice columns, is a lower
    bound on the log-probability of the discrete values (Theis et al., 2016).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    steps : array-like of shape (n_features,)
        One step per column; 0 leaves a column unchanged.
    random_state : int, RandomState instance or None, default=None
        Seed of the noise.

    Returns
    -------
    X_continuous : ndarray of shape (n_samples, n_features), float64

    Examples
    --------
    >>> import numpy as np
    >>> from skae.metrics import dequantize_lattice
    >>> X = dequantize_lattice([[1.0, 0.3], [2.0, 0.7]], [1.0, 0.0], random_state=0)
    >>> bool(np.all(np.floor(X[:, 0]) == [1, 2])), X[:, 1]
    (True, array([0.3, 0.7]))
    """
    X = check_array(X, dtype=np.float64)
    steps = np.asarray(steps, dtype=np.float64)
    if steps.shape != (X.shape[1],) or np.any(steps < 0):
        raise ValueError(
            f"steps must be {X.shape[1]} non-negative values, got shape {steps.shape}."
        )
    rng = check_random_state(random_state)
    return X + steps * rng.uniform(size=X.shape)


def bits_per_dim(log_likelihood, n_dims: int, bin_width: float = 1.0):
    """Convert a log-likelihood in nats into bits per dimension.

    ``bits/dim = -(log p(x) + n_dims * log(bin_width)) / (n_dims * log 2)``:
    minus the log2-probability of the quantisation bin of ``x``, per
    dimension.  With ``bin_width=1`` (integer pixels dequantised by
    :func:`dequantize`, the model scored in those units, as
    :meth:`skae.RealNVPDensity.score_samples` is) it is
    ``-log p(x) / (n_dims * log 2)``.  If the pixels were rescaled before
    the fit (e.g. to ``[0, 1)``: ``bin_width=1/256`` for 8-bit images), the
    width of one level in those units converts back.  Lower is better; a
    uniform model of ``2**b`` levels scores ``b``.

    Parameters
    ----------
    log_likelihood : float or array-like
        Log-likelihoods in nats: per sample (``score_samples``) or their
        mean (``score``).
    n_dims : int
        Dimensions of one sample (``C*H*W`` for an image).
    bin_width : float, default=1.0
        Width of one quantisation level in the units of the data the
        model was scored on.

    Returns
    -------
    bits : float or ndarray
        Of the shape of ``log_likelihood``.

    See Also
    --------
    dequantize : Integer pixels plus U[0, 1) noise.

    Examples
    --------
    >>> import numpy as np
    >>> from skae.metrics import bits_per_dim
    >>> round(bits_per_dim(-64 * np.log(2), n_dims=64), 6)  # p = 1/2 per pixel
    1.0
    >>> # 8 bits/dim: the uniform density on [0, 1)^3 of 8-bit pixels / 256.
    >>> float(bits_per_dim(0.0, n_dims=3, bin_width=1 / 256))
    8.0
    """
    if n_dims < 1:
        raise ValueError(f"n_dims must be a positive integer, got {n_dims!r}.")
    if not bin_width > 0:
        raise ValueError(f"bin_width must be positive, got {bin_width!r}.")
    nats = np.asarray(log_likelihood, dtype=np.float64)
    bits = -(nats + n_dims * math.log(bin_width)) / (n_dims * math.log(2))
    return float(bits) if bits.ndim == 0 else bits
