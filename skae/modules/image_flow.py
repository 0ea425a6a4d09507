"""The multiscale Real NVP for images (Dinh et al., 2016; seed 003's last pages).

The same three layers as :mod:`skae.modules.coupling`, whose affine coupling
maths (:func:`~skae.modules.coupling.boxed_affine_forward`), box and flow
(:class:`~skae.modules.coupling.Flow`) this module reuses:

* pure functions: :func:`squeeze` / :func:`unsqueeze`, the masks
  :func:`checkerboard_mask` and :func:`channel_mask`, and
  :func:`multiscale_plan`, the architecture as data;
* modules: :class:`ResidualConvNet` (the ``s`` and ``t`` conditioner),
  :class:`ImageCoupling` and :class:`Squeeze`;
* the flow :class:`MultiscaleRealNVP`, which assembles them.

Every layer maps flat rows ``(n, C*H*W)`` to flat rows.  A row is the
channel-major flattening of the image being transformed (the *active* part,
of shape ``(c, h, w)`` at the current scale) followed by the variables
already factored out.  A squeeze permutes the active part; factoring out
half of the channels is then no operation at all: the next scale's active
part is the first half of the squeezed one, and the second half stays where
it is until the end.  The latent ``z`` is therefore a flat row of the size of
the input, every factored-out variable included, and the base density
(standard normal, or a fitted mixture) is over all of it.
"""

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from skae.modules.coupling import BoxedCoupling, ElementwiseAffine, Flow, soft_clamp

ImageShape = tuple[int, int, int]

# Dinh et al.'s stages: 3 checkerboard couplings, a squeeze, 3 channel
# couplings and a factor-out at each scale but the last, 4 checkerboard
# couplings at the last.
CHECKERBOARD_COUPLINGS = 3
CHANNEL_COUPLINGS = 3
LAST_COUPLINGS = 4


def squeeze(x: Tensor) -> Tensor:
    """Fold 2x2 pixel blocks into channels: ``(n, c, h, w)`` to ``(n, 4c, h/2, w/2)``.

    Output channel ``4*k + 2*i + j`` holds pixel ``(i, j)`` of every 2x2
    block of input channel ``k``.  ``h`` and ``w`` must be even.

    Examples
    --------
    >>> import torch
    >>> from skae.modules.image_flow import squeeze
    >>> x = torch.arange(16.0).reshape(1, 1, 4, 4)
    >>> squeeze(x)[0, :, 0, 0]
    tensor([0., 1., 4., 5.])
    >>> squeeze(x).shape
    torch.Size([1, 4, 2, 2])
    """
    n, c, h, w = x.shape
    if h % 2 or w % 2:
        raise ValueError(f"squeeze needs an even height and width, got {h}x{w}.")
    blocks = x.reshape(n, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4)
    return blocks.reshape(n, 4 * c, h // 2, w // 2)


def unsqueeze(x: Tensor) -> Tensor:
    """Inverse of :func:`squeeze`: ``(n, 4c, h, w) -> (n, c, 2h, 2w)``.

    Examples
    --------
    >>> import torch
    >>> from skae.modules.image_flow import squeeze, unsqueeze
    >>> x = torch.randn(2, 3, 4, 6)
    >>> torch.equal(unsqueeze(squeeze(x)), x)
    True
    """
    n, c4, h, w = x.shape
    if c4 % 4:
        raise ValueError(f"unsqueeze needs a multiple of 4 channels, got {c4}.")
    blocks = x.reshape(n, c4 // 4, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3)
    return blocks.reshape(n, c4 // 4, 2 * h, 2 * w)


def checkerboard_mask(shape: ImageShape, parity: int) -> Tensor:
    """The spatial checkerboard: ``True`` where ``(i + j) % 2 == parity``.

    The same pattern in every channel (Dinh et al.'s figure 3, left).

    Parameters
    ----------
    shape : tuple of int
        ``(c, h, w)``.
    parity : {0, 1}
        Which colour of the board passes unchanged.

    Returns
    -------
    mask : torch.Tensor of shape (c, h, w), dtype bool

    Examples
    --------
    >>> from skae.modules.image_flow import checkerboard_mask
    >>> checkerboard_mask((1, 2, 3), 0).int()
    tensor([[[1, 0, 1],
             [0, 1, 0]]], dtype=torch.int32)
    """
    c, h, w = shape
    rows, columns = torch.arange(h)[:, None], torch.arange(w)[None, :]
    board = (rows + columns) % 2 == parity
    return board.expand(c, h, w).clone()


def channel_mask(shape: ImageShape, parity: int) -> Tensor:
    """The channel-wise mask: the first ``c // 2`` channels (parity 0) or the rest.

    Dinh et al.'s figure 3, right; used after a squeeze.

    Examples
    --------
    >>> from skae.modules.image_flow import channel_mask
    >>> channel_mask((4, 1, 1), 0).flatten().int()
    tensor([1, 1, 0, 0], dtype=torch.int32)
    >>> channel_mask((3, 1, 1), 1).flatten().int()
    tensor([0, 1, 1], dtype=torch.int32)
    """
    c, h, w = shape
    first = (torch.arange(c) < c // 2)[:, None, None].expand(c, h, w)
    return (first if parity == 0 else ~first).clone()


@dataclass(frozen=True)
class Step:
    """One layer of a :func:`multiscale_plan`.

    ``kind`` is ``'checkerboard'`` or ``'channel'`` (a coupling with that
    mask and ``parity``) or ``'squeeze'``; ``shape`` is the ``(c, h, w)`` of
    the active part the layer reads.
    """

    kind: str
    shape: ImageShape
    parity: int = 0


def _couplings(kind: str, shape: ImageShape, count: int) -> list[Step]:
    return [Step(kind, shape, layer % 2) for layer in range(count)]


def can_squeeze(shape: ImageShape) -> bool:
    """Whether a scale of ``shape`` can squeeze: both sides even (hence >= 2).

    Examples
    --------
    >>> from skae.modules.image_flow import can_squeeze
    >>> can_squeeze((1, 8, 8)), can_squeeze((1, 7, 8)), can_squeeze((3, 1, 2))
    (True, False, False)
    """
    _, h, w = shape
    return h % 2 == 0 and w % 2 == 0 and h >= 2 and w >= 2


def multiscale_plan(image_shape: ImageShape, n_scales: int = 3) -> list[Step]:
    """The layers of a multiscale Real NVP for ``image_shape``, in order.

    Each scale but the last has 3 checkerboard couplings, a squeeze
    ``(c, h, w) -> (4c, h/2, w/2)``, 3 channel couplings and the factor-out
    of half the channels, so the next scale works on ``(2c, h/2, w/2)``;
    the last scale has 4 checkerboard couplings (Dinh et al.).  The rule for
    any image size: a scale squeezes only if fewer than ``n_scales - 1``
    scales have, and both its sides are even (:func:`can_squeeze`);
    otherwise it is the last.  The last scale's couplings are checkerboard
    when it has two pixels or more, channel-wise when it has one pixel and
    two channels or more, and absent for a single value.

    Parameters
    ----------
    image_shape : tuple of int
        ``(C, H, W)``, each at least 1.
    n_scales : int, default=3
        Largest number of scales; 1 means no squeeze.

    Returns
    -------
    steps : list of Step

    Examples
    --------
    >>> from skae.modules.image_flow import multiscale_plan
    >>> [(s.kind, s.shape) for s in multiscale_plan((1, 4, 4), 2)][2:5]
    [('checkerboard', (1, 4, 4)), ('squeeze', (1, 4, 4)), ('channel', (4, 2, 2))]
    >>> [s.shape for s in multiscale_plan((1, 4, 4), 2)][-1]
    (2, 2, 2)
    >>> {s.kind for s in multiscale_plan((2, 7, 5))}
    {'checkerboard'}
    """
    shape = tuple(int(side) for side in image_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"image_shape must be (C, H, W) >= 1, got {image_shape!r}.")
    if n_scales < 1:
        raise ValueError(f"n_scales must be at least 1, got {n_scales}.")
    steps: list[Step] = []
    for _ in range(n_scales - 1):
        if not can_squeeze(shape):
            break
        c, h, w = shape
        steps += _couplings("checkerboard", shape, CHECKERBOARD_COUPLINGS)
        steps.append(Step("squeeze", shape))
        squeezed = (4 * c, h // 2, w // 2)
        steps += _couplings("channel", squeezed, CHANNEL_COUPLINGS)
        shape = (2 * c, h // 2, w // 2)  # the other half is factored out
    c, h, w = shape
    if h * w >= 2:
        steps += _couplings("checkerboard", shape, LAST_COUPLINGS)
    elif c >= 2:
        steps += _couplings("channel", shape, LAST_COUPLINGS)
    return steps


class ResidualConvNet(nn.Module):
    """3x3 convolutions with residual connections; the last one starts at zero.

    ``in -> hidden[0] -> ... -> hidden[-1] -> out``, each a same-padded 3x3
    convolution with a ReLU between; a hidden layer whose width equals the
    one before adds its input (a residual connection).  The last
    convolution's weights and bias are zero, so the network outputs zero
    until trained: a coupling built on it starts as the identity.

    Parameters
    ----------
    in_channels, out_channels : int
    hidden_channels : sequence of int
        Widths of the hidden convolutions; ``()`` means one convolution.

    Examples
    --------
    >>> import torch
    >>> from skae.modules.image_flow import ResidualConvNet
    >>> net = ResidualConvNet(2, 4, (8, 8))
    >>> out = net(torch.randn(3, 2, 5, 7))
    >>> out.shape, bool(out.abs().max() == 0)
    (torch.Size([3, 4, 5, 7]), True)
    """

    def __init__(
        self, in_channels: int, out_channels: int, hidden_channels: Sequence[int]
    ) -> None:
        super().__init__()
        widths = [in_channels, *hidden_channels]
        self.hidden = nn.ModuleList(
            nn.Conv2d(a, b, 3, padding=1) for a, b in itertools.pairwise(widths)
        )
        self.out = nn.Conv2d(widths[-1], out_channels, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: Tensor) -> Tensor:
        for conv in self.hidden:
            y = conv(x)
            x = torch.relu(y + x if y.shape == x.shape else y)
        return self.out(x)


class ActivePart:
    """Mixin of a layer that reads the active ``shape = (c, h, w)`` part of a row.

    The active part is the first ``c*h*w`` entries; the rest of the row
    (variables already factored out) passes through the layer unchanged.
    """

    shape: ImageShape

    @property
    def n_active(self) -> int:
        """``c*h*w``: the width of the active part."""
        return math.prod(self.shape)

    def split(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(active part, rest)`` of the rows ``x``."""
        return x[:, : self.n_active], x[:, self.n_active :]


class ImageCoupling(ActivePart, BoxedCoupling):
    """An affine coupling on the active ``(c, h, w)`` part of a flat row.

    ``s`` and ``t`` come from one :class:`ResidualConvNet` reading the
    masked image ``b*x`` and the mask's first channel as an extra plane,
    with ``2c`` output channels (``s`` bounded by :func:`soft_clamp`).  The
    rest of the row (variables already factored out) passes unchanged.

    Parameters
    ----------
    mask : torch.Tensor of shape (c, h, w)
        ``True`` where a pixel passes unchanged (:func:`checkerboard_mask`,
        :func:`channel_mask`).
    hidden_channels : sequence of int
        Widths of the conditioner's hidden convolutions.
    log_scale_bound : float, default=2.0
        Bound of ``s``.

    Examples
    --------
    >>> import torch
    >>> from skae.modules.image_flow import ImageCoupling, checkerboard_mask
    >>> layer = ImageCoupling(checkerboard_mask((1, 2, 2), 0), (4,))
    >>> x = torch.randn(3, 6)  # 4 active pixels, then 2 factored-out values
    >>> y, log_det = layer(x)
    >>> torch.equal(y, x), log_det.shape  # a new layer is the identity
    (True, torch.Size([3]))
    """

    def __init__(
        self,
        mask: Tensor,
        hidden_channels: Sequence[int],
        log_scale_bound: float = 2.0,
    ) -> None:
        mask = torch.as_tensor(mask)
        if mask.ndim != 3:
            raise ValueError(
                f"mask must have shape (c, h, w), got {tuple(mask.shape)}."
            )
        super().__init__(mask.flatten(), log_scale_bound)
        self.shape = tuple(mask.shape)
        c = self.shape[0]
        self.conditioner = ResidualConvNet(c + 1, 2 * c, hidden_channels)

    def extra_repr(self) -> str:
        return f"shape={self.shape}, {super().extra_repr()}"

    def log_scale_and_shift(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(s, t)`` for the active rows ``x`` of shape ``(n, c*h*w)``."""
        image = self.conditioning_input(x).reshape(-1, *self.shape)
        plane = self.mask.reshape(self.shape)[:1].expand(x.shape[0], 1, *self.shape[1:])
        log_scale, shift = self.conditioner(torch.cat([image, plane], 1)).chunk(2, 1)
        log_scale = soft_clamp(log_scale, self.log_scale_bound)
        return log_scale.flatten(1), shift.flatten(1)

    def fit_box(self, x: Tensor, margin: float = 0.1) -> None:
        """:meth:`BoxedCoupling.fit_box` on the active part of ``x``."""
        super().fit_box(x[:, : self.n_active], margin)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Map ``x`` to ``(y, log|det dy/dx|)``."""
        active, rest = self.split(x)
        y, log_det = super().forward(active)
        return torch.cat([y, rest], 1), log_det

    def inverse(self, y: Tensor) -> Tensor:
        """Map ``y`` back to ``x`` exactly."""
        active, rest = self.split(y)
        return torch.cat([super().inverse(active), rest], 1)


class Squeeze(ActivePart, nn.Module):
    """:func:`squeeze` of the active ``(c, h, w)`` part of a flat row; log|det| 0.

    Examples
    --------
    >>> import torch
    >>> from skae.modules.image_flow import Squeeze
    >>> layer = Squeeze((1, 2, 4))
    >>> x = torch.arange(10.0).reshape(1, 10)  # 8 active pixels, 2 passive values
    >>> y, log_det = layer(x)
    >>> y.int().tolist(), log_det.tolist()
    ([[0, 2, 1, 3, 4, 6, 5, 7, 8, 9]], [0.0])
    >>> torch.equal(layer.inverse(y), x)
    True
    """

    def __init__(self, shape: ImageShape) -> None:
        super().__init__()
        self.shape = tuple(shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        active, rest = self.split(x)
        squeezed = squeeze(active.reshape(-1, *self.shape)).flatten(1)
        return torch.cat([squeezed, rest], 1), x.new_zeros(x.shape[0])

    def inverse(self, y: Tensor) -> Tensor:
        c, h, w = self.shape
        active, rest = self.split(y)
        image = unsqueeze(active.reshape(-1, 4 * c, h // 2, w // 2)).flatten(1)
        return torch.cat([image, rest], 1)


class MultiscaleRealNVP(Flow):
    """Multiscale Real NVP for ``(C, H, W)`` images (Dinh et al., 2016).

    Data to latent: a per-pixel :class:`~skae.modules.coupling.ElementwiseAffine`
    layer, then the layers of :func:`multiscale_plan`: at each scale 3
    checkerboard couplings, a squeeze, 3 channel couplings and the
    factor-out of half the channels; 4 checkerboard couplings at the last
    scale.  Rows are flat ``(n, C*H*W)`` (channel-major, as
    ``x.reshape(n, -1)`` of an ``(n, C, H, W)`` batch); so is the latent,
    whose factored-out variables follow the last scale's (see the module
    docstring).  ``log p(x) = log p_Z(z) + log|det dz/dx|`` exactly, with
    ``p_Z`` the standard normal or the base set by
    :meth:`~skae.modules.coupling.Flow.set_base`.  A new flow is the
    identity map up to a permutation of the pixels.

    Parameters
    ----------
    image_shape : tuple of int
        ``(C, H, W)``; any sizes (see :func:`multiscale_plan` for odd sides).
    n_scales : int, default=3
        Largest number of scales.
    hidden_channels : sequence of int, default=(32, 32)
        Widths of every conditioner's hidden 3x3 convolutions
        (:class:`ResidualConvNet`).
    log_scale_bound : float, default=2.0
        Bound on every coupling's log-scale.

    Attributes
    ----------
    layers : torch.nn.ModuleList
        ``[ElementwiseAffine, ImageCoupling or Squeeze, ...]``.
    plan : list of Step
        The architecture.

    References
    ----------
    L. Dinh, J. Sohl-Dickstein and S. Bengio. Density estimation using Real
    NVP. ICLR 2017, arXiv:1605.08803.

    Examples
    --------
    >>> import torch
    >>> from skae.modules.image_flow import MultiscaleRealNVP
    >>> _ = torch.manual_seed(0)
    >>> flow = MultiscaleRealNVP((1, 8, 8), hidden_channels=(8,))
    >>> x = torch.randn(5, 64)
    >>> z, log_det = flow(x)
    >>> z.shape, log_det.shape, flow.log_prob(x).shape
    (torch.Size([5, 64]), torch.Size([5]), torch.Size([5]))
    >>> torch.allclose(flow.inverse(z), x, atol=1e-6)
    True
    """

    def __init__(
        self,
        image_shape: Sequence[int],
        n_scales: int = 3,
        hidden_channels: Sequence[int] = (32, 32),
        log_scale_bound: float = 2.0,
    ) -> None:
        plan = multiscale_plan(tuple(image_shape), n_scales)
        layers: list[nn.Module] = [ElementwiseAffine(math.prod(image_shape))]
        for step in plan:
            if step.kind == "squeeze":
                layers.append(Squeeze(step.shape))
                continue
            masks = {"checkerboard": checkerboard_mask, "channel": channel_mask}
            mask = masks[step.kind](step.shape, step.parity)
            layers.append(ImageCoupling(mask, hidden_channels, log_scale_bound))
        super().__init__(layers)
        self.plan = plan
        self.image_shape = tuple(int(side) for side in image_shape)
