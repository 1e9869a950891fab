"""The crash-safe checkpoint pieces on files: which checkpoint ``--resume``
continues from (last_checkpoint, else the newest complete one, numbers
compared as numbers) and the atomic text write (a SIGKILLed save, end to
end: tests/tools/test_crash_safe_checkpoint.py)."""

import os

from mmblend.engine.checkpoint_hook import (
    LAST_CHECKPOINT,
    atomic_write_text,
    find_resume_checkpoint,
)


def touch(path, text=''):
    with open(path, 'w') as f:
        f.write(text)
    return str(path)


def test_resume_from_the_named_checkpoint(tmp_path):
    named = touch(tmp_path / 'iter_2.pth')
    touch(tmp_path / 'iter_10.pth')
    touch(tmp_path / LAST_CHECKPOINT, named + '\n')
    ckpt, how = find_resume_checkpoint(str(tmp_path))
    assert ckpt == named and 'named in' in how


def test_resume_from_the_newest_complete_checkpoint(tmp_path):
    ckpt, how = find_resume_checkpoint(str(tmp_path / 'absent'))
    assert ckpt is None and 'no iter_N.pth' in how
    for name in (
        'iter_9.pth',
        'iter_10.pth',
        '.iter_11.pth.part',
        'iter_12.pth.part',
    ):
        touch(tmp_path / name)
    ckpt, how = find_resume_checkpoint(str(tmp_path))
    assert ckpt == str(tmp_path / 'iter_10.pth')  # 10 > 9, parts ignored
    assert f"there is no '{tmp_path / LAST_CHECKPOINT}'" in how
    touch(tmp_path / LAST_CHECKPOINT, str(tmp_path / 'iter_11.pth'))
    ckpt, how = find_resume_checkpoint(str(tmp_path))
    assert ckpt == str(tmp_path / 'iter_10.pth')
    assert 'which does not exist' in how
    touch(tmp_path / LAST_CHECKPOINT, '')
    assert 'is empty' in find_resume_checkpoint(str(tmp_path))[1]


def test_atomic_write_text_leaves_no_part_file(tmp_path):
    path = str(tmp_path / LAST_CHECKPOINT)
    atomic_write_text(path, 'first')
    atomic_write_text(path, 'second')
    with open(path) as f:
        assert f.read() == 'second'
    assert os.listdir(tmp_path) == [LAST_CHECKPOINT]
