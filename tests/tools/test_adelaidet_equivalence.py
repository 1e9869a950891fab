"""A converted AdelaiDet checkpoint computes what AdelaiDet computes.

The reference side is written here with ``torch.nn.functional`` only, on the
raw AdelaiDet-keyed tensors, following AdelaiDet's / detectron2's module
definitions (``detectron2/modeling/backbone/{resnet,fpn}.py``,
``detectron2/layers/batch_norm.py`` (FrozenBatchNorm2d),
``adet/modeling/backbone/fpn.py`` (LastLevelP6P7 / P6 on P5),
``adet/modeling/fcos/fcos.py`` (FCOSHead), ``adet/modeling/blendmask/
{basis_module,blender,blendmask}.py``, detectron2's ROIAlignV2), no mmdet or
mmblend module. The AdelaiDet-keyed tensors are random (positive FrozenBN
variances), with the keys and shapes of ``fixtures/adelaidet_keys.json``
(derived from AdelaiDet's own module definitions, see
``fixtures/derive_adelaidet_keys.py``); the mmblend side is the zoo config's
model with the converter's output loaded strictly. Input: a real photo of
coco128-seg resized to 128x192, in float64.

Checked per part: data preprocessor (BGR caffe normalisation), backbone
(caffe style, FrozenBN) C3..C5, FPN P3..P7 (P6 for 550), FCOS towers with
class / box (ReLU, no per-level scale, stride-scaled at test) / centerness
outputs, the top layer, the Proto-FPN bases, the semantic head (class order),
and the blender on boxes of the photo's ground truth. R_101_dcni3_5x's
modulated deformable convs are written with ``F.grid_sample`` following
detectron2's kernel (offset/mask layout and sampling), with offsets large
enough to move the taps by pixels. Not checked here: the post-processing
(box decoding, NMS, mask pasting).
"""

import json
import math
import os.path as osp

import mmcv
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmdet.structures import DetDataSample
from module_utils import load_module

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FIXTURE = osp.join(
    osp.dirname(osp.abspath(__file__)), 'fixtures', 'adelaidet_keys.json'
)
DATA = '/work/shared/data/coco128-seg'
if not osp.isdir(DATA):
    DATA = osp.join(REPO, 'demo', 'data', 'coco128-seg')
IMAGE = osp.join(DATA, 'images', 'train2017', '000000000036.jpg')
H, W = 128, 192
MEAN_BGR = (103.53, 116.28, 123.675)
CONFIGS = {
    'R_50_3x': 'blendmask_r50-caffe_fpn_ms-3x_coco.py',
    '550_R_50_3x': 'blendmask_r50-caffe_fpn_ms-550-3x_coco.py',
    'R_101_dcni3_5x': 'blendmask_r101-caffe-dcni3_fpn_ms-crop-5x_coco.py',
    'Panoptic/R_50_3x': 'blendmask-panoptic_r50-caffe_fpn_ms-3x_coco.py',
}
CONFIGS = {k: 'configs/adelaidet_zoo/' + v for k, v in CONFIGS.items()}


def load_tool():
    return load_module(
        'tools/model_converters/adelaidet2mmblend.py', 'adelaidet2mmblend'
    )


def random_adelaidet_state(shapes: dict, seed: int = 0) -> dict:
    """Random tensors of AdelaiDet's keys/shapes, scaled so activations stay
    O(1) through 50 layers (FrozenBN/BN variances positive)."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for k, shape in shapes.items():
        if k.endswith('num_batches_tracked'):
            sd[k] = torch.tensor(7)
        elif k.endswith('running_var'):
            sd[k] = torch.rand(shape, generator=g, dtype=torch.float64) + 0.5
        elif k.endswith('running_mean'):
            sd[k] = 0.1 * torch.randn(shape, generator=g, dtype=torch.float64)
        elif len(shape) == 4:
            fan_in = shape[1] * shape[2] * shape[3]
            sd[k] = torch.randn(
                shape, generator=g, dtype=torch.float64
            ) * math.sqrt(1.0 / fan_in)
            if k.endswith('stem.conv1.weight'):  # pixels are O(100)
                sd[k] = sd[k] * 0.01
            if 'conv2_offset' in k:  # DCN offsets of about a pixel or two
                sd[k] = sd[k] * 2
        elif k.endswith('.weight'):  # norm weights
            sd[k] = torch.rand(shape, generator=g, dtype=torch.float64) + 0.5
        else:  # biases
            sd[k] = 0.1 * torch.randn(shape, generator=g, dtype=torch.float64)
    # values representable in float32 (checkpoints are float32), so both
    # sides compute in float64 from the same numbers
    return {
        k: v.float().double() if v.is_floating_point() else v
        for k, v in sd.items()
    }


# --------------------------- the reference, from AdelaiDet's definitions
def frozen_bn(x, sd, p):
    """detectron2 FrozenBatchNorm2d (eps 1e-5); also BatchNorm2d in eval."""
    scale = sd[p + '.weight'] * (sd[p + '.running_var'] + 1e-5).rsqrt()
    bias = sd[p + '.bias'] - sd[p + '.running_mean'] * scale
    return x * scale[None, :, None, None] + bias[None, :, None, None]


def conv(x, sd, p, stride=1, padding=0, bias=True):
    return F.conv2d(
        x,
        sd[p + '.weight'],
        sd[p + '.bias'] if bias else None,
        stride=stride,
        padding=padding,
    )


def ref_modulated_deform_conv(x, weight, offset_mask):
    """detectron2's DeformBottleneckBlock conv2 with DEFORM_MODULATED
    (3x3, stride 1, padding 1, one deformable group): ``conv2_offset``'s
    output is split in three, ``offset = cat(o1, o2)``, ``mask =
    sigmoid(o3)``; per kernel tap ``k = i * 3 + j`` channel ``2k`` of the
    offset is the y shift and ``2k + 1`` the x shift, and the input is
    sampled bilinearly at ``(h - 1 + i + dy, w - 1 + j + dx)``, zero outside
    (``modulated_deformable_im2col`` in detectron2's
    layers/csrc/deformable/deform_conv_cuda_kernel.cu), weighted by the mask.
    """
    o1, o2, m = torch.chunk(offset_mask, 3, dim=1)
    offset, mask = torch.cat((o1, o2), dim=1), m.sigmoid()
    _, _, Hx, Wx = x.shape
    ys = torch.arange(Hx, dtype=x.dtype)[:, None] - 1
    xs = torch.arange(Wx, dtype=x.dtype)[None, :] - 1
    out = 0
    for i in range(3):
        for j in range(3):
            k = i * 3 + j
            y = ys + i + offset[:, 2 * k]
            xx = xs + j + offset[:, 2 * k + 1]
            grid = torch.stack(
                [2 * xx / (Wx - 1) - 1, 2 * y / (Hx - 1) - 1], dim=-1
            )
            tap = F.grid_sample(
                x,
                grid,
                mode='bilinear',
                padding_mode='zeros',
                align_corners=True,
            )
            tap = tap * mask[:, k : k + 1]
            out = out + torch.einsum('oc,bchw->bohw', weight[:, :, i, j], tap)
    return out


def ref_backbone(x, sd):
    """MSRA ResNet (stride in the 1x1 conv), FrozenBN; returns res2..res5."""
    b = 'backbone.bottom_up.'
    x = F.relu(
        frozen_bn(
            conv(x, sd, b + 'stem.conv1', 2, 3, False),
            sd,
            b + 'stem.conv1.norm',
        )
    )
    x = F.max_pool2d(x, kernel_size=3, stride=2, padding=1)
    outs = []
    for s in (2, 3, 4, 5):
        i = 0
        while f'{b}res{s}.{i}.conv1.weight' in sd:
            p = f'{b}res{s}.{i}.'
            stride = 2 if (i == 0 and s > 2) else 1
            out = F.relu(
                frozen_bn(
                    conv(x, sd, p + 'conv1', stride, 0, False),
                    sd,
                    p + 'conv1.norm',
                )
            )
            if p + 'conv2_offset.weight' in sd:  # DCNv2 block
                out = ref_modulated_deform_conv(
                    out,
                    sd[p + 'conv2.weight'],
                    conv(out, sd, p + 'conv2_offset', 1, 1),
                )
            else:
                out = conv(out, sd, p + 'conv2', 1, 1, False)
            out = F.relu(frozen_bn(out, sd, p + 'conv2.norm'))
            out = frozen_bn(
                conv(out, sd, p + 'conv3', 1, 0, False), sd, p + 'conv3.norm'
            )
            if p + 'shortcut.weight' in sd:
                short = frozen_bn(
                    conv(x, sd, p + 'shortcut', stride, 0, False),
                    sd,
                    p + 'shortcut.norm',
                )
            else:
                short = x
            x = F.relu(out + short)
            i += 1
        outs.append(x)
    return outs


def ref_fpn(cs, sd):
    """detectron2 FPN (sum, nearest x2) on res3..res5 (res2..res5 for
    panoptic) + AdelaiDet's P6(/P7) on P5."""
    b = 'backbone.'
    prev = conv(cs[3], sd, b + 'fpn_lateral5')
    outs = [conv(prev, sd, b + 'fpn_output5', padding=1)]
    for lvl in (4, 3, 2):
        if f'{b}fpn_lateral{lvl}.weight' not in sd:
            break
        c = cs[lvl - 2]
        prev = conv(c, sd, f'{b}fpn_lateral{lvl}') + F.interpolate(
            prev, scale_factor=2.0, mode='nearest'
        )
        outs.insert(0, conv(prev, sd, f'{b}fpn_output{lvl}', padding=1))
    p6 = conv(outs[-1], sd, b + 'top_block.p6', stride=2, padding=1)
    outs.append(p6)
    if b + 'top_block.p7.weight' in sd:
        outs.append(conv(F.relu(p6), sd, b + 'top_block.p7', 2, 1))
    return outs


def ref_tower(x, sd, name):
    p = f'proposal_generator.fcos_head.{name}.'
    i = 0
    while f'{p}{i}.weight' in sd:
        x = conv(x, sd, f'{p}{i}', padding=1)
        x = F.group_norm(
            x, 32, sd[f'{p}{i + 1}.weight'], sd[f'{p}{i + 1}.bias'], eps=1e-5
        )
        x = F.relu(x)
        i += 3
    return x


def ref_fcos(feats, sd, strides):
    """FCOSHead.forward (USE_SCALE False, ReLU on the regression) and the
    top layer on the bbox tower; regression scaled by the stride as
    FCOSOutputs.predict_proposals does."""
    p = 'proposal_generator.fcos_head.'
    outs = []
    for f, s in zip(feats, strides):
        f = ref_tower(f, sd, 'share_tower')
        cls_t = ref_tower(f, sd, 'cls_tower')
        box_t = ref_tower(f, sd, 'bbox_tower')
        outs.append(
            dict(
                cls=conv(cls_t, sd, p + 'cls_logits', padding=1),
                reg=F.relu(conv(box_t, sd, p + 'bbox_pred', padding=1)) * s,
                ctr=conv(box_t, sd, p + 'ctrness', padding=1),
                top=conv(box_t, sd, 'top_layer', padding=1),
            )
        )
    return outs


def conv_bn_relu(x, sd, p):
    """conv_with_kaiming_uniform(norm, activation=True): conv (no bias),
    norm (BN in eval), ReLU."""
    return F.relu(
        frozen_bn(F.conv2d(x, sd[p + '.0.weight'], padding=1), sd, p + '.1')
    )


def ref_protonet(feats, sd):
    b = 'basis_module.'
    x = conv_bn_relu(feats[0], sd, b + 'refine.0')
    for i in (1, 2):
        xp = conv_bn_relu(feats[i], sd, f'{b}refine.{i}')
        x = x + F.interpolate(
            xp, x.shape[2:], mode='bilinear', align_corners=False
        )
    last = max(int(k.split('.')[2]) for k in sd if k.startswith(b + 'tower'))
    n = last - 2
    for t in range(n):
        x = conv_bn_relu(x, sd, f'{b}tower.{t}')
    x = F.interpolate(x, scale_factor=2, mode='bilinear', align_corners=False)
    x = conv_bn_relu(x, sd, f'{b}tower.{n + 1}')
    return conv(x, sd, f'{b}tower.{last}')


def ref_sem_seg_fpn_head(ps, sd):
    """detectron2 SemSegFPNHead.layers on P2..P5: per level conv (no bias)
    + GN(32) + ReLU blocks, each followed by a x2 bilinear upsampling until
    stride 4, summed, 1x1 predictor (logits at stride 4)."""
    b = 'panoptic_module.'
    x = 0
    for lvl, f in zip((2, 3, 4, 5), ps):
        for j in range(max(1, lvl - 2)):
            p = f'{b}p{lvl}.{2 * j}'
            f = F.relu(
                F.group_norm(
                    F.conv2d(f, sd[p + '.weight'], padding=1),
                    32,
                    sd[p + '.norm.weight'],
                    sd[p + '.norm.bias'],
                    eps=1e-5,
                )
            )
            if lvl > 2:
                f = F.interpolate(
                    f, scale_factor=2, mode='bilinear', align_corners=False
                )
        x = x + f
    return conv(x, sd, b + 'predictor')


def ref_seg_head(p3, sd):
    b = 'basis_module.seg_head.'
    x = F.relu(
        frozen_bn(F.conv2d(p3, sd[b + '0.weight'], padding=1), sd, b + '1')
    )
    x = F.relu(
        frozen_bn(F.conv2d(x, sd[b + '3.weight'], padding=1), sd, b + '4')
    )
    return conv(x, sd, b + '6')


def ref_roi_align(feat, box, scale, R):
    """detectron2 ROIAlignV2 (aligned=True), sampling ratio 1, one box."""
    _, C, Hf, Wf = feat.shape
    x1, y1, x2, y2 = [float(v) * scale - 0.5 for v in box]
    bin_h, bin_w = (y2 - y1) / R, (x2 - x1) / R
    out = feat.new_zeros((C, R, R))
    for ph in range(R):
        y = y1 + (ph + 0.5) * bin_h
        for pw in range(R):
            x = x1 + (pw + 0.5) * bin_w
            if y < -1.0 or y > Hf or x < -1.0 or x > Wf:
                continue
            yy, xx = max(y, 0.0), max(x, 0.0)
            y0, x0 = int(yy), int(xx)
            if y0 >= Hf - 1:
                y0 = y1i = Hf - 1
                yy = float(y0)
            else:
                y1i = y0 + 1
            if x0 >= Wf - 1:
                x0 = x1i = Wf - 1
                xx = float(x0)
            else:
                x1i = x0 + 1
            ly, lx = yy - y0, xx - x0
            out[:, ph, pw] = (
                (1 - ly) * (1 - lx) * feat[0, :, y0, x0]
                + (1 - ly) * lx * feat[0, :, y0, x1i]
                + ly * (1 - lx) * feat[0, :, y1i, x0]
                + ly * lx * feat[0, :, y1i, x1i]
            )
    return out


def ref_blend(bases, boxes, attns, K=4, M=14, R=56, stride=4):
    """Blender.merge_bases: bilinear resize of the [K, M, M] attention, softmax
    over K, weighted sum of the ROIAlignV2 crops of the bases."""
    masks = []
    for box, a in zip(boxes, attns):
        rois = ref_roi_align(bases, box, 1.0 / stride, R)[None]
        a = F.interpolate(a.view(1, K, M, M), (R, R), mode='bilinear').softmax(
            dim=1
        )
        masks.append((rois * a).sum(dim=1)[0])
    return torch.stack(masks)


# ------------------------------------------------------------------ test
def photo_bgr():
    img = mmcv.imread(IMAGE)  # BGR, as LoadImageFromFile
    oh, ow = img.shape[:2]
    img = mmcv.imresize(img, (W, H))
    return img, (W / ow, H / oh)


def gt_boxes(sx, sy):
    boxes = []
    for split in ('train', 'val'):
        with open(osp.join(DATA, f'instances_{split}.json')) as f:
            ann = json.load(f)
        ids = [
            i['id']
            for i in ann['images']
            if i['file_name'] == osp.basename(IMAGE)
        ]
        boxes += [
            a['bbox'] for a in ann['annotations'] if a['image_id'] in ids
        ]
    assert boxes, 'the photo has ground-truth boxes'
    return torch.tensor(
        [
            [x * sx, y * sy, (x + w) * sx, (y + h) * sy]
            for x, y, w, h in boxes[:3]
        ],
        dtype=torch.float64,
    )


def head_outputs(head, feats):
    """Per-level ``cls, reg, ctr, attn`` of BlendMaskHead.forward, which
    returns either ``(cls, reg, ctr, attn)`` or, with the top layer as a
    host add-on, ``(box_towers, cls, reg, ctr)`` (attn = top_layer(tower))."""
    outs = head(feats)
    if outs[-1][0].size(1) == 1:  # centerness last: box towers first
        towers, cls, reg, ctr = outs
        return cls, reg, ctr, [head.top_layer(t) for t in towers]
    return outs


def close(a, b, what, rtol=1e-9):
    assert a.shape == b.shape, (what, a.shape, b.shape)
    err = (a - b).abs().max().item()
    tol = rtol * max(1.0, b.abs().max().item())
    assert err <= tol, f'{what}: max abs diff {err:.3g} (tol {tol:.3g})'


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_converted_model_matches_adelaidet(name):
    torch.manual_seed(0)
    tool = load_tool()
    with open(FIXTURE) as f:
        shapes = json.load(f)['models'][name]
    sd = random_adelaidet_state(shapes)
    model, _ = tool.build_target(osp.join(REPO, CONFIGS[name]))
    converted, _ = tool.convert(sd, model.state_dict())
    model.load_state_dict(converted, strict=True)
    model = model.double().eval()

    img, (sx, sy) = photo_bgr()
    # data preprocessor: BGR kept, caffe mean, std 1
    data = model.data_preprocessor(
        dict(
            inputs=[torch.from_numpy(img).permute(2, 0, 1).contiguous()],
            data_samples=[DetDataSample(metainfo=dict(img_shape=(H, W)))],
        ),
        False,
    )
    x_ref = torch.from_numpy(img.astype(np.float64)).permute(2, 0, 1)[None]
    x_ref = (
        x_ref
        - torch.tensor(MEAN_BGR, dtype=torch.float64)[None, :, None, None]
    )
    # the preprocessor computes in float32
    close(data['inputs'].double(), x_ref, 'normalised input', rtol=1e-6)
    x = x_ref

    with torch.no_grad():
        cs_ref = ref_backbone(x_ref, sd)
        cs = model.backbone(x)
        for i, (a, b) in enumerate(zip(cs, cs_ref)):
            close(a, b, f'backbone res{i + 2}')

        ps_ref = ref_fpn(cs_ref, sd)
        ps = model.neck(cs)
        assert len(ps) == len(ps_ref)
        p2 = int('backbone.fpn_lateral2.weight' in sd)  # panoptic: P2..P7
        for i, (a, b) in enumerate(zip(ps, ps_ref)):
            close(a, b, f'FPN P{i + 3 - p2}')

        head = model.bbox_head
        out_ref = ref_fcos(ps_ref[p2:], sd, head.strides)
        cls, reg, ctr, attn = head_outputs(head, ps)
        for lvl, r in enumerate(out_ref):
            close(cls[lvl], r['cls'], f'cls logits P{lvl + 3}')
            # mmdet's FCOS head casts the regression to float32
            close(
                reg[lvl].double(),
                r['reg'],
                f'box regression P{lvl + 3}',
                rtol=1e-6,
            )
            close(ctr[lvl], r['ctr'], f'centerness P{lvl + 3}')
            close(attn[lvl], r['top'], f'top layer P{lvl + 3}')

        basis = model.mask_head.basis
        bases, _ = basis(ps)
        bases_ref = ref_protonet(ps_ref[p2 : p2 + 3], sd)
        close(bases, bases_ref, 'bases')

        # semantic head: AdelaiDet row 0 = background, row c+1 = class c;
        # mmblend row c = class c, row C = background
        sem = basis.sem_logits(basis.sem_convs(ps[basis.sem_in_index]))
        sem_ref = ref_seg_head(ps_ref[p2], sd)
        C = head.num_classes
        close(sem[:, :C], sem_ref[:, 1:], 'semantic logits, classes')
        close(sem[:, C], sem_ref[:, 0], 'semantic logits, background')

        # blender: attentions of P3 locations on the photo's GT boxes
        boxes = gt_boxes(sx, sy)
        top = out_ref[0]['top'][0].flatten(1).t()  # [HW, K*M*M]
        attns = top[torch.tensor([5, 40, 77])[: len(boxes)]]
        rois = torch.cat([boxes.new_zeros((len(boxes), 1)), boxes], dim=1)
        masks = model.mask_head.blender(bases, attns, rois)
        masks_ref = ref_blend(bases_ref, boxes, attns)
        close(masks, masks_ref, 'blended mask logits')

        if p2:  # panoptic semantic head: detectron2 row 0 = things,
            # 1..53 = stuff; mmdet 0..52 = stuff, 53 = things
            seg = model.semantic_head(ps)['seg_preds']
            seg_ref = ref_sem_seg_fpn_head(ps_ref[:4], sd)
            n = model.semantic_head.num_stuff_classes
            close(seg[:, :n], seg_ref[:, 1:], 'panoptic logits, stuff')
            close(seg[:, n], seg_ref[:, 0], 'panoptic logits, things')
