"""The conditional parts: ``p(x | y)`` with the context ``y`` in the networks.

:class:`ConditionalFlowPart` is :class:`~skae.ConditionalRealNVPDensity`'s
coupling flow whose every conditioner reads the encoded ``y``; for class
labels its base is one Gaussian mixture per class (the BIC-chosen ensemble
of :class:`~skae.RealNVPDensity`, fitted to each class's rows), so the
untrained flow is the per-class mixture and early stopping can keep it as
epoch 0.  :func:`reference_record` gives every conditional model the
contexts its ``y=None`` methods average or choose over
(:class:`~skae._conditional.ConditionalMixin`).
"""

import numpy as np
import scipy.sparse as sp
import torch

from skae._context import ContextEncoder
from skae._data import holdout_split
from skae._defensive import defensive_mixture, factor_covariance, gaussian_log_density
from skae._tabular import check_magnitude
from skae._warm_start import (
    broad_weight,
    factor_model,
    mixture_ensemble,
    mixture_weight,
)
from skae.losses import ConditionalNegativeELBO, ConditionalNegativeLogLikelihood
from skae.modules.mixture import ClassMixtureBase, GaussianMixtureBase
from skae.modules.protocol import InputSpec
from skae.modules.vae import ConditionalGaussianVAE
from skae.parts.flow import (
    RealNVPPart,
    averaged_mixture,
    mixture_base,
    standardised_rows,
)
from skae.parts.vae import ImageNetworks, VAEPart

_MAX_REFERENCES = 32  # training contexts a numeric y=None marginal averages over
_MAX_SIZE = 32  # most components of a class's mixture
# Fewest validation rows of a class on which its mixture may replace its
# factor model (docs/concepts.md: per-class defensive densities).
_MIN_CLASS_HELD_OUT = 10


def reference_record(encoder: ContextEncoder, context: np.ndarray, seed: int) -> dict:
    """The contexts a conditional model's ``y=None`` methods use, with weights.

    For labels: every class, weighted by its frequency in ``fit``'s ``y``
    (the prior ``p(y)``).  For numeric covariates: up to 32 of the rows of
    ``y`` (drawn with ``seed``), equally weighted, an empirical ``p(y)``.
    ``context`` is the encoded ``y`` of every row.
    """
    if encoder.classes_ is not None:
        counts = context[:, : len(encoder.classes_)].sum(axis=0)
        if len(encoder.classes_) == 1:
            counts = np.array([len(context)], dtype=np.float64)
        return {
            "context_reference_": encoder.classes_.copy(),
            "context_log_weights_": np.log(counts / counts.sum()),
        }
    rows = np.unique(context, axis=0)
    if len(rows) > _MAX_REFERENCES:
        pick = np.random.RandomState(seed).choice(len(rows), _MAX_REFERENCES, False)
        rows = rows[np.sort(pick)]
    return {
        "context_reference_": rows * encoder.scale_ + encoder.mean_,
        "context_log_weights_": np.full(len(rows), -np.log(len(rows))),
    }


def check_dense(X, owner: str) -> None:
    """A conditional model reads dense rows only (its context rides beside them)."""
    if sp.issparse(X):
        raise TypeError(
            f"{owner} does not accept sparse X (a sparse matrix was passed); "
            "pass X.toarray()."
        )


class ConditionalFlowPart(RealNVPPart):
    """Affine couplings reading ``[b*x, y]`` over a per-class mixture base."""

    chooses_base = False  # trained over the (per-class) start mixture

    def context(self) -> ContextEncoder:
        return ContextEncoder()

    def check_input(self, X, *, fitting: bool = False) -> None:
        check_dense(X, "ConditionalRealNVPDensity")

    def criterion(self, fitted) -> ConditionalNegativeLogLikelihood:
        return ConditionalNegativeLogLikelihood()

    def start(self, module, rows, validation, seed, fitted, context=None) -> dict:
        """One base mixture per class for labels, the unconditional base for
        numeric covariates (docs/guide.md#conditional-models)."""
        encoder = fitted["context_encoder_"]
        record = reference_record(encoder, context, seed)
        if encoder.classes_ is None:
            return {**super().start(module, rows, validation, seed, fitted), **record}
        standardised, whitening = standardised_rows(rows, fitted)
        bases, sizes = [], []
        for members, within in class_rows(context, validation):
            if len(members) - len(within) < 2:
                # Too few rows for a mixture: the whole data's Gaussian.
                d = rows.shape[1]
                bases.append(
                    GaussianMixtureBase(np.ones(1), np.zeros((1, d)), np.eye(d)[None])
                )
                sizes.append(())
                continue
            mixtures, kind = class_mixtures(
                standardised[members], self.params.n_base_components, seed, within
            )
            counts = [mixture.n_components for mixture in mixtures]
            broad = broad_weight(standardised[members], counts, seed, within, kind)
            centre = standardised[members].mean(axis=0)
            bases.append(mixture_base(mixtures, whitening, broad, centre))
            sizes.append(tuple(counts))
        module.set_base(ClassMixtureBase(bases))
        record["base_mixture_sizes_"] = tuple(sizes)
        record["n_base_components_"] = sum(sum(s) for s in sizes)
        return record


def class_rows(context: np.ndarray, validation) -> list[tuple]:
    """``(members, within)`` of each class (column of the one-hot
    ``context``): the indices of its rows, and the positions among them of
    those that are ``validation`` rows."""
    held = np.zeros(len(context), bool)
    if validation is not None:
        held[validation] = True
    labels = context.argmax(axis=1)
    out = []
    for k in range(context.shape[1]):
        members = np.flatnonzero(labels == k)
        out.append((members, np.flatnonzero(held[members])))
    return out


def class_mixtures(rows: np.ndarray, n_components, seed: int, validation) -> tuple:
    """``(mixtures, covariance_type)`` of one class's standardised ``rows``.

    :func:`~skae._warm_start.mixture_ensemble` with full and with diagonal
    covariances, fitted to all the class's rows as
    :class:`~skae.RealNVPDensity`'s base is to all rows; the type of the
    lower mean BIC wins.  A full covariance is estimated only from more than
    twice as many rows as dimensions: the full scan stops at ``n / (2 d)``
    components, and a full mixture with a component of ``d`` rows or fewer
    is left out of its ensemble.  A class often has few rows for its dimension
    (digits: about a hundred rows of 64 pixels): full covariances then
    over-fit, yet BIC prefers them (their log-determinants are set by
    ``reg_covar``), and a held-out row falls tens of nats below the
    diagonal mixture (docs/guide.md#conditional-models).
    """
    n, d = rows.shape
    best, best_score, best_kind = [], -np.inf, "diag"
    for kind in ("full", "diag"):
        cap = n // (2 * d) if kind == "full" else _MAX_SIZE
        if cap < 1:
            continue
        mixtures = mixture_ensemble(rows, n_components, seed, validation, kind, cap)
        if kind == "full":  # a member with a component of <= d rows is left out
            mixtures = [m for m in mixtures if (m.weights_ * n).min() > d]
        if not mixtures:
            continue
        score = -np.mean([mixture.bic(rows) for mixture in mixtures])
        if score > best_score or not best:
            best, best_score, best_kind = mixtures, score, kind
    return best, best_kind


class _UnitScale:
    """A standardiser that changes nothing: the VAE's start and noise read
    in the classes' whitened space ``v`` rather than in the user's units."""

    def __init__(self, n_features: int) -> None:
        self.mean_ = np.zeros(n_features)
        self.scale_ = np.ones(n_features)


def class_factor_models(
    rows: np.ndarray, context: np.ndarray, validation, seed: int, n_latent: int, rank
) -> tuple:
    """``(means, factors, counts)`` of each class's factor model: ``means``
    (K, d), ``factors`` (K, d, d), the Cholesky factor of each class's
    covariance, and ``counts`` (K,), its number of factors (0: none fitted).

    :func:`~skae._warm_start.factor_model` of the class's rows, its count
    of factors chosen on the class's validation rows (cross-validated over
    the class's rows when they are few), the latent and noise factors and
    the noise together; a class with fewer than two rows keeps its mean and
    the identity.
    """
    d = rows.shape[1]
    means = np.zeros((context.shape[1], d))
    factors = np.tile(np.eye(d), (context.shape[1], 1, 1))
    counts = np.zeros(context.shape[1], int)
    for k, (members, within) in enumerate(class_rows(context, validation)):
        if len(members):
            means[k] = rows[members].mean(axis=0)
        if len(members) < 2:
            continue
        model = factor_model(
            rows[members],
            n_latent,
            seed,
            within,
            max_noise_rank=d if rank == "auto" else rank,
        )
        means[k], factors[k] = model.mean, _cholesky(_covariance(model))
        counts[k] = model.n_factors
    return means, factors, counts


def _covariance(model) -> np.ndarray:
    """A factor model's covariance, its noise factors included."""
    loadings = model.loadings
    if model.noise_factors is not None:
        loadings = np.hstack([loadings, model.noise_factors])
    return factor_covariance(loadings.T, model.noise_variance)


def class_densities(
    rows: np.ndarray, context: np.ndarray, validation, seed: int, factor_models
) -> tuple:
    """Each class's classical density, a Gaussian mixture ``(weights, means,
    covariances)`` of ``rows``' space, one per class: the ConditionalVAE's
    defensive component.

    ``factor_models`` is :func:`class_factor_models`'s answer.  A class's
    density is its factor model (one Gaussian), unless the average of
    Gaussian mixtures of its rows (:func:`class_mixtures`, the BIC-chosen
    ensemble of :class:`~skae.ConditionalRealNVPDensity`'s base) has a
    higher mean log-likelihood on the class's validation rows, by more than
    one standard error of the rows' gains, both fitted to the class's other
    rows for that comparison (the factor model with its chosen count of
    factors); the mixtures are then refitted to all the class's rows.  A
    class with fewer than ``_MIN_CLASS_HELD_OUT`` (10) validation rows keeps
    its factor model: on fewer, the one-standard-error rule let an
    83-component mixture through (crabs, about 7 rows), and the mixtures'
    scans would cost most of a small fit.  A single
    Gaussian cannot follow a class made of sub-groups (two kinds of benign
    tumour): the mixture can (docs/guide.md#conditional-models).
    """
    means, factors, counts = factor_models
    densities = []
    for k, (members, within) in enumerate(class_rows(context, validation)):
        gaussian = (np.ones(1), means[k][None], (factors[k] @ factors[k].T)[None])
        inner = np.delete(members, within)
        if not counts[k] or len(within) < _MIN_CLASS_HELD_OUT or len(inner) < 2:
            densities.append(gaussian)
            continue
        held = rows[members[within]]
        try:
            model = factor_model(rows[inner], int(counts[k]), seed)
            single = gaussian_log_density(held, model.mean, _covariance(model))
        except (ValueError, np.linalg.LinAlgError):
            single = np.full(len(held), -np.inf)
        trial = averaged_mixture(class_mixtures(rows[inner], "bic", seed, None)[0])
        if trial is None or not _clearly_better(
            mixture_log_density(trial, held), single
        ):
            densities.append(gaussian)
            continue
        chosen = averaged_mixture(class_mixtures(rows[members], "bic", seed, None)[0])
        densities.append(gaussian if chosen is None else chosen)
    return tuple(densities)


def _clearly_better(scores: np.ndarray, reference: np.ndarray) -> bool:
    """Whether the held-out ``scores`` beat ``reference`` row by row by more
    than one standard error of their mean gain (the one-standard-error
    rule: a class's few validation rows decide only a clear difference)."""
    gain = scores - reference
    if len(gain) < 2 or not np.isfinite(gain).all():
        return bool(np.isfinite(scores).all() and not np.isfinite(reference).all())
    return bool(gain.mean() > gain.std(ddof=1) / np.sqrt(len(gain)))


def mixture_log_density(mixture: tuple, X: np.ndarray) -> np.ndarray:
    """``log p(x)`` of each row of ``X`` under ``(weights, means, covariances)``."""
    return GaussianMixtureBase(*mixture).log_prob(torch.from_numpy(X)).numpy()


def _cholesky(covariance: np.ndarray) -> np.ndarray:
    """The Cholesky factor of ``covariance``, with the smallest diagonal
    jitter (relative to its mean variance) that makes it succeed in rounding."""
    scale = max(np.trace(covariance) / len(covariance), np.finfo(float).tiny)
    for jitter in (0.0, *(scale * 10.0**-p for p in range(12, 0, -1))):
        try:
            return np.linalg.cholesky(covariance + jitter * np.eye(len(covariance)))
        except np.linalg.LinAlgError:
            continue
    raise ValueError(
        "A class's factor-model covariance is not positive definite; use init='random'."
    )


class ConditionalVAEPart(VAEPart):
    """A Gaussian VAE of ``v = A_y^{-1} (x - M y)``: for class labels started
    at each class's own factor model (``M y`` its mean, ``A_y`` the Cholesky
    factor of its covariance) and the VAE's factor-model start on ``v``; for
    numeric covariates (or a random start) ``A_y = I`` and ``M`` the linear
    regression of ``x`` on ``y`` (the class means)."""

    def context(self) -> ContextEncoder:
        return ContextEncoder()

    def check_input(self, X, *, fitting: bool = False) -> None:
        check_dense(X, "ConditionalVAE")
        if fitting:
            check_magnitude(X, "ConditionalVAE")
        if np.isnan(X).any():
            raise ValueError(
                "Input X contains NaN: ConditionalVAE does not take missing "
                "values; impute them first."
            )

    def build(self, spec: InputSpec) -> ConditionalGaussianVAE:
        p, start = self.params, self.starts_at_factor_model()
        return ConditionalGaussianVAE(
            spec.n_features,
            p.n_components,
            spec.n_context,
            hidden_layer_sizes=self.hidden_layer_sizes,
            activation=p.activation,
            linear_path=start,
            image_shape=spec.image_shape,
            channels=p.channels,
            logvar_bounds=(-40.0, 10.0) if start else (-10.0, 10.0),
        )

    def criterion(self, fitted) -> ConditionalNegativeELBO:
        return ConditionalNegativeELBO(
            self.params.beta,
            None,
            self.params.n_train_importance_samples,
            n_validation_draws=self.validation_draws,
        )

    def per_class(self, fitted) -> bool:
        """Whether every class has its own factors ``A_y`` (labels, factor start)."""
        return (
            self.starts_at_factor_model()
            and fitted["context_encoder_"].classes_ is not None
        )

    def start(self, module, rows, validation, seed, fitted, context=None) -> dict:
        """Labels: each class's factor model (``M`` and ``A_y``); numeric
        covariates: ``M`` the least squares of the training rows on them.
        Then the VAE's start on ``v``."""
        if fitted["is_categorical_"].any():
            raise ValueError(
                "ConditionalVAE takes numeric columns only; encode the "
                "categorical ones first (e.g. OneHotEncoder)."
            )
        record = reference_record(fitted["context_encoder_"], context, seed)
        record["class_densities_"] = None
        if self.per_class(fitted):
            p = self.params
            models = class_factor_models(
                rows, context, validation, seed, p.n_components, p.noise_rank
            )
            shift, factors, _ = models
            module.set_class_factors(torch.from_numpy(factors))
            densities = class_densities(rows, context, validation, seed, models)
            record["class_densities_"] = densities
        else:
            train = np.ones(len(rows), bool)
            if validation is not None:
                train[validation] = False
            shift = np.linalg.lstsq(context[train], rows[train], rcond=None)[0]
        with torch.no_grad():
            module.context_shift.weight.copy_(torch.from_numpy(shift.T))
            v = module.model_rows(torch.from_numpy(rows), torch.from_numpy(context))
        residuals = v.numpy()
        return {**super().start(module, residuals, validation, seed, fitted), **record}

    def finish(self, module, X_model, fitted, context=None) -> dict:
        """As :meth:`VAEPart.finish`; with class densities and
        ``defensive_weight='auto'``, the defensive weight then becomes its
        maximum-likelihood value on the validation rows (at least
        ``1 / (n + 1)``, at most ``n / (n + 1)``), where the network and each
        class's density compete (docs/guide.md#conditional-models)."""
        record = super().finish(module, X_model, fitted, context)
        net, p = fitted["net_"], self.params
        floor, densities = self._class_defensive(fitted)
        if densities is None or p.defensive_weight != "auto" or net.train_split is None:
            return record
        n = len(X_model)
        validation = holdout_split(
            n, True, p.validation_fraction, net.iterator_train__seed
        )[1]
        rows = X_model[validation].double().cpu().numpy()
        given = context[validation].double().cpu().numpy()
        X = fitted["preprocessor_"].inverse_transform(rows)
        log_vae = self.network_scores({**fitted, **record}, X, given)
        log_class = (
            densities.log_prob(torch.from_numpy(rows), torch.from_numpy(given)).numpy()
            + fitted["preprocessor_"].log_det()
        )
        record["defensive_weight_"] = mixture_weight(
            log_vae, log_class, floor, 1 - floor
        )
        return record

    def _in_whitened_space(self, fitted) -> dict:
        """``fitted`` seen by the VAE's start and noise: in ``v``'s units when
        the classes have their own factors."""
        if not self.per_class(fitted):
            return fitted
        return {**fitted, "preprocessor_": _UnitScale(fitted["n_features_in_"])}

    def _defensive(self, model, n_rows: int, fitted) -> dict:
        return super()._defensive(model, n_rows, self._in_whitened_space(fitted))

    def _noise(self, module, factors, fitted) -> dict:
        return super()._noise(module, factors, self._in_whitened_space(fitted))

    def scores(self, fitted, X, context=None) -> np.ndarray:
        """As :meth:`VAEPart.scores`; with class factors the defensive
        component is each class's density (:func:`class_densities`)."""
        if not self.per_class(fitted):
            return super().scores(fitted, X, context)
        log_vae = self.network_scores(fitted, X, context)
        weight, densities = self._class_defensive(fitted)
        if densities is None:
            return log_vae
        preprocessor = fitted["preprocessor_"]
        rows = torch.from_numpy(preprocessor.transform(X, np.float64))
        log_class = densities.log_prob(rows, torch.from_numpy(context)).numpy()
        return defensive_mixture(log_vae, log_class + preprocessor.log_det(), weight)

    @staticmethod
    def _class_defensive(fitted) -> tuple:
        """``(weight, ClassMixtureBase or None)``: the defensive component."""
        weight = fitted.get("defensive_weight_", 0.0)
        densities = fitted.get("class_densities_")
        if weight <= 0 or densities is None:
            return weight, None
        return weight, ClassMixtureBase([GaussianMixtureBase(*m) for m in densities])

    def conditional_draws(self, fitted, means, rng, noise: bool, context) -> np.ndarray:
        """:meth:`VAEPart.draws` given ``y``: the noise (and the defensive
        component) drawn where the shared VAE lives (``x - M y``, or ``v``)."""
        if not self.per_class(fitted):
            shift = self.user_shift(fitted, context)
            return self.draws(fitted, means - shift, rng, noise) + shift
        preprocessor = fitted["preprocessor_"]
        module = fitted["net_"].module_
        given = torch.from_numpy(context)
        rows = torch.from_numpy((means - preprocessor.mean_) / preprocessor.scale_)
        network = {**fitted, "defensive_weight_": 0.0}
        with torch.no_grad():
            v = module.model_rows(rows.to(module.context_shift.weight), given)
            v = torch.from_numpy(
                self.draws(network, v.double().cpu().numpy(), rng, noise)
            )
            rows = module.unwhitened(v.to(module.context_shift.weight), given)
        rows = rows.double().cpu().numpy()
        weight, densities = self._class_defensive(fitted)
        if densities is not None:  # the defensive share: each class's density
            start = rng.random_sample(len(rows)) < weight
            if start.any():
                rows[start] = densities.sample(int(start.sum()), rng, context[start])
        return preprocessor.mean_ + preprocessor.scale_ * rows

    def user_shift(self, fitted, context) -> np.ndarray:
        """``M y`` in the user's units (what the context adds to the mean)."""
        weight = fitted["net_"].module_.context_shift.weight.detach().double()
        return (context @ weight.cpu().numpy().T) * fitted["preprocessor_"].scale_


class ConditionalImageVAEPart(ImageNetworks, ConditionalVAEPart):
    """A conditional Gaussian VAE of images (convolutional networks)."""
