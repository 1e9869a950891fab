"""The old names of renamed configs (configs/README.md, "Names") keep
working for one release: each resolves to exactly its new config and warns
with the new path; configs/README.md lists every rename."""

import re
import warnings

import pytest
from mmengine.config import Config

from .walk_utils import (
    CONFIG_ROOT,
    all_configs,
    config_id,
    renamed_stubs,
    renamed_target,
)

STUBS = renamed_stubs()
RUNNABLE = set(all_configs())
_RESOLVED = {}


def resolve(path):
    """``Config.fromfile(path).to_dict()`` (each target loaded once)."""
    if path not in _RESOLVED:
        _RESOLVED[path] = Config.fromfile(str(path)).to_dict()
    return _RESOLVED[path]


def test_stubs_found():
    ids = {config_id(p): config_id(t) for p, t in STUBS.items()}
    assert ids['blendmask_r50_1x.py'] == 'blendmask_r50_fpn_1x_coco.py'
    assert (
        ids['ablations/t4_c3c5.py']
        == ids['ablations/t3_k4.py']
        == 'ablations/blendmask_r50_fpn_c3c5-56-4-7_1x_coco.py'
    )
    # the headline config is a config, not an old name
    assert renamed_target(CONFIG_ROOT / 'blendmask_r50_3x.py') is None


@pytest.mark.parametrize(
    'old', sorted(STUBS), ids=[config_id(p) for p in sorted(STUBS)]
)
def test_old_name_resolves_to_the_new_config_and_warns(old):
    new = STUBS[old]
    assert new in RUNNABLE, f'{config_id(new)} is not a runnable config'
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        cfg = Config.fromfile(str(old))
    messages = [
        str(w.message) for w in caught if issubclass(w.category, FutureWarning)
    ]
    assert messages == [
        f'configs/{config_id(old)} is renamed to configs/{config_id(new)} '
        '(the old name is removed in mmblend 0.2)'
    ]
    assert cfg.to_dict() == resolve(new)


def test_readme_lists_every_rename():
    readme = (CONFIG_ROOT / 'README.md').read_text()
    rows = dict(
        re.findall(r'^\| `([^`]+)` \| `([^`]+)` \|$', readme, flags=re.M)
    )
    assert rows == {config_id(p): config_id(t) for p, t in STUBS.items()}
