"""A linear map plus a non-linear residual branch that starts at exactly zero.

This is how a skae model starts at its classical counterpart's solution: the
linear part is set to that solution (PCA's projection, a factor model's
posterior and loadings) and the residual branch, whose last layer is
initialised to zero, adds nothing until training finds that it helps.
"""

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from skae.modules.mlp import make_mlp


class ResidualMap(nn.Module):
    """``y = W x + b + out_scale * g(in_scale * x)``, with ``g(.) = 0`` at the start.

    Parameters
    ----------
    n_in, n_out : int
        Input and output widths.
    hidden_layer_sizes : sequence of int
        Hidden widths of the residual MLP ``g``; ``()`` means no residual
        branch (the map is linear).
    activation : str
        Non-linearity of ``g``.
    branch : torch.nn.Module or None, default=None
        A ready-made ``g`` from ``n_in`` to ``n_out`` values (e.g. a
        convolutional encoder or decoder of :mod:`skae.modules.conv`) used
        instead of the MLP; its last layer with weights is set to zero.

    Attributes
    ----------
    linear : torch.nn.Linear
        The linear part ``W x + b``.
    residual : torch.nn.Sequential or None
        The MLP ``g``; its last layer starts at zero.
    in_scale, out_scale : Tensor
        Buffers scaling the input and output of ``g`` (ones unless set by
        :meth:`start_at`), so that ``g`` sees and produces values of unit
        order whatever the units of the linear solution.
    box_low, box_high : Tensor
        Bounds of ``g``'s input (infinite until :meth:`fit_box`).

    Examples
    --------
    >>> import torch
    >>> from skae.modules.residual import ResidualMap
    >>> layer = ResidualMap(3, 2, (8,), "relu")
    >>> layer.start_at(torch.ones(2, 3), torch.zeros(2))
    >>> layer(torch.ones(4, 3))
    tensor([[3., 3.],
            [3., 3.],
            [3., 3.],
            [3., 3.]], grad_fn=<AddBackward0>)
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        hidden_layer_sizes: Sequence[int],
        activation: str,
        *,
        branch: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.linear = nn.Linear(n_in, n_out)
        hidden = list(hidden_layer_sizes)
        if branch is None and hidden:
            branch = make_mlp([n_in, *hidden, n_out], activation)
        self.residual = branch
        if self.residual is not None:
            last = [m for m in self.residual.modules() if hasattr(m, "weight")][-1]
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)
        self.register_buffer("in_scale", torch.ones(n_in))
        self.register_buffer("out_scale", torch.ones(n_out))
        self.register_buffer("box_low", torch.full((n_in,), -torch.inf))
        self.register_buffer("box_high", torch.full((n_in,), torch.inf))

    @torch.no_grad()
    def start_at(
        self,
        weight: Tensor,
        bias: Tensor,
        in_scale: Tensor | None = None,
        out_scale: Tensor | None = None,
    ) -> None:
        """Set the linear part to ``weight`` and ``bias`` (and the branch's scales)."""
        self.linear.weight.copy_(weight)
        self.linear.bias.copy_(bias)
        if in_scale is not None:
            self.in_scale.copy_(in_scale)
        if out_scale is not None:
            self.out_scale.copy_(out_scale)

    @torch.no_grad()
    def fit_box(self, x: Tensor, margin: float = 0.1, pad: float = 0.0) -> None:
        """Clamp the residual branch's input to the box of ``x`` from now on.

        The box is each input's range on ``x`` widened by ``margin`` times the
        range plus ``pad`` on each side.  Called after training: on (and near)
        the data nothing changes; far from it the branch stays at its value
        on the box's edge, so the map is linear plus a bounded term there
        (as the flow's boxed couplings).
        """
        low, high = x.min(dim=0).values, x.max(dim=0).values
        widen = margin * (high - low) + pad
        self.box_low.copy_(low - widen)
        self.box_high.copy_(high + widen)

    def forward(self, x: Tensor) -> Tensor:
        out = self.linear(x)
        if self.residual is None:
            return out
        inner = torch.clamp(x, self.box_low, self.box_high) * self.in_scale
        return out + self.out_scale * self.residual(inner)
