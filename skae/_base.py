"""The scikit-learn face of every skae estimator, written once.

An estimator is assembled from parts, and :class:`SkaeBase` only
orchestrates them:

* the **input layer** (:mod:`skae._tabular`) validates ``X`` (numbers,
  sparse rows, images, tables with categorical columns and missing values)
  and shapes the outputs;
* a **preprocessor** (:mod:`skae._preprocessing`), given by the model part and
  fitted once on the training rows of the one hold-out split, maps between
  the user's units and model space and supplies the log-determinant;
* a **model part** (:class:`~skae._parts.ModelPart`) builds the torch module
  (:mod:`skae.modules.protocol`), starts it at a classical solution, gives
  the objective, the post-fit statistics, latent draws and scores;
* a **training policy** (:class:`~skae._parts.TrainingPolicy`) says how long
  and in what batches the skorch net (:mod:`skae._training`) trains.

A concrete estimator writes its ``__init__`` (explicit arguments; the body is
``self._store_init_arguments(locals())``), extends ``_parameter_constraints``
and has **one** extension point:

``_make_part(image_shape)`` (required)
    The :class:`~skae._parts.ModelPart` for the estimator's parameters and
    the fitted ``(C, H, W)`` (None for tables); called in ``fit``,
    ``partial_fit`` and at inference.

Fitted state comes back from the parts as records (dicts of ``*_``
attributes) and :meth:`SkaeBase._set_fitted` is the one place that writes
them; a fit that fails leaves the estimator as it was.

The context ``y`` of a conditional model (a part whose ``context()`` is an
encoder, :mod:`skae._context`) flows through ``fit(X, y)``, the dataset, the
module and the objective, and ``transform(X, y)``, ``score_samples(X, y)``
and ``sample(n, y=...)``; models without one ignore ``y``.
"""

import copyreg
import numbers
import sys
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)
from sklearn.utils import check_array, check_random_state
from threadpoolctl import threadpool_limits

from skae._data import SparseDataset, TensorDataset, dense_rows, holdout_indices
from skae._inference import apply_rows
from skae._params import are_positive_integers
from skae._parts import ModelPart, params_of
from skae._persistence import NET_STATE, net_state, restore_net
from skae._tabular import (
    FLOAT_DTYPES,
    allows_nan,
    as_input_space,
    observed_mask,
    validated_input,
)
from skae._training import (
    build_net,
    checked_callbacks,
    forked,
    history_record,
    seed_torch,
)
from skae.modules.protocol import InputSpec
from skae.utils._validation import (
    Interval,
    StrOptions,
    _fit_context,
    check_is_fitted,
)

_VALIDATION_NAMES = ("n_features_in_", "feature_names_in_")
_TORCH_DTYPES = {
    np.dtype(np.float64): torch.float64,
    np.dtype(np.float32): torch.float32,
}


def _checked_hidden_layer_sizes(sizes) -> tuple[int, ...]:
    original = sizes
    if isinstance(sizes, numbers.Integral):
        sizes = (sizes,)
    sizes = tuple(sizes)
    if not are_positive_integers(sizes):
        raise ValueError(
            "hidden_layer_sizes must be a sequence of positive integers, got "
            f"{original!r}."
        )
    return tuple(int(s) for s in sizes)


def _torch_device(name) -> torch.device:
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError) as exc:
        raise ValueError(f"device={name!r} is not a torch device.") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={name!r} but CUDA is not available here.")
    return device


def _checked_n_samples(n_samples) -> int:
    """``sample``'s count: a positive integer, else a ValueError naming it."""
    if (
        isinstance(n_samples, bool)
        or not isinstance(n_samples, numbers.Integral)
        or n_samples < 1
    ):
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}.")
    return int(n_samples)


class SkaeBase(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Shared scikit-learn surface of the skae estimators; not an estimator itself.

    The shared parameters (``hidden_layer_sizes``, ``activation``,
    ``batch_size``, ``learning_rate_init``, ``max_iter``, ``alpha``,
    ``early_stopping``, ``validation_fraction``, ``n_iter_no_change``,
    ``tol``, ``callbacks``, ``random_state``, ``verbose``, ``device``,
    ``image_shape``) are documented in each estimator (:mod:`skae._params`).

    Notes
    -----
    The network computes in the dtype of the training data: float64 input
    trains and infers in float64 (as :class:`~sklearn.neural_network.MLPRegressor`
    does), float32 input in float32, unless the model part computes in its
    own dtype (float32 for images).  Every method then gives a row the same
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

    def _store_init_arguments(self, arguments: dict) -> None:
        """Store every ``__init__`` argument under its own name, unvalidated."""
        for name in self._get_param_names():
            setattr(self, name, arguments[name])

    def _make_part(self, image_shape) -> ModelPart:
        """The model part for the parameters and the fitted image shape."""
        raise NotImplementedError  # pragma: no cover - every subclass defines it

    def _set_fitted(self, fitted: dict, previous: dict | None = None) -> None:
        """The one place that writes fitted attributes.

        With ``previous`` (the state before a ``fit``), what an earlier fit
        learned and this one did not is dropped.
        """
        for name in previous or ():
            stale = name.endswith("_") and not name.startswith("_")
            if stale and name not in fitted and name not in _VALIDATION_NAMES:
                vars(self).pop(name, None)
        vars(self).update(fitted)

    def _run(self, step, *args) -> "SkaeBase":
        """Run a fitting ``step``; if it fails, the estimator is left as it was."""
        previous = dict(vars(self))
        try:
            fitted, reset = step(*args)
            self._set_fitted(fitted, previous if reset else None)
        except BaseException:
            vars(self).clear()
            vars(self).update(previous)
            raise
        return self

    # -------------------------------------------------------------------- fit
    def _seed(self) -> int:
        return int(
            check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        )

    def _split(self, n_samples: int, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
        """The one hold-out split of a fit: ``(train, validation or None)``."""
        if not self.early_stopping or n_samples < 2:
            # One sample cannot be split: it trains, and the training loss is
            # monitored (as without early stopping).
            return np.arange(n_samples), None
        return holdout_indices(n_samples, self.validation_fraction, seed)

    def _begin(self, X, *, reset: bool) -> tuple:
        """Validated ``X``, its fitted record (with ``reset``) and the part."""
        X, record = validated_input(self, X, reset=reset)
        _checked_hidden_layer_sizes(self.hidden_layer_sizes)
        checked_callbacks(self.callbacks)
        shape = record["image_shape_"] if reset else self.image_shape_
        part = self._make_part(shape)
        part.check_input(X)
        if reset:
            record["n_features_in_"] = self.n_features_in_
        return X, record, part

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the network on ``X`` (given ``y`` for a conditional model).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_context), default=None
            The context of a conditional model; ignored by the others.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._run(self._fit, X, y)

    def _fit(self, X, y) -> tuple[dict, bool]:
        X, fitted, part = self._begin(X, reset=True)
        device = _torch_device(self.device)
        seed = self._seed()
        train, valid = self._split(X.shape[0], seed)
        X_fit = X if valid is None else X[train]
        fitted["preprocessor_"] = part.preprocessor(fitted.get("heads_")).fit(X_fit)
        context = self._encoded_context(part, y, X.shape[0], train, fitted)
        data, X_model = self._model_data(X, device, part, fitted, context)
        with torch.random.fork_rng(devices=forked(device)):
            seed_torch(seed, device)
            module = self._new_module(X, data, device, valid, seed, part, fitted)
            batch_transform, corruption = part.batch_transform(X_fit, fitted)
            fitted.update(corruption)
            net = build_net(
                params_of(self),
                part.policy,
                module,
                part.criterion(fitted),
                n_train=len(train),
                seed=seed,
                device=device,
                batch_transform=batch_transform,
                valid=None if valid is None else data.subset(valid),
                warmup=part.warmup(fitted),
            )
            net.fit(data if valid is None else data.subset(train), None)
            # Later passes (partial_fit) and a saved net use the plain transform
            # (skorch's set_params refuses iterator arguments once initialized).
            net.iterator_train__batch_transform = batch_transform
        fitted["net_"] = net
        return self._finished(part, X_model, fitted, warn=True), True

    def _finished(self, part, X_model, fitted: dict, *, warn: bool) -> dict:
        """``fitted`` with what the history and the part's statistics add."""
        net = fitted["net_"]
        owner = type(self).__name__
        fitted.update(history_record(net, params_of(self), owner, warn=warn))
        net.module_.eval()
        with torch.inference_mode():
            fitted.update(part.finish(net.module_, X_model, fitted))
        return fitted

    def _encoded_context(self, part, y, n_samples, train, fitted) -> np.ndarray | None:
        encoder = part.context()
        if encoder is None:
            return None
        if y is None or len(y) != n_samples:
            raise ValueError(
                f"{type(self).__name__} is conditional: fit needs y with one "
                f"row per row of X ({n_samples})."
            )
        y_fit = y if len(train) == n_samples else np.asarray(y)[train]
        fitted["context_encoder_"] = encoder.fit(y_fit)
        return encoder.transform(y)

    def _context(self, y, n_rows: int, fitted=None) -> np.ndarray | None:
        """``y`` encoded for a fitted conditional model (None otherwise)."""
        encoder = (vars(self) if fitted is None else fitted).get("context_encoder_")
        if encoder is None:
            return None
        context = encoder.transform(y)
        if context.shape[0] != n_rows:
            raise ValueError(
                f"y has {context.shape[0]} rows, but {n_rows} are needed."
            )
        return context

    def _model_data(self, X, device, part, fitted, context=None) -> tuple:
        """``(dataset, X_model)``: the fitted preprocessing applied to ``X``.

        Dense ``X`` becomes one model-space tensor (``X_model``) and its
        :class:`TensorDataset`; sparse ``X`` a :class:`SparseDataset`, which
        densifies one batch at a time and is its own ``X_model``.
        """
        dtype = part.compute_dtype or X.dtype
        preprocessor = fitted["preprocessor_"]
        if sp.issparse(X):
            data = SparseDataset(X, preprocessor, dtype, device)
            return data, data
        X_model = torch.from_numpy(preprocessor.transform(X, dtype)).to(device)
        mask = observed_mask(fitted, X)
        if mask is not None:
            mask = torch.from_numpy(mask).to(device)
        if context is not None:
            context = torch.from_numpy(context).to(device=device, dtype=X_model.dtype)
        return TensorDataset(X_model, mask=mask, context=context), X_model

    def _new_module(self, X, data, device, valid, seed, part, fitted):
        """The untrained module for ``X``, warm-started, in its dtype on ``device``.

        The warm start sees the float64 model-space rows; sparse ``X`` is
        densified for it (as for the flow's boxes, see :func:`dense_rows`).
        """
        # In float64 while the warm start writes its float64 solution: written
        # into float32 parameters first, a float64 model would start off the
        # classical solution by float32 round-off (an AE at k >= rank: 1e-15
        # instead of PCA's 1e-31).
        encoder = fitted.get("context_encoder_")
        spec = InputSpec(
            X.shape[1],
            image_shape=fitted.get("image_shape_"),
            n_context=0 if encoder is None else encoder.n_context_,
        )
        module = part.build(spec).double()
        if sp.issparse(X):
            rows = dense_rows(data).double().cpu().numpy()
        else:
            rows = fitted["preprocessor_"].transform(X, np.float64)
        # The classical fits are many small LAPACK/BLAS calls (an EM step's
        # SVD): threaded BLAS beside torch's spinning OpenMP workers made
        # them about 8x slower on 2 cores (a VAE on 5,000 x 100 rows: 226 s
        # against 27 s in one thread).
        with threadpool_limits(limits=1, user_api="blas"):
            fitted.update(part.start(module, rows, valid, seed, fitted))
        dtype = _TORCH_DTYPES[np.dtype(part.compute_dtype or X.dtype)]
        return module.to(device=device, dtype=dtype)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """Train the network for one pass (epoch) over the rows of ``X``.

        The first call validates the parameters, fits the preprocessing on
        its ``X`` and builds the network; later calls keep them, as
        :class:`~sklearn.decomposition.IncrementalPCA` keeps its first
        statistics, and continue training (also after :meth:`fit`).  Each
        call is one skorch ``partial_fit`` of one epoch, so every callback
        fires; the rows are visited in a fresh random order seeded by
        ``random_state`` and the number of epochs so far.  Nothing is held
        out (``early_stopping`` does not apply, as in
        :class:`~sklearn.neural_network.MLPRegressor`); ``batch_size='auto'``
        means 200.  Statistics learnt after training (the codes' mean and
        variance, a flow's boxes) come from the last call's rows.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data of this call.
        y : array-like of shape (n_samples,) or (n_samples, n_context), default=None
            The context of a conditional model; ignored by the others.

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
        return self._run(self._partial_fit, X, y)

    def _partial_fit(self, X, y) -> tuple[dict, bool]:
        first_call = not hasattr(self, "net_")
        X, new, part = self._begin(X, reset=first_call)
        if first_call:
            new = self._incremental_start(X, y, part, new)
        fitted = {**vars(self), **new}
        net = fitted["net_"]
        if "stopping" in dict(net.callbacks_) or net.train_split is not None:
            net.set_params(callbacks__stopping=None, train_split=None)
            net.initialize_callbacks()  # drops the disabled one from callbacks_
        device = torch.device(net.device)
        entropy = [net.iterator_train__seed, len(net.history)]
        call_seed = int(np.random.SeedSequence(entropy).generate_state(1)[0] >> 1)
        order = np.random.default_rng(call_seed).permutation(X.shape[0])
        context = self._context(y, X.shape[0], fitted)
        context = None if context is None else context[order]
        data, X_model = self._model_data(X[order], device, part, fitted, context)
        with torch.random.fork_rng(devices=forked(device)):
            seed_torch(call_seed, device)
            part.before_partial_fit(net.module_)
            net.partial_fit(data, None, epochs=1)
        finished = self._finished(part, X_model, fitted, warn=False)
        learned = {k: v for k, v in finished.items() if k.endswith("_")}
        return {k: v for k, v in learned.items() if not k.startswith("_")}, False

    def _incremental_start(self, X, y, part, fitted: dict) -> dict:
        """``partial_fit``'s first call: preprocessing, module and net, untrained."""
        device = _torch_device(self.device)
        seed = self._seed()
        fitted["preprocessor_"] = part.preprocessor(fitted.get("heads_")).fit(X)
        self._encoded_context(part, y, X.shape[0], np.arange(X.shape[0]), fitted)
        with torch.random.fork_rng(devices=forked(device)):
            seed_torch(seed, device)
            data, _ = self._model_data(X, device, part, fitted)
            module = self._new_module(X, data, device, None, seed, part, fitted)
            batch_transform, corruption = part.batch_transform(X, fitted)
            fitted.update(corruption)
            net = build_net(
                params_of(self),
                part.policy,
                module,
                part.criterion(fitted),
                n_train=sys.maxsize,
                seed=seed,
                device=device,
                batch_transform=batch_transform,
            )
            net.initialize()
        fitted["net_"] = net
        fitted["warmup_epochs_"] = 0  # partial_fit has no warm-up
        return fitted

    @property
    def mean_(self) -> np.ndarray:
        """Per-feature mean removed before the network (user units)."""
        return self.preprocessor_.mean_

    @property
    def scale_(self) -> np.ndarray:
        """Divisor applied after centring (user units)."""
        return self.preprocessor_.scale_

    # -------------------------------------------------------------- inference
    def _fitted_part(self) -> ModelPart:
        check_is_fitted(self)
        return self._make_part(getattr(self, "image_shape_", None))

    def _fitted_input(self, X) -> np.ndarray:
        check_is_fitted(self)
        return validated_input(self, X, reset=False)[0]

    def transform(self, X, y=None):
        """Encode ``X`` into its codes.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data in the user's units.
        y : array-like, default=None
            The context of a conditional model; ignored by the others.

        Returns
        -------
        Z : ndarray of shape (n_samples, n_latent)
            Same float dtype as ``X`` (float64 for other dtypes); a DataFrame
            when pandas (or polars) output is configured.
        """
        X, part = self._fitted_input(X), self._fitted_part()
        module = self.net_.module_
        return apply_rows(
            vars(self),
            lambda batch, **given: module.encode(batch, **given),
            X,
            rows=part.inference_rows(vars(self)),
            dtype=X.dtype,
            context=self._context(y, X.shape[0]),
        )

    def fit_transform(self, X, y=None, **fit_params):
        """Fit to ``X`` (given ``y`` for a conditional model), then encode it."""
        return self.fit(X, y, **fit_params).transform(X, y)

    def _decode(self, Z: np.ndarray, context=None) -> np.ndarray:
        module = self.net_.module_
        return apply_rows(
            vars(self),
            lambda batch, **given: module.decode(batch, **given),
            Z,
            rows=self._fitted_part().inference_rows(vars(self)),
            model_input=False,
            user_output=True,
            dtype=Z.dtype,
            context=context,
        )

    def inverse_transform(self, X, y=None):
        """Decode codes back to the input space.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_latent)
            Codes, e.g. from :meth:`transform` or drawn as :meth:`sample` does.
        y : array-like, default=None
            The context of a conditional model; ignored by the others.

        Returns
        -------
        X_original : ndarray or DataFrame of shape (n_samples, n_features_in_)
            In the user's units; a DataFrame (or polars frame) with the input
            column names when that output is configured.
        """
        Z = self._checked_latent(X)
        return as_input_space(self, self._decode(Z, self._context(y, Z.shape[0])))

    def _checked_latent(self, Z) -> np.ndarray:
        check_is_fitted(self)
        Z = check_array(Z, dtype=FLOAT_DTYPES)
        width = self._n_features_out
        if Z.shape[1] != width:
            raise ValueError(
                f"Z has {Z.shape[1]} columns, but {type(self).__name__} expects "
                f"{width} (its latent dimension)."
            )
        return Z

    def score_samples(self, X, y=None):
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
        y : array-like, default=None
            The context of a conditional model; ignored by the others.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
        """
        X, part = self._fitted_input(X), self._fitted_part()
        part.check_input(X)
        context = self._context(y, X.shape[0])
        if not sp.issparse(X):
            return part.scores(vars(self), X, context)
        rows = part.inference_rows(vars(self))
        return np.concatenate(
            [
                part.scores(vars(self), X[start : start + rows].toarray(), None)
                for start in range(0, X.shape[0], rows)
            ]
        )

    def score(self, X, y=None) -> float:
        """Mean of :meth:`score_samples`.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data in the user's units.
        y : array-like, default=None
            The context of a conditional model; ignored by the others.

        Returns
        -------
        score : float
        """
        return float(np.mean(self.score_samples(X, y)))

    def _sample_rows(self, n_samples, random_state, y=None) -> tuple:
        """Decoded latent draws in the user's units, and the generator used."""
        part = self._fitted_part()
        n_samples = _checked_n_samples(n_samples)
        rng = check_random_state(random_state)
        context = self._context(y, n_samples)
        Z = part.sample_latent(vars(self), n_samples, rng, context)
        return self._decode(Z, context), rng

    def sample(self, n_samples=1, random_state=None, *, y=None):
        """Decode latent draws into new samples.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples.
        random_state : int, RandomState instance or None, default=None
            Seed of the draws.
        y : array-like of length n_samples, default=None
            The context of each sample, for a conditional model.

        Returns
        -------
        X : ndarray or DataFrame of shape (n_samples, n_features_in_)
            Samples in the user's units; a DataFrame (or polars frame) when
            that output is configured.
        """
        return as_input_space(self, *self._sample_rows(n_samples, random_state, y))

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
            self.net_ = restore_net(self, self._fitted_part(), portable)

    @property
    def _n_features_out(self) -> int:
        return self._fitted_part().latent_width(vars(self))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.input_tags.sparse = True
        tags.input_tags.allow_nan = allows_nan(self)
        return tags
