"""A COCO instance dataset that reports bad input clearly.

:class:`CocoInstanceDataset` is mmdet's :class:`~mmdet.datasets.CocoDataset`
(same annotation parsing, same labels, same ``CocoMetric`` conventions) with
checks that turn the usual failures on bad data -- a bare
``JSONDecodeError``/``KeyError`` while loading, a ``KeyError: 'mask'`` deep in
the data pipeline, silently shifted labels, an empty dataset -- into errors
that name the file, the offending entry and the config key to change.

What is checked, and what happens (all before the first training step):

* ``ann_file`` missing -> ``FileNotFoundError`` naming the resolved path and
  ``data_root`` + ``ann_file``.
* Not JSON (e.g. truncated), not a JSON object, no ``images`` /
  ``categories`` list, no ``annotations`` list (allowed only for a test-mode
  dataset whose pipeline loads no annotations, e.g. COCO test-dev), or
  entries without the keys mmdet reads (image ``id``/``file_name``/
  ``height``/``width``; annotation ``id``/``image_id``/``category_id``/
  ``bbox``/``area``; category ``id``/``name``) -> ``ValueError`` naming the
  file and the first offending entry.
* ``metainfo['classes']``: a plain string -> ``TypeError``; names that are
  not category names of the file, names that match several categories, or
  names listed in another order than the file's categories -> ``ValueError``
  saying which. (mmdet maps the matched categories to labels in the *file's*
  order, and so does ``CocoMetric``: a missing name or another order would
  silently give the labels other names than ``classes`` says.)
* The pipeline loads masks (``LoadAnnotations(with_mask=True)``, as BlendMask
  needs) and annotations that become instances have no ``segmentation``:
  ``missing_mask='error'`` (default) -> ``ValueError`` with their number and
  the first annotation ids / images; ``missing_mask='skip'`` drops those
  instances with a warning (the object is then background for the model,
  so only use it when they are few). Erroring is the default because mmdet
  would otherwise fail later with ``KeyError: 'mask'`` inside
  ``LoadAnnotations`` and silently dropping objects hurts training.
* Annotations of an image id that is not in ``images`` or of a category id
  that is not in ``categories`` are ignored (as mmdet does) with a warning.
* Degenerate boxes: mmdet's ``parse_data_info`` skips annotations whose box
  has ``w < 1`` or ``h < 1``, ``area <= 0`` or no overlap with the image;
  this is kept as is (they are not instances, no error).
* ``filter_cfg=dict(filter_empty_gt=True)`` (training only) drops every image
  without a usable instance: no annotations, only crowd (``iscrowd=1``)
  regions, only skipped degenerate boxes, or only categories outside
  ``classes``. mmdet 3.3 keeps crowd-only and degenerate-only images (it only
  looks at which images have *any* annotation of the classes); dropping them
  is what Detectron2/AdelaiDet (the BlendMask reference code) do. In test
  mode every image is kept. If filtering leaves no image, or the file has no
  image at all -> ``ValueError``.
* A missing image file -> ``FileNotFoundError`` with the path, the image id,
  the annotation file and the keys that make up the path (``data_root`` +
  ``data_prefix['img']`` + ``file_name``). The first image of a local dataset
  is checked when the dataset is built, so a wrong ``data_prefix`` is
  reported before training; any other missing image when it is loaded.
* An image file that is empty, truncated, not an image or not of the
  annotated size (``LoadCheckedImageFromFile``): training skips it with
  a warning; test mode gives it a black placeholder marked ``bad_image``,
  which ``BadImageEvaluator`` turns into an empty prediction and counts, or,
  with ``bad_image='error'``, raises ``BadImageError``.
"""

import json
import os
import os.path as osp
import warnings
from typing import List, Optional, Union

import numpy as np
from mmdet.datasets import CocoDataset
from mmdet.datasets.transforms import LoadAnnotations
from mmdet.registry import DATASETS
from mmengine.dataset import Compose
from mmengine.fileio import exists, get_local_path

from .transforms.loading import BAD_IMAGE_KEY, BadImageError

IMAGE_KEYS = ('id', 'file_name', 'height', 'width')
ANN_KEYS = ('id', 'image_id', 'category_id', 'bbox', 'area')
CAT_KEYS = ('id', 'name')
_SHOW = 5  # offending entries named in a message


def _short(items, n=_SHOW) -> str:
    items = list(items)
    text = ', '.join(repr(i) for i in items[:n])
    if len(items) > n:
        text += f', ... ({len(items)} in all)'
    return text


def _pipeline_transforms(pipeline):
    """Every transform of a (possibly nested) pipeline."""
    for t in getattr(pipeline, 'transforms', None) or []:
        yield t
        if getattr(t, 'transforms', None) is not None:
            yield from _pipeline_transforms(t)


def pipeline_loads(pipeline, what: str = 'with_mask') -> bool:
    """Whether ``pipeline`` has a ``LoadAnnotations`` with ``what=True``
    (``what='any'``: any ``LoadAnnotations``)."""
    for t in _pipeline_transforms(pipeline):
        if isinstance(t, LoadAnnotations):
            if what == 'any' or getattr(t, what, False):
                return True
    return False


def _is_local(path: str, backend_args: Optional[dict]) -> bool:
    return not backend_args and '://' not in str(path)


@DATASETS.register_module()
class CocoInstanceDataset(CocoDataset):
    """mmdet's ``CocoDataset`` with clear errors on bad input (see the module
    docstring for the full list).

    Args:
        missing_mask (str): what to do when the pipeline loads masks and
            annotations have no ``segmentation``: ``'error'`` (default) or
            ``'skip'`` (drop those instances, with a warning).
        bad_image (str): test mode, an image the loader rejects (see
            :mod:`mmblend.datasets.transforms.loading`): ``'empty'``
            (default: a black placeholder whose sample is marked
            ``bad_image``, so that ``BadImageEvaluator`` gives it an empty
            prediction and counts it) or ``'error'`` (fail fast). Training
            re-draws instead (the loader returns None).
        *args, **kwargs: as :class:`~mmdet.datasets.CocoDataset`.
    """

    def __init__(
        self,
        *args,
        missing_mask: str = 'error',
        bad_image: str = 'empty',
        **kwargs,
    ) -> None:
        if missing_mask not in ('error', 'skip'):
            raise ValueError(
                f"missing_mask must be 'error' or 'skip', got {missing_mask!r}"
            )
        if bad_image not in ('empty', 'error'):
            raise ValueError(
                f"bad_image must be 'empty' or 'error', got {bad_image!r}"
            )
        self.missing_mask = missing_mask
        self.bad_image = bad_image
        # the values as written in the config, for the messages
        given = dict(
            zip(('ann_file', 'metainfo', 'data_root', 'data_prefix'), args),
            **kwargs,
        )
        self._cfg_ann_file = given.get('ann_file', '')
        self._cfg_data_root = given.get('data_root', '')
        self._cfg_img_prefix = (given.get('data_prefix') or {}).get('img')
        metainfo = given.get('metainfo')
        self._user_classes = bool(metainfo) and 'classes' in metainfo
        super().__init__(*args, **kwargs)

    # ------------------------------------------------------------------ load
    def load_data_list(self) -> List[dict]:
        raw = self._read_ann_file()
        self._check_structure(raw)
        self._check_classes(raw['categories'])

        coco = self.COCOAPI()  # an empty index, filled from the parsed dict
        coco.dataset = raw
        coco.createIndex()
        coco.img_ann_map = coco.imgToAnns
        coco.cat_img_map = coco.catToImgs
        self.coco = coco
        self._warn_orphans(raw)

        # as CocoDataset.load_data_list
        self.cat_ids = coco.get_cat_ids(cat_names=self.metainfo['classes'])
        self.cat2label = {cat_id: i for i, cat_id in enumerate(self.cat_ids)}
        self.cat_img_map = {k: list(v) for k, v in coco.cat_img_map.items()}
        self._loads_masks = pipeline_loads(self.pipeline, 'with_mask')
        self._missing_masks = []
        data_list, total_ann_ids = [], []
        for img_id in coco.get_img_ids():
            raw_img_info = dict(coco.load_imgs([img_id])[0], img_id=img_id)
            ann_ids = coco.get_ann_ids(img_ids=[img_id])
            total_ann_ids.extend(ann_ids)
            data_list.append(
                self.parse_data_info(
                    {
                        'raw_ann_info': coco.load_anns(ann_ids),
                        'raw_img_info': raw_img_info,
                    }
                )
            )
        if self.ANN_ID_UNIQUE and len(set(total_ann_ids)) != len(
            total_ann_ids
        ):
            seen, dup = set(), []
            for i in total_ann_ids:
                if i in seen:
                    dup.append(i)
                seen.add(i)
            raise ValueError(
                f"annotation ids in '{self.ann_file}' are not "
                f'unique: {_short(dup)} occur more than once'
            )
        del self.coco
        self._report_missing_masks()
        if not data_list:
            raise ValueError(
                f"annotation file '{self.ann_file}' lists no "
                "image ('images' is empty)"
            )
        self._check_first_image(data_list[0])
        return data_list

    def _read_ann_file(self) -> dict:
        path = self.ann_file
        if not path:
            raise FileNotFoundError(
                f'{type(self).__name__} needs an annotation file: set '
                '`ann_file` (relative to `data_root`) in the dataset config'
            )
        if _is_local(path, self.backend_args):
            found = osp.isfile(path)
        else:
            found = exists(path, backend_args=self.backend_args)
        if not found:
            raise FileNotFoundError(
                f"annotation file not found: '{path}' (from data_root="
                f'{self._cfg_data_root!r} + ann_file={self._cfg_ann_file!r}, '
                f"working directory '{os.getcwd()}'); fix `data_root` and "
                '`ann_file` in the dataset config '
                '(train/val/test_dataloader.dataset)'
            )
        with get_local_path(path, backend_args=self.backend_args) as local:
            try:
                with open(local, 'rb') as f:
                    return json.load(f)
            except json.JSONDecodeError as e:
                raise ValueError(
                    f"annotation file '{path}' is not valid JSON: {e.msg} at "
                    f'line {e.lineno} column {e.colno} (char {e.pos}); the '
                    'file is truncated or is not a COCO annotation file'
                ) from e
            except UnicodeDecodeError as e:
                raise ValueError(
                    f"annotation file '{path}' is not a text (JSON) file: {e}"
                ) from e

    def _check_structure(self, raw) -> None:
        path = self.ann_file
        if not isinstance(raw, dict):
            raise ValueError(
                f"annotation file '{path}' holds a JSON {type(raw).__name__}, "
                "not a COCO object with 'images', 'annotations' and "
                "'categories'"
            )
        required = ['images', 'categories']
        if (
            'annotations' in raw
            or not self.test_mode
            or pipeline_loads(self.pipeline, 'any')
        ):
            required.insert(1, 'annotations')
        missing = [k for k in required if k not in raw]
        if missing:
            raise ValueError(
                f"annotation file '{path}' lacks the key(s) {missing} (it "
                f'has {sorted(raw)}); a COCO instance annotation file needs '
                "'images', 'annotations' and 'categories'"
            )
        for key, keys in (
            ('images', IMAGE_KEYS),
            ('annotations', ANN_KEYS),
            ('categories', CAT_KEYS),
        ):
            entries = raw.get(key, [])
            if not isinstance(entries, list):
                raise ValueError(
                    f"'{key}' in annotation file '{path}' is a "
                    f'{type(entries).__name__}, not a list'
                )
            bad = [
                (i, e)
                for i, e in enumerate(entries)
                if not isinstance(e, dict) or any(k not in e for k in keys)
            ]
            if bad:
                i, e = bad[0]
                lacks = (
                    [k for k in keys if k not in e]
                    if isinstance(e, dict)
                    else list(keys)
                )
                ident = e.get('id', '?') if isinstance(e, dict) else '?'
                raise ValueError(
                    f"{len(bad)} of {len(entries)} entries of '{key}' in "
                    f"annotation file '{path}' lack required keys; the first "
                    f'is {key}[{i}] (id {ident}) without {lacks}; every '
                    f"entry of '{key}' needs {list(keys)}"
                )
        bad = [
            a
            for a in raw.get('annotations', [])
            if not (
                isinstance(a['bbox'], (list, tuple)) and len(a['bbox']) == 4
            )
        ]
        if bad:
            raise ValueError(
                f"{len(bad)} annotations in '{path}' have a 'bbox' that is "
                'not [x, y, width, height]; the first is annotation id '
                f"{bad[0]['id']} with bbox {bad[0]['bbox']!r}"
            )

    def _check_classes(self, categories: List[dict]) -> None:
        classes = self.metainfo.get('classes')
        if classes is None:
            return
        if isinstance(classes, str):
            raise TypeError(
                f"metainfo['classes'] is the string {classes!r}; it must be a "
                f"tuple of class names (for one class write ({classes!r},))"
            )
        classes = list(classes)
        names = [c['name'] for c in categories]
        origin = (
            "metainfo['classes'] of the dataset config"
            if self._user_classes
            else f"the default classes of {type(self).__name__} (the 80 COCO "
            'classes; no metainfo=dict(classes=...) was given)'
        )
        fix = (
            "set metainfo=dict(classes=(...)) in the dataset config to "
            "the file's category names (the model's num_classes must "
            'match their number)'
        )
        missing = [c for c in classes if c not in names]
        if len(missing) == len(classes):
            raise ValueError(
                f'none of the {len(classes)} classes in {origin} is a '
                f"category of annotation file '{self.ann_file}' (its "
                f'categories: {_short(names, 10)}); {fix}'
            )
        if missing:
            raise ValueError(
                f"annotation file '{self.ann_file}' has no category named "
                f'{_short(missing)} ({len(missing)} of the {len(classes)} '
                f'classes in {origin}); the labels of the other classes would '
                f'shift. Remove them from classes or {fix}'
            )
        dups = sorted(
            {n for n in names if n in classes and names.count(n) > 1}
        )
        if dups:
            raise ValueError(
                f"annotation file '{self.ann_file}' has several categories "
                f'named {_short(dups)}; category names must be unique'
            )
        in_file_order = [n for n in names if n in classes]
        if in_file_order != classes:
            raise ValueError(
                f"the classes in {origin} are not in the order of the "
                f"categories of annotation file '{self.ann_file}'. mmdet "
                "(and CocoMetric) number the labels in the file's order, so "
                'the class names would not match the labels; list them as '
                f'classes={tuple(in_file_order)!r}'
            )

    def _warn_orphans(self, raw: dict) -> None:
        img_ids = {img['id'] for img in raw['images']}
        cat_ids = {cat['id'] for cat in raw['categories']}
        anns = raw.get('annotations', [])
        no_img = [a['id'] for a in anns if a['image_id'] not in img_ids]
        no_cat = [a['id'] for a in anns if a['category_id'] not in cat_ids]
        if no_img:
            warnings.warn(
                f"{len(no_img)} annotations in '{self.ann_file}' refer to an "
                f"image_id that is not in 'images' and are ignored (ids "
                f'{_short(no_img)})'
            )
        if no_cat:
            warnings.warn(
                f"{len(no_cat)} annotations in '{self.ann_file}' refer to a "
                "category_id that is not in 'categories' and are ignored "
                f'(ids {_short(no_cat)})'
            )

    # ----------------------------------------------------------- per image
    @staticmethod
    def _becomes_instance(ann: dict, img_info: dict, cat_ids) -> bool:
        """Mirror of the skip rules of ``CocoDataset.parse_data_info``."""
        if ann.get('ignore', False):
            return False
        x1, y1, w, h = ann['bbox']
        inter_w = max(0, min(x1 + w, img_info['width']) - max(x1, 0))
        inter_h = max(0, min(y1 + h, img_info['height']) - max(y1, 0))
        if inter_w * inter_h == 0 or ann['area'] <= 0 or w < 1 or h < 1:
            return False
        return ann['category_id'] in cat_ids

    def parse_data_info(self, raw_data_info: dict) -> Union[dict, List[dict]]:
        data_info = super().parse_data_info(raw_data_info)
        if getattr(self, '_loads_masks', False):
            img_info = raw_data_info['raw_img_info']
            cat_ids = set(self.cat_ids)
            for ann in raw_data_info['raw_ann_info']:
                if not ann.get('segmentation') and self._becomes_instance(
                    ann, img_info, cat_ids
                ):
                    self._missing_masks.append(
                        (ann['id'], img_info['img_id'], img_info['file_name'])
                    )
            if self.missing_mask == 'skip':
                data_info['instances'] = [
                    i for i in data_info['instances'] if 'mask' in i
                ]
        return data_info

    def _report_missing_masks(self) -> None:
        missing = self._missing_masks
        if not missing:
            return
        n_img = len({m[1] for m in missing})
        first = '; '.join(
            f"annotation id {a} (image id {i}, '{f}')"
            for a, i, f in missing[:_SHOW]
        )
        what = (
            f"{len(missing)} annotations in {n_img} images of "
            f"'{self.ann_file}' have no 'segmentation' but the pipeline "
            'loads masks (LoadAnnotations(with_mask=True)); first: '
            f'{first}'
        )
        if self.missing_mask == 'skip':
            warnings.warn(
                f"{what}. missing_mask='skip': these instances are "
                'dropped (their objects become background)'
            )
            return
        raise ValueError(
            f'{what}. BlendMask learns its masks from these polygons/RLEs: '
            'add the segmentation to these annotations, or set '
            "missing_mask='skip' in the dataset config to drop these "
            'instances (their objects then count as background)'
        )

    def _check_first_image(self, data_info: dict) -> None:
        path = data_info['img_path']
        if _is_local(path, self.backend_args) and not osp.isfile(path):
            raise FileNotFoundError(
                self._image_message(data_info, 'the first image')
            )

    def _image_message(self, data_info: dict, which: str = 'image') -> str:
        return (
            f"{which} file not found: '{data_info['img_path']}' (image id "
            f"{data_info.get('img_id')} of annotation file "
            f"'{self.ann_file}'); the path is data_root="
            f"{self._cfg_data_root!r} + data_prefix['img']="
            f'{self._cfg_img_prefix!r} (relative to data_root) + the '
            "image's file_name: fix `data_root`/`data_prefix` in the dataset "
            'config or remove the image from the annotation file'
        )

    def prepare_data(self, idx: int):
        try:
            data = super().prepare_data(idx)
        except FileNotFoundError as e:
            data_info = self.get_data_info(idx)
            path = data_info.get('img_path')
            if path is not None and (e.filename == path or path in str(e)):
                raise FileNotFoundError(self._image_message(data_info)) from e
            raise
        if data is None and self.test_mode:
            return self._bad_image_sample(idx)
        return data

    def _bad_image_sample(self, idx: int) -> Optional[dict]:
        """Test mode, the loader rejected image ``idx`` (bad file): a
        placeholder sample marked ``bad_image`` (``bad_image='empty'``) or
        ``BadImageError`` (``'error'``)."""
        loader = (
            self.pipeline.transforms[0] if self.pipeline.transforms else None
        )
        data_info = self.get_data_info(idx)
        problem = getattr(loader, 'bad', {}).get(data_info['img_path'])
        if problem is None:  # None from another transform: mmengine's error
            return None
        message = (
            f"bad image '{data_info['img_path']}' (image id "
            f"{data_info.get('img_id')}) in test mode: "
            f'{problem.reason}'
        )
        if self.bad_image == 'error':
            raise BadImageError(
                f"{message}. bad_image='error' in the dataset config; with "
                "bad_image='empty' the image gets an empty prediction "
                '(its objects count as missed)'
            )
        h, w = data_info['height'], data_info['width']
        img = np.zeros(
            (h, w, 3), np.float32 if loader.to_float32 else np.uint8
        )
        data_info.update(img=img, img_shape=(h, w), ori_shape=(h, w))
        data = Compose(self.pipeline.transforms[1:])(data_info)
        data['data_samples'].set_metainfo({BAD_IMAGE_KEY: problem.reason})
        return data

    # -------------------------------------------------------------- filter
    def filter_data(self) -> List[dict]:
        """``filter_empty_gt``: drop images without a usable (non-crowd)
        instance; ``min_size``: drop images whose shorter side is smaller.
        Test mode keeps every image."""
        if self.test_mode or self.filter_cfg is None:
            return self.data_list
        filter_empty_gt = self.filter_cfg.get('filter_empty_gt', False)
        min_size = self.filter_cfg.get('min_size', 0)

        def usable(info):
            return any(not inst['ignore_flag'] for inst in info['instances'])

        valid = [
            info
            for info in self.data_list
            if (usable(info) or not filter_empty_gt)
            and min(info['width'], info['height']) >= min_size
        ]
        if not valid:
            n_empty = sum(1 for info in self.data_list if not usable(info))
            raise ValueError(
                f"no image of annotation file '{self.ann_file}' is left "
                f'after filter_cfg={dict(self.filter_cfg)!r}: of '
                f'{len(self.data_list)} images, {n_empty} have no usable '
                '(non-crowd, non-degenerate, of the dataset classes) '
                "instance; check the annotations and metainfo['classes']"
            )
        return valid
