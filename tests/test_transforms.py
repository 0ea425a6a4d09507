"""The coupling carries its elementwise transform as a part.

A transform written here (the sinh-arcsinh map of Jones and Pewsey, 2009)
plugs into skae's coupling layer unchanged: the layer is still a bijection
with the exact log-determinant, boxed outside its fitted range.
"""

import pytest
import torch

from skae.modules.coupling import AffineCoupling, boxed_affine_forward
from skae.modules.transforms import AFFINE, AffineTransform


class SinhArcsinh:
    """``y = sinh(exp(s) * asinh(x) + t)``: increasing, heavier or lighter tails."""

    def forward(self, x, log_scale, shift):
        inner = log_scale.exp() * torch.asinh(x) + shift
        log_derivative = (
            log_scale + torch.log(torch.cosh(inner)) - 0.5 * torch.log1p(x**2)
        )
        return torch.sinh(inner), log_derivative

    def inverse(self, y, log_scale, shift):
        return torch.sinh((torch.asinh(y) - shift) * (-log_scale).exp())


def _layer(transform, seed: int = 0) -> AffineCoupling:
    torch.manual_seed(seed)
    layer = AffineCoupling(3, torch.tensor([True, False, True]), (8,)).double()
    layer.transform = transform
    with torch.no_grad():  # away from the identity start
        for parameter in layer.parameters():
            parameter.normal_(0, 0.3)
    return layer


@pytest.mark.parametrize("transform", [AFFINE, SinhArcsinh()])
def test_coupling_with_any_transform_inverts_and_has_the_exact_log_det(transform):
    layer = _layer(transform)
    x = torch.randn(
        6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1)
    )
    y, log_det = layer(x)
    torch.testing.assert_close(layer.inverse(y), x)
    for row, expected in zip(x, log_det, strict=True):
        jacobian = torch.autograd.functional.jacobian(
            lambda r: layer(r[None])[0][0], row
        )
        torch.testing.assert_close(torch.linalg.slogdet(jacobian)[1], expected)
    # outside its box the layer continues with slope one
    layer.fit_box(x)
    far = x + 100.0
    y_far, log_det_far = layer(far)
    torch.testing.assert_close(log_det_far, torch.zeros(6, dtype=torch.float64))
    torch.testing.assert_close(layer.inverse(y_far), far)


def test_the_affine_part_is_real_nvps_coupling():
    layer = _layer(AffineTransform())
    x = torch.randn(4, 3, dtype=torch.float64)
    s, t = layer.log_scale_and_shift(x)
    box = (layer.box_low, layer.box_high)
    expected = boxed_affine_forward(x, layer.mask, s, t, *box)
    for got, want in zip(layer(x), expected, strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    assert AffineCoupling(2, torch.tensor([1, 0])).transform == AFFINE
