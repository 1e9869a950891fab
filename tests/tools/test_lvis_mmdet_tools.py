"""configs/lvis/ BlendMask LVIS v1 config through mmdet's own
``tools/train.py`` and ``tools/test.py`` (the copies shipped in
``mmdet/.mim/tools``), on an LVIS-v1-format file made from the real
coco128-seg annotations and images.

The fixture lists all 1203 LVIS v1 categories (names and order of mmdet's
``LVISV1Dataset.METAINFO``, ids 1..1203 as in the real file); each
coco128-seg object is given the LVIS v1 category named like its COCO class
or like the head of its LVIS synset (``prepare_cocofied_lvis.COCO_SYNSETS``),
e.g. "couch" -> "sofa", "car" -> "car_(automobile)"; objects of the few
classes without such a name (tv, laptop, ...) are dropped. The names make a
realistic fixture, not an official COCO-to-LVIS-v1 table. Only the model is
shrunk (R-18 at 1/4 width, 32-channel heads, 1203 classes kept) and the
inputs (~128 px), so that a few iterations run in seconds.
"""

import glob
import json
import os.path as osp
import re
from collections import defaultdict

import pytest
from module_utils import load_module

from cli_utils import explain, read_scalars, run_tool
from tiny_config import DATA_ROOT, REPO_ROOT

pytest.importorskip('lvis')

import mmdet  # noqa: E402

MMDET_TOOLS = osp.join(osp.dirname(mmdet.__file__), '.mim', 'tools')
LVIS_CFG = osp.join(
    REPO_ROOT,
    'configs',
    'lvis',
    'blendmask_r50_fpn_sample1e-3_ms-1x_lvis-v1.py',
)
CONVERTER = osp.join(
    REPO_ROOT, 'tools', 'dataset_converters', 'prepare_cocofied_lvis.py'
)
MAX_ITERS = 3


def lvis_v1_classes():
    from mmdet.datasets import LVISV1Dataset

    classes = LVISV1Dataset.METAINFO['classes']
    assert len(classes) == 1203
    return classes


def coco_to_lvis_v1_ids(classes):
    """COCO category id -> LVIS v1 category id (1-based index in
    ``classes``), through the LVIS synset of each COCO class."""
    conv = load_module(CONVERTER, '_cocofied')
    index = {name: i + 1 for i, name in enumerate(classes)}
    out = {}
    for coco_id, coco_name, synset in conv.COCO_SYNSETS:
        name, head = coco_name.replace(' ', '_'), synset.split('.')[0]
        match = [n for n in (name, head) if n in index] or [
            n for n in classes if n.startswith(head + '_(')
        ]
        if match:
            out[coco_id] = index[match[0]]
    return out


def _frequency(image_count):
    # LVIS: r 1-10, c 11-100, f > 100 training images; scaled to the fixture
    return 'r' if image_count <= 1 else ('c' if image_count <= 3 else 'f')


def write_lvis_v1(src_json, dst_json, num_images, classes, coco_to_lvis):
    """An LVIS-v1-format json of the first ``num_images`` images (sorted by
    id) of a coco128-seg json that keep at least one mapped object."""
    with open(src_json) as f:
        coco = json.load(f)
    anns = [a for a in coco['annotations'] if a['category_id'] in coco_to_lvis]
    by_img = defaultdict(list)
    for a in anns:
        by_img[a['image_id']].append(a)
    images = [
        im
        for im in sorted(coco['images'], key=lambda x: x['id'])
        if by_img[im['id']]
    ][:num_images]
    img_cats, out_anns = defaultdict(set), []
    for im in images:
        for a in by_img[im['id']]:
            cat = coco_to_lvis[a['category_id']]
            img_cats[im['id']].add(cat)
            out_anns.append(
                dict(
                    id=len(out_anns) + 1,
                    image_id=im['id'],
                    category_id=cat,
                    segmentation=a['segmentation'],
                    area=a['area'],
                    bbox=a['bbox'],
                )
            )
    image_count, instance_count = defaultdict(int), defaultdict(int)
    for cats in img_cats.values():
        for c in cats:
            image_count[c] += 1
    for a in out_anns:
        instance_count[a['category_id']] += 1
    mapped = sorted(set(coco_to_lvis.values()))
    out_images = []
    for k, im in enumerate(images):
        absent = [c for c in mapped if c not in img_cats[im['id']]]
        out_images.append(
            dict(
                id=im['id'],
                width=im['width'],
                height=im['height'],
                coco_url='http://images.cocodataset.org/train2017/'
                + im['file_name'],
                # verified absent: detections of these count as false positives
                neg_category_ids=absent[k % 3 :: 9],
                not_exhaustive_category_ids=[],
            )
        )
    categories = [
        dict(
            id=i + 1,
            name=name,
            synset=name + '.n.01',
            synonyms=[name],
            def_='',
            frequency=_frequency(image_count[i + 1]),
            image_count=image_count[i + 1],
            instance_count=instance_count[i + 1],
        )
        for i, name in enumerate(classes)
    ]
    with open(dst_json, 'w') as f:
        json.dump(
            dict(
                info=dict(
                    description='LVIS-v1-format coco128-seg '
                    'subset (mmblend tests)'
                ),
                licenses=[],
                images=out_images,
                annotations=out_anns,
                categories=categories,
            ),
            f,
        )
    return dst_json, len(out_images), len(out_anns)


CHILD = '''_base_ = {lvis_cfg!r}
gn = dict(type='GN', num_groups=8, requires_grad=True)
model = dict(
    backbone=dict(depth=18, base_channels=16, init_cfg=None, frozen_stages=-1,
                  norm_eval=False),
    neck=dict(in_channels=[16, 32, 64, 128], out_channels=32),
    bbox_head=dict(in_channels=32, feat_channels=32, stacked_convs=2,
                   norm_cfg=gn),
    mask_head=dict(
        basis=dict(in_channels=32, channels=32, sem_channels=32,
                   norm_cfg=gn),
        blender=dict(bottom_resolution=28, attn_size=7)))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True,
         poly2mask=False),
    dict(type='RandomChoiceResize', scales=[(160, 96), (160, 128)],
         keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(160, 128), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True,
         poly2mask=False),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                    'scale_factor'))
]
img_root = {img_root!r}
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(dataset=dict(data_root=img_root, ann_file={train!r},
                              pipeline=train_pipeline)))
val_dataloader = dict(
    num_workers=0, persistent_workers=False,
    dataset=dict(data_root=img_root, ann_file={val!r},
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file={val!r})
test_evaluator = val_evaluator
train_cfg = dict(max_iters={iters}, val_interval={iters})
param_scheduler = []
optim_wrapper = dict(optimizer=dict(lr=0.002))
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(interval={iters}),
                     visualization=dict(draw=False))
'''


@pytest.fixture(scope='module')
def lvis_fixture(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('lvis_v1')
    classes = lvis_v1_classes()
    mapping = coco_to_lvis_v1_ids(classes)
    train, n_train, _ = write_lvis_v1(
        osp.join(DATA_ROOT, 'instances_train.json'),
        str(tmp / 'lvis_v1_train.json'),
        4,
        classes,
        mapping,
    )
    val, n_val, n_val_anns = write_lvis_v1(
        osp.join(DATA_ROOT, 'instances_val.json'),
        str(tmp / 'lvis_v1_val.json'),
        3,
        classes,
        mapping,
    )
    assert (n_train, n_val) == (4, 3) and n_val_anns > 3
    cfg = tmp / 'blendmask_tiny_lvis-v1.py'
    cfg.write_text(
        CHILD.format(
            lvis_cfg=LVIS_CFG,
            img_root=osp.join(DATA_ROOT, 'images') + '/',
            train=train,
            val=val,
            iters=MAX_ITERS,
        )
    )
    return tmp, str(cfg), mapping


def test_fixture_is_lvis_v1_with_all_categories(lvis_fixture):
    tmp, _, mapping = lvis_fixture
    from lvis import LVIS

    gt = LVIS(str(tmp / 'lvis_v1_val.json'))
    assert len(gt.get_cat_ids()) == 1203
    assert gt.get_cat_ids() == list(range(1, 1204))
    assert len(mapping) >= 70  # most COCO classes have an LVIS v1 name
    names = [c['name'] for c in gt.load_cats(gt.get_cat_ids())]
    assert names == list(lvis_v1_classes())


def test_mmdet_train_then_test(lvis_fixture):
    tmp, cfg, _ = lvis_fixture
    work_dir = str(tmp / 'work')
    proc = run_tool(
        [osp.join(MMDET_TOOLS, 'train.py'), cfg, '--work-dir', work_dir]
    )
    assert proc.returncode == 0, explain(proc)
    out = proc.stdout + proc.stderr
    # the LVIS recipe of the config is what ran
    assert 'ClassBalancedDataset' in out and 'InfiniteSampler' in out
    assert 'num_classes=1203' in out, explain(proc)
    (records,) = read_scalars(work_dir)
    train_recs = [r for r in records if 'loss' in r]
    assert [r['iter'] for r in train_recs] == list(range(1, MAX_ITERS + 1))
    assert all(r['loss'] == r['loss'] for r in train_recs)  # finite
    ckpt = osp.join(work_dir, f'iter_{MAX_ITERS}.pth')
    assert osp.isfile(ckpt), glob.glob(osp.join(work_dir, '*'))

    proc = run_tool(
        [
            osp.join(MMDET_TOOLS, 'test.py'),
            cfg,
            ckpt,
            '--work-dir',
            str(tmp / 'test'),
        ]
    )
    assert proc.returncode == 0, explain(proc)
    out = proc.stdout + proc.stderr
    # LVIS evaluation really ran on the 3 images (lvis-api summary lines)
    assert 'lvis/segm_AP' in out and 'lvis/bbox_AP' in out, explain(proc)
    found = re.findall(r'lvis/segm_AP: (-?[\d.]+)', out)
    assert found and 0.0 <= float(found[-1]) <= 1.0, explain(proc)
    # lvis-api's summary lines (LVIS scores up to 300 detections per image)
    assert 'maxDets=300' in out and 'lvis/segm_APr' in out, explain(proc)
