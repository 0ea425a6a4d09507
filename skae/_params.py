"""The parameters every skae estimator shares: constraints, checks and docs.

Each estimator lists every parameter in its own explicit ``__init__`` (whose
body is ``self._store_init_arguments(locals())``); :func:`document` fills the
shared parameters' descriptions into its class docstring, with that
estimator's defaults, and :data:`SHARED_CONSTRAINTS` is the start of its
``_parameter_constraints``.
"""

import inspect
import numbers
import os
import textwrap

import torch

from skae.utils._validation import HasMethods, Interval, StrOptions

CODE_CONSTRAINTS: dict = {
    "n_components": [Interval(numbers.Integral, 1, None, closed="left")],
    "channels": [Interval(numbers.Integral, 1, None, closed="left")],
    "categorical_features": [StrOptions({"from_dtype"}), "array-like", None],
    "sequence_shape": [None, "array-like"],
}

SHARED_CONSTRAINTS: dict = {
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
    "accelerator": [None, HasMethods(["prepare", "backward", "wait_for_everyone"])],
    "image_shape": [None, "array-like"],
}
"""Constraints of the parameters every skae estimator shares."""

_DOCS: dict[str, tuple[str, str]] = {
    "categorical_features": (
        "'from_dtype', array-like of str, int or bool, or None",
        "Categorical columns: 'from_dtype' takes a DataFrame's category, "
        "object, string and bool columns (an ndarray has none); else column "
        "names, indices or a boolean mask; None for none.  Each is one-hot at "
        "the input and a softmax (cross-entropy) at the output, and comes back "
        "from inverse_transform and sample in the input's dtype; transform "
        "rejects an unseen category.  Missing entries (NaN, None) are allowed "
        "in any column; the loss counts observed entries only.  See the "
        "guide's 'Tables as they come' (docs/guide.md).",
    ),
    "image_shape": (
        "tuple of int or None",
        "``(C, H, W)``, or ``(H, W)`` for one channel, when each row of X is "
        "an image flattened in C order (``n_features = C*H*W``); X may then "
        "also be an ``(n, H, W)`` or ``(n, C, H, W)`` array, and the model is "
        "built for images (see the estimator's description); outputs keep "
        "flat rows.  None: tables, with the MLP.  See the guide's 'Images' "
        "(docs/guide.md).",
    ),
    "sequence_shape": (
        "tuple of int or None",
        "``(T, F)`` when each row of X is a sequence of T steps of F "
        "features flattened in C order (step, then feature; ``n_features = "
        "T*F``); one size may be -1, inferred at fit.  X may then also be an "
        "``(n, T, F)`` array, and the networks are a GRU encoder and a GRU "
        "decoder (:mod:`skae.modules.sequence`; the residual branches beside "
        "the classical start, unless init='random'); outputs keep flat rows.  "
        "None: tables, with the MLP.  See the guide's 'Sequences' "
        "(docs/guide.md).",
    ),
    "channels": (
        "int",
        "With image_shape: channels of every hidden layer of the "
        "convolutional encoder and of the transposed-convolution decoder "
        "(the lecture notes' 32); with sequence_shape: units of the GRUs' "
        "state; hidden_layer_sizes is then unused.  Unused for tables.",
    ),
    "batch_size": (
        "int or 'auto'",
        "Mini-batch size; ``'auto'`` means ``min(200, n_samples)``, or "
        "``min(64, n_samples)`` with image_shape or sequence_shape.  See "
        "docs/concepts.md#training-budgets.",
    ),
    "learning_rate_init": ("float", "Adam's step size."),
    "max_iter": (
        "int or 'auto'",
        "Maximum number of epochs; 'auto' means 200 for the autoencoders and "
        "500 for the VAE, fewer where that would take over about 8,000 "
        "(autoencoders) or 5,000 (VAE) optimiser steps, 1000 for "
        "RealNVPDensity (its autoregressive layers: fewer where that would "
        "take over about 5,000,000 row-features), and 30 with image_shape "
        "(RealNVPDensity's: 1000); with sequence_shape 200 (500 for the "
        "VAE) or about 8,000 (5,000) steps of batches of 64.  See "
        "docs/concepts.md#training-budgets.",
    ),
    "alpha": ("float", "L2 penalty (Adam ``weight_decay``)."),
    "early_stopping": (
        "bool",
        "Hold out ``validation_fraction`` of the data, stop when the held-out "
        "loss has not improved for ``n_iter_no_change`` epochs and restore the "
        "best epoch; the untrained (warm-started) model is epoch 0.  See "
        "docs/concepts.md#classical-starts-and-epoch-0.",
    ),
    "validation_fraction": (
        "float",
        "Share of the data held out when ``early_stopping=True``; the "
        "preprocessing is fitted on the other rows only.  See "
        "docs/concepts.md#training-budgets.",
    ),
    "n_iter_no_change": (
        "int",
        "Epochs without an improvement of at least ``tol`` before stopping.  "
        "See docs/concepts.md#training-budgets.",
    ),
    "tol": ("float", "Minimum (absolute) improvement of the monitored loss."),
    "callbacks": (
        "list of skorch callbacks or (name, callback) pairs",
        "Extra callbacks of the skorch training net, passed as skorch takes "
        "them, e.g. ``[GradientNormClipping(1.0), LRScheduler('StepLR', "
        "step_size=50)]``.",
    ),
    "random_state": (
        "int, RandomState instance or None",
        "Seeds initialisation, batch order, validation split and any noise "
        "drawn in training; an int gives bit-identical models on CPU.  See "
        "docs/concepts.md#determinism.",
    ),
    "verbose": (
        "int",
        "Print skorch's per-epoch table and a progress bar over each epoch's "
        "batches (skorch's ``ProgressBar``) when positive.",
    ),
    "device": ("str", "Torch device, e.g. ``'cuda'``."),
    "accelerator": (
        "accelerate.Accelerator or None",
        "Train ``fit``'s network on every process of this Accelerator "
        "(data parallel under ``torchrun`` or ``accelerate launch``; its "
        "device replaces ``device``); ``batch_size`` is then the global batch "
        "size.  ``partial_fit`` trains in this process alone, and the fitted "
        "estimator is saved without it.  See the guide's 'Past one process' "
        "(docs/guide.md).",
    ),
}

_PLACEHOLDER = "%(shared_parameters)s"

_FIT_ATTRIBUTES = """net_ : skae._training.SkaeNet
        The trained skorch net; ``net_.module_`` is the torch module,
        ``net_.history`` skorch's per-epoch history (with each named loss term).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when ``X`` has string column names.
    n_iter_ : int
        Epochs run (complete ones; an interrupted epoch is not counted).
    best_loss_ : float
        Lowest monitored loss (the validation loss with early stopping),
        the start's included.
    initial_validation_loss_ : float or None
        Validation loss of the untrained (warm-started) module, epoch 0 of
        early stopping; None without early stopping.
    warmup_epochs_ : int
        Epochs of the denoising warm-up that began the last ``fit`` (0 when
        it had none, and for a model trained by ``partial_fit`` alone; see
        the autoencoder's ``warmup_noise``).
    fit_times_ : dict
        Seconds of each phase of the last ``fit``: ``'input'``,
        ``'preprocessing and start'`` (the classical start and its scans),
        ``'network'`` (building the skorch net), ``'training'`` and
        ``'post-fit statistics'`` (printed with ``verbose``)."""


_TABLE_ATTRIBUTES = """is_categorical_ : ndarray of bool of shape (n_features_in_,)
        Which input columns are categorical.
    column_encoder_ : skae._columns.ColumnEncoder or None
        The fitted one-hot encoding (``categories_``, ``layout_``) when a
        column is categorical, else None.
    heads_ : skae.modules.heads.ColumnHeads or None
        The output heads the loss reads when the training table has a
        categorical column or a missing entry; None for a complete numeric
        table."""


def are_positive_integers(values) -> bool:
    """Whether every entry of ``values`` is a positive integer (bools are not).

    Examples
    --------
    >>> from skae._params import are_positive_integers
    >>> are_positive_integers((3, 1)), are_positive_integers((2, 0.5, True))
    (True, False)
    """
    return all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1
        for v in values
    )


def document(cls: type) -> type:
    """Fill the shared parameters and fitted attributes into ``cls``' docstring.

    ``%(shared_parameters)s`` and ``%(fit_attributes)s`` are replaced.

    Each shared parameter is written ``name : type, default=value`` with the
    estimator's own default (read from its ``__init__`` signature), then its
    description, indented as numpydoc's Parameters section wants.
    """
    signature = inspect.signature(cls.__init__)
    lines = []
    for name, parameter in signature.parameters.items():
        if name not in _DOCS:
            continue
        kind, text = _DOCS[name]
        lines.append(f"{name} : {kind}, default={parameter.default!r}")
        lines.extend(
            textwrap.wrap(text, 72, initial_indent="    ", subsequent_indent="    ")
        )
    doc = cls.__doc__.replace(_PLACEHOLDER, "\n    ".join(lines))
    doc = doc.replace("%(table_attributes)s", _TABLE_ATTRIBUTES)
    cls.__doc__ = doc.replace("%(fit_attributes)s", _FIT_ATTRIBUTES)
    return cls


def checked_hidden_layer_sizes(sizes) -> tuple[int, ...]:
    """``hidden_layer_sizes`` as a tuple of ints, else a ValueError naming it."""
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


def fit_device_and_seed(accelerator, device, seed: int) -> tuple[torch.device, int]:
    """The training device and seed of ``fit``: with an accelerator, its
    device and rank 0's seed (:mod:`skae._distributed`)."""
    if accelerator is None:
        return torch_device(device), seed
    from skae._distributed import process_setting

    return process_setting(accelerator, seed)


def torch_device(name) -> torch.device:
    """The ``device`` parameter as a torch device, else a ValueError naming it."""
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError) as exc:
        raise ValueError(f"device={name!r} is not a torch device.") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={name!r} but CUDA is not available here.")
    return device


def checked_n_samples(n_samples, row_values: int = 1) -> int:
    """``sample``'s count: a positive integer whose ``row_values`` float64
    values a row fit in this machine's memory, else a ValueError naming it."""
    if (
        isinstance(n_samples, bool)
        or not isinstance(n_samples, numbers.Integral)
        or n_samples < 1
    ):
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}.")
    needed, memory = int(n_samples) * row_values * 8, physical_memory()
    if memory is not None and needed > memory:
        raise ValueError(
            f"n_samples={n_samples} would take {needed / 2**30:.3g} GiB "
            f"({row_values} float64 values a sample, with its code), more than "
            f"this machine's {memory / 2**30:.3g} GiB; draw them in smaller calls."
        )
    return int(n_samples)


def physical_memory() -> int | None:
    """Bytes of physical memory, or None where the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None
