"""The batch data path: whole batches sliced out of one tensor.

skorch's default :class:`skorch.dataset.Dataset` indexes one sample at a time and
collates afterwards; on small tabular data that per-sample work dominates the
training step.  Here the data of one split live in one tensor, a batch is one
slice (or one ``index_select`` of a shuffled permutation) and nothing is
collated.  :class:`BatchIterator` is what the skorch net receives as
``iterator_train`` and ``iterator_valid``, so skorch's own ``get_iterator``
builds it with its ``iterator_train__*`` arguments (``batch_size`` included).

A batch is ``(X, target)``.  ``X`` is the input tensor, or, when the data
carry a conditioning input or a mask of observed entries, the dict
``{"x": ..., "context": ..., "mask": ...}`` that skorch's ``infer`` spreads
into the module's ``forward(x, context=None, mask=None)``.

Sparse input (CSR) stays sparse: :class:`SparseDataset` densifies and
preprocesses the rows of one batch at a time, so a fit never holds a dense
copy of the whole matrix.
"""

from collections.abc import Callable, Iterator

import numpy as np
import scipy.sparse as sp
import torch
from torch.utils.data import Dataset

BatchTransform = Callable[[torch.Tensor, torch.Generator], tuple[torch.Tensor, ...]]


def identity_batch(x: torch.Tensor, generator: torch.Generator) -> tuple:
    """Input and target of an autoencoder batch: the batch itself, twice."""
    return x, x


class TensorDataset(Dataset):
    """All samples of one split as tensors with a common first axis.

    Parameters
    ----------
    X : torch.Tensor of shape (n_samples, n_features)
        The model-space data, already on the training device.
    target : torch.Tensor or None, default=None
        What the model reconstructs; ``X`` itself when None.
    context : torch.Tensor or None, default=None
        Conditioning input of a conditional model.
    mask : torch.Tensor or None, default=None
        1 where an entry of ``X`` is observed, 0 where it is missing.

    Examples
    --------
    >>> import torch
    >>> from skae._data import TensorDataset
    >>> data = TensorDataset(torch.zeros(5, 2), context=torch.ones(5, 1))
    >>> X, target = data[1:3]
    >>> sorted(X), tuple(target.shape)
    (['context', 'x'], (2, 2))
    """

    def __init__(
        self,
        X: torch.Tensor,
        target: torch.Tensor | None = None,
        context: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> None:
        self.X = X
        self.target = target
        self.extras = {
            name: value
            for name, value in (("context", context), ("mask", mask))
            if value is not None
        }

    def __len__(self) -> int:
        return self.X.shape[0]

    @property
    def device(self) -> torch.device:
        """The device the tensors live on."""
        return self.X.device

    def __getitem__(self, index) -> tuple:
        """``(X, target)`` of the rows ``index`` (an int, a slice or indices)."""

        def rows(tensor: torch.Tensor) -> torch.Tensor:
            # index_select is several times faster than advanced indexing.
            if isinstance(index, torch.Tensor):
                return tensor.index_select(0, index)
            return tensor[index]

        x = rows(self.X)
        target = x if self.target is None else rows(self.target)
        if not self.extras:
            return x, target
        return {"x": x, **{k: rows(v) for k, v in self.extras.items()}}, target

    def subset(self, rows: np.ndarray) -> "TensorDataset":
        """The dataset restricted to ``rows`` (copied once, on the same device)."""
        index = torch.as_tensor(rows, device=self.X.device)

        def take(tensor: torch.Tensor | None) -> torch.Tensor | None:
            return None if tensor is None else tensor.index_select(0, index)

        return TensorDataset(
            take(self.X),
            take(self.target),
            take(self.extras.get("context")),
            take(self.extras.get("mask")),
        )


def n_validation(fraction: float, n_samples: int) -> int:
    """Size of the validation split: ``round(fraction * n)``, within ``[1, n-1]``."""
    return min(max(round(fraction * n_samples), 1), n_samples - 1)


def holdout_indices(
    n_samples: int, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted row indices ``(train, validation)`` of a seeded random split.

    At least one sample lands on each side.

    Examples
    --------
    >>> from skae._data import holdout_indices
    >>> train, valid = holdout_indices(10, 0.2, seed=0)
    >>> len(train), len(valid), sorted([*train, *valid]) == list(range(10))
    (8, 2, True)
    """
    n_valid = n_validation(fraction, n_samples)
    perm = np.random.default_rng(seed).permutation(n_samples)
    return np.sort(perm[n_valid:]), np.sort(perm[:n_valid])


class BatchIterator:
    """Iterate over ``(X, target)`` batches sliced from a :class:`TensorDataset`.

    Every pass over the iterator is one epoch.  With ``shuffle=True`` each epoch
    draws a fresh permutation from the iterator's own generator, so a fit is
    reproducible from ``seed`` alone and leaves torch's global RNG alone.
    skorch builds one iterator per call of ``fit``, with the net's
    ``iterator_train__*`` (or ``iterator_valid__*``) arguments.

    Parameters
    ----------
    dataset : TensorDataset
        The data.
    batch_size : int
        Samples per batch; the last batch may be smaller.
    shuffle : bool, default=False
        Whether to permute the samples at every epoch.
    seed : int, default=0
        Seed of the permutation (and of ``batch_transform``'s randomness).
        Without shuffling every pass restarts from it, so that repeated
        passes (validation epochs) see the same batches.
    batch_transform : callable, default=identity_batch
        ``(x, generator) -> (input, target)`` applied to the input of every
        batch; a denoising autoencoder corrupts the input here.  When the
        dataset has its own target, that target is kept.

    Examples
    --------
    >>> import torch
    >>> from skae._data import BatchIterator, TensorDataset
    >>> batches = BatchIterator(TensorDataset(torch.arange(10.0)[:, None]), 4)
    >>> [len(x) for x, _ in batches]
    [4, 4, 2]
    """

    def __init__(
        self,
        dataset: TensorDataset,
        batch_size: int,
        *,
        shuffle: bool = False,
        seed: int = 0,
        batch_transform: BatchTransform = identity_batch,
    ) -> None:
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.batch_transform = batch_transform
        self.seed = seed
        self.generator = torch.Generator(device=dataset.device)
        self.generator.manual_seed(seed)

    def __len__(self) -> int:
        return -(-len(self.dataset) // self.batch_size)

    def transformed(self, index, generator: torch.Generator | None = None) -> tuple:
        """The batch of rows ``index`` after ``batch_transform``, which draws
        from ``generator`` (the iterator's own when None)."""
        X, target = self.dataset[index]
        if self.batch_transform is identity_batch:
            return X, target
        x = X["x"] if isinstance(X, dict) else X
        generator = self.generator if generator is None else generator
        corrupted, clean = self.batch_transform(x, generator)
        if self.dataset.target is None:
            target = clean
        if isinstance(X, dict):
            return {**X, "x": corrupted}, target
        return corrupted, target

    def batch_indices(self) -> Iterator:
        """The rows of each batch of one pass: slices, or index tensors of a
        shuffled pass."""
        n, size = len(self.dataset), self.batch_size
        if not self.shuffle:
            # An unshuffled pass (validation) is the same every time, corruption
            # included: each pass restarts the generator.
            self.generator.manual_seed(self.seed)
            for start in range(0, n, size):
                yield slice(start, min(start + size, n))
            return
        device = self.dataset.device
        order = torch.randperm(n, generator=self.generator, device=device)
        for start in range(0, n, size):
            yield order[start : start + size]

    def __iter__(self) -> Iterator[tuple]:
        for index in self.batch_indices():
            yield self.transformed(index)


class SparseDataset(Dataset):
    """The rows of a CSR matrix, densified and preprocessed one batch at a time.

    It behaves as a :class:`TensorDataset` without target, context or mask:
    indexing gives ``(x, x)`` with ``x`` the model-space tensor of those rows,
    so :class:`BatchIterator` and skorch's training loop treat both alike.
    The dense rows of a batch are the same numbers a dense input gives.

    Parameters
    ----------
    X : scipy.sparse.csr_matrix of shape (n_samples, n_features)
        Data in the user's units.
    preprocessor : object
        A fitted map of :mod:`skae._preprocessing` (``transform(X, dtype)``).
    dtype : numpy dtype
        The network's dtype.
    device : torch.device
        The training device.

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> import torch
    >>> from skae._data import SparseDataset
    >>> from skae._preprocessing import Standardizer
    >>> X = sp.csr_matrix(np.eye(4))
    >>> scaler = Standardizer("none").fit(X)
    >>> data = SparseDataset(X, scaler, np.float64, torch.device("cpu"))
    >>> x, target = data[1:3]
    >>> x
    tensor([[0., 1., 0., 0.],
            [0., 0., 1., 0.]], dtype=torch.float64)
    """

    target = None
    extras: dict = {}  # noqa: RUF012 - read only, as TensorDataset's

    def __init__(self, X, preprocessor, dtype, device: torch.device) -> None:
        self.X = sp.csr_matrix(X)
        self.preprocessor = preprocessor
        self.dtype = np.dtype(dtype)
        self._device = torch.device(device)

    def __len__(self) -> int:
        return self.X.shape[0]

    @property
    def device(self) -> torch.device:
        """The device the batches are moved to."""
        return self._device

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_samples, n_features)``."""
        return self.X.shape

    def rows(self, index) -> torch.Tensor:
        """The model-space tensor of the rows ``index`` (a slice or indices)."""
        if isinstance(index, torch.Tensor):
            index = index.cpu().numpy()
        block = self.preprocessor.transform(self.X[index], self.dtype)
        return torch.from_numpy(block).to(self._device)

    def __getitem__(self, index) -> tuple:
        """``(x, x)`` of the rows ``index``."""
        x = self.rows(index)
        return x, x

    def split(self, size: int) -> Iterator[torch.Tensor]:
        """Consecutive model-space blocks of ``size`` rows (as ``Tensor.split``)."""
        for start in range(0, len(self), size):
            yield self.rows(slice(start, start + size))

    def subset(self, rows: np.ndarray) -> "SparseDataset":
        """The dataset restricted to ``rows``."""
        return SparseDataset(self.X[rows], self.preprocessor, self.dtype, self._device)


def dense_rows(X_model) -> torch.Tensor:
    """The model-space tensor of a :class:`SparseDataset`'s rows, or ``X_model``.

    For the few post-training statistics that need every row at once.
    """
    if isinstance(X_model, SparseDataset):
        return X_model.rows(slice(None))
    return X_model


def column_min_max(X) -> tuple[np.ndarray, np.ndarray]:
    """Per-column minimum and maximum (float64) of a dense or sparse matrix.

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> from skae._data import column_min_max
    >>> column_min_max(sp.csr_matrix(np.array([[1.0, -2.0], [0.0, 0.0]])))
    (array([ 0., -2.]), array([1., 0.]))
    """
    if sp.issparse(X):
        low, high = X.min(axis=0).toarray().ravel(), X.max(axis=0).toarray().ravel()
    else:
        low, high = np.nanmin(X, axis=0), np.nanmax(X, axis=0)
    return low.astype(np.float64), high.astype(np.float64)


def model_data(X, preprocessor, dtype, device, mask=None, context=None) -> tuple:
    """``(dataset, X_model)``: the fitted ``preprocessor`` applied to ``X``.

    Dense ``X`` becomes one model-space tensor (``X_model``) of ``dtype`` and
    its :class:`TensorDataset` (with the ``mask`` of observed entries and the
    encoded ``context``); sparse ``X`` a :class:`SparseDataset`, which
    densifies one batch at a time and is its own ``X_model``.
    """
    if sp.issparse(X):
        data = SparseDataset(X, preprocessor, dtype, device)
        return data, data
    X_model = torch.from_numpy(preprocessor.transform(X, dtype)).to(device)
    if mask is not None:
        mask = torch.from_numpy(mask).to(device)
    if context is not None:
        context = torch.from_numpy(context).to(device=device, dtype=X_model.dtype)
    return TensorDataset(X_model, mask=mask, context=context), X_model


def holdout_split(
    n_samples: int, early_stopping: bool, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """The one hold-out split of a fit: ``(train, validation or None)``.

    Without ``early_stopping``, or for one sample (which cannot be split),
    every row trains and the training loss is monitored.
    """
    if not early_stopping or n_samples < 2:
        return np.arange(n_samples), None
    return holdout_indices(n_samples, fraction, seed)


def data_dtype(data) -> torch.dtype:
    """The torch dtype of a dataset's rows (dense or sparse)."""
    if isinstance(data, SparseDataset):
        return _TORCH_DTYPES[np.dtype(data.dtype)]
    return data.X.dtype


_TORCH_DTYPES = {
    np.dtype(np.float64): torch.float64,
    np.dtype(np.float32): torch.float32,
}
