"""Corruption processes of the denoising autoencoder (Vincent et al., 2010).

Each process turns a clean batch ``x`` into a corrupted batch ``x~``; the
denoising autoencoder is trained on the loss ``L(x, g(f(x~)))``.  The maths is
in three pure functions; the classes wrap them as picklable
``batch_transform`` callables ``(batch, generator) -> (x~, x)`` for the skorch
net, which applies them to training batches only.

All randomness comes from the ``torch.Generator`` passed in.  Draws are made on
the generator's device and moved to the batch's device, so the functions work
on CPU and CUDA tensors alike.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

__all__ = [
    "BatchCorruption",
    "GaussianNoise",
    "LatticeNoise",
    "MaskingNoise",
    "SaltAndPepperNoise",
    "additive_gaussian",
    "masking",
    "salt_and_pepper",
]


def _uniform(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    u = torch.rand(x.shape, generator=generator, device=generator.device)
    return u.to(device=x.device, dtype=x.dtype)


def _standard_normal(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    eps = torch.randn(x.shape, generator=generator, device=generator.device)
    return eps.to(device=x.device, dtype=x.dtype)


def additive_gaussian(
    x: torch.Tensor, sigma: float, generator: torch.Generator
) -> torch.Tensor:
    """Additive isotropic Gaussian noise: ``x~ = x + sigma * eps``, ``eps ~ N(0, I)``.

    Examples
    --------
    >>> import torch
    >>> from skae.noise import additive_gaussian
    >>> g = torch.Generator().manual_seed(0)
    >>> x_tilde = additive_gaussian(torch.zeros(10_000, 2), 0.5, g)
    >>> round(x_tilde.std().item(), 1)
    0.5
    """
    return x + sigma * _standard_normal(x, generator)


def masking(
    x: torch.Tensor, fraction: float, generator: torch.Generator
) -> torch.Tensor:
    """Masking noise: every entry is set to 0 with probability ``fraction``.

    Examples
    --------
    >>> import torch
    >>> from skae.noise import masking
    >>> g = torch.Generator().manual_seed(0)
    >>> x_tilde = masking(torch.ones(10_000, 2), 0.25, g)
    >>> round((x_tilde == 0).float().mean().item(), 2)
    0.25
    """
    destroyed = _uniform(x, generator) < fraction
    return x.masked_fill(destroyed, 0.0)


def salt_and_pepper(
    x: torch.Tensor,
    fraction: float,
    low: torch.Tensor,
    high: torch.Tensor,
    generator: torch.Generator,
) -> torch.Tensor:
    """Salt-and-pepper noise: destroyed entries become their feature's min or max.

    Each entry is destroyed independently with probability ``fraction``; a
    destroyed entry ``x_ij`` is set to ``high[j]`` (salt) or ``low[j]``
    (pepper) with probability 1/2 each.

    Parameters
    ----------
    x : torch.Tensor of shape (n_samples, n_features)
        Clean batch.
    fraction : float
        Probability that an entry is destroyed.
    low, high : torch.Tensor of shape (n_features,)
        Per-feature minimum and maximum.
    generator : torch.Generator
        Source of randomness.

    Returns
    -------
    x_tilde : torch.Tensor of shape (n_samples, n_features)

    Examples
    --------
    >>> import torch
    >>> from skae.noise import salt_and_pepper
    >>> g = torch.Generator().manual_seed(0)
    >>> low, high = torch.tensor([-1.0, 0.0]), torch.tensor([1.0, 5.0])
    >>> x_tilde = salt_and_pepper(torch.full((1000, 2), 0.5), 1.0, low, high, g)
    >>> sorted(x_tilde[:, 1].unique().tolist())
    [0.0, 5.0]
    """
    destroyed = _uniform(x, generator) < fraction
    salt = _uniform(x, generator) < 0.5
    low = low.to(device=x.device, dtype=x.dtype)
    high = high.to(device=x.device, dtype=x.dtype)
    return torch.where(destroyed, torch.where(salt, high, low), x)


@dataclass
class BatchCorruption:
    """A picklable batch transform ``x -> (process(x, level, ...), x)``.

    Parameters
    ----------
    process : callable
        One of :func:`additive_gaussian`, :func:`masking` or
        :func:`salt_and_pepper`.
    level : float
        The process's ``sigma`` or ``fraction``.
    bounds : tuple of torch.Tensor, default=()
        ``(low, high)`` for :func:`salt_and_pepper`, kept as float64 CPU
        tensors so that a pickled estimator loads on a machine without CUDA.
    """

    process: Callable = field(repr=False)
    level: float
    bounds: tuple = field(default=(), repr=False)

    def __post_init__(self) -> None:
        self.bounds = tuple(
            torch.as_tensor(b, dtype=torch.float64).cpu() for b in self.bounds
        )

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> tuple:
        return self.process(x, self.level, *self.bounds, generator), x

    def __getstate__(self) -> dict:
        # NumPy bounds: readable by serializers that refuse torch types (skops).
        bounds = tuple(bound.numpy() for bound in self.bounds)
        return {"process": self.process, "level": self.level, "bounds": bounds}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.__post_init__()


def GaussianNoise(sigma: float) -> BatchCorruption:
    """Batch transform ``x -> (x + sigma * eps, x)``; see :func:`additive_gaussian`."""
    return BatchCorruption(additive_gaussian, sigma)


def MaskingNoise(fraction: float) -> BatchCorruption:
    """Batch transform ``x -> (masked x, x)``; see :func:`masking`."""
    return BatchCorruption(masking, fraction)


def SaltAndPepperNoise(fraction: float, low, high) -> BatchCorruption:
    """Batch transform ``x -> (salt-and-peppered x, x)``; see :func:`salt_and_pepper`.

    ``low`` and ``high`` are the per-feature minimum (pepper) and maximum (salt).
    """
    return BatchCorruption(salt_and_pepper, fraction, (low, high))


@dataclass
class LatticeNoise:
    """Uniform dequantisation of lattice columns, in a linear model space.

    A training batch ``x`` of rows ``v @ matrix`` (``v``: the user's rows,
    standardised) becomes ``x + (u * steps) @ matrix`` with ``u ~ U[0, 1)``:
    each lattice column's value spread over one step above it
    (:func:`skae.metrics.dequantize_lattice`, drawn afresh for every batch),
    then ``then`` (another corruption, or None).

    Parameters
    ----------
    steps : torch.Tensor of shape (n_features,)
        The lattice step of each (standardised) column, 0 for the others.
    matrix : torch.Tensor of shape (n_features, n_features)
        The linear map to the model space (the whitening).
    then : callable or None, default=None
        A batch corruption applied afterwards.

    Examples
    --------
    >>> import torch
    >>> from skae.noise import LatticeNoise
    >>> noise = LatticeNoise(torch.tensor([1.0, 0.0]), torch.eye(2))
    >>> x, _ = noise(torch.zeros(1000, 2), torch.Generator().manual_seed(0))
    >>> bool(x[:, 0].min() >= 0), bool(x[:, 0].max() < 1), bool((x[:, 1] == 0).all())
    (True, True, True)
    """

    steps: torch.Tensor
    matrix: torch.Tensor
    then: Callable | None = field(default=None)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> tuple:
        shift = _uniform(x, generator) * self.steps.to(x.device, x.dtype)
        x = x + shift @ self.matrix.to(x.device, x.dtype)
        return (x, x) if self.then is None else self.then(x, generator)
