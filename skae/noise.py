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

import torch

__all__ = [
    "GaussianNoise",
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


class GaussianNoise:
    """Batch transform ``x -> (x + sigma * eps, x)``; see :func:`additive_gaussian`.

    Parameters
    ----------
    sigma : float
        Standard deviation of the noise.
    """

    def __init__(self, sigma: float) -> None:
        self.sigma = sigma

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> tuple:
        return additive_gaussian(x, self.sigma, generator), x

    def __repr__(self) -> str:
        return f"GaussianNoise(sigma={self.sigma})"


class MaskingNoise:
    """Batch transform ``x -> (masked x, x)``; see :func:`masking`.

    Parameters
    ----------
    fraction : float
        Probability that an entry is set to zero.
    """

    def __init__(self, fraction: float) -> None:
        self.fraction = fraction

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> tuple:
        return masking(x, self.fraction, generator), x

    def __repr__(self) -> str:
        return f"MaskingNoise(fraction={self.fraction})"


class SaltAndPepperNoise:
    """Batch transform ``x -> (salt-and-peppered x, x)``; see :func:`salt_and_pepper`.

    Parameters
    ----------
    fraction : float
        Probability that an entry is destroyed.
    low, high : array-like of shape (n_features,)
        Per-feature minimum (pepper) and maximum (salt).  Kept as CPU tensors
        so that a pickled estimator loads on a machine without CUDA.
    """

    def __init__(self, fraction: float, low, high) -> None:
        self.fraction = fraction
        self.low = torch.as_tensor(low, dtype=torch.float32).cpu()
        self.high = torch.as_tensor(high, dtype=torch.float32).cpu()

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> tuple:
        return salt_and_pepper(x, self.fraction, self.low, self.high, generator), x

    def __repr__(self) -> str:
        return f"SaltAndPepperNoise(fraction={self.fraction})"
