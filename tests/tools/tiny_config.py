"""Tiny, fast training/test config over the real coco128-seg data.

Used by the command-line tests in ``tests/tools``. The model is
``MODEL_CFG``, the tiny BlendMask of ``tests/configs/blendmask_tiny.py``
(pass ``model=`` to :func:`write_tiny_config` for another one).

:func:`write_tiny_config` writes the config plus subset annotation jsons
(first ``num_train``/``num_val`` images of the real ``instances_train.json``
/ ``instances_val.json``, so that COCO evaluation covers exactly the
images that are run) into a directory and returns the config path.
"""

import json
import os
import os.path as osp
import pprint

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DATA_ROOT = os.environ.get(
    'MMBLEND_COCO128_SEG', osp.join(REPO_ROOT, 'demo', 'data', 'coco128-seg')
)
IMG_SCALE = (128, 128)

# --cfg-options that make the model draw from torch's global RNG inside its
# train step (random sub-sampling of positives), per detector type; used by
# the resume-determinism test.
RANDOM_SUBSAMPLING_OPTIONS = {
    'CondInst': ['model.mask_head.max_masks_to_train=1'],
    'BlendMask': ['model.mask_head.max_proposals=1'],
}

CUSTOM_IMPORTS = dict(imports=['mmblend'], allow_failed_imports=False)


def config_train_samplers():
    """``(sampler, batch_sampler)`` of the training loader of
    configs/_base_/datasets/coco_instance.py, which every config inherits:
    the CLI tests (resume, 2-rank DDP) run exactly the configs' sampling."""
    from mmengine.config import Config

    loader = Config.fromfile(
        osp.join(
            REPO_ROOT, 'configs', '_base_', 'datasets', 'coco_instance.py'
        )
    ).train_dataloader
    return loader.sampler.to_dict(), loader.batch_sampler.to_dict()


TRAIN_SAMPLER, TRAIN_BATCH_SAMPLER = config_train_samplers()


def model_from_config(path, **test_cfg):
    """The ``model`` dict of a config file (``_base_`` resolved), with
    ``score_thr=0`` in its test_cfg so an untrained model still outputs
    detections for COCO evaluation (override with ``**test_cfg``)."""
    from mmengine.config import Config

    model = Config.fromfile(path).model.to_dict()
    model.setdefault('test_cfg', {})
    model['test_cfg'].update(dict(score_thr=0.0), **test_cfg)
    return model


def write_subset_ann(src_json, dst_json, num_images):
    """Write the first ``num_images`` images (sorted by id) of a COCO json
    together with their annotations and all categories."""
    with open(src_json) as f:
        coco = json.load(f)
    images = sorted(coco['images'], key=lambda x: x['id'])
    # keep images that have at least one annotation
    annotated = {a['image_id'] for a in coco['annotations']}
    images = [im for im in images if im['id'] in annotated][:num_images]
    ids = {im['id'] for im in images}
    out = dict(coco)
    out['images'] = images
    out['annotations'] = [
        a for a in coco['annotations'] if a['image_id'] in ids
    ]
    with open(dst_json, 'w') as f:
        json.dump(out, f)
    return dst_json


def tiny_config_dict(
    train_ann,
    val_ann,
    max_iters=3,
    checkpoint_interval=None,
    seed=0,
    batch_size=2,
    num_workers=0,
    lr=0.01,
    with_val=False,
    custom_hooks=None,
    model=None,
):
    """Build the tiny config as a plain dict (iteration-based loop).

    ``with_val=False`` leaves validation out of training (``val_*=None``):
    IterBasedTrainLoop would otherwise evaluate at ``max_iters``.
    """
    model = MODEL_CFG if model is None else model
    if checkpoint_interval is None:
        checkpoint_interval = max_iters
    img_prefix = dict(img='images/train2017/')
    train_pipeline = [
        dict(type='LoadCheckedImageFromFile'),
        dict(
            type='LoadAnnotations',
            with_bbox=True,
            with_mask=True,
            poly2mask=False,
        ),
        dict(type='Resize', scale=IMG_SCALE, keep_ratio=True),
        dict(type='RandomFlip', prob=0.5),
        dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2)),
        dict(type='PackDetInputs'),
    ]
    test_pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=IMG_SCALE, keep_ratio=True),
        dict(
            type='LoadAnnotations',
            with_bbox=True,
            with_mask=True,
            poly2mask=False,
        ),
        dict(
            type='PackDetInputs',
            meta_keys=(
                'img_id',
                'img_path',
                'ori_shape',
                'img_shape',
                'scale_factor',
            ),
        ),
    ]
    test_dataloader = dict(
        batch_size=1,
        num_workers=0,
        persistent_workers=False,
        drop_last=False,
        sampler=dict(type='DefaultSampler', shuffle=False),
        dataset=dict(
            type='CocoDataset',
            data_root=DATA_ROOT + '/',
            ann_file=val_ann,
            data_prefix=img_prefix,
            test_mode=True,
            pipeline=test_pipeline,
        ),
    )
    test_evaluator = dict(
        type='CocoMetric',
        ann_file=val_ann,
        metric=['bbox', 'segm'],
        format_only=False,
    )
    return dict(
        default_scope='mmdet',
        custom_imports=CUSTOM_IMPORTS,
        model=model,
        train_dataloader=dict(
            batch_size=batch_size,
            num_workers=num_workers,
            persistent_workers=num_workers > 0,
            sampler=TRAIN_SAMPLER,
            batch_sampler=TRAIN_BATCH_SAMPLER,
            dataset=dict(
                type='CocoDataset',
                data_root=DATA_ROOT + '/',
                ann_file=train_ann,
                data_prefix=img_prefix,
                filter_cfg=dict(filter_empty_gt=True, min_size=1),
                pipeline=train_pipeline,
            ),
        ),
        train_cfg=dict(
            type='IterBasedTrainLoop', max_iters=max_iters, val_interval=10**9
        ),
        val_dataloader=test_dataloader if with_val else None,
        val_evaluator=test_evaluator if with_val else None,
        val_cfg=dict(type='ValLoop') if with_val else None,
        test_dataloader=test_dataloader,
        test_evaluator=test_evaluator,
        test_cfg=dict(type='TestLoop'),
        optim_wrapper=dict(
            type='OptimWrapper',
            optimizer=dict(type='SGD', lr=lr, momentum=0.9, weight_decay=1e-4),
            clip_grad=dict(max_norm=10, norm_type=2),
        ),
        param_scheduler=[],
        auto_scale_lr=dict(enable=False, base_batch_size=16),
        custom_hooks=list(custom_hooks or []),
        default_hooks=dict(
            timer=dict(type='IterTimerHook'),
            logger=dict(type='LoggerHook', interval=1),
            param_scheduler=dict(type='ParamSchedulerHook'),
            checkpoint=dict(
                type='CrashSafeCheckpointHook',
                by_epoch=False,
                interval=checkpoint_interval,
            ),
            sampler_seed=dict(type='DistSamplerSeedHook'),
            visualization=dict(type='DetVisualizationHook'),
        ),
        env_cfg=dict(
            cudnn_benchmark=False,
            mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
            dist_cfg=dict(backend='nccl'),
        ),
        vis_backends=[dict(type='LocalVisBackend')],
        visualizer=dict(
            type='DetLocalVisualizer',
            vis_backends=[dict(type='LocalVisBackend')],
            name='visualizer',
        ),
        log_processor=dict(type='LogProcessor', window_size=1, by_epoch=False),
        log_level='INFO',
        load_from=None,
        resume=False,
        randomness=dict(seed=seed, deterministic=True),
    )


def write_tiny_config(
    out_dir, num_train=4, num_val=3, name='tiny_config.py', **kwargs
):
    """Write subset annotation jsons and the tiny config into ``out_dir``.

    Args:
        out_dir (str): Directory to write into (created if missing).
        num_train (int): Number of (annotated) training images.
        num_val (int): Number of (annotated) validation/test images.
        name (str): File name of the config.
        **kwargs: Forwarded to :func:`tiny_config_dict` (``max_iters``,
            ``checkpoint_interval``, ``seed``, ``batch_size``,
            ``num_workers``, ``lr``, ``with_val``, ``custom_hooks``,
            ``model``).

    Returns:
        str: Path of the written config file.
    """
    os.makedirs(out_dir, exist_ok=True)
    train_ann = write_subset_ann(
        osp.join(DATA_ROOT, 'instances_train.json'),
        osp.join(out_dir, 'ann_train.json'),
        num_train,
    )
    val_ann = write_subset_ann(
        osp.join(DATA_ROOT, 'instances_val.json'),
        osp.join(out_dir, 'ann_val.json'),
        num_val,
    )
    cfg = tiny_config_dict(
        osp.abspath(train_ann), osp.abspath(val_ann), **kwargs
    )
    path = osp.join(out_dir, name)
    with open(path, 'w') as f:
        f.write('# Generated by tests/tools/tiny_config.py\n')
        for key, value in cfg.items():
            f.write(f'{key} = {pprint.pformat(value, width=79)}\n')
    return path


def tool_env(num_threads=1):
    """Environment for subprocesses running ``tools/*.py``: repo on
    PYTHONPATH, CPU only, few threads (shared CI cores)."""
    env = dict(os.environ)
    env['PYTHONPATH'] = REPO_ROOT + os.pathsep + env.get('PYTHONPATH', '')
    env['CUDA_VISIBLE_DEVICES'] = ''
    env['OMP_NUM_THREADS'] = str(num_threads)
    env['MKL_NUM_THREADS'] = str(num_threads)
    env.setdefault('PYTHONHASHSEED', '0')
    return env


# The CLI tests run the real BlendMask (tests/configs/blendmask_tiny.py).
MODEL_CFG = model_from_config(
    osp.join(REPO_ROOT, 'tests', 'configs', 'blendmask_tiny.py')
)
