"""The VAE's part: factor-model start, low-rank noise, defensive component.

:class:`VAEPart` is the Gaussian MLP VAE of :class:`~skae.VAE`; the
Bernoulli likelihood (:class:`BernoulliVAEPart`) and the convolutional
networks for images (:class:`ImageNetworks`) are parts of their own, which
:func:`vae_part` combines for the estimator's ``likelihood`` and
``image_shape``.
"""

import numpy as np
import scipy.sparse as sp
import torch

from skae._data import dense_rows
from skae._defensive import (
    defensive_mixture,
    factor_covariance,
    factor_model_draws,
    gaussian_log_density,
)
from skae._inference import apply_rows
from skae._parts import IMAGE_POLICY, ModelPart, TrainingPolicy
from skae._tabular import check_magnitude, needs_table_scoring, scaler, table_heads
from skae._training import history_curve
from skae._warm_start import FactorModel, factor_model
from skae.losses import NegativeELBO, observed_iwae_bound, observed_log_weights
from skae.modules.conv import feature_map_sizes
from skae.modules.protocol import InputSpec
from skae.modules.vae import GaussianVAE

# Elements of the largest (draws, rows, width) tensor built while scoring.
_SCORING_BUDGET = 2**21
_WIDEN = 2.0  # the defensive proposal's scale, for imputation


def importance_draws(seed: int, n_draws: int, n_components: int) -> torch.Tensor:
    """The standard-normal draws that scoring shares by every row, from the
    fit's seed (``net_.iterator_train__seed``)."""
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.standard_normal((n_draws, n_components)))


class VAEPart(ModelPart):
    """A Gaussian VAE started at a factor model (docs/concepts.md)."""

    likelihood = "gaussian"
    # From the factor model the held-out bound first falls for tens of epochs
    # (docs/concepts.md#training-budgets): up to 500 epochs, about 5,000 steps.
    policy = TrainingPolicy(auto_epochs=500, auto_steps=5000)
    validation_draws = 16  # draws per held-out row of the validation bound
    positive_only = False

    def starts_at_factor_model(self) -> bool:
        return self.params.init == "factor_analysis"

    def has_noise_factors(self) -> bool:
        return True

    def preprocessor(self, heads):
        return scaler("feature", heads, self.image_shape)

    def widest_activation(self, fitted) -> int:
        """Values per row in the widest layer of the network."""
        p = self.params
        return max(fitted["n_features_in_"], p.n_components, *self.hidden_layer_sizes)

    def inference_rows(self, fitted) -> int:
        widest = self.widest_activation(fitted)
        return max(1, _SCORING_BUDGET // (self.params.n_importance_samples * widest))

    def build(self, spec: InputSpec) -> GaussianVAE:
        p, start = self.params, self.starts_at_factor_model()
        return GaussianVAE(
            spec.n_features,
            p.n_components,
            self.hidden_layer_sizes,
            p.activation,
            self.likelihood,
            linear_path=start,
            image_shape=spec.image_shape,
            channels=p.channels,
            sequence_shape=spec.sequence_shape,
            # The factor model's exact posterior can be very narrow: room for
            # it far below exp(-10).
            logvar_bounds=(-40.0, 10.0) if start else (-10.0, 10.0),
        )

    def start(self, module, rows, validation, seed, fitted) -> dict:
        p = self.params
        record = {
            "defensive_weight_": 0.0,
            "start_mean_": None,
            "start_components_": None,
            "start_noise_variance_": None,
        }
        if not self.starts_at_factor_model():
            rank = 0 if p.noise_rank == "auto" else p.noise_rank
            if rank and self.has_noise_factors():
                rng = torch.Generator().manual_seed(seed)
                factors = torch.randn(rows.shape[1], rank, generator=rng)
                module.set_noise_factors(0.01 * factors.to(torch.float64))
            return record
        max_rank = rows.shape[1] if p.noise_rank == "auto" else p.noise_rank
        model = factor_model(
            rows, p.n_components, seed, validation, max_noise_rank=max_rank
        )
        record["n_factors_start_"] = model.n_factors
        if not fitted["is_categorical_"].any():
            record.update(self._defensive(model, rows.shape[0], fitted))
        module.start_at_factor_model(
            *(
                torch.from_numpy(a)
                for a in (
                    model.mean,
                    model.loadings,
                    model.noise_variance,
                    model.posterior_weight,
                    model.posterior_variance,
                    model.noise_factors,
                )
            )
        )
        return record

    def _defensive(self, model: FactorModel, n_rows: int, fitted) -> dict:
        """The start's factor model in the user's units, and its mixture weight
        (docs/concepts.md#the-defensive-component)."""
        preprocessor = fitted["preprocessor_"]
        scale = preprocessor.scale_
        factors = model.loadings
        if model.noise_factors is not None:
            factors = np.hstack([factors, model.noise_factors])
        components = (factors * scale[:, None]).T
        components = components[np.any(components != 0, axis=1)]
        noise = model.noise_variance * scale**2
        try:
            np.linalg.cholesky(factor_covariance(components, noise))
        except np.linalg.LinAlgError:  # no proper density to fall back on
            return {}
        weight = self.params.defensive_weight
        return {
            "defensive_weight_": (
                1.0 / (n_rows + 1) if weight == "auto" else float(weight)
            ),
            "start_mean_": preprocessor.mean_ + scale * model.mean,
            "start_components_": components,
            "start_noise_variance_": noise,
        }

    def criterion(self, fitted) -> NegativeELBO:
        p = self.params
        return NegativeELBO(
            p.beta,
            fitted.get("heads_"),
            getattr(p, "n_train_importance_samples", 1),
            n_validation_draws=self.validation_draws,
        )

    def check_input(self, X, *, fitting: bool = False) -> None:
        """Any real numbers whose squares are finite (the Bernoulli part
        checks its range)."""
        if fitting:
            check_magnitude(X, "VAE")

    def finish(self, module, X_model, fitted, context=None) -> dict:
        # Far from the data the residual branches stay at their box's edge.
        module.fit_boxes(dense_rows(X_model), *(() if context is None else (context,)))
        net = fitted["net_"]
        record = {
            "kl_curve_": history_curve(net, "train_kl"),
            "reconstruction_curve_": history_curve(net, "train_reconstruction"),
            "validation_kl_curve_": None,
            "validation_reconstruction_curve_": None,
        }
        if self.params.early_stopping:
            record["validation_kl_curve_"] = history_curve(net, "valid_kl")
            record["validation_reconstruction_curve_"] = history_curve(
                net, "valid_reconstruction"
            )
        factors = module.noise_factors
        record["noise_rank_"] = 0 if factors is None else factors.shape[1]
        record.update(self._noise(module, factors, fitted))
        return record

    def _noise(self, module, factors, fitted) -> dict:
        """The decoder's noise in the user's units."""
        scale = fitted["preprocessor_"].scale_
        logvar = module.clamped_decoder_logvar().double().cpu().numpy()
        variance = np.exp(logvar) * scale**2
        components = np.zeros((0 if factors is None else factors.shape[1], logvar.size))
        if factors is not None:
            components = (factors.double().cpu().numpy() * scale[:, None]).T.copy()
        for block in table_heads(fitted).layout.blocks:
            variance[block] = 0.0
            components[:, block] = 0.0
        return {"noise_variance_": variance, "noise_components_": components}

    def log_prob_kwargs(self, fitted) -> dict:
        """The ``K`` importance draws shared by every row, fixed by the fit's seed."""
        p, seed = self.params, fitted["net_"].iterator_train__seed
        return {"eps": importance_draws(seed, p.n_importance_samples, p.n_components)}

    def user_shift(self, fitted, context) -> np.ndarray | float:
        """What a conditional part's context adds to the mean (user units)."""
        return 0.0

    def scores(self, fitted, X, context=None) -> np.ndarray:
        log_vae = self.network_scores(fitted, X, context)
        # A model pickled before the defensive component existed has none.
        weight = fitted.get("defensive_weight_", 0.0)
        if weight <= 0:
            return log_vae
        covariance = factor_covariance(
            fitted["start_components_"], fitted["start_noise_variance_"]
        )
        shifted = X - self.user_shift(fitted, context)
        log_start = gaussian_log_density(shifted, fitted["start_mean_"], covariance)
        return defensive_mixture(log_vae, log_start, weight)

    def network_scores(self, fitted, X, context=None) -> np.ndarray:
        """The network's importance-weighted ``log p(x)`` (no defensive part)."""
        if not needs_table_scoring(fitted, X):
            return super().scores(fitted, X, context)
        module, heads = fitted["net_"].module_, table_heads(fitted)
        eps = self.log_prob_kwargs(fitted)["eps"].unsqueeze(1)
        log_scale = np.log(fitted["preprocessor_"].scale_)

        def score(batch, mask):
            mu, logvar = module.posterior(batch)
            draws = eps.to(dtype=mu.dtype, device=mu.device)
            return observed_iwae_bound(module, heads, batch, mu, logvar, mask, draws)

        rows = self.inference_rows(fitted)
        log_density = apply_rows(fitted, score, X, rows=rows, masked=True)
        return log_density - np.isfinite(X) @ log_scale

    def fill(self, fitted, X: np.ndarray, n_draws: int = 1000) -> np.ndarray:
        """MIWAE's conditional mean of every entry given the observed ones.

        ``E[x | x_obs] ~ sum_k w_k E[x | z_k]``, with ``z_k ~ q(z | x)`` and
        self-normalised weights ``w_k ~ p(x_obs | z_k) p(z_k) / q(z_k | x)``
        (Mattei and Frellsen, 2019), in the user's units; the ``n_draws``
        standard-normal draws are shared by every row and fixed by the fit.
        Half of them come from ``q`` widened to twice its standard deviations
        (docs/concepts.md#the-imputers-held-out-entries).
        """
        net = fitted["net_"]
        module, heads = net.module_, table_heads(fitted)
        rng = np.random.default_rng(net.iterator_train__seed + 1)
        k = self.params.n_components
        eps = torch.from_numpy(rng.standard_normal((n_draws, 1, k)))
        bernoulli = self.likelihood == "bernoulli"

        def conditional_mean(batch, mask):
            mu, logvar = module.posterior(batch)
            draws = eps.to(dtype=mu.dtype, device=mu.device)
            log_w, out = observed_log_weights(
                module, heads, batch, mu, logvar, mask, draws, widen=_WIDEN
            )
            weights = torch.softmax(log_w, dim=0).unsqueeze(-1)
            mean = heads.mean(out, bernoulli)
            if module.noise_factors is not None:
                mean = mean + heads.noise_mean(
                    batch,
                    out,
                    mask,
                    module.clamped_decoder_logvar(),
                    module.noise_factors,
                )
            return (weights * mean).sum(dim=0)

        widest = max(X.shape[1], k, *self.hidden_layer_sizes)
        rows = max(1, _SCORING_BUDGET // (n_draws * widest))
        return apply_rows(
            fitted, conditional_mean, X, masked=True, user_output=True, rows=rows
        )

    def draws(self, fitted, means, rng, noise: bool) -> np.ndarray:
        """Samples from decoded means: the low-rank noise's part ``F u``, the
        per-feature noise (with ``noise``) and the defensive component."""
        n_samples = means.shape[0]
        if fitted["noise_rank_"]:
            u = rng.standard_normal((n_samples, fitted["noise_rank_"]))
            means = means + u @ fitted["noise_components_"]
        if noise:
            std = np.sqrt(fitted["noise_variance_"])
            means = means + std * rng.standard_normal(means.shape)
        weight = fitted.get("defensive_weight_", 0.0)
        if weight > 0:
            start = rng.random_sample(n_samples) < weight
            means[start] = factor_model_draws(
                int(start.sum()),
                fitted["start_mean_"],
                fitted["start_components_"],
                fitted["start_noise_variance_"],
                rng,
                noise=noise,
            )
        return means


class BernoulliVAEPart(VAEPart):
    """Independent Bernoulli pixels or entries: non-negative data divided by
    their training maximum when it exceeds 1 (``[0, 1]`` used as given)."""

    likelihood = "bernoulli"
    positive_only = True

    def starts_at_factor_model(self) -> bool:
        return False

    def has_noise_factors(self) -> bool:
        return False

    def preprocessor(self, heads):
        return scaler("maximum", heads, self.image_shape)

    def check_input(self, X, *, fitting: bool = False) -> None:
        values = X.data if sp.issparse(X) else X
        if values.size == 0 or np.isnan(values).all():
            return
        low = np.nanmin(values)
        if low < 0:
            raise ValueError(
                "Negative values in data passed to VAE: likelihood='bernoulli' "
                f"needs data in [0, 1] after division by the training maximum, "
                f"but X has values down to {low:g}. Rescale X (e.g. with "
                "MinMaxScaler) or use likelihood='gaussian'."
            )

    def scores(self, fitted, X, context=None) -> np.ndarray:
        peak = fitted["preprocessor_"].scale_.max()
        high = np.nanmax(X) if X.size and not np.isnan(X).all() else 0.0
        if high > peak * (1 + 1e-12):
            raise ValueError(
                f"Values above 1 in data passed to VAE: likelihood='bernoulli' "
                f"needs data in [0, 1] after division by the training maximum, "
                f"{peak:g}, but X has values up to {high:g}."
            )
        return super().scores(fitted, X, context)

    def _noise(self, module, factors, fitted) -> dict:
        return {"noise_variance_": None, "noise_components_": None}

    def draws(self, fitted, means, rng, noise: bool) -> np.ndarray:
        if not noise:
            return means
        scale = fitted["preprocessor_"].scale_  # 0/1 draws in the data's units
        return (rng.random_sample(means.shape) < means / scale) * scale


class ImageNetworks:
    """Convolutional networks for images: random start, float32, per channel.

    The held-out bound of an image row sums hundreds of pixels; two draws
    keep validation cheaper than training.
    """

    policy = IMAGE_POLICY
    compute_dtype = np.float32
    validation_draws = 2

    def starts_at_factor_model(self) -> bool:
        return False

    def has_noise_factors(self) -> bool:
        return False

    def widest_activation(self, fitted) -> int:
        height, width = feature_map_sizes(*self.image_shape[1:])[1]
        return max(fitted["n_features_in_"], self.params.channels * height * width)


class ImageVAEPart(ImageNetworks, VAEPart):
    """A Gaussian VAE of images."""


class ImageBernoulliVAEPart(ImageNetworks, BernoulliVAEPart):
    """A Bernoulli VAE of images."""


_PARTS = {
    ("gaussian", False): VAEPart,
    ("bernoulli", False): BernoulliVAEPart,
    ("gaussian", True): ImageVAEPart,
    ("bernoulli", True): ImageBernoulliVAEPart,
}


def vae_part(params, image_shape) -> VAEPart:
    """The VAE part for ``params``' likelihood and the fitted image shape."""
    return _PARTS[params.likelihood, image_shape is not None](params, image_shape)
