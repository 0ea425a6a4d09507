"""The fast batch data path: whole batches sliced out of one tensor.

skorch's default :class:`skorch.dataset.Dataset` indexes one sample at a time and
collates afterwards; on small tabular data that per-sample work dominates the
training step.  Here the data live in one tensor, a batch is one slice (or one
``index_select`` of a shuffled permutation) and nothing is collated.
"""

from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch.utils.data import Dataset

BatchTransform = Callable[[torch.Tensor, torch.Generator], tuple[torch.Tensor, ...]]


class TensorDataset(Dataset):
    """All samples of one split as a single 2-D tensor.

    Parameters
    ----------
    X : torch.Tensor of shape (n_samples, n_features)
        The data, already on the device the network trains on.
    """

    def __init__(self, X: torch.Tensor) -> None:
        self.X = X

    def __len__(self) -> int:
        return self.X.shape[0]

    def __getitem__(self, i):  # pragma: no cover - the batch iterator slices instead
        return self.X[i], self.X[i]


def n_validation(fraction: float, n_samples: int) -> int:
    """Size of the validation split: ``round(fraction * n)``, within ``[1, n-1]``."""
    return min(max(round(fraction * n_samples), 1), n_samples - 1)


class HoldOutSplit:
    """Seeded random split of a :class:`TensorDataset` into train and validation.

    Used as skorch's ``train_split``.  At least one sample lands on each side.

    Parameters
    ----------
    fraction : float
        Proportion of the samples held out for validation.
    seed : int
        Seed of the permutation.
    """

    def __init__(self, fraction: float, seed: int) -> None:
        self.fraction = fraction
        self.seed = seed

    def indices(self, n_samples: int) -> tuple[np.ndarray, np.ndarray]:
        """Sorted row indices ``(train, validation)`` of a set of ``n_samples``."""
        n_valid = n_validation(self.fraction, n_samples)
        perm = np.random.default_rng(self.seed).permutation(n_samples)
        return np.sort(perm[n_valid:]), np.sort(perm[:n_valid])

    def __call__(self, dataset: TensorDataset, y=None, **kwargs):
        train, valid = self.indices(len(dataset))
        index = torch.as_tensor(train, device=dataset.X.device)
        index_valid = torch.as_tensor(valid, device=dataset.X.device)
        return (
            TensorDataset(dataset.X.index_select(0, index)),
            TensorDataset(dataset.X.index_select(0, index_valid)),
        )


def identity_batch(Xb: torch.Tensor, generator: torch.Generator) -> tuple:
    """Input and target of an autoencoder batch: the batch itself, twice."""
    return Xb, Xb


class BatchIterator:
    """Iterate over ``(input, target)`` batches sliced from one tensor.

    Every pass over the iterator is one epoch.  With ``shuffle=True`` each epoch
    draws a fresh permutation from the iterator's own generator, so a fit is
    reproducible from ``seed`` alone and leaves torch's global RNG alone.

    Parameters
    ----------
    X : torch.Tensor of shape (n_samples, n_features)
        The data.
    batch_size : int
        Samples per batch; the last batch may be smaller.
    shuffle : bool
        Whether to permute the samples at every epoch.
    seed : int
        Seed of the permutation (and of ``batch_transform``'s randomness).
    batch_transform : callable, default=identity_batch
        ``(batch, generator) -> (input, target)``; a denoising autoencoder
        corrupts the input here.
    """

    def __init__(
        self,
        X: torch.Tensor,
        batch_size: int,
        *,
        shuffle: bool = False,
        seed: int = 0,
        batch_transform: BatchTransform = identity_batch,
    ) -> None:
        self.X = X
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.batch_transform = batch_transform
        self.generator = torch.Generator(device=X.device)
        self.generator.manual_seed(seed)

    def __len__(self) -> int:
        return -(-self.X.shape[0] // self.batch_size)

    def __iter__(self) -> Iterator[tuple]:
        n, size = self.X.shape[0], self.batch_size
        if not self.shuffle:
            for start in range(0, n, size):
                yield self.batch_transform(self.X[start : start + size], self.generator)
            return
        order = torch.randperm(n, generator=self.generator, device=self.X.device)
        for start in range(0, n, size):
            batch = self.X.index_select(0, order[start : start + size])
            yield self.batch_transform(batch, self.generator)
