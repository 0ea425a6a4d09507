"""Real NVP: affine coupling layers and the flow that stacks them (seed 003).

The file has three layers, as in zuko:

* pure functions holding the maths: each transform's forward map with its
  log-determinant, and its inverse;
* modules holding the parameters: :class:`ElementwiseAffine` and
  :class:`AffineCoupling`;
* the flow :class:`RealNVP`, which composes them on a standard-normal base.

Every ``forward`` maps data ``x`` to latent ``z`` and returns
``(z, log|det dz/dx|)``, one log-determinant per sample, so that
``log p(x) = log N(z; 0, I) + log|det dz/dx|``
(:func:`skae.distributions.flow_log_prob`), or the same with a fitted base
density (:mod:`skae.modules.mixture`) in place of ``N(0, I)``.
"""

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from skae.distributions import standard_normal_log_prob
from skae.modules.mixture import ClassMixtureBase, GaussianMixtureBase
from skae.modules.mlp import make_mlp
from skae.modules.transforms import AFFINE, MonotonicTransform, SplineTransform

MASK_STRATEGIES = ("alternating", "random")
COUPLINGS = ("affine", "spline", "autoregressive")


def soft_clamp(x: Tensor, bound: float) -> Tensor:
    """Squash ``x`` smoothly into ``(-bound, bound)`` with ``bound * tanh(x / bound)``.

    Near zero this is the identity (slope 1), so a zero-initialised network
    still gets full gradients.

    Examples
    --------
    >>> import torch
    >>> from skae.modules.coupling import soft_clamp
    >>> soft_clamp(torch.tensor([0.0, 100.0]), 2.0)
    tensor([0., 2.])
    """
    return bound * torch.tanh(x / bound)


def affine_coupling_forward(
    x: Tensor, mask: Tensor, log_scale: Tensor, shift: Tensor
) -> tuple[Tensor, Tensor]:
    """Coupling map ``y = b*x + (1-b)*(x*exp(s) + t)`` and its log|det J|.

    Parameters
    ----------
    x : torch.Tensor of shape (n_samples, n_features)
        Input points.
    mask : torch.Tensor of shape (n_features,)
        The binary vector ``b``: 1 where the feature passes unchanged.
    log_scale : torch.Tensor of shape (n_samples, n_features)
        ``s(b*x)``; its entries where ``b == 1`` are ignored.
    shift : torch.Tensor of shape (n_samples, n_features)
        ``t(b*x)``; its entries where ``b == 1`` are ignored.

    Returns
    -------
    y : torch.Tensor of shape (n_samples, n_features)
        Transformed points.
    log_det : torch.Tensor of shape (n_samples,)
        ``sum((1-b) * s)``, the log absolute Jacobian determinant.

    Examples
    --------
    >>> import math
    >>> import torch
    >>> from skae.modules.coupling import affine_coupling_forward
    >>> x = torch.tensor([[1.0, 1.0]])
    >>> mask = torch.tensor([1.0, 0.0])
    >>> s, t = torch.tensor([[5.0, math.log(2.0)]]), torch.tensor([[5.0, 3.0]])
    >>> y, log_det = affine_coupling_forward(x, mask, s, t)
    >>> y, log_det.exp()
    (tensor([[1., 5.]]), tensor([2.]))
    """
    y = mask * x + (1 - mask) * (x * log_scale.exp() + shift)
    return y, ((1 - mask) * log_scale).sum(dim=-1)


def affine_coupling_inverse(
    y: Tensor, mask: Tensor, log_scale: Tensor, shift: Tensor
) -> Tensor:
    """Inverse coupling map ``x = b*y + (1-b)*(y - t)*exp(-s)``.

    ``log_scale`` and ``shift`` are ``s(b*y)`` and ``t(b*y)``, which equal
    ``s(b*x)`` and ``t(b*x)`` because the masked features are unchanged.

    Examples
    --------
    >>> import math
    >>> import torch
    >>> from skae.modules.coupling import affine_coupling_inverse
    >>> mask = torch.tensor([1.0, 0.0])
    >>> s, t = torch.tensor([[5.0, math.log(2.0)]]), torch.tensor([[5.0, 3.0]])
    >>> affine_coupling_inverse(torch.tensor([[1.0, 5.0]]), mask, s, t)
    tensor([[1., 1.]])
    """
    return mask * y + (1 - mask) * (y - shift) * (-log_scale).exp()


def elementwise_affine_forward(
    x: Tensor, log_scale: Tensor, shift: Tensor
) -> tuple[Tensor, Tensor]:
    """Per-feature map ``y = x*exp(s) + t`` and its log|det J| ``sum(s)``.

    Parameters
    ----------
    x : torch.Tensor of shape (n_samples, n_features)
        Input points.
    log_scale, shift : torch.Tensor of shape (n_features,)
        ``s`` and ``t``, shared by all samples.

    Returns
    -------
    y : torch.Tensor of shape (n_samples, n_features)
        Transformed points.
    log_det : torch.Tensor of shape (n_samples,)
        ``sum(s)``, the same for every sample.

    Examples
    --------
    >>> import math
    >>> import torch
    >>> from skae.modules.coupling import elementwise_affine_forward
    >>> log_scale = torch.tensor([0.0, math.log(3.0)])
    >>> y, log_det = elementwise_affine_forward(
    ...     torch.ones(1, 2), log_scale, torch.tensor([1.0, 0.0])
    ... )
    >>> y, log_det.exp()
    (tensor([[2., 3.]]), tensor([3.]))
    """
    y = x * log_scale.exp() + shift
    return y, log_scale.sum(dim=-1).expand(x.shape[:-1])


def elementwise_affine_inverse(y: Tensor, log_scale: Tensor, shift: Tensor) -> Tensor:
    """Inverse per-feature map ``x = (y - t)*exp(-s)``.

    Examples
    --------
    >>> import math
    >>> import torch
    >>> from skae.modules.coupling import elementwise_affine_inverse
    >>> log_scale = torch.tensor([0.0, math.log(3.0)])
    >>> elementwise_affine_inverse(
    ...     torch.tensor([[2.0, 3.0]]), log_scale, torch.tensor([1.0, 0.0])
    ... ).round(decimals=4)
    tensor([[1., 1.]])
    """
    return (y - shift) * (-log_scale).exp()


def _check_mask_arguments(n_features: int, n_layers: int) -> None:
    if n_features < 2:
        raise ValueError(
            f"A coupling layer needs at least 2 features to split, got {n_features}."
        )
    if n_layers < 0:
        raise ValueError(f"n_layers must be non-negative, got {n_layers}.")


def alternating_masks(n_features: int, n_layers: int) -> Tensor:
    """Masks that keep the first half of the features, then the second, in turn.

    Even layers keep the first ``n_features // 2`` features unchanged; odd
    layers use the complement. For odd ``n_features`` the two halves differ
    in size by one.

    Parameters
    ----------
    n_features : int
        Number of features; at least 2.
    n_layers : int
        Number of masks.

    Returns
    -------
    masks : torch.Tensor of shape (n_layers, n_features), dtype bool
        ``True`` where a layer passes the feature unchanged.

    Examples
    --------
    >>> from skae.modules.coupling import alternating_masks
    >>> alternating_masks(3, 2).int()
    tensor([[1, 0, 0],
            [0, 1, 1]], dtype=torch.int32)
    """
    _check_mask_arguments(n_features, n_layers)
    first = torch.arange(n_features) < n_features // 2
    masks = [first if layer % 2 == 0 else ~first for layer in range(n_layers)]
    return torch.stack(masks) if masks else torch.zeros(0, n_features, dtype=bool)


def random_masks(
    n_features: int, n_layers: int, generator: torch.Generator | None = None
) -> Tensor:
    """Random half masks, each followed by its complement (seed's ``NVPNet``).

    Even layers keep a random subset of ``n_features // 2`` features
    unchanged; each odd layer uses the complement of the layer before, so
    that every feature is transformed by some layer when ``n_layers >= 2``.
    Arguments and result are those of :func:`alternating_masks`, drawn from
    ``generator`` (the global one when ``None``).

    Examples
    --------
    >>> import torch
    >>> from skae.modules.coupling import random_masks
    >>> masks = random_masks(4, 2, torch.Generator().manual_seed(0))
    >>> masks.sum(dim=1), bool((masks[0] ^ masks[1]).all())
    (tensor([2, 2]), True)
    """
    _check_mask_arguments(n_features, n_layers)
    masks = torch.zeros(n_layers, n_features, dtype=bool)
    for layer in range(n_layers):
        if layer % 2 == 0:
            kept = torch.randperm(n_features, generator=generator)[: n_features // 2]
            masks[layer, kept] = True
        else:
            masks[layer] = ~masks[layer - 1]
    return masks


def boxed_coupling_forward(
    x: Tensor,
    mask: Tensor,
    transform: MonotonicTransform,
    params: tuple[Tensor, ...],
    low: Tensor,
    high: Tensor,
) -> tuple[Tensor, Tensor]:
    """A coupling with any monotone ``transform``, inside a box, slope one outside.

    With ``c = clamp(x, low, high)`` each transformed feature maps to
    ``T(c) + (x - c)``: the transform inside ``[low, high]``, continued with
    slope 1 beyond it, so its log-derivative is ``log T'(c)`` inside and 0
    outside.  Far from the box no layer scales any more, and a point outside
    the training range keeps a log-density of the order of the base
    density's.  With an infinite box it is the plain coupling.
    """
    inside = x.clamp(low, high)
    moved, log_derivative = transform.forward(inside, *params)
    y = mask * inside + (1 - mask) * moved + (x - inside)
    in_box = (x == inside).to(log_derivative.dtype)
    return y, ((1 - mask) * in_box * log_derivative).sum(dim=-1)


def boxed_coupling_inverse(
    y: Tensor,
    mask: Tensor,
    transform: MonotonicTransform,
    params: tuple[Tensor, ...],
    low: Tensor,
    high: Tensor,
) -> Tensor:
    """Inverse of :func:`boxed_coupling_forward`.

    The box's image is ``[T(low), T(high)]`` (``T`` increases); inside it
    the transform is undone, beyond it the slope-one continuation.
    """
    image = y.clamp(
        transform.forward(low, *params)[0], transform.forward(high, *params)[0]
    )
    undone = transform.inverse(image, *params)
    return mask * image + (1 - mask) * undone + (y - image)


def boxed_affine_forward(
    x: Tensor, mask: Tensor, log_scale: Tensor, shift: Tensor, low: Tensor, high: Tensor
) -> tuple[Tensor, Tensor]:
    """:func:`boxed_coupling_forward` with the affine transform: the affine
    coupling inside the box (log-derivative ``s``), slope one outside it.

    Examples
    --------
    >>> import torch
    >>> from skae.modules.coupling import boxed_affine_forward
    >>> mask = torch.tensor([1.0, 0.0])
    >>> s, t = torch.log(torch.tensor([[1.0, 2.0]])), torch.zeros(1, 2)
    >>> low, high = -torch.ones(2), torch.ones(2)
    >>> y, log_det = boxed_affine_forward(
    ...     torch.tensor([[0.0, 0.5]]), mask, s, t, low, high)
    >>> y, log_det.exp()
    (tensor([[0., 1.]]), tensor([2.]))
    >>> y, log_det = boxed_affine_forward(
    ...     torch.tensor([[0.0, 5.0]]), mask, s, t, low, high)
    >>> y, log_det.exp()
    (tensor([[0., 6.]]), tensor([1.]))
    """
    return boxed_coupling_forward(x, mask, AFFINE, (log_scale, shift), low, high)


def boxed_affine_inverse(
    y: Tensor, mask: Tensor, log_scale: Tensor, shift: Tensor, low: Tensor, high: Tensor
) -> Tensor:
    """Inverse of :func:`boxed_affine_forward`.

    Examples
    --------
    >>> import torch
    >>> from skae.modules.coupling import boxed_affine_inverse
    >>> mask = torch.tensor([1.0, 0.0])
    >>> s, t = torch.log(torch.tensor([[1.0, 2.0]])), torch.zeros(1, 2)
    >>> boxed_affine_inverse(
    ...     torch.tensor([[0.0, 6.0]]), mask, s, t, -torch.ones(2), torch.ones(2))
    tensor([[0., 5.]])
    """
    return boxed_coupling_inverse(y, mask, AFFINE, (log_scale, shift), low, high)


def _checked_mask(mask, n_features: int) -> Tensor:
    """``mask`` as a tensor of shape ``(n_features,)``, or a ValueError."""
    mask = torch.as_tensor(mask)
    if mask.shape != (n_features,):
        raise ValueError(
            f"mask must have shape ({n_features},), got {tuple(mask.shape)}."
        )
    return mask


def _zero_last_linear(network: nn.Sequential) -> None:
    last = [module for module in network if isinstance(module, nn.Linear)][-1]
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)


class ElementwiseAffine(nn.Module):
    """Learned per-feature scale and shift ``z = x*exp(s) + t``.

    It starts as the identity. Placed first in :class:`RealNVP`, it plays the
    part of a data standardisation that stays in the likelihood.

    Parameters
    ----------
    n_features : int
        Number of features.

    Attributes
    ----------
    log_scale : torch.nn.Parameter of shape (n_features,)
        ``s``, initialised to zero.
    shift : torch.nn.Parameter of shape (n_features,)
        ``t``, initialised to zero.

    Examples
    --------
    >>> import torch
    >>> from skae.modules.coupling import ElementwiseAffine
    >>> layer = ElementwiseAffine(2)
    >>> layer.initialize_from_data(torch.tensor([[0.0, 1.0], [2.0, 1.0]]))
    >>> z, log_det = layer(torch.tensor([[2.0, 1.0], [0.0, 1.0]]))
    >>> z.detach()
    tensor([[ 1.,  0.],
            [-1.,  0.]])
    """

    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.log_scale = nn.Parameter(torch.zeros(n_features))
        self.shift = nn.Parameter(torch.zeros(n_features))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Map ``x`` to ``(z, log|det dz/dx|)``."""
        return elementwise_affine_forward(x, self.log_scale, self.shift)

    def inverse(self, z: Tensor) -> Tensor:
        """Map ``z`` back to ``x`` exactly."""
        return elementwise_affine_inverse(z, self.log_scale, self.shift)

    @torch.no_grad()
    def initialize_from_data(self, x: Tensor) -> None:
        """Set the parameters so that ``x`` is mapped to zero mean, unit variance.

        Features with (near) zero variance keep a unit scale, as in
        :class:`sklearn.preprocessing.StandardScaler`.
        """
        mean = x.mean(dim=0)
        std = x.std(dim=0, correction=0)
        tiny = 10 * torch.finfo(std.dtype).eps * mean.abs().clamp_min(1.0)
        std = torch.where(std < tiny, torch.ones_like(std), std)
        self.log_scale.copy_(-std.log())
        self.shift.copy_(-mean / std)


class BoxedCoupling(nn.Module):
    """A coupling ``y = b*x + (1-b)*T(x; theta(b*x))`` with a box.

    The shared part of every skae coupling layer: the mask ``b``, the box
    fitted after training (:meth:`fit_box`, :func:`boxed_coupling_forward`)
    and the forward and inverse maps.  The elementwise transform ``T`` is a
    part (:mod:`skae.modules.transforms`; affine by default, Real NVP's);
    a subclass builds the conditioner and implements
    :meth:`transform_parameters` on the boxed, masked input
    :meth:`conditioning_input`.

    Parameters
    ----------
    mask : torch.Tensor of shape (n_features,)
        The binary vector ``b``: 1 (or ``True``) where the feature passes
        unchanged and conditions the others.
    log_scale_bound : float
        ``s`` stays within ``(-log_scale_bound, log_scale_bound)``.
    transform : MonotonicTransform or None, default=None
        The elementwise transform ``T``; None: the affine one.

    Attributes
    ----------
    mask : torch.Tensor of shape (n_features,)
        ``b`` as a floating-point buffer, saved in the ``state_dict``.
    box_low, box_high : torch.Tensor of shape (n_features,)
        The box (infinite until :meth:`fit_box`).
    transform : MonotonicTransform
        ``T``.
    """

    transform: MonotonicTransform = AFFINE

    def __init__(
        self,
        mask: Tensor,
        log_scale_bound: float,
        transform: MonotonicTransform | None = None,
    ) -> None:
        super().__init__()
        if log_scale_bound <= 0:
            raise ValueError(f"log_scale_bound must be > 0, got {log_scale_bound}.")
        dtype = torch.get_default_dtype()
        mask = torch.as_tensor(mask)
        self.register_buffer("mask", mask.to(dtype))
        self.register_buffer("box_low", torch.full(mask.shape, -torch.inf, dtype=dtype))
        self.register_buffer("box_high", torch.full(mask.shape, torch.inf, dtype=dtype))
        self.log_scale_bound = log_scale_bound
        if transform is not None:
            self.transform = transform

    def extra_repr(self) -> str:
        return f"log_scale_bound={self.log_scale_bound}"

    def conditioning_input(self, x: Tensor) -> Tensor:
        """``b * x``, with ``x`` clamped to the box first (when one is fitted)."""
        return self.mask * x.clamp(self.box_low, self.box_high)

    def transform_parameters(
        self, x: Tensor, context: Tensor | None = None
    ) -> tuple[Tensor, ...]:
        """The transform's parameters ``theta(b*x)``, each of the shape of ``x``;
        the affine couplings' ``(s, t)`` (:meth:`log_scale_and_shift`).  A
        conditional coupling's also read the ``context``."""
        if context is None:
            return self.log_scale_and_shift(x)
        return self.log_scale_and_shift(x, context)

    def log_scale_and_shift(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Return ``(s(b*x), t(b*x))``, each of the shape of ``x``."""
        raise NotImplementedError  # pragma: no cover - every affine coupling has it

    @torch.no_grad()
    def fit_box(self, x: Tensor, margin: float = 0.1) -> None:
        """Set the box to the range of ``x`` widened by ``margin`` of each side.

        Inside the box the layer is unchanged (:func:`boxed_affine_forward`).
        """
        low, high = x.min(dim=0).values, x.max(dim=0).values
        span = high - low
        self.box_low.copy_(low - margin * span)
        self.box_high.copy_(high + margin * span)

    def forward(
        self, x: Tensor, context: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Map ``x`` (given ``context``) to ``(y, log|det dy/dx|)``."""
        params = self.transform_parameters(x, context)
        box = (self.box_low, self.box_high)
        return boxed_coupling_forward(x, self.mask, self.transform, params, *box)

    def inverse(self, y: Tensor, context: Tensor | None = None) -> Tensor:
        """Map ``y`` back to ``x`` exactly (given the same ``context``)."""
        params = self.transform_parameters(y, context)
        box = (self.box_low, self.box_high)
        return boxed_coupling_inverse(y, self.mask, self.transform, params, *box)


class AffineCoupling(BoxedCoupling):
    """Real NVP affine coupling layer ``y = b*x + (1-b)*(x*exp(s(b*x)) + t(b*x))``.

    The ``s`` and ``t`` networks read the masked input ``b*x`` and output one
    value per feature, as in the seed's ``NVPCouplingLayer``. ``s`` is bounded
    with :func:`soft_clamp` for stability. The last linear layer of both
    networks starts at zero, so that a new layer is the identity.

    Parameters
    ----------
    n_features : int
        Number of features.
    mask : torch.Tensor of shape (n_features,)
        The binary vector ``b``: 1 (or ``True``) where the feature passes
        unchanged and conditions the others.
    hidden_layer_sizes : sequence of int, default=(64, 64)
        Hidden widths of the ``s`` and ``t`` networks.
    activation : {'relu', 'tanh', 'logistic', 'identity'}, default='relu'
        Non-linearity of the ``s`` and ``t`` networks.
    log_scale_bound : float, default=2.0
        ``s`` stays within ``(-log_scale_bound, log_scale_bound)``.
    n_context : int, default=0
        Width of a conditioning input (a conditional flow's encoded ``y``)
        that the ``s`` and ``t`` networks read beside ``b*x``; 0: none.

    Attributes
    ----------
    mask : torch.Tensor of shape (n_features,)
        ``b`` as a floating-point buffer, saved in the ``state_dict``.
    scale_net : torch.nn.Sequential
        The ``s`` network before bounding.
    shift_net : torch.nn.Sequential
        The ``t`` network.

    Examples
    --------
    >>> import torch
    >>> from skae.modules.coupling import AffineCoupling
    >>> layer = AffineCoupling(3, torch.tensor([True, False, False]))
    >>> x = torch.randn(5, 3)
    >>> y, log_det = layer(x)
    >>> y.shape, log_det.shape
    (torch.Size([5, 3]), torch.Size([5]))
    >>> torch.allclose(layer.inverse(y), x)
    True
    """

    def __init__(
        self,
        n_features: int,
        mask: Tensor,
        hidden_layer_sizes: Sequence[int] = (64, 64),
        activation: str = "relu",
        log_scale_bound: float = 2.0,
        n_context: int = 0,
    ) -> None:
        mask = _checked_mask(mask, n_features)
        super().__init__(mask, log_scale_bound)
        sizes = [n_features + n_context, *hidden_layer_sizes, n_features]
        self.scale_net = make_mlp(sizes, activation)
        self.shift_net = make_mlp(sizes, activation)
        _zero_last_linear(self.scale_net)
        _zero_last_linear(self.shift_net)

    def log_scale_and_shift(
        self, x: Tensor, context: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Return ``(s(b*x), t(b*x))``, each of the shape of ``x``.

        With a box (:meth:`fit_box`) the networks read the conditioning
        features clamped to it; without one (the default) ``b*x`` as it is.
        A conditional coupling's networks read ``[b*x, context]``.
        """
        conditioner = self.conditioning_input(x)
        if context is not None:
            conditioner = torch.cat([conditioner, context], dim=-1)
        log_scale = soft_clamp(self.scale_net(conditioner), self.log_scale_bound)
        return log_scale, self.shift_net(conditioner)


class SplineCoupling(BoxedCoupling):
    """A coupling whose transform is a rational-quadratic spline.

    One network reads ``b*x`` (and a context) and outputs the
    :class:`~skae.modules.transforms.SplineTransform`'s ``3K - 1`` parameters
    for every feature; its last linear layer starts at zero, so that a new
    layer is exactly the identity (equal bins, unit slopes).

    Parameters
    ----------
    n_features : int
        Number of features.
    mask : torch.Tensor of shape (n_features,)
        The binary vector ``b``.
    hidden_layer_sizes : sequence of int, default=(64, 64)
        Hidden widths of the network.
    activation : {'relu', 'tanh', 'logistic', 'identity'}, default='relu'
        Its non-linearity.
    n_bins : int, default=8
        Bins of the spline.
    tail_bound : float, default=3.0
        The spline acts on ``[-tail_bound, tail_bound]``, the identity outside.
    n_context : int, default=0
        Width of a conditioning input read beside ``b*x``; 0: none.

    Examples
    --------
    >>> import torch
    >>> from skae.modules.coupling import SplineCoupling
    >>> layer = SplineCoupling(3, torch.tensor([True, False, False]), (8,))
    >>> x = torch.randn(5, 3)
    >>> y, log_det = layer(x)
    >>> bool(torch.allclose(y, x)), bool(log_det.abs().max() < 1e-6)
    (True, True)
    """

    def __init__(
        self,
        n_features: int,
        mask: Tensor,
        hidden_layer_sizes: Sequence[int] = (64, 64),
        activation: str = "relu",
        n_bins: int = 8,
        tail_bound: float = 3.0,
        n_context: int = 0,
    ) -> None:
        mask = _checked_mask(mask, n_features)
        transform = SplineTransform(n_bins, tail_bound)
        # log_scale_bound is the affine couplings'; a spline's slopes are
        # bounded below by MIN_DERIVATIVE and its bins by MIN_BIN.
        super().__init__(mask, 1.0, transform)
        sizes = [n_features + n_context, *hidden_layer_sizes]
        self.spline_net = make_mlp(
            [*sizes, n_features * transform.n_params], activation
        )
        _zero_last_linear(self.spline_net)

    def extra_repr(self) -> str:
        return repr(self.transform)

    def transform_parameters(
        self, x: Tensor, context: Tensor | None = None
    ) -> tuple[Tensor, ...]:
        """The spline's ``(widths, heights, derivatives)`` for every entry of
        ``x``, shapes ``x.shape + (K,)``, ``(K,)`` and ``(K - 1,)``."""
        conditioner = self.conditioning_input(x)
        if context is not None:
            conditioner = torch.cat([conditioner, context], dim=-1)
        raw = self.spline_net(conditioner)
        return self.transform.split(raw.unflatten(-1, (x.shape[-1], -1)))


def make_coupling(
    coupling: str,
    n_features: int,
    mask: Tensor,
    hidden_layer_sizes: Sequence[int],
    activation: str,
    log_scale_bound: float,
    n_bins: int,
    tail_bound: float,
    n_context: int,
) -> BoxedCoupling:
    """An :class:`AffineCoupling` or a :class:`SplineCoupling` (``coupling``)."""
    if coupling not in COUPLINGS:
        raise ValueError(f"coupling must be one of {COUPLINGS}, got {coupling!r}.")
    if coupling == "spline":
        return SplineCoupling(
            n_features,
            mask,
            hidden_layer_sizes,
            activation,
            n_bins,
            tail_bound,
            n_context,
        )
    return AffineCoupling(
        n_features, mask, hidden_layer_sizes, activation, log_scale_bound, n_context
    )


class Flow(nn.Module):
    """A normalizing flow: a list of bijections on flat rows and a base density.

    Each layer maps ``(n, d)`` rows to ``(n, d)`` rows with
    ``forward(x) -> (y, log|det dy/dx|)`` and an exact ``inverse(y)``; the
    first is an :class:`ElementwiseAffine`.  The flow implements skae's model
    protocol (:mod:`skae.modules.protocol`) and what
    :class:`skae.RealNVPDensity` and :class:`skae.losses.NegativeLogLikelihood`
    call: ``inverse``, ``base_log_prob``, ``set_base`` and ``fit_boxes``.
    :class:`RealNVP` (tabular) and
    :class:`skae.modules.image_flow.MultiscaleRealNVP` (images) build the
    layers.

    Parameters
    ----------
    layers : sequence of torch.nn.Module
        The bijections in the data-to-latent order, an
        :class:`ElementwiseAffine` first.

    Attributes
    ----------
    layers : torch.nn.ModuleList
    n_features : int
    base : torch.nn.Module or None
        The base density (None: the standard normal).
    """

    def __init__(self, layers: Sequence[nn.Module]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.n_features = self.layers[0].log_scale.shape[0]
        self.base: nn.Module | None = None

    def set_base(self, base: nn.Module | None) -> None:
        """Use ``base`` (a module with ``log_prob(z)``) as the base density.

        ``None`` is the standard normal.  A :class:`GaussianMixtureBase` fitted
        to the (whitened) data makes the untrained flow, the identity, that
        mixture.
        """
        self.base = base

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """As torch's, building a placeholder mixture base (or one per class)
        when the state has one."""
        if self.base is None and "base.means" in state_dict:
            n_components, n_features = state_dict["base.means"].shape
            self.set_base(GaussianMixtureBase.placeholder(n_components, n_features))
        elif self.base is None and "base.mixtures.0.means" in state_dict:
            self.set_base(ClassMixtureBase.placeholder(state_dict))
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def base_log_prob(self, z: Tensor, context: Tensor | None = None) -> Tensor:
        """``log p_Z(z)`` in float64: the standard normal, or the fitted base
        (given ``context`` when the base is conditional)."""
        if self.base is None:
            return standard_normal_log_prob(z.double())
        if getattr(self.base, "conditional", False):
            return self.base.log_prob(z, context)
        return self.base.log_prob(z)

    @staticmethod
    def _given(layer: nn.Module, context: Tensor | None) -> tuple:
        """The arguments after ``x`` of ``layer``: the context for a coupling."""
        return (
            (context,)
            if context is not None and isinstance(layer, BoxedCoupling)
            else ()
        )

    def forward(
        self, x: Tensor, context: Tensor | None = None, mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Map data ``x`` to ``(z, log|det dz/dx|)``, shapes ``(n, d)`` and ``(n,)``."""
        z, log_det = x, x.new_zeros(x.shape[:-1])
        for layer in self.layers:
            z, layer_log_det = layer(z, *self._given(layer, context))
            log_det = log_det + layer_log_det
        return z, log_det

    def inverse(self, z: Tensor, context: Tensor | None = None) -> Tensor:
        """Map latent ``z`` back to data space exactly."""
        x = z
        for layer in reversed(self.layers):
            x = layer.inverse(x, *self._given(layer, context))
        return x

    @torch.no_grad()
    def fit_boxes(
        self, x: Tensor, margin: float = 0.1, context: Tensor | None = None
    ) -> None:
        """Give every coupling the box of its own input on the data ``x``.

        Called after training: the flow is unchanged on (and near) the data,
        and stops scaling far from it (see :func:`boxed_affine_forward`).
        """
        z = x
        for layer in self.layers:
            if isinstance(layer, BoxedCoupling):
                layer.fit_box(z, margin)
            z, _ = layer(z, *self._given(layer, context))

    def encode(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """The latent point ``z = f(x)``."""
        return self(x, context)[0]

    def decode(self, z: Tensor, context: Tensor | None = None) -> Tensor:
        """The data point ``x = f^{-1}(z)``."""
        return self.inverse(z, context)

    def log_prob(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """Log-density of ``x`` in nats, shape ``(n_samples,)``.

        The Gaussian term is summed in float64: ``||z||^2`` of a point far from
        the data would overflow float32.
        """
        z, log_det = self(x, context)
        return self.base_log_prob(z, context) + log_det.double()

    def initialize_from_data(self, x: Tensor) -> None:
        """Set the first layer to standardise ``x`` (data-dependent start).

        Called before training, it makes the untrained flow the diagonal
        Gaussian fitted to ``x``, since the coupling layers start as the
        identity (and any other layer is a permutation).
        """
        self.layers[0].initialize_from_data(x)


class RealNVP(Flow):
    """Real NVP normalizing flow with a standard-normal base (Dinh et al., 2016).

    The flow ``f`` maps data to latent space: first an
    :class:`ElementwiseAffine` layer, then ``n_layers`` :class:`AffineCoupling`
    layers whose masks alternate between a half of the features and its
    complement. The density is ``log p(x) = log N(f(x); 0, I) + log|det J_f(x)|``
    and sampling is ``f^{-1}(z)`` with ``z ~ N(0, I)``. A new flow is the
    identity map, i.e. a standard normal density.

    Parameters
    ----------
    n_features : int
        Number of features; at least 1.
    n_layers : int, default=4
        Number of coupling layers; at least 0.
    hidden_layer_sizes : sequence of int, default=(64, 64)
        Hidden widths of every ``s`` and ``t`` network.
    activation : {'relu', 'tanh', 'logistic', 'identity'}, default='relu'
        Non-linearity of the ``s`` and ``t`` networks.
    mask : {'alternating', 'random'}, default='alternating'
        ``'alternating'`` uses :func:`alternating_masks` (first half, second
        half, ...); ``'random'`` uses :func:`random_masks`, as the seed's
        ``NVPNet``.
    log_scale_bound : float, default=2.0
        Bound on each coupling's log-scale ``s``.
    generator : torch.Generator, default=None
        Source of randomness for ``mask='random'``; the global one when
        ``None``. Network weights always use the global generator.
    n_context : int, default=0
        Width of the context every coupling's networks read (a conditional
        flow, ``p(x | y)``); 0: an unconditional flow.
    coupling : {'affine', 'spline'}, default='affine'
        :class:`AffineCoupling` or :class:`SplineCoupling` layers.
    n_bins : int, default=8
        Bins of every spline (``coupling='spline'``).
    tail_bound : float, default=3.0
        Every spline acts on ``[-tail_bound, tail_bound]``.

    Attributes
    ----------
    layers : torch.nn.ModuleList
        ``[ElementwiseAffine, AffineCoupling, ...]`` in the data-to-latent
        order. The masks are buffers, so a ``state_dict`` restores them.

    See Also
    --------
    skae.distributions.flow_nll : The per-sample training loss, applied to
        ``forward``'s output.

    Notes
    -----
    With ``n_features == 1`` there is nothing to condition on, so no coupling
    layer is built and ``n_layers``, ``hidden_layer_sizes``, ``activation``
    and ``mask`` are unused: the flow is the elementwise affine map alone and
    the model is a univariate Gaussian fitted by maximum likelihood.

    References
    ----------
    L. Dinh, J. Sohl-Dickstein and S. Bengio. Density estimation using Real
    NVP. ICLR 2017, arXiv:1605.08803.

    Examples
    --------
    >>> import torch
    >>> from skae.distributions import flow_nll
    >>> from skae.modules.coupling import RealNVP
    >>> _ = torch.manual_seed(0)
    >>> flow = RealNVP(3, n_layers=4, hidden_layer_sizes=(16,))
    >>> x = torch.randn(8, 3)
    >>> flow.initialize_from_data(x)
    >>> z, log_det = flow(x)
    >>> z.shape, log_det.shape, flow.log_prob(x).shape
    (torch.Size([8, 3]), torch.Size([8]), torch.Size([8]))
    >>> torch.allclose(flow.inverse(z), x, atol=1e-5)
    True
    >>> flow_nll(z, log_det).mean().backward()
    """

    def __init__(
        self,
        n_features: int,
        n_layers: int = 4,
        hidden_layer_sizes: Sequence[int] = (64, 64),
        activation: str = "relu",
        mask: str = "alternating",
        log_scale_bound: float = 2.0,
        generator: torch.Generator | None = None,
        n_context: int = 0,
        coupling: str = "affine",
        n_bins: int = 8,
        tail_bound: float = 3.0,
    ) -> None:
        if n_features < 1:
            raise ValueError(f"n_features must be at least 1, got {n_features}.")
        if n_layers < 0:
            raise ValueError(f"n_layers must be non-negative, got {n_layers}.")
        if mask not in MASK_STRATEGIES:
            raise ValueError(f"mask must be one of {MASK_STRATEGIES}, got {mask!r}.")
        if coupling not in COUPLINGS:
            raise ValueError(f"coupling must be one of {COUPLINGS}, got {coupling!r}.")
        if n_features == 1:
            masks = torch.zeros(0, 1, dtype=bool)
        elif mask == "alternating":
            masks = alternating_masks(n_features, n_layers)
        else:
            masks = random_masks(n_features, n_layers, generator)
        if coupling == "autoregressive":
            super().__init__(
                [
                    ElementwiseAffine(n_features),
                    *autoregressive_layers(
                        n_features,
                        len(masks),
                        mask,
                        generator,
                        hidden_layer_sizes,
                        activation,
                        n_bins,
                        tail_bound,
                        n_context,
                    ),
                ]
            )
            return
        couplings = [
            make_coupling(
                coupling,
                n_features,
                layer_mask,
                hidden_layer_sizes,
                activation,
                log_scale_bound,
                n_bins,
                tail_bound,
                n_context,
            )
            for layer_mask in masks
        ]
        super().__init__([ElementwiseAffine(n_features), *couplings])


def autoregressive_layers(
    n_features: int,
    n_layers: int,
    mask: str,
    generator: torch.Generator | None,
    hidden_layer_sizes: Sequence[int],
    activation: str,
    n_bins: int,
    tail_bound: float,
    n_context: int,
) -> list[nn.Module]:
    """``n_layers`` :class:`~skae.modules.autoregressive.AutoregressiveSpline`
    layers, their orders the features' and its reverse in turn
    (``mask='alternating'``) or random permutations (``'random'``)."""
    from skae.modules.autoregressive import AutoregressiveSpline  # it builds on us

    natural = torch.arange(n_features)
    orders = [
        (natural if layer % 2 == 0 else natural.flip(0))
        if mask == "alternating"
        else torch.randperm(n_features, generator=generator)
        for layer in range(n_layers)
    ]
    return [
        AutoregressiveSpline(
            n_features,
            order,
            hidden_layer_sizes,
            activation,
            n_bins,
            tail_bound,
            n_context,
        )
        for order in orders
    ]
