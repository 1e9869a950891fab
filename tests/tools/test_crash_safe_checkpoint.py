"""A training process SIGKILLed in the middle of writing a checkpoint
(max_keep_ckpts=1, write stalled by tests/tools/slow_ckpt_backend.py) leaves
the previous checkpoint complete and named in last_checkpoint; --resume
continues from it and ends with the same weights as an uninterrupted run.
Also: --resume with an empty last_checkpoint."""

import os
import os.path as osp
import signal
import subprocess
import sys
import time

import torch
from mmengine.config import Config

from cli_utils import TRAIN, explain, run_tool
from mmblend.engine.checkpoint_hook import find_resume_checkpoint
from tiny_config import REPO_ROOT, tool_env, write_tiny_config

HERE = osp.dirname(osp.abspath(__file__))
ITERS, INTERVAL = 6, 2


def _config(tmp_path):
    path = write_tiny_config(
        str(tmp_path / 'cfg'),
        num_train=4,
        max_iters=ITERS,
        checkpoint_interval=INTERVAL,
        seed=7,
    )
    cfg = Config.fromfile(path)
    cfg.custom_imports = dict(
        imports=['mmblend', 'slow_ckpt_backend'], allow_failed_imports=False
    )
    cfg.default_hooks.checkpoint.update(
        max_keep_ckpts=1, backend_args=dict(backend='stalling_local')
    )
    cfg.dump(path)
    return path


def _env(**extra):
    env = tool_env(1)
    env['PYTHONPATH'] = os.pathsep.join(
        [REPO_ROOT, HERE, env.get('PYTHONPATH', '')]
    )
    env.update(extra)
    return env


def _weights(path):
    # the test's own checkpoints; their message hub (mmengine's
    # HistoryBuffer) is outside torch < 2.4's weights-only allowlist
    return torch.load(path, map_location='cpu', weights_only=False)[
        'state_dict'
    ]


def _ckpts(work_dir):
    return sorted(
        n
        for n in os.listdir(work_dir)
        if n.endswith('.pth') or n.endswith('.part')
    )


def _train_killed_in_save(tmp_path, cfg, work_dir, *opts):
    """Train until the save of iter_4.pth is half written, then SIGKILL."""
    marker = str(tmp_path / 'stalled')
    log_path = tmp_path / (osp.basename(work_dir) + '.log')
    with open(log_path, 'w') as log:
        child = subprocess.Popen(
            [sys.executable, TRAIN, cfg, '--work-dir', work_dir, *opts],
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_env(
                MMBLEND_STALL_FILE='iter_4.pth', MMBLEND_STALL_MARKER=marker
            ),
        )
        try:
            deadline = time.time() + 300
            while not osp.exists(marker):
                assert child.poll() is None, log_path.read_text()
                assert time.time() < deadline, 'the save never stalled'
                time.sleep(0.2)
            os.kill(child.pid, signal.SIGKILL)
        finally:
            child.wait()
    os.remove(marker)


def test_kill_during_save_then_resume(tmp_path):
    cfg = _config(tmp_path)
    # A: uninterrupted
    work_a = str(tmp_path / 'a')
    proc = run_tool([TRAIN, cfg, '--work-dir', work_a], env=_env())
    assert proc.returncode == 0, explain(proc)
    assert _ckpts(work_a) == [f'iter_{ITERS}.pth']

    # B: killed while iter_4.pth is half written
    work_b = str(tmp_path / 'b')
    _train_killed_in_save(tmp_path, cfg, work_b)
    # the previous checkpoint is complete and named; the new one is a part
    assert _ckpts(work_b) == ['.iter_4.pth.part', 'iter_2.pth']
    with open(osp.join(work_b, 'last_checkpoint')) as f:
        assert f.read() == osp.join(work_b, 'iter_2.pth')
    at_2 = _weights(osp.join(work_b, 'iter_2.pth'))  # loads: complete

    proc = run_tool([TRAIN, cfg, '--work-dir', work_b, '--resume'], env=_env())
    assert proc.returncode == 0, explain(proc)
    out = proc.stdout + proc.stderr
    assert (
        f"--resume: resuming from '{osp.join(work_b, 'iter_2.pth')}' "
        "(named in '"
    ) in out, explain(proc)
    assert 'resumed epoch: 0, iter: 2' in out
    assert '.iter_4.pth.part\', left by an interrupted save' in out
    assert _ckpts(work_b) == [f'iter_{ITERS}.pth']
    a = _weights(osp.join(work_a, f'iter_{ITERS}.pth'))
    b = _weights(osp.join(work_b, f'iter_{ITERS}.pth'))
    assert a.keys() == b.keys()
    differ = [
        k for k in a if not torch.allclose(a[k], b[k], rtol=1e-5, atol=1e-7)
    ]
    assert not differ, differ
    # iterations 3..6 changed them (the comparison has teeth)
    assert any(not torch.allclose(at_2[k], b[k]) for k in b)


def test_mmengines_hook_loses_everything(tmp_path):
    """Negative control: the same kill with mmengine's CheckpointHook leaves
    no complete checkpoint (iter_2.pth deleted before iter_4.pth was
    written)."""
    cfg = _config(tmp_path)
    work = str(tmp_path / 'stock')
    _train_killed_in_save(
        tmp_path,
        cfg,
        work,
        '--cfg-options',
        'default_hooks.checkpoint.type=CheckpointHook',
    )
    assert _ckpts(work) == ['iter_4.pth']
    try:
        _weights(osp.join(work, 'iter_4.pth'))
    except Exception:
        pass
    else:
        raise AssertionError('a half-written checkpoint loaded')


def test_find_resume_checkpoint(tmp_path):
    work = str(tmp_path)
    assert find_resume_checkpoint(work)[0] is None
    for n in (2, 10, 4):
        open(osp.join(work, f'iter_{n}.pth'), 'wb').close()
    open(osp.join(work, '.iter_12.pth.part'), 'wb').close()
    open(osp.join(work, 'last_checkpoint'), 'w').close()  # empty
    path, how = find_resume_checkpoint(work)
    assert path == osp.join(work, 'iter_10.pth') and 'is empty' in how
    with open(osp.join(work, 'last_checkpoint'), 'w') as f:
        f.write(osp.join(work, 'iter_12.pth'))  # names a deleted file
    path, how = find_resume_checkpoint(work)
    assert path == osp.join(work, 'iter_10.pth') and 'does not exist' in how
    with open(osp.join(work, 'last_checkpoint'), 'w') as f:
        f.write(osp.join(work, 'iter_4.pth'))
    assert find_resume_checkpoint(work)[0] == osp.join(work, 'iter_4.pth')
