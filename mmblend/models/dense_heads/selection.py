"""Where a host decides its candidates and positives, recorded as it runs.

BlendMask's top layer must be evaluated at exactly the locations the host
head picked: its positives in training, the priors of its final detections
at inference. Both are recorded from the host's own code while it runs,
never recomputed beside it:

* **detections**: mmdet's dense heads select their candidates with
  ``filter_scores_and_topk`` (per level: score threshold, top ``nms_pre``),
  whose ``keep_idxs`` are the candidates' rows. :func:`record_selection`
  gives a host method the same code with that one global name resolved to
  :func:`recorded_filter_scores_and_topk`, which calls mmdet's function and,
  while a :class:`SelectionRecord` is active in this thread, appends the
  level's size and kept rows to it. mmdet's modules are not changed, and
  outside a record the function behaves as mmdet's.
* **positives**: the host's sampler (``self.sampler.sample``, called once
  per image by the targets of every sampler-based head) is wrapped by
  :class:`RecordingSampler`, which keeps each sampling result with the
  priors it was given, keyed by the image's ``gt_instances``.
"""

import threading
import types
from typing import Callable, Dict, List, Optional, Tuple

import torch
from mmdet.models.utils import filter_scores_and_topk
from torch import Tensor

_local = threading.local()


def rebind_globals(fn: Callable, **names) -> Callable:
    """``fn`` with the same code, defaults and closure, whose global
    ``names`` resolve to the given objects instead of its module's (the
    module itself is not changed)."""
    scope = dict(fn.__globals__)
    scope.update(names)
    new = types.FunctionType(
        fn.__code__, scope, fn.__name__, fn.__defaults__, fn.__closure__
    )
    new.__kwdefaults__ = fn.__kwdefaults__
    new.__qualname__ = fn.__qualname__
    new.__doc__ = fn.__doc__
    new.__module__ = fn.__module__
    new.__wrapped__ = fn
    return new


class SelectionRecord:
    """The candidate rows a host kept, per image, while it predicted."""

    def __init__(self, outs: tuple, cfg) -> None:
        self.outs = outs  # the host's raw outputs and test config, for
        self.cfg = cfg  # hosts that select without filter_scores_and_topk
        self.image = 0  # the next image to be post-processed
        self._levels: List[Tuple[int, Tensor, Tensor]] = []

    def add_level(self, num_rows: int, rows: Tensor, labels: Tensor) -> None:
        self._levels.append((num_rows, rows, labels))

    def take(self) -> Optional[Tuple[Tensor, Tensor]]:
        """``(prior rows [N], labels [N])`` of the levels recorded since the
        last call, rows offset by the sizes of the levels before; None if
        none was recorded."""
        if not self._levels:
            return None
        rows, labels, start = [], [], 0
        for num_rows, level_rows, level_labels in self._levels:
            rows.append(level_rows + start)
            labels.append(level_labels)
            start += num_rows
        self._levels = []
        return torch.cat(rows), torch.cat(labels)

    def __enter__(self) -> 'SelectionRecord':
        stack = getattr(_local, 'records', None)
        if stack is None:
            stack = _local.records = []
        stack.append(self)
        return self

    def __exit__(self, *exc) -> None:
        _local.records.pop()


def current_record() -> Optional[SelectionRecord]:
    """The innermost active :class:`SelectionRecord` of this thread."""
    stack = getattr(_local, 'records', None)
    return stack[-1] if stack else None


def recorded_filter_scores_and_topk(
    scores: Tensor, score_thr: float, topk: int, results=None
) -> tuple:
    """mmdet's ``filter_scores_and_topk``, recording ``(scores.size(0),
    keep_idxs, labels)`` in the active :class:`SelectionRecord`."""
    out = filter_scores_and_topk(scores, score_thr, topk, results)
    record = current_record()
    if record is not None:
        record.add_level(scores.size(0), out[2], out[1])
    return out


def records_selection(fn: Callable) -> bool:
    """Whether ``fn`` selects its candidates with ``filter_scores_and_topk``
    (so that :func:`record_selection` can record them)."""
    code = getattr(fn, '__code__', None)
    return code is not None and 'filter_scores_and_topk' in code.co_names


def record_selection(fn: Callable) -> Callable:
    """``fn`` whose ``filter_scores_and_topk`` records its rows."""
    if (
        getattr(fn, '__wrapped__', None) is not None
        and getattr(fn, '__globals__', {}).get('filter_scores_and_topk')
        is recorded_filter_scores_and_topk
    ):
        return fn
    return rebind_globals(
        fn, filter_scores_and_topk=recorded_filter_scores_and_topk
    )


class RecordingSampler:
    """A host's sampler that keeps what it sampled: for each call, the
    ``SamplingResult`` and the priors it was given (``pred_instances.
    priors``), keyed by the identity of the image's ``gt_instances``.
    Everything else is the wrapped sampler's."""

    def __init__(self, sampler) -> None:
        self.sampler = sampler
        self.records: Dict[int, tuple] = {}

    def sample(
        self, assign_result, pred_instances, gt_instances, *args, **kwargs
    ):
        result = self.sampler.sample(
            assign_result, pred_instances, gt_instances, *args, **kwargs
        )
        self.records[id(gt_instances)] = (result, pred_instances.priors)
        return result

    def __getattr__(self, name: str):
        try:
            sampler = self.__dict__['sampler']
        except KeyError:  # during unpickling / deepcopy
            raise AttributeError(name) from None
        return getattr(sampler, name)
