"""ONNX export (``skae.onnx``): onnxruntime reproduces every exported method.

Each estimator is converted at its defaults (autoencoders: PCA start, so
:class:`~skae.modules.residual.ResidualMap` encoder and decoder; VAE: factor
model start, the same maps; flow: a BIC-chosen Gaussian-mixture base, with
its broad component), with the plain start (``init='random'``: plain MLPs;
``n_base_components=1``: the standard-normal base) and, for the residual
maps, with a trained residual branch (no early stopping to restore the
start, where that branch is exactly zero).
"""

import numpy as np
import pytest
from estimators import FAST
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

skl2onnx = pytest.importorskip("skl2onnx")
rt = pytest.importorskip("onnxruntime")
skae_onnx = pytest.importorskip("skae.onnx")

from skae.modules.mixture import GaussianMixtureBase  # noqa: E402
from skae.modules.residual import ResidualMap  # noqa: E402

TOLERANCE = 1e-4
_TRAINED = {"early_stopping": False}
VARIANTS = {
    "AutoencoderTransformer": {
        "default": {},
        "trained-branch": _TRAINED,
        "random": {"init": "random"},
    },
    "DenoisingAE": {
        "default": {},
        "trained-branch": _TRAINED,
        "random": {"init": "random"},
    },
    "VAE": {"default": {}, "trained-branch": _TRAINED, "random": {"init": "random"}},
    # FAST's flow has a fixed two-component base; "default" is the BIC scan.
    "RealNVPDensity": {
        "default": {"n_base_components": "bic"},
        "one-component": {"n_base_components": 1},
    },
}
CASES = [(name, variant) for name in sorted(VARIANTS) for variant in VARIANTS[name]]
IDS = [f"{name}-{variant}" for name, variant in CASES]


def _make(name: str, variant: str):
    return FAST[name]().set_params(**VARIANTS[name][variant])


@pytest.fixture(scope="module")
def X():
    # Two clusters, so that the flow's BIC picks a mixture base.
    X = np.random.default_rng(0).normal(size=(120, 6)) @ np.diag([1, 2, 3, 1, 5, 1])
    X[::2] += [6, 0, -6, 3, 0, 0]
    return X


@pytest.fixture(scope="module")
def fitted(X):
    return {case: _make(*case).fit(X) for case in CASES}


def _run(onx, A: np.ndarray) -> np.ndarray:
    session = rt.InferenceSession(onx.SerializeToString())
    return session.run(None, {session.get_inputs()[0].name: A})[0]


def _inputs(model, X, method: str) -> np.ndarray:
    if method == "inverse_transform":
        return model.transform(X)
    if method == "score_samples":
        return np.vstack([X, 20 * X[:4]])  # and far from the data
    return X


def test_the_variants_have_the_layouts_they_stand_for(fitted):
    for (name, variant), model in fitted.items():
        module = model.net_.module_
        if name == "RealNVPDensity":
            mixture = variant == "default"
            assert isinstance(module.base, GaussianMixtureBase) is mixture
            assert module.base is not None or not mixture
            if mixture:  # fitted components and the broad one
                assert module.base.means.shape[0] >= 3
            continue
        expected = nn.Sequential if variant == "random" else ResidualMap
        assert isinstance(module.encoder, expected)
        assert isinstance(module.decoder, expected)
        if variant == "trained-branch":
            assert module.encoder.residual[-1].weight.abs().max() > 0
            assert module.decoder.residual[-1].weight.abs().max() > 0
            # PCA scales the decoder's branch input, the factor model its output.
            decoder_scale = "out_scale" if name == "VAE" else "in_scale"
            scales = [module.encoder.out_scale, getattr(module.decoder, decoder_scale)]
            assert all(not bool((scale == 1).all()) for scale in scales)


@pytest.mark.parametrize(("name", "variant"), CASES, ids=IDS)
def test_to_onnx_transform_of_an_estimator_alone(fitted, X, name, variant):
    model = fitted[name, variant]
    got = _run(skl2onnx.to_onnx(model, X[:1]), X)
    np.testing.assert_allclose(got, model.transform(X), rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize("method", ["inverse_transform", "score_samples"])
@pytest.mark.parametrize(("name", "variant"), CASES, ids=IDS)
def test_other_methods_through_the_option(fitted, X, name, variant, method):
    model = fitted[name, variant]
    A = _inputs(model, X, method)
    onx = skae_onnx.to_onnx(model, A[:1], method=method)
    got = _run(onx, A)
    want = getattr(model, method)(A)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=TOLERANCE)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("name", "variant"), CASES, ids=IDS)
def test_transform_and_score_samples_behind_a_standard_scaler(X, name, variant, dtype):
    pipe = make_pipeline(StandardScaler(), _make(name, variant)).fit(X)
    A = X.astype(dtype)
    got = _run(skl2onnx.to_onnx(pipe, A[:1]), A)
    np.testing.assert_allclose(got, pipe.transform(X), rtol=0, atol=TOLERANCE)
    got = _run(skae_onnx.to_onnx(pipe, A[:1], method="score_samples"), A)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, pipe.score_samples(X), rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize("name", ["AutoencoderTransformer", "VAE"])
def test_linear_maps_without_a_residual_branch(X, name):
    model = _make(name, "default").set_params(hidden_layer_sizes=()).fit(X)
    assert model.net_.module_.encoder.residual is None
    for method in ("transform", "inverse_transform", "score_samples"):
        A = _inputs(model, X, method)
        got = _run(skae_onnx.to_onnx(model, A[:1], method=method), A)
        np.testing.assert_allclose(got, getattr(model, method)(A), atol=TOLERANCE)


def test_vae_clamps_with_its_own_posterior_and_decoder_bounds(fitted, X):
    """Bounds that bind: the posterior's and the decoder's, each its own."""
    model = fitted["VAE", "trained-branch"]
    module = model.net_.module_
    saved = module.logvar_bounds, module.decoder_logvar_bounds
    decoder_logvar = module.decoder_logvar.detach().numpy()
    try:
        module.logvar_bounds = (-0.5, 0.5)
        module.decoder_logvar_bounds = (
            float(np.quantile(decoder_logvar, 0.3)),
            float(np.quantile(decoder_logvar, 0.7)),
        )
        got = _run(skae_onnx.to_onnx(model, X[:1], method="score_samples"), X)
        want = model.score_samples(X)
    finally:
        module.logvar_bounds, module.decoder_logvar_bounds = saved
    assert np.abs(want - model.score_samples(X)).max() > 1e-2  # the bounds bind
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
        skae_onnx.to_onnx(fitted["VAE", "default"], X[:1], method="predict")


def test_image_models_are_refused():
    X = np.random.default_rng(0).uniform(size=(30, 16))
    model = FAST["AutoencoderTransformer"]().set_params(image_shape=(4, 4)).fit(X)
    with pytest.raises(NotImplementedError, match="image_shape"):
        skae_onnx.to_onnx(model, X[:1])


def test_a_subclass_exports_with_its_base_classes_graph(X):
    """Dispatch follows the class hierarchy: a user's subclass exports."""
    from skae import AutoencoderTransformer

    class MyAutoencoder(AutoencoderTransformer):
        pass

    model = MyAutoencoder(n_components=2, hidden_layer_sizes=(8,), max_iter=3)
    model.set_params(random_state=0).fit(X)
    onx = skae_onnx.to_onnx(model, X[:1])
    session = rt.InferenceSession(onx.SerializeToString())
    np.testing.assert_allclose(
        session.run(None, {"X": X})[0], model.transform(X), rtol=1e-5, atol=1e-6
    )
