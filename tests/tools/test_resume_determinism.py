"""Resuming an IterBasedTrainLoop run reproduces the uninterrupted run.

Run A trains N+2 iterations in one go. Run B trains N iterations (checkpoint
at N), then ``tools/train.py --resume`` continues to N+2 in the same work
dir. With a fixed seed the losses logged at N+1 (and N+2) must match.

Why this works with stock mmengine 0.10.7: mmengine does not checkpoint
the sampler or any global RNG state, but (1) the InfiniteSampler's own
torch.Generator is seeded from ``randomness.seed`` (restored from the
checkpoint meta), and ``IterBasedTrainLoop.run`` *replays* the train
dataloader ``iter`` times after resuming ("Advance dataloader N steps to
skip data that has already been trained"), which restores the sampler
position; (2) the Runner re-seeds numpy/random/torch at start-up and the
model is built (and randomly initialised) identically before the
checkpoint overwrites it, and the replay re-runs the data pipeline, so the
pipeline's RNG draws (RandomFlip uses numpy) are reproduced -- in the main
process with ``num_workers=0``, or in the workers, which
``default_worker_init_fn`` seeds deterministically from seed/rank/worker id.
What is *not* reproduced are global-RNG draws made by the model inside the
train step during the first N iterations (e.g. torch.randperm sub-sampling
of masks, dropout): a model doing that would see a different torch RNG
state at N+1. The tiny model (and FCOS-style heads) draw none.
"""
import numpy as np
import pytest

from cli_utils import TRAIN, explain, read_scalars, run_tool
from tiny_config import write_tiny_config

N = 2


@pytest.mark.parametrize('num_workers', [0, 1])
def test_resume_matches_uninterrupted(tmp_path, num_workers):
    cfg = write_tiny_config(
        str(tmp_path / 'cfg'),
        num_train=4,
        max_iters=N + 2,
        checkpoint_interval=N,
        batch_size=2,
        num_workers=num_workers,
        seed=2024)

    # A: uninterrupted N+2 iterations
    work_a = str(tmp_path / 'a')
    proc = run_tool([TRAIN, cfg, '--work-dir', work_a])
    assert proc.returncode == 0, explain(proc)

    # B: N iterations, stop, then --resume to N+2
    work_b = str(tmp_path / 'b')
    proc = run_tool([
        TRAIN, cfg, '--work-dir', work_b, '--cfg-options',
        f'train_cfg.max_iters={N}'
    ])
    assert proc.returncode == 0, explain(proc)
    proc = run_tool([TRAIN, cfg, '--work-dir', work_b, '--resume'])
    assert proc.returncode == 0, explain(proc)
    assert f'Advance dataloader {N} steps' in proc.stdout + proc.stderr

    (run_a, ) = read_scalars(work_a)
    run_b1, run_b2 = read_scalars(work_b)
    assert [r['iter'] for r in run_a] == list(range(1, N + 3))
    assert [r['iter'] for r in run_b1] == list(range(1, N + 1))
    assert [r['iter'] for r in run_b2] == [N + 1, N + 2]

    a = {r['iter']: r for r in run_a}
    # the first N iterations of B are the same training as A
    for r in run_b1:
        np.testing.assert_allclose(r['loss'], a[r['iter']]['loss'],
                                   rtol=1e-6)
    # the resumed iterations N+1, N+2 continue exactly where A was
    for r in run_b2:
        ra = a[r['iter']]
        loss_keys = [k for k in ra if k.startswith('loss')]
        assert loss_keys
        for k in loss_keys:
            np.testing.assert_allclose(
                r[k], ra[k], rtol=1e-5, atol=1e-7,
                err_msg=f'{k} at iter {r["iter"]}')
