"""The deterministic autoencoder module: encoder f and decoder g (seed 000).

It implements the model protocol of :mod:`skae.modules.protocol`.
"""

from collections.abc import Sequence

import torch
from torch import nn

from skae.modules.codec import encoder_decoder
from skae.modules.residual import ResidualMap


class Autoencoder(nn.Module):
    """Encoder ``f`` and mirrored decoder ``g``: MLPs, or convolutions for images.

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
    linear_path : bool, default=False
        If True, encoder and decoder are each a linear map plus a non-linear
        residual branch that starts at zero (:class:`ResidualMap`), so that
        :meth:`start_at_pca` makes the untrained module PCA's projection and
        reconstruction.  If False, plain networks (the lecture notes' deep
        autoencoder).
    image_shape : tuple of 3 int or None, default=None
        ``(C, H, W)`` of the flattened rows: the networks (the residual
        branches with ``linear_path``) are the convolutional encoder and
        transposed-convolution decoder of :mod:`skae.modules.conv`, and
        ``hidden_layer_sizes`` is unused.
    channels : int, default=32
        Hidden channels of the convolutional networks, or units of the
        recurrent state with ``sequence_shape``.
    sequence_shape : tuple of 2 int or None, default=None
        ``(T, F)`` of the flattened rows: the networks (the residual
        branches with ``linear_path``) are the GRU encoder and decoder of
        :mod:`skae.modules.sequence`; ``hidden_layer_sizes`` is then unused.

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
        *,
        linear_path: bool = False,
        image_shape: tuple[int, int, int] | None = None,
        channels: int = 32,
        sequence_shape: tuple[int, int] | None = None,
    ) -> None:
        super().__init__()
        self.encoder, self.decoder = encoder_decoder(
            n_features,
            n_components,
            n_components,
            hidden_layer_sizes,
            activation,
            linear_path=linear_path,
            image_shape=image_shape,
            channels=channels,
            sequence_shape=sequence_shape,
        )

    @torch.no_grad()
    def start_at_pca(
        self, mean: torch.Tensor, components: torch.Tensor, variances: torch.Tensor
    ) -> None:
        """Make the module PCA: ``f(x) = W (x - mean)``, ``g(z) = W^T z + mean``.

        ``components`` (k, d) are the principal axes (zero rows beyond the
        data's rank) and ``variances`` their variances.  The residual branches
        add nothing yet; the encoder's branch is scaled by each component's
        standard deviation and the decoder's reads the codes divided by it, so
        both work in units of one standard deviation.  Needs
        ``linear_path=True``.
        """
        if not isinstance(self.encoder, ResidualMap):
            raise TypeError("start_at_pca needs an Autoencoder with linear_path=True.")
        positive = variances[variances > 0]
        fill = positive.mean() if positive.numel() else variances.new_ones(())
        std = torch.where(variances > 0, variances, fill).sqrt()
        self.encoder.start_at(components, -(components @ mean), out_scale=std)
        self.decoder.start_at(components.T, mean, in_scale=1.0 / std)

    @torch.no_grad()
    def fit_boxes(self, x: torch.Tensor) -> None:
        """Box the residual branches to the training inputs and codes.

        A no-op for plain MLPs (``linear_path=False``).
        """
        if isinstance(self.encoder, ResidualMap):
            self.encoder.fit_box(x)
            self.decoder.fit_box(self.encoder(x))

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
