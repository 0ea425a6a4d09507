"""The autoencoder's denoising warm-up (issue 12).

``AutoencoderTransformer`` begins training as a denoising autoencoder, with
Gaussian noise at probabilistic PCA's noise level by default, restores the
best weights when that phase stalls, and goes on with clean inputs.  The
tests watch the phases through skorch's own hooks.
"""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_wine
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler
from skorch.callbacks import Callback

from skae import AutoencoderTransformer, DenoisingAE
from skae._training import StartAwareStopping, WarmupCorruption


@pytest.fixture(scope="module")
def wine() -> np.ndarray:
    X, _ = load_wine(return_X_y=True)
    return StandardScaler().fit_transform(X)


class Phases(Callback):
    """Per epoch: were the training batches corrupted, the optimizer's state
    empty at the start, and the encoder's first weights at the start."""

    def initialize(self):
        self.corrupted, self.fresh_optimizer, self.weights = {}, {}, {}
        return self

    def on_epoch_begin(self, net, **kwargs):
        epoch = len(net.history)
        self.fresh_optimizer[epoch] = not net.optimizer_.state
        first = next(net.module_.encoder.parameters())
        self.weights[epoch] = first.detach().clone()

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if training:
            x, target = batch
            epoch = len(net.history)
            changed = not torch.equal(x, target)
            self.corrupted[epoch] = self.corrupted.get(epoch, False) or changed


def test_auto_noise_is_probabilistic_pca_noise(wine):
    model = AutoencoderTransformer(3, max_iter=2, random_state=0).fit(wine)
    pca = PCA(3).fit(model.preprocessor_.transform(wine))
    assert model.warmup_noise_ == pytest.approx(np.sqrt(pca.noise_variance_))
    assert model.warmup_epochs_ >= 1


@pytest.mark.parametrize(
    "params",
    [
        {"init": "random"},
        {"hidden_layer_sizes": ()},
        {"activation": "identity"},
        {"early_stopping": False},
        {"n_components": 13},
        {"warmup_noise": 0.0},
    ],
)
def test_no_warmup_where_it_has_no_part(wine, params):
    model = AutoencoderTransformer(
        **{"n_components": 3, "max_iter": 3, "random_state": 0, **params}
    )
    recorder = Phases()
    model.set_params(callbacks=[recorder]).fit(wine)
    assert model.warmup_noise_ == 0.0 and model.warmup_epochs_ == 0
    assert not any(recorder.corrupted.values())


def test_denoising_ae_has_no_separate_warmup(wine):
    assert "warmup_noise" not in DenoisingAE().get_params()
    model = DenoisingAE(3, max_iter=3, random_state=0).fit(wine)
    assert model.warmup_epochs_ == 0


def watched_fit(X, **params) -> tuple[AutoencoderTransformer, Phases]:
    """A 3-code autoencoder fitted on ``X`` with a :class:`Phases` recorder."""
    recorder = Phases()
    model = AutoencoderTransformer(3, random_state=0, callbacks=[recorder], **params)
    return model.fit(X), recorder


def test_warmup_corrupts_then_trains_clean(wine):
    model, recorder = watched_fit(
        wine, warmup_noise=0.5, max_iter=4, n_iter_no_change=100
    )
    # Patience is never reached: max_iter counts both phases, the warm-up
    # half of them.
    assert model.warmup_epochs_ == 2 and model.n_iter_ == 4
    assert [recorder.corrupted[e] for e in range(1, 5)] == [True] * 2 + [False] * 2
    assert recorder.fresh_optimizer[1] and recorder.fresh_optimizer[3]
    assert not recorder.fresh_optimizer[2] and not recorder.fresh_optimizer[4]
    # The clean validation loss is what early stopping watches in both phases.
    assert len(model.validation_loss_curve_) == 4


def test_a_stalled_warmup_restores_the_best_weights(wine):
    # Noise this large never helps the clean validation error: the warm-up
    # stalls after n_iter_no_change epochs and the clean phase starts at PCA.
    model, recorder = watched_fit(
        wine, warmup_noise=50.0, max_iter=10, n_iter_no_change=2
    )
    assert model.warmup_epochs_ == 2
    assert not torch.equal(recorder.weights[2], recorder.weights[1])
    assert torch.equal(recorder.weights[3], recorder.weights[1])
    assert model.best_loss_ <= model.initial_validation_loss_


def test_warmup_is_reproducible(wine):
    def codes():
        model = AutoencoderTransformer(2, max_iter=15, random_state=3).fit(wine)
        return model.warmup_epochs_, model.transform(wine)

    (epochs_a, a), (epochs_b, b) = codes(), codes()
    assert epochs_a == epochs_b
    np.testing.assert_array_equal(a, b)


def test_partial_fit_after_fit_trains_clean(wine):
    model, recorder = watched_fit(wine, warmup_noise=0.5, max_iter=2)
    assert recorder.corrupted[1]
    model.partial_fit(wine)
    assert recorder.corrupted[max(recorder.corrupted)] is False


def test_partial_fit_alone_has_no_warmup(wine):
    model = AutoencoderTransformer(3, warmup_noise=0.5, random_state=0)
    recorder = Phases()
    model.set_params(callbacks=[recorder]).partial_fit(wine)
    assert model.warmup_epochs_ == 0
    assert recorder.corrupted == {1: False}


def test_warmup_corruption_switches_once():
    calls = []

    def noisy(x, generator):
        calls.append("noisy")
        return x + 1, x

    def plain(x, generator):
        calls.append("plain")
        return x, x

    warmup = WarmupCorruption(noisy, plain)
    generator = torch.Generator().manual_seed(0)
    warmup(torch.zeros(1), generator)
    warmup.end()
    warmup(torch.zeros(1), generator)
    assert calls == ["noisy", "plain"]


def test_stopping_without_warmup_is_skorchs():
    stopping = StartAwareStopping(patience=3)
    assert stopping.warmup is None
    assert {"monitor", "patience", "load_best", "warmup"} <= set(stopping.get_params())
