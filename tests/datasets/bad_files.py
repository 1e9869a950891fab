"""A small real dataset with planted bad files (shared by the bad-file
tests in tests/datasets and tests/tools).

:func:`make_dataset` copies real coco128-seg photos with their annotations
into a tmp dir and breaks some of them *under their real names*:

* ``truncated``: the JPEG cut to 60 % of its bytes,
* ``empty``: a 0-byte file,
* ``html``: an HTML page saved as ``.jpg``,
* ``size``: the photo replaced by a half-size copy (annotations for the
  original),
* ``exif``: the photo with an EXIF orientation tag (6: rotate 90 degrees
  clockwise) inserted, pixels unchanged.
"""

import json
import os
import os.path as osp
import shutil
import struct

import cv2

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
C128 = osp.join(REPO, 'demo', 'data', 'coco128-seg')
C128_IMG = osp.join(C128, 'images', 'train2017')
DEFECTS = ('truncated', 'empty', 'html', 'size', 'exif')
# expected ImageProblem.kind of each planted file defect
KIND = dict(
    truncated='truncated',
    empty='empty',
    html='undecodable',
    size='size_mismatch',
    exif='exif_rotated',
)
HTML = (
    b'<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>'
    b'<body><h1>Not Found</h1></body></html>\n'
)


def exif_orientation_segment(orientation: int) -> bytes:
    """A JPEG APP1 segment holding only an EXIF orientation tag."""
    tiff = (
        b'II*\x00'
        + struct.pack('<I', 8)
        + struct.pack('<H', 1)
        + struct.pack('<HHIHH', 0x0112, 3, 1, orientation, 0)
        + struct.pack('<I', 0)
    )
    payload = b'Exif\x00\x00' + tiff
    return b'\xff\xe1' + struct.pack('>H', len(payload) + 2) + payload


def plant(kind: str, path: str) -> None:
    """Break the real photo at ``path`` in place."""
    with open(path, 'rb') as f:
        content = f.read()
    if kind == 'truncated':
        content = content[: int(len(content) * 0.6)]
    elif kind == 'empty':
        content = b''
    elif kind == 'html':
        content = HTML
    elif kind == 'size':
        img = cv2.imread(path)
        small = cv2.resize(img, (img.shape[1] // 2, img.shape[0] // 2))
        content = cv2.imencode('.jpg', small)[1].tobytes()
    elif kind == 'exif':
        assert content[:2] == b'\xff\xd8'
        content = content[:2] + exif_orientation_segment(6) + content[2:]
    else:
        raise ValueError(kind)
    with open(path, 'wb') as f:
        f.write(content)


def make_dataset(root, num_images=10, defects=DEFECTS, split='train'):
    """Copy the first ``num_images`` annotated coco128-seg ``split`` images
    to ``root/images/`` with ``root/ann.json`` and plant ``defects`` (a
    sequence of kinds, or ``{file index: kind}``), one per image from the
    first on.

    Returns:
        dict: ``ann_file``, ``img_dir``, ``images`` (the image entries),
        ``bad`` (``{file_name: kind}``), ``good`` (file names).
    """
    with open(osp.join(C128, f'instances_{split}.json')) as f:
        coco = json.load(f)
    annotated = {a['image_id'] for a in coco['annotations']}
    images = sorted(
        (i for i in coco['images'] if i['id'] in annotated),
        key=lambda i: i['id'],
    )[:num_images]
    ids = {i['id'] for i in images}
    out = dict(
        coco,
        images=images,
        annotations=[a for a in coco['annotations'] if a['image_id'] in ids],
    )
    img_dir = osp.join(str(root), 'images')
    os.makedirs(img_dir, exist_ok=True)
    for img in images:
        shutil.copy(osp.join(C128_IMG, img['file_name']), img_dir)
    if not isinstance(defects, dict):
        defects = dict(enumerate(defects))
    bad = {}
    for i, kind in defects.items():
        name = images[i]['file_name']
        plant(kind, osp.join(img_dir, name))
        bad[name] = kind
    ann_file = osp.join(str(root), 'ann.json')
    with open(ann_file, 'w') as f:
        json.dump(out, f)
    return dict(
        ann_file=ann_file,
        img_dir=img_dir,
        images=images,
        bad=bad,
        good=[i['file_name'] for i in images if i['file_name'] not in bad],
    )
