"""The mask branch learns on mmdet's RTMDet: the RTMDet-tiny mixing config
(BlendRTMDetSepBNHead with RTMDet's own assigner, losses and test settings),
shrunk to tiny widths and trained from scratch on the four coco128-seg
photos of the fit tests, lifts mask AP on them from the untrained model's
near zero. Training from scratch is chaotic at this size: the same run
gave mask AP 0.28-0.46 across thread counts and CPU kernels (measured at 1
and 2 threads, AVX-512 and ATEN_CPU_CAPABILITY=default), hence the low
floor; about a minute."""

import os.path as osp

from fit_utils import subset
from mixing_utils import shrink_host
from mmengine.config import Config
from module_utils import load_module

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
fit_real_data = load_module(
    'tests/integration/test_fit_real_data.py', '_fit_real_data'
)


def test_rtmdet_host_on_real_photos_lifts_mask_ap(tmp_path):
    rtmdet = Config.fromfile(
        osp.join(
            REPO,
            'configs',
            'mixing',
            'blendmask-rtmdet_tiny_8xb32-300e_coco.py',
        )
    ).model.to_dict()
    rtmdet = shrink_host(rtmdet)
    cfg = fit_real_data.fit_config(
        subset(tmp_path), str(tmp_path / 'work'), iters=300
    )
    # RTMDet's neck upsamples by 2: inputs padded to a multiple of 32
    for loader in ('train_dataloader', 'test_dataloader'):
        cfg[loader].dataset.pipeline.insert(
            -1, dict(type='Pad', size_divisor=32)
        )
    mask_head = cfg.model.mask_head
    mask_head.basis.pop('in_channels')  # from the neck
    cfg.model = dict(
        type='BlendMask',
        data_preprocessor=cfg.model.data_preprocessor,
        backbone=rtmdet['backbone'],
        neck=rtmdet['neck'],
        bbox_head=rtmdet['bbox_head'],
        mask_head=mask_head,
        train_cfg=rtmdet['train_cfg'],
        test_cfg=dict(rtmdet['test_cfg'], mask_thr=0.5),
    )
    before, after, after_box = fit_real_data.fit(cfg, tmp_path)
    print(
        f'RTMDet host: mask AP before {before:.3f}, after {after:.3f}; '
        f'box AP after {after_box:.3f}'
    )
    assert before < 0.02
    assert after >= 0.15, after
