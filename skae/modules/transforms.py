"""Elementwise monotone transforms: the part a coupling layer carries.

A coupling layer (:class:`~skae.modules.coupling.BoxedCoupling`) leaves the
masked features unchanged and moves the others, entry by entry, with an
increasing bijection whose parameters its conditioner computes from the
masked input.  Which bijection is a part, as zuko's ``univariate=``: the
coupling never knows which transform it carries.  A transform is a stateless
object with

``forward(x, *params) -> (y, log_derivative)``
    ``y = T(x)`` and ``log T'(x)`` entry by entry (the coupling masks and
    sums it into ``log|det J|``);
``inverse(y, *params) -> x``
    the exact inverse.

``params`` are tensors broadcastable against ``x`` (one value per entry).
"""

from typing import Protocol

from torch import Tensor


class MonotonicTransform(Protocol):
    """An elementwise increasing bijection with per-entry parameters."""

    def forward(self, x: Tensor, *params: Tensor) -> tuple[Tensor, Tensor]: ...

    def inverse(self, y: Tensor, *params: Tensor) -> Tensor: ...


class AffineTransform:
    """``y = x * exp(s) + t``, with ``log dy/dx = s``: Real NVP's transform.

    Examples
    --------
    >>> import math, torch
    >>> from skae.modules.transforms import AffineTransform
    >>> s, t = torch.tensor([math.log(2.0)]), torch.tensor([1.0])
    >>> y, log_derivative = AffineTransform().forward(torch.tensor([3.0]), s, t)
    >>> y, log_derivative.exp(), AffineTransform().inverse(y, s, t)
    (tensor([7.]), tensor([2.]), tensor([3.]))
    """

    def forward(
        self, x: Tensor, log_scale: Tensor, shift: Tensor
    ) -> tuple[Tensor, Tensor]:
        return x * log_scale.exp() + shift, log_scale

    def inverse(self, y: Tensor, log_scale: Tensor, shift: Tensor) -> Tensor:
        return (y - shift) * (-log_scale).exp()

    def __eq__(self, other) -> bool:
        return type(other) is type(self)

    def __hash__(self) -> int:
        return hash(type(self))


AFFINE = AffineTransform()
