"""scikit-learn's estimator checks over every skae estimator and setting.

The listed settings (``estimators.CHECKED``; ``estimators.CHECKED_SLOW`` under
``-m slow``) run through ``parametrize_with_checks``; the hypothesis tests then
run ``check_estimator`` on settings drawn from the valid parameter space, a few
per estimator in the default run (``estimators.QUICK_SETTINGS``) and many more
from the whole space under ``-m slow`` (``estimators.SETTINGS``).
"""

import pytest
from estimators import CHECKED, CHECKED_SLOW, QUICK_SETTINGS, SETTINGS
from hypothesis import HealthCheck, given, settings
from sklearn.utils.estimator_checks import check_estimator, parametrize_with_checks

from skae import VAE

# The generic checks feed data above 1, which likelihood='bernoulli' rejects.
BERNOULLI_RANGE = "likelihood='bernoulli' rejects the check's data outside [0, 1]"
BERNOULLI_FAILED_CHECKS = dict.fromkeys(
    [
        "check_dict_unchanged",
        "check_dont_overwrite_parameters",
        "check_estimators_dtypes",
        "check_estimators_fit_returns_self",
        "check_estimators_overwrite_params",
        "check_estimators_pickle",
        "check_f_contiguous_array_estimator",
        "check_fit2d_1feature",
        "check_fit2d_1sample",
        "check_fit2d_predict1d",
        "check_fit_check_is_fitted",
        "check_fit_idempotent",
        "check_methods_sample_order_invariance",
        "check_methods_subset_invariance",
        "check_n_features_in",
        "check_n_features_in_after_fitting",
        "check_pipeline_consistency",
        "check_readonly_memmap_input",
        "check_transformer_data_not_an_array",
        "check_transformer_general",
        "check_transformer_n_iter",
        "check_transformer_preserve_dtypes",
    ],
    BERNOULLI_RANGE,
)


def expected_failed_checks(estimator):
    if isinstance(estimator, VAE) and estimator.likelihood == "bernoulli":
        return BERNOULLI_FAILED_CHECKS
    return {}


@parametrize_with_checks(
    CHECKED, expected_failed_checks=expected_failed_checks, xfail_strict=True
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


@pytest.mark.slow
@parametrize_with_checks(
    CHECKED_SLOW, expected_failed_checks=expected_failed_checks, xfail_strict=True
)
def test_sklearn_compatible_estimator_full_length(estimator, check):
    check(estimator)


def _check_drawn(estimator):
    check_estimator(estimator, expected_failed_checks=expected_failed_checks(estimator))


_drawn = settings(
    max_examples=2,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
_drawn_many = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@pytest.mark.parametrize("name", sorted(QUICK_SETTINGS))
def test_checks_pass_for_drawn_settings(name):
    _drawn(given(estimator=QUICK_SETTINGS[name])(_check_drawn))()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_checks_pass_for_many_drawn_settings(name):
    _drawn_many(given(estimator=SETTINGS[name])(_check_drawn))()
