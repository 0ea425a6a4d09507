"""scikit-learn's estimator checks over every skae estimator and setting.

The listed settings (``estimators.CHECKED``; ``estimators.CHECKED_SLOW`` under
``-m slow``) run through ``parametrize_with_checks``; the hypothesis tests then
run ``check_estimator`` on settings drawn from the valid parameter space, one
per estimator in the default run (``estimators.QUICK_SETTINGS``) and many more
from the whole space under ``-m slow`` (``estimators.SETTINGS``).
"""

import pytest
from estimators import CHECKED, CHECKED_SLOW, QUICK_SETTINGS, SETTINGS
from hypothesis import HealthCheck, given, settings
from sklearn.utils.estimator_checks import check_estimator, parametrize_with_checks


def expected_failed_checks(estimator):
    """None: every setting passes every check."""
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
    max_examples=1,
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
