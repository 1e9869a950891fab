"""List every problem of a configured dataset at once, before training.

    python tools/misc/check_dataset.py CONFIG [--split train|val|test] \
        [--nproc N] [--strict] [--out problems.json] [--cfg-options ...]

Decodes every image of the annotation file in ``--nproc`` processes (progress
bar) and checks every annotation, then prints each problem (file, image id,
annotation id, what is wrong), a summary table and the decoding speed.
Exit status: 0 when no *error* was found (warnings are listed but allowed,
unless ``--strict``), 1 when something is wrong, 2 when the config cannot
be checked (unsupported dataset type, no such split).

Supported datasets: ``CocoInstanceDataset`` and mmdet's ``CocoDataset`` (any
COCO-format instance annotation file), also inside dataset wrappers that
hold one ``dataset`` (``RepeatDataset``, ``ClassBalancedDataset``, ...). The
file is read and validated with ``CocoInstanceDataset``'s own checks (JSON,
structure, ``metainfo['classes']`` against the categories, missing
segmentations when the pipeline loads masks), the images with the checks of
``LoadCheckedImageFromFile`` (same ``color_type`` as the pipeline's).

Errors: a missing, empty (0-byte), truncated or undecodable image file; an
image whose size differs from its annotation entry (``exif_rotated`` when
ignoring its EXIF orientation gives the annotated size); a polygon with
fewer than 3 points; NaN/inf coordinates; box or polygon coordinates
outside the image (more than 1 px); a category id not in ``categories``; an
annotation of an image id not in ``images``; ``classes`` not matching the
categories; no segmentation where the pipeline loads masks.
Warnings (mmdet copes, but the data is probably not what was meant): a
degenerate box (width or height < 1, area <= 0 or no overlap with the image:
mmdet drops it) and a crowd-only image (``filter_empty_gt`` drops it).
"""

import argparse
import json
import math
import os
import os.path as osp
import sys
import time
from collections import Counter, defaultdict
from typing import Iterator, List, NamedTuple, Optional, Sequence, Tuple

_REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.fileio import get  # noqa: E402

import mmblend  # noqa: E402,F401
from mmblend.datasets import CocoInstanceDataset  # noqa: E402
from mmblend.datasets.coco_instance_dataset import pipeline_loads  # noqa
from mmblend.datasets.transforms import check_image_bytes  # noqa: E402

SUPPORTED = ('CocoInstanceDataset', 'CocoDataset')
OUT_OF_IMAGE_TOL = 1.0  # px

# kind: (severity, what it means)
KINDS = {
    'annotation_file': ('error', 'annotation file unreadable or malformed'),
    'classes': ('error', "metainfo['classes'] does not match categories"),
    'missing_file': ('error', 'image file not found'),
    'empty': ('error', 'empty (0-byte) image file'),
    'truncated': ('error', 'truncated JPEG'),
    'undecodable': ('error', 'not a decodable image'),
    'exif_rotated': ('error', 'EXIF-rotated (size swapped)'),
    'size_mismatch': ('error', 'decoded size != annotated size'),
    'short_polygon': ('error', 'polygon with fewer than 3 points'),
    'nonfinite': ('error', 'NaN/inf coordinates'),
    'out_of_image': ('error', 'coordinates outside the image'),
    'unknown_category': ('error', "category id not in 'categories'"),
    'unknown_image': ('error', "image id not in 'images'"),
    'no_segmentation': ('error', 'no segmentation, pipeline loads masks'),
    'degenerate_box': ('warning', 'degenerate box (mmdet drops it)'),
    'crowd_only': ('warning', 'only crowd regions (filtered out)'),
}


class Problem(NamedTuple):
    kind: str
    message: str
    file: Optional[str] = None
    img_id: Optional[int] = None
    ann_id: Optional[int] = None

    @property
    def severity(self) -> str:
        return KINDS[self.kind][0]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument(
        '--split', choices=('train', 'val', 'test'), default='train'
    )
    parser.add_argument(
        '--nproc',
        type=int,
        default=min(4, os.cpu_count() or 1),
        help='image-decoding processes',
    )
    parser.add_argument(
        '--strict',
        action='store_true',
        help='warnings make the exit status non-zero too',
    )
    parser.add_argument('--out', help='write all problems to this JSON file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def _dataset_cfg(cfg: Config, split: str) -> dict:
    loader = cfg.get(f'{split}_dataloader')
    if not loader or 'dataset' not in loader:
        raise SystemExit(
            f"error: the config has no {split}_dataloader.dataset"
        )
    ds_cfg = loader['dataset']
    while ds_cfg.get('type') not in SUPPORTED and 'dataset' in ds_cfg:
        ds_cfg = ds_cfg['dataset']  # RepeatDataset, ClassBalancedDataset...
    if ds_cfg.get('type') not in SUPPORTED:
        raise SystemExit(
            f"error: {split}_dataloader.dataset is of type "
            f"{ds_cfg.get('type')!r}; check_dataset.py supports "
            f'{", ".join(SUPPORTED)} (COCO-format instance annotations)'
        )
    return ds_cfg.to_dict() if hasattr(ds_cfg, 'to_dict') else dict(ds_cfg)


def _loader_settings(dataset) -> Tuple[str, str, Optional[dict]]:
    for t in dataset.pipeline.transforms:
        if hasattr(t, 'color_type') and hasattr(t, 'imdecode_backend'):
            return t.color_type, t.imdecode_backend, t.backend_args
    return 'color', 'cv2', None


def check_image(task) -> Optional[Problem]:
    """Decode one image; ``task`` = (path, img_id, (h, w), color_type,
    backend, backend_args). Module-level so that a process pool can run
    it."""
    path, img_id, hw, color_type, backend, backend_args = task
    try:
        content = get(path, backend_args=backend_args)
    except FileNotFoundError:
        return Problem('missing_file', 'file not found', path, img_id)
    _, problem = check_image_bytes(content, hw, color_type, backend)
    if problem is None:
        return None
    return Problem(problem.kind, problem.reason, path, img_id)


def _finite(values) -> bool:
    return all(
        isinstance(v, (int, float)) and math.isfinite(v) for v in values
    )


def _outside(xs, ys, w, h) -> bool:
    t = OUT_OF_IMAGE_TOL
    return min(xs) < -t or min(ys) < -t or max(xs) > w + t or max(ys) > h + t


def check_annotations(
    raw: dict, loads_masks: bool, img_prefix: str
) -> List[Problem]:
    """Every annotation-level problem of a parsed COCO dict (structure
    already validated by ``CocoInstanceDataset``)."""
    problems = []
    images = {img['id']: img for img in raw['images']}
    cat_ids = {c['id'] for c in raw['categories']}
    by_image = defaultdict(list)
    for ann in raw['annotations']:
        img = images.get(ann['image_id'])
        aid = ann['id']
        if img is None:
            problems.append(
                Problem(
                    'unknown_image',
                    f"annotation {aid} refers to image id "
                    f"{ann['image_id']}, which is not in 'images'",
                    ann_id=aid,
                    img_id=ann['image_id'],
                )
            )
            continue
        if ann['category_id'] in cat_ids:
            by_image[img['id']].append(ann)
        path = osp.join(img_prefix, img['file_name'])
        problems += [
            Problem(kind, message, path, img['id'], aid)
            for kind, message in _annotation_problems(
                ann, img, cat_ids, loads_masks
            )
        ]
    for img_id, anns in by_image.items():
        if all(a.get('iscrowd', 0) for a in anns):
            img = images[img_id]
            problems.append(
                Problem(
                    'crowd_only',
                    f'all {len(anns)} annotations are crowd '
                    '(iscrowd=1): filter_empty_gt drops the image',
                    osp.join(img_prefix, img['file_name']),
                    img_id,
                )
            )
    return problems


def _annotation_problems(
    ann: dict, img: dict, cat_ids: set, loads_masks: bool
) -> Iterator[Tuple[str, str]]:
    """``(kind, message)`` of each problem of one annotation of ``img``."""
    if ann['category_id'] not in cat_ids:
        yield (
            'unknown_category',
            f"category id {ann['category_id']} is not in 'categories'",
        )
        return
    w, h = img['width'], img['height']
    x, y, bw, bh = ann['bbox']
    if not _finite(ann['bbox']):
        yield 'nonfinite', f"bbox {ann['bbox']} has NaN/inf"
    else:
        if _outside([x, x + bw], [y, y + bh], w, h):
            yield (
                'out_of_image',
                f"bbox {ann['bbox']} leaves the {w}x{h} image",
            )
        if not ann.get(
            'ignore', False
        ) and not CocoInstanceDataset._becomes_instance(ann, img, cat_ids):
            yield (
                'degenerate_box',
                f"bbox {ann['bbox']} (area "
                f"{ann['area']}) is degenerate: mmdet drops it",
            )
    seg = ann.get('segmentation')
    if not seg:
        if (
            loads_masks
            and not ann.get('ignore', False)
            and _finite(ann['bbox'])
            and CocoInstanceDataset._becomes_instance(ann, img, cat_ids)
        ):
            yield (
                'no_segmentation',
                'no segmentation, but the pipeline '
                'loads masks (LoadAnnotations(with_mask=True))',
            )
    elif isinstance(seg, dict):  # RLE
        if list(seg.get('size', [])) != [h, w]:
            yield (
                'size_mismatch',
                f"RLE size {seg.get('size')} is not the image size [{h}, {w}]",
            )
    else:
        for i, poly in enumerate(seg):
            if len(poly) < 6 or len(poly) % 2:
                yield (
                    'short_polygon',
                    f'polygon {i} has {len(poly)} '
                    'coordinates (a polygon needs >= 3 x,y points)',
                )
            elif not _finite(poly):
                yield 'nonfinite', f'polygon {i} has NaN/inf coordinates'
            elif _outside(poly[0::2], poly[1::2], w, h):
                yield ('out_of_image', f'polygon {i} leaves the {w}x{h} image')


def decode_images(
    raw: dict,
    img_prefix: str,
    settings,
    nproc: int,
) -> Tuple[List[Problem], float]:
    """Check every image of ``raw['images']``; returns the problems and the
    wall time in seconds."""
    from mmengine.utils import track_parallel_progress, track_progress

    tasks = [
        (
            osp.join(img_prefix, img['file_name']),
            img['id'],
            (img['height'], img['width']),
        )
        + tuple(settings)
        for img in raw['images']
    ]
    start = time.perf_counter()
    if nproc > 1 and len(tasks) > 1:
        results = track_parallel_progress(
            check_image, tasks, nproc, file=sys.stderr
        )
    else:
        results = track_progress(check_image, tasks, file=sys.stderr)
    return [r for r in results if r is not None], time.perf_counter() - start


def summary_table(problems: Sequence[Problem]) -> str:
    counts = Counter(p.kind for p in problems)
    rows = [('problem', 'severity', 'count', 'meaning')]
    rows += [
        (k, sev, str(counts.get(k, 0)), what)
        for k, (sev, what) in KINDS.items()
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [' | '.join(c.ljust(wd) for c, wd in zip(r, widths)) for r in rows]
    lines.insert(1, '-+-'.join('-' * wd for wd in widths))
    return '\n'.join(lines)


def check(cfg: Config, split: str, nproc: int) -> Tuple[List[Problem], dict]:
    """All problems of ``cfg``'s ``split`` dataset, and facts for the
    report (number of images, decoding time)."""
    from mmengine.registry import init_default_scope

    from mmblend.engine.cli import setup_registries

    setup_registries()
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    ds_cfg = _dataset_cfg(cfg, split)
    for key in ('type', '_scope_'):  # registry keys (mmdet:: bases set
        ds_cfg.pop(key, None)  # `_scope_`), not dataset arguments
    ds_cfg['lazy_init'] = True
    dataset = CocoInstanceDataset(**ds_cfg)
    facts = dict(ann_file=dataset.ann_file, images=0, seconds=0.0)
    try:
        raw = dataset._read_ann_file()
        dataset._check_structure(raw)
    except (FileNotFoundError, ValueError) as e:
        return [Problem('annotation_file', str(e), dataset.ann_file)], facts
    problems = []
    try:
        dataset._check_classes(raw['categories'])
    except (TypeError, ValueError) as e:
        problems.append(Problem('classes', str(e), dataset.ann_file))
    img_prefix = dataset.data_prefix.get('img', '')
    problems += check_annotations(
        raw, pipeline_loads(dataset.pipeline, 'with_mask'), img_prefix
    )
    image_problems, seconds = decode_images(
        raw, img_prefix, _loader_settings(dataset), nproc
    )
    facts.update(images=len(raw['images']), seconds=seconds)
    return image_problems + problems, facts


def main(argv=None) -> int:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    try:
        problems, facts = check(cfg, args.split, args.nproc)
    except SystemExit as e:
        print(e, file=sys.stderr)
        return 2
    for p in sorted(problems, key=lambda p: (p.severity, p.kind)):
        where = ', '.join(
            f'{k} {v}'
            for k, v in (
                ('file', p.file),
                ('image id', p.img_id),
                ('annotation id', p.ann_id),
            )
            if v is not None
        )
        print(f'{p.severity.upper()} {p.kind}: {p.message} [{where}]')
    print(
        f"\n{args.split} dataset, annotation file {facts['ann_file']}: "
        f"{facts['images']} images"
    )
    print(summary_table(problems))
    if facts['images']:
        print(
            f"decoded {facts['images']} images in {facts['seconds']:.2f} "
            f"s ({facts['images'] / max(facts['seconds'], 1e-9):.0f} "
            f'images/s, {args.nproc} processes)'
        )
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(
                [dict(p._asdict(), severity=p.severity) for p in problems],
                f,
                indent=1,
            )
    failing = [p for p in problems if p.severity == 'error' or args.strict]
    n_err = sum(p.severity == 'error' for p in problems)
    print(
        f'{n_err} errors, {len(problems) - n_err} warnings: '
        + ('FAILED' if failing else 'OK')
    )
    return 1 if failing else 0


if __name__ == '__main__':
    sys.exit(main())
