"""The skorch net that trains every skae model, and its callbacks.

:class:`SkaeNet` is a :class:`skorch.NeuralNet` customised where skorch's
documentation says it is safe: ``get_loss`` asks the criterion (one per model,
see :mod:`skae.losses`) for :class:`~skae.losses.LossTerms` and records the
named terms with ``history.record_batch``; ``get_default_callbacks`` adds a
:class:`~skorch.callbacks.PassthroughScoring` per term, so that each epoch's
history has e.g. ``train_kl`` next to ``train_loss``.  Batches come from
``iterator_train`` / ``iterator_valid`` (:class:`skae._data.BatchIterator`);
``fit``, ``fit_loop``, ``run_single_epoch`` and ``train_step`` are skorch's, so
every callback hook (``on_batch_begin``, ``on_grad_computed``, ...) fires as in
a plain ``NeuralNet`` and a user's ``callbacks=[...]`` behave as in skorch.

Three per-batch shortcuts remain, all semantically neutral and tested against
skorch 1.4 (the pinned minor version; ``tests/test_training.py`` compares the
hook sequence with a plain ``NeuralNet``'s):

* :meth:`SkaeNet.notify` skips callbacks whose hook is :class:`Callback`'s own
  no-op; every hook that does something is called, in skorch's order;
* :class:`BatchHistory` writes to the current epoch and batch in constant time;
* :meth:`SkaeNet._set_training` switches train/eval mode only when it changes
  (skorch walks every submodule at every batch).
"""

import contextlib
import functools
import math
import time
import warnings
from collections.abc import Callable, Mapping
from copy import deepcopy

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from skorch import NeuralNet
from skorch.callbacks import (
    Callback,
    EarlyStopping,
    PassthroughScoring,
    PrintLog,
    ProgressBar,
)
from skorch.helper import predefined_split
from skorch.history import History
from torch.nn.parallel import DistributedDataParallel

from skae._data import BatchIterator, identity_batch


class DivergenceError(FloatingPointError):
    """Raised when the training or validation loss stops being finite, or
    grows far beyond the start's."""


class DivergenceGuard(Callback):
    """Stop a fit whose loss became NaN or infinite, or, in a training without
    held-out rows, grew past ``factor`` times the best so far, naming the epoch.

    With held-out rows early stopping restores the best epoch (the start
    included) after a blow-up.  Without them the reference is the smallest
    training loss known: the epochs so far (earlier ``partial_fit`` calls
    included) and the start's, computed once in eval mode before the first
    epoch.  A loss above ``reference + factor * max(1, |reference|)`` has
    exploded (the losses are in model space, of the order of the number of
    features at most).
    """

    def __init__(self, factor: float = 1e4) -> None:
        self.factor = factor

    def on_train_begin(self, net, X=None, y=None, **kwargs) -> None:
        self.start_ = None
        if len(net.history) == 0 and net.train_split is None and X is not None:
            start = net.dataset_loss(X)
            self.start_ = start if math.isfinite(start) else None

    def _reference(self, net) -> float | None:
        if net.train_split is not None:
            return None  # early stopping restores the best epoch
        known = [
            row["train_loss"]
            for row in net.history[:-1]
            if math.isfinite(row.get("train_loss", math.nan))
        ]
        start = getattr(self, "start_", None)
        return min([*known, *([] if start is None else [start])], default=None)

    def on_epoch_end(self, net, **kwargs) -> None:
        row = net.history[-1]
        reference = self._reference(net)
        factor = getattr(self, "factor", 1e4)  # a guard pickled before it had one
        for key in ("train_loss", "valid_loss"):
            value = row.get(key)
            if value is None:
                continue
            what = f"the {key.replace('_', ' ')}"
            if not math.isfinite(value):
                problem = f"{what} became {value}"
            elif reference is not None and value > reference + factor * max(
                1.0, abs(reference)
            ):
                problem = f"{what} grew from {reference:.4g} to {value:.4g}"
            else:
                continue
            raise DivergenceError(
                f"Training diverged: {problem} at epoch {row['epoch']}. Lower "
                "learning_rate_init, scale the input, or raise alpha."
            )


class WarmupCorruption:
    """A training-batch transform that corrupts until :meth:`end` is called.

    The denoising warm-up of :class:`StartAwareStopping`: ``corruption``
    (a :mod:`skae.noise` transform) while ``active``, then ``then`` (the
    model's own transform, usually none).

    Parameters
    ----------
    corruption, then : callable
        Batch transforms ``(x, generator) -> (input, target)``.

    Examples
    --------
    >>> import torch
    >>> from skae._data import identity_batch
    >>> from skae._training import WarmupCorruption
    >>> from skae.noise import GaussianNoise
    >>> warmup = WarmupCorruption(GaussianNoise(1.0), identity_batch)
    >>> x, g = torch.zeros(3, 2), torch.Generator().manual_seed(0)
    >>> bool(warmup(x, g)[0].abs().sum() > 0)
    True
    >>> warmup.end()
    >>> bool(warmup(x, g)[0].abs().sum() > 0)
    False
    """

    def __init__(self, corruption, then) -> None:
        self.corruption = corruption
        self.then = then
        self.active = True

    def end(self) -> None:
        """Stop corrupting: later batches get ``then``."""
        self.active = False

    def __call__(self, x: torch.Tensor, generator: torch.Generator):
        return (self.corruption if self.active else self.then)(x, generator)


class StartAwareStopping(EarlyStopping):
    """skorch's ``EarlyStopping`` for which the starting model is epoch 0.

    Before the first epoch it computes the monitored validation loss of the
    untrained module (a classical solution, when the model starts at one) and
    keeps its weights as the best so far; an epoch then has to beat it by
    ``threshold`` to count as an improvement, and with ``load_best`` the start
    is restored when no epoch did.  ``initial_score_`` holds that loss (None
    when there is no validation set).

    With ``warmup`` (a :class:`WarmupCorruption` that corrupts the training
    batches) training has two phases.  The first, denoising, phase ends where
    plain early stopping would stop (``patience`` epochs without
    improvement) or after ``warmup_epochs`` epochs; then the best weights so
    far are restored (with ``load_best``), the corruption ends, and training
    goes on with the same early stopping and fresh optimizer moments; the
    second phase has to beat the first phase's best.  ``warmup_epochs_``
    holds the length of the first phase (0 without ``warmup``).  The
    monitored loss is the clean one as long as validation batches are not
    corrupted.
    """

    def __init__(
        self,
        monitor="valid_loss",
        patience=5,
        threshold=1e-4,
        threshold_mode="rel",
        lower_is_better=True,
        sink=print,
        load_best=False,
        warmup=None,
        warmup_epochs=None,
    ) -> None:
        super().__init__(
            monitor=monitor,
            patience=patience,
            threshold=threshold,
            threshold_mode=threshold_mode,
            lower_is_better=lower_is_better,
            sink=sink,
            load_best=load_best,
        )
        self.warmup = warmup
        self.warmup_epochs = warmup_epochs

    def on_train_begin(self, net, X=None, y=None, **kwargs) -> None:
        super().on_train_begin(net, X=X, y=y, **kwargs)
        self.warmup_epochs_ = 0
        self.initial_score_ = None
        if self.monitor != "valid_loss" or net.train_split is None:
            return
        _, dataset_valid = net.get_split_datasets(X, y)
        if dataset_valid is None or len(dataset_valid) == 0:
            return
        self.initial_score_ = net.dataset_loss(dataset_valid)
        if math.isfinite(self.initial_score_):
            self.dynamic_threshold_ = self._calc_new_threshold(self.initial_score_)
            if self.load_best:
                self.best_model_weights_ = deepcopy(net.module_.state_dict())

    def on_train_end(self, net, **kwargs) -> None:
        """skorch's restore of the best weights, saying so when they are the
        start's (epoch 0: the classical solution was kept)."""
        last = net.history[-1, "epoch"] if len(net.history) else 0
        if not (
            self.load_best
            and self.best_epoch_ != last
            and self.best_model_weights_ is not None
        ):
            return
        net.module_.load_state_dict(self.best_model_weights_)
        if self.best_epoch_ == 0 and self.initial_score_ is not None:
            message = (
                f"Restoring the start (epoch 0): no epoch lowered its held-out "
                f"loss, {self.initial_score_:.6g}, by more than tol="
                f"{self.threshold:g}, so the classical start is the fitted model."
            )
        else:
            message = f"Restoring best model from epoch {self.best_epoch_}."
        self._sink(message, verbose=net.verbose)

    def _warming_up(self) -> bool:
        return self.warmup is not None and self.warmup.active

    def on_epoch_end(self, net, **kwargs) -> None:
        if not self._warming_up():
            super().on_epoch_end(net, **kwargs)
            return
        try:
            super().on_epoch_end(net, **kwargs)
        except KeyboardInterrupt:
            self._end_warmup(net)
            return
        if self.warmup_epochs is not None and len(net.history) >= self.warmup_epochs:
            self._end_warmup(net)

    def _end_warmup(self, net) -> None:
        """End the denoising phase: back to its best weights, clean batches."""
        self.warmup.end()
        self.warmup_epochs_ = len(net.history)
        self.misses_ = 0
        restore = self.load_best and self.best_model_weights_ is not None
        if restore:
            net.module_.load_state_dict(self.best_model_weights_)
        # Fresh moments, as for a new fit from these weights (the same
        # optimizer object, so that a user's LR scheduler keeps acting on it).
        net.optimizer_.state.clear()
        self._sink(
            f"Denoising warm-up ended after epoch {self.warmup_epochs_}"
            + (f"; restored epoch {self.best_epoch_}." if restore else "."),
            verbose=net.verbose,
        )


class BatchHistory(History):
    """skorch's ``History`` with constant-time writes to the current epoch.

    skorch's ``history[-1]`` copies the whole history to a list before
    indexing; the net writes to the current epoch and batch several times per
    batch, so those writes use the plain list lookup instead.  Reading, slicing
    and pickling are skorch's own.
    """

    def new_batch(self) -> None:
        list.__getitem__(self, -1)["batches"].append({})

    def record(self, attr: str, value) -> None:
        if not self:
            raise ValueError("Call new_epoch before recording for the first time.")
        list.__getitem__(self, -1)[attr] = value

    def record_batch(self, attr: str, value) -> None:
        list.__getitem__(self, -1)["batches"][-1][attr] = value


def _overrides(callback, hook: str) -> bool:
    return getattr(type(callback), hook, None) is not getattr(Callback, hook)


class SkaeNet(NeuralNet):
    """skorch net whose loss is the criterion's :class:`~skae.losses.LossTerms`.

    Parameters
    ----------
    *args, **kwargs
        As for :class:`skorch.NeuralNet`.  ``criterion`` is an instance (or
        class) of a skae objective with ``term_names`` and
        ``forward(output, target, *, module, x, ...) -> LossTerms``.
    """

    def __setstate__(self, state) -> None:
        # skorch reads the saved tensors with torch.load (weights only); a
        # damaged file's error would advise loading it unsafely.
        try:
            super().__setstate__(state)
        except Exception as error:
            raise ValueError(
                "The saved skorch net cannot be read: the file is damaged or was "
                f"not written by skae ({type(error).__name__}). Refit the model, "
                "or load an intact copy."
            ) from None

    def _term_names(self) -> tuple[str, ...]:
        criterion = getattr(self, "criterion_", self.criterion)
        return tuple(getattr(criterion, "term_names", ()))

    def get_default_callbacks(self):
        """skorch's defaults, plus a ``PassthroughScoring`` per named loss term."""
        callbacks = list(super().get_default_callbacks())
        names = [name for name, _ in callbacks]
        position = names.index("print_log") if "print_log" in names else len(names)
        terms = [
            (key, PassthroughScoring(name=key, on_train=prefix == "train"))
            for prefix in ("train", "valid")
            for key in (f"{prefix}_{term}" for term in self._term_names())
        ]
        return callbacks[:position] + terms + callbacks[position:]

    def _set_training(self, training: bool = True) -> None:
        for name in self._modules + self._criteria:
            module = getattr(self, name + "_")
            if isinstance(module, torch.nn.Module) and module.training != training:
                module.train(training)

    def initialize_history(self):
        """Start an empty :class:`BatchHistory`."""
        self.history_ = BatchHistory()
        return self

    def notify(self, method_name: str, **cb_kwargs) -> None:
        """As skorch's, without calling callbacks whose hook is the no-op default.

        Twice per batch skorch calls every callback's ``on_batch_begin`` /
        ``on_batch_end``; none of the default ones does anything there.
        """
        getattr(self, method_name)(self, **cb_kwargs)
        for _, callback in self.callbacks_:
            if _overrides(callback, method_name):
                getattr(callback, method_name)(self, **cb_kwargs)

    @property
    def plain_module(self) -> torch.nn.Module:
        """``module_`` without its data-parallel wrapper: what the criterion reads."""
        module = self.module_
        return module.module if isinstance(module, DistributedDataParallel) else module

    def dataset_loss(self, dataset) -> float:
        """Mean loss of the module over ``dataset`` in eval mode, recorded nowhere.

        Weighted by batch size, as skorch's epoch ``valid_loss`` is.
        """
        self._set_training(False)
        total, count = 0.0, 0
        with torch.no_grad():
            for Xi, yi in self.get_iterator(dataset, training=False):
                inputs = dict(Xi) if isinstance(Xi, Mapping) else {"x": Xi}
                output = self.infer(Xi)
                loss = self.criterion_(output, yi, module=self.plain_module, **inputs)
                total += loss.total.item() * len(yi)
                count += len(yi)
        return total / max(count, 1)

    def get_loss(self, y_pred, y_true, X=None, training: bool = False):
        """The criterion's total; its named terms go to the batch history."""
        inputs = dict(X) if isinstance(X, Mapping) else {"x": X}
        loss = self.criterion_(y_pred, y_true, module=self.plain_module, **inputs)
        prefix = "train" if training else "valid"
        for name, value in loss.terms.items():
            self.history.record_batch(f"{prefix}_{name}", value.item())
        return loss.total


@functools.cache
def has_fused_adam(device_type: str) -> bool:
    """Whether this torch has a fused Adam kernel for the device type.

    The fused kernel updates each parameter in one pass instead of about ten
    element-wise operations; the arithmetic is Adam's either way.
    """
    weight = torch.zeros(1, device=device_type, requires_grad=True)
    weight.grad = torch.zeros_like(weight)
    try:
        torch.optim.Adam([weight], fused=True).step()
    except RuntimeError:
        return False
    return True


def seed_torch(seed: int, device: torch.device) -> None:
    """Seed torch's global generators for a fit on ``device``.

    On CPU only the CPU generator is seeded: ``torch.manual_seed`` would also
    queue the seeding of every lazy accelerator backend.
    """
    if device.type == "cpu":
        torch.default_generator.manual_seed(seed)
    else:
        torch.manual_seed(seed)


@contextlib.contextmanager
def torch_threads(n_threads: int | None):
    """torch's intra-op threads set to ``n_threads`` (None: as they are) and
    restored afterwards.  The small matrix products of a network of flat rows
    gain nothing from a second thread, which only spins (and oversubscribes
    the cores of parallel fits; docs/guide.md#speed-and-memory)."""
    before = torch.get_num_threads()
    if n_threads is None or n_threads == before:
        yield
        return
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def phase(verbose, owner: str, what: str, times: dict | None = None):
    """Time a phase of a fit into ``times[what]`` (seconds); with ``verbose``,
    say what it did and how long it took."""
    start = time.perf_counter()
    yield
    seconds = time.perf_counter() - start
    if times is not None:
        times[what] = seconds
    if verbose:
        print(f"[{owner}] {what}: {seconds:.2f} s", flush=True)


def forked(device: torch.device) -> list:
    """The CUDA devices whose random state ``torch.random.fork_rng`` saves."""
    return [device.index or 0] if device.type == "cuda" else []


def _silent(*args, **kwargs) -> None:
    """A picklable sink that prints nothing (skorch callbacks' ``sink``)."""


def checked_callbacks(callbacks) -> list:
    """A user's ``callbacks`` as a list, or a ValueError naming the problem."""
    if callbacks is None:
        return []
    if isinstance(callbacks, (str, bytes)) or not hasattr(callbacks, "__iter__"):
        raise ValueError(
            "callbacks must be None or a list of skorch callbacks or "
            f"(name, callback) pairs, got {callbacks!r}."
        )
    return list(callbacks)


def check_validation_monitors(callbacks: list, validated: bool) -> None:
    """A ValueError for a user's callback that monitors a validation score
    (skorch's ``EarlyStopping()``) where the training holds nothing out."""
    if validated:
        return
    for item in callbacks:
        callback = item[1] if isinstance(item, tuple) else item
        monitor = getattr(callback, "monitor", None)
        if isinstance(monitor, str) and monitor.startswith("valid"):
            raise ValueError(
                f"{type(callback).__name__} monitors {monitor!r}, but this "
                "training holds no validation rows out (early_stopping=False, "
                "one sample, or partial_fit). Set early_stopping=True, or "
                "monitor='train_loss'."
            )


def _callbacks(params, validated: bool, warmup=None, warmup_epochs=None) -> list:
    sink = print if params.verbose else _silent
    stopping = StartAwareStopping(
        monitor="valid_loss" if validated else "train_loss",
        patience=params.n_iter_no_change,
        threshold=params.tol,
        threshold_mode="abs",
        sink=sink,
        load_best=validated,
        warmup=warmup,
        warmup_epochs=warmup_epochs,
    )
    own = [("divergence", DivergenceGuard()), ("stopping", stopping)]
    if params.verbose:
        own.append(("progress_bar", ProgressBar()))
    users = checked_callbacks(params.callbacks)
    check_validation_monitors(users, validated)
    return own + users


def build_net(
    params,
    policy,
    module: torch.nn.Module,
    criterion: torch.nn.Module,
    *,
    n_train: int,
    seed: int,
    device: torch.device,
    batch_transform: Callable,
    valid=None,
    warmup: Callable | None = None,
    accelerator=None,
) -> "SkaeNet":
    """The skorch net of a fit: Adam, skae's batches, early stopping.

    ``params`` are the estimator's, ``policy`` its model's
    :class:`~skae._parts.TrainingPolicy`.  With ``warmup`` (a corruption)
    training has a first, denoising phase, then goes on with
    ``batch_transform``'s batches (:class:`StartAwareStopping`): an int
    ``max_iter`` counts the epochs of both (at most half of them denoising);
    ``'auto'`` gives each phase its epochs, the phases sharing its budget of
    optimiser steps.  With an ``accelerate.Accelerator`` the net trains on
    its processes (:mod:`skae._distributed`).
    """
    net_class, accelerated = SkaeNet, {}
    if accelerator is not None:
        from skae._distributed import AcceleratedSkaeNet

        net_class, accelerated = AcceleratedSkaeNet, {"accelerator": accelerator}
    phases = 1 if warmup is None else 2
    batch_size = policy.batch_size(params.batch_size, n_train)
    # An epoch's row-features, for a budget of work (the flows' rows' width).
    epoch_work = n_train * getattr(module, "n_features", 1)
    epochs = policy.epochs(
        params.max_iter, -(-n_train // batch_size), phases, epoch_work
    )
    total = phases * epochs
    if params.max_iter != "auto":  # max_iter=n never runs more than n epochs
        epochs, total = max(1, -(-params.max_iter // phases)), params.max_iter
    train_transform = batch_transform
    if warmup is not None:
        train_transform = WarmupCorruption(warmup, batch_transform)
    return net_class(
        module=module,
        criterion=criterion,
        optimizer=torch.optim.Adam,
        optimizer__weight_decay=params.alpha,
        optimizer__fused=has_fused_adam(device.type),
        lr=params.learning_rate_init,
        max_epochs=total,
        batch_size=batch_size,
        iterator_train=BatchIterator,
        iterator_train__shuffle=True,
        iterator_train__seed=seed,
        iterator_train__batch_transform=train_transform,
        iterator_valid=BatchIterator,
        iterator_valid__seed=seed + 1,
        iterator_valid__batch_transform=(
            batch_transform
            if policy.corrupts_validation and valid is not None
            else identity_batch
        ),
        train_split=None if valid is None else predefined_split(valid),
        callbacks=_callbacks(
            params,
            valid is not None,
            None if warmup is None else train_transform,
            None if warmup is None else epochs,
        ),
        device=device,
        verbose=params.verbose,
        callbacks__print_log=PrintLog() if params.verbose else None,
        **accelerated,
    )


def history_curve(net: "SkaeNet", key: str) -> list:
    """Per-epoch values of ``key`` in the net's history (complete epochs)."""
    # partial_fit epochs have no validation entries.
    return [row[key] for row in net.history if "train_loss" in row and key in row]


def history_record(net: "SkaeNet", params, owner: str, *, warn: bool) -> dict:
    """The fitted attributes read from the net's history: ``n_iter_``,
    ``loss_curve_``, ``validation_loss_curve_``, ``best_loss_``,
    ``initial_validation_loss_`` and ``warmup_epochs_`` (when ``fit`` ran
    its stopping rule)."""
    # An epoch cut short (KeyboardInterrupt) has no epoch-level loss: skip it.
    epochs = [row for row in net.history if "train_loss" in row]
    record = {"n_iter_": len(epochs)}
    record["loss_curve_"] = losses = [row["train_loss"] for row in epochs]
    monitored = losses
    record["validation_loss_curve_"] = None
    if params.early_stopping:
        record["validation_loss_curve_"] = [
            row["valid_loss"] for row in epochs if "valid_loss" in row
        ]
        monitored = record["validation_loss_curve_"] or losses
    stopping = dict(net.callbacks_).get("stopping")
    if stopping is not None:
        record["warmup_epochs_"] = stopping.warmup_epochs_
    start = getattr(stopping, "initial_score_", None)
    record["initial_validation_loss_"] = start
    starts = [] if start is None else [start]
    record["best_loss_"] = float(min([*monitored, *starts], default=np.inf))
    # max_iter='auto' is skae's training budget: reaching it is the designed
    # end of a default fit, not a warning the user could act on.
    user_limit = params.max_iter != "auto"
    if warn and user_limit and record["n_iter_"] == net.max_epochs:
        warnings.warn(
            f"{owner} reached its limit of {record['n_iter_']} "
            f"epochs (max_iter={params.max_iter}) without "
            "converging; raise max_iter or tol.",
            ConvergenceWarning,
            stacklevel=4,
        )
    return record
