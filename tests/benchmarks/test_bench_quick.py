"""Smoke tests of the benchmark scripts (``--quick``): they run and write
well-formed results. No timing assertions."""
import json
import os.path as osp
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BENCH = osp.join(ROOT, 'benchmarks')
if BENCH not in sys.path:
    sys.path.insert(0, BENCH)

MACHINE_KEYS = {'date', 'cpu_count', 'torch', 'mmcv', 'mmdet',
                'load_average_start', 'load_average_end', 'torch_threads'}


def _check_common(out, name, table_titles, min_rows=1):
    js = osp.join(out, f'{name}.json')
    md = osp.join(out, f'{name}.md')
    png = osp.join(out, f'{name}.png')
    for f in (js, md, png):
        assert osp.isfile(f), f
    with open(png, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    with open(js) as f:
        payload = json.load(f)
    assert MACHINE_KEYS <= set(payload['machine'])
    assert payload['machine']['cpu_count'] >= 1
    text = open(md).read()
    for title in table_titles:
        assert title in payload['tables'], title
        t = payload['tables'][title]
        assert len(t['rows']) >= min_rows
        assert all(len(r) == len(t['columns']) for r in t['rows'])
        assert f'## {title}' in text
        header = '| ' + ' | '.join(t['columns']) + ' |'
        assert header in text
    # markdown rows: one per json row
    n_rows = sum(len(payload['tables'][t]['rows']) for t in payload['tables'])
    n_md_rows = sum(1 for line in text.splitlines()
                    if line.startswith('| ') and not line.startswith('| ---'))
    assert n_md_rows == n_rows + len(payload['tables'])  # + headers
    return payload


def test_bench_blender_quick(tmp_path):
    import bench_blender
    bench_blender.main(['--quick', '--out', str(tmp_path)])
    p = _check_common(str(tmp_path), 'bench_blender_quick',
                      ['Mask path time (ms, median) vs detections'], 3)
    for n, r in p['results_ms'].items():
        assert {'blender', 'maskrcnn_head', 'paste_ours',
                'paste_mmdet'} <= set(r)
        assert all(v > 0 for v in r.values())
    assert {'blender_scaling', 'maskrcnn_scaling', 'blender_over_maskrcnn',
            'target_blender_le_1_50_of_maskrcnn'} <= set(p['summary'])


def test_bench_inference_quick(tmp_path):
    import bench_inference
    bench_inference.main(['--quick', '--out', str(tmp_path)])
    p = _check_common(str(tmp_path), 'bench_inference_quick', [
        'End-to-end inference (100 forced detections per image)',
        'BlendMask R50 per-stage breakdown', 'Targets'])
    # the forced number of detections is reached
    assert all(d == [100] for d in p['dets'].values()), p['dets']
    assert all(d == [100] for d in p['dets_rt'].values()), p['dets_rt']
    assert set(p['stage_ms']) == set(bench_inference.STAGES)
    assert 'blendmask_rt/yolact550 <= 1.0' in p['targets']


def test_bench_train_quick(tmp_path):
    import bench_train
    bench_train.main(['--quick', '--out', str(tmp_path)])
    p = _check_common(str(tmp_path), 'bench_train_quick',
                      ['Training iteration', 'Targets'], 1)
    assert set(p['iteration_ms']) == {'blendmask', 'fcos'}
    assert all(v > 0 for v in p['iteration_ms'].values())


def test_compare_accuracy_quick(tmp_path):
    import compare_accuracy
    compare_accuracy.main(['--quick', '--out', str(tmp_path), '--work-dir',
                           str(tmp_path / 'wd')])
    p = _check_common(str(tmp_path), 'compare_accuracy_quick',
                      [compare_accuracy.TABLE], 1)
    r = p['results'][0]
    for k in ('train_mask_ap', 'val_mask_ap', 'train_box_ap', 'val_box_ap',
              'train_s'):
        assert k in r
    # --merge: one table from two runs' jsons, rows in MODELS order
    with open(tmp_path / 'compare_accuracy_quick.json') as f:
        other = json.load(f)
    other['name'] = 'other_run'
    other['results'][0].update(model='condinst', label='CondInst')
    (tmp_path / 'other').mkdir()
    with open(tmp_path / 'other' / 'other.json', 'w') as f:
        json.dump(other, f)
    compare_accuracy.main([
        '--merge', str(tmp_path / 'other' / 'other.json'),
        str(tmp_path / 'compare_accuracy_quick.json'), '--out',
        str(tmp_path / 'merged'), '--name', 'merged'])
    m = _check_common(str(tmp_path / 'merged'), 'merged',
                      [compare_accuracy.TABLE], 2)
    assert [r['model'] for r in m['results']] == ['blendmask', 'condinst']
    assert len(m['machine']['merged_runs']) == 2
    assert any('Merged from 2 runs' in n for n in m['notes'])
    other['args']['iters'] += 1
    with open(tmp_path / 'other' / 'other.json', 'w') as f:
        json.dump(other, f)
    with pytest.raises(ValueError, match='differ in iters'):
        compare_accuracy.main([
            '--merge', str(tmp_path / 'other' / 'other.json'),
            str(tmp_path / 'compare_accuracy_quick.json'), '--out',
            str(tmp_path / 'merged')])


def test_profile_train_diff_quick(tmp_path):
    import profile_train_diff
    profile_train_diff.main(['--quick', '--out', str(tmp_path)])
    p = _check_common(str(tmp_path), 'profile_train_diff_quick', [
        'Totals (self CPU ms of one iteration, median of rounds)',
        'Difference by operator', 'Difference by operator and input shapes'
    ], 4)
    assert all(v > 0 for v in p['total_ms'].values())
    rows = p['tables'][
        'Totals (self CPU ms of one iteration, median of rounds)']['rows']
    # convolutions + everything else = the whole difference
    assert rows[2][1] + rows[3][1] == pytest.approx(rows[0][1] - rows[1][1])


def test_bench_mixing_quick(tmp_path):
    import bench_mixing
    bench_mixing.main(['--quick', '--out', str(tmp_path)])
    p = _check_common(str(tmp_path), 'bench_mixing_quick',
                      [bench_mixing.TABLE], len(bench_mixing.HOSTS))
    # every host and its mixed model, both with the forced detections
    assert set(p['dets']) == {n for h in bench_mixing.HOSTS
                              for n in (h, f'blend_{h}')}
    assert all(d == [100] for d in p['dets'].values()), p['dets']
    for host, k in p['keys'].items():
        assert k['shared_keys'] > 300 and k['extra_keys'] > 0, (host, k)
    for r in p['ratios'].values():
        assert r['verdict'] in ('met', 'mixed', 'missed')
        assert r['flop_ratio'] > 1.0  # the add-on costs something
    assert sum(p['stage_ms'].values()) > 0


def test_bench_roi_mask_head_quick(tmp_path):
    import bench_roi_mask_head
    bench_roi_mask_head.main(['--quick', '--out', str(tmp_path)])
    p = _check_common(str(tmp_path), 'bench_roi_mask_head_quick',
                      ['Mask branch time (ms, median) vs RoIs'], 2)
    for r in p['results_ms'].values():
        assert {'roi_feats', 'fcn_head', 'blend_head', 'bases',
                'stock_predict_mask', 'ours_predict_mask'} <= set(r)
        assert all(v > 0 for v in r.values())
    for s in p['summary'].values():
        # FLOPs are deterministic: the blender head (bases included) costs
        # less than FCNMaskHead's 4 x 256-channel tower and deconv
        assert 0 < s['head_gflops_ratio'] < 1
        assert s['gflops']['bases'] < s['gflops']['blend_head']
        assert {'head_ratio', 'head_ratio_per_round', 'branch_ratio_per_round',
                'predict_mask_ratio', 'target_head_le_0_25'} <= set(s)


def test_compare_accuracy_models_build():
    """Every light model of compare_accuracy.py builds, on the same
    ImageNet-pretrained backbone (the --quick run above trains only the
    first)."""
    from mmdet.registry import MODELS

    import compare_accuracy
    for name in compare_accuracy.MODELS:
        cfg = compare_accuracy.model_cfg(name)
        assert cfg.backbone == compare_accuracy.BACKBONE, name
        assert cfg.backbone.init_cfg.checkpoint == \
            'efficientnet-lite://lite0'
        model = MODELS.build(cfg)
        assert sum(p.numel() for p in model.parameters()) > 0, name
    mixed = compare_accuracy.model_cfg('mask_rcnn_blender').roi_head
    assert mixed.type == 'BlendRoIHead'
    assert mixed.mask_head.basis.in_channels == compare_accuracy.C


def test_bench_train_convs_quick(tmp_path):
    import bench_train_convs
    bench_train_convs.main(['--quick', '--out', str(tmp_path),
                            '--thread-counts', '1'])
    p = _check_common(str(tmp_path), 'bench_train_convs_quick', [
        'Training step: BlendMask R50 / FCOS R50 vs the FLOPs ratio',
        'Convolutions by model part (forward + backward, replayed alone)',
        'BlendMask mask-branch convolutions'])
    convs = p['results']['1']['convs']
    parts = {bench_train_convs.part_of(c['module']) for c in convs
             if c['model'] == 'blendmask'}
    assert {'backbone', 'neck', 'bbox_head', 'basis module',
            'semantic head'} <= parts
    # FCOS has no mask branch; every replayed conv did work
    assert not any(c['module'].startswith('mask_head') for c in convs
                   if c['model'] == 'fcos')
    assert all(c['gflop'] > 0 and c['ms'] > 0 for c in convs)
