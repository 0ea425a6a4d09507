"""Held-out reconstruction error for any transformer with ``inverse_transform``.

:func:`reconstruction_error` is the plain function; :func:`reconstruction_scorer`
is the same number with the sign that scikit-learn's model selection expects
(higher is better), so that PCA, NMF, KernelPCA, TruncatedSVD, the skae
estimators, and pipelines of them, compete under one criterion::

    GridSearchCV(pipeline, param_grid, scoring=skae.metrics.reconstruction_scorer)

Nothing is registered in scikit-learn's table of scorer names: pass the
function itself as ``scoring=``.
"""

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_array

__all__ = ["reconstruction_error", "reconstruction_scorer"]


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
