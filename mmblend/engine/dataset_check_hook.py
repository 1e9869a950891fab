"""A hook that turns a dataset that does not fit the model (class counts,
masks missing from the pipeline) into a clear error at the start of
training, validation or testing.

Why not mmdet's ``NumClassCheckHook``: it compares *every* sub-module with a
``num_classes`` attribute with ``len(classes)`` by ``assert`` (gone under
``python -O``; fails on a basis module without a semantic head, whose
``num_classes`` is None, and on panoptic heads, which count things + stuff),
in ``before_train_epoch``; its message names no config key.
"""

import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS

from ..datasets.coco_instance_dataset import pipeline_loads


def leaf_datasets(dataset):
    """The datasets inside dataset wrappers (Concat/Repeat/ClassBalanced)."""
    if hasattr(dataset, 'datasets'):
        for d in dataset.datasets:
            yield from leaf_datasets(d)
    elif hasattr(dataset, 'dataset'):
        yield from leaf_datasets(dataset.dataset)
    else:
        yield dataset


def _describe(dataset) -> str:
    leaves = list(leaf_datasets(dataset))
    leaf = leaves[0]
    text = type(leaf).__name__
    ann = getattr(leaf, 'ann_file', None)
    if ann:
        text += f" (ann_file '{ann}')"
    if len(leaves) > 1:
        text += f' and {len(leaves) - 1} more'
    return text


@HOOKS.register_module()
class DatasetCheckHook(Hook):
    """Check, before the first training / validation / test iteration, that
    the dataset fits the model, and raise a clear error if not:

    * the number of classes in the dataset's ``metainfo`` equals the model's
      ``bbox_head.num_classes`` and, if it has a semantic head, the basis
      module's ``mask_head.basis.num_classes`` (two-stage models: those of
      ``roi_head``, each stage's in a cascade; panoptic models:
      ``thing_classes`` / ``stuff_classes`` against ``num_things_classes`` /
      ``num_stuff_classes``) -> ``ValueError`` naming both counts and the
      config keys to change;
    * a model with a ``mask_head`` gets ground-truth masks in training: the
      train pipeline has ``LoadAnnotations(with_mask=True)``.

    Usage: ``custom_hooks = [dict(type='DatasetCheckHook')]`` (in
    ``configs/_base_/default_runtime.py``).
    """

    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        dataset = runner.train_dataloader.dataset
        self.check_classes(runner, dataset, 'train_dataloader')
        self.check_masks(runner, dataset)

    def before_val(self, runner) -> None:
        self.check_classes(
            runner, runner.val_dataloader.dataset, 'val_dataloader'
        )

    def before_test(self, runner) -> None:
        self.check_classes(
            runner, runner.test_dataloader.dataset, 'test_dataloader'
        )

    @staticmethod
    def _model(runner):
        model = runner.model
        return model.module if is_model_wrapper(model) else model

    @staticmethod
    def counts(model, metainfo: dict):
        """``[(config key, model value, dataset count, dataset key)]`` of
        the class counts to compare."""
        classes = metainfo.get('classes')
        things = metainfo.get('thing_classes')
        stuff = metainfo.get('stuff_classes')
        for key, value in (
            ('classes', classes),
            ('thing_classes', things),
            ('stuff_classes', stuff),
        ):
            if isinstance(value, str):
                raise TypeError(
                    f"dataset metainfo['{key}'] is the string {value!r}; it "
                    f'must be a tuple of class names (for one class write '
                    f'({value!r},))'
                )
        panoptic = hasattr(model, 'num_things_classes') and things is not None
        inst_classes, inst_key = (
            (things, 'thing_classes') if panoptic else (classes, 'classes')
        )
        out = []
        if inst_classes is None:
            return out
        # one-stage heads sit on the model, two-stage ones on its roi_head
        host, prefix = model, 'model'
        if getattr(model, 'roi_head', None) is not None:
            host, prefix = model.roi_head, 'model.roi_head'
        # a cascade's heads are a ModuleList, one per stage
        bbox_heads = getattr(host, 'bbox_head', None)
        if isinstance(bbox_heads, nn.ModuleList):
            bbox_heads = [
                (f'{prefix}.bbox_head[{i}]', head)
                for i, head in enumerate(bbox_heads)
            ]
        else:
            bbox_heads = [(f'{prefix}.bbox_head', bbox_heads)]
        for key, bbox_head in bbox_heads:
            if isinstance(getattr(bbox_head, 'num_classes', None), int):
                out.append(
                    (
                        f'{key}.num_classes',
                        bbox_head.num_classes,
                        len(inst_classes),
                        inst_key,
                    )
                )
        mask_head = getattr(host, 'mask_head', None)
        if isinstance(mask_head, nn.ModuleList):
            mask_head = mask_head[0]  # a cascade's basis module is stage 0's
        basis = getattr(mask_head, 'basis', None)
        if isinstance(getattr(basis, 'num_classes', None), int):
            out.append(
                (
                    f'{prefix}.mask_head.basis.num_classes',
                    basis.num_classes,
                    len(inst_classes),
                    inst_key,
                )
            )
        if panoptic:
            out.append(
                (
                    'model.panoptic_fusion_head.num_things_classes',
                    model.num_things_classes,
                    len(things),
                    'thing_classes',
                )
            )
            if stuff is not None and hasattr(model, 'num_stuff_classes'):
                out.append(
                    (
                        'model.panoptic_fusion_head.num_stuff_classes',
                        model.num_stuff_classes,
                        len(stuff),
                        'stuff_classes',
                    )
                )
        return out

    def check_classes(self, runner, dataset, loader_key: str) -> None:
        model = self._model(runner)
        metainfo = dataset.metainfo
        counts = self.counts(model, metainfo)
        if not counts:
            runner.logger.warning(
                f'DatasetCheckHook: could not compare the classes of '
                f'{_describe(dataset)} with the model (no classes in its '
                'metainfo or no known num_classes in the model)'
            )
            return
        bad = [c for c in counts if c[1] != c[2]]
        if not bad:
            return
        keys = ', '.join(f'{k}={v}' for k, v, _, _ in bad)
        data = ', '.join(sorted({f"{n} {d}" for _, _, n, d in bad}))
        names = metainfo.get(bad[0][3])
        shown = ', '.join(repr(c) for c in list(names)[:10]) + (
            ', ...' if len(names) > 10 else ''
        )
        fix = ' and '.join(sorted({f'{k}={n}' for k, _, n, _ in bad}))
        raise ValueError(
            f'class-count mismatch between the {loader_key} dataset and the '
            f'model: the dataset {_describe(dataset)} has {data} in its '
            f"metainfo ({shown}), but the model has {keys}. Either set "
            f'{fix} in the model config (each key separately: a base '
            "config's `num_classes` variable is substituted when that file "
            'is loaded, so overriding the variable does not change them), '
            f"or set metainfo=dict({bad[0][3]}=(...)) in "
            f'{loader_key}.dataset to the {bad[0][1]} classes the model '
            'predicts.'
        )

    def check_masks(self, runner, dataset) -> None:
        model = self._model(runner)
        host = (
            model
            if getattr(model, 'roi_head', None) is None
            else model.roi_head
        )
        if getattr(host, 'mask_head', None) is None:
            return
        for leaf in leaf_datasets(dataset):
            pipeline = getattr(leaf, 'pipeline', None)
            if pipeline is None or pipeline_loads(pipeline, 'with_mask'):
                continue
            raise ValueError(
                f'{type(model).__name__} learns instance masks from the '
                f'ground-truth masks, but the training pipeline of '
                f'{_describe(leaf)} loads none: add dict(type='
                "'LoadAnnotations', with_bbox=True, with_mask=True, "
                'poly2mask=False) to train_dataloader.dataset.pipeline '
                '(after the image loader); the annotations need '
                "'segmentation' polygons or RLEs"
            )
