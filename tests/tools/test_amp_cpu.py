"""``tools/train.py --amp`` without CUDA fails early and cleanly."""

import pytest
import torch

from cli_utils import TRAIN, explain, run_tool
from tiny_config import write_tiny_config


@pytest.mark.skipif(torch.cuda.is_available(), reason='needs a CPU-only box')
def test_amp_on_cpu_fails_early(tmp_path):
    cfg = write_tiny_config(str(tmp_path / 'cfg'), num_train=1, num_val=1)
    work_dir = tmp_path / 'work'
    proc = run_tool(
        [TRAIN, cfg, '--amp', '--work-dir', str(work_dir)], timeout=300
    )
    assert proc.returncode == 2, explain(proc)
    assert '--amp needs a CUDA device;' in proc.stderr, explain(proc)
    assert 'Traceback' not in proc.stdout + proc.stderr, explain(proc)
    # nothing was built: no run directory / checkpoint
    assert not work_dir.exists()
