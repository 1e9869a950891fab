"""Run mmdet's own ``tools/analysis_tools/analyze_results.py`` on an mmblend
config (same arguments, same output):

    python tools/test.py CONFIG CKPT --out results.pkl
    python tools/analysis_tools/analyze_results.py CONFIG results.pkl \
        SHOW_DIR [--topk 20]

mmdet's tool rebuilds the test dataset with the loading steps of the
*training* pipeline (``mmdet.datasets.get_loading_pipeline``), which only
accepts mmcv's exact ``LoadImageFromFile`` class and otherwise stops with
"The data pipeline in your config file must include loading image and
annotations". mmblend's configs train with ``LoadCheckedImageFromFile``;
this script runs mmdet's script unchanged, with that loader read as mmcv's
``LoadImageFromFile`` (its mmcv arguments kept) when the loading steps are
picked.
"""

import os.path as osp
import runpy
import sys

_REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

import mmdet  # noqa: E402
import mmdet.datasets  # noqa: E402

import mmblend  # noqa: E402,F401

MMDET_TOOL = osp.join(
    osp.dirname(mmdet.__file__),
    '.mim',
    'tools',
    'analysis_tools',
    'analyze_results.py',
)
# LoadCheckedImageFromFile's own arguments (mmcv's loader has none of them)
CHECKED_ONLY = ('on_bad', 'check_size', 'max_bad_fraction', 'min_loads')


def as_mmcv_loader(pipeline: list) -> list:
    """``pipeline`` with each ``LoadCheckedImageFromFile`` as mmcv's
    ``LoadImageFromFile`` with the same mmcv arguments."""
    return [
        dict(
            {k: v for k, v in t.items() if k not in CHECKED_ONLY},
            type='LoadImageFromFile',
        )
        if t['type'] == 'LoadCheckedImageFromFile'
        else t
        for t in pipeline
    ]


def main() -> None:
    mmdet_loading_pipeline = mmdet.datasets.get_loading_pipeline
    # mmdet's script imports the name from mmdet.datasets when it runs
    mmdet.datasets.get_loading_pipeline = lambda pipeline: (
        mmdet_loading_pipeline(as_mmcv_loader(pipeline))
    )
    sys.argv[0] = MMDET_TOOL
    runpy.run_path(MMDET_TOOL, run_name='__main__')


if __name__ == '__main__':
    main()
