"""BlendMaskMaskHead's mask loss under mixed precision: BCE with logits (the
blender's one contract, the one-basis variant included) computed in float32
with autocast disabled."""

import pytest
import torch
import torch.nn.functional as F
from mmengine.utils import digit_version

from mmblend.models import BlendMaskMaskHead

GN = dict(type='GN', num_groups=4)


def cpu_autocast_enabled() -> bool:
    """``torch.is_autocast_enabled('cpu')``; torch < 2.4 only has it as
    ``torch.is_autocast_cpu_enabled()`` (deprecated since)."""
    if digit_version(torch.__version__) >= digit_version('2.4.0'):
        return torch.is_autocast_enabled('cpu')
    return torch.is_autocast_cpu_enabled()


def make_head(num_bases):
    return BlendMaskMaskHead(
        basis=dict(
            type='ProtoNetBasis',
            in_channels=16,
            in_indices=(0,),
            out_stride=4,
            channels=16,
            refine_channels=8,
            num_convs=1,
            num_bases=num_bases,
            norm_cfg=GN,
        ),
        blender=dict(bottom_resolution=8, attn_size=4),
    )


def blend(head, device, dtype, n=3):
    """Blender output of ``n`` instances as autocast would hand it over."""
    K, M, R = head.blender.num_bases, 4, 8
    g = torch.Generator().manual_seed(0)
    crops = torch.randn(n, K, R, R, generator=g).to(device, dtype)
    attns = torch.randn(n, K * M * M, generator=g).to(device, dtype)
    targets = (torch.rand(n, R, R, generator=g) > 0.5).to(device, dtype)
    return head.blender.merge(crops, attns), targets


@pytest.mark.parametrize('num_bases', [1, 4])
def test_mask_loss_sees_float32_with_autocast_off(monkeypatch, num_bases):
    head = make_head(num_bases)
    seen = []
    name = 'binary_cross_entropy_with_logits'
    orig = getattr(F, name)

    def spy(input, target, *args, **kwargs):
        seen.append((input.dtype, target.dtype, cpu_autocast_enabled()))
        return orig(input, target, *args, **kwargs)

    monkeypatch.setattr(F, name, spy)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        preds, targets = blend(head, 'cpu', torch.bfloat16)
        # what autocast hands over (the one-basis logit is float32)
        assert preds.dtype == (
            torch.bfloat16 if num_bases > 1 else torch.float32
        )
        loss = head._mask_loss(preds, targets)
    assert seen == [(torch.float32, torch.float32, False)]
    assert loss.dtype == torch.float32 and loss.shape == (3,)
    # same numbers as float32 BCE on the (rounded) logits
    ref = orig(preds.float(), targets.float(), reduction='none')
    torch.testing.assert_close(loss, ref.flatten(1).mean(1))


@pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason='needs a CUDA GPU (CUDA autocast runs the blender in float16)',
)
@pytest.mark.parametrize('num_bases', [1, 4])
def test_mask_loss_under_cuda_autocast(num_bases):
    head = make_head(num_bases).cuda()
    crops = torch.randn(3, num_bases, 8, 8, device='cuda', requires_grad=True)
    attns = torch.randn(3, num_bases * 16, device='cuda', requires_grad=True)
    targets = (torch.rand(3, 8, 8, device='cuda') > 0.5).float()
    with torch.autocast('cuda', dtype=torch.float16):
        # a conv makes the crops float16 as in the real model
        crops16 = F.conv2d(
            crops, torch.eye(num_bases, device='cuda')[:, :, None, None]
        )
        assert crops16.dtype == torch.float16
        preds = head.blender.merge(crops16, attns)
        loss = head._mask_loss(preds, targets)
    assert loss.dtype == torch.float32 and torch.isfinite(loss).all()
    loss.sum().backward()
    assert (
        torch.isfinite(crops.grad).all() and torch.isfinite(attns.grad).all()
    )
