"""The encoder and decoder pair of the autoencoder and VAE modules, built once.

:func:`encoder_decoder` gives MLPs for tables and the convolutional pair of
:mod:`skae.modules.conv` for images, each either plain or as a linear map
plus a residual branch that starts at zero
(:class:`~skae.modules.residual.ResidualMap`), for a start at a classical
solution (PCA, a factor model).
"""

from collections.abc import Sequence

from torch import nn

from skae.modules.conv import ConvDecoder, ConvEncoder
from skae.modules.mlp import make_mlp
from skae.modules.residual import ResidualMap
from skae.modules.sequence import GRUDecoder, GRUEncoder


def encoder_decoder(
    n_features: int,
    n_encoded: int,
    n_components: int,
    hidden_layer_sizes: Sequence[int],
    activation: str,
    *,
    linear_path: bool = False,
    image_shape: tuple[int, int, int] | None = None,
    channels: int = 32,
    sequence_shape: tuple[int, int] | None = None,
) -> tuple[nn.Module, nn.Module]:
    """Encoder ``n_features -> n_encoded`` and decoder ``n_components -> n_features``.

    Parameters
    ----------
    n_features : int
        Width of a model-space row (``C*H*W`` for images).
    n_encoded : int
        Encoder output width (the code, or the VAE's means and log-variances).
    n_components : int
        Decoder input width (the code).
    hidden_layer_sizes : sequence of int
        MLP widths between input and code (tables only; the decoder mirrors
        them).
    activation : str
        Non-linearity between layers.
    linear_path : bool, default=False
        Linear maps plus zero-initialised residual branches.
    image_shape : tuple of 3 int or None, default=None
        ``(C, H, W)``: the networks (the residual branches with
        ``linear_path``) are :class:`~skae.modules.conv.ConvEncoder` and
        :class:`~skae.modules.conv.ConvDecoder`.
    channels : int, default=32
        Hidden channels of the convolutional networks, or units of the
        recurrent state.
    sequence_shape : tuple of 2 int or None, default=None
        ``(T, F)``: the networks (the residual branches with
        ``linear_path``) are :class:`~skae.modules.sequence.GRUEncoder` and
        :class:`~skae.modules.sequence.GRUDecoder`.

    Examples
    --------
    >>> from skae.modules.codec import encoder_decoder
    >>> encoder, decoder = encoder_decoder(64, 4, 2, (), "relu", image_shape=(1, 8, 8))
    >>> type(encoder).__name__, type(decoder).__name__
    ('ConvEncoder', 'ConvDecoder')
    """
    hidden = list(hidden_layer_sizes)
    if image_shape is not None:
        encoder_branch = ConvEncoder(image_shape, n_encoded, channels, activation)
        decoder_branch = ConvDecoder(n_components, image_shape, channels, activation)
    elif sequence_shape is not None:
        encoder_branch = GRUEncoder(sequence_shape, n_encoded, channels)
        decoder_branch = GRUDecoder(n_components, sequence_shape, channels)
    elif not linear_path:
        return (
            make_mlp([n_features, *hidden, n_encoded], activation),
            make_mlp([n_components, *hidden[::-1], n_features], activation),
        )
    else:
        encoder_branch = decoder_branch = None
    if not linear_path:
        return encoder_branch, decoder_branch
    return (
        ResidualMap(n_features, n_encoded, hidden, activation, branch=encoder_branch),
        ResidualMap(
            n_components, n_features, hidden[::-1], activation, branch=decoder_branch
        ),
    )
