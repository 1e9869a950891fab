"""Helpers for the command-line tests: run tools, read mmengine logs."""

import glob
import json
import os.path as osp
import re
import socket
import subprocess
import sys

from tiny_config import REPO_ROOT, tool_env

TRAIN = osp.join(REPO_ROOT, 'tools', 'train.py')
TEST = osp.join(REPO_ROOT, 'tools', 'test.py')


def run_tool(args, timeout=600, num_threads=1, env=None):
    """Run ``python <args>`` (or a launcher) and return CompletedProcess."""
    proc = subprocess.run(
        [sys.executable] + [str(a) for a in args],
        cwd=REPO_ROOT,
        env=env or tool_env(num_threads),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        timeout=timeout,
    )
    return proc


def explain(proc):
    return (
        f'exit {proc.returncode}\n--- stdout (tail) ---\n'
        f'{proc.stdout[-6000:]}\n--- stderr (tail) ---\n'
        f'{proc.stderr[-6000:]}'
    )


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def read_scalars(work_dir):
    """All training records (dicts with 'loss' and 'iter') from every
    ``<timestamp>/vis_data/scalars.json`` in ``work_dir``, per run, sorted
    by timestamp."""
    runs = []
    for path in sorted(
        glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    ):
        records = []
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    rec = json.loads(line)
                    if 'loss' in rec:
                        records.append(rec)
        runs.append(records)
    return runs


_ITER_RE = re.compile(r'Iter\(train\)\s*\[\s*(\d+)/\s*(\d+)\]')
_LOSS_RE = re.compile(
    r'\b(loss[\w]*|grad_norm|mask_avg_factor): '
    r'(-?[\d.]+(?:e[-+]?\d+)?|nan|inf)'
)


def parse_log_losses(log_path):
    """``{iter: {name: value}}`` (``loss*``, ``grad_norm``,
    ``mask_avg_factor``) from the training lines of a text log written by
    mmengine's LoggerHook (one rank's log; mmengine does not all-reduce
    logged losses, so each rank logs its own)."""
    out = {}
    with open(log_path) as f:
        for line in f:
            m = _ITER_RE.search(line)
            if not m or 'loss' not in line:
                continue
            out[int(m.group(1))] = {
                k: float(v) for k, v in _LOSS_RE.findall(line)
            }
    return out
