"""skae: autoencoders, VAEs and Real NVP flows as scikit-learn estimators."""

from skae._autoencoder import AutoencoderTransformer
from skae._vae import VAE

__version__ = "0.1.0"

__all__ = ["AutoencoderTransformer", "VAE", "__version__"]
