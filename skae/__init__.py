"""skae: autoencoders, VAEs and Real NVP flows as scikit-learn estimators."""

from skae import io, metrics
from skae._autoencoder import AutoencoderTransformer
from skae._classifier import GenerativeClassifier
from skae._conditional import ConditionalRealNVPDensity, ConditionalVAE
from skae._denoising import DenoisingAE
from skae._persistence import InconsistentVersionWarning
from skae._realnvp import RealNVPDensity
from skae._training import DivergenceError
from skae._vae import VAE
from skae._version import __version__
from skae.impute import AutoencoderImputer
from skae.outlier import OutlierDetector

__all__ = [
    "VAE",
    "AutoencoderImputer",
    "AutoencoderTransformer",
    "ConditionalRealNVPDensity",
    "ConditionalVAE",
    "DenoisingAE",
    "DivergenceError",
    "GenerativeClassifier",
    "InconsistentVersionWarning",
    "OutlierDetector",
    "RealNVPDensity",
    "__version__",
    "io",
    "metrics",
]
