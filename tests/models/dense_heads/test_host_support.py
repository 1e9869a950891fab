"""The table of hosts (host_support.HOSTS): it lists every one-stage dense
head of mmdet 3.3's configs, its supported rows are exactly the registered
Blend* hosts, docs/mixing.md shows it, and check_host refuses any other
head type naming the class to use or the reason (each row built and run:
tests/models/detectors/test_mixing_sweep.py)."""

import os.path as osp
import re

import pytest
from mixing_utils import MIM
from mmdet.models.dense_heads.base_dense_head import BaseDenseHead
from mmdet.registry import MODELS

from mmblend.models.dense_heads import host_support
from mmblend.models.dense_heads.host_support import HOSTS, check_host

REPO = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
)


def dense_heads_in_mmdet_configs() -> set:
    """The ``model.bbox_head`` types of mmdet's configs (any dataset) that
    are dense heads, read from the config files' text."""
    found = set()
    pattern = re.compile(
        r"bbox_head\s*=\s*dict\(\s*(?:_delete_\s*=\s*True"
        r"\s*,\s*)?type\s*=\s*'(\w+)'"
    )
    for root, _, files in __import__('os').walk(MIM):
        for name in files:
            if name.endswith('.py'):
                with open(osp.join(root, name), encoding='utf-8') as f:
                    found.update(pattern.findall(f.read()))
    return {
        n
        for n in found
        if isinstance(MODELS.get(n), type)
        and issubclass(MODELS.get(n), BaseDenseHead)
    }


def test_every_dense_head_of_mmdets_configs_is_in_the_sweep():
    found = dense_heads_in_mmdet_configs()
    assert {'RetinaHead', 'RTMDetSepBNHead', 'CenterNetHead'} <= found
    assert found <= {h.head for h in HOSTS}, found - {h.head for h in HOSTS}


def test_supported_hosts_are_the_registered_blend_hosts():
    from mmblend.models.dense_heads import BlendHostMixin

    registered = {
        name
        for name, cls in MODELS.module_dict.items()
        if isinstance(cls, type) and issubclass(cls, BlendHostMixin)
    }
    assert set(host_support.supported_hosts()) == registered
    for h in HOSTS:
        if h.blend:
            assert MODELS.get(h.blend).__mro__[3].__name__ == h.head
        for m in h.mixing:
            assert osp.isfile(osp.join(REPO, 'configs', 'mixing', m)), m


def test_docs_table_is_the_sweep():
    with open(osp.join(REPO, 'docs', 'mixing.md'), encoding='utf-8') as f:
        doc = f.read()
    assert host_support.markdown_table() in doc, (
        'docs/mixing.md is out of date; paste the output of: python -c '
        '"from mmblend.models.dense_heads.host_support import '
        'markdown_table; print(markdown_table())"'
    )


def test_check_host_accepts_blend_hosts_and_names_the_way_out():
    check_host('BlendATSSHead')
    check_host(MODELS.get('BlendMaskHead'))
    with pytest.raises(ValueError, match="use type='BlendRetinaHead'"):
        check_host('RetinaHead')
    paa = next(h for h in HOSTS if h.head == 'PAAHead')
    with pytest.raises(ValueError, match=re.escape(paa.note)):
        check_host('PAAHead')
    with pytest.raises(ValueError, match="type='RPNHead': it is not a host"):
        check_host('RPNHead')
    assert host_support.find('BlendGFLHead').head == 'GFLHead'
