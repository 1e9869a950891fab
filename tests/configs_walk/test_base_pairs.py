"""Every ``_base_/models/*`` composes with every ``_base_/datasets/*``, every
``_base_/schedules/*`` and the runtime in one ``_base_`` list, and every
iteration-based config trains with a sampler that never ends an epoch.

mmengine refuses a key that two files of one ``_base_`` list both set
(``KeyError: Duplicate key is not allowed among bases``), so a key such as
``custom_imports`` may live in one base only (``default_runtime.py``).
"""

import itertools
import os.path as osp

import pytest
from mmengine.config import Config

from .walk_utils import CONFIG_ROOT, all_configs, config_id

BASE = CONFIG_ROOT / '_base_'
MODELS = sorted((BASE / 'models').glob('*.py'))
DATASETS = sorted((BASE / 'datasets').glob('*.py'))
SCHEDULES = sorted((BASE / 'schedules').glob('*.py'))
RUNTIME = BASE / 'default_runtime.py'
COMBOS = list(itertools.product(MODELS, DATASETS, SCHEDULES))


def _compose(tmp_path, *bases):
    path = tmp_path / 'composed.py'
    path.write_text(
        '_base_ = [\n' + ''.join(f'    {str(b)!r},\n' for b in bases) + ']\n'
    )
    return Config.fromfile(str(path))


def test_bases_found():
    assert MODELS and len(DATASETS) >= 8 and len(SCHEDULES) >= 2


@pytest.mark.parametrize(
    'model,dataset,schedule',
    COMBOS,
    ids=[f'{m.stem}+{d.stem}+{s.stem}' for m, d, s in COMBOS],
)
def test_model_dataset_schedule_runtime_compose(
    tmp_path, model, dataset, schedule
):
    cfg = _compose(tmp_path, model, dataset, schedule, RUNTIME)
    assert cfg.custom_imports.imports == ['mmblend']
    assert cfg.model.type and cfg.train_dataloader.dataset.type
    assert cfg.train_cfg.type == 'IterBasedTrainLoop'
    assert cfg.test_evaluator.type and cfg.default_hooks


def test_custom_imports_in_one_base_only():
    owners = [
        osp.relpath(p, BASE)
        for p in sorted(BASE.rglob('*.py'))
        if any(
            line.replace(' ', '').startswith('custom_imports=')
            for line in p.read_text().splitlines()
        )
    ]
    assert owners == ['default_runtime.py']


def test_duplicate_key_is_refused(tmp_path):
    """Negative control: a second base setting custom_imports is what broke
    the obvious composition (issue 18); mmengine still refuses it."""
    extra = tmp_path / 'extra_imports.py'
    extra.write_text("custom_imports = dict(imports=['mmblend'])\n")
    with pytest.raises(KeyError, match='custom_imports'):
        _compose(
            tmp_path, MODELS[0], DATASETS[0], SCHEDULES[0], RUNTIME, extra
        )


RUNNABLE = all_configs()


@pytest.mark.parametrize(
    'path', RUNNABLE, ids=[config_id(p) for p in RUNNABLE]
)
def test_iteration_based_configs_never_end_an_epoch(path):
    """An iteration-based loop over a finite sampler sleeps 2 s whenever the
    sampler runs out (mmengine's ``_InfiniteDataloaderIterator``); our
    iteration-based configs use ``InfiniteSampler`` (configs/README.md,
    "Samplers"). An epoch-based loop must not (its epochs would never end).
    """
    cfg = Config.fromfile(str(path))
    loop = cfg.get('train_cfg', {}).get('type')
    if cfg.get('train_dataloader') is None or loop is None:
        pytest.skip('no training set-up')
    sampler = cfg.train_dataloader.sampler.type
    if loop == 'IterBasedTrainLoop':
        assert sampler == 'InfiniteSampler', config_id(path)
    else:
        assert sampler != 'InfiniteSampler', config_id(path)
