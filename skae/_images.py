"""Rows that are flattened images: the ``image_shape`` parameter, written once.

An estimator with ``image_shape=(C, H, W)`` (or ``(H, W)``, meaning one
channel) still takes a 2-D ``X`` of shape ``(n_samples, C*H*W)``: each row is
an image flattened in C order (channel, then row, then column), so that
Pipelines, ``GridSearchCV`` and scikit-learn's checks see an ordinary table.
Arrays of shape ``(n, H, W)`` (one channel) and ``(n, C, H, W)`` are
flattened the same way before validation.

:func:`checked_image_shape` validates the parameter, :func:`flattened_images`
reshapes image arrays into rows and :func:`check_image_width` checks that a
table has ``C*H*W`` columns.  :class:`~skae._base.SkaeBase` calls them in its
input validation; nothing else needs to know about images except the torch
module, which receives ``(C, H, W)`` through
:class:`~skae.modules.protocol.InputSpec`.
"""

import numbers

import numpy as np
import scipy.sparse as sp

from skae._params import are_positive_integers

ImageShape = tuple[int, int, int]


def checked_image_shape(image_shape) -> ImageShape | None:
    """``image_shape`` as ``(C, H, W)``, or None; a ValueError if it is not one.

    Parameters
    ----------
    image_shape : None or sequence of 2 or 3 int
        ``(C, H, W)``, or ``(H, W)`` for one channel; positive sizes, except
        that one of them may be ``-1``, inferred from the number of columns
        at fit (as in :func:`numpy.reshape`).

    Returns
    -------
    shape : tuple of 3 int or None
        Possibly with one ``-1`` (see :func:`resolved_image_shape`).

    Examples
    --------
    >>> from skae._images import checked_image_shape
    >>> checked_image_shape((28, 28))
    (1, 28, 28)
    >>> checked_image_shape([3, 32, 32])
    (3, 32, 32)
    >>> checked_image_shape((1, 1, -1))
    (1, 1, -1)
    >>> checked_image_shape(None) is None
    True
    """
    if image_shape is None:
        return None
    try:
        values = tuple(image_shape)
    except TypeError:
        values = None
    known = [] if values is None else [v for v in values if not _is_inferred(v)]
    if (
        values is None
        or len(values) not in (2, 3)
        or len(values) - len(known) > 1
        or not are_positive_integers(known)
    ):
        raise ValueError(
            "image_shape must be None, (H, W) or (C, H, W) with positive integer "
            f"sizes (one of them may be -1, inferred), got {image_shape!r}."
        )
    if len(values) == 2:
        values = (1, *values)
    return tuple(int(v) for v in values)


def _is_inferred(value) -> bool:
    return isinstance(value, numbers.Integral) and value == -1


def resolved_image_shape(
    shape: ImageShape | None, n_features: int, owner: str
) -> ImageShape | None:
    """``shape`` with its ``-1`` inferred from ``n_features``, checked against it.

    A ValueError names the expected number of columns when ``n_features``
    does not match (or is not a multiple of the known sizes).

    Examples
    --------
    >>> from skae._images import resolved_image_shape
    >>> resolved_image_shape((1, 1, -1), 5, "AE")
    (1, 1, 5)
    >>> resolved_image_shape((1, 28, 28), 784, "AE")
    (1, 28, 28)
    >>> resolved_image_shape((1, 28, 28), 783, "AE")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: AE with image_shape=(1, 28, 28) expects 784 = 1x28x28 columns ...
    """
    if shape is None:
        return None
    if -1 not in shape:
        check_image_width(n_features, shape, owner)
        return shape
    return inferred_shape(
        shape, n_features, f"{owner} with image_shape={shape}", "C, H, W images"
    )


def inferred_shape(shape: tuple, n_features: int, who: str, rows: str) -> tuple:
    """``shape`` with its one ``-1`` inferred from ``n_features`` columns.

    ``who`` (the estimator and its parameter) and ``rows`` (what a flat row
    is) name the problem when ``n_features`` is not a positive multiple of
    the known sizes.
    """
    known = int(np.prod([v for v in shape if v != -1]))
    if n_features % known or n_features == 0:
        raise ValueError(
            f"{who} expects a positive multiple of {known} columns (flattened "
            f"{rows}), got n_features=n_features={n_features}."
        )
    return tuple(n_features // known if v == -1 else v for v in shape)


def _shape_text(shape: ImageShape) -> str:
    return "x".join(str(v) for v in shape)


def flattened_images(X, shape: ImageShape | None, owner: str):
    """``X`` with image arrays ``(n, H, W)`` / ``(n, C, H, W)`` flattened to rows.

    Anything else (2-D tables, lists, DataFrames, sparse matrices) is
    returned unchanged, for the usual validation to judge.

    Parameters
    ----------
    X : array-like
        The input of a method.
    shape : tuple of 3 int or None
        The estimator's ``(C, H, W)``; None returns ``X`` unchanged.
    owner : str
        Estimator name for the error messages.

    Returns
    -------
    X : array-like
        2-D ``(n, C*H*W)`` for an image array (a view where possible).

    Examples
    --------
    >>> import numpy as np
    >>> from skae._images import flattened_images
    >>> flattened_images(np.zeros((5, 1, 4, 3)), (1, 4, 3), "AE").shape
    (5, 12)
    """
    if shape is None or sp.issparse(X) or not hasattr(X, "shape"):
        return X
    if not hasattr(X, "__array__") or len(X.shape) not in (3, 4):
        return X
    X = np.asarray(X)
    channels, height, width = shape
    if X.ndim == 3:
        if channels not in (1, -1):
            raise ValueError(
                f"{owner} got an array of shape {X.shape}, read as (n, H, W) "
                f"one-channel images, but image_shape={shape} has {channels} "
                "channels; pass (n, C, H, W) images or flat rows of "
                f"{channels * height * width} columns."
            )
        got = (1, *X.shape[1:])
    else:
        got = X.shape[1:]
        if channels not in (got[0], -1):
            raise ValueError(
                f"{owner} got images with {got[0]} channel(s) (array of shape "
                f"{X.shape}), but image_shape={shape} expects {channels}."
            )
    pairs = zip(got[1:], shape[1:], strict=True)
    if any(expected not in (size, -1) for size, expected in pairs):
        raise ValueError(
            f"{owner} got images of height x width {got[1]}x{got[2]} "
            f"(array of shape {X.shape}), but image_shape={shape} expects "
            f"{height}x{width}."
        )
    return X.reshape(X.shape[0], -1)


def check_image_width(n_features: int, shape: ImageShape | None, owner: str) -> None:
    """Raise a ValueError unless rows of ``n_features`` columns are ``shape`` images.

    Examples
    --------
    >>> from skae._images import check_image_width
    >>> check_image_width(784, (1, 28, 28), "AE")
    >>> check_image_width(783, (1, 28, 28), "AE")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: AE with image_shape=(1, 28, 28) expects 784 = 1x28x28 columns ...
    """
    if shape is None:
        return
    expected = int(np.prod(shape))
    if n_features != expected:
        raise ValueError(
            f"{owner} with image_shape={shape} expects {expected} = "
            f"{_shape_text(shape)} columns (flattened C, H, W images), got "
            f"n_features={n_features}."
        )
