"""Recurrent encoder and decoder of fixed-length sequences (lecture notes 004).

A row is a sequence of ``T`` steps of ``F`` features flattened in C order
(step, then feature), as :mod:`skae._sequences` reads it.
:class:`GRUEncoder` reads the steps with a GRU from the last to the first
and maps its final state to ``n_out`` values; :class:`GRUDecoder`
regenerates the sequence from a code, from the first step on: the code
sets the GRU's initial state and is fed again at every step (the notes'
tutorial repeats it per step), together with that step's part of a
linear map of the code (``F`` values a step, so that each step's input says
where in the sequence it is), and a linear layer reads each step's ``F``
features off the state.  Both take flat rows with any leading axes,
as the convolutional pair of :mod:`skae.modules.conv` does, so they plug
into :func:`~skae.modules.codec.encoder_decoder` as plain networks or as the
residual branches of a linear start; :func:`start_beside_linear_path`
readies them there.
"""

import torch
from torch import Tensor, nn

from skae.modules.residual import ResidualMap

BRANCH_INPUT_GAIN = 3.0
"""Factor on the GRU branches' input weights beside a linear start."""


class GRUEncoder(nn.Module):
    """A GRU over the steps of flat sequences, read backwards, mapped to ``n_out``.

    The GRU reads step ``T-1`` first and step ``0`` last, so that its final
    state is about the steps where :class:`GRUDecoder` begins (Sutskever et
    al., 2014, reversed the source sentences; Srivastava et al., 2015,
    reconstructed in reverse order): read forwards, the code of noisy
    sinusoids held their phase at the last step, which the decoder had to
    turn back to the first, and a quadratic read-out of the first step's
    phase (cos, sin) from a 3-D code had held-out R² 0.01 / 0.02; read
    backwards 0.97 / 0.98, with half the reconstruction error
    (``benchmarks/bench_sequences.py``).

    Parameters
    ----------
    sequence_shape : tuple of 2 int
        ``(T, F)``: steps and features per step.
    n_out : int
        Width of the output rows (the code, or a VAE's means and
        log-variances).
    hidden_size : int
        Units of the GRU's state.

    Examples
    --------
    >>> import torch
    >>> from skae.modules.sequence import GRUEncoder
    >>> encoder = GRUEncoder((12, 2), 3, 8)
    >>> encoder(torch.zeros(5, 24)).shape
    torch.Size([5, 3])
    """

    def __init__(
        self, sequence_shape: tuple[int, int], n_out: int, hidden_size: int
    ) -> None:
        super().__init__()
        self.sequence_shape = tuple(sequence_shape)
        self.gru = nn.GRU(self.sequence_shape[1], hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, n_out)
        self.n_out = n_out

    def forward(self, x: Tensor) -> Tensor:
        lead = x.shape[:-1]
        _, state = self.gru(x.reshape(-1, *self.sequence_shape).flip(1))
        return self.head(state[-1]).reshape(*lead, self.n_out)


class GRUDecoder(nn.Module):
    """A GRU that regenerates flat ``(T, F)`` sequences from ``n_in`` values.

    The initial state is ``tanh(A z + a)``; the GRU's input at step ``t`` is
    ``z`` itself and the ``t``-th block of ``F`` values of ``P z + p`` (a
    linear guess of the sequence); step ``t``'s features are ``B h_t + b``.
    Without the per-step part a repeated code leaves the GRU to count the
    steps through its state; on sunspot windows it trained far more slowly.

    Parameters
    ----------
    n_in : int
        Width of the codes.
    sequence_shape : tuple of 2 int
        ``(T, F)`` of the output.
    hidden_size : int
        Units of the GRU's state.

    Examples
    --------
    >>> import torch
    >>> from skae.modules.sequence import GRUDecoder
    >>> decoder = GRUDecoder(3, (12, 2), 8)
    >>> decoder(torch.zeros(4, 5, 3)).shape
    torch.Size([4, 5, 24])
    """

    def __init__(
        self, n_in: int, sequence_shape: tuple[int, int], hidden_size: int
    ) -> None:
        super().__init__()
        self.sequence_shape = tuple(sequence_shape)
        self.initial = nn.Linear(n_in, hidden_size)
        steps, features = self.sequence_shape
        self.per_step = nn.Linear(n_in, steps * features)
        self.gru = nn.GRU(n_in + features, hidden_size, batch_first=True)
        # Registered last: a residual branch's zero-initialised output layer.
        self.output = nn.Linear(hidden_size, self.sequence_shape[1])
        self.n_in = n_in

    def forward(self, z: Tensor) -> Tensor:
        lead = z.shape[:-1]
        steps, features = self.sequence_shape
        codes = z.reshape(-1, self.n_in)
        state = torch.tanh(self.initial(codes)).unsqueeze(0)
        guess = self.per_step(codes).reshape(-1, steps, features)
        inputs = torch.cat([codes.unsqueeze(1).expand(-1, steps, -1), guess], dim=-1)
        outputs, _ = self.gru(inputs, state.contiguous())
        return self.output(outputs).reshape(*lead, steps * features)


@torch.no_grad()
def start_beside_linear_path(encoder: ResidualMap, decoder: ResidualMap) -> None:
    """Ready the GRU branches of a linear start (PCA) to learn beyond it.

    The linear path is already set (:meth:`ResidualMap.start_at`) and the
    branches' last layers are zero, so the map stays the linear start.  A
    branch learns only from features of the code that are not linear in it
    (the start's error is uncorrelated with those that are): at PyTorch's
    initialisation the GRUs' pre-activations have a standard deviation of
    about 0.2, where ``tanh`` and the gates are nearly linear, and on the
    windows of real series they did not move in 40 epochs.  Their input
    weights are multiplied by :data:`BRANCH_INPUT_GAIN`, and the decoder's
    per-step guess ``P z`` is set to the linear path's reconstruction (in the
    branch's units), so that each step's input holds the start's value of
    that step and the GRU learns a correction of it.
    """
    for branch in (encoder.residual, decoder.residual):
        branch.gru.weight_ih_l0.mul_(BRANCH_INPUT_GAIN)
    # The decoder's branch reads in_scale * z: P (in_scale * z) = W z.
    decoder.residual.per_step.weight.copy_(decoder.linear.weight / decoder.in_scale)
    decoder.residual.per_step.bias.zero_()
