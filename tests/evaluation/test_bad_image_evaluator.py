"""BadImageEvaluator: the predictions of the samples marked bad (test-mode
placeholders: tests/datasets/transforms/test_loading.py) are emptied before
the metrics see them, and their number is reported (summed over ranks:
tests/engine/test_bad_image_count_ddp.py)."""

import torch
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from mmblend.evaluation import BadImageEvaluator


class _Recorder:
    """A metric that keeps what it is given (to see what CocoMetric gets)."""

    def __init__(self):
        self.seen = []
        self.dataset_meta = None

    def process(self, data_batch, data_samples):
        self.seen.extend(data_samples)

    def evaluate(self, size):
        return dict(recorded=len(self.seen))


def test_bad_image_evaluator_empties_and_counts():
    rec = _Recorder()
    evaluator = BadImageEvaluator([rec])
    samples = []
    for i, bad in enumerate([False, True, False, True, True]):
        s = DetDataSample(metainfo=dict(img_id=i))
        if bad:
            s.set_metainfo(dict(bad_image='empty file'))
        s.pred_instances = InstanceData(
            bboxes=torch.rand(3, 4),
            scores=torch.rand(3),
            labels=torch.zeros(3, dtype=torch.long),
            masks=torch.ones(3, 4, 4, dtype=torch.bool),
        )
        samples.append(s)
    evaluator.process(samples[:2])
    evaluator.process(samples[2:])
    assert [len(s['pred_instances']['bboxes']) for s in rec.seen] == [
        3,
        0,
        3,
        0,
        0,
    ]
    assert rec.seen[1]['img_id'] == 1  # kept: COCO counts its objects missed
    assert rec.seen[1]['pred_instances']['masks'].shape == (0, 4, 4)
    assert evaluator.evaluate(5) == {'recorded': 5, 'data/bad_images': 3}
