"""Refuse a checkpoint that does not fit the model.

mmengine loads checkpoints with ``strict=False``: a checkpoint trained with
another config (another number of classes, bases, widths) loads with one
"size mismatch" line per tensor, the rest of the model stays randomly
initialised, and testing ends with exit status 0 and AP 0.
:func:`check_checkpoint_fits` counts the model's tensors that a checkpoint
leaves unloaded (missing or of another shape) and raises
:class:`CheckpointMismatchError` naming them, or, with
``allow_partial=True``, warns loudly with the count. mmblend's
``tools/test.py``, ``tools/image_demo.py`` and the tools that build a model
with ``init_detector`` call it (their ``--allow-partial-checkpoint`` flag
lets a run proceed).
"""

import argparse
import logging
import re
import sys
from typing import List, Tuple

from mmengine.logging import print_log
from mmengine.runner.checkpoint import _load_checkpoint
from torch import nn

ALLOW_FLAG = '--allow-partial-checkpoint'
_SHOW = 5  # tensors named in a message


class CheckpointMismatchError(RuntimeError):
    """A checkpoint leaves tensors of the model unloaded."""


def unloaded_tensors(
    model: nn.Module, state_dict: dict
) -> Tuple[List[str], List[str]]:
    """``(missing, mismatched)``: the model's state-dict keys that
    ``state_dict`` lacks, and those it has with another shape (each
    ``'key: checkpoint shape -> model shape'``). BatchNorm's
    ``num_batches_tracked`` is not counted (torch fills it in)."""
    model = getattr(model, 'module', model)  # DDP / TTA wrappers
    ckpt = {re.sub(r'^module\.', '', k): v for k, v in state_dict.items()}
    missing, mismatched = [], []
    for key, tensor in model.state_dict().items():
        if key.endswith('num_batches_tracked'):
            continue
        if key not in ckpt:
            missing.append(key)
        elif tuple(ckpt[key].shape) != tuple(tensor.shape):
            mismatched.append(
                f'{key}: {tuple(ckpt[key].shape)} -> {tuple(tensor.shape)}'
            )
    return missing, mismatched


def check_checkpoint_fits(
    model: nn.Module, checkpoint: str, allow_partial: bool = False
) -> int:
    """Raise (or warn) when ``checkpoint`` leaves tensors of ``model``
    unloaded.

    Args:
        model: the built model (wrappers with ``.module`` are unwrapped).
        checkpoint: the checkpoint file (anything mmengine loads).
        allow_partial: warn instead of raising.

    Returns:
        int: The number of unloaded tensors (0: the checkpoint fits).

    Raises:
        CheckpointMismatchError: with the counts, the first offending keys
            and what to do, unless ``allow_partial``.
    """
    ckpt = _load_checkpoint(checkpoint, map_location='cpu')
    state_dict = (
        ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else ckpt
    )
    missing, mismatched = unloaded_tensors(model, state_dict)
    num = len(missing) + len(mismatched)
    if num == 0:
        return 0
    total = len(getattr(model, 'module', model).state_dict())
    message = (
        f"checkpoint '{checkpoint}' leaves {num} of the model's {total} "
        f'tensors unloaded ({len(mismatched)} of another shape, '
        f'{len(missing)} missing), so they keep their random '
        'initialisation and the results are meaningless. Was it trained '
        'with another config (number of classes, bases, channel widths)? '
        f'Of another shape: {mismatched[:_SHOW]}; missing: '
        f'{missing[:_SHOW]}'
    )
    if not allow_partial:
        raise CheckpointMismatchError(
            f'{message}. Use the config the checkpoint was trained with, or '
            f'pass {ALLOW_FLAG} to run anyway'
        )
    print_log(
        f'{message} ({ALLOW_FLAG}: running anyway)',
        logger='current',
        level=logging.WARNING,
    )
    return num


def add_allow_partial_arg(parser: argparse.ArgumentParser) -> None:
    """Add ``--allow-partial-checkpoint``."""
    parser.add_argument(
        ALLOW_FLAG,
        action='store_true',
        help='run even if the checkpoint leaves tensors of the model '
        'unloaded (trained with another config): results are meaningless',
    )


def check_or_exit(
    model: nn.Module, checkpoint: str, allow_partial: bool
) -> None:
    """:func:`check_checkpoint_fits` for a command-line tool: exit with the
    message instead of a traceback."""
    try:
        check_checkpoint_fits(model, checkpoint, allow_partial)
    except CheckpointMismatchError as e:
        sys.exit(f'error: {e}')
