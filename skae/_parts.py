"""The parts an estimator is assembled from: a model part and a training policy.

A skae estimator is a preprocessor, a model part and a training policy
(:class:`~skae._base.SkaeBase` only orchestrates them).  A *model part* is
one model family's whole story: it builds the torch module, computes the
classical start, gives the objective, learns the post-fit statistics, draws
latent points and scores rows.  It is made from the estimator's parameters
(:func:`params_of`) and the fitted image shape, every time it is needed, so
it holds no state of its own.

Fitted state flows through *records*: :meth:`ModelPart.start`,
:meth:`ModelPart.batch_transform` and :meth:`ModelPart.finish` return dicts
of fitted attributes (names ending in ``_``), which the estimator copies
into itself in one place (``SkaeBase._set_fitted``).  Every part method that
needs fitted state reads it from ``fitted``, a mapping of those attributes:
the record being assembled during ``fit``, the estimator's ``vars()`` after.

A new model family is a torch module (:mod:`skae.modules`), a part (a
subclass of :class:`ModelPart`) and an estimator whose ``_make_part``
returns it; the base needs no edit.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import scipy.sparse as sp
import torch
from threadpoolctl import threadpool_limits

from skae._context import ContextEncoder
from skae._data import dense_rows, identity_batch
from skae._inference import apply_rows
from skae._params import checked_hidden_layer_sizes
from skae._preprocessing import Standardizer
from skae.modules.protocol import InputSpec

Fitted = Mapping[str, object]


def params_of(estimator) -> SimpleNamespace:
    """The estimator's parameters as attributes (``get_params(deep=False)``)."""
    return SimpleNamespace(**estimator.get_params(deep=False))


@dataclass(frozen=True)
class TrainingPolicy:
    """How long and in what batches a model trains: one small table per model.

    Parameters
    ----------
    auto_epochs : int, default=200
        Epochs of ``max_iter='auto'``.
    auto_steps : int or None, default=None
        With it, ``'auto'`` also stops near this many optimiser steps.
    auto_batch_size : int, default=200
        Rows per batch of ``batch_size='auto'`` (fewer rows: all of them).
    auto_work : int or None, default=None
        With it, ``'auto'`` also stops near this many row-features (epochs
        times training rows times features): a budget that follows a
        model's cost where it grows with the width of the rows.
    corrupts_validation : bool, default=False
        Whether held-out batches get the training corruption (a denoiser's
        validation loss is a denoising loss).
    """

    auto_epochs: int = 200
    auto_steps: int | None = None
    auto_batch_size: int = 200
    auto_work: int | None = None
    corrupts_validation: bool = False

    def epochs(
        self, max_iter, n_batches: int, phases: int = 1, epoch_work: int = 1
    ) -> int:
        """``max_iter`` resolved for ``n_batches`` batches an epoch.

        ``phases`` training phases (a denoising warm-up and the rest) share
        ``'auto'``'s budget of optimiser steps; ``epoch_work`` is an epoch's
        row-features (:attr:`auto_work`).
        """
        if max_iter != "auto":
            return max_iter
        epochs = self.auto_epochs
        if self.auto_steps is not None:
            steps = -(-self.auto_steps // phases)
            epochs = min(epochs, -(-steps // n_batches))
        if self.auto_work is not None:
            epochs = min(epochs, -(-self.auto_work // (phases * epoch_work)))
        return max(1, epochs)

    def batch_size(self, batch_size, n_samples: int) -> int:
        """``batch_size`` resolved for ``n_samples`` training rows."""
        if batch_size == "auto":
            return min(self.auto_batch_size, n_samples)
        return min(batch_size, n_samples)


IMAGE_POLICY = TrainingPolicy(auto_epochs=30, auto_batch_size=64)
"""The image networks' budget: 30 epochs of batches of 64."""


class ModelPart:
    """A model family: module, start, objective, statistics, sampling, scores.

    Parameters
    ----------
    params : types.SimpleNamespace
        The estimator's parameters (:func:`params_of`).
    image_shape : tuple of int or None
        ``(C, H, W)`` of the fitted rows, or None for tables.

    Notes
    -----
    Each method is called by the base at one place; the defaults suit a
    model without start, corruption or post-fit statistics.
    """

    policy: TrainingPolicy = TrainingPolicy()
    compute_dtype: type | None = None  # None: the training data's dtype
    inference_rows_default: int = 8192

    def __init__(self, params: SimpleNamespace, image_shape=None) -> None:
        self.params = params
        self.image_shape = image_shape

    @property
    def hidden_layer_sizes(self) -> tuple[int, ...]:
        """The ``hidden_layer_sizes`` parameter as a tuple of ints."""
        return checked_hidden_layer_sizes(self.params.hidden_layer_sizes)

    # ---------------------------------------------------------------- input
    def check_input(self, X, *, fitting: bool = False) -> None:
        """Reject data the model cannot score (``score_samples``) or, with
        ``fitting``, cannot learn from (``fit``, ``partial_fit``)."""

    def preprocessor(self, heads) -> Standardizer:
        """The unfitted map to model space (``heads``: a table's, or None)."""
        raise NotImplementedError(f"{type(self).__name__} defines no preprocessor")

    def context(self) -> ContextEncoder | None:
        """The unfitted encoder of ``y``, or None: the model ignores ``y``."""
        return None

    # ------------------------------------------------------------- training
    def build(self, spec: InputSpec) -> torch.nn.Module:
        """The untrained torch module; called under the fit's seed."""
        raise NotImplementedError(f"{type(self).__name__} defines no module")

    def start(
        self,
        module,
        rows: np.ndarray,
        validation,
        seed: int,
        fitted: Fitted,
        context=None,
    ) -> dict:
        """Set ``module`` to a classical solution of the float64 model-space
        ``rows``; return the fitted attributes the start learned.

        A conditional part's start (one with a :meth:`context`) is also given
        ``context=``, the encoded ``y`` of every row of ``rows``."""
        return {}

    def batch_transform(self, X_fit: np.ndarray, fitted: Fitted) -> tuple:
        """``(corruption of training batches, fitted attributes)``."""
        return identity_batch, {}

    def warmup(self, fitted: Fitted) -> Callable | None:
        """The corruption of a first, denoising phase of ``fit``, or None."""
        return None

    def criterion(self, fitted: Fitted) -> torch.nn.Module:
        """The training objective (:mod:`skae.losses`)."""
        raise NotImplementedError(f"{type(self).__name__} defines no objective")

    def finish(self, module, X_model, fitted: Fitted, context=None) -> dict:
        """Post-fit statistics (eval mode, no grad) as fitted attributes; a
        conditional part's also takes ``context=``, the rows' encoded ``y``."""
        return {}

    def before_partial_fit(self, module) -> None:
        """Undo what :meth:`finish` fixed that training must not see: the
        fitted boxes are lifted."""
        for layer in module.modules():
            if hasattr(layer, "box_low"):
                layer.box_low.fill_(-np.inf)
                layer.box_high.fill_(np.inf)

    # ------------------------------------------------------------ inference
    def latent_width(self, fitted: Fitted) -> int:
        """Width of the codes."""
        return self.params.n_components

    def inference_rows(self, fitted: Fitted) -> int:
        """Rows per batch at inference (bounds the memory of one batch)."""
        return self.inference_rows_default

    def sample_latent(self, fitted: Fitted, n_samples: int, rng, context=None):
        """Latent points that ``sample`` decodes; default ``N(0, I)``."""
        return rng.standard_normal((n_samples, self.latent_width(fitted)))

    def log_prob_kwargs(self, fitted: Fitted) -> dict:
        """Extra arguments of the module's ``log_prob``."""
        return {}

    def scores(self, fitted: Fitted, X: np.ndarray, context=None) -> np.ndarray:
        """``score_samples`` of validated dense ``X``: the log-density in nats
        (the module's ``log_prob`` plus the preprocessing's log-determinant)."""
        module, kwargs = fitted["net_"].module_, self.log_prob_kwargs(fitted)
        log_density = apply_rows(
            fitted,
            lambda batch, **given: module.log_prob(batch, **given, **kwargs),
            X,
            context=context,
            rows=self.inference_rows(fitted),
        )
        return log_density + fitted["preprocessor_"].log_det()


def input_spec(n_features: int, fitted: Fitted) -> InputSpec:
    """What :meth:`ModelPart.build` is told about a model-space row."""
    encoder = fitted.get("context_encoder_")
    return InputSpec(
        n_features,
        image_shape=fitted.get("image_shape_"),
        n_context=0 if encoder is None else encoder.n_context_,
        sequence_shape=fitted.get("sequence_shape_"),
    )


def started_module(
    part: ModelPart, X, data, valid, seed: int, fitted: dict, context=None
):
    """The part's untrained module for ``X``, at its classical start, float64.

    The start sees the float64 model-space rows (sparse ``X`` densified, see
    :func:`~skae._data.dense_rows`), and the encoded ``context`` of a
    conditional model, and writes its record into ``fitted``.
    """
    # In float64 while the start writes its float64 solution: written into
    # float32 parameters first, a float64 model would start off the classical
    # solution by float32 round-off (an AE at k >= rank: 1e-15 instead of
    # PCA's 1e-31).
    module = part.build(input_spec(X.shape[1], fitted)).double()
    if sp.issparse(X):
        rows = dense_rows(data).double().cpu().numpy()
    else:
        rows = fitted["preprocessor_"].transform(X, np.float64)
    # The classical fits are many small LAPACK/BLAS calls (an EM step's SVD):
    # threaded BLAS beside torch's spinning OpenMP workers made them about 8x
    # slower on 2 cores (docs/concepts.md#classical-starts-and-epoch-0).
    with threadpool_limits(limits=1, user_api="blas"):
        given = {} if context is None else {"context": context}
        fitted.update(part.start(module, rows, valid, seed, fitted, **given))
    return module
