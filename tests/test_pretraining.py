"""Greedy layer-wise pre-training of the stacked MLP autoencoders."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from skorch.callbacks import Callback
from torch import nn

from skae import AutoencoderTransformer, DenoisingAE
from skae._parts import params_of
from skae._pretraining import layer_pairs
from skae.modules.autoencoder import Autoencoder


@pytest.fixture(scope="module")
def digits():
    return load_digits().data[:300]


def _greedy(estimator=AutoencoderTransformer, **params):
    defaults = {
        "n_components": 4,
        "hidden_layer_sizes": (16, 8),
        "pretrain": "greedy",
        "max_iter": 6,
        "random_state": 0,
    }
    return estimator(**{**defaults, **params})


class CountStages(Callback):
    def __init__(self):
        self.trainings = []

    def on_train_begin(self, net, **kwargs):
        self.trainings.append(type(net.module_).__name__)


def test_layer_pairs_share_the_stack_layers():
    module = Autoencoder(8, 2, (6, 4), "relu")
    pairs = layer_pairs(module, "relu")
    assert pairs[0].encoder[0] is module.encoder[0]
    assert pairs[0].decoder[0] is module.decoder[-1]
    # The code (last encoder layer) and the output (last decoder layer) are linear.
    assert isinstance(pairs[-1].encoder[-1], nn.Linear)
    assert isinstance(pairs[0].decoder[-1], nn.Linear)
    assert isinstance(pairs[0].encoder[-1], nn.ReLU)
    assert isinstance(pairs[1].decoder[-1], nn.ReLU)


@pytest.mark.parametrize("estimator", [AutoencoderTransformer, DenoisingAE])
def test_each_layer_pair_trains_with_its_own_stopping(estimator, digits):
    model = _greedy(estimator).fit(digits)
    assert len(model.pretrain_losses_) == 3
    assert len(model.pretrain_validation_losses_) == 3
    for curve in model.pretrain_losses_:
        assert 1 <= len(curve) <= 6
        assert curve[-1] < curve[0]
    # Greedy replaces the PCA start: the plain stack, no warm-up.
    assert isinstance(model.net_.module_.encoder, nn.Sequential)
    assert model.warmup_noise_ == 0.0


def test_pretraining_moves_the_start(digits):
    greedy = _greedy(max_iter=1).fit(digits)
    direct = _greedy(pretrain=None, init="random", max_iter=1).fit(digits)
    assert greedy.initial_validation_loss_ < direct.initial_validation_loss_


def test_callbacks_fire_in_every_stage(digits):
    counter = CountStages()
    model = _greedy(callbacks=[counter]).fit(digits)
    assert counter.trainings == ["LayerPair"] * 3 + ["Autoencoder"]
    assert model.n_iter_ >= 1


def test_one_progress_output_per_stage(digits, capsys):
    _greedy(hidden_layer_sizes=(8,), max_iter=2, verbose=1).fit(digits)
    out = capsys.readouterr().out
    assert "layer pair 1/2 (64 -> 8)" in out
    assert "layer pair 2/2 (8 -> 4)" in out
    assert out.count("train_loss") == 3  # three tables: two pairs, fine-tuning


def test_bit_reproducible(digits):
    model = _greedy(DenoisingAE, noise="salt_and_pepper", noise_level=0.2)
    first, second = clone(model).fit(digits), clone(model).fit(digits)
    assert first.pretrain_losses_ == second.pretrain_losses_
    for (name, a), (_, b) in zip(
        first.net_.module_.state_dict().items(),
        second.net_.module_.state_dict().items(),
        strict=True,
    ):
        assert torch.equal(a, b), name


def test_without_early_stopping_and_linear_stack(digits):
    model = _greedy(hidden_layer_sizes=(), early_stopping=False, max_iter=3)
    model.fit(digits)
    assert model.pretrain_validation_losses_ is None
    assert [len(c) for c in model.pretrain_losses_] == [3]


def test_partial_fit_first_call_pretrains(digits):
    model = _greedy(max_iter=2).partial_fit(digits)
    assert len(model.pretrain_losses_) == 3
    assert model.n_iter_ == 1


def test_denoising_stages_corrupt_their_own_inputs():
    model = DenoisingAE(noise="gaussian", noise_level=0.5, pretrain="greedy")
    part = model._make_part(None)
    codes = torch.randn(100, 3, dtype=torch.float64) * 4.0
    assert part._layer_corruption(0, codes).level == 0.5
    scale = float(codes.var(dim=0).mean().sqrt())
    assert part._layer_corruption(1, codes).level == pytest.approx(0.5 * scale)
    salt = DenoisingAE(noise="salt_and_pepper", pretrain="greedy")
    low, high = salt._make_part(None)._layer_corruption(1, codes).bounds
    torch.testing.assert_close(low, codes.min(dim=0).values)
    torch.testing.assert_close(high, codes.max(dim=0).values)
    plain = AutoencoderTransformer(pretrain="greedy")._make_part(None)
    x = torch.ones(2, 3)
    assert plain._layer_corruption(1, x)(x, None)[0] is x
    assert params_of(model).pretrain == "greedy"


def test_images_refuse_greedy_pretraining():
    model = AutoencoderTransformer(image_shape=(1, 2, 2), pretrain="greedy", max_iter=1)
    with pytest.raises(ValueError, match="pretrain='greedy'"):
        model.fit(np.random.default_rng(0).normal(size=(10, 4)))


def test_bad_pretrain_value_is_named():
    with pytest.raises(ValueError, match="pretrain"):
        AutoencoderTransformer(pretrain="layerwise").fit(np.zeros((5, 2)))
