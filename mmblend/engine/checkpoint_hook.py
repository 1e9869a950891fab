"""A checkpoint hook whose files survive a crash at any moment.

mmengine's ``CheckpointHook`` (0.10.7) writes ``iter_N.pth`` and
``last_checkpoint`` in place, and with ``max_keep_ckpts`` it deletes the
oldest checkpoint *before* writing the new one: a process killed while
saving can leave a half-written ``iter_N.pth``, an empty ``last_checkpoint``
and, with ``max_keep_ckpts=1``, no checkpoint at all.

:class:`CrashSafeCheckpointHook` saves the same files with the same
arguments, in this order, on a local file system:

1. the checkpoint is written to a temporary file next to it
   (``.iter_N.pth.part``), flushed to disk (``fsync``) and renamed to
   ``iter_N.pth`` (``os.replace``: atomic, a reader sees the old state or the
   complete new file, never a part);
2. ``last_checkpoint`` is replaced the same way;
3. only then are checkpoints beyond ``max_keep_ckpts`` deleted.

Temporary files left by a killed run are removed when training starts.
``save_best`` checkpoints (``best_*.pth``) are still written as mmengine
does. For other storage backends (``backend_args`` naming e.g. petrel/S3) it
falls back to mmengine's behaviour with a warning, as ``os.replace`` does not
exist there.

:func:`find_resume_checkpoint` is what ``tools/train.py --resume`` uses: the
file named in ``last_checkpoint`` when it exists, else (empty, unreadable or
naming a deleted file) the newest complete ``iter_N.pth``/``epoch_N.pth`` of
the work dir.
"""

import glob
import os
import os.path as osp
import re
from typing import List, Optional, Tuple

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log
from mmengine.registry import HOOKS

PART_SUFFIX = '.part'
LAST_CHECKPOINT = 'last_checkpoint'
_CKPT_RE = re.compile(r'^(iter|epoch)_(\d+)\.pth$')


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit_file(part: str, final: str) -> None:
    """Flush the complete file ``part`` to disk and rename it to ``final``
    (atomic on POSIX and Windows file systems)."""
    fd = os.open(part, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(part, final)
    if os.name == 'posix':  # make the rename itself durable
        _fsync_dir(osp.dirname(osp.abspath(final)))


def atomic_write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and
    :func:`commit_file`."""
    part = osp.join(osp.dirname(path), f'.{osp.basename(path)}{PART_SUFFIX}')
    with open(part, 'w') as f:
        f.write(text)
        f.flush()
    commit_file(part, path)


def _complete_checkpoints(work_dir: str) -> List[Tuple[int, str]]:
    """``(number, path)`` of the ``iter_N.pth``/``epoch_N.pth`` files in
    ``work_dir``, oldest first."""
    found = []
    for name in os.listdir(work_dir) if osp.isdir(work_dir) else []:
        m = _CKPT_RE.match(name)
        if m and osp.isfile(osp.join(work_dir, name)):
            found.append((int(m.group(2)), osp.join(work_dir, name)))
    return sorted(found)


def find_resume_checkpoint(work_dir: str) -> Tuple[Optional[str], str]:
    """The checkpoint ``--resume`` (without a path) continues from.

    Args:
        work_dir (str): The training's work dir.

    Returns:
        tuple[str | None, str]: The checkpoint path (None: nothing to
        resume) and a sentence saying how it was found.
    """
    save_file = osp.join(work_dir, LAST_CHECKPOINT)
    named = ''
    if osp.isfile(save_file):
        with open(save_file) as f:
            named = f.read().strip()
        if named and osp.isfile(named):
            return named, f"named in '{save_file}'"
    complete = _complete_checkpoints(work_dir)
    if not osp.isfile(save_file):
        why = f"there is no '{save_file}'"
    elif not named:
        why = f"'{save_file}' is empty"
    else:
        why = f"'{save_file}' names '{named}', which does not exist"
    if not complete:
        return None, f'{why} and no iter_N.pth/epoch_N.pth in the work dir'
    return complete[-1][1], f'{why}; the newest complete checkpoint there'


@HOOKS.register_module()
class CrashSafeCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` with atomic writes and deletion of old
    checkpoints only after the new one is complete (see the module
    docstring). Same arguments as ``CheckpointHook``."""

    def before_train(self, runner) -> None:
        super().before_train(runner)
        self._local = isinstance(self.file_backend, LocalBackend)
        if not self._local:
            print_log(
                f'{type(self).__name__}: out_dir {self.out_dir!r} is not on '
                'a local file system; checkpoints are written as by '
                "mmengine's CheckpointHook (not atomically)",
                logger='current',
                level=30,
            )
            return
        if is_main_process():
            for part in glob.glob(osp.join(self.out_dir, f'.*{PART_SUFFIX}')):
                os.remove(part)
                runner.logger.info(
                    f'removed {part!r}, left by an interrupted save'
                )

    def _save_checkpoint_with_step(self, runner, step, meta):
        if not self._local:
            return super()._save_checkpoint_with_step(runner, step, meta)
        # Book-keeping first, as mmengine does, so that the message hub saved
        # in this checkpoint knows it; the old files go only at the end.
        outdated = []
        if self.max_keep_ckpts > 0 and not (
            self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step
        ):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                outdated.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info(
                'keep_ckpt_ids', list(self.keep_ckpt_ids)
            )
        ckpt_filename = self.filename_tmpl.format(step)
        part_filename = f'.{ckpt_filename}{PART_SUFFIX}'
        self.last_ckpt = self.file_backend.join_path(
            self.out_dir, ckpt_filename
        )
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)

        runner.save_checkpoint(  # writes on the main process only
            self.out_dir,
            part_filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args,
        )
        if not is_main_process():
            return
        commit_file(osp.join(self.out_dir, part_filename), self.last_ckpt)
        atomic_write_text(
            osp.join(runner.work_dir, LAST_CHECKPOINT), self.last_ckpt
        )
        for old in outdated:
            path = osp.join(self.out_dir, self.filename_tmpl.format(old))
            if osp.isfile(path):
                os.remove(path)
