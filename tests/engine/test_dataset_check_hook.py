"""DatasetCheckHook's class counts for the model variants (the hook
stopping a run before its first iteration on a real dataset:
tests/datasets/test_coco_instance_dataset.py)."""

from types import SimpleNamespace

from mmblend.engine import DatasetCheckHook


def test_dataset_check_hook_counts_for_variants():
    model = SimpleNamespace(
        bbox_head=SimpleNamespace(num_classes=3),
        mask_head=SimpleNamespace(basis=SimpleNamespace(num_classes=None)),
    )
    # a basis without semantic head (num_classes=None) is not compared
    assert DatasetCheckHook.counts(model, dict(classes=('a', 'b', 'c'))) == [
        ('model.bbox_head.num_classes', 3, 3, 'classes')
    ]
    # panoptic: things against the box head, stuff against the fusion head
    model.num_things_classes, model.num_stuff_classes = 3, 2
    meta = dict(
        classes=('a', 'b', 'c', 's1', 's2'),
        thing_classes=('a', 'b', 'c'),
        stuff_classes=('s1',),
    )
    bad = [c for c in DatasetCheckHook.counts(model, meta) if c[1] != c[2]]
    assert bad == [
        ('model.panoptic_fusion_head.num_stuff_classes', 2, 1, 'stuff_classes')
    ]
