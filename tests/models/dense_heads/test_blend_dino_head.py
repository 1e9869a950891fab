"""The query hosts' pieces on their own: the indexing reads of one tensor
recorded while code runs, a method's results recorded for a context only,
and the top layer on hidden states (MLP, linear or none) (the DINO and
Deformable DETR hosts end to end: tests/models/detectors/test_blend_dino.py).
"""

import pytest
import torch
from mixing_utils import needs_query_host_torch
from mmdet.registry import MODELS
from mmengine.utils import digit_version

from mmblend.models.dense_heads.blend_dino_head import RowReads, recorded


@needs_query_host_torch
def test_row_reads_records_the_reads_of_one_tensor_only():
    scores, other = torch.arange(12.0).reshape(6, 2), torch.zeros(6)
    idx = torch.tensor([4, 1])
    with RowReads(scores) as reads:
        top = scores[idx]
        _ = other[idx]
        _ = scores.flatten()[3]  # another tensor (a view): not recorded
        _ = scores[2]
    assert torch.equal(top, torch.tensor([[8.0, 9.0], [2.0, 3.0]]))
    assert len(reads.indices) == 2
    assert torch.equal(reads.indices[0], idx) and reads.indices[1] == 2
    _ = scores[0]  # outside the context
    assert len(reads.indices) == 2


class Counter:
    def __init__(self):
        self.n = 0

    def step(self, by=1):
        self.n += by
        return self.n


def test_recorded_wraps_a_method_for_the_context_only():
    c = Counter()
    with recorded(c, 'step') as results:
        c.step()
        c.step(by=5)
    assert results == [1, 6] and c.n == 6
    assert 'step' not in vars(c)  # the class's method again
    c.step()
    assert results == [1, 6]


def head(**kwargs):
    return MODELS.build(
        dict(
            type='BlendDINOHead',
            num_classes=3,
            embed_dims=16,
            loss_cls=dict(type='FocalLoss', use_sigmoid=True),  # DINO's
            **kwargs,
        )
    )


@needs_query_host_torch
def test_top_layer_variants():
    hidden = torch.randn(2, 1, 5, 16)  # [L, B, N, C]
    mlp = head(attn_channels=8, attn_hidden_channels=4)
    assert mlp.attentions(hidden).shape == (2, 1, 5, 8)
    assert [
        m.out_features for m in mlp.top_layer if isinstance(m, torch.nn.Linear)
    ] == [4, 8]
    linear = head(attn_channels=8, attn_hidden_channels=0)
    torch.testing.assert_close(
        linear.attentions(hidden),
        hidden @ linear.top_layer.weight.t() + linear.top_layer.bias,
    )
    none = head(attn_channels=0)
    assert none.top_layer is None
    assert none.attentions(hidden).shape == (2, 1, 5, 0)


def test_refused_on_a_torch_whose_indexing_bypasses_function_modes(
    monkeypatch,
):
    from mmblend.models.dense_heads import blend_dino_head

    monkeypatch.setattr(
        blend_dino_head, '_TORCH_VERSION', digit_version('2.1.2+cu121')
    )
    with pytest.raises(
        RuntimeError, match=r'BlendDINOHead needs torch >= 2\.2'
    ):
        head(attn_channels=8)
