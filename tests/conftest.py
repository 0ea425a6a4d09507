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
