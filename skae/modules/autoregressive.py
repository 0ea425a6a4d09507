"""Autoregressive spline layers: a masked network (MADE) conditions a spline.

:class:`AutoregressiveSpline` transforms *every* feature with a monotonic
rational-quadratic spline whose parameters depend on the features before it
in an order, ``y_i = T(x_i; theta_i(x_<i))`` (a masked autoregressive flow,
Papamakarios et al. 2017, with the spline of Durkan et al. 2019: a neural
spline flow).  The Jacobian is triangular in that order, so the
log-determinant is the sum of the splines' log-derivatives, as in a
coupling; the density direction is one pass of the network, the inverse one
pass per feature.  It is a :class:`~skae.modules.coupling.SplineCoupling`
with no passed-through feature: the box, the spline and the flow's
protocol are the couplings'.
"""

from collections.abc import Sequence
from itertools import pairwise

import torch
from torch import Tensor, nn
from torch.nn import functional

from skae.modules.coupling import SplineCoupling, boxed_coupling_inverse
from skae.modules.mlp import ACTIVATIONS


class MaskedLinear(nn.Linear):
    """A linear layer whose weight is multiplied by a fixed 0/1 ``connectivity``.

    Examples
    --------
    >>> import torch
    >>> from skae.modules.autoregressive import MaskedLinear
    >>> layer = MaskedLinear(torch.tensor([[1.0, 0.0]]))
    >>> layer.weight.data.fill_(1.0)[:0].shape, layer.bias.data.zero_().shape
    (torch.Size([0, 2]), torch.Size([1]))
    >>> layer(torch.tensor([[2.0, 5.0]]))
    tensor([[2.]], grad_fn=<AddmmBackward0>)
    """

    def __init__(self, connectivity: Tensor) -> None:
        n_out, n_in = connectivity.shape
        super().__init__(n_in, n_out)
        self.register_buffer("connectivity", connectivity.to(self.weight.dtype))

    def forward(self, x: Tensor) -> Tensor:
        return functional.linear(x, self.weight * self.connectivity, self.bias)

    def masked_weight(self) -> Tensor:
        """The weight as applied: zero where there is no connection."""
        return self.weight * self.connectivity


def made_degrees(
    order: Tensor, hidden_layer_sizes: Sequence[int], context: bool = False
) -> list[Tensor]:
    """MADE's degrees: the inputs' ranks in ``order`` (1 to d), then each hidden
    layer's, cycling through 1 to ``d - 1`` (Germain et al., 2015); from 0
    with a ``context``, so that the first feature's parameters read it."""
    d = order.numel()
    ranks = torch.empty(d, dtype=torch.long)
    ranks[order] = torch.arange(1, d + 1)
    if context:
        hidden = [torch.arange(size) % d for size in hidden_layer_sizes]
    else:
        hidden = [torch.arange(size) % max(1, d - 1) + 1 for size in hidden_layer_sizes]
    return [ranks, *hidden]


def made_network(
    order: Tensor,
    hidden_layer_sizes: Sequence[int],
    n_params: int,
    activation: str,
    n_context: int = 0,
) -> nn.Sequential:
    """A masked MLP from ``d`` features (and a context, read by every hidden
    unit) to ``d * n_params`` outputs, the ``n_params`` of feature ``i``
    depending only on the features before it in ``order``."""
    degrees = made_degrees(order, hidden_layer_sizes, n_context > 0)
    # Hidden units connect to inputs of no higher degree, outputs to hidden
    # units of a lower one (a feature's own parameters never read it).
    outputs = degrees[0].repeat_interleave(n_params)
    connectivities = [
        (after[:, None] >= before[None, :]).float()
        for before, after in pairwise(degrees)
    ]
    connectivities.append((outputs[:, None] > degrees[-1][None, :]).float())
    first = connectivities[0]  # the layer that reads the context
    connectivities[0] = torch.cat([first, torch.ones(len(first), n_context)], dim=1)
    layers: list[nn.Module] = []
    for i, connectivity in enumerate(connectivities):
        if i > 0:
            layers.append(ACTIVATIONS[activation]())
        layers.append(MaskedLinear(connectivity))
    return nn.Sequential(*layers)


class AutoregressiveSpline(SplineCoupling):
    """A rational-quadratic spline of every feature given those before it.

    ``y_i = T(x_i; theta_i(x_<i))`` in the feature ``order``, ``T`` the
    :class:`~skae.modules.transforms.SplineTransform` (``n_bins`` bins on
    ``[-tail_bound, tail_bound]``, the identity outside) and ``theta`` a
    masked network (:func:`made_network`) whose last layer starts at zero,
    so that a new layer is the identity.  With a box (``fit_box``) the
    network reads the input clamped to it and the spline acts inside it,
    slope one beyond, as in every boxed coupling.

    Parameters
    ----------
    n_features : int
        Number of features.
    order : torch.Tensor of shape (n_features,)
        A permutation: ``order[0]`` is transformed unconditionally, ``order[k]``
        given ``order[:k]``.
    hidden_layer_sizes, activation, n_bins, tail_bound, n_context
        As :class:`~skae.modules.coupling.SplineCoupling`'s.

    References
    ----------
    G. Papamakarios, T. Pavlakou and I. Murray. Masked autoregressive flow
    for density estimation. NeurIPS 2017, arXiv:1705.07057.

    Examples
    --------
    >>> import torch
    >>> from skae.modules.autoregressive import AutoregressiveSpline
    >>> layer = AutoregressiveSpline(3, torch.tensor([2, 0, 1]), (8,))
    >>> x = torch.randn(5, 3)
    >>> y, log_det = layer(x)
    >>> bool(torch.allclose(y, x)), bool(log_det.abs().max() < 1e-6)
    (True, True)
    """

    def __init__(
        self,
        n_features: int,
        order: Tensor,
        hidden_layer_sizes: Sequence[int] = (64, 64),
        activation: str = "relu",
        n_bins: int = 8,
        tail_bound: float = 3.0,
        n_context: int = 0,
    ) -> None:
        order = torch.as_tensor(order, dtype=torch.long)
        if sorted(order.tolist()) != list(range(n_features)):
            raise ValueError(
                f"order must be a permutation of range({n_features}), "
                f"got {order.tolist()}."
            )
        no_feature_passes = torch.zeros(n_features, dtype=bool)
        super().__init__(
            n_features,
            no_feature_passes,
            (),
            activation,
            n_bins,
            tail_bound,
            n_context,
        )
        self.register_buffer("order", order)
        self.spline_net = made_network(
            order, hidden_layer_sizes, self.transform.n_params, activation, n_context
        )
        last = self.spline_net[-1]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def conditioning_input(self, x: Tensor) -> Tensor:
        """``x`` clamped to the box (when one is fitted); the network's masks
        keep each feature's parameters from reading it or what follows it."""
        return x.clamp(self.box_low, self.box_high)

    def inverse(self, y: Tensor, context: Tensor | None = None) -> Tensor:
        """Map ``y`` back to ``x`` exactly: one pass per feature, the ``k``-th
        pass fixing the ``k``-th feature of the order."""
        box = (self.box_low, self.box_high)
        x = y
        for _ in range(y.shape[-1]):
            params = self.transform_parameters(x, context)
            x = boxed_coupling_inverse(y, self.mask, self.transform, params, *box)
        return x
