"""Data-parallel fits: the skorch net under an ``accelerate.Accelerator``.

An estimator given ``accelerator=`` trains its net as skorch's
:class:`~skorch.hf.AccelerateMixin` does: the module is wrapped for
``torch.distributed`` data parallelism (``DistributedDataParallel``, gloo on
CPU, NCCL on GPU) by ``accelerator.prepare``, which also broadcasts rank 0's
warm-started parameters to every process.  What skae adds
(docs/guide.md#past-one-process-data-parallel-fits):

* every process walks the same sequence of *global* batches (the same
  seeded permutation) and trains on its share of each
  (:class:`ShardedBatches`), so ``batch_size`` is the global batch size and the
  averaged gradients are those of a one-process step;
* the history is skorch's :class:`~skorch.history.DistributedHistory`: each
  epoch's training and validation losses are over every process's batches,
  and the untrained model's validation loss (epoch 0) is all-reduced, so that
  early stopping decides the same on every process and they stop together;
* the seed of the fit (hold-out split, batch order) is rank 0's;
* after training the net is released into a plain
  :class:`~skae._training.SkaeNet` (unwrapped module and optimizer, a
  :class:`~skae._training.BatchHistory`), so the fitted estimator is the
  same kind of object as after a one-process fit (pickle, skops, ONNX).

``accelerate`` is imported only when an accelerator is given.
"""

import datetime
import os

import numpy as np
import torch
from skorch.hf import AccelerateMixin
from skorch.history import DistributedHistory
from torch.nn.modules.utils import consume_prefix_in_state_dict_if_present

from skae._data import BatchIterator
from skae._training import BatchHistory, SkaeNet, _silent, seed_torch


def process_setting(accelerator, seed: int) -> tuple[torch.device, int]:
    """This process's training device and rank 0's ``seed``.

    A CPU device is plain ``'cpu'`` (accelerate may name it ``cpu:0``, which
    a pickled net could not be loaded on).
    """
    device = accelerator.device
    if device.type == "cpu":
        device = torch.device("cpu")
    if accelerator.num_processes == 1:
        return device, seed
    from accelerate.utils import broadcast_object_list

    return device, int(broadcast_object_list([seed], from_process=0)[0])


def rank_seed(seed: int, rank: int) -> int:
    """A seed of process ``rank``'s own random draws in a fit seeded by ``seed``.

    Examples
    --------
    >>> from skae._distributed import rank_seed
    >>> rank_seed(0, 0) == rank_seed(0, 0) != rank_seed(0, 1)
    True
    """
    return int(np.random.SeedSequence([seed, rank]).generate_state(1)[0] >> 1)


class ShardedBatches:
    """One process's share of every batch of a :class:`~skae._data.BatchIterator`.

    Every process draws the same global batches (the same seeded order); a
    batch of ``m`` rows is cut into ``world_size`` consecutive shares and
    this process takes share ``rank`` (all ``m`` rows when ``m < world_size``,
    so that no process has an empty batch).  The batch transform (a
    denoiser's corruption) draws from a generator of its own per process.

    Parameters
    ----------
    batches : BatchIterator
        The global batches.
    rank, world_size : int
        This process and the number of processes.

    Examples
    --------
    >>> import torch
    >>> from skae._data import BatchIterator, TensorDataset
    >>> from skae._distributed import ShardedBatches
    >>> batches = BatchIterator(TensorDataset(torch.arange(10.0)[:, None]), 4)
    >>> [x.ravel().tolist() for x, _ in ShardedBatches(batches, 1, 2)]
    [[2.0, 3.0], [6.0, 7.0], [9.0]]
    """

    def __init__(self, batches: BatchIterator, rank: int, world_size: int) -> None:
        self.batches = batches
        self.rank = rank
        self.world_size = world_size
        self.seed = rank_seed(batches.seed, rank)
        self.generator = torch.Generator(device=batches.dataset.device)
        self.generator.manual_seed(self.seed)

    def __len__(self) -> int:
        return len(self.batches)

    def bounds(self, m: int) -> tuple[int, int]:
        """Start and end of this process's share of a batch of ``m`` rows."""
        if m < self.world_size:
            return 0, m
        return self.rank * m // self.world_size, (self.rank + 1) * m // self.world_size

    def share(self, index):
        """This process's rows of a batch (a slice or an index tensor)."""
        rows = range(index.start, index.stop) if isinstance(index, slice) else index
        low, high = self.bounds(len(rows))
        part = rows[low:high]
        return slice(part.start, part.stop) if isinstance(part, range) else part

    def __iter__(self):
        if not self.batches.shuffle:  # the same validation batches every pass
            self.generator.manual_seed(self.seed)
        for index in self.batches.batch_indices():
            yield self.batches.transformed(self.share(index), self.generator)

    def n_rows(self) -> int:
        """Rows of this process over one pass."""
        n, size = len(self.batches.dataset), self.batches.batch_size
        sizes = [min(size, n - start) for start in range(0, n, size)]
        return sum(high - low for low, high in map(self.bounds, sizes))


def _history_store(accelerator) -> torch.distributed.Store:
    """A fresh key-value store of this fit, served by rank 0 (a free port) at
    ``MASTER_ADDR``, for :class:`~skorch.history.DistributedHistory`."""
    from accelerate.utils import broadcast_object_list

    host = os.environ.get("MASTER_ADDR", "127.0.0.1")
    timeout = datetime.timedelta(minutes=30)
    world, main = accelerator.num_processes, accelerator.is_main_process
    store = (
        torch.distributed.TCPStore(
            host, 0, world, is_master=True, timeout=timeout, wait_for_workers=False
        )
        if main
        else None
    )
    port = int(broadcast_object_list([store.port if main else 0], from_process=0)[0])
    if not main:
        store = torch.distributed.TCPStore(host, port, world, timeout=timeout)
    return store


class AcceleratedSkaeNet(AccelerateMixin, SkaeNet):
    """:class:`~skae._training.SkaeNet` trained under an ``accelerate.Accelerator``.

    skorch's :class:`~skorch.hf.AccelerateMixin` with the batches of
    :class:`ShardedBatches`, a :class:`~skorch.history.DistributedHistory`
    across processes, an all-reduced :meth:`dataset_loss`, and
    :meth:`fit` ending in a plain ``SkaeNet`` (see the module's doc).  The
    device is the accelerator's, set by the estimator.
    """

    def __init__(self, *args, accelerator, **kwargs) -> None:
        sink = print if accelerator.is_main_process else _silent
        super().__init__(
            *args,
            accelerator=accelerator,
            unwrap_after_train=False,  # callbacks restore wrapped weights first
            callbacks__print_log__sink=sink,
            **kwargs,
        )
        if kwargs.get("callbacks__print_log") is None:  # no table to print
            self._forget("callbacks__print_log__sink")

    def _forget(self, name: str) -> None:
        vars(self).pop(name, None)
        self._params_to_validate.discard(name)

    def _initialize_callbacks(self):
        # The sink is set above (the mixin's 'auto' would pickle the accelerator).
        return super(AccelerateMixin, self)._initialize_callbacks()

    def _validate_params(self) -> None:
        # The mixin refuses a device with device placement: here the device
        # is the accelerator's own.
        super(AccelerateMixin, self)._validate_params()

    def _initialize_accelerator(self):
        # accelerate wraps every module it prepares on a CPU cluster, a
        # criterion without parameters too (which DistributedDataParallel
        # refuses): the mixin prepares only the criteria that train.
        criteria = self._criteria
        self._criteria = [
            name
            for name in criteria
            if any(p.requires_grad for p in getattr(self, name + "_").parameters())
        ]
        try:
            return super()._initialize_accelerator()
        finally:
            self._criteria = criteria

    @property
    def _parallel(self) -> bool:
        return self.accelerator.num_processes > 1

    def initialize_history(self):
        """A :class:`~skorch.history.DistributedHistory` over the processes."""
        if not self._parallel:
            return super().initialize_history()
        self.history_ = DistributedHistory(
            store=_history_store(self.accelerator),
            rank=self.accelerator.process_index,
            world_size=self.accelerator.num_processes,
        )
        return self

    def get_iterator(self, dataset, training: bool = False):
        """This process's share of the batches (:class:`ShardedBatches`)."""
        batches = super().get_iterator(dataset, training=training)
        if not self._parallel:
            return batches
        accelerator = self.accelerator
        return ShardedBatches(
            batches, accelerator.process_index, accelerator.num_processes
        )

    def dataset_loss(self, dataset) -> float:
        """The mean loss over every process's share of ``dataset``."""
        mean = super().dataset_loss(dataset)
        if not self._parallel:
            return mean
        rows = self.get_iterator(dataset, training=False).n_rows()
        sums = torch.tensor([mean * rows, rows], dtype=torch.float64)
        sums = self.accelerator.reduce(sums.to(self.accelerator.device), "sum")
        return float(sums[0] / sums[1])

    def fit(self, X, y=None, **fit_params):
        """skorch's ``fit``, then the net released into a plain ``SkaeNet``.

        The processes start from the same module; torch's draws in training
        (a VAE's noise) are then each process's own.
        """
        if self._parallel:
            rank = self.accelerator.process_index
            seed_torch(
                rank_seed(self.iterator_train__seed, rank), self.accelerator.device
            )
        super().fit(X, y, **fit_params)
        self._release()
        return self

    def _release(self) -> None:
        """Become the plain ``SkaeNet`` a one-process fit gives, and let the
        accelerator forget what it prepared for this fit."""
        prepared = [self.module_, self.criterion_, self.optimizer_]
        for registry in ("_models", "_optimizers"):
            kept = getattr(self.accelerator, registry, None)
            if isinstance(kept, list):
                kept[:] = [
                    item for item in kept if all(item is not p for p in prepared)
                ]
        self._unwrap_accelerator()
        optimizer = self.optimizer_
        self.optimizer_ = getattr(optimizer, "optimizer", optimizer)
        for _, callback in self.callbacks_:
            weights = getattr(callback, "best_model_weights_", None)
            if weights is not None:
                consume_prefix_in_state_dict_if_present(weights, "module.")
        history = self.history_
        if isinstance(history, DistributedHistory):
            self.history_ = BatchHistory(history.history.to_list())
            self.accelerator.wait_for_everyone()  # the store outlives every read
        for name in (
            "accelerator",
            "unwrap_after_train",
            "_wrapped_with_accelerator",
            "callbacks__print_log__sink",
        ):
            self._forget(name)
        self.__class__ = SkaeNet
