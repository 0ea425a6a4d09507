"""The flows' part: a Gaussian-mixture base chosen by BIC, boxed couplings.

:class:`RealNVPPart` is :class:`~skae.RealNVPDensity`'s coupling flow on
whitened rows; :class:`MultiscaleFlowPart` the multiscale image flow
(:mod:`skae.modules.image_flow`) on per-channel scaled pixels.
"""

from dataclasses import dataclass, replace

import numpy as np
import torch

from skae._data import dense_rows, identity_batch
from skae._params import checked_hidden_layer_sizes
from skae._parts import IMAGE_POLICY, ModelPart, TrainingPolicy
from skae._preprocessing import Standardizer, Whitener
from skae._warm_start import (
    _MAX_MIXTURE,
    broad_weight,
    full_covariances,
    mixture_ensemble,
    refitted_mixtures,
)
from skae.losses import NegativeLogLikelihood
from skae.metrics import dequantize_lattice, lattice_steps
from skae.modules.coupling import RealNVP
from skae.modules.image_flow import MultiscaleRealNVP
from skae.modules.mixture import GaussianMixtureBase
from skae.modules.protocol import InputSpec
from skae.noise import GaussianNoise, LatticeNoise

# Values of the widest convolution output held at once in inference (images).
_ACTIVATION_BUDGET = 2**22


def averaged_mixture(mixtures) -> tuple | None:
    """The equal-weight average of fitted ``mixtures`` as ``(weights, means,
    covariances)`` (None: no mixture)."""
    if not mixtures:
        return None
    weights = np.concatenate([m.weights_ / len(mixtures) for m in mixtures])
    means = np.concatenate([m.means_ for m in mixtures])
    covariances = np.concatenate([full_covariances(m) for m in mixtures])
    return weights, means, covariances


def mixture_base(
    mixtures, whitening: np.ndarray, broad: float, centre=None
) -> GaussianMixtureBase:
    """The average of ``mixtures`` (fitted to standardised rows) in the
    whitened space, beside a broad ``N(centre, I)`` (standardised space;
    ``centre`` None: the data's mean) of weight ``broad``."""
    d = whitening.shape[0]
    weights, means, covariances = averaged_mixture(mixtures)
    weights = np.r_[(1 - broad) * weights, broad]
    means = means @ whitening
    broad_mean = np.zeros((1, d)) if centre is None else centre[None] @ whitening
    means = np.r_[means, broad_mean]
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


@dataclass
class BaseChoice:
    """What a flow's ``finish`` needs to choose its base after training.

    ``start_base`` is the start mixture (None: the standard normal),
    ``start_state`` the untrained module's state, the identity couplings, and
    ``rows`` the model-space rows the start saw (dequantised where the table
    has lattice columns), or None: the fit's rows.  ``max_components`` caps
    the sizes the latent codes' scan tries: the start's largest mixture.
    """

    start_base: GaussianMixtureBase | None
    start_state: dict
    validation: np.ndarray
    seed: int
    whitening: np.ndarray
    rows: np.ndarray | None = None
    max_components: int = _MAX_MIXTURE


# Most components of a latent codes' mixture (choose_base).
_LATENT_MIXTURE = 8
COUPLING_POLICY = TrainingPolicy(auto_epochs=1000)
# Row-features (epochs x training rows x features) of an autoregressive
# flow's 'auto' training: about 25 s on two CPU cores, 74 epochs of 1,211 x 56.
AUTOREGRESSIVE_WORK = 5_000_000
AUTOREGRESSIVE_POLICY = TrainingPolicy(auto_epochs=1000, auto_work=AUTOREGRESSIVE_WORK)

# The candidates of choose_base, in order of preference on a tie.
BASE_CHOICES = ("start", "normal", "mixture")


def _held_out_score(module, rows: torch.Tensor, base) -> float:
    """Mean log-density of ``rows`` under ``module`` with ``base``."""
    module.set_base(None if base is None else base.to(rows.device))
    return float(module.log_prob(rows).mean())


def choose_base(module, rows: torch.Tensor, choice: BaseChoice, n_components) -> dict:
    """Give the trained ``module`` the best base on the validation rows.

    The couplings were trained over the standard normal.  Three candidates
    are scored on the held-out rows (``choice.validation``): the start (the
    untrained, identity couplings over the start mixture: epoch 0), the
    trained couplings over the standard normal, and the trained couplings
    over a Gaussian mixture fitted, as the start one is, to the trained
    flow's latent codes of the training rows, with no more components than
    the start's largest mixture (the couplings move the data towards the
    normal; they do not split its modes).  The best is kept, the start
    on a tie, so the fit is never below its start on the validation rows
    (docs/concepts.md#the-mixtures-bic-scan).  Returns the record:
    ``base_choice_``, the base's sizes, and the validation losses of the
    start and of the model kept.
    """
    if choice.rows is not None:
        rows = torch.as_tensor(choice.rows, dtype=rows.dtype, device=rows.device)
    with torch.inference_mode(False), torch.no_grad():
        held_out = rows[torch.as_tensor(choice.validation, device=rows.device)]
        # The codes are fitted as the start's whitened rows are: in the
        # standardised space they map back to (outside the couplings' boxes
        # the flow moves points by a shift only), where the broad component
        # is isotropic.
        whitening = choice.whitening
        codes = module(rows)[0].double().cpu().numpy()
        codes = np.linalg.solve(whitening.T, codes.T).T
        # Fitted to the training rows' codes only: scored on validation rows
        # it has seen, a latent mixture looked better than it was.
        # One EM start per size: the five members are the restarts (and
        # the scan of a wide table's codes cost most of a fit with three).
        mixtures = mixture_ensemble(
            np.delete(codes, choice.validation, 0),
            n_components,
            choice.seed,
            max_components=choice.max_components,
            n_init=1,
        )
        sizes = tuple(mixture.n_components for mixture in mixtures)
        latent = None
        if mixtures:
            broad = broad_weight(codes, sizes, choice.seed, choice.validation)
            latent = mixture_base(mixtures, whitening, broad)
        trained = {
            name: value.clone()
            for name, value in module.state_dict().items()
            if not name.startswith("base.")
        }
        scores = {
            "normal": _held_out_score(module, held_out, None),
            "mixture": (
                -np.inf if latent is None else _held_out_score(module, held_out, latent)
            ),
        }
        module.set_base(None)
        module.load_state_dict(choice.start_state)
        scores["start"] = _held_out_score(module, held_out, choice.start_base)
        best = max(
            BASE_CHOICES, key=lambda name: (scores[name], -BASE_CHOICES.index(name))
        )
        if best == "mixture":
            # Chosen on rows it did not see, then refitted to every row's
            # code at its sizes (kept as chosen where a size fails to refit).
            refits = refitted_mixtures(codes, sizes, choice.seed)
            if len(refits) == len(mixtures):
                latent = mixture_base(refits, whitening, broad)
        if best != "start":
            module.set_base(None)
            module.load_state_dict(trained)
            module.set_base(None if best == "normal" else latent.to(rows.device))
    record = {
        "base_choice_": best,
        "initial_validation_loss_": -scores["start"],
        "best_loss_": -scores[best],
    }
    if best == "normal":
        record.update(n_base_components_=1, base_mixture_sizes_=())
    elif best == "mixture":
        record.update(n_base_components_=sum(sizes), base_mixture_sizes_=sizes)
    return record


def best_epoch(fitted) -> int:
    """The epoch whose parameters a fit kept (0: the start)."""
    curve = fitted.get("validation_loss_curve_")
    start = fitted.get("initial_validation_loss_")
    if not curve or start is None:
        return int(fitted.get("n_iter_", 0))
    return int(np.argmin([start, *curve]))


class RealNVPPart(ModelPart):
    """Affine or spline couplings on whitened rows over a Gaussian-mixture base.

    With validation rows and a mixture base (``n_base_components`` other
    than 1) the couplings are trained over the standard normal and the base
    is chosen after training (:func:`choose_base`); otherwise they are
    trained over the start mixture itself.
    """

    # Whether the base may be chosen after training (:func:`choose_base`).
    chooses_base = True

    @property
    def policy(self) -> TrainingPolicy:
        """1000 epochs; autoregressive layers, whose every step transforms
        every feature, at most about ``AUTOREGRESSIVE_WORK`` row-features
        (docs/concepts.md#training-budgets)."""
        if self.autoregressive:
            return AUTOREGRESSIVE_POLICY
        return COUPLING_POLICY

    def preprocessor(self, heads) -> Standardizer:
        whiten = self.params.whiten
        if whiten == "auto":  # autoregressive layers read every feature before
            whiten = not (self.autoregressive and self.n_layers > 0)
        return Whitener(whiten)

    def build(self, spec: InputSpec) -> RealNVP:
        p = self.params
        return RealNVP(
            spec.n_features,
            n_layers=self.n_layers,
            hidden_layer_sizes=self.hidden_layer_sizes,
            activation=p.activation,
            mask=p.mask,
            log_scale_bound=p.log_scale_bound,
            n_context=spec.n_context,
            coupling=p.coupling,
            n_bins=p.n_bins,
            tail_bound=p.tail_bound,
        )

    @property
    def autoregressive(self) -> bool:
        """Whether the layers are autoregressive splines (``coupling``)."""
        return self.params.coupling == "autoregressive"

    @property
    def hidden_layer_sizes(self) -> tuple[int, ...]:
        """``hidden_layer_sizes``; ``'auto'``: (64, 64) for autoregressive
        layers, (32, 32) for couplings and the image flow's channels."""
        sizes = self.params.hidden_layer_sizes
        if isinstance(sizes, str) and sizes == "auto":
            wide = self.image_shape is None and self.autoregressive
            sizes = (64, 64) if wide else (32, 32)
        return checked_hidden_layer_sizes(sizes)

    @property
    def n_layers(self) -> int:
        """``n_layers``; ``'auto'``: 3 autoregressive layers, or 8 couplings
        (half the features each)."""
        n_layers = self.params.n_layers
        if n_layers != "auto":
            return n_layers
        return 3 if self.autoregressive else 8

    def criterion(self, fitted) -> NegativeLogLikelihood:
        return NegativeLogLikelihood()

    def batch_transform(self, X_fit, fitted) -> tuple:
        level = self.params.noise_level
        transform = GaussianNoise(level) if level else None
        steps = fitted.get("lattice_steps_")
        if steps is not None and steps.any():
            preprocessor = fitted["preprocessor_"]
            transform = LatticeNoise(
                torch.from_numpy(steps / preprocessor.scale_),
                torch.from_numpy(preprocessor.whitening_),
                transform,
            )
        return transform or identity_batch, {}

    def lattice(self, standardised: np.ndarray, validation) -> np.ndarray:
        """The lattice step of every standardised column (``dequantize``;
        read from the training rows), 0 for the others."""
        mode = getattr(self.params, "dequantize", False)
        if mode is False or self.image_shape is not None:
            return np.zeros(standardised.shape[1])
        train = (
            standardised
            if validation is None
            else np.delete(standardised, validation, 0)
        )
        steps = lattice_steps(train)
        if mode is True and not steps.all():
            columns = np.flatnonzero(steps == 0).tolist()
            raise ValueError(
                f"dequantize=True needs every column on a lattice (integer-valued, "
                f"values repeating); columns {columns} are not. Use "
                "dequantize='auto' to dequantise only the lattice columns."
            )
        return steps

    def start(self, module, rows, validation, seed, fitted) -> dict:
        """The base mixture (docs/concepts.md#the-mixtures-bic-scan), fitted
        to the dequantised rows where columns are lattices."""
        standardised, whitening = standardised_rows(rows, fitted)
        steps = self.lattice(standardised, validation)
        lattice = {}
        if hasattr(self.params, "dequantize"):  # not the conditional flows
            lattice["lattice_steps_"] = steps * fitted["preprocessor_"].scale_
        dequantised = None
        if steps.any():
            standardised = dequantize_lattice(standardised, steps, random_state=seed)
            dequantised = standardised @ whitening
        mixtures = mixture_ensemble(
            standardised, self.params.n_base_components, seed, validation
        )
        sizes = [mixture.n_components for mixture in mixtures]
        record = {
            **lattice,
            "base_mixture_sizes_": tuple(sizes),
            "n_base_components_": 1,
        }
        base = None
        # No mixture, n_base_components=1, or one Gaussian (EM's single
        # component is the same from every seed) on whitened rows: the
        # standard normal, the whitened data's Gaussian.  Without whitening,
        # the scan's one Gaussian is the mixture (its covariance full).
        whitened = fitted["preprocessor_"].whiten
        normal = self.params.n_base_components == 1 or (whitened and set(sizes) <= {1})
        if sizes and not normal:
            record["n_base_components_"] = sum(sizes)
            broad = broad_weight(standardised, sizes, seed, validation)
            base = mixture_base(mixtures, whitening, broad)
        chooses = self.chooses_base and self.params.n_base_components != 1
        if chooses and validation is not None and len(validation) > 0:
            # Train the couplings over the standard normal; the base is
            # chosen after training (choose_base), the start among the
            # candidates.  Held by the module until finish.
            state = {name: value.clone() for name, value in module.state_dict().items()}
            module.pending_base_choice = BaseChoice(
                base,
                state,
                validation,
                seed,
                whitening,
                dequantised,
                # The first range of the scan (8): the trained layers have
                # moved the codes towards the normal.
                min(max(sizes, default=_MAX_MIXTURE), _LATENT_MIXTURE),
            )
        else:
            module.set_base(base)
        return record

    def finish(self, module, X_model, fitted, context=None) -> dict:
        rows = dense_rows(X_model)
        choice = module.__dict__.pop("pending_base_choice", None)
        record = {}
        if choice is not None:
            n_components = self.params.n_base_components
            record = choose_base(module, rows, choice, n_components)
        kept_start = record.get("base_choice_") == "start"
        record["best_epoch_"] = 0 if kept_start else best_epoch(fitted)
        module.fit_boxes(rows, context=context)
        return record

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
    "n_layers": "auto",
    "activation": "relu",
    "mask": "alternating",
    "whiten": "auto",
    "n_base_components": "bic",
    "coupling": "autoregressive",
    "n_bins": 8,
    "tail_bound": 3.0,
    "dequantize": "auto",
}

# Values the image flow also accepts (earlier defaults).
IMAGE_ACCEPTED = {"n_layers": (8,), "coupling": ("affine",), "whiten": (True,)}


class MultiscaleFlowPart(RealNVPPart):
    """The multiscale image flow: per-pixel standardisation, normal base."""

    # RealNVPDensity's max_iter='auto' is 1000 epochs here too, in batches of 64.
    policy = replace(IMAGE_POLICY, auto_epochs=1000)
    compute_dtype = np.float32

    def check_input(self, X, *, fitting: bool = False) -> None:
        """The table flow's parameters must keep their defaults: the image
        flow has fixed checkerboard and channel couplings on a normal base."""
        given = {
            name: getattr(self.params, name)
            for name, default in TABLE_ONLY.items()
            if getattr(self.params, name)
            not in (default, *IMAGE_ACCEPTED.get(name, ()))
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
