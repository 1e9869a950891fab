"""BatchSyncRandomResizeWithMasks: YOLOX's multi-scale batch resize that
keeps the GT masks (bitmap and polygon) with their resized boxes; mmdet's
BatchSyncRandomResize leaves them behind."""

import numpy as np
import pytest
import torch
from mmdet.models.data_preprocessors import BatchSyncRandomResize
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks, PolygonMasks
from mmengine.logging import MessageHub
from mmengine.structures import InstanceData

from mmblend.models.data_preprocessors import BatchSyncRandomResizeWithMasks

H, W = 64, 96
BOX = [10.0, 20.0, 50.0, 44.0]  # x1, y1, x2, y2


def batch(kind):
    x1, y1, x2, y2 = map(int, BOX)
    if kind == 'bitmap':
        m = np.zeros((1, H, W), np.uint8)
        m[0, y1:y2, x1:x2] = 1
        masks = BitmapMasks(m, H, W)
    else:
        masks = PolygonMasks(
            [[np.array([x1, y1, x2, y1, x2, y2, x1, y2], float)]], H, W
        )
    s = DetDataSample(
        metainfo=dict(
            img_shape=(H, W), pad_shape=(H, W), batch_input_shape=(H, W)
        )
    )
    s.gt_instances = InstanceData(
        bboxes=torch.tensor([BOX]), labels=torch.tensor([0]), masks=masks
    )
    return torch.zeros(1, 3, H, W), [s]


@pytest.fixture(autouse=True)
def iteration():
    hub = MessageHub.get_current_instance()
    hub.update_info('iter', 0)
    yield
    hub.runtime_info.pop('iter', None)


@pytest.mark.parametrize('kind', ['bitmap', 'polygon'])
def test_masks_follow_their_boxes(kind):
    resize = BatchSyncRandomResizeWithMasks(
        random_size_range=(1, 2), size_divisor=32, interval=1
    )
    resize._input_size = (128, 64)  # the size drawn for this batch
    inputs, samples = resize(*batch(kind))
    assert inputs.shape[-2:] == (128, 64)
    gt = samples[0].gt_instances
    assert (gt.masks.height, gt.masks.width) == (128, 64)
    extent = torch.as_tensor(gt.masks.get_bboxes('hbox').tensor).float()
    torch.testing.assert_close(extent, gt.bboxes, atol=1, rtol=0)
    # mmdet's own resizes the boxes only
    plain = BatchSyncRandomResize(
        random_size_range=(1, 2), size_divisor=32, interval=1
    )
    plain._input_size = (128, 64)
    _, samples = plain(*batch(kind))
    assert samples[0].gt_instances.masks.height == H


def test_same_size_leaves_the_masks_alone():
    resize = BatchSyncRandomResizeWithMasks(
        random_size_range=(1, 2), size_divisor=32, interval=1
    )
    _, samples = resize(*batch('bitmap'))  # first batch: its own size
    assert samples[0].gt_instances.masks.height == H
