"""Convolutional encoder and transposed-convolution decoder for any image size.

The size arithmetic is the lecture notes' (seed 003): with an input of size
``W``, a kernel ``w`` and a stride ``s``, a convolution gives
``(W - w) // s + 1`` and a transposed convolution ``(W - 1) * s + w``; a
transposed convolution undoes the size change of a convolution with the same
``w`` and ``s`` exactly when ``W = w + s * q`` for an integer ``q``.

:func:`axis_layers` derives, for one image axis, the notes' schedule of
``(kernel, stride)`` pairs: up to two 5-wide stride-1 layers (while at least
4 positions remain), then stride-2 layers of width 4 (even sizes) or 3 (odd
sizes) while more than 5 positions remain (so each is exactly invertible),
and a last layer as wide as what is left, which maps it to one position.
For 28 this is the notes' network, ``28 -> 24 -> 20 -> 9 -> 4 -> 1``
(kernels 5, 5, 4, 3, 4; strides 1, 1, 2, 2, 1).  Any size ``>= 1`` works:
sizes up to 7 get at most a stride-2 layer and the final one.
:func:`image_layers` aligns the two axes of a (possibly non-square) image,
padding the shorter schedule with ``(1, 1)`` layers in each stage.

:class:`ConvEncoder` maps flat rows ``(..., C*H*W)`` to ``(..., n_out)``
(a ``n_out x 1 x 1`` output map); :class:`ConvDecoder` mirrors it with
transposed convolutions, from ``(..., n_in)`` back to flat rows.  Kernels
and feature maps are channels-last (:data:`CHANNELS_LAST`).
"""

from itertools import zip_longest

import torch
from torch import Tensor, nn

from skae.modules.mlp import ACTIVATIONS

Layer = tuple[tuple[int, int], tuple[int, int]]

CHANNELS_LAST = torch.channels_last
"""The layout of the feature maps and kernels: oneDNN's native one on CPU, about
10% faster per training step of the 28x28 autoencoder than NCHW (issue 38);
the values are the same, only their order in memory differs."""


def conv_output_size(size: int, kernel: int, stride: int = 1) -> int:
    """Output size of a convolution: ``(size - kernel) // stride + 1``.

    Examples
    --------
    >>> from skae.modules.conv import conv_output_size
    >>> conv_output_size(28, 5), conv_output_size(20, 4, 2), conv_output_size(9, 3, 2)
    (24, 9, 4)
    """
    if kernel > size:
        raise ValueError(f"A kernel of {kernel} does not fit in {size} positions.")
    return (size - kernel) // stride + 1


def transposed_output_size(size: int, kernel: int, stride: int = 1) -> int:
    """Output size of a transposed convolution: ``(size - 1) * stride + kernel``.

    Examples
    --------
    >>> from skae.modules.conv import transposed_output_size
    >>> transposed_output_size(1, 4), transposed_output_size(4, 3, 2)
    (4, 9)
    """
    return (size - 1) * stride + kernel


def axis_stages(size: int) -> tuple[list[tuple[int, int]], ...]:
    """``(kernel, stride)`` pairs of one axis, in the three stages of the notes.

    Returns
    -------
    wide, strided, last : list of (int, int)
        The 5-wide stride-1 layers, the stride-2 layers, and the final layer
        that leaves one position.

    Examples
    --------
    >>> from skae.modules.conv import axis_stages
    >>> axis_stages(28)
    ([(5, 1), (5, 1)], [(4, 2), (3, 2)], [(4, 1)])
    >>> axis_stages(8)
    ([(5, 1)], [], [(4, 1)])
    """
    if size < 1:
        raise ValueError(f"An image axis needs at least 1 position, got {size}.")
    wide: list[tuple[int, int]] = []
    while len(wide) < 2 and size - 4 >= 4:
        wide.append((5, 1))
        size -= 4
    strided: list[tuple[int, int]] = []
    while size > 5:
        kernel = 4 if size % 2 == 0 else 3
        strided.append((kernel, 2))
        size = conv_output_size(size, kernel, 2)
    return wide, strided, [(size, 1)]


def axis_layers(size: int) -> list[tuple[int, int]]:
    """The ``(kernel, stride)`` schedule of one axis, down to one position.

    Examples
    --------
    >>> from skae.modules.conv import axis_layers
    >>> axis_layers(28)
    [(5, 1), (5, 1), (4, 2), (3, 2), (4, 1)]
    >>> axis_layers(32)
    [(5, 1), (5, 1), (4, 2), (3, 2), (5, 1)]
    >>> axis_layers(1)
    [(1, 1)]
    """
    return [layer for stage in axis_stages(size) for layer in stage]


def image_layers(height: int, width: int) -> list[Layer]:
    """Per-layer ``((k_h, k_w), (s_h, s_w))`` for an ``height x width`` image.

    The axes' stages are aligned; the axis with fewer layers in a stage gets
    ``(1, 1)`` (size-preserving) layers there.

    Examples
    --------
    >>> from skae.modules.conv import image_layers
    >>> image_layers(8, 8)
    [((5, 5), (1, 1)), ((4, 4), (1, 1))]
    >>> image_layers(8, 3)
    [((5, 1), (1, 1)), ((4, 3), (1, 1))]
    """
    layers: list[Layer] = []
    for rows, columns in zip(axis_stages(height), axis_stages(width), strict=True):
        for row, column in zip_longest(rows, columns, fillvalue=(1, 1)):
            layers.append(((row[0], column[0]), (row[1], column[1])))
    return layers


def feature_map_sizes(height: int, width: int) -> list[tuple[int, int]]:
    """Spatial size after each encoder layer, the input's first.

    Examples
    --------
    >>> from skae.modules.conv import feature_map_sizes
    >>> feature_map_sizes(28, 28)
    [(28, 28), (24, 24), (20, 20), (9, 9), (4, 4), (1, 1)]
    """
    sizes = [(height, width)]
    for (k_h, k_w), (s_h, s_w) in image_layers(height, width):
        h, w = sizes[-1]
        sizes.append((conv_output_size(h, k_h, s_h), conv_output_size(w, k_w, s_w)))
    return sizes


def _widths(n_first: int, channels: int, n_last: int, n_layers: int) -> list[int]:
    return [n_first, *[channels] * (n_layers - 1), n_last]


class ConvEncoder(nn.Module):
    """Convolutions from a flat ``(C, H, W)`` image to an ``n_out x 1 x 1`` map.

    Parameters
    ----------
    image_shape : tuple of 3 int
        ``(C, H, W)``; any ``H, W >= 1``.
    n_out : int
        Channels of the last layer, i.e. the width of the output rows.
    channels : int
        Channels of every hidden layer (the notes' 32).
    activation : str
        Non-linearity after every layer but the last.

    Examples
    --------
    >>> import torch
    >>> from skae.modules.conv import ConvEncoder
    >>> encoder = ConvEncoder((1, 28, 28), 8, 32, "relu")
    >>> encoder.layers[0], encoder.layers[-1]
    (Conv2d(1, 32, kernel_size=(5, 5), stride=(1, 1)), Conv2d(32, 8, kernel_size=(4, 4), stride=(1, 1)))
    >>> encoder(torch.zeros(3, 784)).shape
    torch.Size([3, 8])
    """  # noqa: E501

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        n_out: int,
        channels: int,
        activation: str,
    ) -> None:
        super().__init__()
        self.image_shape = tuple(image_shape)
        schedule = image_layers(*self.image_shape[1:])
        widths = _widths(self.image_shape[0], channels, n_out, len(schedule))
        layers: list[nn.Module] = []
        for i, (kernel, stride) in enumerate(schedule):
            if i > 0:
                layers.append(ACTIVATIONS[activation]())
            layers.append(nn.Conv2d(widths[i], widths[i + 1], kernel, stride))
        self.layers = nn.Sequential(*layers).to(memory_format=CHANNELS_LAST)
        self.n_out = n_out

    def forward(self, x: Tensor) -> Tensor:
        lead = x.shape[:-1]
        maps = x.reshape(-1, *self.image_shape).contiguous(memory_format=CHANNELS_LAST)
        return self.layers(maps).reshape(*lead, self.n_out)


class ConvDecoder(nn.Module):
    """Transposed convolutions from ``n_in`` values to a flat ``(C, H, W)`` image.

    The mirror of :class:`ConvEncoder`: the same kernels and strides in
    reverse order, so each layer restores its encoder layer's size exactly.

    Parameters
    ----------
    n_in : int
        Width of the input rows (channels of the ``1 x 1`` input map).
    image_shape : tuple of 3 int
        ``(C, H, W)`` of the output.
    channels : int
        Channels of every hidden layer.
    activation : str
        Non-linearity after every layer but the last (the output is linear).

    Examples
    --------
    >>> import torch
    >>> from skae.modules.conv import ConvDecoder
    >>> decoder = ConvDecoder(8, (1, 28, 28), 32, "relu")
    >>> decoder.layers[0]
    ConvTranspose2d(8, 32, kernel_size=(4, 4), stride=(1, 1))
    >>> decoder(torch.zeros(2, 5, 8)).shape
    torch.Size([2, 5, 784])
    """

    def __init__(
        self,
        n_in: int,
        image_shape: tuple[int, int, int],
        channels: int,
        activation: str,
    ) -> None:
        super().__init__()
        self.image_shape = tuple(image_shape)
        schedule = image_layers(*self.image_shape[1:])[::-1]
        widths = _widths(n_in, channels, self.image_shape[0], len(schedule))
        layers: list[nn.Module] = []
        for i, (kernel, stride) in enumerate(schedule):
            if i > 0:
                layers.append(ACTIVATIONS[activation]())
            layers.append(nn.ConvTranspose2d(widths[i], widths[i + 1], kernel, stride))
        self.layers = nn.Sequential(*layers).to(memory_format=CHANNELS_LAST)
        self.n_in = n_in
        self.n_out = int(torch.tensor(self.image_shape).prod())

    def forward(self, z: Tensor) -> Tensor:
        lead = z.shape[:-1]
        out = self.layers(z.reshape(-1, self.n_in, 1, 1))
        return out.reshape(*lead, self.n_out)
