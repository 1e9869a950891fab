"""Multi-process (2 ranks, gloo) training on CPU through tools/train.py.

Stock mmengine 0.10.7 fails here (``torch.cuda.set_device`` in init_dist,
``device_ids=[LOCAL_RANK]`` in wrap_model); tools/train.py switches to
``mmblend.engine.init_dist_cpu_aware`` + ``CPUAwareDDP`` when CUDA is absent.

The model under test is ``tiny_config.MODEL_CFG`` (swap that one line for
BlendMask). Rank logs are kept (``log_level=DEBUG`` makes mmengine write one
log file per rank) so that per-rank values can be compared; see
``_per_rank_losses``.
"""

import glob
import math
import os.path as osp
import sys

import pytest

from cli_utils import (
    TRAIN,
    explain,
    free_port,
    parse_log_losses,
    read_scalars,
    run_tool,
)
from tiny_config import write_tiny_config

MAX_ITERS = 3
NPROC = 2


def _per_rank_losses(work_dir):
    """``{rank: {iter: {loss_name: value}}}`` from the per-rank logs."""
    out = {}
    for rank in range(NPROC):
        logs = glob.glob(osp.join(work_dir, '*', f'*rank{rank}.log'))
        assert len(logs) == 1, (rank, logs)
        out[rank] = parse_log_losses(logs[0])
    return out


@pytest.fixture(scope='module')
def dist_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('dist_cpu')
    cfg = write_tiny_config(
        str(tmp / 'cfg'), num_train=4, max_iters=MAX_ITERS, batch_size=1
    )
    work_dir = str(tmp / 'work')
    proc = run_tool(
        [
            '-m',
            'torch.distributed.run',
            '--nnodes',
            '1',
            '--nproc_per_node',
            str(NPROC),
            '--master_addr',
            '127.0.0.1',
            '--master_port',
            str(free_port()),
            TRAIN,
            cfg,
            '--launcher',
            'pytorch',
            '--work-dir',
            work_dir,
            '--cfg-options',
            'log_level=DEBUG',
        ],
        timeout=600,
    )
    return proc, work_dir


@pytest.mark.skipif(
    sys.platform == 'win32', reason='gloo/torchrun test for Linux'
)
def test_two_rank_cpu_training(dist_run):
    proc, work_dir = dist_run
    assert proc.returncode == 0, explain(proc)
    out = proc.stdout + proc.stderr
    assert 'Traceback' not in out, explain(proc)
    # really distributed: 2 processes, gloo, our DDP wrapper
    assert 'Distributed training: True' in out, explain(proc)
    assert 'GPU number: 2' in out, explain(proc)  # = world size
    assert "dist_cfg: {'backend': 'gloo'}" in out, explain(proc)
    assert "type='CPUAwareDDP'" in out, explain(proc)

    # both ranks ran every iteration and logged finite losses
    losses = _per_rank_losses(work_dir)
    for rank in range(NPROC):
        assert sorted(losses[rank]) == list(range(1, MAX_ITERS + 1)), (
            rank,
            losses[rank],
        )
        for it, vals in losses[rank].items():
            assert 'loss' in vals and 'grad_norm' in vals, (rank, it, vals)
            assert math.isfinite(vals['loss']), (rank, it, vals)
    # each rank trains on its own images (different losses) but DDP
    # all-reduces the gradients: the clipped-grad norm is identical
    assert any(
        losses[0][i]['loss'] != losses[1][i]['loss'] for i in losses[0]
    ), losses
    for i in losses[0]:
        assert losses[0][i]['grad_norm'] == losses[1][i]['grad_norm'], losses
    # the mask loss is normalised by the all-reduced sum of centerness
    # targets: both ranks use the same normaliser for different images
    for i in losses[0]:
        assert losses[0][i]['mask_avg_factor'] > 0, losses
        assert (
            losses[0][i]['mask_avg_factor'] == losses[1][i]['mask_avg_factor']
        ), losses

    # rank 0 wrote the json scalars for every iteration
    runs = read_scalars(work_dir)
    assert len(runs) == 1
    assert [r['iter'] for r in runs[0]] == list(range(1, MAX_ITERS + 1))

    # exactly one checkpoint (rank 0 saves; rank 1 must not)
    ckpts = glob.glob(osp.join(work_dir, '**', '*.pth'), recursive=True)
    assert [osp.relpath(p, work_dir) for p in ckpts] == [
        f'iter_{MAX_ITERS}.pth'
    ], ckpts
