"""Per-category panoptic-quality accumulator (``panopticapi.evaluation``)."""


class PQStatCat:
    """Running PQ statistics of one category.

    Attributes:
        iou (float): Sum of the IoUs of the matched (TP) segment pairs.
        tp (int): Number of true positives (matched pairs, IoU > 0.5).
        fp (int): Number of unmatched, non-ignored predicted segments.
        fn (int): Number of unmatched, non-crowd ground-truth segments.
    """

    def __init__(self) -> None:
        self.iou: float = 0.0
        self.tp: int = 0
        self.fp: int = 0
        self.fn: int = 0

    def __iadd__(self, pq_stat_cat: 'PQStatCat') -> 'PQStatCat':
        """Accumulate another category statistic into this one."""
        self.iou += pq_stat_cat.iou
        self.tp += pq_stat_cat.tp
        self.fp += pq_stat_cat.fp
        self.fn += pq_stat_cat.fn
        return self

    def __repr__(self) -> str:
        return (
            f'PQStatCat(iou={self.iou:.4f}, tp={self.tp}, fp={self.fp}, '
            f'fn={self.fn})'
        )
