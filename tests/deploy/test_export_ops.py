"""The export paths of NMS, RoIAlign + blender and the resizes (traced as
export_onnx does: torch.jit.trace under mmblend.deploy.rewrite's
replacements), run by onnxruntime against the eager ops the model uses
(mmcv's kernels, the resize matrices)."""

import io
import warnings

import numpy as np
import pytest
import torch
from mmcv.ops import batched_nms

from mmblend.deploy.export import TORCHSCRIPT_EXPORTER
from mmblend.deploy.ops import OPSET
from mmblend.deploy.rewrite import class_aware_nms, export_rewrites
from mmblend.models.layers.blender import Blender
from mmblend.models.layers.resize import resize

ort = pytest.importorskip('onnxruntime')


def run_onnx(module, args, names, dynamic_axes):
    buf = io.BytesIO()
    with warnings.catch_warnings(), export_rewrites(module):
        warnings.simplefilter('ignore')
        traced = torch.jit.trace(module, args, check_trace=False)
        torch.onnx.export(
            traced,
            args,
            buf,
            **TORCHSCRIPT_EXPORTER,
            opset_version=OPSET,
            input_names=names,
            dynamic_axes=dynamic_axes,
        )
    sess = ort.InferenceSession(
        buf.getvalue(), providers=['CPUExecutionProvider']
    )
    return lambda *xs: sess.run(
        None, {n: x.numpy() for n, x in zip(names, xs)}
    )


class ClassAwareNMS(torch.nn.Module):
    def forward(self, boxes, scores, labels):
        return class_aware_nms(
            boxes, scores, labels, dict(type='nms', iou_threshold=0.6)
        )


def random_boxes(n, gen):
    """Boxes jittered around 8 objects, so that many overlap > 0.6."""
    xy = torch.rand(8, 2, generator=gen) * 150
    objects = torch.cat(
        [xy, xy + 10 + torch.rand(8, 2, generator=gen) * 50], 1
    )
    pick = torch.randint(0, 8, (n,), generator=gen)
    return objects[pick] + torch.randn(n, 4, generator=gen) * 3


def test_nms_graph_equals_mmcv_batched_nms():
    gen = torch.Generator().manual_seed(0)
    boxes = random_boxes(300, gen)
    run = run_onnx(
        ClassAwareNMS(),
        (
            boxes,
            torch.rand(300, generator=gen),
            torch.zeros(300, dtype=torch.long),
        ),
        ['boxes', 'scores', 'labels'],
        {k: {0: 'n'} for k in ('boxes', 'scores', 'labels')},
    )
    for n in (300, 57, 1, 0):  # other sizes than traced, and none
        boxes = random_boxes(n, gen)
        scores = torch.rand(n, generator=gen)
        labels = torch.randint(0, 3, (n,), generator=gen)
        (keep,) = run(boxes, scores, labels)
        if n:
            _, ref = batched_nms(
                boxes, scores, labels, dict(type='nms', iou_threshold=0.6)
            )
        else:
            ref = torch.zeros(0, dtype=torch.long)
        assert np.array_equal(keep, ref.numpy()), n
        # suppression really happened and stayed within classes
        assert n < 50 or len(keep) < 0.7 * n


class Blend(torch.nn.Module):
    def __init__(self, blender):
        super().__init__()
        self.blender = blender

    def forward(self, bases, attns, boxes):
        rois = torch.cat([torch.zeros_like(boxes[:, :1]), boxes], 1)
        return self.blender(bases, attns, rois).sigmoid()


@pytest.mark.parametrize('top_interp', ['bilinear', 'nearest'])
@pytest.mark.parametrize('num_bases', [4, 1])
def test_blender_graph_equals_eager_with_tiny_boxes(top_interp, num_bases):
    """mmcv's RoIAlign (aligned=True) + the blender vs the exported
    RoiAlign (half_pixel) path, on boxes down to a tenth of a basis pixel
    (stride 8), at the border and partly outside the bases."""
    torch.manual_seed(0)
    blender = Blender(
        num_bases=num_bases,
        attn_size=7,
        bottom_resolution=28,
        bases_stride=8,
        top_interp=top_interp,
    ).eval()
    attn_channels = blender.attn_channels
    bases = torch.randn(1, num_bases, 12, 17)
    boxes = torch.tensor(
        [
            [10.0, 20.0, 90.0, 70.0],
            [33.3, 40.1, 33.9, 40.5],
            [50.0, 50.0, 54.0, 51.0],
            [0.0, 0.0, 0.8, 3.0],
            [130.0, 90.0, 136.7, 96.0],
            [120.0, 80.0, 150.0, 110.0],
        ]
    )
    attns = torch.randn(len(boxes), attn_channels)
    run = run_onnx(
        Blend(blender),
        (bases, attns, boxes),
        ['bases', 'attns', 'boxes'],
        {'bases': {2: 'h', 3: 'w'}, 'attns': {0: 'n'}, 'boxes': {0: 'n'}},
    )
    rois = torch.cat([boxes.new_zeros(len(boxes), 1), boxes], 1)
    small = bases[..., :9, :11].contiguous()
    for sl, b in (
        (slice(None), bases),
        (slice(1, 4), small),
        (slice(0, 0), bases),
    ):
        (out,) = run(b, attns[sl], boxes[sl])
        ref = blender(b, attns[sl], rois[sl]).sigmoid()
        assert out.shape == tuple(ref.shape)
        np.testing.assert_allclose(
            out, ref.detach().numpy(), rtol=0, atol=1e-5
        )
    assert (boxes[1, 2:] - boxes[1, :2]).max() < 8 / 10  # < 0.1 basis px


class Resize(torch.nn.Module):
    def __init__(self, mode):
        super().__init__()
        self.mode = mode

    def forward(self, x, like):
        return resize(x, like.shape[-2:], self.mode)


@pytest.mark.parametrize('mode', ['bilinear', 'nearest'])
def test_resize_export_path_equals_matrices_at_other_sizes(mode):
    """The basis modules' resizes depend on the input size: traced as
    matrices they would be frozen at the export size."""
    run = run_onnx(
        Resize(mode),
        (torch.randn(1, 3, 5, 7), torch.zeros(1, 1, 20, 28)),
        ['x', 'like'],
        {'x': {2: 'a', 3: 'b'}, 'like': {2: 'c', 3: 'd'}},
    )
    for h, w, H, W in (
        (5, 7, 20, 28),
        (13, 9, 50, 37),
        (4, 7, 56, 56),
        (25, 38, 100, 152),
    ):
        x = torch.randn(1, 3, h, w)
        (out,) = run(x, torch.zeros(1, 1, H, W))
        np.testing.assert_allclose(
            out,
            resize(x, (H, W), mode).numpy(),
            rtol=0,
            atol=1e-5 if mode == 'bilinear' else 0,
        )


class Select(torch.nn.Module):
    """A host's per-level candidate selection, as the hosts call it."""

    def __init__(self, fn, topk):
        super().__init__()
        self.fn, self.topk = fn, topk

    def forward(self, scores):
        out = self.fn(scores, 0.5, self.topk)
        return out[0], out[2], out[1]


@pytest.mark.parametrize('topk', [20, -1])
def test_candidate_selection_does_not_freeze_the_tracing_count(topk):
    """Traced on a level with fewer valid candidates than ``topk`` and run
    on one with more: mmdet's ``filter_scores_and_topk`` freezes
    ``min(topk, num_valid)`` at the tracing count (so the graph keeps too
    many), the export's replacement gives mmdet's eager result."""
    from mmdet.models.utils import filter_scores_and_topk

    from mmblend.deploy.rewrite import traceable_filter_scores_and_topk

    gen = torch.Generator().manual_seed(0)
    few = torch.rand(4, 3, generator=gen) * 0.6  # ~2 above 0.5
    many = torch.rand(50, 3, generator=gen)  # ~75 above 0.5
    eager = [t.numpy() for t in Select(filter_scores_and_topk, topk)(many)]
    ours = run_onnx(
        Select(traceable_filter_scores_and_topk, topk),
        (few,),
        ['scores'],
        {'scores': {0: 'n'}},
    )(many)
    for a, b in zip(eager, ours):
        np.testing.assert_array_equal(a, b)
    if topk > 0:  # the original, traced the same way, is wrong
        frozen = run_onnx(
            Select(filter_scores_and_topk, topk),
            (few,),
            ['scores'],
            {'scores': {0: 'n'}},
        )(many)
        assert len(frozen[0]) != len(eager[0]) == topk
