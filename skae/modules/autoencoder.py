"""The deterministic autoencoder module: encoder f and decoder g (seed 000).

It implements the model protocol of :mod:`skae.modules.protocol`.
"""

from collections.abc import Sequence

import torch
from torch import nn

from skae.modules.mlp import make_mlp


class Autoencoder(nn.Module):
    """MLP encoder ``f`` and mirrored MLP decoder ``g``.

    Parameters
    ----------
    n_features : int
        Input width.
    n_components : int
        Code width (under- or over-complete).
    hidden_layer_sizes : sequence of int
        Encoder widths between input and code; the decoder mirrors them.
        ``()`` gives a linear autoencoder.
    activation : str
        Non-linearity between layers (the code and output layers are linear).

    Examples
    --------
    >>> import torch
    >>> from skae.modules.autoencoder import Autoencoder
    >>> module = Autoencoder(5, 2, (8,), "relu")
    >>> reconstruction, code = module(torch.zeros(3, 5))
    >>> tuple(reconstruction.shape), tuple(code.shape)
    ((3, 5), (3, 2))
    """

    def __init__(
        self,
        n_features: int,
        n_components: int,
        hidden_layer_sizes: Sequence[int],
        activation: str,
    ) -> None:
        super().__init__()
        hidden = list(hidden_layer_sizes)
        self.encoder = make_mlp([n_features, *hidden, n_components], activation)
        self.decoder = make_mlp([n_components, *hidden[::-1], n_features], activation)

    def encode(self, x: torch.Tensor, context: torch.Tensor | None = None):
        """The code ``f(x)``."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor, context: torch.Tensor | None = None):
        """The reconstruction ``g(z)``."""
        return self.decoder(z)

    def forward(
        self,
        x: torch.Tensor,
        context: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(g(f(x)), f(x))``."""
        code = self.encoder(x)
        return self.decoder(code), code
