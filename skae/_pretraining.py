"""Greedy layer-wise pre-training of a stacked MLP autoencoder (lecture notes 001, 004).

Hinton and Salakhutdinov (2006) and Bengio et al. (2007) train a deep
autoencoder one layer pair at a time: a shallow autoencoder on the data,
another on its codes, and so on; the stack is then "unrolled" (the encoder
layers in order, the decoder layers in reverse) and fine-tuned jointly.
Vincent et al. (2010) train each pair as a denoising autoencoder.

:func:`greedy_pretraining` does this on the plain MLP
:class:`~skae.modules.autoencoder.Autoencoder` in place: pair ``i`` is the
encoder's ``i``-th linear layer and the decoder's mirror one, trained on the
codes of the pairs below it (computed by the trained layers, eval mode),
with the unrolled network's own activations (none on the code, none on the
output).  Each pair is trained by its own skorch net of
:func:`~skae._training.build_net`: the estimator's optimiser, batches,
``max_iter`` and early stopping on the same held-out rows, and the user's
callbacks, so every callback fires in every stage and ``verbose`` prints one
table per stage.  The objective is the plain squared error (the penalties
act in fine-tuning).
"""

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from skae._data import TensorDataset, identity_batch
from skae._training import _silent, build_net, history_curve
from skae.losses import ReconstructionLoss
from skae.modules.mlp import ACTIVATIONS

# corruption(layer index, training inputs) -> batch transform of that layer
Corruption = Callable[[int, torch.Tensor], Callable]


class LayerPair(nn.Module):
    """One encoder layer and its mirror decoder layer as a shallow autoencoder.

    The layers are the stacked network's own (shared, trained in place).

    Parameters
    ----------
    encoder_layer, decoder_layer : torch.nn.Linear
        ``n_in -> n_out`` and ``n_out -> n_in``.
    code_activation, output_activation : str or None
        Non-linearity after each layer, as in the unrolled network.

    Examples
    --------
    >>> import torch
    >>> from skae._pretraining import LayerPair
    >>> pair = LayerPair(torch.nn.Linear(4, 2), torch.nn.Linear(2, 4), "relu", None)
    >>> [tuple(t.shape) for t in pair(torch.zeros(3, 4))]
    [(3, 4), (3, 2)]
    """

    def __init__(
        self,
        encoder_layer: nn.Linear,
        decoder_layer: nn.Linear,
        code_activation: str | None,
        output_activation: str | None,
    ) -> None:
        super().__init__()
        self.encoder = _with_activation(encoder_layer, code_activation)
        self.decoder = _with_activation(decoder_layer, output_activation)

    def encode(self, x: torch.Tensor, context=None) -> torch.Tensor:
        """The pair's code."""
        return self.encoder(x)

    def forward(self, x: torch.Tensor, context=None, mask=None) -> tuple:
        """``(reconstruction, code)``, as the stacked autoencoder's."""
        code = self.encoder(x)
        return self.decoder(code), code


def _with_activation(layer: nn.Linear, activation: str | None) -> nn.Sequential:
    tail = [] if activation is None else [ACTIVATIONS[activation]()]
    return nn.Sequential(layer, *tail)


def layer_pairs(module, activation: str) -> list[LayerPair]:
    """The shallow autoencoders of a plain MLP autoencoder, bottom pair first.

    Examples
    --------
    >>> from skae._pretraining import layer_pairs
    >>> from skae.modules.autoencoder import Autoencoder
    >>> pairs = layer_pairs(Autoencoder(8, 2, (6, 4), "tanh"), "tanh")
    >>> [(p.encoder[0].in_features, p.encoder[0].out_features) for p in pairs]
    [(8, 6), (6, 4), (4, 2)]
    """
    encoders = [m for m in module.encoder if isinstance(m, nn.Linear)]
    decoders = [m for m in module.decoder if isinstance(m, nn.Linear)][::-1]
    last = len(encoders) - 1
    return [
        LayerPair(
            encoder,
            decoder,
            activation if i < last else None,
            activation if i > 0 else None,
        )
        for i, (encoder, decoder) in enumerate(zip(encoders, decoders, strict=True))
    ]


def _stage_seed(seed: int, stage: int) -> int:
    return int(np.random.SeedSequence([seed, stage]).generate_state(1)[0] >> 1)


def greedy_pretraining(
    module,
    rows: np.ndarray,
    validation: np.ndarray | None,
    seed: int,
    params,
    policy,
    device: torch.device,
    corruption: Corruption,
) -> dict:
    """Train ``module``'s layer pairs one after the other, in place.

    Parameters
    ----------
    module : skae.modules.autoencoder.Autoencoder
        A plain MLP autoencoder (``linear_path=False``).
    rows : ndarray of shape (n_samples, n_features)
        Model-space rows of the fit; ``validation`` indexes the held-out ones
        (None: every row trains and the training loss is monitored).
    seed : int
        The fit's seed; each stage's batches and noise come from it.
    params, policy
        The estimator's parameters and the part's
        :class:`~skae._parts.TrainingPolicy`.
    device : torch.device
        Where the stages train.
    corruption : callable
        ``corruption(stage, training_inputs)``: the batch transform of a
        stage (:func:`~skae._data.identity_batch` for a plain autoencoder).

    Returns
    -------
    record : dict
        ``pretrain_losses_`` and ``pretrain_validation_losses_``: per layer
        pair, the loss of every epoch (None without held-out rows).
    """
    module.to(device=device)
    dtype = next(module.parameters()).dtype
    inputs = torch.as_tensor(rows, dtype=dtype, device=device)
    train = np.setdiff1d(
        np.arange(rows.shape[0]), validation if validation is not None else []
    )
    pairs = layer_pairs(module, params.activation)
    sink = print if params.verbose else _silent
    losses, validation_losses = [], []
    for stage, pair in enumerate(pairs):
        layer = pair.encoder[0]
        sink(
            f"Greedy pre-training: layer pair {stage + 1}/{len(pairs)} "
            f"({layer.in_features} -> {layer.out_features})"
        )
        data = TensorDataset(inputs)
        fitting = data if validation is None else data.subset(train)
        net = build_net(
            params,
            policy,
            pair,
            ReconstructionLoss(),
            n_train=len(train),
            seed=_stage_seed(seed, stage),
            device=device,
            batch_transform=corruption(stage, fitting.X),
            valid=None if validation is None else data.subset(validation),
        )
        net.fit(fitting, None)
        losses.append(history_curve(net, "train_loss"))
        if validation is not None:
            validation_losses.append(history_curve(net, "valid_loss"))
        pair.eval()
        with torch.no_grad():
            inputs = pair.encode(inputs)
    module.train()
    return {
        "pretrain_losses_": losses,
        "pretrain_validation_losses_": None
        if validation is None
        else validation_losses,
    }


def no_corruption(stage: int, inputs: torch.Tensor) -> Callable:
    """The stages of a plain autoencoder: no corruption."""
    return identity_batch
