"""resize() as two matmuls vs F.interpolate (align_corners=False)."""

import pytest
import torch
import torch.nn.functional as F

from mmblend.models.layers.resize import interp_matrix, resize

SIZES = [
    ((14, 14), (56, 56)),
    ((7, 7), (28, 28)),
    ((1, 1), (28, 28)),
    ((10, 13), (40, 52)),
    ((25, 38), (100, 152)),
    ((13, 19), (50, 76)),
    ((56, 56), (14, 14)),
    ((9, 5), (4, 11)),
    ((3, 3), (7, 7)),
]


@pytest.mark.parametrize('mode', ['bilinear', 'nearest'])
@pytest.mark.parametrize('src,dst', SIZES)
def test_matches_interpolate_forward_and_backward(mode, src, dst):
    torch.manual_seed(0)
    x = torch.randn(2, 3, *src, dtype=torch.float64, requires_grad=True)
    grad = torch.randn(2, 3, *dst, dtype=torch.float64)
    kw = dict(align_corners=False) if mode == 'bilinear' else {}
    ref = F.interpolate(x, dst, mode=mode, **kw)
    (ref_grad,) = torch.autograd.grad(ref, x, grad)
    out = resize(x, dst, mode)
    (out_grad,) = torch.autograd.grad(out, x, grad)
    assert out.shape == ref.shape
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-6)
    torch.testing.assert_close(out_grad, ref_grad, rtol=0, atol=1e-5)


def test_same_size_is_identity_and_rows_sum_to_one():
    x = torch.randn(1, 2, 5, 6)
    assert resize(x, (5, 6)) is x
    for mode in ('bilinear', 'nearest'):
        A = interp_matrix(14, 56, mode)
        assert A.shape == (56, 14)
        torch.testing.assert_close(A.sum(1), torch.ones(56))


def test_keeps_dtype_and_rejects_unknown_mode():
    x = torch.randn(1, 1, 4, 4, dtype=torch.float64)
    assert resize(x, (8, 8)).dtype == torch.float64
    with pytest.raises(ValueError, match='mode must be one of'):
        resize(x, (8, 8), 'bicubic')


def test_float32_matches_interpolate():
    torch.manual_seed(0)
    x = torch.randn(4, 8, 25, 38)
    torch.testing.assert_close(
        resize(x, (100, 152)),
        F.interpolate(x, (100, 152), mode='bilinear', align_corners=False),
        rtol=0,
        atol=1e-5,
    )
