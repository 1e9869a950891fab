# AdelaiDet's BlendMask model zoo (instance segmentation): the model and
# solver of ./adelaidet_r50_fpn.py (caffe-style FrozenBN R-50, BGR caffe
# normalisation, AdelaiDet's FCOS/IoU loss, Proto-FPN bases, detectron2's
# SGD) on COCO with multi-scale training (shorter side in {640, ..., 800})
# even at 1x, batch 16 = 2 images x 8 GPUs.
_base_ = [
    './adelaidet_r50_fpn.py',
    '../../_base_/datasets/coco_instance_ms.py',
]
train_dataloader = dict(batch_size=2)
