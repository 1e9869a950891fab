"""Preprocessor: a config's test pipeline and data preprocessor without the
model, as inference_detector runs them (a path and its BGR array give the
same input; a gray array gives its 3-channel copy's), and the graph's
img_shape input."""

import os.path as osp

import mmcv
import pytest
import torch

from mmblend.deploy.preprocess import Preprocessor, img_shape_tensor

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'tests', 'configs', 'blendmask_tiny_coco128.py')
PHOTO = osp.join(
    REPO,
    'demo',
    'data',
    'coco128-seg',
    'images',
    'train2017',
    '000000000009.jpg',
)  # 640 x 480


@pytest.fixture(scope='module')
def pre():
    return Preprocessor(CONFIG)


def test_path_and_array_give_the_same_input(pre):
    inputs, sample = pre(PHOTO)
    h, w = sample.metainfo['img_shape']
    assert sample.metainfo['ori_shape'] == (480, 640)
    assert inputs.dtype == torch.float32 and inputs.shape[:2] == (1, 3)
    # padded to the preprocessor's divisor, the resize keeps the aspect
    div = pre.data_preprocessor.pad_size_divisor
    assert inputs.shape[2] % div == 0 and inputs.shape[3] % div == 0
    assert tuple(inputs.shape[2:]) == sample.metainfo['batch_input_shape']
    assert abs(w / h - 640 / 480) < 0.02
    array_inputs, _ = pre(mmcv.imread(PHOTO))
    torch.testing.assert_close(array_inputs, inputs)
    assert img_shape_tensor(sample).tolist() == [h, w]
    assert img_shape_tensor(sample).dtype == torch.int64


def test_gray_array_and_bad_input(pre):
    gray = mmcv.imread(PHOTO, flag='grayscale')
    inputs, _ = pre(gray)
    ref, _ = pre(mmcv.gray2bgr(gray))
    torch.testing.assert_close(inputs, ref)
    with pytest.raises(TypeError, match='image path or a BGR numpy array'):
        pre([PHOTO])
