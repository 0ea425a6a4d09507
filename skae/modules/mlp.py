"""Multi-layer perceptron builder shared by every skae module."""

from collections.abc import Sequence
from itertools import pairwise

from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "identity": nn.Identity,
    "logistic": nn.Sigmoid,
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
}


def make_mlp(sizes: Sequence[int], activation: str) -> nn.Sequential:
    """Build ``Linear -> activation -> ... -> Linear`` with a linear output.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths ``[n_in, *hidden, n_out]``; at least two entries.
    activation : {'identity', 'logistic', 'relu', 'tanh'}
        Non-linearity placed between consecutive linear layers.

    Returns
    -------
    mlp : torch.nn.Sequential
        The network; with ``sizes=[n_in, n_out]`` it is a single affine map.

    Examples
    --------
    >>> from skae.modules.mlp import make_mlp
    >>> make_mlp([4, 8, 2], "relu")
    Sequential(
      (0): Linear(in_features=4, out_features=8, bias=True)
      (1): ReLU()
      (2): Linear(in_features=8, out_features=2, bias=True)
    )
    """
    if len(sizes) < 2:
        raise ValueError(f"make_mlp needs at least two sizes, got {list(sizes)}.")
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"Unknown activation {activation!r}; expected one of {sorted(ACTIVATIONS)}."
        )
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(pairwise(sizes)):
        if i > 0:
            layers.append(ACTIVATIONS[activation]())
        layers.append(nn.Linear(n_in, n_out))
    return nn.Sequential(*layers)
