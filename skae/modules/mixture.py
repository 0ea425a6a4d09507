"""A fixed Gaussian-mixture base density for a normalizing flow."""

import math

import numpy as np
import torch
from torch import Tensor, nn


class GaussianMixtureBase(nn.Module):
    """``log sum_m w_m N(z; mu_m, Sigma_m)``, evaluated in float64, not trained.

    Parameters
    ----------
    weights : array of shape (n_components,)
        Mixture weights (summing to one).
    means : array of shape (n_components, n_features)
    covariances : array of shape (n_components, n_features, n_features)
        Full covariance matrices (positive definite).

    Attributes
    ----------
    log_weights, means, precision_cholesky, covariance_cholesky : Tensor
        Float64 buffers; ``precision_cholesky[m] @ precision_cholesky[m].T``
        is the inverse of ``Sigma_m`` (scikit-learn's parameterisation).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skae.modules.mixture import GaussianMixtureBase
    >>> base = GaussianMixtureBase(np.ones(1), np.zeros((1, 2)), np.eye(2)[None])
    >>> round(float(base.log_prob(torch.zeros(1, 2))[0]), 4)
    -1.8379
    """

    def __init__(
        self, weights: np.ndarray, means: np.ndarray, covariances: np.ndarray
    ) -> None:
        super().__init__()
        covariance_cholesky = np.linalg.cholesky(covariances)
        eye = np.eye(means.shape[1])
        precision_cholesky = np.stack(
            [np.linalg.solve(chol, eye).T for chol in covariance_cholesky]
        )
        as_tensor = lambda a: torch.as_tensor(np.asarray(a, np.float64))  # noqa: E731
        self.register_buffer("log_weights", as_tensor(np.log(weights)))
        self.register_buffer("means", as_tensor(means))
        self.register_buffer("precision_cholesky", as_tensor(precision_cholesky))
        self.register_buffer("covariance_cholesky", as_tensor(covariance_cholesky))

    @classmethod
    def placeholder(cls, n_components: int, n_features: int) -> "GaussianMixtureBase":
        """A base of the given shape, for ``load_state_dict`` to fill in."""
        return cls(
            np.full(n_components, 1.0 / n_components),
            np.zeros((n_components, n_features)),
            np.tile(np.eye(n_features), (n_components, 1, 1)),
        )

    def _apply(self, fn, recurse=True):
        # Keep the buffers in float64 when the flow is cast to float32.
        result = super()._apply(fn, recurse)
        for name, buffer in self._buffers.items():
            if buffer is not None and buffer.dtype != torch.float64:
                self._buffers[name] = buffer.double()
        return result

    def log_prob(self, z: Tensor) -> Tensor:
        """Log-density of each row of ``z``, in float64, shape ``(n,)``."""
        z = z.double()
        d = z.shape[-1]
        # y[n, m] = (z_n - mu_m) @ P_m
        y = torch.einsum("nd,mde->nme", z, self.precision_cholesky) - torch.einsum(
            "md,mde->me", self.means, self.precision_cholesky
        )
        log_det = self.precision_cholesky.diagonal(dim1=-2, dim2=-1).log().sum(-1)
        log_normal = -0.5 * (y**2).sum(-1) + log_det - 0.5 * d * math.log(2 * math.pi)
        return torch.logsumexp(log_normal + self.log_weights, dim=-1)

    def sample(self, n_samples: int, rng: np.random.RandomState) -> np.ndarray:
        """``n_samples`` draws, with NumPy's generator ``rng``."""
        weights = np.exp(self.log_weights.cpu().numpy())
        labels = rng.choice(len(weights), size=n_samples, p=weights / weights.sum())
        means = self.means.cpu().numpy()
        chol = self.covariance_cholesky.cpu().numpy()
        eps = rng.standard_normal((n_samples, means.shape[1]))
        return means[labels] + np.einsum("nde,ne->nd", chol[labels], eps)


class ClassMixtureBase(nn.Module):
    """One :class:`GaussianMixtureBase` per class: ``log p(z | y)``.

    A conditional flow's base for class labels: the row's one-hot context
    picks its class's mixture.

    Parameters
    ----------
    mixtures : sequence of GaussianMixtureBase
        One per column of the one-hot context.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skae.modules.mixture import ClassMixtureBase, GaussianMixtureBase
    >>> one = lambda mean: GaussianMixtureBase(np.ones(1), mean, np.eye(2)[None])
    >>> base = ClassMixtureBase([one(np.zeros((1, 2))), one(np.ones((1, 2)))])
    >>> z, context = torch.zeros(2, 2), torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    >>> base.log_prob(z, context).round(decimals=4)
    tensor([-1.8379, -2.8379], dtype=torch.float64)
    """

    conditional = True

    def __init__(self, mixtures) -> None:
        super().__init__()
        self.mixtures = nn.ModuleList(mixtures)

    @classmethod
    def placeholder(cls, state_dict, prefix: str = "base.") -> "ClassMixtureBase":
        """A base of the shapes saved in ``state_dict``, for ``load_state_dict``."""
        mixtures, k = [], 0
        while f"{prefix}mixtures.{k}.means" in state_dict:
            shape = state_dict[f"{prefix}mixtures.{k}.means"].shape
            mixtures.append(GaussianMixtureBase.placeholder(*shape))
            k += 1
        return cls(mixtures)

    def log_prob(self, z: Tensor, context: Tensor) -> Tensor:
        """``log p(z | y)`` of each row, in float64, shape ``(n,)``."""
        if context is None:
            raise ValueError("A class-conditional base needs the context.")
        every = torch.stack([mixture.log_prob(z) for mixture in self.mixtures], 1)
        return every.gather(1, context.argmax(dim=1, keepdim=True)).squeeze(1)

    def sample(
        self, n_samples: int, rng: np.random.RandomState, context: np.ndarray
    ) -> np.ndarray:
        """One draw per row of the one-hot ``context``, class by class."""
        labels = np.asarray(context).argmax(axis=1)
        n_features = self.mixtures[0].means.shape[1]
        draws = np.empty((n_samples, n_features))
        for k in np.unique(labels):
            rows = labels == k
            draws[rows] = self.mixtures[k].sample(int(rows.sum()), rng)
        return draws
