"""The BlendMaskHead built on the mixing mechanism (BlendHostMixin) computes
exactly what the head computed before it (commit 47d3f74, where the top
layer ran behind a ``_sparse_top_layer`` flag): losses, the gradients of the
heads and the neck, and the predictions of the tiny BlendMask on real
coco128 photos of two sizes plus an image without GT, same weights
(bitwise equal when the refactor landed at the reference's thread count;
the tolerances only absorb the reduction order of other thread counts).

``python tests/models/dense_heads/test_blendmask_head_regression.py`` wrote
``blendmask_head_reference.pth`` with the code of that commit.
"""
import os.path as osp
import sys

import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
REFERENCE = osp.join(osp.dirname(osp.abspath(__file__)),
                     'blendmask_head_reference.pth')
IMAGES = osp.join(REPO, 'demo', 'data', 'coco128-seg')


def batch(model):
    """Two real photos (different aspect ratios, so the padded batch has
    invalid locations) with their GT, and the second one again without
    GT."""
    from mmdet.datasets import CocoDataset
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', with_bbox=True, with_mask=True,
             poly2mask=False),
        dict(type='Resize', scale=(224, 160), keep_ratio=True),
        dict(type='PackDetInputs')
    ]
    dataset = CocoDataset(
        data_root=IMAGES, ann_file='instances_train.json',
        data_prefix=dict(img='images/train2017/'), pipeline=pipeline,
        lazy_init=False)
    by_id = {dataset.get_data_info(i)['img_id']: i
             for i in range(len(dataset))}
    samples = [dataset[by_id[34]], dataset[by_id[73]], dataset[by_id[73]]]
    samples[2]['data_samples'].gt_instances = \
        samples[2]['data_samples'].gt_instances[:0]
    return model.data_preprocessor(pseudo_collate(samples), training=True)


def build_model():
    from mmdet.registry import MODELS
    cfg = Config.fromfile(osp.join(REPO, 'tests', 'configs',
                                   'blendmask_tiny.py'))
    cfg.model.test_cfg.score_thr = 0.0
    return MODELS.build(cfg.model)


def outputs(model) -> dict:
    """Losses, gradients and predictions of one batch."""
    data = batch(model)
    model.train()
    losses = model.loss(data['inputs'], data['data_samples'])
    total = sum(v for k, v in losses.items() if 'loss' in k)
    model.zero_grad()
    total.backward()
    # the heads' and the neck's (the backbone's follow from them)
    grads = {n: p.grad.clone() for n, p in model.named_parameters()
             if p.grad is not None and not n.startswith('backbone')}
    model.eval()
    with torch.no_grad():
        preds = model.predict(data['inputs'], data['data_samples'])
    out = dict(losses={k: v.detach() for k, v in losses.items()},
               grads=grads)
    for i, p in enumerate(preds):
        inst = p.pred_instances
        pixels = inst.masks.flatten(1).long()
        out[f'pred{i}'] = dict(
            bboxes=inst.bboxes, scores=inst.scores, labels=inst.labels,
            # exact integer fingerprints of the [D, H, W] masks
            mask_area=pixels.sum(1),
            mask_moment=(pixels * torch.arange(pixels.size(1))).sum(1))
    return out


def test_matches_the_head_before_the_refactor():
    import mmblend  # noqa: F401
    ref = torch.load(REFERENCE, weights_only=True)
    model = build_model()
    model.load_state_dict(ref['state_dict'])
    now = outputs(model)
    assert now['losses'].keys() == ref['losses'].keys()
    for k, v in ref['losses'].items():
        torch.testing.assert_close(now['losses'][k], v, rtol=1e-6,
                                   atol=1e-7, msg=k)
    assert now['grads'].keys() == ref['grads'].keys()
    for k, v in ref['grads'].items():
        # the order of BLAS reductions (thread count) moves small entries
        torch.testing.assert_close(now['grads'][k], v, rtol=1e-4,
                                   atol=1e-5 * float(v.abs().max()), msg=k)
    for i in range(3):
        for k, v in ref[f'pred{i}'].items():
            if k.startswith('mask'):
                assert torch.equal(now[f'pred{i}'][k], v), (i, k)
            else:
                torch.testing.assert_close(now[f'pred{i}'][k], v,
                                           rtol=1e-6, atol=1e-5)
    assert len(ref['pred0']['scores']) > 0


if __name__ == '__main__':
    sys.path.insert(0, REPO)
    from mmdet.utils import register_all_modules

    import mmblend  # noqa: F401
    register_all_modules()
    torch.manual_seed(0)
    model = build_model()
    model.init_weights()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    result = outputs(model)
    result['state_dict'] = state
    torch.save(result, REFERENCE)
    print('wrote', REFERENCE, {k: float(v) for k, v in
                               result['losses'].items()})
