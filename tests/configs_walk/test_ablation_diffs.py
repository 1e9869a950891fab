"""Each ablation config differs from its base only in the documented fields.

The flattened experiment (model, schedule, data, evaluation) of every
config in configs/ablations/ is compared with the ablation base it belongs
to; the set of changed keys must lie within the fields named for that
table row, and those fields must hold the row's values.
"""

import fnmatch

import pytest
from mmengine.config import Config

from .walk_utils import (
    CONFIG_ROOT,
    all_configs,
    changed_keys,
    flat_config,
)

ABL = 'ablations/_base_/blendmask_r50_ablation.py'  # C3+C5 (T1-T4)
P3P5 = 'ablations/_base_/blendmask_r50_ablation_p3p5.py'  # P3+P5 (T5-T7)
B = 'model.mask_head.blender.'
S = 'model.mask_head.basis.'
ANY = object()  # pattern key: any value


def rm(r, m):
    return {B + 'bottom_resolution': r, B + 'attn_size': m}


P3P5_INPUT = {
    S + 'feat_source': 'neck',
    S + 'in_indices.*': ANY,
    S + 'in_channels*': ANY,
}
T7 = {B + 'attn_size': 14, B + 'top_interp': 'bilinear'}
T7_SEM = dict(T7, **{S + 'num_classes': 80, S + 'sem_in_index': 0})
PROTO = dict(
    T7_SEM, **{S + '*': ANY, S + 'type': 'ProtoNetBasis', S + 'out_stride': 4}
)


def abl(model: str) -> str:
    """The ablation config of ``model`` (configs/README.md, "Names")."""
    return f'blendmask_r50_fpn_{model}_1x_coco.py'


def t6(r, pooler):
    return {
        B + 'bottom_resolution': r,
        B + 'pooler': pooler,
        B + 'top_interp': 'bilinear',
    }


# config -> (base, {flattened key or fnmatch pattern: expected value});
# rows of the paper's tables that are the same model share one config
EXPECTED = {
    abl('c3c5-28-4-4'): (ABL, rm(28, 4)),  # T1 Blender; T2 R=28 M=4
    abl('c3c5-28-4-1'): (ABL, rm(28, 1)),  # T1 Weighted-sum
    abl('c3c5-28-16-assembler'): (
        ABL,
        {  # T1 Assembler
            B + 'merge': 'assembler',
            S + 'num_bases': 16,
            B + 'bottom_resolution': 28,
        },
    ),
    **{
        abl(f'c3c5-{r}-4-{m}'): (ABL, rm(r, m))  # T2
        for r, m in [(28, 2), (28, 7), (56, 4), (56, 14)]
    },
    # T2 R=56 M=7, T3 K=4, T4 C3+C5: the ablation baseline itself
    abl('c3c5-56-4-7'): (ABL, dict(rm(56, 7), **{S + 'num_bases': 4})),
    **{
        abl(f'c3c5-56-{k}-7'): (ABL, {S + 'num_bases': k})  # T3
        for k in (1, 2, 8)
    },
    # T4 P3+P5, T5 nearest: the second ablation base itself
    abl('p3p5-56-4-7'): (P3P5, {B + 'top_interp': 'nearest'}),
    abl('p3p5-56-4-7-bilinear'): (P3P5, t6(56, 'RoIAlign')),  # T5; T6
    abl('p3p5-28-4-7-bilinear'): (P3P5, t6(28, 'RoIAlign')),  # T6
    abl('p3p5-28-4-7-bilinear-roipool'): (P3P5, t6(28, 'RoIPool')),
    abl('p3p5-56-4-7-bilinear-roipool'): (P3P5, t6(56, 'RoIPool')),
    abl('p3p5-56-4-14-bilinear'): (P3P5, T7),  # T7
    abl('p3p5-56-4-14-bilinear-sem'): (P3P5, T7_SEM),
    abl('p3p5-56-4-14-bilinear-sem-w256'): (
        P3P5,
        dict(T7_SEM, **{S + 'channels': 256}),
    ),
    abl('p2p5-56-4-14-bilinear-sem-w256'): (
        P3P5,
        dict(
            T7_SEM,
            **{
                S + 'channels': 256,
                S + 'in_indices.*': ANY,
                S + 'out_stride': 4,
                S + 'sem_in_index': 1,
                'model.neck.start_level': 0,
                'model.neck.num_outs': 6,
                'model.bbox_head.feat_indices.*': ANY,
            },
        ),
    ),
    abl('proto-p3-56-4-14-bilinear-sem-w256'): (
        P3P5,
        dict(PROTO, **{S + 'channels': 256, S + 'num_convs': 3}),
    ),
    abl('proto-fpn-56-4-14-bilinear-sem'): (
        P3P5,
        dict(PROTO, **{S + 'channels': 128, S + 'num_convs': 2}),
    ),
    # the second base itself, and the bases against the paper's main model
    P3P5: (ABL, P3P5_INPUT),
}

# relations between the main-model configs (same mechanism)
R50_1X = 'blendmask_r50_fpn_1x_coco.py'
R101_3X = 'blendmask_r101_fpn_ms-3x_coco.py'
MAIN = {
    'blendmask_r50_3x.py': (
        R50_1X,
        {
            'train_cfg.max_iters': 270000,
            'param_scheduler.1.end': 270000,
            'param_scheduler.1.milestones.0': 180000,
            'param_scheduler.1.milestones.1': 240000,
            'train_dataloader.dataset.pipeline.2.*': ANY,
        },
    ),
    R101_3X: (
        'blendmask_r50_3x.py',
        {
            'model.backbone.depth': 101,
            'model.backbone.init_cfg.checkpoint': 'torchvision://resnet101',
        },
    ),
    'blendmask_r101-dcni3_fpn_ms-3x_coco.py': (
        R101_3X,
        {
            'model.backbone.type': 'ResNetDCNInterval',
            'model.backbone.dcn.*': ANY,
            'model.backbone.stage_with_dcn.*': ANY,
            'model.backbone.dcn_interval': 3,
        },
    ),
    ABL: (
        R50_1X,
        {
            S + 'feat_source': 'backbone',
            S + 'in_indices.*': ANY,
            S + 'in_channels*': ANY,
            S + 'channels': 128,
            S + 'num_classes': None,
            B + 'attn_size': 7,
            B + 'top_interp': 'nearest',
        },
    ),
    # the ablation row "+semantic, width 256" is the 1x main model (the
    # ablation names feat_source='neck' explicitly, the default, and sets
    # in_channels=None over its base's backbone widths: from the neck, as
    # the main model, which leaves it out)
    'ablations/' + abl('p3p5-56-4-14-bilinear-sem-w256'): (
        R50_1X,
        {S + 'feat_source': 'neck', S + 'in_channels': None},
    ),
}


def load(rel):
    return flat_config(Config.fromfile(str(CONFIG_ROOT / rel)))


def check(rel, base, expected):
    cfg, ref = load(rel), load(base)
    changed = changed_keys(cfg, ref)
    unexpected = {
        k
        for k in changed
        if not any(fnmatch.fnmatchcase(k, p) for p in expected)
    }
    assert not unexpected, (
        f'{rel} differs from {base} in undocumented fields: '
        f'{sorted(unexpected)}'
    )
    for key, value in expected.items():
        if value is ANY:
            continue
        assert key in cfg, f'{rel}: {key} missing'
        assert cfg[key] == value, f'{rel}: {key} = {cfg[key]!r} != {value!r}'


def test_every_ablation_has_an_expectation():
    found = {
        str(p.relative_to(CONFIG_ROOT / 'ablations'))
        for p in all_configs()
        if p.parent.name == 'ablations'
    }
    assert found == {k for k in EXPECTED if '/' not in k}


@pytest.mark.parametrize('rel', sorted(EXPECTED))
def test_ablation_differs_only_in_documented_fields(rel):
    base, expected = EXPECTED[rel]
    check(rel if '/' in rel else f'ablations/{rel}', base, expected)


@pytest.mark.parametrize('rel', sorted(MAIN))
def test_main_configs_differ_only_in_documented_fields(rel):
    base, expected = MAIN[rel]
    check(rel, base, expected)


def test_ablation_base_matches_paper_training_details():
    cfg = Config.fromfile(str(CONFIG_ROOT / ABL))
    assert cfg.model.backbone.depth == 50
    assert cfg.train_cfg.max_iters == 90000
    assert cfg.param_scheduler[1].milestones == [60000, 80000]
    assert cfg.optim_wrapper.optimizer.lr == 0.01
    assert cfg.auto_scale_lr.base_batch_size == 16
    resize = [
        t
        for t in cfg.train_dataloader.dataset.pipeline
        if 'Resize' in t['type']
    ]
    assert [(t['type'], tuple(t['scale'])) for t in resize] == [
        ('Resize', (1333, 800))
    ]
