"""Private skorch ``NeuralNet`` subclasses.

Each one changes how batches are produced (:meth:`SkaeNet.get_iterator`) or how
the loss is computed (``get_loss``), and nothing else: the training loop,
callbacks, history and device handling stay skorch's own.
"""

import math

import torch
from skorch import NeuralNet
from skorch.callbacks import Callback, PassthroughScoring
from skorch.history import History

from skae._data import BatchIterator, BatchTransform, TensorDataset, identity_batch
from skae._vae_math import gaussian_kl_standard
from skae.losses import contractive, l1_sparsity, squared_error
from skae.modules.coupling import flow_nll

ELBO_TERMS: tuple[str, ...] = (
    "train_kl",
    "train_reconstruction",
    "valid_kl",
    "valid_reconstruction",
)


class DivergenceError(FloatingPointError):
    """Raised when the training or validation loss stops being finite."""


class DivergenceGuard(Callback):
    """Stop a fit whose loss became NaN or infinite, naming the epoch."""

    def on_epoch_end(self, net, **kwargs) -> None:
        row = net.history[-1]
        for key in ("train_loss", "valid_loss"):
            value = row.get(key)
            if value is not None and not math.isfinite(value):
                raise DivergenceError(
                    f"Training diverged: the {key.replace('_', ' ')} became "
                    f"{value} at epoch {row['epoch']}. Lower learning_rate_init, "
                    "scale the input, or raise alpha."
                )


class ELBOTermsRecorder(Callback):
    """Record each batch's KL and reconstruction terms of a VAE's loss.

    The KL is recomputed, without gradient, from the ``(mu, logvar)`` of the
    batch's output; the reconstruction term is the batch's loss minus
    ``beta`` times that KL, so the two add up to the loss exactly, whatever
    the optimizer step that followed it changed.  They are recorded as
    ``train_kl`` / ``train_reconstruction`` (or ``valid_*``) next to skorch's
    ``train_loss`` / ``valid_loss``.
    """

    def on_batch_end(self, net, batch=None, training=False, **kwargs) -> None:
        prefix = "train" if training else "valid"
        _, mu, logvar, _, _ = kwargs["y_pred"]
        with torch.no_grad():
            kl = gaussian_kl_standard(mu, logvar).mean().item()
        loss = kwargs["loss"].item()
        net.history.record_batch(f"{prefix}_kl", kl)
        net.history.record_batch(f"{prefix}_reconstruction", loss - net.beta * kl)


class BatchHistory(History):
    """skorch's ``History`` with constant-time writes to the current epoch.

    skorch's ``history[-1]`` copies the whole history to a list before
    indexing; the net writes to the current epoch and batch three times per
    batch, so those writes use the plain list lookup instead.  Reading, slicing
    and pickling are skorch's own.
    """

    def new_batch(self) -> None:
        list.__getitem__(self, -1)["batches"].append({})

    def record(self, attr: str, value) -> None:
        if not self:
            raise ValueError("Call new_epoch before recording for the first time.")
        list.__getitem__(self, -1)[attr] = value

    def record_batch(self, attr: str, value) -> None:
        list.__getitem__(self, -1)["batches"][-1][attr] = value


def _overrides(callback, hook: str) -> bool:
    return getattr(type(callback), hook, None) is not getattr(Callback, hook)


class SkaeNet(NeuralNet):
    """skorch net that trains on whole-tensor batches.

    Parameters
    ----------
    *args, **kwargs
        As for :class:`skorch.NeuralNet`.
    seed : int, default=0
        Seed of the batch order and of ``batch_transform``'s randomness.
    batch_transform : callable, default=identity_batch
        ``(batch, generator) -> (input, target)`` applied to training batches.
    """

    def __init__(
        self,
        *args,
        seed: int = 0,
        batch_transform: BatchTransform = identity_batch,
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.seed = seed
        self.batch_transform = batch_transform

    def _set_training(self, training: bool = True) -> None:
        # skorch walks every module tree at every batch; skip when already set.
        for name in self._modules + self._criteria:
            module = getattr(self, name + "_")
            if isinstance(module, torch.nn.Module) and module.training != training:
                module.train(training)

    def initialize_history(self):
        """Start an empty :class:`BatchHistory`."""
        if isinstance(self.history_, BatchHistory):
            self.history_.clear()
        else:
            self.history_ = BatchHistory()
        return self

    def notify(self, method_name: str, **cb_kwargs) -> None:
        """As skorch's, without calling callbacks whose hook is the no-op default.

        Twice per batch skorch calls every callback's ``on_batch_begin`` /
        ``on_batch_end``; none of the default ones does anything there.
        """
        getattr(self, method_name)(self, **cb_kwargs)
        for _, callback in self.callbacks_:
            if _overrides(callback, method_name):
                getattr(callback, method_name)(self, **cb_kwargs)

    def train_step(self, batch, **fit_params):
        """One optimisation step without skorch's optimizer closure.

        Adam needs no closure, and no skae callback listens to
        ``on_grad_computed``; dropping both saves Python work on every batch.
        """
        self._zero_grad_optimizer()
        step = self.train_step_single(batch, **fit_params)
        self._step_optimizer(None)
        return step

    def get_iterator(self, dataset, training: bool = False):
        if not isinstance(dataset, TensorDataset):
            return super().get_iterator(dataset, training=training)
        return BatchIterator(
            dataset.X,
            self.batch_size,
            shuffle=training,
            seed=self.seed,
            batch_transform=self.batch_transform if training else identity_batch,
        )


class AutoencoderNet(SkaeNet):
    """Quadratic reconstruction loss plus optional sparsity and contractive terms.

    The module returns ``(reconstruction, code)``.  The loss is the batch mean of
    ``mean_j (x_j - r_j)**2 + sparsity * ||h||_1 + contraction * ||df/dx||_F^2``.
    """

    def __init__(
        self, *args, sparsity: float = 0.0, contraction: float = 0.0, **kwargs
    ) -> None:
        super().__init__(*args, **kwargs)
        self.sparsity = sparsity
        self.contraction = contraction

    def get_loss(self, y_pred, y_true, X=None, training: bool = False):
        reconstruction, code = y_pred
        loss = squared_error(y_true, reconstruction).mean()
        if self.sparsity:
            loss = loss + self.sparsity * l1_sparsity(code).mean()
        if self.contraction:
            with torch.enable_grad():
                penalty = contractive(self.module_.encoder, X).mean()
            loss = loss + self.contraction * penalty
        return loss


class RealNVPNet(SkaeNet):
    """Mean negative log-likelihood of a normalizing flow.

    The module returns ``(z, log|det dz/dx|)``; the loss is the batch mean of
    ``-(log N(z; 0, I) + log|det dz/dx|)``, in nats per sample.
    """

    def get_loss(self, y_pred, y_true, X=None, training: bool = False):
        return flow_nll(*y_pred).mean()


class VAENet(SkaeNet):
    """Negative evidence lower bound of a variational autoencoder.

    The module is a :class:`~skae.modules.vae.GaussianVAE`; the loss is the
    batch mean of ``beta * KL(q(z|x) || N(0, I)) - log p(x|z)``, in nats per
    sample, with ``z`` drawn by the reparameterisation trick.  Both terms are
    also recorded per batch and averaged per epoch (weighted by batch size, as
    skorch averages the loss), as ``train_kl``, ``train_reconstruction`` and,
    with a validation split, ``valid_kl`` and ``valid_reconstruction``; so every
    epoch's loss is its reconstruction plus ``beta`` times its KL.
    """

    def __init__(self, *args, beta: float = 1.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.beta = beta

    def get_default_callbacks(self):
        callbacks = list(super().get_default_callbacks())
        names = [name for name, _ in callbacks]
        position = names.index("print_log") if "print_log" in names else len(names)
        terms = [("elbo_terms", ELBOTermsRecorder())] + [
            (key, PassthroughScoring(name=key, on_train=key.startswith("train")))
            for key in ELBO_TERMS
        ]
        return callbacks[:position] + terms + callbacks[position:]

    def get_loss(self, y_pred, y_true, X=None, training: bool = False):
        loss, _, _ = self.module_.negative_elbo_from_output(y_true, y_pred, self.beta)
        return loss
