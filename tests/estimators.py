"""Small, fast instances of every skae estimator, shared by the reliability tests."""

import skae
from skae import VAE, AutoencoderTransformer, DenoisingAE

RealNVPDensity = getattr(skae, "RealNVPDensity", None)

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
    "RealNVPDensity": lambda: RealNVPDensity(
        n_layers=2,
        hidden_layer_sizes=(8,),
        max_iter=3,
        early_stopping=False,
        random_state=0,
    ),
}

if RealNVPDensity is None:
    del FAST["RealNVPDensity"]
