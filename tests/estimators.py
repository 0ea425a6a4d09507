"""The one registry of estimator settings that the generic tests run over.

* ``FAST``: one small, quick instance per estimator (reliability, bad inputs).
* ``CHECKED``: the listed settings ``parametrize_with_checks`` runs on in the
  default run: every default and a non-default setting of each parameter,
  the non-default ones with few epochs (``max_iter``) and, for the flows, a
  fixed-size mixture base (the default BIC scan is checked on
  ``RealNVPDensity()``), so that the battery stays fast.
* ``CHECKED_SLOW``: those non-default settings at their full training length
  and with the default BIC base, checked only under ``-m slow``.
* ``SETTINGS``: hypothesis strategies that draw any valid setting of each
  estimator (small networks and few epochs, so that a check stays fast),
  for the checks on settings that no list names (many draws, ``-m slow``).
* ``QUICK_SETTINGS``: the same, except that the flow's base is never the BIC
  scan (about a second a fit on the checks' data, the cost of a whole check
  battery; ``RealNVPDensity()`` in ``CHECKED`` covers it): the default run's
  few draws.

Image settings (``image_shape``): scikit-learn's checks fit on tables of 1,
2, 3, 4, 5 and 10 columns, so ``CHECKED`` uses ``image_shape=(1, 1, -1)``:
one row of pixels whose width is inferred from the check's data (a fixed
``(C, H, W)`` rejects every other width, as it should).  ``FAST_IMAGES``
holds fixed-shape ``(1, 2, 2)`` image models for the bad-input catalogue,
whose tables have 4 columns.
"""

from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.mixture import GaussianMixture

from skae import (
    VAE,
    AutoencoderImputer,
    AutoencoderTransformer,
    ConditionalRealNVPDensity,
    ConditionalVAE,
    DenoisingAE,
    GenerativeClassifier,
    RealNVPDensity,
)

FAST = {
    "AutoencoderTransformer": lambda: AutoencoderTransformer(
        n_components=2, hidden_layer_sizes=(8,), max_iter=3, random_state=0
    ),
    "DenoisingAE": lambda: DenoisingAE(
        n_components=2, hidden_layer_sizes=(8,), max_iter=3, random_state=0
    ),
    "VAE": lambda: VAE(
        n_components=2, hidden_layer_sizes=(8,), max_iter=3, random_state=0
    ),
    # A fixed two-component mixture base: the default BIC scan fits five
    # mixtures of up to 8 components (about a second on these tables, 50
    # times the network's 3 epochs); it is covered by RealNVPDensity() in
    # CHECKED, tests/test_realnvp.py, test_warm_start.py and test_onnx.py.
    "RealNVPDensity": lambda: RealNVPDensity(
        n_layers=2,
        hidden_layer_sizes=(8,),
        max_iter=3,
        early_stopping=False,
        n_base_components=2,
        random_state=0,
    ),
}
IMAGE_SHAPE = (1, 2, 2)
FAST_IMAGES = {
    "AutoencoderTransformer[image]": lambda: AutoencoderTransformer(
        n_components=2, image_shape=IMAGE_SHAPE, channels=4, max_iter=3, random_state=0
    ),
    "DenoisingAE[image]": lambda: DenoisingAE(
        n_components=2,
        image_shape=IMAGE_SHAPE,
        channels=4,
        noise="masking",
        noise_level=0.25,
        max_iter=3,
        random_state=0,
    ),
    "VAE[image]": lambda: VAE(
        n_components=2, image_shape=IMAGE_SHAPE, channels=4, max_iter=3, random_state=0
    ),
}

# Settings checked at their full length only under -m slow; CHECKED holds each
# of them with few epochs (and a fixed-size mixture base for the flows).
CHECKED_SLOW = [
    AutoencoderTransformer(
        n_components=4,
        hidden_layer_sizes=(8,),
        activation="logistic",
        contractive_penalty=1e-2,
        warmup_noise=0.0,
    ),
    VAE(
        n_components=3,
        hidden_layer_sizes=(16, 8),
        activation="tanh",
        beta=0.5,
        n_importance_samples=5,
        early_stopping=True,
        validation_fraction=0.2,
        batch_size=16,
        defensive_weight=0.3,
    ),
    VAE(
        n_components=1,
        hidden_layer_sizes=(),
        activation="identity",
        n_importance_samples=1,
    ),
    VAE(likelihood="bernoulli", n_components=2, hidden_layer_sizes=(8,)),
    DenoisingAE(
        n_components=3,
        noise="gaussian",
        noise_level=0.5,
        hidden_layer_sizes=(16, 8),
        max_iter=50,
    ),
    DenoisingAE(
        n_components=2,
        noise="masking",
        noise_level=0.3,
        hidden_layer_sizes=(8,),
        early_stopping=True,
        validation_fraction=0.2,
        batch_size=16,
        max_iter=50,
    ),
    DenoisingAE(
        n_components=2,
        noise="salt_and_pepper",
        noise_level=0.2,
        hidden_layer_sizes=(8,),
        activation="tanh",
        max_iter=50,
    ),
    RealNVPDensity(
        n_layers=3,
        hidden_layer_sizes=(16, 8),
        activation="tanh",
        mask="random",
        noise_level=0.1,
        validation_fraction=0.2,
        n_iter_no_change=5,
        batch_size=16,
    ),
    RealNVPDensity(
        n_layers=2,
        hidden_layer_sizes=(8,),
        whiten=False,
        log_scale_bound=1.0,
        early_stopping=False,
        max_iter=50,
    ),
]


# Every default, and each non-default option at least once (the settings of
# CHECKED_SLOW with max_iter=10; the flows with a one- or three-component base).
# DenoisingAE's masking and salt-and-pepper noise: tests/test_denoising.py fits
# with each noise, the image setting below uses salt and pepper and
# FAST_IMAGES masking; the two tabular settings are in CHECKED_SLOW only.
def _quick(estimator, **params):
    """A ``CHECKED_SLOW`` setting with few epochs."""
    return clone(estimator).set_params(max_iter=10, **params)


(
    _CONTRACTIVE,
    _VAE_TANH,
    _VAE_LINEAR,
    _VAE_BERNOULLI,
    _DAE_GAUSSIAN,
    _DAE_MASKING,
    _DAE_SALT_AND_PEPPER,
    _FLOW_RANDOM_MASKS,
    _FLOW_UNWHITENED,
) = CHECKED_SLOW

CHECKED = [
    AutoencoderTransformer(),
    AutoencoderTransformer(
        n_components=3,
        hidden_layer_sizes=(16, 8),
        activation="tanh",
        early_stopping=True,
        validation_fraction=0.2,
        batch_size=16,
        warmup_noise=0.3,
    ),
    AutoencoderTransformer(
        n_components=1,
        hidden_layer_sizes=(),
        activation="identity",
        sparsity_penalty=1e-3,
    ),
    _quick(_CONTRACTIVE),
    VAE(),
    _quick(_VAE_TANH),
    _quick(_VAE_LINEAR),
    _quick(_VAE_BERNOULLI),
    DenoisingAE(),
    _quick(_DAE_GAUSSIAN),
    RealNVPDensity(),
    _quick(_FLOW_RANDOM_MASKS, n_base_components=1),
    _quick(_FLOW_UNWHITENED, n_base_components=3),
    # Real NVP's affine couplings (the default before autoregressive splines).
    RealNVPDensity(
        coupling="affine",
        n_layers=2,
        hidden_layer_sizes=(8,),
        max_iter=10,
        n_base_components=1,
    ),
    RealNVPDensity(
        n_layers=2,
        hidden_layer_sizes=(8,),
        coupling="spline",
        n_bins=4,
        tail_bound=2.0,
        max_iter=10,
        n_base_components=2,
    ),
]

# Images: one row of pixels, its width inferred from each check's data.
CHECKED += [
    AutoencoderTransformer(image_shape=(1, 1, -1), channels=4, max_iter=5),
    AutoencoderTransformer(
        n_components=3,
        image_shape=(1, -1),
        channels=3,
        init="random",
        activation="tanh",
        batch_size=16,
        max_iter=5,
    ),
    DenoisingAE(
        n_components=2,
        image_shape=(1, 1, -1),
        channels=4,
        noise="salt_and_pepper",
        noise_level=0.2,
        max_iter=5,
    ),
    VAE(image_shape=(1, 1, -1), channels=4, max_iter=5),
    VAE(n_components=3, image_shape=(1, 1, -1), init="random", max_iter=5),
]

# Sequences: one feature per step, the number of steps inferred from each
# check's data; the GRUs beside the PCA (factor model) start and alone.
SEQUENCE_SHAPE = (2, 2)
CHECKED += [
    AutoencoderTransformer(sequence_shape=(-1, 1), channels=4, max_iter=5),
    AutoencoderTransformer(
        n_components=3,
        sequence_shape=(-1, 1),
        channels=3,
        init="random",
        activation="tanh",
        batch_size=16,
        max_iter=5,
    ),
    DenoisingAE(
        n_components=2,
        sequence_shape=(-1, 1),
        channels=4,
        noise="masking",
        noise_level=0.25,
        max_iter=5,
    ),
    VAE(sequence_shape=(-1, 1), channels=4, max_iter=5),
    VAE(n_components=3, sequence_shape=(-1, 1), init="random", max_iter=5),
]
FAST_SEQUENCES = {
    "AutoencoderTransformer[sequence]": lambda: AutoencoderTransformer(
        n_components=2,
        sequence_shape=SEQUENCE_SHAPE,
        channels=4,
        max_iter=3,
        random_state=0,
    ),
    "DenoisingAE[sequence]": lambda: DenoisingAE(
        n_components=2,
        sequence_shape=SEQUENCE_SHAPE,
        channels=4,
        noise_level=0.25,
        max_iter=3,
        random_state=0,
    ),
    "VAE[sequence]": lambda: VAE(
        n_components=2,
        sequence_shape=SEQUENCE_SHAPE,
        channels=4,
        max_iter=3,
        random_state=0,
    ),
}

# Greedy layer-wise pre-training of the MLP stack (plain and denoising).
CHECKED += [
    AutoencoderTransformer(hidden_layer_sizes=(8, 4), pretrain="greedy", max_iter=5),
    DenoisingAE(
        n_components=3,
        hidden_layer_sizes=(8,),
        activation="tanh",
        noise="salt_and_pepper",
        noise_level=0.2,
        pretrain="greedy",
        early_stopping=False,
        max_iter=5,
    ),
]

# The multiscale image flow on the same rows of pixels (checkerboard couplings
# along the row; no squeeze, since a side of 1 is odd).
CHECKED += [
    RealNVPDensity(image_shape=(1, 1, -1), hidden_layer_sizes=(4,), max_iter=5),
]
FAST_IMAGES["RealNVPDensity[image]"] = lambda: RealNVPDensity(
    image_shape=IMAGE_SHAPE, hidden_layer_sizes=(4,), max_iter=3, random_state=0
)

# The imputer, over small models (its default trains for minutes).
CHECKED += [
    AutoencoderImputer(
        VAE(n_components=2, hidden_layer_sizes=(8,), max_iter=5),
        n_importance_samples=20,
    ),
    AutoencoderImputer(
        AutoencoderTransformer(n_components=2, hidden_layer_sizes=(8,), max_iter=5)
    ),
]

# Conditional models p(x | y) (the checks' y: labels, or numeric targets) and
# the classifier over them.  Their defaults (a BIC mixture ensemble or a
# factor-count scan per class, minutes of checks each) are checked under
# -m slow; the classifier's default density small here.
CHECKED_SLOW += [ConditionalRealNVPDensity(), ConditionalVAE(), GenerativeClassifier()]
_SMALL_CONDITIONAL_FLOW = ConditionalRealNVPDensity(
    n_layers=2, hidden_layer_sizes=(8,), max_iter=10, n_base_components=1
)
_SMALL_CONDITIONAL_VAE = ConditionalVAE(
    n_components=2, hidden_layer_sizes=(8,), max_iter=5
)
CHECKED += [
    _SMALL_CONDITIONAL_FLOW,
    ConditionalRealNVPDensity(
        n_layers=3,
        hidden_layer_sizes=(8,),
        activation="tanh",
        mask="random",
        whiten=False,
        noise_level=0.1,
        early_stopping=False,
        max_iter=10,
        n_base_components=2,
    ),
    _SMALL_CONDITIONAL_VAE,
    ConditionalVAE(image_shape=(1, 1, -1), channels=4, max_iter=5),
    # Without held-out rows: no per-class mixture scans in the classifier's
    # checks (the small VAE's own checks above have them; -m slow has both).
    GenerativeClassifier(
        clone(_SMALL_CONDITIONAL_VAE).set_params(early_stopping=False)
    ),
    GenerativeClassifier(_SMALL_CONDITIONAL_FLOW),
    GenerativeClassifier(GaussianMixture(), priors=None),
    GenerativeClassifier(
        RealNVPDensity(
            n_layers=2, hidden_layer_sizes=(8,), max_iter=5, n_base_components=1
        ),
        random_state=0,
    ),
]

CHECKED_SLOW += [GenerativeClassifier(_SMALL_CONDITIONAL_VAE)]

# ------------------------------------------------------------ any setting
_training = {
    "hidden_layer_sizes": st.lists(st.integers(1, 16), min_size=0, max_size=2).map(
        tuple
    ),
    "activation": st.sampled_from(["identity", "logistic", "tanh", "relu"]),
    "batch_size": st.one_of(st.just("auto"), st.integers(1, 64)),
    "learning_rate_init": st.floats(1e-4, 1e-2),
    "max_iter": st.integers(1, 20),
    "alpha": st.one_of(st.just(0.0), st.floats(1e-6, 1e-2)),
    "early_stopping": st.booleans(),
    "validation_fraction": st.floats(0.05, 0.5),
    "n_iter_no_change": st.integers(1, 10),
    "tol": st.one_of(st.just(0.0), st.floats(1e-6, 1e-2)),
    "random_state": st.integers(0, 2**16),
}
_penalty = st.one_of(st.just(0.0), st.floats(1e-4, 1.0))
_autoencoder = {
    **_training,
    "n_components": st.integers(1, 5),
    "sparsity_penalty": _penalty,
    "contractive_penalty": _penalty,
    "pretrain": st.sampled_from([None, "greedy"]),
}

SETTINGS = {
    "AutoencoderTransformer": st.fixed_dictionaries(
        {
            **_autoencoder,
            "warmup_noise": st.one_of(st.just("auto"), st.floats(0.0, 1.0)),
        }
    ).map(lambda p: AutoencoderTransformer(**p)),
    "DenoisingAE": st.fixed_dictionaries(
        {
            **_autoencoder,
            "noise": st.sampled_from(["gaussian", "masking", "salt_and_pepper"]),
            "noise_level": st.floats(0.0, 1.0),
        }
    ).map(lambda p: DenoisingAE(**p)),
    "VAE": st.fixed_dictionaries(
        {
            **_training,
            "n_components": st.integers(1, 5),
            "beta": st.floats(0.0, 4.0),
            "n_importance_samples": st.integers(1, 20),
            "defensive_weight": st.one_of(st.just("auto"), st.floats(0.0, 0.99)),
        }
    ).map(lambda p: VAE(**p)),
}
_flow = {
    **_training,
    "n_layers": st.integers(0, 4),
    "mask": st.sampled_from(["alternating", "random"]),
    "log_scale_bound": st.floats(0.25, 3.0),
    "coupling": st.sampled_from(["autoregressive", "affine", "spline"]),
    "n_bins": st.integers(2, 10),
    "tail_bound": st.floats(0.5, 5.0),
    "whiten": st.one_of(st.just("auto"), st.booleans()),
    "noise_level": st.one_of(st.just(0.0), st.floats(1e-3, 0.3)),
}
_fixed_base = st.one_of(st.integers(1, 3), st.just("auto"))


def _flows(base):
    return st.fixed_dictionaries({**_flow, "n_base_components": base}).map(
        lambda p: RealNVPDensity(**p)
    )


SETTINGS["RealNVPDensity"] = _flows(st.one_of(_fixed_base, st.just("bic")))
QUICK_SETTINGS = {**SETTINGS, "RealNVPDensity": _flows(_fixed_base)}
