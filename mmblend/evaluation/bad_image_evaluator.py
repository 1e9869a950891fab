"""Evaluation that scores bad images as missed and counts them.

A test-mode :class:`~mmblend.datasets.CocoInstanceDataset` gives an image
that cannot be used (see :mod:`mmblend.datasets.transforms.loading`) a black
placeholder and marks its data sample with the metainfo key ``bad_image``
(the reason). :class:`BadImageEvaluator` is mmengine's ``Evaluator`` that

* replaces the prediction of every marked sample by an empty one before its
  metrics see it: the sample keeps its ``img_id``, so ``CocoMetric`` scores
  the image's objects as missed, instead of the model's guesses on the
  placeholder, and
* adds ``data/bad_images``, the number of marked samples of the whole
  dataset (summed over all ranks, the padding of a distributed sampler
  dropped, as every mmengine metric does), to the metrics.

``tools/train.py`` and ``tools/test.py`` wrap ``val_evaluator`` and
``test_evaluator`` in it (:func:`mmblend.engine.cli.load_config`).
"""

from typing import Any, List, Optional, Sequence, Union

from mmdet.registry import EVALUATOR
from mmengine.evaluator import BaseMetric, Evaluator
from mmengine.structures import BaseDataElement

from ..datasets.transforms.loading import BAD_IMAGE_KEY


class _BadImageCount(BaseMetric):
    """One result per sample (1: marked bad), so that mmengine's
    ``collect_results`` sums exactly the dataset's samples over ranks."""

    default_prefix = 'data'

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        self.results.extend(int(BAD_IMAGE_KEY in s) for s in data_samples)

    def compute_metrics(self, results: List[int]) -> dict:
        return dict(bad_images=sum(results))


@EVALUATOR.register_module()
class BadImageEvaluator(Evaluator):
    """mmengine's ``Evaluator`` that empties the predictions of bad images
    and reports their number as ``data/bad_images`` (see the module
    docstring).

    Args:
        metrics (dict | BaseMetric | Sequence): As ``Evaluator``.
    """

    def __init__(self, metrics: Union[dict, BaseMetric, Sequence]) -> None:
        super().__init__(metrics)
        self.metrics.append(_BadImageCount())

    def process(
        self,
        data_samples: Sequence[BaseDataElement],
        data_batch: Optional[Any] = None,
    ) -> None:
        """Empty ``pred_instances`` of marked samples, then evaluate as
        ``Evaluator``."""
        for sample in data_samples:
            if (
                isinstance(sample, BaseDataElement)
                and BAD_IMAGE_KEY in sample.metainfo
                and 'pred_instances' in sample
            ):
                sample.pred_instances = sample.pred_instances[:0]
        super().process(data_samples, data_batch)
