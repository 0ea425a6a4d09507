"""Helpers shared by the flow tests (tabular and image Real NVP)."""

import torch


def slogdet_of_jacobian(function, x: torch.Tensor) -> torch.Tensor:
    """log|det| of the autograd Jacobian of ``function`` at each row of ``x``."""
    values = []
    for row in x:
        jacobian = torch.autograd.functional.jacobian(
            lambda v: function(v.unsqueeze(0)).squeeze(0), row
        )
        values.append(torch.linalg.slogdet(jacobian).logabsdet)
    return torch.stack(values)
