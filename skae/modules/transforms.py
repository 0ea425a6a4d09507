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

import math
from typing import Protocol

import torch
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


MIN_BIN = 1e-3
MIN_DERIVATIVE = 1e-3
# softplus(UNIT_SLOPE_LOGIT) + MIN_DERIVATIVE == 1: a zero parameter is a unit slope.
UNIT_SLOPE_LOGIT = math.log(math.expm1(1 - MIN_DERIVATIVE))


def _spline_knots(
    widths: Tensor, heights: Tensor, derivatives: Tensor, bound: float
) -> tuple[Tensor, Tensor, Tensor]:
    """Knot abscissae, ordinates (each ``K + 1``, from ``-bound`` to ``bound``)
    and derivatives (``K + 1``, 1 at both ends) from the unconstrained
    parameters (``K``, ``K`` and ``K - 1`` per entry)."""
    n_bins = widths.shape[-1]

    def knots(logits: Tensor) -> Tensor:
        fraction = MIN_BIN + (1 - MIN_BIN * n_bins) * torch.softmax(logits, dim=-1)
        cumulative = torch.nn.functional.pad(fraction.cumsum(dim=-1), (1, 0))
        knots = 2 * bound * cumulative - bound
        # The ends exactly at -bound and bound: the tails join continuously.
        return torch.cat(
            [
                torch.full_like(knots[..., :1], -bound),
                knots[..., 1:-1],
                torch.full_like(knots[..., :1], bound),
            ],
            dim=-1,
        )

    slopes = MIN_DERIVATIVE + torch.nn.functional.softplus(
        derivatives + UNIT_SLOPE_LOGIT
    )
    ones = torch.ones_like(slopes[..., :1])
    return knots(widths), knots(heights), torch.cat([ones, slopes, ones], dim=-1)


def _gather_bin(
    knots: Tensor, values: Tensor, x_knots: Tensor, y_knots: Tensor, slopes: Tensor
) -> tuple[Tensor, ...]:
    """The bin of every entry of ``values`` among ``knots`` (comparisons and a
    gather): ``(x_k, w_k, y_k, h_k, delta_k, delta_k+1)``."""
    index = (values[..., None] >= knots[..., 1:-1]).sum(dim=-1, keepdim=True)

    def at(tensor: Tensor, offset: int = 0) -> Tensor:
        return tensor.gather(-1, index + offset)[..., 0]

    x_low, y_low = at(x_knots), at(y_knots)
    return (
        x_low,
        at(x_knots, 1) - x_low,
        y_low,
        at(y_knots, 1) - y_low,
        at(slopes),
        at(slopes, 1),
    )


class SplineTransform:
    """Monotonic rational-quadratic spline (Durkan et al., 2019), linear tails.

    ``n_bins`` bins on ``[-tail_bound, tail_bound]``, the identity with unit
    slope outside.  The parameters of an entry are the unconstrained bin
    widths and heights (``n_bins`` each; a softmax makes them fractions of
    the interval) and the interior knot derivatives (``n_bins - 1``, through
    softplus; the end knots have slope 1, so the tails join smoothly).  All
    parameters zero is exactly the identity (equal bins, unit slopes).  The
    inverse is exact: the root of a quadratic in each bin.

    Parameters
    ----------
    n_bins : int, default=8
        Number of bins ``K``.
    tail_bound : float, default=3.0
        ``B``: the spline acts on ``[-B, B]``.

    References
    ----------
    C. Durkan, A. Bekasov, I. Murray and G. Papamakarios. Neural spline
    flows. NeurIPS 2019, arXiv:1906.04032.

    Examples
    --------
    >>> import torch
    >>> from skae.modules.transforms import SplineTransform
    >>> spline = SplineTransform(n_bins=4, tail_bound=2.0)
    >>> x = torch.tensor([-3.0, -0.5, 1.0, 5.0])
    >>> widths, heights = torch.zeros(4, 4), torch.tensor([[1.0, 0, 0, 0]]).expand(4, 4)
    >>> y, log_derivative = spline.forward(x, widths, heights, torch.zeros(4, 3))
    >>> y[[0, 3]], log_derivative[[0, 3]]
    (tensor([-3.,  5.]), tensor([0., 0.]))
    >>> bool(torch.allclose(spline.inverse(y, widths, heights, torch.zeros(4, 3)), x))
    True
    """

    def __init__(self, n_bins: int = 8, tail_bound: float = 3.0) -> None:
        if n_bins < 2:
            # One bin with unit slopes at both ends is the identity.
            raise ValueError(f"n_bins must be at least 2, got {n_bins}.")
        if not tail_bound > 0:
            raise ValueError(f"tail_bound must be > 0, got {tail_bound}.")
        self.n_bins = int(n_bins)
        self.tail_bound = float(tail_bound)

    @property
    def n_params(self) -> int:
        """Unconstrained parameters per entry: ``3 * n_bins - 1``."""
        return 3 * self.n_bins - 1

    def split(self, raw: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(widths, heights, derivatives)`` from ``raw``'s last axis of
        :attr:`n_params` values."""
        k = self.n_bins
        return raw[..., :k], raw[..., k : 2 * k], raw[..., 2 * k :]

    def _inside(self, x: Tensor, widths: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        x = x.expand(widths.shape[:-1])
        inside = (x >= -self.tail_bound) & (x <= self.tail_bound)
        return x, inside, x.clamp(-self.tail_bound, self.tail_bound)

    def forward(
        self, x: Tensor, widths: Tensor, heights: Tensor, derivatives: Tensor
    ) -> tuple[Tensor, Tensor]:
        x, inside, c = self._inside(x, widths)
        knots = _spline_knots(widths, heights, derivatives, self.tail_bound)
        x_k, w_k, y_k, h_k, d_k, d_next = _gather_bin(knots[0], c, *knots)
        s_k = h_k / w_k
        theta = (c - x_k) / w_k
        between = theta * (1 - theta)
        denominator = s_k + (d_next + d_k - 2 * s_k) * between
        y = y_k + h_k * (s_k * theta**2 + d_k * between) / denominator
        numerator = d_next * theta**2 + 2 * s_k * between + d_k * (1 - theta) ** 2
        log_derivative = 2 * s_k.log() + numerator.log() - 2 * denominator.log()
        return (
            torch.where(inside, y, x),
            torch.where(inside, log_derivative, torch.zeros_like(log_derivative)),
        )

    def inverse(
        self, y: Tensor, widths: Tensor, heights: Tensor, derivatives: Tensor
    ) -> Tensor:
        y, inside, c = self._inside(y, widths)
        knots = _spline_knots(widths, heights, derivatives, self.tail_bound)
        x_k, w_k, y_k, h_k, d_k, d_next = _gather_bin(knots[1], c, *knots)
        s_k = h_k / w_k
        offset = c - y_k
        curvature = d_next + d_k - 2 * s_k
        a = h_k * (s_k - d_k) + offset * curvature
        b = h_k * d_k - offset * curvature
        c_ = -s_k * offset
        discriminant = (b**2 - 4 * a * c_).clamp_min(0)
        theta = 2 * c_ / (-b - discriminant.sqrt())
        return torch.where(inside, x_k + theta * w_k, y)

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and (self.n_bins, self.tail_bound) == (
            other.n_bins,
            other.tail_bound,
        )

    def __hash__(self) -> int:
        return hash((type(self), self.n_bins, self.tail_bound))

    def __repr__(self) -> str:
        return f"SplineTransform(n_bins={self.n_bins}, tail_bound={self.tail_bound})"
