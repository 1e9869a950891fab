"""benchmarks/suites/blender.py --quick: the mask path and Mask R-CNN's
mask branch are timed and their GFLOPs counted."""


def test_blender_quick(run_quick):
    p = run_quick('blender')
    s, v = p['samples'], p['values']
    for n in p['args']['nums']:
        for k in ('blender', 'maskrcnn_head', 'paste_ours', 'paste_mmdet'):
            assert s[f'{k}@{n}'][0] > 0
    for n in p['args']['rois']:
        for k in (
            'roi_feats',
            'fcn_head',
            'blend_head',
            'bases',
            'stock_predict_mask',
            'ours_predict_mask',
        ):
            assert s[f'{k}@{n}'][0] > 0
        # FLOPs are deterministic: the blender head (bases included) costs
        # less than FCNMaskHead's 4 x 256-channel tower and deconv
        assert 0 < v[f'gflops/blend_head@{n}'] < v[f'gflops/fcn_head@{n}']
        assert v[f'gflops/bases@{n}'] < v[f'gflops/blend_head@{n}']
