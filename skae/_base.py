"""The shared base of every skae estimator.

:class:`SkaeBase` holds what the four estimators have in common: the training
hyper-parameters and their constraints, data validation, internal scaling,
seeding, building the private skorch net in ``fit`` (kept as ``net_``), early
stopping / validation split / progress output through skorch callbacks, device
handling and batched inference.

A concrete estimator supplies

* its own ``__init__`` (explicit arguments; the body is
  ``self._store_init_arguments(locals())``),
* ``_build_module(n_features)``: the torch module, built under the fit's seed,
* ``_net_class`` and ``_net_kwargs()``: the skorch net and its extra arguments,
* optionally ``_scaling`` (``"global"``, ``"feature"`` or ``"none"``),
  ``_scaling_rows(X, seed)``, ``_check_fit_input(X)`` and
  ``_on_fitted(X_model)``.
"""

import functools
import numbers
import warnings
from collections.abc import Callable, Iterator
from typing import ClassVar

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array, check_random_state
from skorch.callbacks import EarlyStopping, PrintLog

from skae._data import HoldOutSplit, TensorDataset, n_validation
from skae._nets import DivergenceGuard, SkaeNet
from skae.utils._validation import (
    Interval,
    StrOptions,
    _fit_context,
    check_is_fitted,
    pandas_output_requested,
    validate_data,
)

_FLOAT_DTYPES = [np.float64, np.float32]


# Scaling statistics and conversions go through float64 blocks of about this
# many entries (4 MiB), never through a full-size float64 copy of the data:
# small enough to be reused from the allocator's heap and to stay in cache.
_BLOCK_ENTRIES = 2**19


def _block_rows(n_features: int) -> int:
    return max(1, _BLOCK_ENTRIES // max(n_features, 1))


def _float64_blocks(X: np.ndarray) -> Iterator[np.ndarray]:
    rows = _block_rows(X.shape[1])
    for start in range(0, X.shape[0], rows):
        yield np.asarray(X[start : start + rows], dtype=np.float64)


def _column_mean(X: np.ndarray) -> np.ndarray:
    """Per-column mean, accumulated in float64 block by block."""
    total = np.zeros(X.shape[1])
    for block in _float64_blocks(X):
        total += block.sum(axis=0)
    return total / X.shape[0]


def _overflow_safe_std(X: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Per-column standard deviation around ``mean`` that does not overflow.

    Each column is divided by its largest deviation before squaring.  The
    work goes block by block: no temporary as large as ``X`` is made.
    """
    peak = np.zeros(X.shape[1])
    for block in _float64_blocks(X):
        np.maximum(peak, np.abs(block - mean).max(axis=0), out=peak)
    peak[peak == 0] = 1.0
    total = np.zeros(X.shape[1])
    for block in _float64_blocks(X):
        total += (((block - mean) / peak) ** 2).sum(axis=0)
    return peak * np.sqrt(total / X.shape[0])


def _overflow_safe_rms(values: np.ndarray) -> float:
    """``sqrt(mean(values**2))`` without overflow."""
    peak = float(np.max(np.abs(values)))
    if peak == 0:
        return 0.0
    return peak * float(np.sqrt(np.mean((values / peak) ** 2)))


@functools.cache
def _has_fused_adam(device_type: str) -> bool:
    """Whether this torch has a fused Adam kernel for the device type.

    The fused kernel updates each parameter in one pass instead of about ten
    element-wise operations; on CPU (torch >= 2.4) that is the difference
    between the optimizer step costing a fraction of the backward pass and
    costing nearly nothing.  The arithmetic is Adam's either way.
    """
    weight = torch.zeros(1, device=device_type, requires_grad=True)
    weight.grad = torch.zeros_like(weight)
    try:
        torch.optim.Adam([weight], fused=True).step()
    except RuntimeError:
        return False
    return True


def _seed_torch(seed: int, device: torch.device) -> None:
    """Seed torch's global generators for a fit on ``device``.

    On CPU only the CPU generator is seeded: ``torch.manual_seed`` would also
    queue the seeding of every lazy accelerator backend, formatting a stack
    trace for each: a few hundred microseconds per fit.
    """
    if device.type == "cpu":
        torch.default_generator.manual_seed(seed)
    else:
        torch.manual_seed(seed)


def _silent(*args, **kwargs) -> None:
    """A picklable sink that prints nothing (skorch callbacks' ``sink``)."""


class SkaeBase(BaseEstimator):
    """Shared machinery of the skae estimators; not an estimator by itself.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int
        Widths of the hidden layers.
    activation : {'identity', 'logistic', 'tanh', 'relu'}
        Non-linearity of the hidden layers.
    batch_size : int or 'auto'
        Mini-batch size; ``'auto'`` means ``min(200, n_samples)``.
    learning_rate_init : float
        Adam's step size.
    max_iter : int
        Maximum number of epochs.
    alpha : float
        L2 penalty, applied as Adam's ``weight_decay``.
    early_stopping : bool
        Hold out ``validation_fraction`` of the training data and stop when the
        validation loss has not improved by ``tol`` for ``n_iter_no_change``
        epochs; the best epoch's parameters are restored.
    validation_fraction : float
        Share of the training data held out when ``early_stopping`` is on.
    n_iter_no_change : int
        Patience, in epochs, of the stopping rule.
    tol : float
        Minimum decrease of the monitored loss that counts as an improvement.
        Without early stopping the training loss is monitored, as
        :class:`~sklearn.neural_network.MLPRegressor` does.
    random_state : int, RandomState instance or None
        Seeds weight initialisation, batch order, validation split and any
        noise drawn during training.
    verbose : int
        If positive, print skorch's per-epoch table.
    device : str
        Torch device to train and infer on, e.g. ``'cpu'`` or ``'cuda'``.
    """

    _parameter_constraints: ClassVar[dict] = {
        "hidden_layer_sizes": ["array-like"],
        "activation": [StrOptions({"identity", "logistic", "tanh", "relu"})],
        "batch_size": [
            StrOptions({"auto"}),
            Interval(numbers.Integral, 1, None, closed="left"),
        ],
        "learning_rate_init": [Interval(numbers.Real, 0, None, closed="neither")],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "alpha": [Interval(numbers.Real, 0, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left")],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "device": [str],
    }

    _net_class: type[SkaeNet] = SkaeNet
    _scaling: str = "global"
    _inference_rows: int = 8192

    def _store_init_arguments(self, arguments: dict) -> None:
        """Store every ``__init__`` argument under its own name, unvalidated.

        A concrete estimator's ``__init__`` lists its parameters explicitly (that
        is what scikit-learn's ``get_params`` reads) and its body is
        ``self._store_init_arguments(locals())``.
        """
        for name in self._get_param_names():
            setattr(self, name, arguments[name])

    # ------------------------------------------------------------------ hooks
    def _build_module(self, n_features: int) -> torch.nn.Module:
        raise NotImplementedError  # pragma: no cover - every subclass defines it

    def _net_kwargs(self) -> dict:
        """Extra keyword arguments of the skorch net (loss weights, ...)."""
        return {}

    def _check_fit_input(self, X: np.ndarray) -> None:
        """Reject training data the model cannot take (after generic checks)."""

    def _on_fitted(self, X_model: torch.Tensor) -> None:
        """Learn post-training statistics from the training data (model space)."""

    def _scaling_rows(self, X: np.ndarray, seed: int) -> np.ndarray:
        """The rows ``_fit_scaling`` learns from: all of ``X`` by default.

        A subclass whose scaling has many parameters returns the training
        part of the hold-out split here, so that the validation loss stays
        an honest held-out estimate.
        """
        return X

    # ------------------------------------------------------------- validation
    def _checked_hidden_layer_sizes(self) -> tuple[int, ...]:
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, numbers.Integral):
            sizes = (sizes,)
        sizes = tuple(sizes)
        if not all(
            isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 1
            for s in sizes
        ):
            raise ValueError(
                "hidden_layer_sizes must be a sequence of positive integers, got "
                f"{self.hidden_layer_sizes!r}."
            )
        return tuple(int(s) for s in sizes)

    def _torch_device(self) -> torch.device:
        try:
            device = torch.device(self.device)
        except (RuntimeError, ValueError) as exc:
            raise ValueError(f"device={self.device!r} is not a torch device.") from exc
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device={self.device!r} but CUDA is not available here.")
        return device

    def _validated(self, X, *, reset: bool) -> np.ndarray:
        if X is None:
            raise ValueError(
                f"{type(self).__name__} got X=None; expected a 2D array-like of "
                "shape (n_samples, n_features)."
            )
        return validate_data(self, X, dtype=_FLOAT_DTYPES, reset=reset)

    @staticmethod
    def _checked_n_samples(n_samples) -> int:
        """``sample``'s count: a positive integer, else a ValueError naming it."""
        if (
            isinstance(n_samples, bool)
            or not isinstance(n_samples, numbers.Integral)
            or n_samples < 1
        ):
            raise ValueError(
                f"n_samples must be a positive integer, got {n_samples!r}."
            )
        return int(n_samples)

    def _checked_latent(self, Z, width: int) -> np.ndarray:
        check_is_fitted(self)
        Z = check_array(Z, dtype=_FLOAT_DTYPES)
        if Z.shape[1] != width:
            raise ValueError(
                f"Z has {Z.shape[1]} columns, but {type(self).__name__} expects "
                f"{width} (its latent dimension)."
            )
        return Z

    # ---------------------------------------------------------------- scaling
    def _fit_scaling(self, X: np.ndarray) -> None:
        n_features = X.shape[1]
        if self._scaling == "none":
            self.mean_ = np.zeros(n_features)
            self.scale_ = np.ones(n_features)
            return
        self.mean_ = _column_mean(X)
        std = _overflow_safe_std(X, self.mean_)
        if self._scaling == "global":
            std = np.full(n_features, _overflow_safe_rms(std))
        std[~(std > np.finfo(np.float64).tiny)] = 1.0
        self.scale_ = std

    def _to_model(self, X: np.ndarray) -> np.ndarray:
        """User units to the network's input space (float32), block by block."""
        if X.ndim != 2:
            return ((X - self.mean_) / self.scale_).astype(np.float32)
        out = np.empty(X.shape, dtype=np.float32)
        rows = _block_rows(X.shape[1])
        for start in range(0, X.shape[0], rows):
            block = X[start : start + rows]
            out[start : start + block.shape[0]] = (block - self.mean_) / self.scale_
        return out

    def _from_model(self, X_model: np.ndarray) -> np.ndarray:
        """The network's input space back to user units (float64)."""
        return X_model.astype(np.float64) * self.scale_ + self.mean_

    def _log_det_scaling(self) -> float:
        """``log |det d(model)/d(user)|``: add to a model-space log-density."""
        return float(-np.sum(np.log(self.scale_)))

    # -------------------------------------------------------------------- fit
    def _seed(self) -> int:
        return int(
            check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        )

    def _resolved_batch_size(self, n_samples: int) -> int:
        if self.batch_size == "auto":
            return min(200, n_samples)
        return min(self.batch_size, n_samples)

    def _callbacks(self) -> list:
        sink = print if self.verbose else _silent
        monitor = "valid_loss" if self.early_stopping else "train_loss"
        stopping = EarlyStopping(
            monitor=monitor,
            patience=self.n_iter_no_change,
            threshold=self.tol,
            threshold_mode="abs",
            sink=sink,
            load_best=self.early_stopping,
        )
        return [("divergence", DivergenceGuard()), ("stopping", stopping)]

    def _build_net(self, n_features: int, n_train: int, seed: int, device) -> SkaeNet:
        train_split = None
        if self.early_stopping:
            train_split = HoldOutSplit(self.validation_fraction, seed)
        return self._net_class(
            module=self._build_module(n_features),
            criterion=torch.nn.MSELoss,
            optimizer=torch.optim.Adam,
            optimizer__weight_decay=self.alpha,
            optimizer__fused=_has_fused_adam(device.type),
            lr=self.learning_rate_init,
            max_epochs=self.max_iter,
            batch_size=self._resolved_batch_size(n_train),
            train_split=train_split,
            callbacks=self._callbacks(),
            device=device,
            verbose=self.verbose,
            callbacks__print_log=PrintLog() if self.verbose else None,
            seed=seed,
            **self._net_kwargs(),
        )

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the network on ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        X = self._validated(X, reset=True)
        self._checked_hidden_layer_sizes()
        device = self._torch_device()
        if self.early_stopping and X.shape[0] < 2:
            raise ValueError(
                "early_stopping needs at least 2 samples to hold out a validation "
                f"set, got {X.shape[0]} sample."
            )
        self._check_fit_input(X)
        seed = self._seed()
        self._fit_scaling(self._scaling_rows(X, seed))
        X_model = torch.from_numpy(self._to_model(X)).to(device)
        n_train = X.shape[0]
        if self.early_stopping:
            n_train -= n_validation(self.validation_fraction, n_train)
        forked = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=forked):
            _seed_torch(seed, device)
            net = self._build_net(X.shape[1], n_train, seed, device)
            net.fit(TensorDataset(X_model), None)
        self.net_ = net
        self._record_history()
        net.module_.eval()
        with torch.inference_mode():
            self._on_fitted(X_model)
        return self

    def _record_history(self) -> None:
        # An epoch cut short (KeyboardInterrupt) has no epoch-level loss: skip it.
        epochs = [row for row in self.net_.history if "train_loss" in row]
        self.n_iter_ = len(epochs)
        self.loss_curve_ = [row["train_loss"] for row in epochs]
        if self.early_stopping:
            self.validation_loss_curve_ = [
                row["valid_loss"] for row in epochs if "valid_loss" in row
            ]
            monitored = self.validation_loss_curve_
        else:
            self.validation_loss_curve_ = None
            monitored = self.loss_curve_
        self.best_loss_ = float(min(monitored, default=np.inf))
        if self.n_iter_ == self.max_iter:
            warnings.warn(
                f"{type(self).__name__} reached max_iter={self.max_iter} epochs "
                "without converging; raise max_iter or tol.",
                ConvergenceWarning,
                stacklevel=3,
            )

    # -------------------------------------------------------------- inference
    def _batched(
        self,
        fn: Callable[[torch.Tensor], torch.Tensor],
        A: np.ndarray,
        *,
        scale_input: bool = True,
        unscale_output: bool = False,
        dtype=np.float64,
    ) -> np.ndarray:
        """Apply ``fn`` to ``A`` in batches of rows, in eval mode, without grad.

        Only one batch at a time is converted to float32 and moved to the
        device, so the peak memory is the output plus one batch.
        """
        module = self.net_.module_
        module.eval()
        device = next(iter(module.parameters()), torch.empty(0)).device
        out = None
        with torch.inference_mode():
            for start in range(0, A.shape[0], self._inference_rows):
                block = A[start : start + self._inference_rows]
                block = self._to_model(block) if scale_input else block
                batch = torch.from_numpy(np.ascontiguousarray(block, dtype=np.float32))
                result = fn(batch.to(device)).cpu().numpy()
                if unscale_output:
                    result = self._from_model(result)
                if out is None:
                    out = np.empty((A.shape[0], *result.shape[1:]), dtype=dtype)
                out[start : start + result.shape[0]] = result
        return out

    def _as_input_space(self, X: np.ndarray):
        """Return data in the input space, as a DataFrame when pandas output is on."""
        if pandas_output_requested(self) and hasattr(self, "feature_names_in_"):
            return pd.DataFrame(X, columns=self.feature_names_in_)
        return X

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags
