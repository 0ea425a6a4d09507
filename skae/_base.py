"""The scikit-learn face of every skae estimator, written once.

:class:`SkaeBase` holds the parameters shared by all estimators and their
constraints, data validation, fit orchestration (seeding, one hold-out split,
preprocessing, the skorch net), ``transform``, ``inverse_transform``,
``score_samples``, ``score``, ``sample``, feature names, output configuration
and tags.  It works over the model protocol of :mod:`skae.modules.protocol`:
the torch module encodes, decodes and (for density models) gives a
model-space ``log_prob``; a fitted preprocessing object
(:mod:`skae._preprocessing`) maps between the user's units and model space and
supplies the log-determinant.

A concrete estimator writes its own ``__init__`` (explicit arguments; the body
is ``self._store_init_arguments(locals())``), extends ``_parameter_constraints``
and fills in these hooks, each called by the base at one place:

``_build_module(spec)`` (required)
    The torch module for an :class:`~skae.modules.protocol.InputSpec`; called
    in ``fit`` under the fit's seed.
``_criterion()`` (required)
    The training objective, a criterion of :mod:`skae.losses`; called in
    ``fit``.
``_make_preprocessor()``
    An unfitted map; default: :class:`~skae._preprocessing.Standardizer`
    with ``_scaling`` (per channel for images, see ``_standardizer``).
    Fitted in ``fit`` on the training rows.
``_check_input(X)``
    Rejects data the model cannot score (a Bernoulli VAE's range); called by
    ``fit`` and ``score_samples``, not by ``transform``.
``_batch_transform(X_fit)``
    The training-batch corruption (``iterator_train__batch_transform``),
    given the rows the preprocessing was fitted on; default: none.
``_warmup_corruption()``
    The corruption of a first, denoising phase of ``fit`` (see
    :class:`~skae._training.StartAwareStopping`), or None (default); called
    after ``_warm_start``.  ``partial_fit`` has no warm-up.
``_warm_start(module, X_model, validation, seed)``
    Sets the freshly built module to a classical solution fitted on the
    float64 model-space rows ``X_model`` (all rows given to ``fit``;
    ``validation`` indexes the held-out ones, or is None; ``seed`` is the
    fit's); default: nothing.
    With early stopping the start counts as epoch 0: training has to beat
    its held-out loss, else the start is what ``fit`` returns.
``_on_fitted(X_model)``
    Learns post-training statistics (eval mode, no grad), e.g. the codes'
    mean and variance; called after ``fit`` and after every ``partial_fit``
    (then on that call's rows).  For sparse input ``X_model`` is a
    :class:`~skae._data.SparseDataset`, whose ``split`` gives dense blocks
    (:func:`~skae._data.dense_rows` gives all rows).
``_before_partial_fit()``
    Undoes what ``_on_fitted`` fixed that training must not see; called by
    ``partial_fit`` before each pass.  Default: lifts the fitted boxes.
``_latent_width()``
    Width of the codes; default ``n_components``.
``_image_dtype``
    The dtype networks compute in when ``image_shape`` is set (float32;
    None: the data's dtype, as for tables), see ``_model_dtype``.
``_sample_latent(n_samples, rng)``
    Latent points that ``sample`` decodes; default ``N(0, I)``.
``_log_prob_kwargs()``
    Extra arguments of the module's ``log_prob`` (the VAE's importance
    draws).
``_scores(X)``
    What ``score_samples`` returns for validated ``X``; default: the
    log-density (an autoencoder returns minus its reconstruction error).
``_observed_mask(X)``
    The training batches' mask of observed entries (1) for validated ``X``,
    or None (default) when every entry counts; called once in ``fit``.

Tables with categorical columns and missing values
(:class:`skae._tabular.TableMixin`) override ``_validated_rows``,
``_make_preprocessor``, ``_observed_mask`` and ``_as_input_space``.
"""

import copyreg
import functools
import numbers
import sys
import warnings
from collections.abc import Callable
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array, check_random_state
from skorch.callbacks import PrintLog, ProgressBar
from skorch.helper import predefined_split
from threadpoolctl import threadpool_limits

from skae._columns import check_numeric_and_complete
from skae._data import (
    BatchIterator,
    SparseDataset,
    TensorDataset,
    dense_rows,
    holdout_indices,
    identity_batch,
)
from skae._images import checked_image_shape, flattened_images, resolved_image_shape
from skae._params import are_positive_integers
from skae._persistence import NET_STATE, net_state, restore_net
from skae._preprocessing import Standardizer
from skae._training import (
    DivergenceGuard,
    SkaeNet,
    StartAwareStopping,
    WarmupCorruption,
)
from skae.modules.conv import feature_map_sizes
from skae.modules.protocol import InputSpec
from skae.utils._validation import (
    Interval,
    StrOptions,
    _fit_context,
    check_is_fitted,
    input_feature_names,
    output_container,
    validate_data,
)

_FLOAT_DTYPES = [np.float64, np.float32]
_TORCH_DTYPES = {
    np.dtype(np.float64): torch.float64,
    np.dtype(np.float32): torch.float32,
}


@functools.cache
def _has_fused_adam(device_type: str) -> bool:
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


def _seed_torch(seed: int, device: torch.device) -> None:
    """Seed torch's global generators for a fit on ``device``.

    On CPU only the CPU generator is seeded: ``torch.manual_seed`` would also
    queue the seeding of every lazy accelerator backend.
    """
    if device.type == "cpu":
        torch.default_generator.manual_seed(seed)
    else:
        torch.manual_seed(seed)


def _forked(device: torch.device) -> list:
    """The CUDA devices whose random state ``torch.random.fork_rng`` saves."""
    return [device.index or 0] if device.type == "cuda" else []


def _silent(*args, **kwargs) -> None:
    """A picklable sink that prints nothing (skorch callbacks' ``sink``)."""


def _checked_callbacks(callbacks) -> list:
    if callbacks is None:
        return []
    if isinstance(callbacks, (str, bytes)) or not hasattr(callbacks, "__iter__"):
        raise ValueError(
            "callbacks must be None or a list of skorch callbacks or "
            f"(name, callback) pairs, got {callbacks!r}."
        )
    return list(callbacks)


class SkaeBase(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Shared scikit-learn surface of the skae estimators; not an estimator itself.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int
        Widths of the hidden layers.
    activation : {'identity', 'logistic', 'tanh', 'relu'}
        Non-linearity of the hidden layers.
    batch_size : int or 'auto'
        Mini-batch size; ``'auto'`` means ``min(200, n_samples)``, or
        ``min(64, n_samples)`` for images.
    learning_rate_init : float
        Adam's step size.
    max_iter : int or 'auto'
        Maximum number of epochs; ``'auto'`` means ``_auto_epochs`` (200), at
        most about ``_auto_steps`` optimiser steps where a subclass sets it,
        or ``_image_epochs`` when ``image_shape`` is set.
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
    callbacks : list of skorch callbacks or (name, callback) pairs, or None
        Passed to the skorch net as skorch receives them, after skae's own
        (``GradientNormClipping``, ``LRScheduler``, ``Checkpoint``,
        ``ProgressBar``, ...).
    random_state : int, RandomState instance or None
        Seeds weight initialisation, batch order, validation split and any
        noise drawn during training.
    verbose : int
        If positive, print skorch's per-epoch table and a progress bar over
        each epoch's batches (skorch's ``ProgressBar``).
    device : str
        Torch device to train and infer on, e.g. ``'cpu'`` or ``'cuda'``.
    image_shape : tuple of int or None
        ``(C, H, W)`` or ``(H, W)`` when each row of ``X`` is a flattened image
        (:mod:`skae._images`); validated in ``fit`` into ``image_shape_``, given
        to ``_build_module`` as ``InputSpec.image_shape`` and, unless
        ``_scaling`` is ``'none'``, scaling the input per channel.

    Notes
    -----
    The network computes in the dtype of the training data: float64 input
    trains and infers in float64 (as :class:`~sklearn.neural_network.MLPRegressor`
    does), float32 input in float32; with ``image_shape`` set it computes in
    ``_image_dtype`` (float32).  Every method then gives a row the same
    result whatever batch it comes in, within floating-point rounding of
    that dtype.
    """

    _parameter_constraints: ClassVar[dict] = {
        "hidden_layer_sizes": ["array-like"],
        "activation": [StrOptions({"identity", "logistic", "tanh", "relu"})],
        "batch_size": [
            StrOptions({"auto"}),
            Interval(numbers.Integral, 1, None, closed="left"),
        ],
        "learning_rate_init": [Interval(numbers.Real, 0, None, closed="neither")],
        "max_iter": [
            StrOptions({"auto"}),
            Interval(numbers.Integral, 1, None, closed="left"),
        ],
        "alpha": [Interval(numbers.Real, 0, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left")],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "callbacks": [list, tuple, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "device": [str],
        "image_shape": [None, "array-like"],
    }

    _scaling: str = "global"
    _corrupts_validation: bool = False
    _inference_rows: int = 8192
    _image_dtype: type | None = np.float32
    _auto_epochs: int = 200
    _auto_steps: int | None = None  # 'auto' also stops near this many batches
    _image_epochs: int = 30

    def _store_init_arguments(self, arguments: dict) -> None:
        """Store every ``__init__`` argument under its own name, unvalidated.

        A concrete estimator's ``__init__`` lists its parameters explicitly (that
        is what scikit-learn's ``get_params`` reads) and its body is
        ``self._store_init_arguments(locals())``.
        """
        for name in self._get_param_names():
            setattr(self, name, arguments[name])

    # ------------------------------------------------------------------ hooks
    def _build_module(self, spec: InputSpec) -> torch.nn.Module:
        raise NotImplementedError  # pragma: no cover - every subclass defines it

    def _mlp_arguments(self, spec: InputSpec) -> tuple:
        """``(n_features, n_components, hidden_layer_sizes, activation)``."""
        return (
            spec.n_features,
            self.n_components,
            self._checked_hidden_layer_sizes(),
            self.activation,
        )

    def _network_options(self, spec: InputSpec) -> dict:
        """Keyword arguments of a module for images: ``image_shape``, ``channels``."""
        return {"image_shape": spec.image_shape, "channels": self.channels}

    def _widest_activation(self) -> int:
        """Values per row in the widest layer of the network (memory per row)."""
        shape = self._fitted_image_shape()
        if shape is None:
            return max(
                self.n_features_in_,
                self.n_components,
                *self._checked_hidden_layer_sizes(),
            )
        height, width = feature_map_sizes(*shape[1:])[1]
        return max(self.n_features_in_, self.channels * height * width)

    def _model_dtype(self, X) -> np.dtype:
        """The dtype the network computes in: ``X``'s, or ``_image_dtype`` for images.

        Convolutions in float64 are about five times slower than in float32
        on CPU; outputs keep ``X``'s dtype either way.
        """
        if self._fitted_image_shape() is None or self._image_dtype is None:
            return X.dtype
        return np.dtype(self._image_dtype)

    def _criterion(self) -> torch.nn.Module:
        raise NotImplementedError  # pragma: no cover - every subclass defines it

    def _make_preprocessor(self) -> Standardizer:
        return self._standardizer(Standardizer)

    def _standardizer(self, kind: type[Standardizer]) -> Standardizer:
        """A ``kind`` with ``_scaling``; per channel when the rows are images."""
        shape = self._fitted_image_shape()
        if shape is None or self._scaling == "none":
            return kind(self._scaling)
        return kind("channel", n_channels=shape[0])

    def _check_input(self, X: np.ndarray) -> None:
        """Reject data the model cannot take (after the generic checks)."""

    def _batch_transform(self, X_fit: np.ndarray) -> Callable:
        return identity_batch

    def _warmup_corruption(self) -> Callable | None:
        return None

    def _warm_start(
        self, module: torch.nn.Module, X_model: np.ndarray, validation, seed: int
    ) -> None:
        """Start ``module`` at a solution fitted to ``X_model`` (default: none)."""

    def _on_fitted(self, X_model: torch.Tensor) -> None:
        """Learn post-training statistics from the model-space training data."""

    def _before_partial_fit(self) -> None:
        """Prepare the fitted module for another pass of training.

        Default: lift every box fitted after training (``box_low`` /
        ``box_high`` buffers of the flow's couplings and of the residual
        branches); ``_on_fitted`` fits them again after the pass.
        """
        for layer in self.net_.module_.modules():
            if hasattr(layer, "box_low"):
                layer.box_low.fill_(-np.inf)
                layer.box_high.fill_(np.inf)

    def _latent_width(self) -> int:
        return self.n_components

    def _sample_latent(self, n_samples: int, rng: np.random.RandomState) -> np.ndarray:
        return rng.standard_normal((n_samples, self._latent_width()))

    def _log_prob_kwargs(self) -> dict:
        return {}

    def _observed_mask(self, X: np.ndarray) -> np.ndarray | None:
        """Training mask of observed entries (1) for ``X``; None: all observed."""
        return None

    # ------------------------------------------------------------- validation
    def _checked_hidden_layer_sizes(self) -> tuple[int, ...]:
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, numbers.Integral):
            sizes = (sizes,)
        sizes = tuple(sizes)
        if not are_positive_integers(sizes):
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

    def _reject_none(self, X) -> None:
        if X is None:
            raise ValueError(
                f"{type(self).__name__} got X=None; expected a 2D array-like of "
                "shape (n_samples, n_features)."
            )

    def _validated(self, X, *, reset: bool) -> np.ndarray:
        """``X`` as validated 2-D rows; with ``reset``, ``image_shape_`` too.

        Image arrays ``(n, H, W)`` / ``(n, C, H, W)`` are flattened first and,
        at fit, the width is checked against ``image_shape`` (a ``-1`` size is
        inferred from it; :mod:`skae._images`);
        the rows themselves are validated by ``_validated_rows``.
        """
        self._reject_none(X)
        name = type(self).__name__
        if reset:
            self.image_shape_ = checked_image_shape(self.image_shape)
        shape = self._fitted_image_shape()
        X = self._validated_rows(flattened_images(X, shape, name), reset=reset)
        if reset:
            self.image_shape_ = resolved_image_shape(shape, X.shape[1], name)
        return X

    def _validated_rows(self, X, *, reset: bool) -> np.ndarray:
        check_numeric_and_complete(X, type(self).__name__)
        return validate_data(
            self, X, dtype=_FLOAT_DTYPES, accept_sparse="csr", reset=reset
        )

    def _fitted_image_shape(self) -> tuple[int, int, int] | None:
        """``(C, H, W)`` of the fitted rows, or None (tables; older pickles)."""
        return getattr(self, "image_shape_", None)

    def _input_spec(self, n_features: int) -> InputSpec:
        """What ``_build_module`` is told about a model-space row."""
        return InputSpec(n_features, image_shape=self._fitted_image_shape())

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

    def _checked_latent(self, Z) -> np.ndarray:
        check_is_fitted(self)
        Z = check_array(Z, dtype=_FLOAT_DTYPES)
        width = self._latent_width()
        if Z.shape[1] != width:
            raise ValueError(
                f"Z has {Z.shape[1]} columns, but {type(self).__name__} expects "
                f"{width} (its latent dimension)."
            )
        return Z

    # -------------------------------------------------------------------- fit
    def _seed(self) -> int:
        return int(
            check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        )

    def _resolved_max_iter(self, n_train: int, phases: int = 1) -> int:
        """``max_iter``; 'auto': ``_auto_epochs``, for images ``_image_epochs``.

        With ``_auto_steps``, 'auto' on a table is also at most the epochs
        that make about that many optimiser steps on ``n_train`` rows, shared
        by ``phases`` training phases (a denoising warm-up and the rest).
        """
        if self.max_iter != "auto":
            return self.max_iter
        if self._fitted_image_shape() is not None:
            return self._image_epochs
        if self._auto_steps is None:
            return self._auto_epochs
        batches = -(-n_train // self._resolved_batch_size(n_train))
        steps = -(-self._auto_steps // phases)
        return max(1, min(self._auto_epochs, -(-steps // batches)))

    def _resolved_batch_size(self, n_samples: int) -> int:
        if self.batch_size == "auto":
            auto = 200 if self._fitted_image_shape() is None else 64
            return min(auto, n_samples)
        return min(self.batch_size, n_samples)

    def _split(self, n_samples: int, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
        """The one hold-out split of a fit: ``(train, validation or None)``."""
        if not self.early_stopping or n_samples < 2:
            # One sample cannot be split: it trains, and the training loss is
            # monitored (as without early stopping).
            return np.arange(n_samples), None
        return holdout_indices(n_samples, self.validation_fraction, seed)

    def _callbacks(
        self,
        validated: bool,
        warmup: WarmupCorruption | None = None,
        warmup_epochs: int | None = None,
    ) -> list:
        sink = print if self.verbose else _silent
        monitor = "valid_loss" if validated else "train_loss"
        stopping = StartAwareStopping(
            monitor=monitor,
            patience=self.n_iter_no_change,
            threshold=self.tol,
            threshold_mode="abs",
            sink=sink,
            load_best=validated,
            warmup=warmup,
            warmup_epochs=warmup_epochs,
        )
        own = [("divergence", DivergenceGuard()), ("stopping", stopping)]
        if self.verbose:
            own.append(("progress_bar", ProgressBar()))
        return own + _checked_callbacks(self.callbacks)

    def _build_net(
        self,
        module,
        n_train: int,
        seed: int,
        device,
        batch_transform,
        valid,
        warmup: Callable | None = None,
    ) -> SkaeNet:
        """The skorch net; with ``warmup`` (a corruption) training has a first,
        denoising phase of at most ``max_iter`` epochs, then goes on with
        ``batch_transform``'s batches, up to twice ``max_iter`` epochs in all
        (:class:`StartAwareStopping`)."""
        phases = 1 if warmup is None else 2
        epochs = self._resolved_max_iter(n_train, phases)
        train_transform = batch_transform
        if warmup is not None:
            train_transform = WarmupCorruption(warmup, batch_transform)
        return SkaeNet(
            module=module,
            criterion=self._criterion(),
            optimizer=torch.optim.Adam,
            optimizer__weight_decay=self.alpha,
            optimizer__fused=_has_fused_adam(device.type),
            lr=self.learning_rate_init,
            max_epochs=phases * epochs,
            batch_size=self._resolved_batch_size(n_train),
            iterator_train=BatchIterator,
            iterator_train__shuffle=True,
            iterator_train__seed=seed,
            iterator_train__batch_transform=train_transform,
            iterator_valid=BatchIterator,
            iterator_valid__seed=seed + 1,
            iterator_valid__batch_transform=(
                batch_transform
                if self._corrupts_validation and valid is not None
                else identity_batch
            ),
            train_split=None if valid is None else predefined_split(valid),
            callbacks=self._callbacks(
                valid is not None,
                None if warmup is None else train_transform,
                None if warmup is None else epochs,
            ),
            device=device,
            verbose=self.verbose,
            callbacks__print_log=PrintLog() if self.verbose else None,
        )

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the network on ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
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
        _checked_callbacks(self.callbacks)
        device = self._torch_device()
        self._check_input(X)
        seed = self._seed()
        train, valid = self._split(X.shape[0], seed)
        X_fit = X if valid is None else X[train]
        self.preprocessor_ = self._make_preprocessor().fit(X_fit)
        data, X_model = self._model_data(X, device)
        with torch.random.fork_rng(devices=_forked(device)):
            _seed_torch(seed, device)
            module = self._new_module(X, data, device, valid, seed)
            batch_transform = self._batch_transform(X_fit)
            net = self._build_net(
                module,
                len(train),
                seed,
                device,
                batch_transform,
                None if valid is None else data.subset(valid),
                warmup=self._warmup_corruption(),
            )
            net.fit(data if valid is None else data.subset(train), None)
            # Later passes (partial_fit) and a saved net use the plain transform
            # (skorch's set_params refuses iterator arguments once initialized).
            net.iterator_train__batch_transform = batch_transform
        self.net_ = net
        self._finish_training(X_model)
        return self

    def _model_data(self, X, device: torch.device) -> tuple:
        """``(dataset, X_model)``: the fitted preprocessing applied to ``X``.

        Dense ``X`` becomes one model-space tensor (``X_model``) and its
        :class:`TensorDataset`; sparse ``X`` a :class:`SparseDataset`, which
        densifies one batch at a time and is its own ``X_model``.
        """
        dtype = self._model_dtype(X)
        if sp.issparse(X):
            data = SparseDataset(X, self.preprocessor_, dtype, device)
            return data, data
        X_model = torch.from_numpy(self.preprocessor_.transform(X, dtype)).to(device)
        mask = self._observed_mask(X)
        if mask is not None:
            mask = torch.from_numpy(mask).to(device)
        return TensorDataset(X_model, mask=mask), X_model

    def _new_module(
        self, X, data, device: torch.device, valid, seed: int
    ) -> torch.nn.Module:
        """The untrained module for ``X``, warm-started, in its dtype on ``device``.

        The warm start sees the float64 model-space rows; sparse ``X`` is
        densified for it (as for the flow's boxes, see :func:`dense_rows`).
        """
        # In float64 while the warm start writes its float64 solution: written
        # into float32 parameters first, a float64 model would start off the
        # classical solution by float32 round-off (an AE at k >= rank: 1e-15
        # instead of PCA's 1e-31).
        module = self._build_module(self._input_spec(X.shape[1])).double()
        if sp.issparse(X):
            rows = dense_rows(data).double().cpu().numpy()
        else:
            rows = self.preprocessor_.transform(X, np.float64)
        # The classical fits are many small LAPACK/BLAS calls (an EM step's
        # SVD): threaded BLAS beside torch's spinning OpenMP workers made
        # them about 8x slower on 2 cores (a VAE on 5,000 x 100 rows: 226 s
        # against 27 s in one thread).
        with threadpool_limits(limits=1, user_api="blas"):
            self._warm_start(module, rows, valid, seed)
        return module.to(device=device, dtype=_TORCH_DTYPES[self._model_dtype(X)])

    def _finish_training(self, X_model, *, warn: bool = True) -> None:
        self._record_history(warn=warn)
        self.net_.module_.eval()
        with torch.inference_mode():
            self._on_fitted(X_model)

    def _start_incremental(self, X) -> None:
        """``partial_fit``'s first call: preprocessing, module and net, untrained."""
        device = self._torch_device()
        seed = self._seed()
        self.preprocessor_ = self._make_preprocessor().fit(X)
        with torch.random.fork_rng(devices=_forked(device)):
            _seed_torch(seed, device)
            data, _ = self._model_data(X, device)
            module = self._new_module(X, data, device, None, seed)
            net = self._build_net(
                module, sys.maxsize, seed, device, self._batch_transform(X), None
            )
            net.initialize()
        self.net_ = net
        self.warmup_epochs_ = 0  # partial_fit has no warm-up

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """Train the network for one pass (epoch) over the rows of ``X``.

        The first call validates the parameters, fits the preprocessing (the
        centring and scaling, whitening, a denoiser's corruption bounds) on
        its ``X`` and builds the network; later calls keep all of them, as
        :class:`~sklearn.decomposition.IncrementalPCA` keeps its first
        statistics, and continue training (also after :meth:`fit`).  Each
        call is one skorch ``partial_fit`` of one epoch, so every callback
        fires; the rows are visited in a fresh random order seeded by
        ``random_state`` and the number of epochs so far.
        ``early_stopping`` does not apply (as in
        :class:`~sklearn.neural_network.MLPRegressor`): every row trains and
        nothing is held out.  ``batch_size='auto'`` means 200.  Statistics
        learnt after training (the codes' mean and variance that
        :meth:`sample` uses, a flow's boxes) come from the last call's rows.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data of this call.
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        self : object
            The estimator, trained one more epoch.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn.datasets import load_digits
        >>> from skae import AutoencoderTransformer
        >>> X, _ = load_digits(return_X_y=True)
        >>> ae = AutoencoderTransformer(n_components=4, random_state=0)
        >>> for chunk in np.array_split(X, 4):
        ...     ae = ae.partial_fit(chunk)
        >>> ae.n_iter_, ae.transform(X[:2]).shape
        (4, (2, 4))
        """
        first_call = not hasattr(self, "net_")
        X = self._validated(X, reset=first_call)
        self._checked_hidden_layer_sizes()
        _checked_callbacks(self.callbacks)
        self._check_input(X)
        if first_call:
            self._start_incremental(X)
        net = self.net_
        if "stopping" in dict(net.callbacks_) or net.train_split is not None:
            net.set_params(callbacks__stopping=None, train_split=None)
            net.initialize_callbacks()  # drops the disabled one from callbacks_
        device = torch.device(net.device)
        entropy = [net.iterator_train__seed, len(net.history)]
        call_seed = int(np.random.SeedSequence(entropy).generate_state(1)[0] >> 1)
        order = np.random.default_rng(call_seed).permutation(X.shape[0])
        data, X_model = self._model_data(X[order], device)
        with torch.random.fork_rng(devices=_forked(device)):
            _seed_torch(call_seed, device)
            self._before_partial_fit()
            net.partial_fit(data, None, epochs=1)
        self._finish_training(X_model, warn=False)
        return self

    def _record_history(self, *, warn: bool = True) -> None:
        # An epoch cut short (KeyboardInterrupt) has no epoch-level loss: skip it.
        epochs = [row for row in self.net_.history if "train_loss" in row]
        self.n_iter_ = len(epochs)
        self.loss_curve_ = [row["train_loss"] for row in epochs]
        if self.early_stopping:
            self.validation_loss_curve_ = [
                row["valid_loss"] for row in epochs if "valid_loss" in row
            ]
            monitored = self.validation_loss_curve_ or self.loss_curve_
        else:
            self.validation_loss_curve_ = None
            monitored = self.loss_curve_
        stopping = dict(self.net_.callbacks_).get("stopping")
        if stopping is not None:
            self.warmup_epochs_ = stopping.warmup_epochs_
        start = getattr(stopping, "initial_score_", None)
        self.initial_validation_loss_ = start
        starts = [] if start is None else [start]
        self.best_loss_ = float(min([*monitored, *starts], default=np.inf))
        if warn and self.n_iter_ == self.net_.max_epochs:
            warmed = stopping is not None and stopping.warmup is not None
            per_phase = ", twice with a warm-up" if warmed else ""
            warnings.warn(
                f"{type(self).__name__} reached its limit of {self.n_iter_} "
                f"epochs (max_iter={self.max_iter}{per_phase}) without "
                "converging; raise max_iter or tol.",
                ConvergenceWarning,
                stacklevel=4,
            )

    def _history_curve(self, key: str) -> list:
        """Per-epoch values of ``key`` in the net's history (complete epochs)."""
        # partial_fit epochs have no validation entries.
        return [
            row[key] for row in self.net_.history if "train_loss" in row and key in row
        ]

    @property
    def mean_(self) -> np.ndarray:
        """Per-feature mean removed before the network (user units)."""
        return self.preprocessor_.mean_

    @property
    def scale_(self) -> np.ndarray:
        """Divisor applied after centring (user units)."""
        return self.preprocessor_.scale_

    # -------------------------------------------------------------- inference
    def _apply(
        self,
        fn: Callable[[torch.Tensor], torch.Tensor],
        A: np.ndarray,
        *,
        model_input: bool = True,
        user_output: bool = False,
        dtype=np.float64,
        masked: bool = False,
        rows: int | None = None,
    ) -> np.ndarray:
        """Apply ``fn`` to ``A`` in batches of rows, in eval mode, without grad.

        ``model_input`` maps each batch from user units to model space first;
        ``user_output`` maps the results back; ``masked`` calls
        ``fn(batch, mask)`` with the batch's mask of observed (non-NaN)
        entries; ``rows`` overrides the batch size.  The network computes in its
        own dtype (the training data's); one batch at a time is converted and
        moved to the device, so the peak memory is the output plus one batch.
        """
        module = self.net_.module_
        module.eval()
        reference = next(iter(module.parameters()), torch.empty(0))
        model_dtype = torch.empty(0, dtype=reference.dtype).numpy().dtype
        out = None
        rows = rows or self._inference_rows
        with torch.inference_mode():
            for start in range(0, A.shape[0], rows):
                block = A[start : start + rows]
                extra = ()
                if masked:
                    observed = np.isfinite(block).astype(model_dtype)
                    extra = (torch.from_numpy(observed).to(reference.device),)
                if model_input:
                    block = self.preprocessor_.transform(block, model_dtype)
                block = np.ascontiguousarray(block, dtype=model_dtype)
                if not block.flags.writeable:
                    block = block.copy()
                batch = torch.from_numpy(block)
                result = fn(batch.to(reference.device), *extra).cpu().numpy()
                if user_output:
                    result = self.preprocessor_.inverse_transform(result)
                if out is None:
                    out = np.empty((A.shape[0], *result.shape[1:]), dtype=dtype)
                out[start : start + result.shape[0]] = result
        return out

    def _as_input_space(self, X: np.ndarray, rng=None):
        """``X`` in the container ``set_output`` asks for, with input names.

        ``rng`` is the generator of :meth:`sample`, for outputs that are
        drawn (categorical columns, :class:`~skae._tabular.TableMixin`).
        """
        return output_container(self, X, input_feature_names(self))

    def transform(self, X):
        """Encode ``X`` into its codes.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data in the user's units.

        Returns
        -------
        Z : ndarray of shape (n_samples, n_latent)
            Same float dtype as ``X`` (float64 for other dtypes); a DataFrame
            when pandas (or polars) output is configured.
        """
        X = self._fitted_input(X)
        return self._apply(self.net_.module_.encode, X, dtype=X.dtype)

    def _decode(self, Z: np.ndarray) -> np.ndarray:
        return self._apply(
            self.net_.module_.decode,
            Z,
            model_input=False,
            user_output=True,
            dtype=Z.dtype,
        )

    def inverse_transform(self, X):
        """Decode codes back to the input space.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_latent)
            Codes, e.g. from :meth:`transform` or drawn as :meth:`sample` does.

        Returns
        -------
        X_original : ndarray or DataFrame of shape (n_samples, n_features_in_)
            In the user's units; a DataFrame (or polars frame) with the input
            column names when that output is configured.
        """
        return self._as_input_space(self._decode(self._checked_latent(X)))

    def _fitted_input(self, X) -> np.ndarray:
        check_is_fitted(self)
        return self._validated(X, reset=False)

    def _checked_input(self, X) -> np.ndarray:
        """Validated ``X`` that the model's likelihood can score."""
        X = self._fitted_input(X)
        self._check_input(X)
        return X

    def _scores(self, X: np.ndarray) -> np.ndarray:
        module, kwargs = self.net_.module_, self._log_prob_kwargs()
        log_density = self._apply(lambda batch: module.log_prob(batch, **kwargs), X)
        return log_density + self.preprocessor_.log_det()

    def score_samples(self, X):
        """Per-sample score: a log-density in nats, or minus a squared error.

        Density models (:class:`~skae.VAE`, :class:`~skae.RealNVPDensity`) give
        ``log p(x)`` in nats in the user's units: the module's model-space
        ``log_prob`` plus the preprocessing's log-determinant.  Autoencoders
        give minus the mean squared reconstruction error of each row, in the
        user's units.  Higher is better for both.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data in the user's units.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
        """
        X = self._checked_input(X)
        if not sp.issparse(X):
            return self._scores(X)
        rows = self._inference_rows
        blocks = (X[start : start + rows] for start in range(0, X.shape[0], rows))
        return np.concatenate([self._scores(block.toarray()) for block in blocks])

    def score(self, X, y=None) -> float:
        """Mean of :meth:`score_samples`.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data in the user's units.
        y : None
            Ignored.

        Returns
        -------
        score : float
        """
        return float(np.mean(self.score_samples(X)))

    def _sample_rows(self, n_samples, random_state) -> tuple[np.ndarray, object]:
        """Decoded latent draws in the user's units, and the generator used."""
        check_is_fitted(self)
        n_samples = self._checked_n_samples(n_samples)
        rng = check_random_state(random_state)
        return self._decode(self._sample_latent(n_samples, rng)), rng

    def sample(self, n_samples=1, random_state=None):
        """Decode latent draws into new samples.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples.
        random_state : int, RandomState instance or None, default=None
            Seed of the draws.

        Returns
        -------
        X : ndarray or DataFrame of shape (n_samples, n_features_in_)
            Samples in the user's units; a DataFrame (or polars frame) when
            that output is configured.
        """
        return self._as_input_space(*self._sample_rows(n_samples, random_state))

    # ----------------------------------------------------------- persistence
    def __reduce_ex__(self, protocol):
        # pickle, joblib and copy keep the skorch net as skorch pickles it.
        return copyreg.__newobj__, (type(self),), BaseEstimator.__getstate__(self)

    def __getstate__(self) -> dict:
        """The state with the fitted net as NumPy arrays and plain Python objects.

        This is what a serializer that reads ``__getstate__`` itself stores
        (:mod:`skops.io`): no torch or skorch object, only NumPy, Python,
        scikit-learn and skae types.  ``pickle`` keeps the skorch net instead.
        """
        state = dict(BaseEstimator.__getstate__(self))  # a copy of __dict__
        if "net_" in state:
            state[NET_STATE] = net_state(state.pop("net_"))
        return state

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        portable = state.pop(NET_STATE, None)
        BaseEstimator.__setstate__(self, state)
        if portable is not None:
            self.net_ = restore_net(self, portable)

    @property
    def _n_features_out(self) -> int:
        return self._latent_width()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.input_tags.sparse = True
        return tags
