"""ONNX export (``skae.onnx``): onnxruntime reproduces every exported method."""

import numpy as np
import pytest
from estimators import FAST
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

skl2onnx = pytest.importorskip("skl2onnx")
rt = pytest.importorskip("onnxruntime")
skae_onnx = pytest.importorskip("skae.onnx")

NAMES = sorted(FAST)
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def X():
    return np.random.default_rng(0).normal(size=(120, 6)) @ np.diag([1, 2, 3, 1, 5, 1])


@pytest.fixture(scope="module")
def fitted(X):
    return {name: FAST[name]().fit(X) for name in NAMES}


def _run(onx, A: np.ndarray) -> np.ndarray:
    session = rt.InferenceSession(onx.SerializeToString())
    return session.run(None, {session.get_inputs()[0].name: A})[0]


@pytest.mark.parametrize("name", NAMES)
def test_to_onnx_transform_of_an_estimator_alone(fitted, X, name):
    model = fitted[name]
    got = _run(skl2onnx.to_onnx(model, X[:1]), X)
    np.testing.assert_allclose(got, model.transform(X), rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", NAMES)
def test_to_onnx_transform_behind_a_standard_scaler(X, name, dtype):
    pipe = make_pipeline(StandardScaler(), FAST[name]()).fit(X)
    got = _run(skl2onnx.to_onnx(pipe, X[:1].astype(dtype)), X.astype(dtype))
    np.testing.assert_allclose(got, pipe.transform(X), rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize("method", ["inverse_transform", "score_samples"])
@pytest.mark.parametrize("name", NAMES)
def test_other_methods_through_the_option(fitted, X, name, method):
    model = fitted[name]
    A = model.transform(X) if method == "inverse_transform" else X
    onx = skae_onnx.to_onnx(model, A[:1], method=method)
    got = _run(onx, A)
    want = getattr(model, method)(A)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=TOLERANCE)


def test_score_samples_of_a_pipeline_and_a_bernoulli_vae(X):
    from sklearn.preprocessing import MinMaxScaler

    from skae import VAE

    vae = VAE(likelihood="bernoulli", hidden_layer_sizes=(8,), max_iter=3)
    pipe = make_pipeline(MinMaxScaler(clip=True), vae.set_params(random_state=0))
    pipe.fit(X)
    onx = skl2onnx.to_onnx(pipe, X[:1], options={id(vae): {"method": "score_samples"}})
    got = _run(onx, X)
    np.testing.assert_allclose(got, pipe.score_samples(X), rtol=0, atol=TOLERANCE)


def test_unknown_method_is_refused(fitted, X):
    with pytest.raises(ValueError, match="method must be one of"):
        skae_onnx.to_onnx(fitted["VAE"], X[:1], method="predict")
