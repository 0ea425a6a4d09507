"""The autoencoders' part: PCA start, denoising warm-up, code statistics.

:class:`AutoencoderPart` is the MLP autoencoder of
:class:`~skae.AutoencoderTransformer` and, with a corruption,
:class:`~skae.DenoisingAE`; :class:`ConvAutoencoderPart` the convolutional
networks for images (:mod:`skae.modules.conv`).  :func:`autoencoder_part`
chooses between them.
"""

from dataclasses import replace

import numpy as np
import torch

from skae._data import column_min_max, identity_batch
from skae._inference import apply_rows
from skae._params import torch_device
from skae._parts import IMAGE_POLICY, ModelPart, TrainingPolicy
from skae._preprocessing import block_rows
from skae._pretraining import greedy_pretraining
from skae._tabular import check_magnitude, needs_table_scoring, scaler, table_error
from skae._warm_start import principal_axes, probabilistic_pca_noise
from skae.losses import ReconstructionLoss
from skae.modules.autoencoder import Autoencoder
from skae.modules.conv import feature_map_sizes
from skae.modules.protocol import InputSpec
from skae.noise import GaussianNoise, MaskingNoise, SaltAndPepperNoise

# Values of the widest layer held at once when encoding or decoding images.
_ACTIVATION_BUDGET = 2**22


class AutoencoderPart(ModelPart):
    """An MLP autoencoder started at PCA, trained on the squared error."""

    # max_iter='auto' on a large table: at most about 8,000 optimiser steps
    # (docs/concepts.md#training-budgets).
    budget = TrainingPolicy(auto_steps=8000)

    @property
    def denoising(self) -> bool:
        return hasattr(self.params, "noise")

    @property
    def policy(self) -> TrainingPolicy:
        # A denoiser's validation loss is a denoising loss.
        return replace(self.budget, corrupts_validation=self.denoising)

    # Whether the network is the MLP stack that pretrain='greedy' pre-trains.
    stacks = True

    def pretrains(self) -> bool:
        return getattr(self.params, "pretrain", None) == "greedy"

    def starts_at_pca(self) -> bool:
        # Greedy pre-training starts the plain stack instead (docs/guide.md).
        return self.params.init == "pca" and not self.pretrains()

    def preprocessor(self, heads):
        return scaler("global", heads, self.image_shape)

    def check_input(self, X, *, fitting: bool = False) -> None:
        if fitting:
            check_magnitude(X, "the autoencoder")
        p = self.params
        if self.pretrains() and not self.stacks:
            raise ValueError(
                "pretrain='greedy' pre-trains the layers of the MLP autoencoder "
                "of tables; the convolutional and recurrent networks of "
                "image_shape and sequence_shape have no such stack. Set "
                "pretrain=None."
            )
        if self.denoising and p.noise != "gaussian" and p.noise_level > 1:
            raise ValueError(
                f"noise_level is the fraction of entries destroyed by "
                f"noise={p.noise!r} and must be in [0, 1], got {p.noise_level}."
            )

    def build(self, spec: InputSpec) -> Autoencoder:
        p = self.params
        return Autoencoder(
            spec.n_features,
            p.n_components,
            self.hidden_layer_sizes,
            p.activation,
            linear_path=self.starts_at_pca(),
            image_shape=spec.image_shape,
            channels=p.channels,
            sequence_shape=spec.sequence_shape,
        )

    def start(self, module, rows, validation, seed, fitted) -> dict:
        axes, record = None, {}
        if self.pretrains():
            record = greedy_pretraining(
                module,
                rows,
                validation,
                seed,
                self.params,
                self.policy,
                torch_device(self.params.device),
                self._layer_corruption,
            )
        if self.starts_at_pca():
            axes = principal_axes(rows, self.params.n_components)
            module.start_at_pca(
                *(
                    torch.from_numpy(a)
                    for a in (axes.mean, axes.components, axes.variances)
                )
            )
        return {**record, "warmup_noise_": self._warmup_noise(rows, axes, validation)}

    def _layer_corruption(self, stage: int, inputs: torch.Tensor):
        """A pre-training stage's corruption of its (model-space) inputs: the
        denoiser's own process; Gaussian noise in units of the codes' root
        mean variance above the first layer, salt and pepper at their
        columns' extremes."""
        if not self.denoising:
            return identity_batch
        p = self.params
        if p.noise == "gaussian":
            scale = 1.0 if stage == 0 else float(inputs.var(dim=0).mean().sqrt())
            return GaussianNoise(p.noise_level * scale)
        if p.noise == "masking":
            return MaskingNoise(p.noise_level)
        low, high = inputs.min(dim=0).values, inputs.max(dim=0).values
        return SaltAndPepperNoise(
            p.noise_level, low.double().cpu(), high.double().cpu()
        )

    def _warmup_noise(self, rows, axes, validation) -> float:
        """``warmup_noise`` resolved (docs/concepts.md#the-denoising-warm-up)."""
        if self.denoising:
            return 0.0  # its whole training is denoising
        p = self.params
        if p.warmup_noise != "auto":
            return float(p.warmup_noise)
        nonlinear = bool(p.hidden_layer_sizes) and p.activation != "identity"
        if axes is None or not nonlinear or validation is None:
            return 0.0
        return probabilistic_pca_noise(rows, axes)

    def warmup(self, fitted):
        noise = fitted["warmup_noise_"]
        return GaussianNoise(noise) if noise > 0 else None

    def batch_transform(self, X_fit, fitted) -> tuple:
        if not self.denoising:
            return identity_batch, {}
        p = self.params
        low, high = column_min_max(X_fit)
        record = {"data_min_": low, "data_max_": high}
        if p.noise == "gaussian":
            return GaussianNoise(p.noise_level), record
        if p.noise == "masking":
            return MaskingNoise(p.noise_level), record
        preprocessor = fitted["preprocessor_"]
        return SaltAndPepperNoise(
            p.noise_level,
            preprocessor.transform(low, np.float64),
            preprocessor.transform(high, np.float64),
        ), record

    def criterion(self, fitted) -> ReconstructionLoss:
        p = self.params
        return ReconstructionLoss(
            p.sparsity_penalty, p.contractive_penalty, fitted.get("heads_")
        )

    def _block_rows(self, X_model, fitted) -> int:
        return block_rows(X_model.shape[1])

    def finish(self, module, X_model, fitted) -> dict:
        # In blocks of rows: the activations of one block stay small and in cache.
        blocks = X_model.split(self._block_rows(X_model, fitted))
        codes = torch.cat([module.encode(b) for b in blocks]).double().cpu().numpy()
        return {"code_mean_": codes.mean(axis=0), "code_var_": codes.var(axis=0)}

    def sample_latent(self, fitted, n_samples, rng, context=None):
        noise = rng.standard_normal((n_samples, self.params.n_components))
        return fitted["code_mean_"] + np.sqrt(fitted["code_var_"]) * noise

    def reconstruct(self, fitted, X: np.ndarray) -> np.ndarray:
        """``g(f(x))`` of every row, in the user's units."""
        module = fitted["net_"].module_
        return apply_rows(
            fitted,
            lambda batch: module(batch)[0],
            X,
            rows=self.inference_rows(fitted),
            user_output=True,
            dtype=X.dtype,
        )

    def scores(self, fitted, X, context=None) -> np.ndarray:
        if needs_table_scoring(fitted, X):
            return -table_error(fitted, X, self.reconstruct(fitted, X))
        # float64: squares of float32 rows far out overflow float32.
        with np.errstate(over="ignore"):  # -inf: beyond float64, far out
            error = np.subtract(X, self.reconstruct(fitted, X), dtype=np.float64) ** 2
            return -np.mean(error, axis=1)

    def fill(self, fitted, X: np.ndarray, n_draws: int) -> np.ndarray:
        """The model's value of every entry of ``X`` (user units): its
        reconstruction from the observed entries."""
        return self.reconstruct(fitted, X)


class ConvAutoencoderPart(AutoencoderPart):
    """The convolutional autoencoder for images: random start, float32."""

    budget = IMAGE_POLICY
    compute_dtype = np.float32
    stacks = False

    def starts_at_pca(self) -> bool:
        # A PCA path with a zero-initialised convolutional branch stayed near
        # PCA's error where the random start learnt (docs/concepts.md).
        return False

    def inference_rows(self, fitted) -> int:
        height, width = feature_map_sizes(*self.image_shape[1:])[1]
        widest = max(fitted["n_features_in_"], self.params.channels * height * width)
        return max(1, _ACTIVATION_BUDGET // widest)

    def _block_rows(self, X_model, fitted) -> int:
        return self.inference_rows(fitted)


def autoencoder_part(params, image_shape) -> AutoencoderPart:
    """The autoencoder part for ``params``: convolutional for images."""
    kind = AutoencoderPart if image_shape is None else ConvAutoencoderPart
    return kind(params, image_shape)
