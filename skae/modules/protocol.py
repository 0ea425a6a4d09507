"""The model protocol: what a torch module gives the scikit-learn surface.

:class:`skae._base.SkaeBase` writes ``transform``, ``inverse_transform``,
``score_samples``, ``score`` and ``sample`` once, over any ``torch.nn.Module``
with the methods below.  Every tensor is in *model space*: the output of the
estimator's fitted preprocessing (:mod:`skae._preprocessing`), in the dtype
of the training data.  ``context`` is the conditioning input of a conditional
model (the ``y`` given to ``fit``) and ``mask`` marks observed entries; a
module that does not use them accepts and ignores ``None``.

``forward(x, context=None, mask=None) -> output``
    What skorch's ``infer`` returns during training (any tensor or named
    tuple); the criterion turns it into :class:`~skae.losses.LossTerms`.
``encode(x, context=None) -> z`` of shape ``(n, n_latent)``
    The code returned by ``transform``.
``decode(z, context=None) -> x_hat`` of shape ``(n, n_features)``
    The mean reconstruction returned by ``inverse_transform`` (and, through
    it, ``sample``).
``log_prob(x, context=None, **kwargs) -> (n,)``, density models only
    ``log p(x)`` in nats in model space; the base adds the preprocessing's
    log-determinant to express it in the user's units.

Drawing latent points for ``sample`` is the estimator's business (a fitted
Gaussian on the codes, or the prior), so that it uses NumPy's generator that
scikit-learn's ``random_state`` describes.
"""

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from torch import Tensor


@dataclass(frozen=True)
class InputSpec:
    """What a module builder needs to know of the model-space input.

    Parameters
    ----------
    n_features : int
        Width of one model-space row.
    image_shape : tuple of int or None, default=None
        ``(C, H, W)`` when a row is a flattened image.
    n_context : int, default=0
        Width of the conditioning input; 0 for an unconditional model.
    sequence_shape : tuple of int or None, default=None
        ``(T, F)`` when a row is a flattened sequence.
    """

    n_features: int
    image_shape: tuple[int, ...] | None = None
    n_context: int = 0
    sequence_shape: tuple[int, int] | None = None


@runtime_checkable
class SkaeModule(Protocol):
    """Methods every skae torch module implements (see the module docstring)."""

    def encode(self, x: Tensor, context: Tensor | None = None) -> Tensor: ...

    def decode(self, z: Tensor, context: Tensor | None = None) -> Tensor: ...
