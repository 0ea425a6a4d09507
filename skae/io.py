"""Saving and loading skae estimators with skops, trusting a fixed list of types.

:func:`load` and :func:`loads` trust exactly :data:`TRUSTED_TYPES` (skae's
own classes and functions that a fitted estimator holds) on top of what
:mod:`skops.io` trusts by default (NumPy, SciPy, scikit-learn), never the
types a file names itself: a file that holds anything else is refused with
skops' ``UntrustedTypesFoundException``.  Needs the ``skops`` extra.

Examples
--------
>>> import numpy as np
>>> from skae import AutoencoderTransformer
>>> from skae import io
>>> X = np.random.default_rng(0).normal(size=(60, 3))
>>> model = AutoencoderTransformer(max_iter=2, random_state=0).fit(X)
>>> loaded = io.loads(io.dumps(model))
>>> bool(np.array_equal(loaded.transform(X), model.transform(X)))
True
"""

from pathlib import Path

TRUSTED_TYPES: tuple[str, ...] = (
    "skae._autoencoder.AutoencoderTransformer",
    "skae._columns.ColumnEncoder",
    "skae._data.identity_batch",
    "skae._denoising.DenoisingAE",
    "skae._preprocessing.MissingAsMean",
    "skae._preprocessing.Standardizer",
    "skae._preprocessing.TableScaler",
    "skae._preprocessing.Whitener",
    "skae._realnvp.RealNVPDensity",
    "skae._vae.VAE",
    "skae.impute.AutoencoderImputer",
    "skae.noise.BatchCorruption",
    "skae.noise.additive_gaussian",
    "skae.noise.masking",
    "skae.noise.salt_and_pepper",
    "skae.outlier.OutlierDetector",
)
"""Every skae type a fitted estimator (alone, in a Pipeline, inside
:class:`~skae.AutoencoderImputer` or :class:`~skae.OutlierDetector`) holds."""


def _skops():
    try:
        import skops.io as sio
    except ImportError as error:  # pragma: no cover - the extra is installed in CI
        raise ImportError("skae.io needs skops: pip install 'skae[skops]'.") from error
    return sio


def dumps(model) -> bytes:
    """``model`` as the bytes of a skops file."""
    return _skops().dumps(model)


def dump(model, file: str | Path) -> None:
    """Write ``model`` to ``file`` in skops' format."""
    _skops().dump(model, file)


def loads(data: bytes):
    """The estimator in skops bytes, trusting :data:`TRUSTED_TYPES` only."""
    return _skops().loads(data, trusted=list(TRUSTED_TYPES))


def load(file: str | Path):
    """The estimator in a skops file, trusting :data:`TRUSTED_TYPES` only."""
    return _skops().load(file, trusted=list(TRUSTED_TYPES))
