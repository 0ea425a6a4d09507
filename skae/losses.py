"""Loss terms, one pure function per formula of the lecture notes.

Every function returns a *per-sample* tensor of shape ``(n_samples,)``; the
network's ``get_loss`` takes the batch mean.
"""

import torch
from torch import nn


def squared_error(x: torch.Tensor, reconstruction: torch.Tensor) -> torch.Tensor:
    """Mean over features of ``(x - r)**2``: the quadratic loss of seed 000.

    Examples
    --------
    >>> import torch
    >>> from skae.losses import squared_error
    >>> squared_error(torch.tensor([[1.0, 2.0]]), torch.tensor([[1.0, 0.0]]))
    tensor([2.])
    """
    return (x - reconstruction).pow(2).mean(dim=1)


def l1_sparsity(code: torch.Tensor) -> torch.Tensor:
    """Sparse-autoencoder penalty ``sum_i |h_i|`` of seed 001.

    Examples
    --------
    >>> import torch
    >>> from skae.losses import l1_sparsity
    >>> l1_sparsity(torch.tensor([[1.0, -2.0]]))
    tensor([3.])
    """
    return code.abs().sum(dim=1)


def contractive(encoder: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Contractive penalty ``||df/dx||_F^2`` of seed 001, one value per sample.

    The Jacobian of the encoder is computed exactly, row by row, with
    :func:`torch.func.jacrev` under :func:`torch.func.vmap`; the result stays in
    the autograd graph so that it can be minimised.

    Parameters
    ----------
    encoder : torch.nn.Module
        Maps ``(n_samples, n_features)`` to ``(n_samples, n_components)``
        sample-wise (no batch statistics).
    x : torch.Tensor of shape (n_samples, n_features)
        Points at which the Jacobian is taken.

    Returns
    -------
    penalty : torch.Tensor of shape (n_samples,)

    Examples
    --------
    >>> import torch
    >>> from skae.losses import contractive
    >>> linear = torch.nn.Linear(3, 2, bias=False)
    >>> with torch.no_grad():
    ...     _ = linear.weight.copy_(torch.tensor([[1.0, 0.0, 2.0], [0.0, 1.0, 0.0]]))
    >>> contractive(linear, torch.zeros(1, 3))
    tensor([6.], grad_fn=<SumBackward1>)
    """

    def encode_one(row: torch.Tensor) -> torch.Tensor:
        return encoder(row.unsqueeze(0)).squeeze(0)

    jacobians = torch.func.vmap(torch.func.jacrev(encode_one))(x)
    return jacobians.pow(2).sum(dim=(1, 2))
