"""The one place that imports scikit-learn's private helpers.

A change in scikit-learn's private API then touches this file only.
"""

import numpy as np
from sklearn.base import _fit_context
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils._set_output import _get_container_adapter
from sklearn.utils.validation import (
    _check_feature_names_in,
    check_is_fitted,
    validate_data,
)

__all__ = [
    "HasMethods",
    "Interval",
    "StrOptions",
    "_fit_context",
    "check_is_fitted",
    "input_feature_names",
    "output_container",
    "validate_data",
]


def input_feature_names(estimator: object) -> np.ndarray:
    """``feature_names_in_`` where fit saw names, else ``x0, x1, ...``."""
    return _check_feature_names_in(estimator, None)


def output_container(estimator: object, X: np.ndarray, columns):
    """``X`` in the container ``set_output(transform=...)`` configures.

    One rule for every method that returns rows in the input space
    (``inverse_transform``, ``sample``, ``denoise``): an ndarray by default, a
    pandas or polars frame with ``columns`` when that output is configured.
    """
    adapter = _get_container_adapter("transform", estimator)
    if adapter is None:
        return X
    return adapter.create_container(X, None, columns=columns, inplace=False)
