"""Panoptic-quality statistics over all categories (``panopticapi``)."""

from collections import defaultdict
from typing import Dict, Optional, Tuple

from .pq_stat_cat import PQStatCat


class PQStat:
    """PQ statistics of a whole evaluation, keyed by category id.

    Same interface and numbers as ``panopticapi.evaluation.PQStat``:
    ``pq_stat[cat_id]`` returns (and creates) a :class:`PQStatCat`, ``+=``
    merges the statistics of another :class:`PQStat` (e.g. of a worker), and
    :meth:`pq_average` computes PQ/SQ/RQ averaged over categories.
    """

    def __init__(self) -> None:
        self.pq_per_cat: Dict[int, PQStatCat] = defaultdict(PQStatCat)

    def __getitem__(self, i: int) -> PQStatCat:
        return self.pq_per_cat[i]

    def __iadd__(self, pq_stat: 'PQStat') -> 'PQStat':
        """Merge another :class:`PQStat` into this one."""
        for label, pq_stat_cat in pq_stat.pq_per_cat.items():
            self.pq_per_cat[label] += pq_stat_cat
        return self

    def pq_average(
        self, categories: Dict[int, dict], isthing: Optional[bool]
    ) -> Tuple[dict, dict]:
        """Average PQ, SQ and RQ over categories.

        For a category with ``tp + fp + fn > 0``:
        ``PQ = sum_iou / (tp + fp/2 + fn/2)``, ``SQ = sum_iou / tp`` (0 when
        ``tp == 0``) and ``RQ = tp / (tp + fp/2 + fn/2)``; categories that
        never occur (``tp + fp + fn == 0``) are left out of the average.

        Args:
            categories (dict): ``{category_id: {'isthing': 0/1, ...}}``.
            isthing (bool, optional): ``True`` averages over things only,
                ``False`` over stuff only, ``None`` over all categories.

        Returns:
            tuple(dict, dict): ``{'pq', 'sq', 'rq', 'n'}`` (``n`` = number of
            averaged categories) and the per-category ``{'pq', 'sq', 'rq'}``.
            Unlike the official panopticapi, which raises
            ``ZeroDivisionError`` when ``n == 0`` (e.g. no stuff category at
            all), the averages are then reported as 0.0.
        """
        pq, sq, rq, n = 0.0, 0.0, 0.0, 0
        per_class_results = {}
        for label, label_info in categories.items():
            if isthing is not None:
                cat_isthing = label_info['isthing'] == 1
                if isthing != cat_isthing:
                    continue
            stat = self.pq_per_cat[label]
            iou, tp, fp, fn = stat.iou, stat.tp, stat.fp, stat.fn
            if tp + fp + fn == 0:
                per_class_results[label] = {'pq': 0.0, 'sq': 0.0, 'rq': 0.0}
                continue
            n += 1
            denom = tp + 0.5 * fp + 0.5 * fn
            pq_class = iou / denom
            sq_class = iou / tp if tp != 0 else 0
            rq_class = tp / denom
            per_class_results[label] = {
                'pq': pq_class,
                'sq': sq_class,
                'rq': rq_class,
            }
            pq += pq_class
            sq += sq_class
            rq += rq_class
        if n == 0:
            return {'pq': 0.0, 'sq': 0.0, 'rq': 0.0, 'n': 0}, per_class_results
        return {
            'pq': pq / n,
            'sq': sq / n,
            'rq': rq / n,
            'n': n,
        }, per_class_results
