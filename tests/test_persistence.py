"""skops round trips (``__getstate__`` holds no torch object) and pickle's path.

Every estimator at its defaults (residual maps started at PCA or the factor
model; a flow with a Gaussian-mixture base, rebuilt from the state on load)
and with the plain start (``init='random'``: plain MLPs;
``n_base_components=1``: the standard-normal base).
"""

import pickle

import numpy as np
import pytest
import torch
from estimators import FAST
from skorch.exceptions import DeviceWarning

from skae.modules.mixture import GaussianMixtureBase
from skae.modules.residual import ResidualMap

sio = pytest.importorskip("skops.io")

NAMES = sorted(FAST)
PLAIN = {
    "AutoencoderTransformer": {"init": "random"},
    "DenoisingAE": {"init": "random"},
    "VAE": {"init": "random"},
    "RealNVPDensity": {"n_base_components": 1},
}
CASES = [(name, variant) for name in NAMES for variant in ("default", "plain")]
IDS = [f"{name}-{variant}" for name, variant in CASES]


def _make(name: str, variant: str):
    model = FAST[name]()
    return model.set_params(**PLAIN[name]) if variant == "plain" else model


@pytest.fixture(scope="module")
def X():
    # Two clusters, so that the flow's BIC picks a mixture base.
    X = np.random.default_rng(0).normal(size=(80, 5))
    X[::2] += [5, -5, 0, 3, 0]
    return X


@pytest.fixture(scope="module")
def fitted(X):
    return {case: _make(*case).fit(X) for case in CASES}


def _layout(module) -> tuple:
    if hasattr(module, "base"):
        base = module.base
        return ("mixture", base.means.shape[0]) if base is not None else ("normal",)
    return type(module.encoder).__name__, type(module.decoder).__name__


def test_the_cases_have_the_layouts_they_stand_for(fitted):
    for (name, variant), model in fitted.items():
        module = model.net_.module_
        if name == "RealNVPDensity":
            assert isinstance(module.base, GaussianMixtureBase) is (variant != "plain")
        else:
            assert isinstance(module.encoder, ResidualMap) is (variant != "plain")


def _outputs(model, X):
    return model.transform(X), model.score_samples(X), model.sample(3, random_state=0)


def _assert_same_module(loaded, model) -> None:
    assert _layout(loaded.net_.module_) == _layout(model.net_.module_)
    want = model.net_.module_.state_dict()
    got = loaded.net_.module_.state_dict()
    assert got.keys() == want.keys()
    for key, tensor in want.items():
        assert got[key].dtype == tensor.dtype, key
        assert torch.equal(got[key], tensor), key


@pytest.mark.parametrize(("name", "variant"), CASES, ids=IDS)
def test_skops_round_trip_gives_identical_outputs(fitted, X, name, variant):
    model = fitted[name, variant]
    data = sio.dumps(model)
    untrusted = sio.get_untrusted_types(data=data)
    assert untrusted, "the estimator's own type is reported"
    assert all(t.startswith("skae.") for t in untrusted), untrusted
    loaded = sio.loads(data, trusted=untrusted)
    _assert_same_module(loaded, model)
    for got, want in zip(_outputs(loaded, X), _outputs(model, X), strict=True):
        np.testing.assert_array_equal(got, want)
    assert loaded.net_.history.to_list() == model.net_.history.to_list()


@pytest.mark.parametrize(("name", "variant"), CASES, ids=IDS)
def test_pickle_round_trip_gives_identical_outputs(fitted, X, name, variant):
    model = fitted[name, variant]
    loaded = pickle.loads(pickle.dumps(model))
    _assert_same_module(loaded, model)
    for got, want in zip(_outputs(loaded, X), _outputs(model, X), strict=True):
        np.testing.assert_array_equal(got, want)


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


@pytest.mark.parametrize(("name", "variant"), CASES, ids=IDS)
def test_partial_fit_after_a_skops_load_continues_as_the_original(
    fitted, X, name, variant
):
    model = fitted[name, variant]
    data = sio.dumps(model)
    loaded = sio.loads(data, trusted=sio.get_untrusted_types(data=data))
    copy = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(
        loaded.partial_fit(X).transform(X), copy.partial_fit(X).transform(X)
    )


def test_getstate_leaves_the_estimator_alone(fitted):
    model = fitted["AutoencoderTransformer", "default"]
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
    model = fitted["RealNVPDensity", "default"]
    payload = pickle.dumps(model)
    assert b"_skae_net_state" not in payload
    assert type(pickle.loads(payload).net_) is type(model.net_)


# -------------------------------------------------- skae.io: a fixed trust list
@pytest.mark.parametrize(("name", "variant"), CASES, ids=IDS)
def test_skae_io_round_trip_trusts_its_own_list(fitted, X, name, variant):
    from skae import io

    model = fitted[name, variant]
    loaded = io.loads(io.dumps(model))
    for got, want in zip(_outputs(loaded, X), _outputs(model, X), strict=True):
        np.testing.assert_array_equal(got, want)
    assert set(sio.get_untrusted_types(data=io.dumps(model))) <= set(io.TRUSTED_TYPES)


def test_skae_io_refuses_a_file_that_names_another_type(fitted, tmp_path):
    """A genuine skae file with one added reference to ``os.system``: trusting
    the file's own list of types (the old README recipe) would load it;
    :func:`skae.io.load` refuses it."""
    import copy
    import os

    from skops.io.exceptions import UntrustedTypesFoundException

    from skae import io

    model = copy.deepcopy(fitted["AutoencoderTransformer", "default"])
    model.payload_ = os.system
    path = tmp_path / "model.skops"
    io.dump(model, path)
    assert "posix.system" in sio.get_untrusted_types(file=path)
    with pytest.raises(UntrustedTypesFoundException, match="system"):
        io.load(path)
    with pytest.raises(UntrustedTypesFoundException):
        io.loads(path.read_bytes())
