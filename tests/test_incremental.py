"""``partial_fit``: one epoch per call, preprocessing of the first call kept."""

import numpy as np
import pytest
import torch
from estimators import FAST
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split
from skorch.callbacks import Callback

from skae import AutoencoderTransformer, RealNVPDensity
from skae.modules.residual import ResidualMap
from skae.parts.flow import RealNVPPart

NAMES = sorted(FAST)


@pytest.fixture(scope="module")
def X():
    return np.random.default_rng(0).normal(size=(90, 5)) * [1, 2, 3, 4, 5]


@pytest.mark.parametrize("name", NAMES)
def test_one_epoch_per_call_and_the_first_preprocessing_is_kept(X, name):
    model = FAST[name]()
    model.partial_fit(X[:40])
    mean, scale = model.mean_.copy(), model.scale_.copy()
    model.partial_fit(X[40:]).partial_fit(X)
    assert model.n_iter_ == 3 == len(model.loss_curve_)
    np.testing.assert_array_equal(model.mean_, mean)
    np.testing.assert_array_equal(model.scale_, scale)
    assert np.all(np.isfinite(model.score_samples(X)))
    assert model.transform(X).shape[0] == X.shape[0]


@pytest.mark.parametrize("name", NAMES)
def test_partial_fit_is_reproducible_and_keeps_torch_rng(X, name):
    import torch

    state = torch.get_rng_state()
    first = FAST[name]().partial_fit(X).partial_fit(X)
    second = FAST[name]().partial_fit(X).partial_fit(X)
    assert torch.equal(state, torch.get_rng_state())
    np.testing.assert_array_equal(first.transform(X), second.transform(X))


def test_partial_fit_continues_a_fit_and_ignores_early_stopping(X):
    model = clone(FAST["VAE"]()).set_params(early_stopping=True).fit(X)
    epochs = model.n_iter_
    model.partial_fit(X)
    assert model.n_iter_ == epochs + 1
    assert "stopping" not in dict(model.net_.callbacks_)


def test_partial_fit_fires_user_callbacks_and_rejects_a_new_width(X):
    class Count(Callback):
        def initialize(self):
            self.epochs = 0
            return self

        def on_epoch_end(self, net, **kwargs):
            self.epochs += 1

    count = Count()
    model = FAST["AutoencoderTransformer"]().set_params(callbacks=[count])
    model.partial_fit(X).partial_fit(X)
    assert dict(model.net_.callbacks_)["Count"].epochs == 2
    with pytest.raises(ValueError, match="features"):
        model.partial_fit(X[:, :3])


def test_flow_trains_without_the_boxes_of_the_previous_call(X, monkeypatch):
    flow = RealNVPDensity(n_layers=2, hidden_layer_sizes=(8,), random_state=0)
    flow.partial_fit(X)
    coupling = flow.net_.module_.layers[1]
    assert np.isfinite(coupling.box_low.numpy()).all()
    seen = []
    original = RealNVPPart.before_partial_fit

    def spy(self, module):
        original(self, module)
        seen.append(coupling.box_low.clone())

    monkeypatch.setattr(RealNVPPart, "before_partial_fit", spy)
    flow.partial_fit(X)
    assert np.isinf(seen[0].numpy()).all()
    assert np.isfinite(coupling.box_low.numpy()).all()


def test_dask_ml_incremental_comes_close_to_a_full_fit():
    """30 passes of ``Incremental`` over a chunked dask array against 30 epochs."""
    dask = pytest.importorskip("dask")
    da = pytest.importorskip("dask.array")
    wrappers = pytest.importorskip("dask_ml.wrappers")
    X = load_digits().data
    X_train, X_test = train_test_split(X, test_size=0.25, random_state=0)

    def held_out_mse(model):
        return np.mean((X_test - model.inverse_transform(model.transform(X_test))) ** 2)

    settings = {"n_components": 8, "random_state": 0}
    full = AutoencoderTransformer(max_iter=30, **settings).fit(X_train)
    incremental = wrappers.Incremental(AutoencoderTransformer(**settings))
    chunks = da.from_array(X_train, chunks=(200, X.shape[1]))
    with dask.config.set(scheduler="synchronous"):
        for _ in range(30):
            incremental.partial_fit(chunks)
    model = incremental.estimator_
    assert model.n_iter_ == 30 * chunks.numblocks[0]
    assert held_out_mse(model) <= 1.15 * held_out_mse(full)


def test_the_first_call_warm_starts_from_its_own_rows():
    """PCA, the factor model and the mixture base come from the first chunk."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 4))
    X[::2] += [5, -5, 0, 3]
    flow = FAST["RealNVPDensity"]().set_params(n_base_components="bic")
    flow.partial_fit(X[:60])
    base = flow.net_.module_.base
    assert flow.n_base_components_ > 1 and base is not None
    means = base.means.clone()
    flow.partial_fit(X[60:])
    assert flow.net_.module_.base is base and torch.equal(base.means, means)
    vae = FAST["VAE"]().partial_fit(X[:60])
    assert isinstance(vae.net_.module_.encoder, ResidualMap)
    assert vae.n_factors_start_ >= 1
    ae = FAST["AutoencoderTransformer"]().set_params(learning_rate_init=1e-12)
    ae.partial_fit(X[:60])
    pca = PCA(n_components=2).fit(ae.preprocessor_.transform(X[:60], np.float64))
    np.testing.assert_allclose(
        np.abs(ae.net_.module_.encoder.linear.weight.detach().numpy()),
        np.abs(pca.components_),
        atol=1e-6,
    )
