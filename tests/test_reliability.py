"""Divergence, determinism, persistence, interruption and memory, per estimator."""

import pickle
import subprocess
import sys
import textwrap
import warnings

import joblib
import numpy as np
import pytest
import torch
from estimators import FAST
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from skorch.exceptions import DeviceWarning

import skae._inference
from skae import DivergenceError
from skae._training import SkaeNet

NAMES = list(FAST)


@pytest.fixture
def X(rng):
    return rng.normal(size=(80, 4)) @ rng.normal(size=(4, 4)) + 2.0


def _parameters(model):
    return {k: v.clone() for k, v in model.net_.module_.state_dict().items()}


def _outputs(model, X):
    return model.transform(X), model.score_samples(X), model.sample(5, random_state=0)


# ---------------------------------------------------------------- divergence
@pytest.mark.parametrize("name", NAMES)
def test_non_finite_loss_stops_the_fit(name, X, monkeypatch):
    """Whatever the model, a NaN loss ends the fit with DivergenceError."""
    calls = {"n": 0}
    train_step_single = SkaeNet.train_step_single

    def poisoned(self, batch, **kwargs):
        step = train_step_single(self, batch, **kwargs)
        calls["n"] += 1
        if calls["n"] >= 2:
            step["loss"] = step["loss"] * float("nan")
        return step

    monkeypatch.setattr(SkaeNet, "train_step_single", poisoned)
    with pytest.raises(DivergenceError, match=r"train loss became nan at epoch \d"):
        FAST[name]().set_params(max_iter=5).fit(X)


@pytest.mark.parametrize("name", ["AutoencoderTransformer", "DenoisingAE", "VAE"])
def test_an_exploding_but_finite_loss_stops_the_fit(name, rng):
    """A step size of 1e3 sends the loss to 1e29-1e50 while it stays finite: a
    DivergenceError naming the growth, and the estimator stays unfitted.  (With
    early stopping the best epoch, the start included, is restored instead:
    tests/test_warm_start.py::test_start_is_epoch_zero.)"""
    X = rng.normal(size=(100, 3))
    model = FAST[name]().set_params(
        learning_rate_init=1e3, early_stopping=False, max_iter=20
    )
    with pytest.raises(DivergenceError, match="loss grew from"):
        model.fit(X)
    assert not hasattr(model, "net_") and not hasattr(model, "n_features_in_")


def test_repeated_partial_fit_that_explodes_stops(rng):
    X = rng.normal(size=(100, 3))
    model = FAST["AutoencoderTransformer"]().set_params(learning_rate_init=1e3)
    with pytest.raises(DivergenceError, match="loss grew from"):
        for _ in range(20):
            model.partial_fit(X)


# --------------------------------------------------------------- determinism
@pytest.mark.parametrize("early_stopping", [False, True])
@pytest.mark.parametrize("name", NAMES)
def test_same_random_state_is_bit_identical(name, early_stopping, X):
    model = FAST[name]().set_params(
        max_iter=6, early_stopping=early_stopping, random_state=7
    )
    a, b = clone(model).fit(X), clone(model).fit(X)
    pa, pb = _parameters(a), _parameters(b)
    assert pa.keys() == pb.keys()
    for key in pa:
        assert torch.equal(pa[key], pb[key]), key
    for out_a, out_b in zip(_outputs(a, X), _outputs(b, X), strict=True):
        np.testing.assert_array_equal(out_a, out_b)
    assert a.loss_curve_ == b.loss_curve_


@pytest.mark.parametrize("name", NAMES)
def test_different_random_states_differ(name, X):
    a = FAST[name]().set_params(random_state=1).fit(X)
    b = FAST[name]().set_params(random_state=2).fit(X)
    assert any(not torch.equal(v, _parameters(b)[k]) for k, v in _parameters(a).items())


# --------------------------------------------------------------- persistence
@pytest.mark.parametrize("name", NAMES)
def test_fitted_attributes_hold_no_torch_objects_outside_net(name, X):
    """Only ``net_`` (which skorch maps between devices) may hold torch state."""
    model = FAST[name]().fit(X)
    for key, value in vars(model).items():
        if key != "net_":
            assert not isinstance(value, torch.Tensor | torch.nn.Module), key


@pytest.mark.parametrize("name", NAMES)
def test_joblib_round_trip_in_a_fresh_process(name, X, tmp_path):
    model = FAST[name]().fit(X)
    joblib.dump(model, tmp_path / "model.joblib")
    np.save(tmp_path / "X.npy", X)
    script = textwrap.dedent(
        f"""
        import joblib, numpy as np
        model = joblib.load({str(tmp_path / "model.joblib")!r})
        X = np.load({str(tmp_path / "X.npy")!r})
        np.savez({str(tmp_path / "out.npz")!r}, t=model.transform(X),
                 s=model.score_samples(X), x=model.sample(5, random_state=0))
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    out = np.load(tmp_path / "out.npz")
    transformed, scores, samples = _outputs(model, X)
    np.testing.assert_array_equal(out["t"], transformed)
    np.testing.assert_array_equal(out["s"], scores)
    np.testing.assert_array_equal(out["x"], samples)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA present: nothing to map")
@pytest.mark.parametrize("name", NAMES)
def test_model_saved_for_cuda_loads_on_cpu(name, X):
    """The storage-mapping half of "trained on CUDA, predicts on a CPU machine".

    skorch pickles the module through ``torch.save`` and maps it to the device
    that exists when unpickling. Labelling the net as a CUDA net exercises that
    path on any machine; the real CUDA round trip is ``test_cuda_round_trip``.
    """
    model = FAST[name]().fit(X)
    expected = _outputs(model, X)
    model.net_.device = "cuda"
    payload = pickle.dumps(model)
    with pytest.warns(DeviceWarning, match="cuda"):
        loaded = pickle.loads(payload)
    assert torch.device(loaded.net_.device).type == "cpu"
    for got, want in zip(_outputs(loaded, X), expected, strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", NAMES)
def test_cuda_round_trip(name, X, tmp_path):
    model = FAST[name]().set_params(device="cuda").fit(X)
    assert next(model.net_.module_.parameters()).is_cuda
    joblib.dump(model, tmp_path / "model.joblib")
    script = textwrap.dedent(
        f"""
        import os, joblib
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
        model = joblib.load({str(tmp_path / "model.joblib")!r})
        assert not next(model.net_.module_.parameters()).is_cuda
        """
    )
    subprocess.run(
        [sys.executable, "-c", script],
        check=True,
        timeout=120,
        env={"CUDA_VISIBLE_DEVICES": ""},
    )


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("name", NAMES)
def test_refit_on_missing_cuda_is_a_clear_error(name, X):
    with pytest.raises(ValueError, match="CUDA is not available"):
        FAST[name]().set_params(device="cuda").fit(X)


# -------------------------------------------------------------- interruption
@pytest.mark.parametrize("name", NAMES)
def test_keyboard_interrupt_leaves_a_usable_model(name, X, monkeypatch):
    """skorch ends training on KeyboardInterrupt; skae finishes ``fit`` normally."""
    calls = {"n": 0}
    train_step = SkaeNet.train_step

    def interrupted(self, batch, **kwargs):
        calls["n"] += 1
        if calls["n"] == 6:  # second epoch of 4 batches
            raise KeyboardInterrupt
        return train_step(self, batch, **kwargs)

    monkeypatch.setattr(SkaeNet, "train_step", interrupted)
    model = FAST[name]().set_params(max_iter=50, batch_size=20).fit(X)
    assert model.n_iter_ == 1
    for out in _outputs(model, X):
        assert np.all(np.isfinite(out))


# -------------------------------------------------------------------- memory
@pytest.mark.parametrize("method", ["transform", "score_samples"])
@pytest.mark.parametrize("name", NAMES)
def test_inference_converts_one_batch_at_a_time(name, method, rng, monkeypatch):
    X = rng.normal(size=(300, 4))
    model = FAST[name]().fit(X[:60])
    expected = getattr(model, method)(X)
    part = type(model._make_part(None))
    monkeypatch.setattr(part, "inference_rows", lambda self, fitted: 64)
    rows = []
    from_numpy = torch.from_numpy

    def recording(array):
        rows.append(array.shape[0])
        return from_numpy(array)

    monkeypatch.setattr(skae._inference.torch, "from_numpy", recording)
    np.testing.assert_allclose(
        getattr(model, method)(X), expected, rtol=1e-5, atol=1e-6
    )
    assert rows and max(rows) <= 64


# ---------------------------------------------------------------- properties
@st.composite
def problems(draw):
    n = draw(st.integers(2, 25))
    d = draw(st.integers(1, 5))
    scale = draw(st.sampled_from([1e-3, 1.0, 1e3, 1e6]))
    dtype = draw(st.sampled_from([np.float32, np.float64, np.int64]))
    seed = draw(st.integers(0, 2**16))
    X = np.random.default_rng(seed).normal(size=(n, d)) * scale
    return X.astype(dtype)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    X=problems(),
    name=st.sampled_from(NAMES),
    hidden=st.sampled_from([(), (3,), (5, 2)]),
    activation=st.sampled_from(["relu", "tanh", "logistic", "identity"]),
    batch_size=st.sampled_from(["auto", 1, 7]),
)
def test_random_problems_never_give_a_torch_error(
    X, name, hidden, activation, batch_size
):
    model = FAST[name]().set_params(
        hidden_layer_sizes=hidden,
        activation=activation,
        batch_size=batch_size,
        max_iter=2,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X)
        Z = model.transform(X)
        back = np.asarray(model.inverse_transform(Z))
        scores = model.score_samples(X)
        samples = np.asarray(model.sample(3, random_state=0))
    assert Z.shape[0] == X.shape[0]
    assert back.shape == X.shape
    assert scores.shape == (X.shape[0],)
    assert samples.shape == (3, X.shape[1])
    for out in (Z, back, scores, samples):
        assert not np.any(np.isnan(out))


def test_a_validation_monitor_without_validation_rows_names_the_fix(rng):
    """skorch's EarlyStopping() monitors valid_loss: without held-out rows a
    ValueError says so, instead of skorch's KeyError from the history."""
    from skorch.callbacks import EarlyStopping

    X = rng.normal(size=(60, 3))
    model = FAST["AutoencoderTransformer"]().set_params(
        early_stopping=False, callbacks=[EarlyStopping()]
    )
    with pytest.raises(ValueError, match="early_stopping=True, or monitor"):
        model.fit(X)
    assert not hasattr(model, "net_")
    model.set_params(callbacks=[EarlyStopping(monitor="train_loss")]).fit(X)
    fitted = model.set_params(early_stopping=True, callbacks=[EarlyStopping()]).fit(X)
    with pytest.raises(ValueError, match="partial_fit"):
        fitted.partial_fit(X)


@pytest.mark.parametrize("n_samples", [10**12, 2**63 - 1])
def test_an_absurd_sample_count_names_the_memory_it_would_take(n_samples, rng):
    model = FAST["AutoencoderTransformer"]().fit(rng.normal(size=(40, 3)))
    with pytest.raises(ValueError, match=r"would take .* GiB .* this machine"):
        model.sample(n_samples)
