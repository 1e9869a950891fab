"""benchmarks/suites/keypoints.py and keypoints_latency.py (``--quick``):
they run and write checked results (and the picture); the design table's
top-layer sizes are the arithmetic of docs/keypoints.md. No timing is
asserted."""

import os.path as osp

import pytest

DATA = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))),
    '..',
    'shared',
    'data',
    'coco-mini-keypoints',
)


@pytest.mark.skipif(
    not osp.isdir(DATA), reason='shared coco-mini-keypoints absent'
)
def test_keypoints_quick(run_quick, tmp_path):
    import mmcv

    p = run_quick('keypoints', '--work-dir', str(tmp_path / 'wd'))
    v = p['values']
    assert [
        v[f'attn_channels/{k}']
        for k in (
            'shared_m14',
            'shared_m7',
            'kp_bases_m14',
            'kp_bases_m7',
            'kp_bases_per_kp_m2',
        )
    ] == [
        17 * 4 * 14 * 14,
        17 * 4 * 7 * 7,
        4 * 14 * 14,
        4 * 7 * 7,
        17 * 4 * 2 * 2,
    ]
    assert v['top_params/shared_m14'] == 13328 * (256 * 9 + 1)  # 30.7M
    assert v['top_params/kp_bases_m14'] == 784 * (256 * 9 + 1)  # 1.8M
    assert v['branch_gflops/keypoint'] > 0 and v['branch_gflops/mask'] > 0
    for key in ('train_keypoints_ap', 'val_keypoints_ap', 'train_mask_ap'):
        assert 0 <= p['samples'][key][0] <= 1
    picture = mmcv.imread(str(tmp_path / 'keypoints_train-quick.jpg'))
    assert picture.shape[0] == 360 and picture.shape[1] > 360


def test_keypoints_latency_quick(run_quick):
    p = run_quick('keypoints_latency')
    assert set(p['samples']) == {'latency/mask', 'latency/keypoint'}
    assert min(v[0] for v in p['samples'].values()) > 0
