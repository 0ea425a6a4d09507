"""The flows' part: a Gaussian-mixture base chosen by BIC, boxed couplings.

:class:`RealNVPPart` is :class:`~skae.RealNVPDensity`'s coupling flow on
whitened rows; :class:`MultiscaleFlowPart` the multiscale image flow
(:mod:`skae.modules.image_flow`) on per-channel scaled pixels.
"""

import numpy as np
import torch

from skae._data import dense_rows, identity_batch
from skae._parts import IMAGE_POLICY, ModelPart, TrainingPolicy
from skae._preprocessing import Standardizer, Whitener
from skae._warm_start import broad_weight, full_covariances, mixture_ensemble
from skae.losses import NegativeLogLikelihood
from skae.modules.coupling import RealNVP
from skae.modules.image_flow import MultiscaleRealNVP
from skae.modules.mixture import GaussianMixtureBase
from skae.modules.protocol import InputSpec
from skae.noise import GaussianNoise

# Values of the widest convolution output held at once in inference (images).
_ACTIVATION_BUDGET = 2**22


def mixture_base(
    mixtures, whitening: np.ndarray, broad: float, centre=None
) -> GaussianMixtureBase:
    """The average of ``mixtures`` (fitted to standardised rows) in the
    whitened space, beside a broad ``N(centre, I)`` (standardised space;
    ``centre`` None: the data's mean) of weight ``broad``."""
    d = whitening.shape[0]
    weights = np.concatenate([m.weights_ / len(mixtures) for m in mixtures])
    weights = np.r_[(1 - broad) * weights, broad]
    means = np.concatenate([m.means_ for m in mixtures]) @ whitening
    broad_mean = np.zeros((1, d)) if centre is None else centre[None] @ whitening
    means = np.r_[means, broad_mean]
    covariances = np.concatenate([full_covariances(m) for m in mixtures])
    mapped = whitening.T @ covariances @ whitening
    # The broad component is N(0, I) in the *standardised* space: isotropic
    # there, so a direction in which the data hardly vary does not make it
    # narrow as well.
    covariances = np.r_[mapped, (whitening.T @ whitening)[None]]
    return GaussianMixtureBase(weights, means, covariances)


def standardised_rows(rows: np.ndarray, fitted) -> tuple[np.ndarray, np.ndarray]:
    """``(standardised rows, whitening)`` of whitened model-space ``rows``.

    The mixtures are fitted on the standardised rows (k-means' start and the
    covariance regularisation are not invariant to whitening), then mapped
    exactly to the whitened space the flow works in (:func:`mixture_base`).
    """
    whitening = fitted["preprocessor_"].whitening_
    return np.linalg.solve(whitening.T, rows.T).T, whitening


class RealNVPPart(ModelPart):
    """Affine or spline couplings on whitened rows over a Gaussian-mixture base."""

    policy = TrainingPolicy(auto_epochs=1000)

    def preprocessor(self, heads) -> Standardizer:
        return Whitener(self.params.whiten)

    def build(self, spec: InputSpec) -> RealNVP:
        p = self.params
        return RealNVP(
            spec.n_features,
            n_layers=p.n_layers,
            hidden_layer_sizes=self.hidden_layer_sizes,
            activation=p.activation,
            mask=p.mask,
            log_scale_bound=p.log_scale_bound,
            n_context=spec.n_context,
            # The conditional flows have no spline option (yet): affine.
            coupling=getattr(p, "coupling", "affine"),
            n_bins=getattr(p, "n_bins", 8),
            tail_bound=getattr(p, "tail_bound", 3.0),
        )

    def criterion(self, fitted) -> NegativeLogLikelihood:
        return NegativeLogLikelihood()

    def batch_transform(self, X_fit, fitted) -> tuple:
        level = self.params.noise_level
        return (GaussianNoise(level) if level else identity_batch), {}

    def start(self, module, rows, validation, seed, fitted) -> dict:
        """The base mixture (docs/concepts.md#the-mixtures-bic-scan)."""
        standardised, whitening = standardised_rows(rows, fitted)
        mixtures = mixture_ensemble(
            standardised, self.params.n_base_components, seed, validation
        )
        sizes = [mixture.n_components for mixture in mixtures]
        record = {"base_mixture_sizes_": tuple(sizes)}
        if set(sizes) <= {1}:
            # No mixture, or one Gaussian (EM's single component is the same
            # from every seed): the standard normal, the whitened data's
            # Gaussian.
            return {**record, "n_base_components_": 1}
        record["n_base_components_"] = sum(sizes)
        broad = broad_weight(standardised, sizes, seed, validation)
        module.set_base(mixture_base(mixtures, whitening, broad))
        return record

    def finish(self, module, X_model, fitted, context=None) -> dict:
        module.fit_boxes(dense_rows(X_model), context=context)
        return {}

    def latent_width(self, fitted) -> int:
        return fitted["n_features_in_"]

    def sample_latent(self, fitted, n_samples, rng, context=None):
        base = fitted["net_"].module_.base
        if base is None:
            return rng.standard_normal((n_samples, fitted["n_features_in_"]))
        if getattr(base, "conditional", False):
            return base.sample(n_samples, rng, context)
        return base.sample(n_samples, rng)


# Parameters of the coupling flow on tables that the image flow does not
# have, with their defaults: set to anything else, they are an error.
TABLE_ONLY = {
    "n_layers": 8,
    "activation": "relu",
    "mask": "alternating",
    "whiten": True,
    "n_base_components": "bic",
    "coupling": "affine",
    "n_bins": 8,
    "tail_bound": 3.0,
}


class MultiscaleFlowPart(RealNVPPart):
    """The multiscale image flow: per-pixel standardisation, normal base."""

    policy = IMAGE_POLICY
    compute_dtype = np.float32

    def check_input(self, X, *, fitting: bool = False) -> None:
        """The table flow's parameters must keep their defaults: the image
        flow has fixed checkerboard and channel couplings on a normal base."""
        given = {
            name: getattr(self.params, name)
            for name, default in TABLE_ONLY.items()
            if getattr(self.params, name) != default
        }
        if given:
            raise ValueError(
                f"RealNVPDensity with image_shape is the multiscale image flow, "
                f"which has no {sorted(given)} (got {given}); leave them at their "
                "defaults, or fit the table flow with image_shape=None."
            )

    def preprocessor(self, heads) -> Standardizer:
        return Standardizer("channel", n_channels=self.image_shape[0])

    def build(self, spec: InputSpec) -> MultiscaleRealNVP:
        return MultiscaleRealNVP(
            spec.image_shape,
            hidden_channels=self.hidden_layer_sizes,
            log_scale_bound=self.params.log_scale_bound,
        )

    def start(self, module, rows, validation, seed, fitted) -> dict:
        train = rows if validation is None else np.delete(rows, validation, 0)
        module.initialize_from_data(torch.from_numpy(train))
        return {"n_base_components_": 1, "base_mixture_sizes_": ()}

    def inference_rows(self, fitted) -> int:
        channels, height, width = self.image_shape
        widest = max(channels, *self.hidden_layer_sizes) + 1
        return max(1, _ACTIVATION_BUDGET // (widest * height * width))


def flow_part(params, image_shape) -> RealNVPPart:
    """The flow part: the multiscale flow for images."""
    kind = RealNVPPart if image_shape is None else MultiscaleFlowPart
    return kind(params, image_shape)
