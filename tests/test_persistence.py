"""skops round trips (``__getstate__`` holds no torch object) and pickle's path."""

import pickle

import numpy as np
import pytest
import torch
from estimators import FAST
from skorch.exceptions import DeviceWarning

sio = pytest.importorskip("skops.io")

NAMES = sorted(FAST)


@pytest.fixture(scope="module")
def X():
    return np.random.default_rng(0).normal(size=(80, 5))


@pytest.fixture(scope="module")
def fitted(X):
    return {name: FAST[name]().fit(X) for name in NAMES}


def _outputs(model, X):
    return model.transform(X), model.score_samples(X), model.sample(3, random_state=0)


@pytest.mark.parametrize("name", NAMES)
def test_skops_round_trip_gives_identical_outputs(fitted, X, name):
    model = fitted[name]
    data = sio.dumps(model)
    untrusted = sio.get_untrusted_types(data=data)
    assert untrusted, "the estimator's own type is reported"
    assert all(t.startswith("skae.") for t in untrusted), untrusted
    loaded = sio.loads(data, trusted=untrusted)
    for got, want in zip(_outputs(loaded, X), _outputs(model, X), strict=True):
        np.testing.assert_array_equal(got, want)
    assert loaded.net_.history.to_list() == model.net_.history.to_list()


def test_skops_round_trip_of_a_denoiser_keeps_its_corruption(X):
    from skae import DenoisingAE

    model = DenoisingAE(
        noise="salt_and_pepper", hidden_layer_sizes=(8,), max_iter=2, random_state=0
    ).fit(X)
    data = sio.dumps(model)
    untrusted = sio.get_untrusted_types(data=data)
    assert all(t.startswith("skae.") for t in untrusted), untrusted
    loaded = sio.loads(data, trusted=untrusted)
    np.testing.assert_array_equal(loaded.denoise(X), model.denoise(X))
    # Training continues as it would have: same weights, optimizer and noise.
    copy = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(
        loaded.partial_fit(X).transform(X), copy.partial_fit(X).transform(X)
    )


@pytest.mark.parametrize("name", NAMES)
def test_partial_fit_after_a_skops_load_continues_as_the_original(fitted, X, name):
    model = fitted[name]
    data = sio.dumps(model)
    loaded = sio.loads(data, trusted=sio.get_untrusted_types(data=data))
    copy = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(
        loaded.partial_fit(X).transform(X), copy.partial_fit(X).transform(X)
    )


def test_getstate_leaves_the_estimator_alone(fitted):
    model = fitted["AutoencoderTransformer"]
    state = model.__getstate__()
    assert "net_" not in state and "net_" in vars(model)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA present: nothing to map")
def test_a_cuda_model_loads_from_skops_on_the_cpu(X):
    model = FAST["VAE"]().fit(X)
    expected = _outputs(model, X)
    model.net_.device = "cuda"
    data = sio.dumps(model)
    with pytest.warns(DeviceWarning, match="cuda"):
        loaded = sio.loads(data, trusted=sio.get_untrusted_types(data=data))
    assert torch.device(loaded.net_.device).type == "cpu"
    for got, want in zip(_outputs(loaded, X), expected, strict=True):
        np.testing.assert_array_equal(got, want)


def test_pickle_still_keeps_the_skorch_net(fitted):
    model = fitted["RealNVPDensity"]
    payload = pickle.dumps(model)
    assert b"_skae_net_state" not in payload
    assert type(pickle.loads(payload).net_) is type(model.net_)
