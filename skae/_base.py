"""The scikit-learn face of every skae estimator, written once.

:class:`SkaeBase` only orchestrates an estimator's parts: the **input layer**
(:mod:`skae._tabular`: numbers, sparse rows, images, sequences, tables), a
**preprocessor** (:mod:`skae._preprocessing`: user units to model space, with
its log-determinant), a **model part** (:class:`~skae._parts.ModelPart`:
module, classical start, objective, statistics, draws, scores) and a
**training policy** (:class:`~skae._parts.TrainingPolicy`: how long and in
what batches the skorch net of :mod:`skae._training` trains).

A concrete estimator writes its ``__init__`` (the body is
``self._store_init_arguments(locals())``), extends ``_parameter_constraints``
and has **one** extension point, ``_make_part(image_shape)``: the part for
its parameters and the fitted ``(C, H, W)`` (None for tables).

Parts return records (dicts of ``*_`` attributes); :meth:`SkaeBase._set_fitted`
is the one place that writes them, and a fit that fails leaves the estimator
as it was.  The context ``y`` of a conditional model (:mod:`skae._context`)
flows from ``fit(X, y)``, ``transform(X, y)``, ``score_samples(X, y)`` and
``sample(n, y=...)`` to the module and the objective; other models ignore it
(docs/concepts.md).
"""

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

from skae._context import encoded_context, fitted_encoder
from skae._data import data_dtype, holdout_split, model_data
from skae._inference import apply_rows
from skae._params import (
    SHARED_CONSTRAINTS,
    checked_hidden_layer_sizes,
    checked_n_samples,
    fit_device_and_seed,
    torch_device,
)
from skae._parts import ModelPart, params_of, started_module
from skae._persistence import PortableNet
from skae._tabular import (
    FLOAT_DTYPES,
    allows_nan,
    as_input_space,
    observed_mask,
    validated_input,
)
from skae._training import (
    _silent,  # noqa: F401 - named by 0.1.0 pickles
    build_net,
    check_validation_monitors,
    checked_callbacks,
    forked,
    history_record,
    phase,
    seed_torch,
    torch_threads,
)
from skae.utils._validation import _fit_context, check_is_fitted

_VALIDATION_NAMES = ("n_features_in_", "feature_names_in_")


class SkaeBase(
    PortableNet, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator
):
    """Shared scikit-learn surface of the skae estimators; not an estimator itself.

    The shared parameters are documented in each estimator (:mod:`skae._params`).
    The network computes in the training data's dtype (as
    :class:`~sklearn.neural_network.MLPRegressor`), or in the part's own
    (float32 for images), so a row gets the same result in any batch.
    """

    _parameter_constraints: ClassVar[dict] = dict(SHARED_CONSTRAINTS)

    def _store_init_arguments(self, arguments: dict) -> None:
        """Store every ``__init__`` argument under its own name, unvalidated."""
        for name in self._get_param_names():
            setattr(self, name, arguments[name])

    def _make_part(self, image_shape) -> ModelPart:
        """The model part for the parameters and the fitted image shape."""
        raise NotImplementedError  # pragma: no cover - every subclass defines it

    def _set_fitted(self, fitted: dict, previous: dict | None = None) -> None:
        """The one place that writes fitted attributes; with ``previous`` (the
        state before a ``fit``) what an earlier fit learned and this one did not
        is dropped."""
        for name in previous or ():
            stale = name.endswith("_") and not name.startswith("_")
            if stale and name not in fitted and name not in _VALIDATION_NAMES:
                vars(self).pop(name, None)
        vars(self).update(fitted)

    def _run(self, step, *args) -> "SkaeBase":
        """Run a fitting ``step`` (flat-row networks on one torch thread); if
        it fails, the estimator is left as it was."""
        previous = dict(vars(self))
        try:
            with torch_threads(1 if self.image_shape is None else None):
                fitted, reset = step(*args)
            self._set_fitted(fitted, previous if reset else None)
        except BaseException:
            vars(self).clear()
            vars(self).update(previous)
            raise
        return self

    def _seed(self) -> int:
        rng = check_random_state(self.random_state)
        return int(rng.randint(np.iinfo(np.int32).max))

    def _begin(self, X, *, reset: bool) -> tuple:
        """Validated ``X``, its fitted record (with ``reset``) and the part."""
        X, record = validated_input(self, X, reset=reset)
        checked_callbacks(self.callbacks)
        shape = record["image_shape_"] if reset else self.image_shape_
        part = self._make_part(shape)
        checked_hidden_layer_sizes(part.hidden_layer_sizes)  # 'auto' resolved
        part.check_input(X, fitting=True)
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
        owner, times = type(self).__name__, {}
        with phase(self.verbose, owner, "input", times):
            X, fitted, part = self._begin(X, reset=True)
        fitted["fit_times_"] = times
        device, seed = fit_device_and_seed(self.accelerator, self.device, self._seed())
        train, valid = holdout_split(
            X.shape[0], self.early_stopping, self.validation_fraction, seed
        )
        with torch.random.fork_rng(devices=forked(device)):
            seed_torch(seed, device)
            net, data, X_model, plain = self._assemble(
                X, y, part, fitted, train, valid, seed, device
            )
            with phase(self.verbose, owner, "training", times):
                net.fit(data if valid is None else data.subset(train), None)
            # Later passes (partial_fit) and a saved net use the plain transform
            # (skorch's set_params refuses iterator arguments once initialized).
            net.iterator_train__batch_transform = plain
        with phase(self.verbose, owner, "post-fit statistics", times):
            fitted.update(self._finished(part, X_model, fitted, warn=True, data=data))
        return fitted, True

    def _assemble(self, X, y, part, fitted, train, valid, seed, device, *, steps=True):
        """Preprocessing, context, warm-started module and net of a fit.

        Returns ``(net, dataset, X_model, batch_transform)``; ``fitted``
        receives every record.  With ``valid`` (the held-out rows) the
        preprocessing is fitted on the training rows and training may begin
        with the part's warm-up; without ``steps`` (``partial_fit``) the net
        has neither a step budget nor a warm-up.
        """
        X_fit = X if valid is None else X[train]
        fitted["preprocessor_"] = part.preprocessor(fitted.get("heads_")).fit(X_fit)
        context = None
        encoder = part.context()
        if encoder is not None:
            fitted["context_encoder_"] = fitted_encoder(encoder, y, train, X.shape[0])
            context = encoded_context(fitted["context_encoder_"], y, X.shape[0])
        data, X_model = self._data(X, part, fitted, device, context)
        times = fitted.get("fit_times_")
        with phase(self.verbose, type(self).__name__, "preprocessing and start", times):
            module = started_module(part, X, data, valid, seed, fitted, context)
        module = module.to(device=device, dtype=data_dtype(data))
        batch_transform, corruption = part.batch_transform(X_fit, fitted)
        fitted.update(corruption)
        with phase(self.verbose, type(self).__name__, "network", times):
            fitted["net_"] = build_net(
                params_of(self),
                part.policy,
                module,
                part.criterion(fitted),
                n_train=len(train) if steps else sys.maxsize,
                seed=seed,
                device=device,
                batch_transform=batch_transform,
                valid=None if valid is None else data.subset(valid),
                warmup=part.warmup(fitted) if steps else None,
                accelerator=self.accelerator if steps else None,
            )
        return fitted["net_"], data, X_model, batch_transform

    @staticmethod
    def _data(X, part, fitted, device, context=None) -> tuple:
        """``(dataset, X_model)`` of ``X`` in the part's dtype (:func:`model_data`)."""
        dtype, mask = part.compute_dtype or X.dtype, observed_mask(fitted, X)
        return model_data(X, fitted["preprocessor_"], dtype, device, mask, context)

    def _finished(self, part, X_model, fitted: dict, *, warn: bool, data) -> dict:
        """What the history and the part's post-fit statistics add to ``fitted``
        (a conditional part's ``finish`` also gets the rows' ``context=``)."""
        net = fitted["net_"]
        owner = type(self).__name__
        added = history_record(net, params_of(self), owner, warn=warn)
        context = getattr(data, "extras", {}).get("context")
        given = {} if context is None else {"context": context}
        net.module_.eval()
        with torch.inference_mode():
            added.update(
                part.finish(net.module_, X_model, {**fitted, **added}, **given)
            )
        return added

    def _context(self, y, n_rows: int, fitted=None) -> np.ndarray | None:
        """``y`` encoded for a fitted conditional model (None otherwise)."""
        fitted = vars(self) if fitted is None else fitted
        return encoded_context(fitted.get("context_encoder_"), y, n_rows)

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
        check_validation_monitors(checked_callbacks(self.callbacks), validated=False)
        if "stopping" in dict(net.callbacks_) or net.train_split is not None:
            net.set_params(callbacks__stopping=None, train_split=None)
            net.initialize_callbacks()  # drops the disabled one from callbacks_
        device = torch.device(net.device)
        entropy = [net.iterator_train__seed, len(net.history)]
        call_seed = int(np.random.SeedSequence(entropy).generate_state(1)[0] >> 1)
        order = np.random.default_rng(call_seed).permutation(X.shape[0])
        context = self._context(y, X.shape[0], fitted)
        context = None if context is None else context[order]
        data, X_model = self._data(X[order], part, fitted, device, context)
        with torch.random.fork_rng(devices=forked(device)):
            seed_torch(call_seed, device)
            part.before_partial_fit(net.module_)
            net.partial_fit(data, None, epochs=1)
        finished = self._finished(part, X_model, fitted, warn=False, data=data)
        return {**new, **finished}, False

    def _incremental_start(self, X, y, part, fitted: dict) -> dict:
        """``partial_fit``'s first call: preprocessing, module and net, untrained."""
        device, seed = torch_device(self.device), self._seed()
        everything = np.arange(X.shape[0])
        with torch.random.fork_rng(devices=forked(device)):
            seed_torch(seed, device)
            args = (X, y, part, fitted, everything, None, seed, device)
            self._assemble(*args, steps=False)[0].initialize()
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
        width = self.n_features_in_ + part.latent_width(vars(self))
        n_samples = checked_n_samples(n_samples, width)
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
