"""COCO keypoint AP beside mmdet's box and mask AP."""

from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
from mmdet.datasets.api_wrappers import COCOeval
from mmdet.evaluation.metrics import CocoMetric
from mmdet.registry import METRICS
from mmengine.fileio import dump
from mmengine.logging import MMLogger

# cocoEval.stats of iouType='keypoints' (maxDets 20): AP, AP50, AP75, APm,
# APl, then the same five for AR
KEYPOINT_ITEMS = ('mAP', 'mAP_50', 'mAP_75', 'mAP_m', 'mAP_l')


@METRICS.register_module()
class CocoKeypointMetric(CocoMetric):
    """mmdet's :class:`~mmdet.evaluation.CocoMetric` that also evaluates
    the predicted keypoints with pycocotools'
    ``COCOeval(iouType='keypoints')`` (object keypoint similarity).

    Reported beside ``coco/bbox_mAP`` and ``coco/segm_mAP`` as
    ``coco/keypoints_mAP``, ``coco/keypoints_mAP_50``,
    ``coco/keypoints_mAP_75``, ``coco/keypoints_mAP_m`` and
    ``coco/keypoints_mAP_l`` (COCO's AP, AP50, AP75, APm, APl at 20
    detections per image; keypoint AP has no small-object range).

    Predictions need ``pred_instances.keypoints [D, J, 2]`` and
    ``keypoint_scores [D, J]`` (e.g. ``BlendMask`` with a
    ``keypoint_head``). Only the detections of categories that have
    keypoints in ``ann_file`` (COCO: person) are evaluated; their
    coordinates are written as COCO pixel indices (the 0.5 added when
    loading, see :class:`~mmblend.datasets.CocoKeypointDataset`, is
    subtracted) with the keypoint scores as the third value (COCOeval
    ignores it) and the detection's box and score, to
    ``<outfile_prefix>.keypoints.json``.

    Args:
        ann_file (str): the keypoint annotation file (required: the ground
            truth keypoints are read from it).
        metric (str | list[str]): any of 'bbox', 'segm', 'proposal',
            'proposal_fast' (mmdet's) and 'keypoints'. Defaults to
            ``['bbox', 'segm', 'keypoints']``.
        keypoint_sigmas (list[float], optional): OKS sigmas per keypoint.
            Defaults to the dataset's ``metainfo['keypoint_sigmas']``, else
            pycocotools' (COCO's 17).
        **kwargs: as ``CocoMetric``.
    """

    def __init__(
        self,
        ann_file: Optional[str] = None,
        metric: Union[str, List[str]] = ('bbox', 'segm', 'keypoints'),
        keypoint_sigmas: Optional[Sequence[float]] = None,
        **kwargs,
    ) -> None:
        metrics = [metric] if isinstance(metric, str) else list(metric)
        self.with_keypoints = 'keypoints' in metrics
        if self.with_keypoints and ann_file is None:
            raise ValueError(
                "CocoKeypointMetric with metric 'keypoints' needs ann_file "
                '(the ground-truth keypoints are read from it): set '
                'val_evaluator.ann_file / test_evaluator.ann_file to the '
                'person_keypoints json'
            )
        super().__init__(
            ann_file=ann_file,
            metric=[m for m in metrics if m != 'keypoints'],
            **kwargs,
        )
        self.keypoint_sigmas = keypoint_sigmas
        self._keypoint_json = []

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """mmdet's, plus each image's ``keypoints`` and
        ``keypoint_scores``."""
        super().process(data_batch, data_samples)
        if not self.with_keypoints:
            return
        start = len(self.results) - len(data_samples)
        for i, sample in enumerate(data_samples):
            pred = sample['pred_instances']
            if 'keypoints' not in pred:
                raise KeyError(
                    "CocoKeypointMetric with metric 'keypoints' got "
                    'predictions without keypoints: use a model with a '
                    "keypoint_head, or remove 'keypoints' from the "
                    "evaluator's metric"
                )
            result = self.results[start + i][1]
            result['keypoints'] = pred['keypoints'].cpu().numpy()
            result['keypoint_scores'] = pred['keypoint_scores'].cpu().numpy()

    def keypoint_cat_ids(self) -> List[int]:
        """The evaluated category ids: those of the dataset's classes whose
        ``ann_file`` category lists keypoints."""
        cats = self._coco_api.cats
        ids = [c for c in self.cat_ids if 'keypoints' in cats[c]]
        if not ids:
            raise ValueError(
                'no category of the evaluated classes has keypoints in '
                "the evaluator's ann_file; point it at a person_keypoints "
                "json or remove 'keypoints' from its metric"
            )
        return ids

    def results2json(
        self, results: Sequence[dict], outfile_prefix: str
    ) -> dict:
        """mmdet's files, plus ``<outfile_prefix>.keypoints.json``."""
        result_files = super().results2json(results, outfile_prefix)
        if not self.with_keypoints:
            return result_files
        kp_cats = set(self.keypoint_cat_ids())
        self._keypoint_json = []
        for idx, result in enumerate(results):
            for i, label in enumerate(result['labels']):
                cat_id = self.cat_ids[label]
                if cat_id not in kp_cats:
                    continue
                kps = np.concatenate(
                    [
                        result['keypoints'][i] - 0.5,
                        result['keypoint_scores'][i][:, None],
                    ],
                    axis=1,
                )
                self._keypoint_json.append(
                    dict(
                        image_id=result.get('img_id', idx),
                        category_id=cat_id,
                        bbox=self.xyxy2xywh(result['bboxes'][i]),
                        keypoints=[float(v) for v in kps.reshape(-1)],
                        score=float(result['scores'][i]),
                    )
                )
        result_files['keypoints'] = f'{outfile_prefix}.keypoints.json'
        dump(self._keypoint_json, result_files['keypoints'])
        return result_files

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """mmdet's metrics, then keypoint AP (``keypoints_mAP``, ...)."""
        eval_results = super().compute_metrics(results)
        if not self.with_keypoints or self.format_only:
            return eval_results
        eval_results = OrderedDict(eval_results)
        eval_results.update(self.evaluate_keypoints())
        return eval_results

    def evaluate_keypoints(self) -> Dict[str, float]:
        """``COCOeval(iouType='keypoints')`` of the last
        :meth:`results2json`; AP 0 without any detection."""
        logger = MMLogger.get_current_instance()
        logger.info('Evaluating keypoints...')
        if not self._keypoint_json:
            logger.error(
                'no keypoint detection in the whole dataset: keypoint AP is 0'
            )
            return {f'keypoints_{k}': 0.0 for k in KEYPOINT_ITEMS}
        coco_dt = self._coco_api.loadRes(self._keypoint_json)
        coco_eval = COCOeval(self._coco_api, coco_dt, 'keypoints')
        coco_eval.params.catIds = self.keypoint_cat_ids()
        coco_eval.params.imgIds = self.img_ids
        sigmas = self.keypoint_sigmas
        if sigmas is None:
            sigmas = (self.dataset_meta or {}).get('keypoint_sigmas')
        if sigmas is not None:
            coco_eval.params.kpt_oks_sigmas = np.asarray(sigmas, float)
        J = len(self._keypoint_json[0]['keypoints']) // 3
        if len(coco_eval.params.kpt_oks_sigmas) != J:
            raise ValueError(
                f'{len(coco_eval.params.kpt_oks_sigmas)} OKS sigmas for '
                f'{J} keypoints: set keypoint_sigmas of the evaluator (or '
                "the dataset's metainfo['keypoint_sigmas'])"
            )
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()
        stats = coco_eval.stats
        logger.info(
            'keypoints_mAP_copypaste: '
            + ' '.join(f'{v:.3f}' for v in stats[:5])
        )
        return {
            f'keypoints_{k}': float(f'{round(stats[i], 3)}')
            for i, k in enumerate(KEYPOINT_ITEMS)
        }
