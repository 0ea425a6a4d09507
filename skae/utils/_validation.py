"""The one place that imports scikit-learn's private helpers.

A change in scikit-learn's private API then touches this file only.
"""

from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils._set_output import _get_output_config
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = [
    "Interval",
    "StrOptions",
    "_fit_context",
    "check_is_fitted",
    "pandas_output_requested",
    "validate_data",
]


def pandas_output_requested(estimator: object) -> bool:
    """Whether ``set_output(transform="pandas")`` (or the global config) is active."""
    return _get_output_config("transform", estimator)["dense"] == "pandas"
