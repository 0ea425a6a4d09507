import numpy as np
import pytest
import torch


@pytest.fixture
def seed() -> int:
    return 0


@pytest.fixture
def rng(seed) -> np.random.Generator:
    return np.random.default_rng(seed)


@pytest.fixture(autouse=True)
def _one_torch_thread_per_test():
    """Keep runs comparable on a 2-core machine; restores the setting after."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


# RealNVPDensity()'s input-container checks (the default's BIC base scan makes
# each about 15 s): the same conversions, sparse and array-like inputs, are
# checked in the default run on the RealNVPDensity settings of CHECKED with a
# fixed-size base (tests/estimators.py); the default's other checks stay.
_SLOW_DEFAULT_FLOW_CHECKS = {
    "check_estimator_sparse_array",
    "check_estimator_sparse_matrix",
    "check_transformer_data_not_an_array",
}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    prefix = "test_sklearn_compatible_estimator[RealNVPDensity()-"
    for item in items:
        if item.name.startswith(prefix):
            check = item.name[len(prefix) : -1]
            if check in _SLOW_DEFAULT_FLOW_CHECKS:
                item.add_marker(pytest.mark.slow)
