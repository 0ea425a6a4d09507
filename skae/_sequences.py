"""Rows that are flattened sequences: the ``sequence_shape`` parameter.

The sequence counterpart of :mod:`skae._images`.  An estimator with
``sequence_shape=(T, F)`` takes a 2-D ``X`` of shape ``(n_samples, T*F)``:
each row is a sequence of ``T`` steps of ``F`` features flattened in C order
(step, then feature), so that Pipelines, ``GridSearchCV`` and scikit-learn's
checks see an ordinary table.  Arrays of shape ``(n, T, F)`` are flattened
the same way before validation; one of ``T`` and ``F`` may be ``-1``,
inferred from the number of columns at fit.

:func:`checked_sequence_shape` validates the parameter,
:func:`flattened_sequences` reshapes sequence arrays into rows and
:func:`resolved_sequence_shape` infers the ``-1`` and checks the width.
:func:`~skae._tabular.validated_input` calls them; the torch module receives
``(T, F)`` through :class:`~skae.modules.protocol.InputSpec`.
"""

import numpy as np
import scipy.sparse as sp

from skae._images import _is_inferred, inferred_shape
from skae._params import are_positive_integers

SequenceShape = tuple[int, int]


def checked_sequence_shape(sequence_shape) -> SequenceShape | None:
    """``sequence_shape`` as ``(T, F)``, or None; a ValueError if it is not one.

    Examples
    --------
    >>> from skae._sequences import checked_sequence_shape
    >>> checked_sequence_shape([24, 1]), checked_sequence_shape((-1, 2))
    ((24, 1), (-1, 2))
    >>> checked_sequence_shape(None) is None
    True
    """
    if sequence_shape is None:
        return None
    try:
        values = tuple(sequence_shape)
    except TypeError:
        values = None
    known = [] if values is None else [v for v in values if not _is_inferred(v)]
    if (
        values is None
        or len(values) != 2
        or len(known) < 1
        or not are_positive_integers(known)
    ):
        raise ValueError(
            "sequence_shape must be None or (T, F) with positive integer sizes "
            f"(one of them may be -1, inferred), got {sequence_shape!r}."
        )
    return tuple(int(v) for v in values)


def _who(owner: str, shape) -> str:
    return f"{owner} with sequence_shape={shape}"


def resolved_sequence_shape(
    shape: SequenceShape | None, n_features: int, owner: str
) -> SequenceShape | None:
    """``shape`` with its ``-1`` inferred from ``n_features``, checked against it.

    Examples
    --------
    >>> from skae._sequences import resolved_sequence_shape
    >>> resolved_sequence_shape((-1, 1), 5, "AE")
    (5, 1)
    >>> resolved_sequence_shape((12, 2), 23, "AE")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: AE with sequence_shape=(12, 2) expects 24 = 12 steps x 2 ...
    """
    if shape is None:
        return None
    if -1 in shape:
        return inferred_shape(shape, n_features, _who(owner, shape), "T, F sequences")
    steps, features = shape
    if n_features != steps * features:
        raise ValueError(
            f"{_who(owner, shape)} expects {steps * features} = {steps} steps x "
            f"{features} features columns (flattened T, F sequences), got "
            f"n_features={n_features}."
        )
    return shape


def flattened_sequences(X, shape: SequenceShape | None, owner: str):
    """``X`` with a sequence array ``(n, T, F)`` flattened to rows ``(n, T*F)``.

    Anything else (2-D tables, lists, DataFrames, sparse matrices) is
    returned unchanged, for the usual validation to judge; a 3-D array
    whose ``T`` or ``F`` differs from ``shape`` is a ValueError naming both.

    Examples
    --------
    >>> import numpy as np
    >>> from skae._sequences import flattened_sequences
    >>> flattened_sequences(np.zeros((5, 12, 2)), (12, 2), "AE").shape
    (5, 24)
    """
    if shape is None or sp.issparse(X) or not hasattr(X, "shape"):
        return X
    if not hasattr(X, "__array__") or len(X.shape) != 3:
        return X
    X = np.asarray(X)
    steps, features = shape
    if steps not in (X.shape[1], -1) or features not in (X.shape[2], -1):
        problem = "steps" if steps not in (X.shape[1], -1) else "features per step"
        raise ValueError(
            f"{owner} got sequences of {X.shape[1]} steps x {X.shape[2]} "
            f"features (array of shape {X.shape}), but sequence_shape={shape} "
            f"expects {steps} steps x {features} features: wrong number of "
            f"{problem}."
        )
    return X.reshape(X.shape[0], -1)
