"""Output heads of a table: numeric columns and one softmax per categorical column.

A network's last linear layer gives one output per model column (see
:class:`skae._columns.ColumnLayout`): the numeric columns first, then one
block of logits per categorical column.  :class:`ColumnHeads` reads that
output: the numeric part as it is, each block through a softmax, and scores
it against the encoded rows on their observed entries only (``mask``, 1
where observed; a one-hot block is observed as a whole or not at all).

Weighting of the two kinds of column:

* the autoencoders' error (:meth:`ColumnHeads.reconstruction_error`) gives
  every observed input column the same weight, whatever its kind: a numeric
  column contributes its squared error in model space (standardised units),
  a categorical column the cross-entropy ``-log softmax(logits)[category]``
  of its block in nats, and a row's error is their mean over its observed
  columns.  A one-hot block of ``k`` categories thus counts once, not ``k``
  times, and a complete numeric table gives the plain mean squared error.
* the VAE's log-likelihood (:meth:`ColumnHeads.log_likelihood`) needs no
  weight: it is the sum over observed columns of each column's own
  log-likelihood, the Gaussian (or Bernoulli) log-density of a numeric entry
  and the log-probability of a category.
"""

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from skae._columns import ColumnLayout
from skae.distributions import (
    LOG_2PI,
    low_rank_gaussian_log_likelihood,
    low_rank_noise_mean,
)


class ColumnHeads:
    """Numeric outputs and per-block softmax of a table model.

    Parameters
    ----------
    layout : ColumnLayout
        Where each input column lives in a model row.

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from skae._columns import ColumnLayout
    >>> from skae.modules.heads import ColumnHeads
    >>> heads = ColumnHeads(ColumnLayout(np.arange(1), (slice(1, 3),)))
    >>> x = torch.tensor([[0.5, 1.0, 0.0]])
    >>> out = torch.tensor([[0.0, 0.0, 0.0]])
    >>> heads.reconstruction_error(x, out)  # (0.25 + log 2) / 2
    tensor([0.4716])
    >>> heads.mean(out)
    tensor([[0.0000, 0.5000, 0.5000]])
    """

    def __init__(self, layout: ColumnLayout) -> None:
        self.layout = layout
        self.numeric = torch.as_tensor(np.asarray(layout.numeric, dtype=np.int64))

    def _numeric(self, tensor: Tensor) -> Tensor:
        return tensor.index_select(-1, self.numeric.to(tensor.device))

    def _block_log_probs(self, x: Tensor, out: Tensor) -> Tensor:
        """``log softmax(out_b)[category]`` per block, shape ``(..., n_blocks)``."""
        parts = [
            (x[..., block] * F.log_softmax(out[..., block], dim=-1)).sum(-1)
            for block in self.layout.blocks
        ]
        return torch.stack(parts, dim=-1) if parts else x.new_zeros((*x.shape[:-1], 0))

    def _block_mask(self, mask: Tensor) -> Tensor:
        starts = [block.start for block in self.layout.blocks]
        return mask[..., starts]

    def reconstruction_error(
        self, x: Tensor, out: Tensor, mask: Tensor | None = None
    ) -> Tensor:
        """Mean over observed columns of squared error and cross-entropy, per row."""
        if mask is None:
            mask = torch.ones_like(x)
        numeric_mask = self._numeric(mask)
        numeric = ((self._numeric(x) - self._numeric(out)).pow(2) * numeric_mask).sum(
            -1
        )
        block_mask = self._block_mask(mask)
        categorical = -(self._block_log_probs(x, out) * block_mask).sum(-1)
        observed = numeric_mask.sum(-1) + block_mask.sum(-1)
        return (numeric + categorical) / observed.clamp_min(1.0)

    def log_likelihood(
        self,
        x: Tensor,
        out: Tensor,
        mask: Tensor | None = None,
        logvar: Tensor | None = None,
        factors: Tensor | None = None,
    ) -> Tensor:
        """``log p(x_obs | out)``: numeric Gaussian (or Bernoulli) plus categorical.

        Parameters
        ----------
        x : Tensor of shape (n, width)
            Encoded rows, missing entries filled with anything finite.
        out : Tensor of shape (..., n, width)
            Decoder output; leading draw axes broadcast against ``x``.
        mask : Tensor of shape (n, width) or None
            1 where observed; None when every entry is.
        logvar : Tensor of shape (width,) or None
            Gaussian log-variance of every model column (only the numeric
            ones are used); None for Bernoulli numeric columns (``out`` are
            then their logits).
        factors : Tensor of shape (width, rank) or None
            Low-rank part of the numeric columns' Gaussian noise covariance
            (:func:`~skae.distributions.low_rank_gaussian_log_likelihood`);
            its rows of categorical columns are unused.

        Returns
        -------
        log_likelihood : Tensor of shape (..., n)
        """
        x_num, out_num = self._numeric(x), self._numeric(out)
        block_log_probs = self._block_log_probs(x, out)
        if mask is not None:
            block_log_probs = block_log_probs * self._block_mask(mask)
        categorical = block_log_probs.sum(-1)
        if factors is not None and logvar is not None:
            # Without a mask the low-rank noise has one Woodbury factor for
            # every row, not one per row.
            numeric_factors = factors.index_select(0, self.numeric.to(x.device))
            numeric = low_rank_gaussian_log_likelihood(
                x_num,
                out_num,
                self._numeric(logvar),
                numeric_factors,
                None if mask is None else self._numeric(mask),
            )
            return numeric + categorical
        if logvar is None:
            per_entry = x_num * out_num - F.softplus(out_num)
        else:
            lv = self._numeric(logvar)
            per_entry = -0.5 * (
                (x_num - out_num).pow(2) * torch.exp(-lv) + lv + LOG_2PI
            )
        if mask is not None:
            per_entry = per_entry * self._numeric(mask)
        return per_entry.sum(-1) + categorical

    def noise_mean(
        self,
        x: Tensor,
        out: Tensor,
        mask: Tensor | None,
        logvar: Tensor,
        factors: Tensor,
    ) -> Tensor:
        """``E[F u | x_obs]`` of a low-rank Gaussian noise, zero in the blocks.

        What the observed numeric entries say about the noise of every
        numeric entry (:func:`~skae.distributions.low_rank_noise_mean`);
        shape of ``out``.
        """
        numeric = self.numeric.to(x.device)
        correction = low_rank_noise_mean(
            self._numeric(x),
            self._numeric(out),
            self._numeric(logvar),
            factors.index_select(0, numeric),
            None if mask is None else self._numeric(mask),
        )
        result = torch.zeros_like(out)
        result[..., numeric] = correction
        return result

    def mean(self, out: Tensor, bernoulli: bool = False) -> Tensor:
        """Numeric outputs (``sigmoid`` for Bernoulli), each block's softmax."""
        result = torch.sigmoid(out) if bernoulli else out.clone()
        for block in self.layout.blocks:
            result[..., block] = torch.softmax(out[..., block], dim=-1)
        return result
