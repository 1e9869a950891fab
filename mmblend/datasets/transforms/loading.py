"""Image loading that survives bad files.

:class:`LoadCheckedImageFromFile` is mmcv's ``LoadImageFromFile`` (same
arguments, same output on a good image) that checks each image, registered
under its own name in mmdet's ``TRANSFORMS``: mmdet's and mmcv's
``LoadImageFromFile`` are untouched. mmblend's configs name it in their
training pipelines; their validation/test pipelines keep
``LoadImageFromFile`` (``DetInferencer`` looks the test pipeline up for
exactly that name), and mmblend's ``tools/train.py`` and ``tools/test.py``
load those images with this loader too
(:func:`mmblend.engine.cli.use_checked_loader`).

A *bad image* is one that

* is an empty (0-byte) file,
* is a JPEG without its end-of-image marker (truncated: OpenCV would decode
  the part that is there and fill the rest with grey, silently),
* cannot be decoded (e.g. an HTML page saved as ``.jpg``), or
* decodes to another size than the ``height``/``width`` of its annotation
  entry (the boxes and masks would not lie on the objects). If the image
  decodes to the annotated size when its EXIF orientation is ignored, it is
  named *EXIF-rotated*: mmcv's ``color_type='color'`` applies EXIF
  orientation, the annotations were made on the stored pixels; set
  ``color_type='color_ignore_orientation'``.

A missing file is not a bad image: it means a wrong path (``data_root`` /
``data_prefix``) and raises ``FileNotFoundError`` as before (unless mmcv's
``ignore_empty=True``).

What happens to a bad image (``on_bad``):

* ``'skip'`` (default) -- for a sample of a dataset (the results carry
  mmengine's ``sample_idx``): a warning naming the file, the image id and
  the reason (once per file and process), and ``None`` is returned, so
  mmengine's ``BaseDataset`` draws another sample (``max_refetch``). Outside
  a dataset (no ``sample_idx``, e.g. ``inference_detector`` with a test
  pipeline that names this loader), where nothing can be drawn instead, a
  ``BadImageError`` is raised.
* ``'error'`` -- ``BadImageError`` (a ``ValueError``) with the same message.

The budget turns a systematically broken dataset into an error instead of
an endless skip loop: once a process has tried to load ``min_loads``
images, ``RuntimeError`` is raised when more than ``max_bad_fraction`` of
the images it tried were bad. Scope: one data-loading process, i.e. each
DataLoader worker (and the main process with ``num_workers=0``) of each rank
counts its own loads. Workers are separate processes that share no memory,
and each draws a random share of the dataset, so each measures the bad
fraction on its own sample; no synchronisation in the data path is needed,
and the first worker over budget stops the run. Denominator: every load
attempt, re-draws after a skip included, so the fraction estimates the share
of bad draws, i.e. of bad images in the dataset.

Test mode (``test_mode=True`` datasets) re-draws nothing: a
:class:`~mmblend.datasets.CocoInstanceDataset` then gives the image an empty
prediction, counted as ``data/bad_images`` with the metrics
(:class:`~mmblend.evaluation.BadImageEvaluator`), or fails fast with
``bad_image='error'``; other datasets stop with mmengine's error after the
warning.
"""

import logging
from typing import NamedTuple, Optional, Tuple

import mmcv
import mmengine.fileio as fileio
import numpy as np
from mmcv.transforms import LoadImageFromFile as _MMCVLoadImageFromFile
from mmdet.registry import TRANSFORMS
from mmengine.logging import print_log

# A JPEG ends with its EOI marker; tools may append a few bytes of padding.
_JPEG_SOI = b'\xff\xd8'
_JPEG_EOI = b'\xff\xd9'
_EOI_SEARCH = 1024  # bytes at the end of the file searched for EOI
# metainfo key of a test-mode placeholder sample (CocoInstanceDataset)
BAD_IMAGE_KEY = 'bad_image'


class BadImageError(ValueError):
    """An image file that exists but cannot be used (see the module
    docstring)."""


class ImageProblem(NamedTuple):
    """Why an image is bad.

    ``kind`` is one of ``'empty'``, ``'truncated'``, ``'undecodable'``,
    ``'exif_rotated'``, ``'size_mismatch'``; ``reason`` is a sentence for
    the user.
    """

    kind: str
    reason: str


def _describe_content(content: bytes) -> str:
    head = content[:64].lstrip()
    if head[:1] == b'<':
        return 'it looks like an HTML/XML text file, not an image'
    return f'its first bytes are {content[:8]!r}'


def check_image_bytes(
    content: bytes,
    expected_hw: Optional[Tuple[int, int]] = None,
    color_type: str = 'color',
    imdecode_backend: str = 'cv2',
) -> Tuple[Optional[np.ndarray], Optional[ImageProblem]]:
    """Decode ``content`` and check it.

    Args:
        content (bytes): The file's content.
        expected_hw (tuple[int, int], optional): ``(height, width)`` of the
            annotation entry; not checked when None.
        color_type (str): mmcv's ``imfrombytes`` flag.
        imdecode_backend (str): mmcv's ``imfrombytes`` backend.

    Returns:
        tuple: ``(img, None)`` for a good image (``img`` as
        ``mmcv.imfrombytes`` returns it, ``(H, W, 3)`` or ``(H, W)`` uint8),
        ``(img or None, ImageProblem)`` for a bad one.
    """
    if len(content) == 0:
        return None, ImageProblem('empty', 'the file is empty (0 bytes)')
    if content[:2] == _JPEG_SOI and _JPEG_EOI not in content[-_EOI_SEARCH:]:
        return None, ImageProblem(
            'truncated',
            f'truncated JPEG: no end-of-image marker '
            f'({len(content)} bytes; the file was cut off while being '
            'written or copied)',
        )
    try:
        img = mmcv.imfrombytes(
            content, flag=color_type, backend=imdecode_backend
        )
    except Exception as e:  # decoders raise anything on garbage
        img, error = None, f' ({type(e).__name__}: {e})'
    else:
        error = ''
    if img is None or img.size == 0:
        return None, ImageProblem(
            'undecodable',
            f'cannot be decoded as an image: '
            f'{_describe_content(content)}{error}',
        )
    if expected_hw is None:
        return img, None
    h, w = img.shape[:2]
    exp_h, exp_w = expected_hw
    if (h, w) == (exp_h, exp_w):
        return img, None
    if (w, h) == (exp_h, exp_w) and 'ignore_orientation' not in color_type:
        stored = mmcv.imfrombytes(
            content,
            flag=f'{color_type}_ignore_orientation'
            if color_type in ('color', 'grayscale')
            else 'color_ignore_orientation',
            backend=imdecode_backend,
        )
        if stored is not None and stored.shape[:2] == (exp_h, exp_w):
            return img, ImageProblem(
                'exif_rotated',
                f'EXIF-rotated: the annotation says '
                f'{exp_w}x{exp_h} (width x height), the image is {w}x{h} '
                f"after color_type={color_type!r} applied its EXIF "
                'orientation; the annotations were made on the stored '
                "pixels: set color_type='color_ignore_orientation' in "
                "the pipeline's image loader",
            )
    return img, ImageProblem(
        'size_mismatch',
        f'size mismatch: the annotation says {exp_w}x'
        f'{exp_h} (width x height), the image is {w}x{h}; the annotations '
        'were made for another (e.g. resized) copy of the image',
    )


@TRANSFORMS.register_module()
class LoadCheckedImageFromFile(_MMCVLoadImageFromFile):
    """mmcv's ``LoadImageFromFile`` that skips bad images (see the module
    docstring).

    Required keys: ``img_path``; optional ``img_id``, ``height``, ``width``
    (checked against the decoded size), ``sample_idx`` (set by mmengine's
    datasets; without it a bad image raises).
    Modified keys: ``img`` (``(H, W, 3)`` uint8, or float32 with
    ``to_float32``), ``img_shape``, ``ori_shape``.

    Args:
        on_bad (str): ``'skip'`` (default) or ``'error'``.
        check_size (bool): Compare the decoded size with the annotation's
            ``height``/``width``. Defaults to True.
        max_bad_fraction (float): Budget: the largest share of bad images
            among the loads of one process. Defaults to 0.05.
        min_loads (int): Loads of one process before the budget applies.
            Defaults to 100.
        **kwargs: mmcv's ``LoadImageFromFile`` arguments (``to_float32``,
            ``color_type``, ``imdecode_backend``, ``backend_args``, ...;
            ``ignore_empty=True`` also returns None for a missing file, as
            mmcv's; bad files need no flag).
    """

    def __init__(
        self,
        *args,
        on_bad: str = 'skip',
        check_size: bool = True,
        max_bad_fraction: float = 0.05,
        min_loads: int = 100,
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        if on_bad not in ('skip', 'error'):
            raise ValueError(
                f"on_bad must be 'skip' or 'error', got {on_bad!r}"
            )
        if not 0 <= max_bad_fraction <= 1:
            raise ValueError(
                f'max_bad_fraction must be in [0, 1], got {max_bad_fraction}'
            )
        self.on_bad = on_bad
        self.check_size = check_size
        self.max_bad_fraction = max_bad_fraction
        self.min_loads = min_loads
        # budget counters of this process (each DataLoader worker has its
        # own copy of the pipeline)
        self.num_loads = 0
        self.num_bad_loads = 0
        self.bad = {}  # img_path -> ImageProblem

    def _read(self, filename: str) -> bytes:
        if self.file_client_args is not None:
            client = fileio.FileClient.infer_client(
                self.file_client_args, filename
            )
            return client.get(filename)
        return fileio.get(filename, backend_args=self.backend_args)

    def transform(self, results: dict) -> Optional[dict]:
        """Load ``results['img_path']``.

        Returns:
            dict | None: ``results`` with the image, or None for a bad image
            of a dataset sample with ``on_bad='skip'``.
        """
        filename = results['img_path']
        self.num_loads += 1
        try:
            content = self._read(filename)
        except FileNotFoundError:
            if self.ignore_empty:  # mmcv's meaning: skip missing files too
                return None
            raise
        expected = None
        if self.check_size and 'height' in results and 'width' in results:
            expected = (int(results['height']), int(results['width']))
        img, problem = check_image_bytes(
            content, expected, self.color_type, self.imdecode_backend
        )
        if problem is not None:
            return self._bad(results, problem)
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def _bad(self, results: dict, problem: ImageProblem) -> None:
        """Warn and return None (skip), or raise."""
        filename = results['img_path']
        message = (
            f"bad image '{filename}' (image id "
            f"{results.get('img_id')}): {problem.reason}"
        )
        if self.on_bad == 'error' or 'sample_idx' not in results:
            raise BadImageError(
                f'{message}. Find every bad image of a dataset with '
                'tools/misc/check_dataset.py CONFIG'
            )
        if filename not in self.bad:
            print_log(
                f'{message}; skipped (training draws another sample)',
                logger='current',
                level=logging.WARNING,
            )
        self.bad[filename] = problem
        self.num_bad_loads += 1
        self._check_budget(message)
        return None

    def _check_budget(self, last: str) -> None:
        num_bad = self.num_bad_loads
        if (
            self.num_loads >= self.min_loads
            and num_bad > self.max_bad_fraction * self.num_loads
        ):
            raise RuntimeError(
                f'too many bad images: {num_bad} of the {self.num_loads} '
                'images this data-loading process tried to load were bad '
                f'({100 * num_bad / self.num_loads:.0f}% > '
                f'max_bad_fraction={self.max_bad_fraction}; {len(self.bad)} '
                f'different files, the last: {last}). The dataset is broken '
                'systematically: run tools/misc/check_dataset.py CONFIG to '
                'list every problem, or raise max_bad_fraction of '
                'LoadCheckedImageFromFile in the pipeline'
            )

    def __repr__(self) -> str:
        return (
            super().__repr__()[:-1] + f", on_bad='{self.on_bad}', "
            f'check_size={self.check_size}, '
            f'max_bad_fraction={self.max_bad_fraction}, '
            f'min_loads={self.min_loads})'
        )
