"""skae: autoencoders, VAEs and Real NVP flows as scikit-learn estimators."""

from skae import metrics
from skae._autoencoder import AutoencoderTransformer
from skae._denoising import DenoisingAE
from skae._nets import DivergenceError
from skae._vae import VAE

__version__ = "0.1.0"

__all__ = [
    "AutoencoderTransformer",
    "DenoisingAE",
    "DivergenceError",
    "VAE",
    "__version__",
    "metrics",
]
