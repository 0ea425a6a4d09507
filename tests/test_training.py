"""skorch used the documented way: every hook fires, user callbacks act."""

import numpy as np
import pytest
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback, GradientNormClipping, LRScheduler

from skae import VAE, AutoencoderTransformer, DenoisingAE, RealNVPDensity
from skae._data import BatchIterator, TensorDataset
from skae._training import BatchHistory
from skae.modules.autoencoder import Autoencoder

HOOKS = (
    "on_train_begin",
    "on_epoch_begin",
    "on_batch_begin",
    "on_grad_computed",
    "on_batch_end",
    "on_epoch_end",
    "on_train_end",
)


class HookRecorder(Callback):
    """Records the name (and training flag) of every hook call."""

    def initialize(self):
        self.calls = []
        return self

    def _record(self, name, training=None):
        self.calls.append((name, training))


for _hook in HOOKS:

    def _method(self, net, _name=_hook, training=None, **kwargs):
        self._record(_name, training)

    setattr(HookRecorder, _hook, _method)


ESTIMATORS = {
    "AutoencoderTransformer": lambda **kw: AutoencoderTransformer(
        hidden_layer_sizes=(8,), **kw
    ),
    "DenoisingAE": lambda **kw: DenoisingAE(hidden_layer_sizes=(8,), **kw),
    "VAE": lambda **kw: VAE(hidden_layer_sizes=(8,), **kw),
    "RealNVPDensity": lambda **kw: RealNVPDensity(
        n_layers=2, hidden_layer_sizes=(8,), **{"early_stopping": False, **kw}
    ),
}


@pytest.fixture
def X(rng):
    return rng.normal(size=(50, 4))


class _ReconstructionOnly(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = Autoencoder(4, 2, (8,), "relu")

    def forward(self, x):
        return self.inner(x)[0]


def test_hook_sequence_equals_a_plain_neural_nets(X):
    skae_recorder = HookRecorder()
    AutoencoderTransformer(
        hidden_layer_sizes=(8,),
        batch_size=10,
        max_iter=2,
        early_stopping=False,
        callbacks=[skae_recorder],
        random_state=0,
    ).fit(X)
    plain_recorder = HookRecorder()
    X32 = np.float32(X)
    NeuralNet(
        _ReconstructionOnly,
        torch.nn.MSELoss,
        batch_size=10,
        max_epochs=2,
        train_split=None,
        callbacks=[plain_recorder],
    ).fit(X32, X32)
    assert skae_recorder.calls == plain_recorder.calls
    assert skae_recorder.calls.count(("on_grad_computed", True)) == 2 * 5


@pytest.mark.parametrize("name", ESTIMATORS)
def test_on_grad_computed_fires_once_per_training_batch(name, X):
    recorder = HookRecorder()
    model = ESTIMATORS[name](
        batch_size=10,
        max_iter=3,
        early_stopping=False,
        callbacks=[recorder],
        random_state=0,
    ).fit(X)
    grads = [call for call in recorder.calls if call[0] == "on_grad_computed"]
    assert len(grads) == 3 * 5
    assert model.net_.history[-1, "train_batch_count"] == 5
    assert isinstance(model.net_.history, BatchHistory)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_lr_scheduler_changes_the_step_size(name, X):
    scheduler = LRScheduler("StepLR", step_size=1, gamma=0.5)
    model = ESTIMATORS[name](
        learning_rate_init=1e-2, max_iter=3, callbacks=[scheduler], random_state=0
    ).fit(X)
    lr = model.net_.optimizer_.param_groups[0]["lr"]
    # Once per epoch, across the autoencoder's warm-up and clean phases too.
    assert model.n_iter_ >= 3
    assert lr == pytest.approx(1e-2 * 0.5**model.n_iter_)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_gradient_norm_clipping_clips(name, X):
    class GradientNorm(Callback):
        def initialize(self):
            self.norms = []
            return self

        def on_grad_computed(self, net, named_parameters, **kwargs):
            grads = [p.grad.norm() for _, p in named_parameters if p.grad is not None]
            self.norms.append(torch.linalg.vector_norm(torch.stack(grads)).item())

    observer = GradientNorm()
    ESTIMATORS[name](
        max_iter=2,
        callbacks=[("clip", GradientNormClipping(gradient_clip_value=1e-3)), observer],
        random_state=0,
    ).fit(100 * X)
    assert observer.norms and max(observer.norms) <= 1e-3 * (1 + 1e-4)


def test_callbacks_given_as_pairs_are_named(X):
    recorder = HookRecorder()
    model = AutoencoderTransformer(
        hidden_layer_sizes=(4,), max_iter=1, callbacks=[("mine", recorder)]
    ).fit(X)
    assert dict(model.net_.callbacks_)["mine"] is recorder


def test_iterator_batch_size_of_the_net_is_honoured(X):
    model = AutoencoderTransformer(hidden_layer_sizes=(4,), max_iter=1).fit(X)
    # skorch's set_params refuses iterator arguments on an initialised net,
    # so set the attribute that get_iterator reads.
    model.net_.iterator_train__batch_size = 25
    model.net_.partial_fit(_dataset(model, X), None)
    assert model.net_.history[-1, "train_batch_count"] == 2


def _dataset(model, X):
    return TensorDataset(torch.from_numpy(model.preprocessor_.transform(X)))


def test_vae_terms_are_recorded_once_in_the_loss(X):
    vae = VAE(hidden_layer_sizes=(8,), beta=0.5, max_iter=3, random_state=0).fit(X)
    np.testing.assert_allclose(
        vae.loss_curve_,
        np.add(vae.reconstruction_curve_, 0.5 * np.asarray(vae.kl_curve_)),
        rtol=1e-6,
    )
    callbacks = dict(vae.net_.callbacks_)
    assert {"train_kl", "train_reconstruction", "valid_kl"} <= set(callbacks)


def test_no_dead_criterion(X):
    model = AutoencoderTransformer(
        hidden_layer_sizes=(4,), sparsity_penalty=0.1, max_iter=2
    ).fit(X)
    assert model.net_.criterion_ is not None
    assert model.net_.criterion_.term_names == ("reconstruction", "sparsity")
    row = model.net_.history[-1]
    assert {"train_reconstruction", "train_sparsity"} <= set(row)


def test_invalid_callbacks_are_rejected(X):
    with pytest.raises((ValueError, TypeError), match="callbacks"):
        AutoencoderTransformer(callbacks="ProgressBar").fit(X)


class _ContextRecorder(torch.nn.Module):
    """A module that records what reaches ``forward``: context and mask included."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(3, 3)
        self.seen = []

    def forward(self, x, context=None, mask=None):
        self.seen.append((x.shape, context.shape, mask.shape))
        return self.linear(x), self.linear(x)


def test_context_and_mask_reach_the_module_and_the_criterion(rng):
    from skae._training import SkaeNet
    from skae.losses import ReconstructionLoss

    X = torch.from_numpy(rng.normal(size=(20, 3)))
    mask = torch.ones_like(X)
    mask[:, 0] = 0.0
    data = TensorDataset(X, context=torch.zeros(20, 2), mask=mask)
    module = _ContextRecorder().double()
    net = SkaeNet(
        module=module,
        criterion=ReconstructionLoss(),
        iterator_train=BatchIterator,
        iterator_valid=BatchIterator,
        batch_size=5,
        max_epochs=1,
        train_split=None,
    )
    net.fit(data, None)
    assert module.seen == [((5, 3), (5, 2), (5, 3))] * 4
    x, target = data[:5]
    loss = net.get_loss(module(**x), target, X=x)
    unmasked = ReconstructionLoss()(module(**x), target, module=module, x=x["x"])
    assert not torch.isclose(loss, unmasked.total)
