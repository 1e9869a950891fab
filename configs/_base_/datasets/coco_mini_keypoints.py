# coco-mini-keypoints: 60 real COCO 2017 photos (28 train2017 / 32 val2017)
# with their ORIGINAL person keypoint annotations (154 people with
# keypoints), read from the shared data folder next to the repository
# (../shared/data/coco-mini-keypoints, see its README.md). For "does it fit"
# (train) and honest held-out numbers (val; from scratch expect ~0).
# Pipelines and loader settings are those of coco_person_keypoints.py; to
# use another COCO-format person keypoints file set data_root, ann_file and
# data_prefix.img of the dataloaders and the evaluators' ann_file.
_base_ = './coco_person_keypoints.py'

data_root = '../shared/data/coco-mini-keypoints/'

train_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        ann_file='person_keypoints_train.json',
        data_prefix=dict(img='images/train2017/'),
    )
)
val_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        ann_file='person_keypoints_val.json',
        data_prefix=dict(img='images/val2017/'),
    )
)
test_dataloader = val_dataloader

val_evaluator = dict(ann_file=data_root + 'person_keypoints_val.json')
test_evaluator = val_evaluator
