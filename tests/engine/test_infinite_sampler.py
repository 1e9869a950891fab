"""The configs' training sampler (InfiniteSampler under mmdet's
AspectRatioBatchSampler, configs/_base_/datasets/coco_instance.py) never
ends an epoch, so mmengine's IterBasedTrainLoop never reaches the 2 s
``time.sleep`` of its epoch transition, while keeping what depends on the
sampler: the seed, one shard per rank and repeat-factor (class-balanced)
sampling. Exact ``--resume`` and real 2-rank training with these samplers:
tests/tools/test_resume_determinism.py, tests/tools/test_dist_train_cpu.py
(tiny_config uses the same sampler entries).
"""

import collections
import itertools
import os.path as osp
import time

import pytest
import torch
from mmdet.registry import DATASETS
from mmengine.config import Config
from mmengine.registry import DATA_SAMPLERS
from mmengine.runner import Runner
from module_utils import load_module

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
COCO_BASE = osp.join(REPO, 'configs', '_base_', 'datasets', 'coco_instance.py')


tiny = load_module(
    'tests/tools/tiny_config.py', '_tiny_config_for_sampler_tests'
)
CONFIG_SAMPLER = Config.fromfile(COCO_BASE).train_dataloader


@pytest.fixture(autouse=True)
def one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope='module')
def anns(tmp_path_factory):
    """Annotation subsets of the real coco128-seg: 4 training images (one
    epoch = 2 batches of 2), 2 val images."""
    out = tmp_path_factory.mktemp('anns')
    train = tiny.write_subset_ann(
        osp.join(tiny.DATA_ROOT, 'instances_train.json'),
        str(out / 'train.json'),
        4,
    )
    val = tiny.write_subset_ann(
        osp.join(tiny.DATA_ROOT, 'instances_val.json'),
        str(out / 'val.json'),
        2,
    )
    return train, val


def _train_recording_sleeps(
    tmp_path, anns, sampler, batch_sampler, monkeypatch, max_iters=7, seed=3
):
    """Train the tiny BlendMask ``max_iters`` iterations (3.5 passes over
    the 4 images) with ``time.sleep`` replaced by a recorder; returns the
    runner and the recorded ``(seconds, caller file)`` calls."""
    cfg = tiny.tiny_config_dict(
        anns[0],
        anns[1],
        max_iters=max_iters,
        seed=seed,
        batch_size=2,
        num_workers=0,
    )
    cfg['train_dataloader']['sampler'] = sampler
    cfg['train_dataloader']['batch_sampler'] = batch_sampler
    cfg['work_dir'] = str(tmp_path)
    cfg['default_hooks']['checkpoint']['interval'] = 10**6
    cfg['log_level'] = 'WARNING'
    calls = []

    def fake_sleep(seconds):
        import sys

        calls.append((seconds, sys._getframe(1).f_code.co_filename))

    monkeypatch.setattr(time, 'sleep', fake_sleep)
    runner = Runner.from_cfg(Config(cfg))
    runner.train()
    monkeypatch.undo()
    assert runner.iter == max_iters
    return runner, calls


def _loop_sleeps(calls):
    return [
        c
        for c in calls
        if c[1].replace('\\', '/').endswith('mmengine/runner/loops.py')
    ]


def test_config_sampler_is_infinite():
    assert CONFIG_SAMPLER.sampler.type == 'InfiniteSampler'
    assert CONFIG_SAMPLER.sampler.shuffle is True
    assert CONFIG_SAMPLER.batch_sampler.type == 'AspectRatioBatchSampler'


def test_training_loop_never_sleeps(tmp_path, anns, monkeypatch):
    runner, calls = _train_recording_sleeps(
        tmp_path / 'inf',
        anns,
        CONFIG_SAMPLER.sampler.to_dict(),
        CONFIG_SAMPLER.batch_sampler.to_dict(),
        monkeypatch,
    )
    assert _loop_sleeps(calls) == [], calls
    # the Runner seeded the sampler from randomness.seed
    assert runner.train_dataloader.batch_sampler.sampler.seed == 3


def test_finite_sampler_sleeps_negative_control(tmp_path, anns, monkeypatch):
    """With mmengine's DefaultSampler (the previous config) the same run
    ends 3 epochs and the loop sleeps 2 s at each: the recorder sees it."""
    _, calls = _train_recording_sleeps(
        tmp_path / 'fin',
        anns,
        dict(type='DefaultSampler', shuffle=True),
        CONFIG_SAMPLER.batch_sampler.to_dict(),
        monkeypatch,
    )
    assert [s for s, _ in _loop_sleeps(calls)] == [2, 2, 2], calls


def _coco_subset_dataset(ann_file, **wrap):
    ds = dict(
        type='CocoDataset',
        data_root=tiny.DATA_ROOT + '/',
        ann_file=ann_file,
        data_prefix=dict(img='images/train2017/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=1),
        pipeline=[],
    )
    if wrap:
        ds = dict(wrap, dataset=ds)
    return DATASETS.build(ds)


def _samplers(dataset, rank, world_size, seed, monkeypatch):
    """The configs' sampler and batch sampler (batches of 2) as built for
    ``rank`` of ``world_size``."""
    import mmengine.dataset.sampler as sampler_mod

    monkeypatch.setattr(
        sampler_mod, 'get_dist_info', lambda: (rank, world_size)
    )
    sampler = DATA_SAMPLERS.build(
        CONFIG_SAMPLER.sampler.to_dict(),
        default_args=dict(dataset=dataset, seed=seed),
    )
    batch_sampler = DATA_SAMPLERS.build(
        CONFIG_SAMPLER.batch_sampler.to_dict(),
        default_args=dict(sampler=sampler, batch_size=2),
    )
    monkeypatch.undo()
    return sampler, batch_sampler


def _first(iterable, num):
    return list(itertools.islice(iter(iterable), num))


@pytest.fixture(scope='module')
def train16(tmp_path_factory):
    return tiny.write_subset_ann(
        osp.join(tiny.DATA_ROOT, 'instances_train.json'),
        str(tmp_path_factory.mktemp('anns16') / 'train16.json'),
        16,
    )


def test_two_ranks_draw_disjoint_shards_seeded(train16, monkeypatch):
    dataset = _coco_subset_dataset(train16)
    n = len(dataset)
    assert n == 16
    # one pass (n / 2 indices per rank): each rank its own half, together
    # every image once. (An InfiniteSampler's index stream is one generator
    # per sampler, closed when an iterator over it is dropped, so every
    # check below builds fresh samplers, as the Runner does once.)
    shard = [
        _first(_samplers(dataset, r, 2, 7, monkeypatch)[0], n // 2)
        for r in range(2)
    ]
    assert not set(shard[0]) & set(shard[1])
    assert sorted(shard[0] + shard[1]) == list(range(n))
    # the batches of a rank hold only indices of its shards, and never end
    batches = _first(_samplers(dataset, 1, 2, 7, monkeypatch)[1], 5 * n)
    assert len(batches) == 5 * n and all(len(b) == 2 for b in batches)
    assert set(batches[0]) <= set(shard[1])
    # seeded: the same seed gives the same batches, another seed others
    again = _samplers(dataset, 1, 2, 7, monkeypatch)[1]
    other = _samplers(dataset, 1, 2, 8, monkeypatch)[1]
    assert _first(again, 5 * n) == batches
    assert _first(other, 5 * n) != batches


def test_repeat_factor_sampling_kept(train16, monkeypatch):
    """LVIS configs wrap the dataset in ClassBalancedDataset (repeat
    factors); the infinite sampler draws from the wrapped indices, so over
    one pass of the wrapped dataset each image appears its repeat count."""
    cbd = _coco_subset_dataset(
        train16, type='ClassBalancedDataset', oversample_thr=0.3
    )
    repeats = collections.Counter(cbd.repeat_indices)
    assert len(cbd) > 16 and max(repeats.values()) > 1  # rare images repeat
    sampler = _samplers(cbd, 0, 1, 0, monkeypatch)[0]
    seen = collections.Counter(
        cbd.repeat_indices[i] for i in _first(sampler, len(cbd))
    )
    assert seen == repeats
    batch_sampler = _samplers(cbd, 0, 1, 0, monkeypatch)[1]
    assert len(_first(batch_sampler, len(cbd))) == len(cbd)  # no end
