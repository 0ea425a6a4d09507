"""The sequence autoencoders' parts: GRU networks over flattened ``(T, F)`` rows.

A sequence model is the autoencoder (or VAE) part with the recurrent
networks of :mod:`skae.modules.sequence` (the module builder reads
``(T, F)`` from :class:`~skae.modules.protocol.InputSpec`): a GRU encoder to
the code and a GRU decoder fed the code as its initial state and at every
step.  With the classical start (``init='pca'``, ``init='factor_analysis'``)
they are the residual branches beside the linear start, so that epoch 0 of
early stopping is PCA (the factor model) of the flattened windows (the
autoencoders ready the branches to learn beyond it:
:func:`~skae.modules.sequence.start_beside_linear_path`); with
``init='random'`` they are the plain sequence-to-sequence autoencoder of the
lecture notes' tutorial.  The parts here only add what differs: the
budget, batches of 64 (more steps on the small sets that sliding windows
give), no pre-training, and the recurrent activations in the VAE's scoring
budget.  They compute in the training data's dtype, as the tables'
networks: with the linear start a float32 network overflowed on rows far
from the data (``1e30``) where the float64 one gives a finite score.
"""

from dataclasses import replace

from skae._parts import TrainingPolicy
from skae.modules.sequence import start_beside_linear_path
from skae.parts.autoencoder import AutoencoderPart
from skae.parts.vae import BernoulliVAEPart, VAEPart

SEQUENCE_POLICY = TrainingPolicy(auto_epochs=200, auto_steps=8000, auto_batch_size=64)
"""The recurrent networks' budget: at most 200 epochs or about 8,000 steps of
batches of 64."""


class SequenceNetworks:
    """What the GRU networks change in a part: the budget, no pre-training."""

    stacks = False

    def widest_activation(self, fitted) -> int:
        """Values per row held by the recurrent layers (all steps' states)."""
        steps = fitted["sequence_shape_"][0]
        return max(fitted["n_features_in_"], steps * self.params.channels)


class SequenceAutoencoderPart(SequenceNetworks, AutoencoderPart):
    """The (denoising) sequence autoencoder."""

    budget = SEQUENCE_POLICY

    def start(self, module, rows, validation, seed, fitted) -> dict:
        record = super().start(module, rows, validation, seed, fitted)
        if self.starts_at_pca():
            start_beside_linear_path(module.encoder, module.decoder)
        return record


class SequenceVAEPart(SequenceNetworks, VAEPart):
    """A Gaussian VAE of sequences."""

    policy = replace(SEQUENCE_POLICY, auto_epochs=500, auto_steps=5000)


class SequenceBernoulliVAEPart(SequenceNetworks, BernoulliVAEPart):
    """A Bernoulli VAE of sequences (entries in ``[0, 1]``)."""

    policy = SequenceVAEPart.policy


def sequence_autoencoder_part(params) -> SequenceAutoencoderPart:
    """The sequence autoencoder part for ``params``."""
    return SequenceAutoencoderPart(params)


def sequence_vae_part(params) -> VAEPart:
    """The sequence VAE part for ``params``' likelihood."""
    bernoulli = params.likelihood == "bernoulli"
    return (SequenceBernoulliVAEPart if bernoulli else SequenceVAEPart)(params)
