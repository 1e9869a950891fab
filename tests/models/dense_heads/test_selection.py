"""Recording where a host selects: mmdet's filter_scores_and_topk inside a
host method records each level's kept rows (offset over the levels, nested
records, nothing outside a record, mmdet's function unchanged), and the
recording sampler keeps each sampling result with its priors (every host
end to end: tests/models/dense_heads/test_blend_hosts.py)."""

import copy

import torch
from mmdet.models.utils import filter_scores_and_topk
from mmengine.structures import InstanceData

from mmblend.models.dense_heads.selection import (
    RecordingSampler,
    SelectionRecord,
    current_record,
    record_selection,
    recorded_filter_scores_and_topk,
    records_selection,
)


def select(scores, score_thr, topk):
    """A host's selection code: calls filter_scores_and_topk by name."""
    return filter_scores_and_topk(scores, score_thr, topk)


def test_rows_of_every_level_offset_by_the_levels_before():
    levels = [
        torch.tensor([[0.9, 0.1], [0.2, 0.3], [0.05, 0.7]]),
        torch.tensor([[0.6, 0.0], [0.1, 0.1]]),
    ]
    recorded = record_selection(select)
    assert records_selection(select) and not records_selection(len)
    with SelectionRecord(outs=(), cfg=None) as record:
        assert current_record() is record
        for scores in levels:
            out = recorded(scores, 0.5, 10)
            # the host gets exactly what mmdet's function returns
            ref = filter_scores_and_topk(scores, 0.5, 10)
            assert all(torch.equal(a, b) for a, b in zip(out[:3], ref[:3]))
        rows, labels = record.take()
    assert current_record() is None
    # level 0 keeps rows 0 (label 0) and 2 (label 1); level 1 row 0 -> 3
    assert sorted(zip(rows.tolist(), labels.tolist())) == [
        (0, 0),
        (2, 1),
        (3, 0),
    ]
    assert record.take() is None  # taken: the next image starts empty


def test_nothing_recorded_outside_a_record_and_inner_record_wins():
    scores = torch.tensor([[0.9], [0.8]])
    recorded_filter_scores_and_topk(scores, 0.5, 10)  # no record: no error
    with SelectionRecord((), None) as outer:
        with SelectionRecord((), None) as inner:
            record_selection(select)(scores, 0.5, 1)
        assert outer.take() is None
        rows, _ = inner.take()
    assert rows.tolist() == [0]
    # the original function is unchanged
    assert (
        select.__globals__['filter_scores_and_topk'] is filter_scores_and_topk
    )


class _Sampler:
    name = 'stub'

    def sample(self, assign_result, pred_instances, gt_instances):
        return ('sampled', assign_result)


def test_recording_sampler_keeps_results_with_their_priors():
    sampler = RecordingSampler(_Sampler())
    gts = [InstanceData(), InstanceData()]
    priors = [torch.rand(4, 2), torch.rand(3, 2)]
    for i, (gt, p) in enumerate(zip(gts, priors)):
        assert sampler.sample(i, InstanceData(priors=p), gt) == ('sampled', i)
    result, kept = sampler.records[id(gts[1])]
    assert result == ('sampled', 1) and kept is priors[1]
    assert sampler.name == 'stub'  # the rest is the wrapped sampler's
    assert copy.deepcopy(sampler).name == 'stub'


def test_selection_outside_a_record_is_mmdets():
    """Outside a BlendHost's predict, the rebound functions behave exactly
    as mmdet's (nothing is recorded, mmdet's module is unchanged)."""
    from mmdet.models.dense_heads import base_dense_head
    from mmdet.models.utils import filter_scores_and_topk

    from mmblend.models.dense_heads import selection

    assert base_dense_head.filter_scores_and_topk is filter_scores_and_topk
    scores = torch.rand(30, 4)
    a = selection.recorded_filter_scores_and_topk(scores, 0.3, 5)
    b = filter_scores_and_topk(scores, 0.3, 5)
    assert all(torch.equal(x, y) for x, y in zip(a[:3], b[:3]))
    assert selection.current_record() is None
