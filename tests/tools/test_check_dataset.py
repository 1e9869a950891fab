"""tools/misc/check_dataset.py passes the clean bundled data and reports
every defect planted in a copy of real coco128-seg photos and annotations,
all in one run."""

import copy
import json
import os.path as osp
import sys

from mmengine.config import Config
from module_utils import load_module

sys.path.insert(
    0, osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'datasets')
)
from bad_files import KIND, REPO, make_dataset  # noqa: E402

check_dataset = load_module(
    'tools/misc/check_dataset.py', 'check_dataset', register=True
)  # its pool pickles functions
DEMO = osp.join(
    REPO, 'configs', 'demo', 'blendmask-light_r18_fpn_1xb8-1200iter_coco128.py'
)


def test_clean_bundled_data_passes(capsys):
    for split in ('train', 'val'):
        assert (
            check_dataset.main([DEMO, '--split', split, '--nproc', '2']) == 0
        )
        out = capsys.readouterr().out
        assert '0 errors, 0 warnings: OK' in out
        assert 'images/s' in out


def _plant_annotation_defects(ann_file, good):
    with open(ann_file) as f:
        coco = json.load(f)
    images = {i['file_name']: i for i in coco['images']}
    anns = {}
    for a in coco['annotations']:
        anns.setdefault(a['image_id'], []).append(a)
    g = [images[n] for n in good]
    first = next(i for i in g if len(anns[i['id']]) >= 2)
    rest = [i for i in g if i is not first]
    planted = {}

    def pick(img, kind, k=0):
        a = anns[img['id']][k]
        planted[kind] = a['id']
        return a

    a = pick(first, 'short_polygon')
    a['segmentation'] = [a['segmentation'][0][:4]]
    pick(first, 'unknown_category', 1)['category_id'] = 9999
    a = pick(rest[0], 'out_of_image')
    a['segmentation'][0][0] = rest[0]['width'] + 50.0
    pick(rest[1], 'nonfinite')['bbox'][0] = float('nan')
    pick(rest[2], 'degenerate_box')['bbox'][2] = 0.5
    for a in anns[rest[3]['id']]:
        a['iscrowd'] = 1
    planted['crowd_only'] = rest[3]['id']
    orphan = copy.deepcopy(anns[rest[4]['id']][0])
    orphan.update(id=10**9, image_id=999999)
    coco['annotations'].append(orphan)
    planted['unknown_image'] = orphan['id']
    coco['images'].append(
        dict(id=888888, file_name='missing.jpg', height=10, width=10)
    )
    planted['missing_file'] = 888888
    with open(ann_file, 'w') as f:
        json.dump(coco, f)
    return planted


def test_every_planted_defect_is_reported(tmp_path, capsys):
    data = make_dataset(tmp_path / 'data', num_images=12)
    planted = _plant_annotation_defects(data['ann_file'], data['good'])
    cfg = dict(
        train_dataloader=dict(
            dataset=dict(
                type='RepeatDataset',
                times=2,
                dataset=dict(
                    type='CocoInstanceDataset',
                    data_root='',
                    ann_file=data['ann_file'],
                    data_prefix=dict(img=data['img_dir'] + '/'),
                    pipeline=[
                        dict(type='LoadImageFromFile'),
                        dict(
                            type='LoadAnnotations',
                            with_bbox=True,
                            with_mask=True,
                        ),
                    ],
                ),
            )
        )
    )
    path = str(tmp_path / 'cfg.py')
    Config(cfg).dump(path)
    out_json = str(tmp_path / 'problems.json')
    assert check_dataset.main([path, '--nproc', '2', '--out', out_json]) == 1
    out = capsys.readouterr().out
    with open(out_json) as f:
        problems = json.load(f)
    found = {
        (p['kind'], p['file'] and osp.basename(p['file'])) for p in problems
    }
    for name, defect in data['bad'].items():  # every file defect
        assert (KIND[defect], name) in found, defect
    ann_ids = {p['kind']: p['ann_id'] for p in problems if p['ann_id']}
    img_ids = {p['kind']: p['img_id'] for p in problems}
    for kind in (
        'short_polygon',
        'unknown_category',
        'out_of_image',
        'nonfinite',
        'degenerate_box',
        'unknown_image',
    ):
        assert ann_ids.get(kind) == planted[kind], kind
    assert img_ids['crowd_only'] == planted['crowd_only']
    assert img_ids['missing_file'] == planted['missing_file']
    assert len(problems) == len(data['bad']) + 8  # nothing else reported
    assert 'FAILED' in out and 'EXIF-rotated' in out
    # the summary table counts them
    assert [
        line for line in out.splitlines() if line.startswith('crowd_only ')
    ][0].split('|')[2].strip() == '1'


def test_unsupported_dataset_type(capsys):
    path = osp.join(
        REPO,
        'configs',
        'panoptic',
        'blendmask-panoptic-tiny_r18_fpn_1xb2-40iter_coco-panoptic-sample.py',
    )
    assert check_dataset.main([path]) == 2
    assert (
        'supports CocoInstanceDataset, CocoDataset' in capsys.readouterr().err
    )
