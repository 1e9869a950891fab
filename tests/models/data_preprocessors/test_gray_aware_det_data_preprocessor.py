"""GrayAwareDetDataPreprocessor: a 1-channel image (list entry or batch)
gives exactly what its 3-channel copy (B = G = R) gives; other inputs and
1-channel normalisation are passed on unchanged (grayscale inference end to
end: tests/tools/test_grayscale_inference.py)."""

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample

NORM = dict(
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_size_divisor=32,
)


def preprocessor(**kwargs):
    return MODELS.build(dict(type='GrayAwareDetDataPreprocessor', **kwargs))


def run(pre, inputs):
    n = len(inputs)
    return pre(
        dict(inputs=inputs, data_samples=[DetDataSample() for _ in range(n)])
    )


def test_gray_list_entry_equals_its_3_channel_copy():
    pre = preprocessor(**NORM)
    gray = torch.randint(0, 256, (1, 40, 50), dtype=torch.uint8)
    rgb = torch.randint(0, 256, (3, 40, 50), dtype=torch.uint8)
    out = run(pre, [gray, rgb])['inputs']
    ref = run(pre, [gray.repeat(3, 1, 1), rgb])['inputs']
    assert out.shape == (2, 3, 64, 64)  # padded to 32
    assert torch.equal(out, ref)
    # MMDetection's own preprocessor cannot take it
    with pytest.raises((IndexError, AssertionError, RuntimeError)):
        run(
            MODELS.build(dict(type='DetDataPreprocessor', **NORM)), [gray, rgb]
        )


def test_gray_batch_equals_its_3_channel_copy():
    pre = preprocessor(**NORM)
    gray = torch.randint(0, 256, (2, 1, 32, 32)).float()
    out = pre(dict(inputs=gray, data_samples=None))['inputs']
    ref = pre(dict(inputs=gray.repeat(1, 3, 1, 1), data_samples=None))
    assert torch.equal(out, ref['inputs'])


def test_one_channel_normalisation_keeps_one_channel():
    pre = preprocessor(mean=[128.0], std=[64.0])
    gray = torch.full((1, 8, 8), 192, dtype=torch.uint8)
    out = run(pre, [gray])['inputs']
    assert out.shape == (1, 1, 8, 8) and torch.all(out == 1.0)
